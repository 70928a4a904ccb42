/*
 * test_qmalloc.c -- Plan 9 / NIX malloc's calls (issue 6): mallocalign,
 * mallocz, msize, smalloc (and ph_heap_smalloc_timed), block tags, the tag
 * report and the summary, through <phmalloc.h> with the configured prefix.
 *
 * Markers: [brief] is the contract: mallocalign's block is at
 * offset modulo align and does not cross a span boundary, impossible
 * combinations are EINVAL, the block is a real one (free, usable_size);
 * mallocz zeroes only if asked; msize is the usable size; smalloc sleeps
 * (no CPU burnt) until another process frees; tags are kept per live block,
 * carried by realloc, dropped by free and reset; bad pointers abort.
 */
#include <pthread.h>
#include <stdarg.h>
#include <time.h>

#include "testutil.h"
#include "../asleep.h"

#define HEAP_SIZE  (64 * MIB)
#define FULL_SIZE  (4 * MIB)       /* a heap small enough to fill */
#define BIG_BLOCK  (256 * KIB)     /* what the full-heap tests wait for */
#define ALIGN_PAGE(x) (((x) + os_page() - 1) & ~(os_page() - 1))

static ph_heap_t *new_heap(size_t size, bool shared)
{
	void *m = map_range(size, shared);
	ph_heap_t *h = ph_heap_create(m, size, shared ? PH_HEAP_SHARED : 0);
	ck_assert_msg(h != NULL, "ph_heap_create: %s", strerror(errno));
	return h;
}

static uint64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void child_wait_ok(pid_t pid)
{
	int st;
	ck_assert_int_eq(waitpid(pid, &st, 0), pid);
	ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0,
	    "child status %#x", st);
}

/* ---- mallocalign ---------------------------------------------------------- */

/* Is there an address = offset mod align (align 0: any) whose n bytes do
 * not cross a span boundary?  Found by trying the starts within one span. */
static bool placement_exists(size_t n, size_t align, long offset, size_t span)
{
	if (span == 0)
		return true;
	if (n > span)
		return false;
	size_t a = align ? align : 1;
	uint64_t r = (uint64_t)offset % a;  /* two's complement: a | 2^64 */
	size_t tries = a >= span ? 1 : span / a;
	for (size_t k = 0; k < tries; k++) {
		uint64_t q = (r + k * a) % span;   /* start within its span */
		if (q + n <= span)
			return true;
	}
	return false;
}

static bool pow2_or_0(size_t x)
{
	return (x & (x - 1)) == 0;
}

/* p satisfies the request exactly: offset mod align, no span crossed. */
#define assert_placed(p, size, align, offset, span) do {                   \
	uintptr_t a_ = (uintptr_t)(p);                                      \
	size_t n_ = (size) ? (size) : 1;                                    \
	if (align)                                                          \
		ck_assert_msg(((a_ - (uintptr_t)(long)(offset)) &             \
		    ((align) - 1)) == 0, "%p is not %ld mod %zu", (void *)(p), \
		    (long)(offset), (size_t)(align));                         \
	if (span)                                                           \
		ck_assert_msg(a_ / (span) == (a_ + n_ - 1) / (span),        \
		    "%p+%zu crosses a %zu boundary", (void *)(p), n_,        \
		    (size_t)(span));                                          \
} while (0)

typedef void *(*align_fn)(void *ctx, size_t, size_t, long, size_t);

static void *align_std(void *ctx, size_t size, size_t align, long offset,
                       size_t span)
{
	return P_(mallocalign)(size, align, offset, span);
}

static void *align_heap(void *ctx, size_t size, size_t align, long offset,
                        size_t span)
{
	return ph_heap_mallocalign(ctx, size, align, offset, span);
}

static size_t pick_size(uint64_t *rng)
{
	switch (rng_below(rng, 8)) {
	case 0:  return rng_below(rng, 17);
	case 1:
	case 2:  return 1 + rng_below(rng, 256);
	case 3:
	case 4:  return 1 + rng_below(rng, 4096);
	case 5:  return 1 + rng_below(rng, 20000);
	case 6:  return 4096 * (1 + rng_below(rng, 8)) + rng_below(rng, 3);
	default: return 1 + rng_below(rng, 300 * KIB);
	}
}

static size_t pick_pow2(uint64_t *rng, unsigned maxlg)
{
	unsigned r = (unsigned)rng_below(rng, 16);
	if (r == 0)
		return 0;
	if (r == 1)
		return 3 + 2 * rng_below(rng, 1000);   /* not a power of two */
	return (size_t)1 << rng_below(rng, maxlg + 1);
}

/* Many random requests, each checked exactly; blocks stay live a while so
 * that overlaps show in their patterns; every block is freed. */
static void align_random(align_fn fn, void *ctx, uint64_t seed)
{
	enum { LIVE = 48, ROUNDS = 4000 };
	struct { void *p; size_t n; uint64_t seed; } live[LIVE] = { { 0 } };
	uint64_t rng = seed;
	unsigned made = 0, refused = 0, with_offset = 0;
	for (unsigned i = 0; i < ROUNDS; i++) {
		size_t size = pick_size(&rng);
		size_t align = pick_pow2(&rng, 17);
		size_t span = pick_pow2(&rng, 20);
		long offset = align && align < (1u << 30) ?
		    (long)rng_below(&rng, 6 * align + 1) - 3 * (long)align :
		    (long)rng_below(&rng, 100);
		bool valid = pow2_or_0(align) && pow2_or_0(span) &&
		    placement_exists(size ? size : 1, align, offset, span);
		errno = 0;
		void *p = fn(ctx, size, align, offset, span);
		if (!valid) {
			ck_assert_msg(p == NULL && errno == EINVAL, "size %zu "
			    "align %zu offset %ld span %zu: %p errno %d, "
			    "expected EINVAL", size, align, offset, span, p,
			    errno);
			refused++;
			continue;
		}
		ck_assert_msg(p != NULL, "size %zu align %zu offset %ld span "
		    "%zu: NULL (%s)", size, align, offset, span,
		    strerror(errno));
		assert_placed(p, size, align, offset, span);
		ck_assert_uint_ge(P_(malloc_usable_size)(p), size);
		if (align && ((uintptr_t)offset & (align - 1) & 15) != 0)
			with_offset++;
		unsigned k = (unsigned)rng_below(&rng, LIVE);
		if (live[k].p != NULL) {
			pat_assert(live[k].p, live[k].n, live[k].seed);
			P_(free)(live[k].p);
		}
		live[k].p = p;
		live[k].n = size;
		live[k].seed = i;
		pat_fill(p, size, i);
		made++;
	}
	for (unsigned k = 0; k < LIVE; k++)
		if (live[k].p != NULL) {
			pat_assert(live[k].p, live[k].n, live[k].seed);
			P_(free)(live[k].p);
		}
	/* The mix must have exercised every kind of answer. */
	ck_assert_uint_gt(made, ROUNDS / 3);
	ck_assert_uint_gt(refused, ROUNDS / 20);
	ck_assert_uint_gt(with_offset, ROUNDS / 20);
}

START_TEST(mallocalign_random_std)
{
	align_random(align_std, NULL, 0x1234567 + (uint64_t)_i);
	std_heap_works();
}
END_TEST

START_TEST(mallocalign_random_heap)
{
	ph_heap_t *h = new_heap(HEAP_SIZE, false);
	align_random(align_heap, h, 0x7654321 + (uint64_t)_i);
	ck_assert_int_eq(ph_heap_check(h), 0);
	struct ph_heap_stats st;
	ck_assert_int_eq(ph_heap_stats(h, &st), 0);
	ck_assert_uint_eq(st.allocated, 0);   /* every block came back */
}
END_TEST

START_TEST(mallocalign_bad_input)
{
	assert_null_errno(P_(mallocalign)(16, 3, 0, 0), EINVAL);
	assert_null_errno(P_(mallocalign)(16, 24, 0, 0), EINVAL);
	assert_null_errno(P_(mallocalign)(16, 0, 0, 48), EINVAL);
	assert_null_errno(P_(mallocalign)(65, 0, 0, 64), EINVAL);
	assert_null_errno(P_(mallocalign)(4097, 4096, 0, 4096), EINVAL);
	/* offset 60 mod 64 leaves 4 bytes before the 64-byte boundary */
	assert_null_errno(P_(mallocalign)(8, 64, 60, 64), EINVAL);
	assert_null_errno(P_(mallocalign)(8, 64, -4, 64), EINVAL);
	/* span divides align: the start is 250 into its span, always */
	assert_null_errno(P_(mallocalign)(8, 4096, 250, 256), EINVAL);
	/* span above align: offset 10 mod 16 fits a 256 span ... */
	void *p = P_(mallocalign)(8, 16, 250, 256);
	ck_assert_ptr_nonnull(p);
	assert_placed(p, 8, 16, 250, 256);
	P_(free)(p);
	/* ... but not when size leaves no room after it */
	assert_null_errno(P_(mallocalign)(250, 16, 10, 256), EINVAL);
	assert_null_errno(P_(mallocalign)(SIZE_MAX, 0, 0, 0), ENOMEM);
	assert_null_errno(P_(mallocalign)(SIZE_MAX - 4096, 64, 8, 0), ENOMEM);
	ph_heap_t *h = new_heap(FULL_SIZE, false);
	assert_null_errno(ph_heap_mallocalign(h, 16, 12, 0, 0), EINVAL);
	assert_null_errno(ph_heap_mallocalign(h, 2 * FULL_SIZE, 0, 0, 0),
	    ENOMEM);
	assert_null_errno(ph_heap_mallocalign(h, 100, 64 * MIB, 8, 0), ENOMEM);
	ck_assert_int_eq(ph_heap_check(h), 0);
	std_heap_works();
}
END_TEST

/* An offset block (no ordinary block starts at 8 mod 64) is a real block:
 * usable size, msize, realloc both ways, free, the heap checks clean. */
START_TEST(mallocalign_offset_block_is_real)
{
	ph_heap_t *h = new_heap(HEAP_SIZE, false);
	char *p = ph_heap_mallocalign(h, 100, 64, 8, 0);
	ck_assert_ptr_nonnull(p);
	ck_assert_uint_eq((uintptr_t)p % 64, 8);
	size_t u = ph_heap_usable_size(h, p);
	ck_assert_uint_ge(u, 100);
	ck_assert_uint_lt(u, 100 + 2 * os_page());   /* the waste bound */
	ck_assert_uint_eq(P_(msize)(p), u);
	pat_fill(p, u, 5);
	ck_assert_int_eq(ph_heap_check(h), 0);
	char *q = ph_heap_realloc(h, p, 30000);
	ck_assert_ptr_nonnull(q);
	pat_assert(q, u, 5);
	char *r = ph_heap_mallocalign(h, 5000, 1 << 20, -24, 0);
	ck_assert_ptr_nonnull(r);
	ck_assert_uint_eq(((uintptr_t)r + 24) % (1 << 20), 0);
	pat_fill(r, 5000, 6);
	char *s = P_(realloc)(r, 40);
	ck_assert_ptr_nonnull(s);
	pat_assert(s, 40, 6);
	ph_heap_free(h, q);
	P_(free)(s);
	ck_assert_int_eq(ph_heap_check(h), 0);
	struct ph_heap_stats st;
	ck_assert_int_eq(ph_heap_stats(h, &st), 0);
	ck_assert_uint_eq(st.allocated, 0);
}
END_TEST

START_TEST(mallocalign_offset_block_double_free)
{
	void *p = P_(mallocalign)(100, 64, 8, 0);
	P_(free)(p);
	P_(free)(p);
}
END_TEST

START_TEST(mallocalign_offset_block_interior_free)
{
	char *p = P_(mallocalign)(100, 64, 8, 0);
	P_(free)(p - 8);   /* the run's page start is not the block */
}
END_TEST

/* ---- mallocz and msize ------------------------------------------------------ */

START_TEST(mallocz_both_ways)
{
	enum { N = 200 };
	unsigned char *p = P_(malloc)(N);
	memset(p, 0xab, N);
	P_(free)(p);
	unsigned char *q = P_(mallocz)(N, 0);
	ck_assert_ptr_eq(q, p);   /* the same block comes back */
	for (size_t i = 16; i < N; i++)   /* words 0-1 may hold free links */
		ck_assert_msg(q[i] == 0xab, "byte %zu cleared without clr", i);
	memset(q, 0xcd, N);
	P_(free)(q);
	unsigned char *z = P_(mallocz)(N, 1);
	ck_assert_ptr_eq(z, p);
	assert_zero(z, N);
	P_(free)(z);
	/* large, dirty before */
	unsigned char *l = P_(malloc)(MIB);
	memset(l, 0xee, MIB);
	P_(free)(l);
	unsigned char *lz = P_(mallocz)(MIB, 1);
	ck_assert_ptr_nonnull(lz);
	assert_zero(lz, MIB);
	P_(free)(lz);
	void *zero = P_(mallocz)(0, 1);
	ck_assert_ptr_nonnull(zero);
	P_(free)(zero);
	assert_null_errno(P_(mallocz)(SIZE_MAX, 1), ENOMEM);
	assert_null_errno(P_(mallocz)(SIZE_MAX, 0), ENOMEM);
}
END_TEST

START_TEST(msize_is_all_of_the_block)
{
	static const size_t sizes[] = { 1, 17, 100, 1000, 14000, 14337, 20000,
	    MIB + 1 };
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		char *p = P_(malloc)(sizes[i]);
		char *next = P_(malloc)(sizes[i]);
		pat_fill(next, sizes[i], 77);
		size_t m = P_(msize)(p);
		ck_assert_uint_ge(m, sizes[i]);
		ck_assert_uint_eq(m, P_(malloc_usable_size)(p));
		if (sizes[i] > SMALL_MAX_REQ)
			ck_assert_uint_eq(m, ALIGN_PAGE(sizes[i]));
		pat_fill(p, m, 78);   /* every byte of it is ours */
		pat_assert(next, sizes[i], 77);
		pat_assert(p, m, 78);
		ck_assert_uint_eq(P_(msize)(p), m);   /* no further growth */
		P_(free)(p);
		P_(free)(next);
	}
	ck_assert_uint_eq(P_(msize)(NULL), 0);
}
END_TEST

START_TEST(msize_of_stack_pointer)
{
	char buf[64];
	P_(msize)(buf);
}
END_TEST

START_TEST(msize_of_interior_pointer)
{
	char *p = P_(malloc)(100);
	P_(msize)(p + 16);
}
END_TEST

START_TEST(msize_of_freed_large)
{
	void *p = P_(malloc)(MIB);
	P_(free)(p);
	P_(msize)(p);
}
END_TEST

START_TEST(msize_of_freed_small)
{
	void *p = P_(malloc)(48);
	P_(free)(p);
	P_(msize)(p);
}
END_TEST

/* ---- smalloc ----------------------------------------------------------------- */

struct full {
	ph_heap_t *h;
	void *blocks[64];   /* BIG_BLOCK each, while they fit */
	unsigned n;
};

/* Fills h with big blocks, then with smaller ones until nothing fits. */
static void fill_heap(struct full *f)
{
	f->n = 0;
	while (f->n < 64 && (f->blocks[f->n] = ph_heap_malloc(f->h,
	    BIG_BLOCK)) != NULL)
		f->n++;
	ck_assert_uint_gt(f->n, 2);
	ck_assert_ptr_null(ph_heap_malloc(f->h, BIG_BLOCK));
	while (ph_heap_malloc(f->h, 16 * KIB) != NULL)
		;
}

/* Forks a child that frees block b of f once this process sleeps. */
static pid_t free_later(struct full *f, unsigned b)
{
	pid_t waiter = getpid();
	fflush(NULL);
	pid_t pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		wait_until_asleep(waiter, waiter);
		ph_heap_free(f->h, f->blocks[b]);
		_exit(0);
	}
	return pid;
}

/* [brief] smalloc sleeps until another process frees.  Nothing here
 * depends on time: the child frees once it sees the waiter asleep. */
START_TEST(smalloc_wakes_when_another_process_frees)
{
	struct full f = { .h = new_heap(FULL_SIZE, true) };
	fill_heap(&f);
	pid_t pid = free_later(&f, 1);
	void *p = ph_heap_smalloc(f.h, BIG_BLOCK);
	ck_assert_ptr_nonnull(p);
	ck_assert_ptr_eq(p, f.blocks[1]);   /* the only place it fits */
	child_wait_ok(pid);
	pat_fill(p, BIG_BLOCK, 9);
	ck_assert_int_eq(ph_heap_check(f.h), 0);
}
END_TEST

/* Small blocks freed in another process go to its thread cache; they
 * reach the heap, and wake us, when that cache is flushed (detach). */
START_TEST(smalloc_wakes_on_a_cache_flush)
{
	ph_heap_t *h = new_heap(FULL_SIZE, true);
	enum { MAXB = 8192 };
	static void *b[MAXB];
	unsigned n = 0;
	while (n < MAXB && (b[n] = ph_heap_malloc(h, 1000)) != NULL)
		n++;
	ck_assert_uint_lt(n, MAXB);
	while (ph_heap_malloc(h, 16) != NULL)
		;
	ck_assert_ptr_null(ph_heap_malloc(h, 64 * KIB));
	pid_t waiter = getpid();
	fflush(NULL);
	pid_t pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		wait_until_asleep(waiter, waiter);
		for (unsigned i = 0; i < n / 2; i++)
			ph_heap_free(h, b[i]);
		ph_heap_detach(h);   /* flushes this process's caches */
		_exit(0);
	}
	void *p = ph_heap_smalloc(h, 64 * KIB);
	ck_assert_ptr_nonnull(p);
	child_wait_ok(pid);
	ck_assert_int_eq(ph_heap_check(h), 0);
}
END_TEST

/* Round after round, a sleeper is woken by the other process's free and
 * gets the block.  _i 0: a page run is freed; 1: a small block goes back
 * to a slab that stays in use.  How soon it wakes is a figure, not a
 * check: `make stress` prints it (test/shared/wake_latency.c). */
START_TEST(smalloc_wakes_round_after_round)
{
	enum { ROUNDS = 10, SMALL = 64 };
	struct full f = { .h = new_heap(FULL_SIZE, true) };
	size_t want = _i == 0 ? BIG_BLOCK : SMALL;
	void *b;
	if (_i == 0) {
		fill_heap(&f);
		b = f.blocks[0];
	} else {
		b = ph_heap_malloc(f.h, SMALL);
		while (ph_heap_malloc(f.h, SMALL) != NULL)
			;
	}
	pid_t waiter = getpid();
	for (int i = 0; i < ROUNDS; i++) {
		fflush(NULL);
		pid_t pid = fork();
		ck_assert_int_ge(pid, 0);
		if (pid == 0) {
			wait_until_asleep(waiter, waiter);
			ph_heap_free(f.h, b);
			ph_heap_detach(f.h);   /* in case it went to a cache */
			_exit(0);
		}
		void *p = ph_heap_smalloc(f.h, want);
		ck_assert_msg(p == b, "round %d: got %p, not the freed %p", i,
		    p, b);
		child_wait_ok(pid);
	}
	ck_assert_int_eq(ph_heap_check(f.h), 0);
}
END_TEST

START_TEST(smalloc_timed_out)
{
	struct full f = { .h = new_heap(FULL_SIZE, true) };
	fill_heap(&f);
	/* It does not give up early: a lower bound, true on any machine. */
	uint64_t t0 = now_ms();
	assert_null_errno(ph_heap_smalloc_timed(f.h, BIG_BLOCK, 300),
	    ETIMEDOUT);
	ck_assert_uint_ge(now_ms() - t0, 290);
	assert_null_errno(ph_heap_smalloc_timed(f.h, BIG_BLOCK, 0), ETIMEDOUT);
	assert_null_errno(ph_heap_smalloc_timed(f.h, BIG_BLOCK, -5), ETIMEDOUT);
	/* room again: the timed call succeeds at once */
	ph_heap_free(f.h, f.blocks[0]);
	void *p = ph_heap_smalloc_timed(f.h, BIG_BLOCK, 0);
	ck_assert_ptr_eq(p, f.blocks[0]);
	/* a timed wait that another process ends (an hour: never the
	 * timeout; a wait that missed the free hangs, and Check says so) */
	pid_t pid = free_later(&f, 2);
	p = ph_heap_smalloc_timed(f.h, BIG_BLOCK, 3600L * 1000);
	ck_assert_ptr_eq(p, f.blocks[2]);
	child_wait_ok(pid);
}
END_TEST

/* Requests that can never fit fail at once with ENOMEM (one that waited
 * would wait for ever, and the test's timeout would name it). */
START_TEST(smalloc_bad_sizes)
{
	ph_heap_t *h = new_heap(FULL_SIZE, true);
	assert_null_errno(ph_heap_smalloc(h, FULL_SIZE), ENOMEM);
	assert_null_errno(ph_heap_smalloc(h, SIZE_MAX), ENOMEM);
	assert_null_errno(P_(smalloc)(SIZE_MAX), ENOMEM);
	void *p = ph_heap_smalloc(h, 0);
	ck_assert_ptr_nonnull(p);
	ph_heap_free(h, p);
	p = P_(smalloc)(100);
	ck_assert_ptr_nonnull(p);
	P_(free)(p);
}
END_TEST

/* A waiter killed in its sleep wedges nothing: frees work, the next
 * smalloc is served, and a later waiter is woken as usual. */
START_TEST(smalloc_killed_waiter_wedges_nothing)
{
	struct full f = { .h = new_heap(FULL_SIZE, true) };
	fill_heap(&f);
	fflush(NULL);
	pid_t w = fork();
	ck_assert_int_ge(w, 0);
	if (w == 0) {
		ph_heap_smalloc(f.h, BIG_BLOCK);
		_exit(3);   /* must not get here: killed first */
	}
	wait_until_asleep(w, w);   /* killed in its sleep */
	ck_assert_int_eq(kill(w, SIGKILL), 0);
	int st;
	ck_assert_int_eq(waitpid(w, &st, 0), w);
	ck_assert(WIFSIGNALED(st));
	ph_heap_free(f.h, f.blocks[0]);
	void *p = ph_heap_smalloc(f.h, BIG_BLOCK);
	ck_assert_ptr_eq(p, f.blocks[0]);
	pid_t pid = free_later(&f, 3);
	p = ph_heap_smalloc(f.h, BIG_BLOCK);
	ck_assert_ptr_eq(p, f.blocks[3]);
	child_wait_ok(pid);
	ck_assert_int_eq(ph_heap_check(f.h), 0);
}
END_TEST

/* P smalloc waits on the default heap: a private heap here, shared with
 * a child that frees.  Nothing but P_ calls while the heap is full. */
START_TEST(smalloc_standard_on_private_heap)
{
	void *m = map_range(FULL_SIZE, true);
	ck_assert_int_eq(P_(config_private_heap)(m, FULL_SIZE), 0);
	void *b[64];
	unsigned n = 0;
	while (n < 64 && (b[n] = P_(malloc)(BIG_BLOCK)) != NULL)
		n++;
	ck_assert_uint_gt(n, 2);
	while (P_(malloc)(16 * KIB) != NULL)
		;
	pid_t waiter = getpid();
	fflush(NULL);
	pid_t pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		wait_until_asleep(waiter, waiter);
		P_(free)(b[1]);
		_exit(0);
	}
	void *p = P_(smalloc)(BIG_BLOCK);
	/* Room for Check first: in a drop-in build it allocates here too. */
	P_(free)(b[0]);
	P_(free)(b[2]);
	ck_assert_ptr_eq(p, b[1]);
	child_wait_ok(pid);
}
END_TEST

/* P smalloc on the process heap (a private mapping, so the freeing is done
 * by another thread): run in a fresh process whose process heap is made
 * small with PHMALLOC_CONF, so that it can be filled.  The scenario uses no
 * stdio or Check once the heap is full (in a drop-in build they allocate
 * from it); it exits with the number of the check that failed. */
#define SCENARIO_ARG   "--smalloc-on-the-process-heap"
#define SCENARIO_CONF  "reserve:67108864"

struct freer {
	int fd;        /* read end: a byte means "go" */
	pid_t waiter;  /* the main thread, which smalloc puts to sleep */
	void *block;   /* what to free, once it sleeps */
};

static void *freer_main(void *arg)
{
	struct freer *f = arg;
	char c;
	if (read(f->fd, &c, 1) != 1)
		return NULL;
	wait_until_asleep(getpid(), f->waiter);
	P_(free)(f->block);
	return NULL;
}

static int scenario_process_heap(void)
{
	static void *b[1024];
	int fds[2];
	if (pipe(fds) != 0)
		return 1;
	struct freer f = { .fd = fds[0], .waiter = getpid() };
	pthread_t th;
	if (pthread_create(&th, NULL, freer_main, &f) != 0)
		return 2;
	unsigned n = 0;
	while (n < 1024 && (b[n] = P_(malloc)(BIG_BLOCK)) != NULL)
		n++;
	if (n < 4 || n == 1024)
		return 3;   /* not a small process heap */
	while (P_(malloc)(16 * KIB) != NULL)
		;
	f.block = b[1];
	if (write(fds[1], "x", 1) != 1)
		return 4;
	void *p = P_(smalloc)(BIG_BLOCK);
	pthread_join(th, NULL);
	if (p != b[1])
		return 5;
	return 0;
}

START_TEST(smalloc_on_the_process_heap)
{
	fflush(NULL);
	pid_t pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		setenv("PHMALLOC_CONF", SCENARIO_CONF, 1);
		execl("/proc/self/exe", "test_qmalloc", SCENARIO_ARG, (char *)NULL);
		_exit(127);
	}
	int st;
	ck_assert_int_eq(waitpid(pid, &st, 0), pid);
	ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "the scenario "
	    "failed at check %d (status %#x)", WIFEXITED(st) ?
	    WEXITSTATUS(st) : -1, st);
}
END_TEST

/* ---- tags ------------------------------------------------------------------------ */

START_TEST(tags_kept_per_block)
{
	enum { N = 5000 };
	static void *b[N];
	ck_assert_uint_eq(P_(getmalloctag)(NULL), 0);
	ck_assert_uint_eq(P_(getrealloctag)(NULL), 0);
	P_(setmalloctag)(NULL, 5);   /* nothing to tag: ignored */
	for (unsigned i = 0; i < N; i++) {
		b[i] = P_(malloc)(i % 3 == 0 ? 24 : i % 3 == 1 ? 3000 : 20000);
		ck_assert_uint_eq(P_(getmalloctag)(b[i]), 0);
		P_(setmalloctag)(b[i], 0x1000 + i);
		if (i % 2)
			P_(setrealloctag)(b[i], 0x900000 + i);
	}
	for (unsigned i = 0; i < N; i++) {
		ck_assert_uint_eq(P_(getmalloctag)(b[i]), 0x1000 + i);
		ck_assert_uint_eq(P_(getrealloctag)(b[i]),
		    i % 2 ? 0x900000 + i : 0);
	}
	for (unsigned i = 0; i < N; i += 2)
		P_(free)(b[i]);
	for (unsigned i = 1; i < N; i += 2) {
		ck_assert_uint_eq(P_(getmalloctag)(b[i]), 0x1000 + i);
		P_(setmalloctag)(b[i], 0);   /* untagging keeps the other */
		ck_assert_uint_eq(P_(getmalloctag)(b[i]), 0);
		ck_assert_uint_eq(P_(getrealloctag)(b[i]), 0x900000 + i);
		P_(free)(b[i]);
	}
	ph_heap_t *h = ph_heap_default();
	ck_assert_int_eq(ph_heap_check(h), 0);
}
END_TEST

START_TEST(tags_follow_realloc)
{
	static const size_t steps[] = { 40, 200, 2000, 20000, 200000, 300000,
	    64, 10 };
	char *p = P_(malloc)(16);
	P_(setmalloctag)(p, 0xabc);
	P_(setrealloctag)(p, 0xdef);
	pat_fill(p, 16, 1);
	size_t have = 16;
	for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
		char *q = P_(realloc)(p, steps[i]);
		ck_assert_ptr_nonnull(q);
		pat_assert(q, have < steps[i] ? have : steps[i], 1);
		ck_assert_uint_eq(P_(getmalloctag)(q), 0xabc);
		ck_assert_uint_eq(P_(getrealloctag)(q), 0xdef);
		have = steps[i];
		pat_fill(q, have, 1);
		p = q;
	}
	/* The block realloc moved away from carries no tag into its next
	 * life: allocate until it comes back. */
	char *old = P_(malloc)(100);
	P_(setmalloctag)(old, 0x77);
	char *moved = P_(realloc)(old, 5000);
	ck_assert_ptr_ne(moved, old);
	bool seen = false;
	static void *keep[20000];
	unsigned k = 0;
	for (; k < 20000 && !seen; k++) {
		keep[k] = P_(malloc)(100);
		ck_assert_uint_eq(P_(getmalloctag)(keep[k]), 0);
		seen = keep[k] == old;
	}
	ck_assert_msg(seen, "the freed block never came back");
	while (k > 0)
		P_(free)(keep[--k]);
	P_(free)(moved);
	P_(free)(p);
}
END_TEST

/* A freed block's tag is gone: blocks of a tagged heap come back from the
 * thread cache and the slabs untagged. */
START_TEST(tags_dropped_at_free)
{
	ph_heap_t *h = new_heap(HEAP_SIZE, false);
	static const size_t sizes[] = { 32, 1000, 14336, 100000 };
	for (size_t s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++) {
		void *p = ph_heap_malloc(h, sizes[s]);
		ph_heap_free(h, ph_heap_malloc(h, sizes[s]));   /* cached */
		P_(setmalloctag)(p, 0x51);
		P_(setrealloctag)(p, 0x52);
		ph_heap_free(h, p);
		bool seen = false;
		static void *keep[20000];
		unsigned k = 0;
		for (; k < 20000 && !seen; k++) {
			keep[k] = ph_heap_malloc(h, sizes[s]);
			ck_assert_ptr_nonnull(keep[k]);
			ck_assert_uint_eq(P_(getmalloctag)(keep[k]), 0);
			ck_assert_uint_eq(P_(getrealloctag)(keep[k]), 0);
			seen = keep[k] == p;
		}
		ck_assert_msg(seen, "size %zu: the freed block never came back",
		    sizes[s]);
		while (k > 0)
			ph_heap_free(h, keep[--k]);
	}
	ck_assert_int_eq(ph_heap_check(h), 0);
}
END_TEST

struct lines {
	char text[8192];
	size_t len;
	unsigned calls;
};

static void collect(void *opaque, const char *s)
{
	struct lines *l = opaque;
	size_t n = strlen(s);
	ck_assert_uint_lt(l->len + n, sizeof(l->text));
	memcpy(l->text + l->len, s, n + 1);
	l->len += n;
	l->calls++;
}

START_TEST(tags_dropped_at_reset)
{
	ph_heap_t *h = new_heap(HEAP_SIZE, false);
	void *a = ph_heap_malloc(h, 64), *b = ph_heap_malloc(h, 50000);
	P_(setmalloctag)(a, 1);
	P_(setmalloctag)(b, 2);
	ph_heap_reset(h);
	void *a2 = ph_heap_malloc(h, 64), *b2 = ph_heap_malloc(h, 50000);
	ck_assert_uint_eq(P_(getmalloctag)(a2), 0);
	ck_assert_uint_eq(P_(getmalloctag)(b2), 0);
	ck_assert_uint_eq(P_(getrealloctag)(b2), 0);
	/* the heap is back to untagged: the report has nothing */
	struct lines l = { .len = 0 };
	ph_heap_tag_report(h, collect, &l);
	ck_assert_msg(strstr(l.text, ": 0 blocks, 0 bytes in 0 tags\n") != NULL,
	    "report:\n%s", l.text);
	ck_assert_int_eq(ph_heap_check(h), 0);
	/* the private-heap pair: malloc_reset drops them too */
	void *m = map_range(HEAP_SIZE, false);
	ck_assert_int_eq(P_(config_private_heap)(m, HEAP_SIZE), 0);
	void *c = P_(malloc)(300);
	P_(setmalloctag)(c, 3);
	P_(malloc_reset)();
	void *c2 = P_(malloc)(300);
	ck_assert_uint_eq(P_(getmalloctag)(c2), 0);
}
END_TEST

/* Tags live in the heap: a process sees the tags another one set, and a
 * free in one drops the tag for all. */
START_TEST(tags_shared_between_processes)
{
	ph_heap_t *h = new_heap(HEAP_SIZE, true);
	void *a = ph_heap_malloc(h, 200), *b = ph_heap_malloc(h, 90000);
	fflush(NULL);
	pid_t pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		P_(setmalloctag)(a, 0xaa);
		P_(setrealloctag)(b, 0xbb);
		_exit(0);
	}
	child_wait_ok(pid);
	ck_assert_uint_eq(P_(getmalloctag)(a), 0xaa);
	ck_assert_uint_eq(P_(getrealloctag)(b), 0xbb);
	ck_assert_uint_eq(P_(getmalloctag)(b), 0);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		ph_heap_free(h, a);
		ph_heap_detach(h);
		_exit(0);
	}
	child_wait_ok(pid);
	struct lines l = { .len = 0 };
	ph_heap_tag_report(h, collect, &l);
	ck_assert_msg(strstr(l.text, ": 1 blocks, 90112 bytes in 1 tags\n"
	    "tag 0: 1 blocks, 90112 bytes\n") != NULL, "report:\n%s", l.text);
	ck_assert_int_eq(ph_heap_check(h), 0);
}
END_TEST

START_TEST(tag_report_groups_largest_first)
{
	ph_heap_t *h = new_heap(HEAP_SIZE, false);
	size_t a_bytes = 0, c_bytes = 0;
	for (int i = 0; i < 3; i++) {
		void *p = ph_heap_malloc(h, 100);
		P_(setmalloctag)(p, 0xa);
		a_bytes += ph_heap_usable_size(h, p);
	}
	void *big = ph_heap_malloc(h, MIB);
	P_(setmalloctag)(big, 0xb);
	P_(setrealloctag)(big, 0xf00);   /* grouped by the malloc tag */
	for (int i = 0; i < 2; i++) {
		void *p = ph_heap_malloc(h, 5000);
		P_(setmalloctag)(p, 0xc);
		c_bytes += ph_heap_usable_size(h, p);
	}
	void *gone = ph_heap_malloc(h, 7000);
	P_(setmalloctag)(gone, 0xd);
	ph_heap_free(h, gone);
	void *untagged = ph_heap_malloc(h, 64 * KIB);
	ck_assert_ptr_nonnull(untagged);

	struct lines l = { .len = 0 };
	ph_heap_tag_report(h, collect, &l);
	char want[1024];
	snprintf(want, sizeof(want), ": 6 blocks, %zu bytes in 3 tags\n"
	    "tag 0xb: 1 blocks, %zu bytes\n"
	    "tag 0xc: 2 blocks, %zu bytes\n"
	    "tag 0xa: 3 blocks, %zu bytes\n", MIB + a_bytes + c_bytes, MIB,
	    c_bytes, a_bytes);
	ck_assert_msg(strstr(l.text, want) != NULL, "report:\n%s\nwanted:\n%s",
	    l.text, want);
	ck_assert_msg(strstr(l.text, "0xd") == NULL, "a freed block's tag "
	    "is reported:\n%s", l.text);
	ck_assert_msg(strstr(l.text, have_stats() ? "untagged: 65536 bytes" :
	    "untagged: not counted") != NULL, "report:\n%s", l.text);
	ck_assert_uint_eq(l.calls, 5);   /* one call per line */
}
END_TEST

static void report_std(void *unused)
{
	void *p = P_(malloc)(3000);
	P_(setmalloctag)(p, 0x4242);
	P_(malloctagreport)(NULL, NULL);   /* to stderr */
}

START_TEST(tag_report_standard_to_stderr)
{
	char out[4096];
	int st = run_child_capture(report_std, NULL, out, sizeof(out));
	ck_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	ck_assert_msg(strstr(out, "tag 0x4242: 1 blocks, 3072 bytes\n") != NULL,
	    "stderr:\n%s", out);
	struct lines l = { .len = 0 };
	void *p = P_(malloc)(100);
	P_(setmalloctag)(p, 0x99);
	P_(malloctagreport)(collect, &l);
	ck_assert_msg(strstr(l.text, "tag 0x99: 1 blocks, 112 bytes\n") !=
	    NULL, "report:\n%s", l.text);
}
END_TEST

/* Threads allocate from their own arenas (thread.arena puts them there);
 * the report must still find the tags of every one of them, and the
 * summary count them all. */
static void *tag_in_thread(void *arg)
{
	unsigned n = 1, i = (unsigned)((uintptr_t)arg - 0x7100);
	size_t len = sizeof(n);
	if (P_(mallctl)("arenas.narenas", &n, &len, NULL, 0) == 0) {
		i %= n;
		P_(mallctl)("thread.arena", NULL, NULL, &i, sizeof(i));
	}
	void *p = P_(malloc)(200);
	P_(setmalloctag)(p, (uintptr_t)arg);
	return p;
}

START_TEST(tag_report_covers_every_arena)
{
	enum { NT = 6 };
	pthread_t t[NT];
	void *p[NT];
	for (uintptr_t i = 0; i < NT; i++)
		ck_assert_int_eq(pthread_create(&t[i], NULL, tag_in_thread,
		    (void *)(0x7100 + i)), 0);
	for (int i = 0; i < NT; i++)
		pthread_join(t[i], &p[i]);
	struct lines l = { .len = 0 };
	P_(malloctagreport)(collect, &l);
	for (uintptr_t i = 0; i < NT; i++) {
		char want[64];
		snprintf(want, sizeof(want), "tag %#lx: 1 blocks, %zu bytes\n",
		    (unsigned long)(0x7100 + i), P_(malloc_usable_size)(p[i]));
		ck_assert_msg(strstr(l.text, want) != NULL, "no %s in:\n%s",
		    want, l.text);
	}
	for (int i = 0; i < NT; i++) {
		ck_assert_uint_eq(P_(getmalloctag)(p[i]), 0x7100 + i);
		P_(free)(p[i]);
	}
	l.len = 0;
	l.text[0] = '\0';
	P_(malloctagreport)(collect, &l);
	ck_assert_msg(strstr(l.text, "tag 0x71") == NULL, "freed blocks' tags "
	    "reported:\n%s", l.text);
}
END_TEST

START_TEST(tag_of_stack_pointer)
{
	char buf[32];
	P_(setmalloctag)(buf, 1);
}
END_TEST

START_TEST(tag_of_interior_pointer)
{
	char *p = P_(malloc)(100);
	P_(getmalloctag)(p + 8);
}
END_TEST

START_TEST(tag_of_freed_large)
{
	void *p = P_(malloc)(MIB);
	P_(free)(p);
	P_(setrealloctag)(p, 1);
}
END_TEST

START_TEST(tag_of_freed_small)
{
	void *keep = P_(malloc)(64);
	P_(setmalloctag)(keep, 1);   /* tags on: frees go to the slabs */
	void *p = P_(malloc)(64);
	P_(free)(p);
	P_(getrealloctag)(p);
}
END_TEST

/* ---- mallocsummary -------------------------------------------------------------- */

static void summary_std(void *unused)
{
	void *p = P_(malloc)(100);
	P_(setmalloctag)(p, 1);
	P_(mallocsummary)();
}

START_TEST(summary_to_stderr)
{
	char out[8192];
	int st = run_child_capture(summary_std, NULL, out, sizeof(out));
	ck_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	static const char *want[] = { "phmalloc heap 0x", "size ", "used ",
	    "free ", "metadata ", "largest free run ", "epoch ",
	    "thread caches: ", "tagged blocks: 1", "classes", "112: " };
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++)
		ck_assert_msg(strstr(out, want[i]) != NULL, "no \"%s\" in:\n%s",
		    want[i], out);
	unsigned lines = 0;
	for (const char *c = out; *c; c++)
		lines += *c == '\n';
	ck_assert_uint_ge(lines, 4);
	ck_assert_uint_le(lines, 12);   /* a summary, not a dump */
}
END_TEST

START_TEST(summary_of_a_heap)
{
	ph_heap_t *h = new_heap(HEAP_SIZE, false);
	void *p = ph_heap_malloc(h, 300 * KIB);
	ck_assert_ptr_nonnull(p);
	struct ph_heap_stats st;
	ck_assert_int_eq(ph_heap_stats(h, &st), 0);
	struct lines l = { .len = 0 };
	ph_heap_summary(h, collect, &l);
	char want[256];
	snprintf(want, sizeof(want), "phmalloc heap %p: size %zu, used %zu, "
	    "free %zu, metadata %zu, largest free run %zu\n", (void *)h,
	    st.size, st.allocated, st.free, st.metadata, st.largest_free);
	ck_assert_msg(strstr(l.text, want) != NULL, "summary:\n%s\nwanted:\n%s",
	    l.text, want);
	ck_assert_uint_eq(st.allocated, have_stats() ? 300 * KIB : 0);
	ck_assert_msg(strstr(l.text, "classes: no slabs") != NULL,
	    "summary:\n%s", l.text);
}
END_TEST

START_TEST(heap_calls_with_a_bad_handle)
{
	static char not_a_heap[8192] __attribute__((aligned(4096)));
	ph_heap_smalloc((ph_heap_t *)not_a_heap, 10);
}
END_TEST

int main(int argc, char **argv)
{
	if (argc == 2 && strcmp(argv[1], SCENARIO_ARG) == 0)
		return scenario_process_heap();
	Suite *s = suite_create("qmalloc");
	TCase *tc = tcase_create("mallocalign");
	tcase_set_timeout(tc, 60);
	tcase_add_loop_test(tc, mallocalign_random_std, 0, 3);
	tcase_add_loop_test(tc, mallocalign_random_heap, 0, 3);
	tcase_add_test(tc, mallocalign_bad_input);
	tcase_add_test(tc, mallocalign_offset_block_is_real);
	tcase_add_test_raise_signal(tc, mallocalign_offset_block_double_free,
	    SIGABRT);
	tcase_add_test_raise_signal(tc, mallocalign_offset_block_interior_free,
	    SIGABRT);
	suite_add_tcase(s, tc);

	tc = tcase_create("mallocz msize");
	tcase_add_test(tc, mallocz_both_ways);
	tcase_add_test(tc, msize_is_all_of_the_block);
	tcase_add_test_raise_signal(tc, msize_of_stack_pointer, SIGABRT);
	tcase_add_test_raise_signal(tc, msize_of_interior_pointer, SIGABRT);
	tcase_add_test_raise_signal(tc, msize_of_freed_large, SIGABRT);
	tcase_add_test_raise_signal(tc, msize_of_freed_small, SIGABRT);
	suite_add_tcase(s, tc);

	tc = tcase_create("smalloc");
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, smalloc_wakes_when_another_process_frees);
	tcase_add_test(tc, smalloc_wakes_on_a_cache_flush);
	tcase_add_loop_test(tc, smalloc_wakes_round_after_round, 0, 2);
	tcase_add_test(tc, smalloc_timed_out);
	tcase_add_test(tc, smalloc_bad_sizes);
	tcase_add_test(tc, smalloc_killed_waiter_wedges_nothing);
	tcase_add_test(tc, smalloc_standard_on_private_heap);
	tcase_add_test(tc, smalloc_on_the_process_heap);
	tcase_add_test_raise_signal(tc, heap_calls_with_a_bad_handle, SIGABRT);
	suite_add_tcase(s, tc);

	tc = tcase_create("tags");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, tags_kept_per_block);
	tcase_add_test(tc, tags_follow_realloc);
	tcase_add_test(tc, tags_dropped_at_free);
	tcase_add_test(tc, tags_dropped_at_reset);
	tcase_add_test(tc, tags_shared_between_processes);
	tcase_add_test(tc, tag_report_groups_largest_first);
	tcase_add_test(tc, tag_report_standard_to_stderr);
	tcase_add_test(tc, tag_report_covers_every_arena);
	tcase_add_test_raise_signal(tc, tag_of_stack_pointer, SIGABRT);
	tcase_add_test_raise_signal(tc, tag_of_interior_pointer, SIGABRT);
	tcase_add_test_raise_signal(tc, tag_of_freed_large, SIGABRT);
	tcase_add_test_raise_signal(tc, tag_of_freed_small, SIGABRT);
	suite_add_tcase(s, tc);

	tc = tcase_create("summary");
	tcase_add_test(tc, summary_to_stderr);
	tcase_add_test(tc, summary_of_a_heap);
	suite_add_tcase(s, tc);

	return run_suite(s);
}
