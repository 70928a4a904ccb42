/*
 * test_heap.c -- the ph_heap_* handle API on ranges the test maps itself,
 * and the private-heap pair (config_private_heap, malloc_reset) through
 * the configured prefix.
 *
 * Markers: [DESIGN] is DESIGN.md's public contract (heap handles; "Bad
 * input is part of the contract": unaligned / too small / wrapping range
 * -> EINVAL, overlapping an attached heap -> EEXIST, nothing written;
 * attaching to what is not a heap -> an errno, never a crash; a full heap
 * -> NULL + ENOMEM with nothing else disturbed; "P free, P realloc and
 * P malloc_usable_size accept a pointer from any heap attached"; reset
 * frees every block and clears the roots).  [header] is documented in
 * phmalloc.h only (ph_heap_of, ph_heap_stats and its epoch, PH_HEAP_ROOTS,
 * get_root of an unset key).  [brief] is a capacity the brief asks for.
 */
#include <fcntl.h>

#include "testutil.h"
#include "../asleep.h"

static bool in_range(const void *p, size_t n, const void *start, size_t size)
{
	uintptr_t a = (uintptr_t)p, lo = (uintptr_t)start;
	return a >= lo && a - lo <= size && n <= size - (a - lo);
}

#define assert_in_heap(h, p, n, start, size) do {                          \
	ck_assert_msg((p) != NULL, "allocation in heap %p gave NULL (%s)",  \
	    (void *)(h), strerror(errno));                                   \
	ck_assert_msg(in_range((p), (n), (start), (size)), "block %p+%zu " \
	    "outside [%p, +%zu)", (void *)(p), (size_t)(n), (void *)(start), \
	    (size_t)(size));                                                 \
} while (0)

/* A fresh heap on a fresh shared anonymous range. */
static ph_heap_t *new_heap(size_t size, void **start)
{
	void *m = map_range(size, true);
	ph_heap_t *h = ph_heap_create(m, size, 0);
	ck_assert_msg(h != NULL, "ph_heap_create(%p, %zu): %s", m, size,
	    strerror(errno));
	*start = m;
	return h;
}

/* Allocates `bsize` blocks until the heap says ENOMEM; returns how many
 * (each filled with pattern i), capped at cap. */
static size_t fill_heap(ph_heap_t *h, size_t bsize, void **blk, size_t cap,
                        void *start, size_t size)
{
	size_t n = 0;
	for (;;) {
		ck_assert_msg(n < cap, "heap of %zu bytes took more than %zu "
		    "blocks of %zu", size, cap, bsize);
		errno = 0;
		void *p = ph_heap_malloc(h, bsize);
		if (p == NULL) {
			ck_assert_msg(errno == ENOMEM, "full heap: errno %d "
			    "(%s), want ENOMEM", errno, strerror(errno));
			return n;
		}
		assert_in_heap(h, p, bsize, start, size);
		pat_fill(p, bsize, n);
		blk[n++] = p;
	}
}

/* ---- create and use ---------------------------------------------------- */

/* [DESIGN] Every ph_heap_* allocation call on a 1 MiB and a 64 MiB range:
 * pointers inside the range, usable >= size, contents kept, calloc zero
 * even on reuse, realloc inside the heap, aligned_alloc aligned. */
START_TEST(create_and_use)
{
	size_t size = _i == 0 ? 1 * MIB : 64 * MIB;
	void *m;
	ph_heap_t *h = new_heap(size, &m);
	ck_assert_int_eq(ph_heap_check(h), 0);
	static const size_t sizes[] = { 1, 16, 100, 1000, 4096, 14336, 20000,
	    100000 };
	enum { NS = sizeof(sizes) / sizeof(sizes[0]) };
	void *p[NS];
	for (size_t i = 0; i < NS; i++) {
		p[i] = ph_heap_malloc(h, sizes[i]);
		size_t u = ph_heap_usable_size(h, p[i]);
		assert_in_heap(h, p[i], u, m, size);
		ck_assert(is_aligned(p[i], MIN_ALIGN));
		ck_assert_uint_ge(u, sizes[i]);
		ck_assert_ptr_eq(ph_heap_of(p[i]), h);
		pat_fill(p[i], u, i);
	}
	for (size_t i = 0; i < NS; i++)
		pat_assert(p[i], ph_heap_usable_size(h, p[i]), i);
	/* calloc, also of memory just dirtied and freed */
	for (size_t i = 0; i < NS; i++) {
		memset(p[i], 0xcc, sizes[i]);
		ph_heap_free(h, p[i]);
		p[i] = ph_heap_calloc(h, 1, sizes[i]);
		assert_in_heap(h, p[i], sizes[i], m, size);
		assert_zero(p[i], sizes[i]);
	}
	/* realloc grows and shrinks inside the heap */
	unsigned char *r = ph_heap_realloc(h, NULL, 10);
	assert_in_heap(h, r, 10, m, size);
	pat_fill(r, 10, 77);
	static const size_t steps[] = { 100, 5000, 200000, 30, 16384, 3 };
	size_t cur = 10;
	for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
		r = ph_heap_realloc(h, r, steps[i]);
		assert_in_heap(h, r, steps[i], m, size);
		pat_assert(r, cur < steps[i] ? cur : steps[i], 77 + i);
		pat_fill(r, steps[i], 78 + i);
		cur = steps[i];
	}
	/* [DESIGN] realloc(p, 0) frees, like the standard family */
	ck_assert_ptr_null(ph_heap_realloc(h, r, 0));
	/* aligned */
	size_t amax = size >= 64 * MIB ? 1 * MIB : 64 * KIB;
	for (size_t a = 1; a <= amax; a *= 2) {
		void *q = ph_heap_aligned_alloc(h, a, 100);
		assert_in_heap(h, q, 100, m, size);
		ck_assert_msg(is_aligned(q, a), "%p not aligned to %zu", q, a);
		pat_fill(q, 100, a);
		pat_assert(q, 100, a);
		ph_heap_free(h, q);
	}
	for (size_t i = 0; i < NS; i++)
		ph_heap_free(h, p[i]);
	ph_heap_free(h, NULL);
	ck_assert_int_eq(ph_heap_check(h), 0);
}
END_TEST

/* [DESIGN] Bad input to the handle calls: overflow -> ENOMEM, bad
 * alignment -> EINVAL, a block that cannot grow stays. */
START_TEST(handle_calls_bad_input)
{
	void *m;
	ph_heap_t *h = new_heap(1 * MIB, &m);
	assert_null_errno(ph_heap_malloc(h, SIZE_MAX), ENOMEM);
	assert_null_errno(ph_heap_malloc(h, 2 * MIB), ENOMEM);
	assert_null_errno(ph_heap_calloc(h, SIZE_MAX, 2), ENOMEM);
	assert_null_errno(ph_heap_calloc(h, SIZE_MAX / 16 + 2, 16), ENOMEM);
	assert_null_errno(ph_heap_aligned_alloc(h, 48, 100), EINVAL);
	assert_null_errno(ph_heap_aligned_alloc(h, 0, 100), EINVAL);
	assert_null_errno(ph_heap_aligned_alloc(h, 64, SIZE_MAX), ENOMEM);
	assert_null_errno(ph_heap_aligned_alloc(h, 4 * MIB, 16), ENOMEM);
	unsigned char *p = ph_heap_malloc(h, 500);
	pat_fill(p, 500, 1);
	assert_null_errno(ph_heap_realloc(h, p, SIZE_MAX), ENOMEM);
	assert_null_errno(ph_heap_realloc(h, p, 4 * MIB), ENOMEM);
	pat_assert(p, 500, 1);
	ck_assert_uint_ge(ph_heap_usable_size(h, p), 500);
	ck_assert_uint_eq(ph_heap_usable_size(h, NULL), 0);
	ph_heap_free(h, p);
	ck_assert_int_eq(ph_heap_check(h), 0);
}
END_TEST

/* [DESIGN] At least 16 root keys: 0..15 set and get; key 16 -> EINVAL.
 * [header] an unset key gives NULL; NULL clears a key. */
START_TEST(roots)
{
	void *m;
	ph_heap_t *h = new_heap(1 * MIB, &m);
	ck_assert_int_ge(PH_HEAP_ROOTS, 16);
	void *blk[16];
	for (unsigned k = 0; k < 16; k++) {
		ck_assert_ptr_null(ph_heap_get_root(h, k));
		blk[k] = ph_heap_malloc(h, 100 + k);
		ck_assert_int_eq(ph_heap_set_root(h, k, blk[k]), 0);
	}
	for (unsigned k = 0; k < 16; k++)
		ck_assert_ptr_eq(ph_heap_get_root(h, k), blk[k]);
	ck_assert_int_eq(ph_heap_set_root(h, 16, blk[0]), EINVAL);
	ck_assert_int_eq(ph_heap_set_root(h, 1000, blk[0]), EINVAL);
	ck_assert_int_eq(ph_heap_set_root(h, UINT32_MAX, blk[0]), EINVAL);
	assert_null_errno(ph_heap_get_root(h, 16), EINVAL);
	assert_null_errno(ph_heap_get_root(h, UINT32_MAX), EINVAL);
	/* a root is a pointer into its heap: a process-private address
	 * (DESIGN.md's trust rules) is refused */
	int local;
	ck_assert_int_eq(ph_heap_set_root(h, 3, &local), EINVAL);
	ck_assert_ptr_eq(ph_heap_get_root(h, 3), blk[3]);
	/* overwrite and clear */
	ck_assert_int_eq(ph_heap_set_root(h, 5, blk[6]), 0);
	ck_assert_ptr_eq(ph_heap_get_root(h, 5), blk[6]);
	ck_assert_int_eq(ph_heap_set_root(h, 5, NULL), 0);
	ck_assert_ptr_null(ph_heap_get_root(h, 5));
	for (unsigned k = 0; k < 16; k++)
		if (k != 5)
			ck_assert_ptr_eq(ph_heap_get_root(h, k), blk[k]);
	ck_assert_int_eq(ph_heap_check(h), 0);
}
END_TEST

/* [DESIGN] ph_heap_reset frees every block and clears the roots: the same
 * number of blocks fits again, a block of half the heap fits (so the
 * small blocks really went), and the heap checks clean.  [header] the
 * epoch moves. */
START_TEST(reset_frees_everything)
{
	enum { CAP = 8192 };
	static void *blk[CAP];
	void *m;
	size_t size = 1 * MIB;
	ph_heap_t *h = new_heap(size, &m);
	for (int round = 0; round < 3; round++) {
		size_t n1 = fill_heap(h, 1000, blk, CAP, m, size);
		ck_assert_uint_gt(n1, 0);
		for (unsigned k = 0; k < 16; k++)
			ck_assert_int_eq(ph_heap_set_root(h, k, blk[k]), 0);
		struct ph_heap_stats st0, st1;
		ck_assert_int_eq(ph_heap_stats(h, &st0), 0);
		ck_assert_uint_eq(st0.size, size);
		ph_heap_reset(h);
		ck_assert_int_eq(ph_heap_check(h), 0);
		ck_assert_int_eq(ph_heap_stats(h, &st1), 0);
		ck_assert_uint_gt(st1.epoch, st0.epoch);
		if (have_stats())
			ck_assert_uint_lt(st1.allocated, st0.allocated);
		for (unsigned k = 0; k < 16; k++)
			ck_assert_ptr_null(ph_heap_get_root(h, k));
		void *half = ph_heap_malloc(h, size / 2);
		assert_in_heap(h, half, size / 2, m, size);
		pat_fill(half, size / 2, 5);
		ph_heap_free(h, half);
		size_t n2 = fill_heap(h, 1000, blk, CAP, m, size);
		ck_assert_msg(n2 >= n1, "round %d: %zu blocks after reset, "
		    "%zu before", round, n2, n1);
		for (size_t i = 0; i < n2; i++)
			pat_assert(blk[i], 1000, i);
		ck_assert_int_eq(ph_heap_check(h), 0);
		ph_heap_reset(h);
	}
}
END_TEST

/* [DESIGN] ph_heap_check is 0 on a healthy heap through a random mix of
 * calls, with blocks of every kind live. */
START_TEST(check_is_zero_on_a_healthy_heap)
{
	enum { N = 500 };
	void *m;
	size_t size = 16 * MIB;
	ph_heap_t *h = new_heap(size, &m);
	void *p[N] = { 0 };
	size_t sz[N] = { 0 };
	uint64_t rng = 99;
	for (int step = 1; step <= 20000; step++) {
		int i = (int)rng_below(&rng, N);
		if (p[i])
			pat_assert(p[i], sz[i], (uint64_t)i * 100000 + 0);
		size_t s = 1 + rng_below(&rng, rng_below(&rng, 20) ? 3000 :
		    200000);
		switch (rng_below(&rng, 5)) {
		case 0:
			ph_heap_free(h, p[i]);
			p[i] = NULL;
			continue;
		case 1:
			p[i] = ph_heap_realloc(h, p[i], s);
			break;
		case 2:
			ph_heap_free(h, p[i]);
			p[i] = ph_heap_calloc(h, s, 1);
			break;
		case 3:
			ph_heap_free(h, p[i]);
			p[i] = ph_heap_aligned_alloc(h,
			    (size_t)16 << rng_below(&rng, 10), s);
			break;
		default:
			ph_heap_free(h, p[i]);
			p[i] = ph_heap_malloc(h, s);
			break;
		}
		assert_in_heap(h, p[i], s, m, size);
		sz[i] = s;
		pat_fill(p[i], s, (uint64_t)i * 100000);
		if (step % 2000 == 0)
			ck_assert_int_eq(ph_heap_check(h), 0);
	}
	for (int i = 0; i < N; i++)
		ph_heap_free(h, p[i]);
	ck_assert_int_eq(ph_heap_check(h), 0);
}
END_TEST

/* ---- capacity and a full heap ------------------------------------------ */

/* [DESIGN] A full heap gives NULL + ENOMEM and nothing else in it is
 * disturbed; freeing one block makes room again.  [brief] a 1 MiB heap
 * holds at least 800 blocks of 1000 bytes. */
START_TEST(full_heap_is_enomem_and_intact)
{
	enum { CAP = 8192 };
	static void *blk[CAP];
	void *m;
	size_t size = 1 * MIB;
	ph_heap_t *h = new_heap(size, &m);
	size_t n = fill_heap(h, 1000, blk, CAP, m, size);
	ck_assert_msg(n >= 800, "a 1 MiB heap held only %zu blocks of 1000 "
	    "bytes", n);
	/* every other kind of request fails the same way */
	assert_null_errno(ph_heap_malloc(h, 1000), ENOMEM);
	assert_null_errno(ph_heap_malloc(h, 100000), ENOMEM);
	assert_null_errno(ph_heap_calloc(h, 1, 1000), ENOMEM);
	assert_null_errno(ph_heap_aligned_alloc(h, 4096, 4096), ENOMEM);
	assert_null_errno(ph_heap_realloc(h, blk[0], 200000), ENOMEM);
	for (size_t i = 0; i < n; i++)
		pat_assert(blk[i], 1000, i);
	ck_assert_int_eq(ph_heap_check(h), 0);
	/* free one, allocate one */
	ph_heap_free(h, blk[n / 2]);
	void *again = ph_heap_malloc(h, 1000);
	assert_in_heap(h, again, 1000, m, size);
	pat_fill(again, 1000, n / 2);
	blk[n / 2] = again;
	assert_null_errno(ph_heap_malloc(h, 1000), ENOMEM);
	for (size_t i = 0; i < n; i++)
		pat_assert(blk[i], 1000, i);
	ck_assert_int_eq(ph_heap_check(h), 0);
	for (size_t i = 0; i < n; i++)
		ph_heap_free(h, blk[i]);
	ck_assert_int_eq(ph_heap_check(h), 0);
	/* and everything came back */
	size_t n2 = fill_heap(h, 1000, blk, CAP, m, size);
	ck_assert_uint_ge(n2, n);
}
END_TEST

/* [brief] A 64 MiB heap hands out at least 90% of its bytes in 64 KiB
 * blocks, all inside it and not overlapping. */
START_TEST(big_heap_hands_out_90_percent)
{
	enum { CAP = 2048 };
	static void *blk[CAP];
	void *m;
	size_t size = 64 * MIB, bs = 64 * KIB;
	ph_heap_t *h = new_heap(size, &m);
	size_t n = 0;
	for (;;) {
		ck_assert_uint_lt(n, CAP);
		errno = 0;
		unsigned char *p = ph_heap_malloc(h, bs);
		if (p == NULL) {
			ck_assert_int_eq(errno, ENOMEM);
			break;
		}
		assert_in_heap(h, p, bs, m, size);
		pat_fill_range(p, 0, 64, n);
		pat_fill_range(p, bs - 64, bs, n);
		blk[n++] = p;
	}
	ck_assert_msg(n * bs >= size / 10 * 9, "64 MiB heap gave %zu blocks "
	    "of 64 KiB (%zu%%)", n, n * bs * 100 / size);
	for (size_t i = 0; i < n; i++) {
		pat_assert_range(blk[i], 0, 64, i);
		pat_assert_range(blk[i], bs - 64, bs, i);
	}
	ck_assert_int_eq(ph_heap_check(h), 0);
}
END_TEST

/* [DESIGN] Random sizes until full, in a 4 MiB heap: ENOMEM at the end,
 * everything intact, half freed, filled again, still intact. */
START_TEST(mixed_sizes_until_full)
{
	enum { CAP = 300000 };
	void **p = calloc(CAP, sizeof(*p));
	size_t *sz = calloc(CAP, sizeof(*sz));
	void *m;
	size_t size = 4 * MIB;
	ph_heap_t *h = new_heap(size, &m);
	uint64_t rng = 31337;
	size_t n = 0;
	for (int round = 0; round < 2; round++) {
		int misses = 0;
		while (misses < 20) {   /* big requests fail before small */
			ck_assert_uint_lt(n, CAP);
			size_t s = 1 + rng_below(&rng,
			    rng_below(&rng, 10) ? 2000 : 100000);
			errno = 0;
			void *q = ph_heap_malloc(h, s);
			if (q == NULL) {
				ck_assert_int_eq(errno, ENOMEM);
				misses++;
				continue;
			}
			assert_in_heap(h, q, s, m, size);
			p[n] = q;
			sz[n] = s;
			pat_fill(q, s, n);
			n++;
		}
		for (size_t i = 0; i < n; i++)
			pat_assert(p[i], sz[i], i);
		ck_assert_int_eq(ph_heap_check(h), 0);
		/* free every other block, compact the array */
		size_t k = 0;
		for (size_t i = 0; i < n; i++) {
			if (i % 2) {
				ph_heap_free(h, p[i]);
				continue;
			}
			pat_assert(p[i], sz[i], i);
			p[k] = p[i];
			sz[k] = sz[i];
			pat_fill(p[k], sz[k], k);
			k++;
		}
		n = k;
		ck_assert_int_eq(ph_heap_check(h), 0);
	}
	for (size_t i = 0; i < n; i++) {
		pat_assert(p[i], sz[i], i);
		ph_heap_free(h, p[i]);
	}
	ck_assert_int_eq(ph_heap_check(h), 0);
	free(p);
	free(sz);
}
END_TEST

/* ---- bad ranges -------------------------------------------------------- */

#define UNTOUCHED 0x3c

static void assert_untouched(const unsigned char *p, size_t n)
{
	size_t i = 0;
	while (i < n && p[i] == UNTOUCHED)
		i++;
	ck_assert_msg(i == n, "byte %zu of %p was written: 0x%02x", i,
	    (const void *)p, i < n ? p[i] : 0);
}

/* [DESIGN] A range that is unaligned, too small or wraps the address
 * space: NULL + EINVAL, nothing written. */
START_TEST(bad_ranges_are_einval_and_untouched)
{
	size_t size = 2 * MIB;
	unsigned char *m = map_range(size, true);
	memset(m, UNTOUCHED, size);
	assert_null_errno(ph_heap_create(m + 1, 1 * MIB, 0), EINVAL);
	assert_null_errno(ph_heap_create(m + 16, 1 * MIB, 0), EINVAL);
	assert_null_errno(ph_heap_create(m + 2048, 1 * MIB, 0), EINVAL);
	assert_null_errno(ph_heap_create(NULL, 1 * MIB, 0), EINVAL);
	assert_null_errno(ph_heap_create(m, 0, 0), EINVAL);
	assert_null_errno(ph_heap_create(m, 4096, 0), EINVAL);
	assert_null_errno(ph_heap_create(m, 8192, 0), EINVAL);
	/* one page short of the smallest heap (84 KiB, ph_heap(3)) */
	assert_null_errno(ph_heap_create(m, 80 * KIB, 0), EINVAL);
	/* wraps: from m to past the end of the address space */
	size_t wrap = (size_t)0 - (uintptr_t)m + 1 * MIB;
	assert_null_errno(ph_heap_create(m, wrap, 0), EINVAL);
	assert_null_errno(ph_heap_create(m, SIZE_MAX, 0), EINVAL);
	assert_null_errno(ph_heap_create(m, SIZE_MAX & ~(size_t)0xfff, 0),
	    EINVAL);
	/* a page-aligned start 1 MiB below the top, 2 MiB long: checked
	 * arithmetically, since nothing may be touched there */
	void *top = (void *)(UINTPTR_MAX & ~(uintptr_t)(MIB - 1));
	assert_null_errno(ph_heap_create(top, 2 * MIB, 0), EINVAL);
	assert_untouched(m, size);
	/* the smallest heap works, up to its largest small block */
	ph_heap_t *small = ph_heap_create(m, 84 * KIB, 0);
	ck_assert_ptr_nonnull(small);
	void *big = ph_heap_malloc(small, 14336);
	ck_assert_ptr_nonnull(big);
	ph_heap_free(small, big);
	ck_assert_int_eq(ph_heap_check(small), 0);
	ck_assert_int_eq(ph_heap_detach(small), 0);
	memset(m, UNTOUCHED, size);

	/* the same rules for config_private_heap, which returns the errno */
	ck_assert_int_eq(P_(config_private_heap)(m + 8, 1 * MIB), EINVAL);
	ck_assert_int_eq(P_(config_private_heap)(m, 4096), EINVAL);
	ck_assert_int_eq(P_(config_private_heap)(NULL, 1 * MIB), EINVAL);
	ck_assert_int_eq(P_(config_private_heap)(m, wrap), EINVAL);
	ck_assert_int_eq(P_(config_private_heap)(top, 2 * MIB), EINVAL);
	assert_untouched(m, size);
	/* the standard family still uses the process heap */
	void *p = P_(malloc)(100);
	ck_assert(!in_range(p, 100, m, size));
	P_(free)(p);
	std_heap_works();
}
END_TEST

/* [DESIGN] A range overlapping an attached heap: EEXIST, nothing of the
 * new range written, the attached heap unharmed; an adjacent range is
 * fine. */
START_TEST(overlapping_ranges_are_eexist)
{
	size_t total = 4 * MIB;
	unsigned char *m = map_range(total, true);
	memset(m, UNTOUCHED, total);
	unsigned char *a = m + 1 * MIB;
	ph_heap_t *ha = ph_heap_create(a, 1 * MIB, 0);
	ck_assert_ptr_nonnull(ha);
	void *blk = ph_heap_malloc(ha, 5000);
	pat_fill(blk, 5000, 8);
	ck_assert_int_eq(ph_heap_set_root(ha, 0, blk), 0);

	assert_null_errno(ph_heap_create(a, 1 * MIB, 0), EEXIST);
	assert_null_errno(ph_heap_create(a, 2 * MIB, 0), EEXIST);
	assert_null_errno(ph_heap_create(a + 512 * KIB, 1 * MIB, 0), EEXIST);
	assert_null_errno(ph_heap_create(a + 64 * KIB, 256 * KIB, 0), EEXIST);
	assert_null_errno(ph_heap_create(m, 2 * MIB, 0), EEXIST);
	assert_null_errno(ph_heap_create(m + 512 * KIB, 1 * MIB, 0), EEXIST);
	assert_null_errno(ph_heap_create(m, 4 * MIB, 0), EEXIST);
	ck_assert_int_eq(P_(config_private_heap)(m, 2 * MIB), EEXIST);
	ck_assert_int_eq(P_(config_private_heap)(a + 512 * KIB, 1 * MIB),
	    EEXIST);
	assert_null_errno(ph_heap_attach(a), EEXIST);   /* attached already */
	assert_untouched(m, 1 * MIB);
	assert_untouched(a + 1 * MIB, 2 * MIB);
	pat_assert(blk, 5000, 8);
	ck_assert_ptr_eq(ph_heap_get_root(ha, 0), blk);
	ck_assert_int_eq(ph_heap_check(ha), 0);

	/* neighbours on both sides that only touch it */
	ph_heap_t *below = ph_heap_create(m, 1 * MIB, 0);
	ph_heap_t *above = ph_heap_create(a + 1 * MIB, 1 * MIB, 0);
	ck_assert_ptr_nonnull(below);
	ck_assert_ptr_nonnull(above);
	void *b1 = ph_heap_malloc(below, 100), *b2 = ph_heap_malloc(above, 100);
	assert_in_heap(below, b1, 100, m, 1 * MIB);
	assert_in_heap(above, b2, 100, a + 1 * MIB, 1 * MIB);
	pat_assert(blk, 5000, 8);
	ck_assert_int_eq(ph_heap_check(ha), 0);
	ck_assert_int_eq(ph_heap_check(below), 0);
	ck_assert_int_eq(ph_heap_check(above), 0);
}
END_TEST

/* ---- attach and detach ------------------------------------------------- */

/* [DESIGN] Attaching to memory that holds no heap: NULL and an errno,
 * never a crash -- garbage, zeroes, 0xff, an unaligned or NULL start, an
 * unmapped address. */
START_TEST(attach_refuses_what_is_not_a_heap)
{
	size_t size = 1 * MIB;
	unsigned char *m = map_range(size, true);
	uint64_t rng = 4;
	for (size_t i = 0; i < size; i += 8) {
		uint64_t v = rng_next(&rng);
		memcpy(m + i, &v, 8);
	}
	errno = 0;
	ck_assert_ptr_null(ph_heap_attach(m));
	ck_assert_int_ne(errno, 0);
	memset(m, 0, size);
	errno = 0;
	ck_assert_ptr_null(ph_heap_attach(m));
	ck_assert_int_ne(errno, 0);
	memset(m, 0xff, size);
	errno = 0;
	ck_assert_ptr_null(ph_heap_attach(m));
	ck_assert_int_ne(errno, 0);
	assert_null_errno(ph_heap_attach(m + 8), EINVAL);
	assert_null_errno(ph_heap_attach(NULL), EINVAL);
	munmap(m, size);
	errno = 0;
	ck_assert_ptr_null(ph_heap_attach(m));   /* unmapped now */
	ck_assert_int_ne(errno, 0);
	std_heap_works();
}
END_TEST

/* [DESIGN] A heap whose range is cut short (a truncated file): the
 * header says 1 MiB, only 64 KiB are mapped.  NULL and an errno. */
START_TEST(attach_refuses_a_truncated_heap)
{
	void *m;
	ph_heap_t *h = new_heap(1 * MIB, &m);
	ph_heap_malloc(h, 100);
	ck_assert_int_eq(ph_heap_detach(h), 0);
	unsigned char *t = map_range(1 * MIB, true);
	memcpy(t, m, 64 * KIB);
	munmap(t + 64 * KIB, 1 * MIB - 64 * KIB);
	errno = 0;
	ck_assert_ptr_null(ph_heap_attach(t));
	ck_assert_int_ne(errno, 0);
	/* the original is still a good heap */
	ph_heap_t *again = ph_heap_attach(m);
	ck_assert_ptr_nonnull(again);
	ck_assert_int_eq(ph_heap_check(again), 0);
}
END_TEST

/*
 * [DESIGN] "A heap header read from a file or segment is input, not
 * truth": corrupt each 8-byte word of a detached heap's first page in
 * turn (a private copy per child) and attach.  The attach may fail with
 * an errno or succeed (and then ph_heap_check, get_root and detach must
 * return); it must never crash, and no sanitizer may fire (a child that
 * exits non-zero counts as a crash), nor hang: a lock word that reads
 * "held" in a private heap nobody has joined is refused (image.c), and a
 * shared heap's is judged by its owner (lock.c).  A child found asleep
 * past HANG_MS is hung (it would sleep for ever); one still running on a
 * slow machine is waited for.
 */
#define HANG_MS 5000

START_TEST(attach_never_crashes_on_a_corrupted_header)
{
	size_t size = 256 * KIB;
	unsigned char *m = map_range(size, false);
	ph_heap_t *h = ph_heap_create(m, size, 0);
	ck_assert_ptr_nonnull(h);
	void *keep[64];
	for (int i = 0; i < 64; i++)
		keep[i] = ph_heap_malloc(h, 1 + (size_t)i * 300);
	for (int i = 0; i < 64; i += 3)
		ph_heap_free(h, keep[i]);
	ph_heap_set_root(h, 2, keep[1]);
	ck_assert_int_eq(ph_heap_detach(h), 0);

	static const uint64_t evil[] = { UINT64_MAX,
	    UINT64_C(0x8000000000000000), UINT64_C(0x00000000fffff000), 0 };
	unsigned hangs = 0, crashes = 0, attached = 0;
	char first_crash[128] = "";
	for (size_t off = 0; off < 4096; off += 8) {
		for (size_t e = 0; e < sizeof(evil) / sizeof(evil[0]); e++) {
			uint64_t orig;
			memcpy(&orig, m + off, 8);
			if (orig == evil[e])
				continue;
			pid_t pid = fork();
			ck_assert_int_ge(pid, 0);
			if (pid == 0) {
				int devnull = open("/dev/null", O_WRONLY);
				dup2(devnull, 2);
				memcpy(m + off, &evil[e], 8);
				ph_heap_t *g = ph_heap_attach(m);
				if (g == NULL)
					_exit(errno != 0 ? 0 : 3);
				(void)ph_heap_check(g);
				(void)ph_heap_get_root(g, 2);
				(void)ph_heap_detach(g);
				_exit(10);
			}
			/* past HANG_MS, one found asleep is hung (SIGKILL); a
			 * slow machine's child that still runs is waited for */
			int st = 0, w = 0;
			for (int ms = 0; ; ms++) {
				w = waitpid(pid, &st, WNOHANG);
				if (w != 0 || (ms >= HANG_MS &&
				    thread_state(pid, pid) == 'S'))
					break;
				usleep(1000);
			}
			if (w == 0) {
				kill(pid, SIGKILL);
				waitpid(pid, &st, 0);
				hangs++;
				continue;
			}
			if (WIFEXITED(st) && WEXITSTATUS(st) == 10)
				attached++;
			else if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
				if (crashes++ == 0)
					snprintf(first_crash,
					    sizeof(first_crash), "word at %zu "
					    "= %#llx: status %#x", off,
					    (unsigned long long)evil[e], st);
			}
		}
	}
	ck_assert_msg(crashes == 0, "%u corrupted headers crashed attach; "
	    "first: %s", crashes, first_crash);
	ck_assert_msg(hangs == 0, "%u corrupted headers hung attach", hangs);
	/* the pristine copy still attaches */
	ph_heap_t *g = ph_heap_attach(m);
	ck_assert_ptr_nonnull(g);
	ck_assert_ptr_eq(ph_heap_get_root(g, 2), keep[1]);
	ck_assert_int_eq(ph_heap_check(g), 0);
	/* words the attach does not look at (stats, free lists) let it
	 * succeed: the fuzz reached past the header checks */
	ck_assert_uint_gt(attached, 0);
}
END_TEST

/* [DESIGN] Detach, then attach the same range: the same roots and
 * contents, blocks can be freed and allocated, check is clean.  Detach
 * of a detached heap is EINVAL; after detach the range can be formatted
 * anew. */
START_TEST(detach_and_attach_again)
{
	void *m;
	size_t size = 4 * MIB;
	ph_heap_t *h = new_heap(size, &m);
	enum { N = 200 };
	void *p[N];
	for (int i = 0; i < N; i++) {
		p[i] = ph_heap_malloc(h, 10 + (size_t)i * 97);
		pat_fill(p[i], 10 + (size_t)i * 97, (uint64_t)i);
	}
	for (unsigned k = 0; k < 16; k++)
		ck_assert_int_eq(ph_heap_set_root(h, k, p[k * 7]), 0);
	struct ph_heap_stats st0;
	ck_assert_int_eq(ph_heap_stats(h, &st0), 0);
	ck_assert_int_eq(ph_heap_detach(h), 0);
	ck_assert_int_eq(ph_heap_detach(h), EINVAL);
	ck_assert_ptr_null(ph_heap_of(p[0]));

	ph_heap_t *g = ph_heap_attach(m);
	ck_assert_ptr_nonnull(g);
	ck_assert_int_eq(ph_heap_check(g), 0);
	for (unsigned k = 0; k < 16; k++)
		ck_assert_ptr_eq(ph_heap_get_root(g, k), p[k * 7]);
	for (int i = 0; i < N; i++) {
		pat_assert(p[i], 10 + (size_t)i * 97, (uint64_t)i);
		ck_assert_uint_ge(ph_heap_usable_size(g, p[i]),
		    10 + (size_t)i * 97);
		ck_assert_ptr_eq(ph_heap_of(p[i]), g);
	}
	struct ph_heap_stats st1;
	ck_assert_int_eq(ph_heap_stats(g, &st1), 0);
	ck_assert_uint_eq(st1.size, size);
	ck_assert_uint_gt(st1.epoch, st0.epoch);   /* [header] detach bumps */
	for (int i = 0; i < N; i += 2)
		ph_heap_free(g, p[i]);
	for (int i = 0; i < N; i += 2) {
		p[i] = ph_heap_malloc(g, 500);
		assert_in_heap(g, p[i], 500, m, size);
		pat_fill(p[i], 500, (uint64_t)i + 1000);
	}
	for (int i = 0; i < N; i++)
		pat_assert(p[i], i % 2 ? 10 + (size_t)i * 97 : 500,
		    i % 2 ? (uint64_t)i : (uint64_t)i + 1000);
	ck_assert_int_eq(ph_heap_check(g), 0);

	/* detached again, the range is free to format anew */
	ck_assert_int_eq(ph_heap_detach(g), 0);
	ph_heap_t *fresh = ph_heap_create(m, size, 0);
	ck_assert_ptr_nonnull(fresh);
	for (unsigned k = 0; k < 16; k++)
		ck_assert_ptr_null(ph_heap_get_root(fresh, k));
	ck_assert_int_eq(ph_heap_check(fresh), 0);
}
END_TEST

/* Another thread's slot for a heap detached from a range must not pass
 * for a new heap made in the same range (this thread's detach forgets only
 * its own slots): its cache, inside the old heap, would hand out blocks
 * the new one never did. */
static ph_heap_t *stale_heap;
static pthread_barrier_t stale_bar;

static void *stale_user(void *arg)
{
	ph_heap_free(stale_heap, ph_heap_malloc(stale_heap, 64));
	pthread_barrier_wait(&stale_bar);   /* detached, made again */
	pthread_barrier_wait(&stale_bar);
	return ph_heap_malloc(stale_heap, 64);
}

START_TEST(a_new_heap_in_a_range_is_not_another_threads_old_one)
{
	void *m;
	size_t size = 4 * MIB;
	stale_heap = new_heap(size, &m);
	pthread_barrier_init(&stale_bar, NULL, 2);
	pthread_t th;
	ck_assert_int_eq(pthread_create(&th, NULL, stale_user, NULL), 0);
	pthread_barrier_wait(&stale_bar);
	ck_assert_int_eq(ph_heap_detach(stale_heap), 0);
	stale_heap = ph_heap_create(m, size, 0);
	ck_assert_ptr_eq(stale_heap, m);
	pthread_barrier_wait(&stale_bar);
	void *q;
	ck_assert_int_eq(pthread_join(th, &q), 0);
	assert_in_heap(stale_heap, q, 64, m, size);
	enum { N = 200 };
	void *p[N];
	for (int i = 0; i < N; i++) {
		p[i] = ph_heap_malloc(stale_heap, 64);
		ck_assert_ptr_ne(p[i], q);
	}
	for (int i = 0; i < N; i++)
		ph_heap_free(stale_heap, p[i]);
	ph_heap_free(stale_heap, q);
	ck_assert_int_eq(ph_heap_check(stale_heap), 0);
	pthread_barrier_destroy(&stale_bar);
}
END_TEST

/* A thread that used a heap another thread then closed (unmapped): its
 * frees of other blocks go on (its slot's heap is not read again), and a
 * call on the closed handle is a bad handle, reported, not a crash. */
static void *closed_user(void *arg)
{
	bool again = arg != NULL;
	ph_heap_free(stale_heap, ph_heap_malloc(stale_heap, 64));
	pthread_barrier_wait(&stale_bar);   /* closed */
	pthread_barrier_wait(&stale_bar);
	void *big = P_(malloc)(1 * MIB), *small = P_(malloc)(24);
	ck_assert(big != NULL && small != NULL);
	P_(free)(big);   /* past slot 0: the other slots are asked */
	P_(free)(small);
	if (again)
		ph_heap_malloc(stale_heap, 64);
	return NULL;
}

static void close_under_a_user(bool again)
{
	char name[64];
	snprintf(name, sizeof(name), "/phm-closed-%d", (int)getpid());
	stale_heap = ph_heap_open(name, NULL, 1 * MIB, PH_HEAP_CREATE |
	    PH_HEAP_EXCL);
	ck_assert_ptr_nonnull(stale_heap);
	shm_unlink(name);
	pthread_barrier_init(&stale_bar, NULL, 2);
	pthread_t th;
	ck_assert_int_eq(pthread_create(&th, NULL, closed_user,
	    again ? &th : NULL), 0);
	pthread_barrier_wait(&stale_bar);
	ck_assert_int_eq(ph_heap_close(stale_heap), 0);
	pthread_barrier_wait(&stale_bar);
	ck_assert_int_eq(pthread_join(th, NULL), 0);
}

START_TEST(frees_go_on_after_another_thread_closed_a_heap)
{
	close_under_a_user(false);
}
END_TEST

START_TEST(a_heap_another_thread_closed_is_a_bad_handle)
{
	close_under_a_user(true);
}
END_TEST

/* ---- several heaps ----------------------------------------------------- */

/* [DESIGN] Two heaps are independent: reset one, the other's blocks and
 * roots are intact; allocation in one never lands in the other. */
START_TEST(two_heaps_are_independent)
{
	void *ma, *mb;
	size_t size = 8 * MIB;
	ph_heap_t *a = new_heap(size, &ma), *b = new_heap(size, &mb);
	ck_assert_ptr_ne(a, b);
	enum { N = 300 };
	void *pa[N], *pb[N];
	for (int i = 0; i < N; i++) {
		size_t s = 1 + (size_t)i * 37;
		pa[i] = ph_heap_malloc(a, s);
		pb[i] = ph_heap_malloc(b, s);
		assert_in_heap(a, pa[i], s, ma, size);
		assert_in_heap(b, pb[i], s, mb, size);
		pat_fill(pa[i], s, (uint64_t)i);
		pat_fill(pb[i], s, (uint64_t)i + 5000);
	}
	ph_heap_set_root(a, 0, pa[0]);
	ph_heap_set_root(b, 0, pb[0]);
	ph_heap_reset(a);
	ck_assert_ptr_null(ph_heap_get_root(a, 0));
	ck_assert_ptr_eq(ph_heap_get_root(b, 0), pb[0]);
	for (int i = 0; i < N; i++)
		pat_assert(pb[i], 1 + (size_t)i * 37, (uint64_t)i + 5000);
	/* a's memory is free again and b's is still taken */
	for (int i = 0; i < N; i++) {
		size_t s = 1 + (size_t)i * 37;
		pa[i] = ph_heap_malloc(a, s);
		assert_in_heap(a, pa[i], s, ma, size);
		pat_fill(pa[i], s, (uint64_t)i + 9000);
	}
	for (int i = 0; i < N; i++)
		pat_assert(pb[i], 1 + (size_t)i * 37, (uint64_t)i + 5000);
	for (int i = 0; i < N; i += 2)
		ph_heap_free(b, pb[i]);
	for (int i = 0; i < N; i++)
		pat_assert(pa[i], 1 + (size_t)i * 37, (uint64_t)i + 9000);
	ck_assert_int_eq(ph_heap_check(a), 0);
	ck_assert_int_eq(ph_heap_check(b), 0);
}
END_TEST

/* [DESIGN] "P free, P realloc and P malloc_usable_size accept a pointer
 * from any heap attached in the process": the block goes back to its own
 * heap (a full heap has room again afterwards). */
START_TEST(standard_calls_route_to_the_owning_heap)
{
	enum { CAP = 8192 };
	static void *blk[CAP];
	void *m;
	size_t size = 1 * MIB;
	ph_heap_t *h = new_heap(size, &m);
	/* realloc through the standard family keeps the contents and the
	 * block stays in (or moves within) its heap */
	unsigned char *r = ph_heap_malloc(h, 1000);
	pat_fill(r, 1000, 1);
	ck_assert_uint_eq(P_(malloc_usable_size)(r), ph_heap_usable_size(h, r));
	r = P_(realloc)(r, 500);
	assert_in_heap(h, r, 500, m, size);
	pat_assert(r, 500, 1);
	r = P_(realloc)(r, 30000);
	assert_in_heap(h, r, 30000, m, size);
	pat_assert(r, 500, 1);
	ck_assert_uint_eq(P_(malloc_usable_size)(r), ph_heap_usable_size(h, r));
	P_(free)(r);
	ck_assert_int_eq(ph_heap_check(h), 0);

	size_t n = fill_heap(h, 1000, blk, CAP, m, size);
	ck_assert_uint_gt(n, 10);
	for (size_t i = 0; i < n; i++)
		ck_assert_uint_eq(P_(malloc_usable_size)(blk[i]),
		    ph_heap_usable_size(h, blk[i]));
	/* free through the standard family: the heap has room again */
	P_(free)(blk[3]);
	P_(free)(blk[7]);
	void *x = ph_heap_malloc(h, 1000), *y = ph_heap_malloc(h, 1000);
	assert_in_heap(h, x, 1000, m, size);
	assert_in_heap(h, y, 1000, m, size);
	pat_fill(x, 1000, 3);
	pat_fill(y, 1000, 7);
	blk[3] = x;
	blk[7] = y;
	/* within its class, realloc needs no room */
	r = P_(realloc)(blk[10], 1010);
	ck_assert_ptr_eq(r, blk[10]);
	pat_assert(r, 1000, 10);
	for (size_t i = 0; i < n; i++) {
		pat_assert(blk[i], 1000, i);
		P_(free)(blk[i]);
	}
	ck_assert_int_eq(ph_heap_check(h), 0);
	/* all of it came back */
	size_t n2 = fill_heap(h, 1000, blk, CAP, m, size);
	ck_assert_uint_ge(n2, n);
	/* and a process-heap block freed with ph_heap_free of its heap */
	void *pp = P_(malloc)(100);
	ph_heap_t *ph = ph_heap_of(pp);
	ck_assert_ptr_nonnull(ph);
	ck_assert_ptr_eq(ph, ph_heap_default());
	ck_assert_ptr_ne(ph, h);
	ph_heap_free(ph, pp);
}
END_TEST

/* ---- the private-heap pair --------------------------------------------- */

/* [DESIGN] config_private_heap(start, size) makes the standard family
 * allocate in [start, start+size); malloc_reset wipes that heap (every
 * block freed, roots cleared); blocks from before stay freeable. */
START_TEST(private_heap_and_malloc_reset)
{
	size_t size = 4 * MIB;
	unsigned char *m = map_range(size, true);
	void *old = P_(malloc)(300);   /* from the process heap */
	pat_fill(old, 300, 1);
	ck_assert(!in_range(old, 300, m, size));

	ck_assert_int_eq(P_(config_private_heap)(m, size), 0);
	ph_heap_t *h = ph_heap_default();
	ck_assert_ptr_nonnull(h);
	ck_assert_int_eq(ph_heap_check(h), 0);
	/* every allocating call lands in the range */
	static const size_t sizes[] = { 0, 1, 100, 5000, 14336, 20000,
	    300000 };
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		size_t s = sizes[i];
		void *p = P_(malloc)(s);
		assert_in_heap(h, p, s, m, size);
		void *c = P_(calloc)(1, s);
		assert_in_heap(h, c, s, m, size);
		assert_zero(c, s);
		void *a = P_(aligned_alloc)(4096, s);
		assert_in_heap(h, a, s, m, size);
		void *x = P_(mallocx)(s + 1, MALLOCX_ZERO);
		assert_in_heap(h, x, s + 1, m, size);
		void *pm = NULL;
		ck_assert_int_eq(P_(posix_memalign)(&pm, 64, s), 0);
		assert_in_heap(h, pm, s, m, size);
		p = P_(realloc)(p, s * 2 + 10);
		assert_in_heap(h, p, s * 2 + 10, m, size);
		P_(free)(p);
		P_(free)(c);
		P_(free)(a);
		P_(dallocx)(x, 0);
		P_(free)(pm);
	}
	/* the block from before is still good and freeable */
	pat_assert(old, 300, 1);
	P_(free)(old);

	/* fill it, wipe it, fill it again */
	enum { CAP = 8192 };
	static void *blk[CAP];
	size_t n1 = 0;
	for (;;) {
		ck_assert_uint_lt(n1, CAP);
		errno = 0;
		void *p = P_(malloc)(1000);
		if (p == NULL) {
			ck_assert_int_eq(errno, ENOMEM);
			break;
		}
		assert_in_heap(h, p, 1000, m, size);
		blk[n1++] = p;
	}
	ck_assert_uint_gt(n1, size / 1024 / 10 * 8);
	ck_assert_int_eq(ph_heap_set_root(h, 0, blk[0]), 0);
	P_(malloc_reset)();
	ck_assert_ptr_null(ph_heap_get_root(h, 0));
	ck_assert_int_eq(ph_heap_check(h), 0);
	void *half = P_(malloc)(size / 2);
	assert_in_heap(h, half, size / 2, m, size);
	P_(free)(half);
	size_t n2 = 0;
	for (;;) {
		ck_assert_uint_lt(n2, CAP);
		void *p = P_(malloc)(1000);
		if (p == NULL)
			break;
		assert_in_heap(h, p, 1000, m, size);
		pat_fill(p, 1000, n2);
		blk[n2++] = p;
	}
	ck_assert_msg(n2 >= n1, "%zu blocks after malloc_reset, %zu before",
	    n2, n1);
	for (size_t i = 0; i < n2; i++)
		pat_assert(blk[i], 1000, i);
	/* configuring the same range again keeps the heap */
	ck_assert_int_eq(P_(config_private_heap)(m, size), 0);
	for (size_t i = 0; i < n2; i++)
		pat_assert(blk[i], 1000, i);
	P_(malloc_reset)();
	ck_assert_int_eq(ph_heap_check(h), 0);
}
END_TEST

/* The heap ph_malloc uses cannot be detached or closed: it would go on
 * allocating in a range nobody has attached. */
START_TEST(the_default_heap_is_not_detached)
{
	size_t size = 4 * MIB;
	unsigned char *m = map_range(size, true);
	ck_assert_int_eq(P_(config_private_heap)(m, size), 0);
	ph_heap_t *h = ph_heap_default();
	ck_assert_ptr_eq(h, m);
	ck_assert_int_eq(ph_heap_detach(h), EBUSY);
	ck_assert_int_eq(ph_heap_close(h), EBUSY);
	ck_assert_ptr_eq(ph_heap_of(m + size / 2), h);
	void *p = P_(malloc)(100);
	assert_in_heap(h, p, 100, m, size);
	P_(free)(p);
	ck_assert_int_eq(ph_heap_check(h), 0);
}
END_TEST

/* ---- bad frees through a handle ---------------------------------------- */

START_TEST(heap_double_free)
{
	void *m;
	ph_heap_t *h = new_heap(1 * MIB, &m);
	void *p = ph_heap_malloc(h, 100);
	ph_heap_free(h, p);
	ph_heap_free(h, p);
}
END_TEST

START_TEST(heap_double_free_large)
{
	void *m;
	ph_heap_t *h = new_heap(1 * MIB, &m);
	void *p = ph_heap_malloc(h, 100000);
	ph_heap_free(h, p);
	ph_heap_free(h, p);
}
END_TEST

START_TEST(heap_free_of_another_heaps_block)
{
	void *ma, *mb;
	ph_heap_t *a = new_heap(1 * MIB, &ma), *b = new_heap(1 * MIB, &mb);
	void *p = ph_heap_malloc(b, 100);
	ph_heap_free(a, p);
}
END_TEST

START_TEST(heap_free_of_interior_pointer)
{
	void *m;
	ph_heap_t *h = new_heap(1 * MIB, &m);
	char *p = ph_heap_malloc(h, 64 * KIB);
	ph_heap_free(h, p + 4096);
}
END_TEST

START_TEST(standard_free_twice_of_a_heap_block)
{
	void *m;
	ph_heap_t *h = new_heap(1 * MIB, &m);
	void *p = ph_heap_malloc(h, 1000);
	P_(free)(p);
	P_(free)(p);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("heap");

	TCase *tc = tcase_create("use");
	tcase_set_timeout(tc, 30);
	tcase_add_loop_test(tc, create_and_use, 0, 2);
	tcase_add_test(tc, handle_calls_bad_input);
	tcase_add_test(tc, roots);
	tcase_add_test(tc, reset_frees_everything);
	tcase_add_test(tc, check_is_zero_on_a_healthy_heap);
	suite_add_tcase(s, tc);

	tc = tcase_create("capacity");
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, full_heap_is_enomem_and_intact);
	tcase_add_test(tc, big_heap_hands_out_90_percent);
	tcase_add_test(tc, mixed_sizes_until_full);
	suite_add_tcase(s, tc);

	tc = tcase_create("ranges");
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, bad_ranges_are_einval_and_untouched);
	tcase_add_test(tc, overlapping_ranges_are_eexist);
	suite_add_tcase(s, tc);

	tc = tcase_create("attach");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, attach_refuses_what_is_not_a_heap);
	tcase_add_test(tc, attach_refuses_a_truncated_heap);
	tcase_add_test(tc, attach_never_crashes_on_a_corrupted_header);
	tcase_add_test(tc, detach_and_attach_again);
	tcase_add_test(tc, a_new_heap_in_a_range_is_not_another_threads_old_one);
	tcase_add_test(tc, frees_go_on_after_another_thread_closed_a_heap);
	tcase_add_test_raise_signal(tc,
	    a_heap_another_thread_closed_is_a_bad_handle, SIGABRT);
	suite_add_tcase(s, tc);

	tc = tcase_create("several");
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, two_heaps_are_independent);
	tcase_add_test(tc, standard_calls_route_to_the_owning_heap);
	tcase_add_test(tc, private_heap_and_malloc_reset);
	tcase_add_test(tc, the_default_heap_is_not_detached);
	suite_add_tcase(s, tc);

	tc = tcase_create("bad frees");
	tcase_set_timeout(tc, 30);
	tcase_add_test_raise_signal(tc, heap_double_free, SIGABRT);
	tcase_add_test_raise_signal(tc, heap_double_free_large, SIGABRT);
	tcase_add_test_raise_signal(tc, heap_free_of_another_heaps_block,
	    SIGABRT);
	tcase_add_test_raise_signal(tc, heap_free_of_interior_pointer,
	    SIGABRT);
	tcase_add_test_raise_signal(tc, standard_free_twice_of_a_heap_block,
	    SIGABRT);
	suite_add_tcase(s, tc);

	return run_suite(s);
}
