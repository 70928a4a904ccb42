/*
 * test_mallocx.c -- jemalloc's non-standard family (mallocx, rallocx,
 * xallocx, sallocx, dallocx, sdallocx, nallocx with the MALLOCX_* flags)
 * and a public-API cross-check of mallctl, through the configured prefix.
 *
 * Markers: [DESIGN] is DESIGN.md's contract (the names and MALLOCX_*
 * flags, size overflow -> NULL + ENOMEM); [jemalloc] is jemalloc's
 * documented behaviour for these calls, which callers written against
 * jemalloc rely on; [classes] is the jemalloc-style size-class shape the
 * brief asks for (at most 25% waste above 48 bytes up to 14336, the
 * 16-byte quantum below).
 */
#include <pthread.h>

#include "testutil.h"

/* Sizes 1..20000 one by one, then large ones up to 64 MiB. */
static size_t next_size(size_t s)
{
	if (s < 20000)
		return s + 1;
	return s + s / 7 + 1;
}

/* ---- nallocx, sallocx, size classes ------------------------------------ */

/* [jemalloc] nallocx(size, 0) == sallocx(mallocx(size, 0), 0) ==
 * malloc_usable_size, for every size to 20000 and large ones to 64 MiB. */
START_TEST(nallocx_is_what_mallocx_gives)
{
	for (size_t s = 1; s <= 64 * MIB; s = next_size(s)) {
		size_t n = P_(nallocx)(s, 0);
		ck_assert_msg(n >= s, "nallocx(%zu) = %zu", s, n);
		void *p = P_(mallocx)(s, 0);
		ck_assert_msg(p != NULL, "mallocx(%zu) gave NULL", s);
		ck_assert(is_aligned(p, MIN_ALIGN));
		ck_assert_msg(P_(sallocx)(p, 0) == n,
		    "sallocx(mallocx(%zu)) = %zu, nallocx = %zu", s,
		    P_(sallocx)(p, 0), n);
		ck_assert_uint_eq(P_(malloc_usable_size)(p), n);
		/* the usable size is really usable */
		((unsigned char *)p)[n - 1] = 0xab;
		((unsigned char *)p)[0] = 0xcd;
		P_(dallocx)(p, 0);
	}
}
END_TEST

/* [classes] nallocx is monotonic, a fixed point on its own results, and
 * wastes at most 25% of a small block above 48 bytes (four classes per
 * doubling) and less than the 16-byte quantum below. */
START_TEST(small_classes_are_jemalloc_style)
{
	size_t prev = 0;
	unsigned per_doubling[16] = { 0 };
	for (size_t s = 1; s <= SMALL_MAX_REQ; s++) {
		size_t n = P_(nallocx)(s, 0);
		ck_assert_msg(n >= prev, "nallocx(%zu) = %zu < nallocx(%zu) = "
		    "%zu", s, n, s - 1, prev);
		ck_assert_uint_eq(P_(nallocx)(n, 0), n);
		ck_assert_msg(n % MIN_ALIGN == 0, "class %zu is not a multiple"
		    " of %zu", n, MIN_ALIGN);
		if (s > 48)
			ck_assert_msg(4 * s >= 3 * n, "nallocx(%zu) = %zu "
			    "wastes more than 25%%", s, n);
		else
			ck_assert_msg(n - s < MIN_ALIGN, "nallocx(%zu) = %zu",
			    s, n);
		if (n != prev && n > 64) {
			unsigned lg = 63 - (unsigned)__builtin_clzl(n - 1);
			per_doubling[lg]++;
		}
		prev = n;
	}
	/* (2^lg, 2^(lg+1)] holds four classes from (64, 128] on */
	for (unsigned lg = 6; lg < 13; lg++)
		ck_assert_msg(per_doubling[lg] == 4, "(%u, %u]: %u classes",
		    1u << lg, 2u << lg, per_doubling[lg]);
	/* large sizes: at least the request, monotonic, modest waste */
	prev = 0;
	for (size_t s = SMALL_MAX_REQ + 1; s <= 64 * MIB; s = next_size(s)) {
		size_t n = P_(nallocx)(s, 0);
		ck_assert_uint_ge(n, s);
		ck_assert_uint_ge(n, prev);
		ck_assert_msg(n - s < (s / 4 > 4096 ? s / 4 : 4096),
		    "nallocx(%zu) = %zu", s, n);
		prev = n;
	}
}
END_TEST

/* [jemalloc] With an alignment flag, nallocx predicts sallocx and the
 * block has that alignment; MALLOCX_ALIGN(a) == MALLOCX_LG_ALIGN(lg a). */
START_TEST(alignment_flags)
{
	static const size_t sizes[] = { 1, 17, 100, 3000, 14336, 20000,
	    300000 };
	for (unsigned lg = 0; lg <= 26; lg++) {
		size_t a = (size_t)1 << lg;
		ck_assert_int_eq(MALLOCX_ALIGN(a), MALLOCX_LG_ALIGN(lg));
		for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
			size_t s = sizes[i];
			int fl = (i & 1) ? MALLOCX_ALIGN(a) :
			    MALLOCX_LG_ALIGN(lg);
			size_t n = P_(nallocx)(s, fl);
			unsigned char *p = P_(mallocx)(s, fl);
			ck_assert_msg(p != NULL, "mallocx(%zu, align %zu)", s,
			    a);
			ck_assert_msg(is_aligned(p, a), "mallocx(%zu, align "
			    "%zu) = %p", s, a, (void *)p);
			ck_assert_uint_ge(n, s);
			ck_assert_msg(P_(sallocx)(p, fl) == n, "align %zu size "
			    "%zu: sallocx %zu, nallocx %zu", a, s,
			    P_(sallocx)(p, fl), n);
			pat_fill(p, s, lg * 100 + i);
			/* rallocx with the same alignment keeps it */
			unsigned char *q = P_(rallocx)(p, s * 2 + 1, fl);
			ck_assert_ptr_nonnull(q);
			ck_assert(is_aligned(q, a));
			pat_assert(q, s, lg * 100 + i);
			P_(dallocx)(q, fl);
		}
	}
}
END_TEST

/* ---- MALLOCX_ZERO ------------------------------------------------------ */

/* [jemalloc] MALLOCX_ZERO zeroes the block, also when it reuses a dirty
 * block of the same size. */
START_TEST(mallocx_zero_zeroes_reused_blocks)
{
	static const size_t sizes[] = { 1, 16, 100, 1000, 14336, 20000,
	    300000, 3 * MIB };
	enum { K = 32 };
	void *b[K];
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		size_t s = sizes[i];
		for (int j = 0; j < K; j++) {
			b[j] = P_(mallocx)(s, 0);
			memset(b[j], 0xa5, P_(sallocx)(b[j], 0));
		}
		for (int j = 0; j < K; j++)
			P_(dallocx)(b[j], 0);
		for (int j = 0; j < K; j++) {
			b[j] = P_(mallocx)(s, MALLOCX_ZERO);
			ck_assert_ptr_nonnull(b[j]);
			assert_zero(b[j], s);
		}
		for (int j = 0; j < K; j++)
			P_(dallocx)(b[j], 0);
		/* with an alignment too */
		void *a = P_(mallocx)(s, MALLOCX_ZERO | MALLOCX_LG_ALIGN(12));
		ck_assert(is_aligned(a, 4096));
		assert_zero(a, s);
		P_(dallocx)(a, 0);
	}
}
END_TEST

/* [jemalloc] rallocx growing with MALLOCX_ZERO keeps the old bytes and
 * zeroes everything past the old usable size: when it moves and when it
 * grows a large block in place over pages that were dirtied. */
START_TEST(rallocx_zero_zeroes_the_new_tail)
{
	static const size_t from[] = { 10, 100, 3000, 14336, 20000, 300000 };
	static const size_t to[] = { 5000, 14336, 300000, 100000, 2 * MIB,
	    4 * MIB };
	for (size_t i = 0; i < sizeof(from) / sizeof(from[0]); i++) {
		unsigned char *p = P_(mallocx)(from[i], 0);
		size_t u = P_(sallocx)(p, 0);
		pat_fill(p, u, i);
		unsigned char *q = P_(rallocx)(p, to[i], MALLOCX_ZERO);
		ck_assert_ptr_nonnull(q);
		ck_assert_uint_ge(P_(sallocx)(q, 0), to[i]);
		pat_assert(q, u, i);
		assert_zero(q + u, to[i] - u);
		P_(dallocx)(q, 0);
	}

	/* In place over dirty pages: shrink a dirtied 4 MiB block, then
	 * grow it back into the pages it just gave up. */
	unsigned char *p = P_(mallocx)(4 * MIB, 0);
	memset(p, 0xee, 4 * MIB);
	unsigned char *q = P_(rallocx)(p, 1 * MIB, 0);
	ck_assert_ptr_nonnull(q);
	size_t u = P_(sallocx)(q, 0);
	ck_assert_uint_ge(u, 1 * MIB);
	q = P_(rallocx)(q, 4 * MIB, MALLOCX_ZERO);
	ck_assert_ptr_nonnull(q);
	ck_assert_uint_eq(q[0], 0xee);
	ck_assert_uint_eq(q[u - 1], 0xee);
	assert_zero(q + u, 4 * MIB - u);
	P_(dallocx)(q, 0);
}
END_TEST

/* ---- xallocx ----------------------------------------------------------- */

/* [jemalloc] xallocx never moves: it returns the usable size the block
 * has afterwards (== sallocx), which is >= size when it could resize and
 * the old size when it could not, and the contents stay. */
START_TEST(xallocx_resizes_in_place_or_not_at_all)
{
	static const size_t from[] = { 10, 100, 3000, 14336, 20000, 300000,
	    4 * MIB };
	static const size_t to[] = { 1, 12, 100, 5000, 14336, 16384, 40000,
	    300000, 1 * MIB, 8 * MIB };
	static const size_t extra[] = { 0, 10, 100000 };
	for (size_t i = 0; i < sizeof(from) / sizeof(from[0]); i++)
		for (size_t j = 0; j < sizeof(to) / sizeof(to[0]); j++)
			for (size_t k = 0; k < 3; k++) {
				unsigned char *p = P_(mallocx)(from[i], 0);
				size_t old = P_(sallocx)(p, 0);
				pat_fill(p, from[i], j);
				size_t r = P_(xallocx)(p, to[j], extra[k], 0);
				ck_assert_uint_eq(r, P_(sallocx)(p, 0));
				ck_assert_msg(r >= to[j] || r == old,
				    "xallocx(%zu -> %zu + %zu) = %zu, old %zu",
				    from[i], to[j], extra[k], r, old);
				/* r is a size class, and a large block
				 * stays large (what sdallocx relies on) */
				ck_assert_uint_eq(P_(nallocx)(r, 0), r);
				ck_assert(old <= SMALL_MAX_REQ ||
				    r > SMALL_MAX_REQ);
				size_t keep = from[i] < to[j] ? from[i] : to[j];
				pat_assert(p, keep < r ? keep : r, j);
				/* the new usable size is usable */
				p[r - 1] = 1;
				if (P_(nallocx)(to[j], 0) == r)
					P_(sdallocx)(p, to[j], 0);
				else
					P_(dallocx)(p, 0);
			}
}
END_TEST

/* [jemalloc] A large block grows in place over free pages after it, and
 * MALLOCX_ZERO zeroes what it gains. */
START_TEST(xallocx_grows_a_large_block_in_place)
{
	unsigned char *p = P_(mallocx)(8 * MIB, 0);
	memset(p, 0x77, 8 * MIB);
	size_t r = P_(xallocx)(p, 2 * MIB, 0, 0);   /* give pages back */
	ck_assert_uint_eq(r, P_(sallocx)(p, 0));
	ck_assert_uint_ge(r, 2 * MIB);
	ck_assert_uint_lt(r, 8 * MIB);
	size_t kept = r;
	r = P_(xallocx)(p, 6 * MIB, 0, MALLOCX_ZERO);
	ck_assert_msg(r >= 6 * MIB, "xallocx could not grow into the pages "
	    "it just freed: %zu", r);
	ck_assert_uint_eq(r, P_(sallocx)(p, 0));
	ck_assert_uint_eq(p[kept - 1], 0x77);
	assert_zero(p + kept, 6 * MIB - kept);
	P_(dallocx)(p, 0);
}
END_TEST

/* ---- dallocx, sdallocx, MALLOCX_TCACHE_NONE ---------------------------- */

/* [jemalloc] sdallocx with the request size or any size up to the usable
 * size frees the block; the heap goes on working. */
START_TEST(sdallocx_with_the_right_size)
{
	for (size_t s = 1; s <= 64 * MIB; s = next_size(s)) {
		void *p = P_(mallocx)(s, 0);
		ck_assert_ptr_nonnull(p);
		size_t u = P_(sallocx)(p, 0);
		switch (s % 3) {
		case 0: P_(sdallocx)(p, s, 0); break;
		case 1: P_(sdallocx)(p, u, 0); break;
		default: P_(sdallocx)(p, s + (u - s) / 2, 0); break;
		}
	}
	/* with flags matching how it was allocated */
	void *a = P_(mallocx)(100, MALLOCX_LG_ALIGN(8));
	P_(sdallocx)(a, 100, MALLOCX_LG_ALIGN(8));
	a = P_(mallocx)(50000, MALLOCX_ZERO | MALLOCX_TCACHE_NONE);
	P_(sdallocx)(a, 50000, MALLOCX_TCACHE_NONE);
	std_heap_works();
}
END_TEST

/* [jemalloc] MALLOCX_TCACHE_NONE bypasses the thread cache; blocks from
 * either path are freed by the other, and contents are kept. */
/* [jemalloc] MALLOCX_ARENA(a) allocates from arena a (each arena is a
 * heap of its own here); an arena that does not exist gives NULL; a
 * success leaves errno alone. */
START_TEST(mallocx_arena_picks_the_arena)
{
	unsigned n = 0;
	size_t len = sizeof(n);
	ck_assert_int_eq(P_(mallctl)("arenas.narenas", &n, &len, NULL, 0), 0);
	ph_heap_t *seen[64] = { 0 };
	for (unsigned a = 0; a < n && a < 64; a++) {
		errno = 0;
		void *p = P_(mallocx)(100 + a, MALLOCX_ARENA(a));
		void *q = P_(mallocx)(40000, MALLOCX_ARENA(a) | MALLOCX_ZERO);
		ck_assert_ptr_nonnull(p);
		ck_assert_ptr_nonnull(q);
		ck_assert_int_eq(errno, 0);
		assert_zero(q, 40000);
		seen[a] = ph_heap_of(p);
		ck_assert_ptr_eq(ph_heap_of(q), seen[a]);
		for (unsigned b = 0; b < a; b++)
			ck_assert_ptr_ne(seen[b], seen[a]);
		P_(dallocx)(p, 0);
		P_(free)(q);
		ck_assert_int_eq(ph_heap_check(seen[a]), 0);
	}
	errno = 0;
	ck_assert_ptr_null(P_(mallocx)(100, MALLOCX_ARENA(n)));
	ck_assert_ptr_null(P_(mallocx)(100, MALLOCX_ARENA(1000)));
}
END_TEST

START_TEST(tcache_none_mixes_with_cached_calls)
{
	enum { N = 2000 };
	void *p[N];
	uint64_t rng = 5;
	for (int round = 0; round < 3; round++) {
		for (int i = 0; i < N; i++) {
			size_t s = 1 + rng_below(&rng, i % 50 ? 3000 : 100000);
			int fl = (i & 1) ? MALLOCX_TCACHE_NONE : 0;
			p[i] = P_(mallocx)(s, fl);
			ck_assert_ptr_nonnull(p[i]);
			ck_assert_uint_eq(P_(sallocx)(p[i], 0),
			    P_(nallocx)(s, 0));
			pat_fill(p[i], s, (uint64_t)i);
			p[i] = P_(rallocx)(p[i], s + 1, fl);
			pat_assert(p[i], s, (uint64_t)i);
		}
		for (int i = 0; i < N; i++) {
			switch ((i + round) % 3) {
			case 0: P_(dallocx)(p[i], MALLOCX_TCACHE_NONE); break;
			case 1: P_(dallocx)(p[i], 0); break;
			default: P_(free)(p[i]); break;
			}
		}
	}
	void *z = P_(mallocx)(4000, MALLOCX_TCACHE_NONE | MALLOCX_ZERO);
	assert_zero(z, 4000);
	P_(dallocx)(z, MALLOCX_TCACHE_NONE);
}
END_TEST

/* [DESIGN] Overflow in the *allocx family: mallocx/rallocx give NULL and
 * ENOMEM-style failure with the block kept; nallocx says 0; xallocx
 * cannot grow and leaves the block as it was. */
/* ---- jemalloc's created arenas ------------------------------------------- */

static unsigned ctl_unsigned(const char *name)
{
	unsigned v = 0;
	size_t len = sizeof(v);
	ck_assert_int_eq(P_(mallctl)(name, &v, &len, NULL, 0), 0);
	return v;
}

static unsigned arena_create(void)
{
	unsigned i = ~0u;
	size_t len = sizeof(i);
	ck_assert_int_eq(P_(mallctl)("arenas.create", &i, &len, NULL, 0), 0);
	return i;
}

static int arena_do(const char *op, unsigned i)
{
	char name[64];
	snprintf(name, sizeof(name), "arena.%u.%s", i, op);
	return P_(mallctl)(name, NULL, NULL, NULL, 0);
}

static size_t heap_allocated(ph_heap_t *h)
{
	struct ph_heap_stats st;
	ck_assert_int_eq(ph_heap_stats(h, &st), 0);
	return st.allocated;
}

START_TEST(arenas_create_makes_an_arena_of_its_own)
{
	unsigned before = ctl_unsigned("arenas.narenas");
	unsigned i = arena_create();
	ck_assert_uint_ge(i, before);
	ck_assert_uint_eq(ctl_unsigned("arenas.narenas"), i + 1);
	/* opt.narenas stays the automatic arenas' count */
	ck_assert_uint_le(ctl_unsigned("opt.narenas"), before);

	void *small = P_(mallocx)(100, MALLOCX_ARENA(i) | MALLOCX_TCACHE_NONE);
	void *large = P_(mallocx)(200000, MALLOCX_ARENA(i) | MALLOCX_ZERO);
	void *aligned = P_(mallocx)(3000, MALLOCX_ARENA(i) |
	    MALLOCX_ALIGN(4096));
	ck_assert_ptr_nonnull(small);
	ck_assert_ptr_nonnull(large);
	ck_assert_ptr_nonnull(aligned);
	ck_assert(is_aligned(aligned, 4096));
	assert_zero(large, 200000);
	ph_heap_t *h = ph_heap_of(small);
	ck_assert_ptr_nonnull(h);
	ck_assert_ptr_eq(ph_heap_of(large), h);
	ck_assert_ptr_eq(ph_heap_of(aligned), h);
	for (unsigned a = 0; a < before; a++) {
		void *p = P_(mallocx)(100, MALLOCX_ARENA(a));
		ck_assert_ptr_nonnull(p);
		ck_assert_ptr_ne(ph_heap_of(p), h);
		P_(free)(p);
	}
	/* Its blocks go back through every call that frees. */
	ck_assert_uint_eq(P_(sallocx)(small, 0), P_(nallocx)(100, 0));
	P_(dallocx)(small, MALLOCX_TCACHE_NONE);
	P_(free)(large);
	P_(sdallocx)(aligned, 3000, MALLOCX_ALIGN(4096));
	ck_assert_int_eq(ph_heap_check(h), 0);
	/* The automatic arenas cannot be reset or destroyed; nor an index
	 * that names no arena. */
	ck_assert_int_eq(arena_do("reset", 0), EFAULT);
	ck_assert_int_eq(arena_do("destroy", 0), EFAULT);
	ck_assert_int_eq(arena_do("destroy", i + 1), EFAULT);
	ck_assert_int_eq(arena_do("destroy", i), 0);
	ck_assert_int_eq(arena_do("destroy", i), EFAULT);   /* gone */
	/* Custom extent hooks are not supported. */
	void *hooks = NULL;
	unsigned j;
	size_t len = sizeof(j);
	ck_assert_int_eq(P_(mallctl)("arenas.create", &j, &len, &hooks,
	    sizeof(hooks)), EINVAL);
	ck_assert_int_eq(P_(mallctl)("arena.0.extent_hooks", &hooks, &len,
	    NULL, 0), ENOENT);
}
END_TEST

/* [jemalloc] thread.arena with a read size that is not the value's: EINVAL
 * before the thread moves. */
START_TEST(thread_arena_with_a_bad_read_size_stays)
{
	unsigned before = ctl_unsigned("thread.arena");
	unsigned want = before == 0 ? 1 : 0;
	uint64_t old = 0;
	size_t len = sizeof(old);
	ck_assert_int_eq(P_(mallctl)("thread.arena", &old, &len, &want,
	    sizeof(want)), EINVAL);
	ck_assert_uint_eq(ctl_unsigned("thread.arena"), before);
}
END_TEST

/* [jemalloc] rallocx with MALLOCX_ARENA(i): a block that moves goes to
 * arena i, with its contents; one that already is such a block stays. */
START_TEST(rallocx_moves_a_block_into_the_arena_named)
{
	unsigned i = arena_create();
	char *p = P_(mallocx)(100, 0);
	ck_assert_ptr_nonnull(p);
	memset(p, 7, 100);
	char *q = P_(rallocx)(p, 5000, MALLOCX_ARENA(i) | MALLOCX_ZERO);
	ck_assert_ptr_nonnull(q);
	ph_heap_t *h = ph_heap_of(q);
	ck_assert_ptr_ne(h, ph_heap_of(P_(mallocx)(100, 0)));
	void *mine = P_(mallocx)(100, MALLOCX_ARENA(i));
	ck_assert_ptr_eq(ph_heap_of(mine), h);
	for (int k = 0; k < 100; k++)
		ck_assert_int_eq(q[k], 7);
	for (int k = 100; k < 5000; k++)
		ck_assert_int_eq(q[k], 0);
	ck_assert_ptr_eq(P_(rallocx)(q, 5000, MALLOCX_ARENA(i)), q);
	char *r = P_(rallocx)(q, 64, MALLOCX_ARENA(i) | MALLOCX_ALIGN(64));
	ck_assert_ptr_eq(ph_heap_of(r), h);
	ck_assert(is_aligned(r, 64));
	ck_assert(r[0] == 7 && r[63] == 7);
	/* An arena that does not exist: NULL, ENOMEM, the block kept. */
	errno = 0;
	ck_assert_ptr_null(P_(rallocx)(r, 300, MALLOCX_ARENA(i + 7)));
	ck_assert_int_eq(errno, ENOMEM);
	ck_assert_int_eq(r[0], 7);
	P_(dallocx)(r, 0);
	P_(free)(mine);
	ck_assert_int_eq(ph_heap_check(h), 0);
}
END_TEST

/* [jemalloc] xallocx with an alignment the block does not have leaves it
 * as it is. */
START_TEST(xallocx_keeps_a_block_not_at_the_alignment_asked)
{
	char *p = P_(mallocx)(20000, MALLOCX_ALIGN(4096));
	ck_assert_ptr_nonnull(p);
	size_t old = P_(sallocx)(p, 0);
	/* one more than the alignment p happens to have */
	int lg = __builtin_ctzl((unsigned long)(uintptr_t)p) + 1;
	ck_assert_uint_eq(P_(xallocx)(p, 40000, 0, MALLOCX_LG_ALIGN(lg)),
	    old);
	ck_assert_uint_eq(P_(sallocx)(p, 0), old);
	P_(free)(p);
}
END_TEST

START_TEST(arena_reset_frees_everything_in_it)
{
	enum { N = 3000 };
	static void *p[N];
	unsigned i = arena_create();
	ph_heap_t *h = NULL;
	for (int round = 0; round < 3; round++) {
		for (int k = 0; k < N; k++) {
			size_t s = k % 100 ? 16 + (size_t)k % 900 : 70000;
			p[k] = P_(mallocx)(s, MALLOCX_ARENA(i));
			ck_assert_ptr_nonnull(p[k]);
			memset(p[k], round + 1, s);
		}
		h = ph_heap_of(p[0]);
		if (have_stats())
			ck_assert_uint_gt(heap_allocated(h), N * 16);
		/* Some go back through this thread's cache first: the reset
		 * must not hand them out again from there. */
		for (int k = 0; k < N; k += 3)
			P_(free)(p[k]);
		ck_assert_int_eq(arena_do("reset", i), 0);
		ck_assert_uint_eq(heap_allocated(h), 0);
		ck_assert_int_eq(ph_heap_check(h), 0);
	}
	/* After a reset, every block is new and distinct. */
	for (int k = 0; k < N; k++) {
		p[k] = P_(mallocx)(64, MALLOCX_ARENA(i));
		ck_assert_ptr_nonnull(p[k]);
		memset(p[k], 0xab, 64);
		P_(free)(p[k]);   /* into the cache: malloc takes slot 0's */
		p[k] = P_(mallocx)(64, MALLOCX_ARENA(i));
		*(int *)p[k] = k;
	}
	for (int k = 0; k < N; k++)
		ck_assert_int_eq(*(int *)p[k], k);
	ck_assert_int_eq(arena_do("destroy", i), 0);
}
END_TEST

START_TEST(destroyed_arena_index_is_reused_cleanly)
{
	unsigned total = ctl_unsigned("arenas.narenas");
	unsigned i = arena_create();
	void *old = P_(mallocx)(48, MALLOCX_ARENA(i));
	ck_assert_ptr_nonnull(old);
	P_(free)(old);   /* sits in this thread's cache of arena i */
	ck_assert_int_eq(arena_do("destroy", i), 0);
	errno = 0;
	ck_assert_ptr_null(P_(mallocx)(48, MALLOCX_ARENA(i)));
	ck_assert_int_eq(errno, ENOMEM);
	/* The lowest free index again, on the same reservation: the old
	 * cache must not serve it. */
	unsigned j = arena_create();
	ck_assert_uint_eq(j, i);
	ck_assert_uint_eq(ctl_unsigned("arenas.narenas"), total > i ? total :
	    i + 1);
	enum { N = 500 };
	void *p[N];
	for (int k = 0; k < N; k++) {
		p[k] = P_(mallocx)(48, MALLOCX_ARENA(j));
		ck_assert_ptr_nonnull(p[k]);
		for (int m = 0; m < k; m++)
			ck_assert_ptr_ne(p[m], p[k]);
		P_(free)(p[k]);
		p[k] = P_(mallocx)(48, MALLOCX_ARENA(j));
		for (int m = 0; m < k; m++)
			ck_assert_ptr_ne(p[m], p[k]);
	}
	ph_heap_t *h = ph_heap_of(p[0]);
	ck_assert_uint_eq(heap_allocated(h), have_stats() ?
	    N * P_(nallocx)(48, 0) : 0);
	ck_assert_int_eq(ph_heap_check(h), 0);
	ck_assert_int_eq(arena_do("destroy", j), 0);
}
END_TEST

START_TEST(arenas_run_out_with_eagain)
{
	unsigned made[64], n = 0;
	int err = 0;
	while (n < 64) {
		size_t len = sizeof(made[n]);
		err = P_(mallctl)("arenas.create", &made[n], &len, NULL, 0);
		if (err != 0)
			break;
		void *p = P_(mallocx)(1000, MALLOCX_ARENA(made[n]));
		ck_assert_ptr_nonnull(p);
		n++;
	}
	ck_assert_int_eq(err, EAGAIN);
	ck_assert_uint_gt(n, 0);
	for (unsigned k = 0; k < n; k++)
		ck_assert_int_eq(arena_do("destroy", made[k]), 0);
	/* and every index comes back */
	for (unsigned k = 0; k < n; k++)
		ck_assert_uint_eq(arena_create(), made[k]);
	for (unsigned k = 0; k < n; k++)
		ck_assert_int_eq(arena_do("destroy", made[k]), 0);
}
END_TEST

START_TEST(free_of_a_destroyed_arenas_block_aborts)
{
	unsigned i = arena_create();
	void *p = P_(mallocx)(5000, MALLOCX_ARENA(i) | MALLOCX_TCACHE_NONE);
	ck_assert_ptr_nonnull(p);
	ck_assert_int_eq(arena_do("destroy", i), 0);
	P_(free)(p);   /* not in any heap any more */
}
END_TEST

/* Until a private heap is configured, malloc uses the process heap's
 * arenas, which may be created; a private heap has none. */
START_TEST(private_heap_has_no_created_arenas)
{
	unsigned i = arena_create();
	void *p = P_(mallocx)(100, MALLOCX_ARENA(i));
	ck_assert_ptr_nonnull(p);
	P_(free)(p);
	size_t size = 16 * MIB;
	void *start = mmap(NULL, size, PROT_READ | PROT_WRITE,
	    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ck_assert_ptr_ne(start, MAP_FAILED);
	ck_assert_int_eq(P_(config_private_heap)(start, size), 0);
	size_t len = sizeof(i);
	ck_assert_int_eq(P_(mallctl)("arenas.create", &i, &len, NULL, 0),
	    EPERM);
	ck_assert_int_eq(arena_do("reset", 0), EFAULT);
	ck_assert_uint_eq(ctl_unsigned("arenas.narenas"), 1);
}
END_TEST

/* ---- thread.allocated and thread.deallocated -------------------------------- */

static uint64_t *ctl_counter(const char *name)
{
	uint64_t *p = NULL;
	size_t len = sizeof(p);
	ck_assert_int_eq(P_(mallctl)(name, &p, &len, NULL, 0), 0);
	ck_assert_ptr_nonnull(p);
	return p;
}

struct counts { uint64_t a, d; };
static uint64_t *allocp, *deallocp;
static struct counts mark(void)
{
	return (struct counts){ *allocp, *deallocp };
}
/* What the calls since m added to the two counters. */
#define ASSERT_COUNTED(m, da, dd) do { \
	struct counts now_ = mark(); \
	ck_assert_uint_eq(now_.a - (m).a, (da)); \
	ck_assert_uint_eq(now_.d - (m).d, (dd)); \
} while (0)

START_TEST(thread_allocated_counts_usable_bytes)
{
	if (!have_stats()) {   /* no counters: ENOENT (phmalloc(3)) */
		uint64_t *q;
		size_t qlen = sizeof(q);
		ck_assert_int_eq(P_(mallctl)("thread.allocatedp", &q, &qlen,
		    NULL, 0), ENOENT);
		return;
	}
	allocp = ctl_counter("thread.allocatedp");
	deallocp = ctl_counter("thread.deallocatedp");
	uint64_t v;
	size_t len = sizeof(v);
	ck_assert_int_eq(P_(mallctl)("thread.allocated", &v, &len, NULL, 0), 0);
	ck_assert_uint_eq(v, *allocp);
	ck_assert_int_eq(P_(mallctl)("thread.deallocated", &v, &len, NULL, 0),
	    0);
	ck_assert_uint_eq(v, *deallocp);
	ck_assert_int_eq(P_(mallctl)("thread.allocated", NULL, NULL, &v,
	    sizeof(v)), EPERM);

	/* every size path: cached small, small past the cache, large,
	 * aligned, zeroed */
	static const size_t sizes[] = { 1, 16, 100, 1024, 14336, 14337,
	    100000, 3 << 20 };
	for (unsigned k = 0; k < sizeof(sizes) / sizeof(sizes[0]); k++) {
		for (int rep = 0; rep < 300; rep++) {
			struct counts m = mark();
			void *p = P_(malloc)(sizes[k]);
			size_t u = P_(malloc_usable_size)(p);
			ASSERT_COUNTED(m, u, 0);
			m = mark();
			P_(free)(p);
			ASSERT_COUNTED(m, 0, u);
		}
	}
	struct counts m = mark();
	void *p = P_(calloc)(10, 3000);
	size_t u = P_(malloc_usable_size)(p);
	ASSERT_COUNTED(m, u, 0);
	m = mark();
	void *q = P_(realloc)(p, 100000);
	size_t uq = P_(malloc_usable_size)(q);
	ASSERT_COUNTED(m, uq, u);
	m = mark();
	P_(free)(q);
	ASSERT_COUNTED(m, 0, uq);
	m = mark();
	ck_assert_int_eq(P_(posix_memalign)(&p, 4096, 5000), 0);
	u = P_(malloc_usable_size)(p);
	ASSERT_COUNTED(m, u, 0);
	m = mark();
	P_(free)(p);
	ASSERT_COUNTED(m, 0, u);
	m = mark();
	p = P_(mallocx)(777, MALLOCX_ZERO);
	u = P_(sallocx)(p, 0);
	ASSERT_COUNTED(m, u, 0);
	m = mark();
	q = P_(rallocx)(p, 5000, 0);
	uq = P_(sallocx)(q, 0);
	ASSERT_COUNTED(m, uq, u);
	m = mark();
	P_(sdallocx)(q, 5000, 0);
	ASSERT_COUNTED(m, 0, uq);
	m = mark();
	p = P_(mallocx)(40000, MALLOCX_TCACHE_NONE);
	u = P_(sallocx)(p, 0);
	size_t grown = P_(xallocx)(p, 80000, 0, 0);
	ASSERT_COUNTED(m, u + (grown != u ? grown : 0), grown != u ? u : 0);
	m = mark();
	P_(dallocx)(p, MALLOCX_TCACHE_NONE);
	ASSERT_COUNTED(m, 0, grown);
	/* Failed calls count nothing. */
	m = mark();
	ck_assert_ptr_null(P_(malloc)(SIZE_MAX / 2));
	ASSERT_COUNTED(m, 0, 0);
}
END_TEST

static void *counters_of_a_new_thread(void *arg)
{
	uint64_t **out = arg;
	out[0] = ctl_counter("thread.allocatedp");
	uint64_t before = *out[0];
	void *p = P_(malloc)(200);
	out[1] = (uint64_t *)(uintptr_t)(*out[0] - before);
	P_(free)(p);
	return NULL;
}

START_TEST(thread_allocated_is_per_thread)
{
	if (!have_stats())   /* no counters (thread_allocated_counts_...) */
		return;
	uint64_t *mine = ctl_counter("thread.allocatedp");
	uint64_t before = *mine;
	uint64_t *theirs[2];
	pthread_t t;
	ck_assert_int_eq(pthread_create(&t, NULL, counters_of_a_new_thread,
	    theirs), 0);
	ck_assert_int_eq(pthread_join(t, NULL), 0);
	ck_assert_ptr_ne(theirs[0], mine);
	ck_assert_uint_eq((uintptr_t)theirs[1], P_(nallocx)(200, 0));
	ck_assert_uint_eq(*mine, before);   /* the other thread's are not ours */
}
END_TEST

/* [jemalloc] arena.4096.purge (MALLCTL_ARENAS_ALL) and arena.<narenas>.purge
 * purge every arena; past that, no arena. */
static size_t stats_dirty(void)
{
	uint64_t epoch = 1;
	size_t len = sizeof(epoch);
	ck_assert_int_eq(P_(mallctl)("epoch", &epoch, &len, &epoch,
	    sizeof(epoch)), 0);
	size_t dirty;
	len = sizeof(dirty);
	ck_assert_int_eq(P_(mallctl)("stats.dirty", &dirty, &len, NULL, 0), 0);
	return dirty;
}

START_TEST(arena_purge_of_all_arenas)
{
	unsigned n = 0;
	size_t len = sizeof(n);
	ck_assert_int_eq(P_(mallctl)("arenas.narenas", &n, &len, NULL, 0), 0);
	const char *all[] = { "arena.4096.purge", NULL };
	char at_n[64], past[64];
	snprintf(at_n, sizeof(at_n), "arena.%u.purge", n);
	snprintf(past, sizeof(past), "arena.%u.purge", n + 1);
	all[1] = at_n;
	ssize_t decay;
	len = sizeof(decay);
	ck_assert_int_eq(P_(mallctl)("opt.decay_ms", &decay, &len, NULL, 0),
	    0);
	for (int k = 0; k < 2; k++) {
		for (unsigned a = 0; a < n && a < 4; a++)
			P_(dallocx)(P_(mallocx)(4 * MIB, MALLOCX_ARENA(a) |
			    MALLOCX_TCACHE_NONE), MALLOCX_TCACHE_NONE);
		if (decay != 0)
			ck_assert_uint_gt(stats_dirty(), 0);
		ck_assert_int_eq(P_(mallctl)(all[k], NULL, NULL, NULL, 0), 0);
		ck_assert_uint_eq(stats_dirty(), 0);
	}
	ck_assert_int_eq(P_(mallctl)(past, NULL, NULL, NULL, 0),
	    n + 1 == 4096 ? 0 : ENOENT);
}
END_TEST

START_TEST(allocx_overflow)
{
	ck_assert_ptr_null(P_(mallocx)(SIZE_MAX, 0));
	ck_assert_ptr_null(P_(mallocx)(SIZE_MAX / 2 + 1, MALLOCX_ZERO));
	ck_assert_ptr_null(P_(mallocx)(SIZE_MAX - 4095, MALLOCX_LG_ALIGN(12)));
	ck_assert_ptr_null(P_(mallocx)(1, MALLOCX_LG_ALIGN(62)));
	ck_assert_uint_eq(P_(nallocx)(SIZE_MAX, 0), 0);
	ck_assert_uint_eq(P_(nallocx)(SIZE_MAX / 2 + 1, 0), 0);
	ck_assert_uint_eq(P_(nallocx)(SIZE_MAX - 4095, MALLOCX_LG_ALIGN(12)),
	    0);
	unsigned char *p = P_(mallocx)(1000, 0);
	size_t u = P_(sallocx)(p, 0);
	pat_fill(p, 1000, 3);
	ck_assert_ptr_null(P_(rallocx)(p, SIZE_MAX, 0));
	ck_assert_ptr_null(P_(rallocx)(p, SIZE_MAX / 2 + 1, MALLOCX_ZERO));
	ck_assert_uint_eq(P_(xallocx)(p, SIZE_MAX / 2, 0, 0), u);
	ck_assert_uint_eq(P_(xallocx)(p, 1000, SIZE_MAX, 0), u);
	pat_assert(p, 1000, 3);
	ck_assert_uint_eq(P_(sallocx)(p, 0), u);
	P_(dallocx)(p, 0);
	std_heap_works();
}
END_TEST

/* ---- mallctl through the public names ---------------------------------- */

/* [jemalloc] mallctl, mallctlnametomib, mallctlbymib and
 * malloc_stats_print under the configured prefix: the version and prefix
 * match the header, and the bins mallctl lists are exactly the small
 * classes nallocx gives. */
START_TEST(mallctl_agrees_with_the_header_and_nallocx)
{
	const char *v = NULL;
	size_t len = sizeof(v);
	ck_assert_int_eq(P_(mallctl)("version", &v, &len, NULL, 0), 0);
	ck_assert_str_eq(v, PHMALLOC_VERSION);
	const char *pfx = NULL;
	len = sizeof(pfx);
	ck_assert_int_eq(P_(mallctl)("config.prefix", &pfx, &len, NULL, 0), 0);
	ck_assert_str_eq(pfx, PHMALLOC_PREFIX);
	size_t page = 0;
	len = sizeof(page);
	ck_assert_int_eq(P_(mallctl)("arenas.page", &page, &len, NULL, 0), 0);
	ck_assert_uint_eq(page, os_page());
	size_t x, xl = sizeof(x);
	ck_assert_int_eq(P_(mallctl)("no.such.name", &x, &xl, NULL, 0),
	    ENOENT);

	unsigned nbins = 0;
	len = sizeof(nbins);
	ck_assert_int_eq(P_(mallctl)("arenas.nbins", &nbins, &len, NULL, 0),
	    0);
	ck_assert_uint_gt(nbins, 0);
	size_t mib[8], miblen = 8;
	ck_assert_int_eq(P_(mallctlnametomib)("arenas.bin.0.size", mib,
	    &miblen), 0);
	size_t s = 1;
	for (unsigned b = 0; b < nbins; b++) {
		size_t bsz = 0;
		len = sizeof(bsz);
		mib[2] = b;
		ck_assert_int_eq(P_(mallctlbymib)(mib, miblen, &bsz, &len,
		    NULL, 0), 0);
		/* the next class nallocx reaches is this bin */
		ck_assert_msg(P_(nallocx)(s, 0) == bsz, "bin %u is %zu, "
		    "nallocx(%zu) = %zu", b, bsz, s, P_(nallocx)(s, 0));
		ck_assert_uint_eq(P_(nallocx)(bsz, 0), bsz);
		s = bsz + 1;
	}
	ck_assert_uint_eq(s - 1, SMALL_MAX_REQ);
	mib[2] = nbins;
	len = sizeof(x);
	ck_assert_int_eq(P_(mallctlbymib)(mib, miblen, &x, &len, NULL, 0),
	    ENOENT);
}
END_TEST

static void count_cb(void *opaque, const char *text)
{
	*(size_t *)opaque += strlen(text);
}

START_TEST(malloc_stats_print_writes_through_the_callback)
{
	void *p = P_(malloc)(1000);
	size_t n = 0;
	P_(malloc_stats_print)(count_cb, &n, NULL);
	ck_assert_uint_gt(n, 0);
	n = 0;
	P_(malloc_stats_print)(count_cb, &n, "J");
	ck_assert_uint_gt(n, 0);
	P_(free)(p);
}
END_TEST

/* The jemalloc private-heap fork documents that its configure line
 * (--with-jemalloc-prefix=je_ --enable-private-heap) names every call ph_:
 * a program written for it calls these names literally, and must build
 * and run unchanged in any build with --enable-private-heap. */
START_TEST(private_heap_builds_name_the_calls_ph)
{
#if PHMALLOC_PRIVATE_HEAP
	ck_assert_str_eq(PHMALLOC_PREFIX, "ph_");
	size_t size = 8 * MIB;
	void *m = mmap(NULL, size, PROT_READ | PROT_WRITE,
	    MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	ck_assert_ptr_ne(m, MAP_FAILED);
	ck_assert_int_eq(ph_config_private_heap(m, size), 0);
	char *p = ph_malloc(100);
	ck_assert_ptr_nonnull(p);
	ck_assert((char *)p >= (char *)m && (char *)p < (char *)m + size);
	strcpy(p, "in the private heap");
	p = ph_realloc(p, 5000);
	ck_assert_str_eq(p, "in the private heap");
	ph_free(p);
	ph_malloc_reset();
	ck_assert_ptr_nonnull(p = ph_calloc(10, 10));
	ph_free(p);
#endif
}
END_TEST

int main(void)
{
	Suite *s = suite_create("mallocx");

	TCase *tc = tcase_create("sizes");
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, nallocx_is_what_mallocx_gives);
	tcase_add_test(tc, small_classes_are_jemalloc_style);
	tcase_add_test(tc, alignment_flags);
	suite_add_tcase(s, tc);

	tc = tcase_create("zero");
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, mallocx_zero_zeroes_reused_blocks);
	tcase_add_test(tc, rallocx_zero_zeroes_the_new_tail);
	suite_add_tcase(s, tc);

	tc = tcase_create("xallocx");
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, xallocx_resizes_in_place_or_not_at_all);
	tcase_add_test(tc, xallocx_grows_a_large_block_in_place);
	suite_add_tcase(s, tc);

	tc = tcase_create("dallocx");
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, sdallocx_with_the_right_size);
	tcase_add_test(tc, tcache_none_mixes_with_cached_calls);
	tcase_add_test(tc, mallocx_arena_picks_the_arena);
	tcase_add_test(tc, allocx_overflow);
	suite_add_tcase(s, tc);

	tc = tcase_create("arenas");
	tcase_set_timeout(tc, 30);
	if (PHMALLOC_PRIVATE_HEAP) {
		tcase_add_test(tc, private_heap_has_no_created_arenas);
	} else {
		tcase_add_test(tc, arenas_create_makes_an_arena_of_its_own);
	tcase_add_test(tc, rallocx_moves_a_block_into_the_arena_named);
	tcase_add_test(tc, thread_arena_with_a_bad_read_size_stays);
	tcase_add_test(tc, xallocx_keeps_a_block_not_at_the_alignment_asked);
		tcase_add_test(tc, arena_reset_frees_everything_in_it);
		tcase_add_test(tc, destroyed_arena_index_is_reused_cleanly);
		tcase_add_test(tc, arenas_run_out_with_eagain);
		tcase_add_test_raise_signal(tc,
		    free_of_a_destroyed_arenas_block_aborts, SIGABRT);
	}
	tcase_add_test(tc, thread_allocated_counts_usable_bytes);
	tcase_add_test(tc, thread_allocated_is_per_thread);
	tcase_add_test(tc, arena_purge_of_all_arenas);
	suite_add_tcase(s, tc);

	tc = tcase_create("ctl");
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, mallctl_agrees_with_the_header_and_nallocx);
	tcase_add_test(tc, malloc_stats_print_writes_through_the_callback);
	if (PHMALLOC_PRIVATE_HEAP)
		tcase_add_test(tc, private_heap_builds_name_the_calls_ph);
	suite_add_tcase(s, tc);

	return run_suite(s);
}
