/*
 * test_aligned.c -- posix_memalign, aligned_alloc, memalign, valloc and
 * pvalloc through the public header, with the configured prefix.
 *
 * Markers: [DESIGN] is DESIGN.md's contract ("Bad alignment (not a power
 * of two, not a multiple of sizeof(void *) for posix_memalign): EINVAL";
 * "Size overflow: NULL + ENOMEM"); [POSIX]/[C] is the standard; [glibc]
 * is glibc-compatible behaviour (pvalloc rounding, valloc).
 */
#include "testutil.h"

#define MAX_ALIGN (64 * MIB)

static const size_t req_sizes[] = { 1, 8, 13, 100, 4095, 4097, 70000 };
#define NREQ (sizeof(req_sizes) / sizeof(req_sizes[0]))

/* Checks a fresh aligned block: alignment, usable size, every byte of it
 * writable (all of it up to 2 MiB, else both ends), then frees it. */
static void check_aligned_block(void *p, size_t align, size_t size,
                                const char *what)
{
	ck_assert_msg(p != NULL, "%s(align %zu, size %zu) gave NULL", what,
	    align, size);
	ck_assert_msg(is_aligned(p, align), "%s(align %zu, size %zu) = %p",
	    what, align, size, p);
	ck_assert_msg(is_aligned(p, MIN_ALIGN), "%s: %p", what, p);
	size_t u = P_(malloc_usable_size)(p);
	ck_assert_msg(u >= size, "%s(align %zu, size %zu): usable %zu", what,
	    align, size, u);
	uint64_t seed = align * 31 + size;
	if (u <= 2 * MIB) {
		pat_fill(p, u, seed);
		pat_assert(p, u, seed);
	} else {
		pat_fill_range(p, 0, MIB, seed);
		pat_fill_range(p, u - MIB, u, seed);
		pat_assert_range(p, 0, MIB, seed);
		pat_assert_range(p, u - MIB, u, seed);
	}
	P_(free)(p);
}

/* ---- every power of two ------------------------------------------------ */

/* [POSIX] posix_memalign: every power-of-two multiple of sizeof(void *)
 * up to 64 MiB, with sizes below, at and above the alignment. */
START_TEST(posix_memalign_every_alignment)
{
	for (size_t a = sizeof(void *); a <= MAX_ALIGN; a *= 2) {
		for (size_t i = 0; i < NREQ; i++) {
			void *p = (void *)0x1;
			int r = P_(posix_memalign)(&p, a, req_sizes[i]);
			ck_assert_msg(r == 0, "posix_memalign(%zu, %zu) = %d",
			    a, req_sizes[i], r);
			check_aligned_block(p, a, req_sizes[i],
			    "posix_memalign");
		}
		void *p = NULL;
		ck_assert_int_eq(P_(posix_memalign)(&p, a, a), 0);
		check_aligned_block(p, a, a, "posix_memalign");
		ck_assert_int_eq(P_(posix_memalign)(&p, a, a + 1), 0);
		check_aligned_block(p, a, a + 1, "posix_memalign");
	}
}
END_TEST

/* [C] aligned_alloc: every power of two from 1 up to 64 MiB, sizes that
 * are and are not multiples of the alignment ([glibc] accepts both). */
START_TEST(aligned_alloc_every_alignment)
{
	for (size_t a = 1; a <= MAX_ALIGN; a *= 2) {
		for (size_t i = 0; i < NREQ; i++)
			check_aligned_block(P_(aligned_alloc)(a, req_sizes[i]),
			    a, req_sizes[i], "aligned_alloc");
		check_aligned_block(P_(aligned_alloc)(a, a), a, a,
		    "aligned_alloc");
		check_aligned_block(P_(aligned_alloc)(a, 3 * a), a, 3 * a,
		    "aligned_alloc");
	}
}
END_TEST

/* [issue 16] A small aligned request is a malloc of the smallest class
 * whose blocks all have that alignment: the block just freed to that class
 * comes back (the thread's cache, or the slab's chain, is last in, first
 * out), and thread.allocated counts the class's size. */
START_TEST(small_aligned_requests_reuse_their_class)
{
	static const struct { size_t align, size, cls; } c[] = {
		{ 0, 40, 48 }, { 8, 40, 48 }, { 16, 100, 112 },
		{ 32, 40, 64 }, { 64, 40, 64 }, { 64, 100, 128 },
		{ 256, 300, 512 }, { 4096, 100, 4096 },
	};
	for (size_t i = 0; i < sizeof(c) / sizeof(c[0]); i++) {
		char *p = P_(malloc)(c[i].cls);
		ck_assert_ptr_nonnull(p);
		P_(free)(p);
		uint64_t before = 0, after = 0;
		size_t len = sizeof(before);
		bool stats = have_stats() && P_(mallctl)("thread.allocated",
		    &before, &len, NULL, 0) == 0;
		char *q = P_(memalign)(c[i].align, c[i].size);
		if (stats)
			ck_assert_int_eq(P_(mallctl)("thread.allocated", &after,
			    &len, NULL, 0), 0);
		ck_assert_ptr_eq(q, p);
		ck_assert_uint_eq(P_(malloc_usable_size)(q), c[i].cls);
		if (stats)
			ck_assert_uint_eq(after - before, c[i].cls);
		P_(free)(q);
		void *r = NULL;
		if (c[i].align >= sizeof(void *)) {
			ck_assert_int_eq(P_(posix_memalign)(&r, c[i].align,
			    c[i].size), 0);
			ck_assert_ptr_eq(r, p);
			P_(free)(r);
		}
	}
}
END_TEST

/* [glibc] memalign: every power of two from 1 up to 64 MiB. */
START_TEST(memalign_every_alignment)
{
	for (size_t a = 1; a <= MAX_ALIGN; a *= 2) {
		for (size_t i = 0; i < NREQ; i++)
			check_aligned_block(P_(memalign)(a, req_sizes[i]), a,
			    req_sizes[i], "memalign");
		check_aligned_block(P_(memalign)(a, a + 1), a, a + 1,
		    "memalign");
	}
}
END_TEST

/* [glibc] valloc: page aligned, usable >= size. */
START_TEST(valloc_is_page_aligned)
{
	size_t pg = os_page();
	for (size_t i = 0; i < NREQ; i++)
		check_aligned_block(P_(valloc)(req_sizes[i]), pg,
		    req_sizes[i], "valloc");
	check_aligned_block(P_(valloc)(3 * MIB + 1), pg, 3 * MIB + 1,
	    "valloc");
	void *z = P_(valloc)(0);
	ck_assert_ptr_nonnull(z);
	ck_assert(is_aligned(z, pg));
	P_(free)(z);
}
END_TEST

/* [glibc] pvalloc: page aligned and the size rounded up to whole pages;
 * pvalloc(0) gives one page. */
START_TEST(pvalloc_rounds_up_to_pages)
{
	size_t pg = os_page();
	static const size_t sizes[] = { 0, 1, 100, 4095, 4096, 4097, 8191,
	    70000, 3 * MIB + 1 };
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		size_t s = sizes[i];
		size_t want = s == 0 ? pg : (s + pg - 1) / pg * pg;
		unsigned char *p = P_(pvalloc)(s);
		ck_assert_msg(p != NULL, "pvalloc(%zu) gave NULL", s);
		ck_assert(is_aligned(p, pg));
		size_t u = P_(malloc_usable_size)(p);
		ck_assert_msg(u >= want, "pvalloc(%zu): usable %zu < %zu", s,
		    u, want);
		pat_fill(p, want, s);   /* every byte of the rounded size */
		pat_assert(p, want, s);
		P_(free)(p);
	}
}
END_TEST

/*
 * 3000 blocks of random alignment (16 B .. 64 KiB) and size live at once:
 * each aligned, none overlapping another (checked on the sorted ranges
 * and by the patterns), then freed in an interleaved order.
 */
struct range {
	uintptr_t lo, hi;
};

static int range_cmp(const void *a, const void *b)
{
	const struct range *x = a, *y = b;
	return x->lo < y->lo ? -1 : x->lo > y->lo;
}

START_TEST(many_aligned_blocks_do_not_overlap)
{
	enum { N = 3000 };
	void **p = calloc(N, sizeof(*p));
	size_t *sz = calloc(N, sizeof(*sz));
	struct range *r = calloc(N, sizeof(*r));
	uint64_t rng = 77;
	for (int i = 0; i < N; i++) {
		size_t a = (size_t)16 << rng_below(&rng, 13);
		sz[i] = 1 + rng_below(&rng, rng_below(&rng, 10) ? 2000 :
		    200000);
		switch (i % 3) {
		case 0:
			ck_assert_int_eq(P_(posix_memalign)(&p[i], a, sz[i]),
			    0);
			break;
		case 1:
			p[i] = P_(aligned_alloc)(a, sz[i]);
			break;
		default:
			p[i] = P_(memalign)(a, sz[i]);
			break;
		}
		ck_assert_ptr_nonnull(p[i]);
		ck_assert_msg(is_aligned(p[i], a), "%p not aligned to %zu",
		    p[i], a);
		pat_fill(p[i], sz[i], (uint64_t)i);
		r[i].lo = (uintptr_t)p[i];
		r[i].hi = r[i].lo + P_(malloc_usable_size)(p[i]);
	}
	qsort(r, N, sizeof(*r), range_cmp);
	for (int i = 1; i < N; i++)
		ck_assert_msg(r[i - 1].hi <= r[i].lo,
		    "blocks [%#lx, %#lx) and [%#lx, %#lx) overlap",
		    (unsigned long)r[i - 1].lo, (unsigned long)r[i - 1].hi,
		    (unsigned long)r[i].lo, (unsigned long)r[i].hi);
	for (int i = 0; i < N; i += 2) {
		pat_assert(p[i], sz[i], (uint64_t)i);
		P_(free)(p[i]);
	}
	for (int i = 1; i < N; i += 2) {
		pat_assert(p[i], sz[i], (uint64_t)i);
		P_(free)(p[i]);
	}
	free(p);
	free(sz);
	free(r);
}
END_TEST

/* [C] An aligned block is an ordinary block: realloc keeps its contents
 * (alignment is not promised after realloc, contents are). */
START_TEST(aligned_blocks_realloc_like_any_other)
{
	for (size_t a = 16; a <= 2 * MIB; a *= 4) {
		unsigned char *p = P_(aligned_alloc)(a, 300);
		ck_assert_ptr_nonnull(p);
		pat_fill(p, 300, a);
		unsigned char *q = P_(realloc)(p, 50000);
		ck_assert_ptr_nonnull(q);
		pat_assert(q, 300, a);
		q = P_(realloc)(q, 100);
		ck_assert_ptr_nonnull(q);
		pat_assert(q, 100, a);
		P_(free)(q);
	}
}
END_TEST

/* ---- bad alignments and sizes ------------------------------------------ */

/* [DESIGN][POSIX] posix_memalign with an alignment that is not a power of
 * two or not a multiple of sizeof(void *): EINVAL, *out unchanged. */
START_TEST(posix_memalign_rounds_a_bad_alignment_up)
{
	static const size_t bad[] = { 0, 1, 2, 3, 4, 5, 12, 24, 48, 100,
	    4097, 3 * 4096, SIZE_MAX, SIZE_MAX / 2 };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (bad[i] >= sizeof(void *) &&
		    (bad[i] & (bad[i] - 1)) == 0)
			continue;   /* a valid alignment on this ABI */
		void *p = (void *)0x1234;
		int r = P_(posix_memalign)(&p, bad[i], 10);
		ck_assert_msg(r == EINVAL, "posix_memalign(%zu) = %d, want "
		    "EINVAL", bad[i], r);
		ck_assert_ptr_eq(p, (void *)0x1234);
	}
	std_heap_works();
}
END_TEST

/* [DESIGN][C] aligned_alloc with an alignment that is not a power of two:
 * NULL + EINVAL. */
START_TEST(aligned_alloc_bad_alignment_is_einval)
{
	static const size_t bad[] = { 0, 3, 6, 24, 48, 100, 4097, 3 * 4096,
	    SIZE_MAX, SIZE_MAX / 2 };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_null_errno(P_(aligned_alloc)(bad[i], 96), EINVAL);
	std_heap_works();
}
END_TEST

/* [glibc] memalign with an alignment that is not a power of two rounds it
 * up to the next power of two (glibc's behaviour, which the engine follows
 * on purpose for the drop-in build; DESIGN.md's EINVAL rule is read as
 * covering the POSIX/C calls, posix_memalign and aligned_alloc).  An
 * alignment with no power of two above it in range is refused. */
START_TEST(memalign_rounds_a_bad_alignment_up)
{
	static const size_t bad[] = { 0, 3, 12, 24, 48, 100, 4097, 3 * MIB };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		size_t up = 1;
		while (up < bad[i])
			up *= 2;
		check_aligned_block(P_(memalign)(bad[i], 96), up, 96,
		    "memalign");
	}
	errno = 0;
	ck_assert_ptr_null(P_(memalign)(SIZE_MAX, 96));
	ck_assert_int_ne(errno, 0);
	std_heap_works();
}
END_TEST

/* [DESIGN] Sizes or alignments no heap can satisfy: NULL + ENOMEM
 * (posix_memalign returns ENOMEM and leaves *out alone), and the page
 * rounding of pvalloc/valloc must not wrap. */
START_TEST(huge_requests_are_enomem)
{
	void *p = (void *)0x5678;
	ck_assert_int_eq(P_(posix_memalign)(&p, 64, SIZE_MAX), ENOMEM);
	ck_assert_int_eq(P_(posix_memalign)(&p, 4096, SIZE_MAX - 4095),
	    ENOMEM);
	ck_assert_int_eq(P_(posix_memalign)(&p, SIZE_MAX / 2 + 1, 1), ENOMEM);
	ck_assert_ptr_eq(p, (void *)0x5678);
	assert_null_errno(P_(aligned_alloc)(64, SIZE_MAX), ENOMEM);
	assert_null_errno(P_(aligned_alloc)(4096, SIZE_MAX / 2 + 1), ENOMEM);
	assert_null_errno(P_(aligned_alloc)(SIZE_MAX / 2 + 1, 16), ENOMEM);
	assert_null_errno(P_(memalign)(4096, SIZE_MAX - 100), ENOMEM);
	assert_null_errno(P_(memalign)((size_t)1 << 62, 1), ENOMEM);
	assert_null_errno(P_(valloc)(SIZE_MAX), ENOMEM);
	assert_null_errno(P_(valloc)(SIZE_MAX - 4095), ENOMEM);
	assert_null_errno(P_(pvalloc)(SIZE_MAX), ENOMEM);
	assert_null_errno(P_(pvalloc)(SIZE_MAX - 4095), ENOMEM);
	assert_null_errno(P_(pvalloc)(SIZE_MAX / 2 + 1), ENOMEM);
	std_heap_works();
}
END_TEST

int main(void)
{
	Suite *s = suite_create("aligned");

	TCase *tc = tcase_create("alignments");
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, posix_memalign_every_alignment);
	tcase_add_test(tc, aligned_alloc_every_alignment);
	tcase_add_test(tc, memalign_every_alignment);
	tcase_add_test(tc, small_aligned_requests_reuse_their_class);
	tcase_add_test(tc, valloc_is_page_aligned);
	tcase_add_test(tc, pvalloc_rounds_up_to_pages);
	tcase_add_test(tc, many_aligned_blocks_do_not_overlap);
	tcase_add_test(tc, aligned_blocks_realloc_like_any_other);
	suite_add_tcase(s, tc);

	tc = tcase_create("bad input");
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, posix_memalign_rounds_a_bad_alignment_up);
	tcase_add_test(tc, aligned_alloc_bad_alignment_is_einval);
	tcase_add_test(tc, memalign_rounds_a_bad_alignment_up);
	tcase_add_test(tc, huge_requests_are_enomem);
	suite_add_tcase(s, tc);

	return run_suite(s);
}
