/*
 * test_malloc.c -- malloc, calloc, realloc, free and malloc_usable_size
 * through the public header, with the configured prefix.
 *
 * Markers: [DESIGN] is a behaviour DESIGN.md promises ("Bad input is part
 * of the contract", the standard family); [C]/[POSIX] is what the
 * standards require of any malloc; [glibc] is glibc-compatible behaviour
 * that programs rely on but no standard fixes (malloc(0) and realloc(p, 0)
 * in particular).
 */
#include <fcntl.h>
#include <sys/resource.h>

#include "testutil.h"

/* ---- malloc and free --------------------------------------------------- */

/* [glibc] malloc(0) returns a unique pointer that free accepts. */
START_TEST(malloc_zero_is_unique_and_freeable)
{
	enum { N = 1000 };
	void **p = malloc(N * sizeof(*p));
	for (int i = 0; i < N; i++) {
		p[i] = P_(malloc)(0);
		ck_assert_ptr_nonnull(p[i]);
		ck_assert(is_aligned(p[i], MIN_ALIGN));
	}
	/* unique among the live ones: sort and compare neighbours */
	for (int i = 1; i < N; i++) {
		void *v = p[i];
		int j = i - 1;
		while (j >= 0 && (uintptr_t)p[j] > (uintptr_t)v) {
			p[j + 1] = p[j];
			j--;
		}
		p[j + 1] = v;
	}
	for (int i = 1; i < N; i++)
		ck_assert_ptr_ne(p[i - 1], p[i]);
	for (int i = 0; i < N; i++)
		P_(free)(p[i]);
	free(p);
}
END_TEST

/* [C] free(NULL) does nothing; [glibc] malloc_usable_size(NULL) is 0. */
START_TEST(free_null_is_a_noop)
{
	void *a = P_(malloc)(100);
	pat_fill(a, 100, 7);
	for (int i = 0; i < 1000; i++)
		P_(free)(NULL);
	pat_assert(a, 100, 7);
	ck_assert_uint_eq(P_(malloc_usable_size)(NULL), 0);
	P_(free)(a);
	std_heap_works();
}
END_TEST

/*
 * [C] Every size 1..20000: the block is 16-byte aligned, usable_size >=
 * size, every usable byte writable and kept.  A window of 64 live blocks
 * catches blocks that overlap their neighbours.
 */
START_TEST(every_size_to_20000)
{
	enum { WIN = 64 };
	unsigned char *win[WIN] = { 0 };
	size_t wsz[WIN] = { 0 };
	for (size_t s = 1; s <= 20000; s++) {
		unsigned slot = (unsigned)(s % WIN);
		if (win[slot]) {
			ck_assert_uint_eq(P_(malloc_usable_size)(win[slot]),
			    wsz[slot]);
			pat_assert(win[slot], wsz[slot], s - WIN);
			P_(free)(win[slot]);
		}
		unsigned char *p = P_(malloc)(s);
		ck_assert_msg(p != NULL, "malloc(%zu) gave NULL", s);
		ck_assert_msg(is_aligned(p, MIN_ALIGN), "malloc(%zu) = %p", s,
		    (void *)p);
		size_t u = P_(malloc_usable_size)(p);
		ck_assert_msg(u >= s, "usable_size %zu < %zu", u, s);
		pat_fill(p, u, s);
		win[slot] = p;
		wsz[slot] = u;
	}
	for (size_t s = 20000 - WIN + 1; s <= 20000; s++) {
		unsigned slot = (unsigned)(s % WIN);
		pat_assert(win[slot], wsz[slot], s);
		P_(free)(win[slot]);
	}
}
END_TEST

/* [C] Large sizes up to 64 MiB: powers of two, one either side, and 1.5x;
 * aligned, usable >= size, every usable byte kept.  Two live at a time. */
START_TEST(large_sizes_to_64mib)
{
	size_t sizes[128];
	int n = 0;
	for (size_t s = 16 * KIB; s <= 64 * MIB; s *= 2) {
		sizes[n++] = s - 1;
		sizes[n++] = s;
		sizes[n++] = s + 1;
		if (s < 64 * MIB)
			sizes[n++] = s + s / 2;
	}
	unsigned char *prev = NULL;
	size_t prev_u = 0, prev_seed = 0;
	for (int i = 0; i < n; i++) {
		size_t s = sizes[i];
		unsigned char *p = P_(malloc)(s);
		ck_assert_msg(p != NULL, "malloc(%zu) gave NULL", s);
		ck_assert(is_aligned(p, MIN_ALIGN));
		size_t u = P_(malloc_usable_size)(p);
		ck_assert_msg(u >= s, "usable_size %zu < %zu", u, s);
		/* [jemalloc-style] a large block wastes less than a page or
		 * a quarter of its size */
		ck_assert_msg(u - s < (s / 4 > 4096 ? s / 4 : 4096),
		    "malloc(%zu) has usable size %zu", s, u);
		pat_fill(p, u, s);
		if (prev) {
			pat_assert(prev, prev_u, prev_seed);
			P_(free)(prev);
		}
		prev = p;
		prev_u = u;
		prev_seed = s;
	}
	pat_assert(prev, prev_u, prev_seed);
	P_(free)(prev);
}
END_TEST

/*
 * 100k blocks of random sizes live at once, each filled with its own
 * pattern; half are freed and replaced at random, everything is checked,
 * then all are freed in random order.
 */
START_TEST(many_live_blocks_keep_their_contents)
{
	enum { N = 100000 };
	unsigned char **p = calloc(N, sizeof(*p));
	size_t *sz = calloc(N, sizeof(*sz));
	uint64_t *seed = calloc(N, sizeof(*seed));
	int *order = calloc(N, sizeof(*order));
	uint64_t rng = 0x1234567;
	uint64_t next_seed = 1;

	for (int i = 0; i < N; i++) {
		sz[i] = 1 + rng_below(&rng, rng_below(&rng, 100) ? 1024 :
		    64 * KIB);
		p[i] = P_(malloc)(sz[i]);
		ck_assert_ptr_nonnull(p[i]);
		seed[i] = next_seed++;
		pat_fill(p[i], sz[i], seed[i]);
	}
	for (int round = 0; round < 2; round++) {
		for (int k = 0; k < N / 2; k++) {
			int i = (int)rng_below(&rng, N);
			pat_assert(p[i], sz[i], seed[i]);
			P_(free)(p[i]);
			sz[i] = 1 + rng_below(&rng, rng_below(&rng, 100) ?
			    1024 : 64 * KIB);
			p[i] = P_(malloc)(sz[i]);
			ck_assert_ptr_nonnull(p[i]);
			seed[i] = next_seed++;
			pat_fill(p[i], sz[i], seed[i]);
		}
		for (int i = 0; i < N; i++)
			pat_assert(p[i], sz[i], seed[i]);
	}
	for (int i = 0; i < N; i++)
		order[i] = i;
	for (int i = N - 1; i > 0; i--) {
		int j = (int)rng_below(&rng, (size_t)i + 1);
		int t = order[i];
		order[i] = order[j];
		order[j] = t;
	}
	for (int k = 0; k < N; k++) {
		int i = order[k];
		pat_assert(p[i], sz[i], seed[i]);
		P_(free)(p[i]);
	}
	free(p);
	free(sz);
	free(seed);
	free(order);
	std_heap_works();
}
END_TEST

/* ---- calloc ------------------------------------------------------------ */

/* [C] calloc zeroes n * size bytes, for products in every size range. */
START_TEST(calloc_zeroes)
{
	static const size_t ns[] = { 1, 2, 3, 7, 100, 1000 };
	static const size_t ss[] = { 1, 8, 13, 16, 100, 1000, 4096, 14336,
	    20000 };
	for (size_t a = 0; a < sizeof(ns) / sizeof(ns[0]); a++)
		for (size_t b = 0; b < sizeof(ss) / sizeof(ss[0]); b++) {
			size_t total = ns[a] * ss[b];
			unsigned char *p = P_(calloc)(ns[a], ss[b]);
			ck_assert_ptr_nonnull(p);
			ck_assert(is_aligned(p, MIN_ALIGN));
			ck_assert_uint_ge(P_(malloc_usable_size)(p), total);
			assert_zero(p, total);
			P_(free)(p);
		}
	/* [glibc] a zero product gives a unique freeable block */
	void *z1 = P_(calloc)(0, 10), *z2 = P_(calloc)(10, 0);
	ck_assert_ptr_nonnull(z1);
	ck_assert_ptr_nonnull(z2);
	ck_assert_ptr_ne(z1, z2);
	P_(free)(z1);
	P_(free)(z2);
}
END_TEST

/*
 * [C] calloc zeroes memory it reuses: blocks of the same size are dirtied
 * and freed first (so the thread cache and the slabs hold dirty blocks),
 * then calloc'd back.  Sizes cover small classes, large blocks and the
 * boundary between them.
 */
START_TEST(calloc_zeroes_reused_memory)
{
	static const size_t sizes[] = { 1, 16, 24, 48, 100, 512, 1000, 3000,
	    8192, 14336, 14337, 16384, 40000, 100000, 1 * MIB, 5 * MIB };
	enum { K = 64 };
	void *blk[K];
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		size_t s = sizes[i];
		int k = s >= MIB ? 4 : K;
		for (int j = 0; j < k; j++) {
			blk[j] = P_(malloc)(s);
			ck_assert_ptr_nonnull(blk[j]);
			memset(blk[j], 0xa5, P_(malloc_usable_size)(blk[j]));
		}
		for (int j = 0; j < k; j++)
			P_(free)(blk[j]);
		for (int j = 0; j < k; j++) {
			blk[j] = P_(calloc)(1, s);
			ck_assert_ptr_nonnull(blk[j]);
			assert_zero(blk[j], s);
		}
		/* and one freed and calloc'd straight back, the cache's
		 * most likely reuse */
		for (int j = 0; j < k; j++) {
			memset(blk[j], 0x5a, s);
			P_(free)(blk[j]);
			blk[j] = P_(calloc)(s, 1);
			ck_assert_ptr_nonnull(blk[j]);
			assert_zero(blk[j], s);
		}
		for (int j = 0; j < k; j++)
			P_(free)(blk[j]);
	}
}
END_TEST

/* [C] A 32 MiB calloc reads zero, also when it reuses dirtied pages. */
START_TEST(calloc_32mib_reads_zero)
{
	unsigned char *big = P_(calloc)(32, MIB);
	ck_assert_ptr_nonnull(big);
	assert_zero(big, 32 * MIB);
	memset(big, 0xee, 32 * MIB);
	P_(free)(big);
	big = P_(calloc)(MIB, 32);
	ck_assert_ptr_nonnull(big);
	assert_zero(big, 32 * MIB);
	P_(free)(big);
}
END_TEST

/* ---- realloc ----------------------------------------------------------- */

/* [C] realloc(NULL, n) is malloc(n). */
START_TEST(realloc_null_is_malloc)
{
	static const size_t sizes[] = { 0, 1, 100, 5000, 20000, 2 * MIB };
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		size_t s = sizes[i];
		unsigned char *p = P_(realloc)(NULL, s);
		ck_assert_ptr_nonnull(p);
		ck_assert(is_aligned(p, MIN_ALIGN));
		size_t u = P_(malloc_usable_size)(p);
		ck_assert_uint_ge(u, s);
		pat_fill(p, u, s);
		pat_assert(p, u, s);
		P_(free)(p);
	}
}
END_TEST

/* [C] realloc keeps min(old, new) bytes, growing and shrinking through
 * every size range; other blocks are not touched. */
START_TEST(realloc_grow_and_shrink_keep_contents)
{
	static const size_t steps[] = { 1, 7, 16, 17, 100, 128, 129, 1000,
	    4096, 5000, 14336, 14337, 16384, 100000, 1 * MIB, 5 * MIB,
	    5 * MIB + 1, 3 * MIB, 70000, 20000, 14336, 3000, 200, 16, 1 };
	unsigned char *guard = P_(malloc)(777);
	pat_fill(guard, 777, 99);
	unsigned char *p = NULL;
	size_t cur = 0;
	for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
		size_t s = steps[i];
		unsigned char *q = P_(realloc)(p, s);
		ck_assert_msg(q != NULL, "realloc(%p, %zu) gave NULL",
		    (void *)p, s);
		ck_assert(is_aligned(q, MIN_ALIGN));
		ck_assert_uint_ge(P_(malloc_usable_size)(q), s);
		if (p)
			pat_assert(q, cur < s ? cur : s, i - 1);
		pat_fill(q, s, i);
		p = q;
		cur = s;
	}
	pat_assert(guard, 777, 99);
	P_(free)(p);
	P_(free)(guard);
}
END_TEST

/* Random reallocs of 200 live blocks, checked at every step. */
START_TEST(realloc_random_walk)
{
	enum { N = 200, STEPS = 20000 };
	unsigned char *p[N] = { 0 };
	size_t sz[N] = { 0 };
	uint64_t seed[N] = { 0 };
	uint64_t rng = 42;
	for (uint64_t step = 1; step <= STEPS; step++) {
		int i = (int)rng_below(&rng, N);
		size_t s = rng_below(&rng, 50) ? 1 + rng_below(&rng, 2000) :
		    1 + rng_below(&rng, 300 * KIB);
		unsigned char *q = P_(realloc)(p[i], s);
		ck_assert_ptr_nonnull(q);
		if (p[i])
			pat_assert(q, sz[i] < s ? sz[i] : s, seed[i]);
		pat_fill(q, s, step);
		p[i] = q;
		sz[i] = s;
		seed[i] = step;
	}
	for (int i = 0; i < N; i++) {
		if (p[i])
			pat_assert(p[i], sz[i], seed[i]);
		P_(free)(p[i]);
	}
}
END_TEST

/* [jemalloc-style] A large block shrinks in place: same pointer, same
 * prefix, and the usable size drops to fit. */
START_TEST(realloc_shrinks_large_blocks_in_place)
{
	static const size_t from[] = { 4 * MIB, 256 * KIB, 64 * MIB };
	static const size_t to[] = { 1 * MIB, 128 * KIB, 20 * MIB + 5 };
	for (size_t i = 0; i < 3; i++) {
		unsigned char *p = P_(malloc)(from[i]);
		ck_assert_ptr_nonnull(p);
		pat_fill(p, from[i], i);
		unsigned char *q = P_(realloc)(p, to[i]);
		ck_assert_ptr_eq(q, p);
		pat_assert(q, to[i], i);
		size_t u = P_(malloc_usable_size)(q);
		ck_assert_uint_ge(u, to[i]);
		ck_assert_uint_lt(u, from[i]);
		P_(free)(q);
	}
}
END_TEST

/* [glibc] realloc(p, 0) frees p and returns NULL (glibc's behaviour, not
 * a minimal block).  That p was really freed is shown in test_badinput
 * (freeing it again aborts as a double free). */
START_TEST(realloc_to_zero_frees_and_returns_null)
{
	static const size_t sizes[] = { 1, 100, 14336, 20000, 4 * MIB };
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		void *p = P_(malloc)(sizes[i]);
		ck_assert_ptr_nonnull(p);
		ck_assert_ptr_null(P_(realloc)(p, 0));
	}
	std_heap_works();
}
END_TEST

/* ---- overflow ---------------------------------------------------------- */

/* [DESIGN] Size overflow: NULL + ENOMEM, and the heap keeps working. */
START_TEST(overflowing_sizes_give_enomem)
{
	assert_null_errno(P_(malloc)(SIZE_MAX), ENOMEM);
	assert_null_errno(P_(malloc)(SIZE_MAX - 1), ENOMEM);
	assert_null_errno(P_(malloc)(SIZE_MAX - 4095), ENOMEM);  /* page
	                                               rounding would wrap */
	assert_null_errno(P_(malloc)(SIZE_MAX / 2 + 1), ENOMEM);
	assert_null_errno(P_(malloc)((size_t)PTRDIFF_MAX), ENOMEM);
	assert_null_errno(P_(calloc)(SIZE_MAX, 2), ENOMEM);
	assert_null_errno(P_(calloc)(2, SIZE_MAX / 2 + 1), ENOMEM);
	assert_null_errno(P_(calloc)(SIZE_MAX / 2 + 1, 2), ENOMEM);
	/* a product that wraps to a small number (16) */
	assert_null_errno(P_(calloc)(SIZE_MAX / 16 + 2, 16), ENOMEM);
	assert_null_errno(P_(calloc)((size_t)1 << 32, (size_t)1 << 32),
	    ENOMEM);
	assert_null_errno(P_(realloc)(NULL, SIZE_MAX), ENOMEM);
	std_heap_works();
}
END_TEST

/* [DESIGN][C] realloc that cannot grow: NULL + ENOMEM and p untouched
 * and still valid, for small and large blocks. */
START_TEST(realloc_overflow_keeps_the_block)
{
	static const size_t sizes[] = { 10, 100, 14336, 100000, 2 * MIB };
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		size_t s = sizes[i];
		unsigned char *p = P_(malloc)(s);
		ck_assert_ptr_nonnull(p);
		size_t u = P_(malloc_usable_size)(p);
		pat_fill(p, s, 5 + i);
		assert_null_errno(P_(realloc)(p, SIZE_MAX), ENOMEM);
		assert_null_errno(P_(realloc)(p, SIZE_MAX / 2 + 1), ENOMEM);
		assert_null_errno(P_(realloc)(p, SIZE_MAX - 4095), ENOMEM);
		pat_assert(p, s, 5 + i);
		ck_assert_uint_eq(P_(malloc_usable_size)(p), u);
		/* still a live block: it can be grown and freed */
		unsigned char *q = P_(realloc)(p, s * 2);
		ck_assert_ptr_nonnull(q);
		pat_assert(q, s, 5 + i);
		P_(free)(q);
	}
	std_heap_works();
}
END_TEST

/* ---- address space that runs out ---------------------------------------------
 * [C] malloc returns NULL with ENOMEM when memory cannot be had, and works
 * again when it can: never an abort.  Each scenario runs in a fresh exec'd
 * process (the process heap is made at the first allocation, which must
 * happen under the limit), uses no Check and no stdio while memory is
 * short, and exits with the number of the check that failed.
 */
#define SCENARIO_RLIMIT  "--rlimit-as"
#define SCENARIO_FULL    "--full-address-space"
#define AS_LIMIT         ((size_t)200 << 20)   /* glibc's tst-malloc-thread-fail */
#define SCENARIO_SKIP    77

/* Bytes of address space mapped now (VmSize). */
static size_t vm_size(void)
{
	char buf[256];
	int fd = open("/proc/self/statm", O_RDONLY);
	ssize_t n = fd < 0 ? -1 : read(fd, buf, sizeof(buf) - 1);
	if (fd >= 0)
		close(fd);
	if (n <= 0)
		return SIZE_MAX;
	buf[n] = '\0';
	return (size_t)strtoull(buf, NULL, 10) * os_page();
}

static int set_as_limit(size_t bytes)
{
	struct rlimit rl;
	if (getrlimit(RLIMIT_AS, &rl) != 0)
		return -1;
	rl.rlim_cur = bytes;
	return setrlimit(RLIMIT_AS, &rl);
}

/* Allocates blocks of `size` until malloc says no, chained through their
 * first word; the bytes had, or 0 if the refusal was not ENOMEM. */
static size_t fill_until_enomem(size_t size, void **chain)
{
	size_t got = 0;
	*chain = NULL;
	for (;;) {
		errno = 0;
		void **b = P_(malloc)(size);
		if (b == NULL)
			return errno == ENOMEM ? got : 0;
		memset(b, 0x5a, size < 4096 ? size : 4096);
		*b = *chain;
		*chain = b;
		got += size;
	}
}

static void free_chain(void *chain)
{
	while (chain != NULL) {
		void *next = *(void **)chain;
		P_(free)(chain);
		chain = next;
	}
}

/* Under RLIMIT_AS of 200 MiB: most of it can be had in small blocks and
 * in large ones, each run ends in ENOMEM, and freeing gives it back. */
static int scenario_rlimit(void)
{
	if (vm_size() > AS_LIMIT / 2)
		return SCENARIO_SKIP;   /* a sanitizer's shadow, valgrind */
	if (set_as_limit(AS_LIMIT) != 0)
		return 1;
	void *chain;
	size_t small = fill_until_enomem(1000, &chain);
	if (small < AS_LIMIT / 2)
		return 2;
	free_chain(chain);
	size_t large = fill_until_enomem(1 << 20, &chain);
	if (large < AS_LIMIT / 2)
		return 3;
	free_chain(chain);
	size_t again = fill_until_enomem(1000, &chain);
	if (again < small / 10 * 9)
		return 4;
	free_chain(chain);
	void *p = P_(calloc)(1, 100);
	if (p == NULL)
		return 5;
	P_(free)(p);
	return 0;
}

/* No address space at all at the first malloc (musl's malloc-oom): NULL
 * and ENOMEM from every entry point, no abort; once address space is
 * there again, malloc works. */
static int scenario_full(void)
{
	size_t now = vm_size();
	if (now > AS_LIMIT / 2)
		return SCENARIO_SKIP;
	if (set_as_limit(now + os_page()) != 0)
		return 1;
	errno = 0;
	if (P_(malloc)(100) != NULL || errno != ENOMEM)
		return 2;
	errno = 0;
	if (P_(calloc)(10, 10) != NULL || errno != ENOMEM)
		return 3;
	errno = 0;
	if (P_(realloc)(NULL, 5000) != NULL || errno != ENOMEM)
		return 4;
	void *q = NULL;
	if (P_(posix_memalign)(&q, 64, 64) != ENOMEM || q != NULL)
		return 5;
	errno = 0;
	if (P_(malloc)(5 << 20) != NULL || errno != ENOMEM)
		return 6;
	if (set_as_limit(now + AS_LIMIT) != 0)
		return 7;
	char *p = P_(malloc)(100);
	if (p == NULL)
		return 8;
	memset(p, 1, 100);
	P_(free)(p);
	return 0;
}

static void run_scenario(const char *arg)
{
	fflush(NULL);
	pid_t pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		execl("/proc/self/exe", "test_malloc", arg, (char *)NULL);
		_exit(127);
	}
	int st;
	ck_assert_int_eq(waitpid(pid, &st, 0), pid);
	ck_assert_msg(WIFEXITED(st), "%s: killed by signal %d (an abort?)",
	    arg, WIFSIGNALED(st) ? WTERMSIG(st) : -1);
	if (WEXITSTATUS(st) == SCENARIO_SKIP)
		return;   /* this build maps too much to set a limit */
	ck_assert_msg(WEXITSTATUS(st) == 0, "%s: failed at check %d", arg,
	    WEXITSTATUS(st));
}

START_TEST(malloc_under_rlimit_as_returns_enomem_and_recovers)
{
	run_scenario(SCENARIO_RLIMIT);
}
END_TEST

START_TEST(malloc_with_no_address_space_returns_enomem_then_works)
{
	run_scenario(SCENARIO_FULL);
}
END_TEST

int main(int argc, char **argv)
{
	if (argc == 2 && strcmp(argv[1], SCENARIO_RLIMIT) == 0)
		return scenario_rlimit();
	if (argc == 2 && strcmp(argv[1], SCENARIO_FULL) == 0)
		return scenario_full();
	Suite *s = suite_create("malloc");

	TCase *tc = tcase_create("malloc");
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, malloc_zero_is_unique_and_freeable);
	tcase_add_test(tc, free_null_is_a_noop);
	tcase_add_test(tc, every_size_to_20000);
	tcase_add_test(tc, large_sizes_to_64mib);
	tcase_add_test(tc, many_live_blocks_keep_their_contents);
	suite_add_tcase(s, tc);

	tc = tcase_create("calloc");
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, calloc_zeroes);
	tcase_add_test(tc, calloc_zeroes_reused_memory);
	tcase_add_test(tc, calloc_32mib_reads_zero);
	suite_add_tcase(s, tc);

	tc = tcase_create("realloc");
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, realloc_null_is_malloc);
	tcase_add_test(tc, realloc_grow_and_shrink_keep_contents);
	tcase_add_test(tc, realloc_random_walk);
	tcase_add_test(tc, realloc_shrinks_large_blocks_in_place);
	tcase_add_test(tc, realloc_to_zero_frees_and_returns_null);
	suite_add_tcase(s, tc);

	tc = tcase_create("overflow");
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, overflowing_sizes_give_enomem);
	tcase_add_test(tc, realloc_overflow_keeps_the_block);
	suite_add_tcase(s, tc);

	tc = tcase_create("address space");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, malloc_under_rlimit_as_returns_enomem_and_recovers);
	tcase_add_test(tc, malloc_with_no_address_space_returns_enomem_then_works);
	suite_add_tcase(s, tc);

	return run_suite(s);
}
