/*
 * testutil.h -- helpers shared by the integration tests.
 *
 * Integration tests see phmalloc only through the public header
 * <phmalloc.h> and call the standard family through PHMALLOC_FN, so the
 * same sources run against every configured prefix (je_, ph_, none).
 *
 * Contents: the P_() shorthand, a seeded byte pattern that detects both
 * lost writes and blocks that overlap or were copied from the wrong offset,
 * a small per-thread PRNG, errno assertions, anonymous ranges for
 * ph_heap_*, and a child-process runner that captures what the allocator
 * prints before it aborts.
 */
#ifndef PH_TEST_INTEGRATION_TESTUTIL_H
#define PH_TEST_INTEGRATION_TESTUTIL_H

#include <check.h>
#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <phmalloc.h>

#include "../run_suite.h"

#define P_(name) PHMALLOC_FN(name)

/* The tests pass impossible sizes on purpose; in the drop-in build P_(malloc)
 * is malloc, whose libc declaration makes gcc warn about them. */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Walloc-size-larger-than="
#endif

#define KIB ((size_t)1 << 10)
#define MIB ((size_t)1 << 20)

/* malloc's alignment promise on x86-64 and aarch64: alignof(max_align_t). */
#define MIN_ALIGN ((size_t)16)

/* The largest small request (jemalloc's SMALL_MAXCLASS); DESIGN.md and the
 * brief name 14336 as where four-classes-per-doubling ends. */
#define SMALL_MAX_REQ ((size_t)14336)

/* Was the library built with statistics (config.stats)?  Without them
 * stats.allocated and ph_heap_stats' byte counts read 0, and a test's
 * assertions about them are skipped. */
static inline bool have_stats(void)
{
	bool on = false;
	size_t len = sizeof(on);
	return P_(mallctl)("config.stats", &on, &len, NULL, 0) == 0 && on;
}

static inline size_t os_page(void)
{
	return (size_t)sysconf(_SC_PAGESIZE);
}

static inline bool is_aligned(const void *p, size_t a)
{
	return ((uintptr_t)p & (a - 1)) == 0;
}

/* ---- seeded pattern -------------------------------------------------------
 * Byte i of pattern `seed` is byte (i % 8) of the word
 * (seed + i / 8 + 1) * golden ratio.  Every position and every seed gives
 * a different value, so a block overlapped by another, a realloc that
 * copied from the wrong offset, or a stale page all show up.  The pattern
 * is a function of the offset in the block, so a prefix of a block filled
 * with seed s is the pattern s of the shorter length.
 */
static inline uint64_t pat_word(uint64_t seed, size_t w)
{
	uint64_t x = (seed + (uint64_t)w + 1) * UINT64_C(0x9E3779B97F4A7C15);
	return x ^ (x >> 29);
}

static inline unsigned char pat_byte(uint64_t seed, size_t i)
{
	uint64_t w = pat_word(seed, i / 8);
	unsigned char b[8];
	memcpy(b, &w, 8);
	return b[i % 8];
}

/* Fills [from, to) of block p with pattern seed. */
static inline void pat_fill_range(void *p, size_t from, size_t to,
                                  uint64_t seed)
{
	unsigned char *c = p;
	size_t i = from;
	while (i < to && (i % 8) != 0) {
		c[i] = pat_byte(seed, i);
		i++;
	}
	for (; i + 8 <= to; i += 8) {
		uint64_t w = pat_word(seed, i / 8);
		memcpy(c + i, &w, 8);
	}
	for (; i < to; i++)
		c[i] = pat_byte(seed, i);
}

/* The first offset in [from, to) that does not hold pattern seed, or
 * SIZE_MAX when all do. */
static inline size_t pat_find_bad_range(const void *p, size_t from, size_t to,
                                        uint64_t seed)
{
	const unsigned char *c = p;
	size_t i = from;
	while (i < to && (i % 8) != 0) {
		if (c[i] != pat_byte(seed, i))
			return i;
		i++;
	}
	for (; i + 8 <= to; i += 8) {
		uint64_t w = pat_word(seed, i / 8), v;
		memcpy(&v, c + i, 8);
		if (v != w) {
			for (size_t j = i; j < i + 8; j++)
				if (c[j] != pat_byte(seed, j))
					return j;
		}
	}
	for (; i < to; i++)
		if (c[i] != pat_byte(seed, i))
			return i;
	return SIZE_MAX;
}

static inline void pat_fill(void *p, size_t n, uint64_t seed)
{
	pat_fill_range(p, 0, n, seed);
}

#define pat_assert_range(p, from, to, seed) do {                           \
	size_t bad_ = pat_find_bad_range((p), (from), (to), (seed));        \
	ck_assert_msg(bad_ == SIZE_MAX,                                     \
	    "block %p [%zu, %zu) seed %llu: byte %zu is 0x%02x, "           \
	    "expected 0x%02x", (void *)(p), (size_t)(from), (size_t)(to),    \
	    (unsigned long long)(seed), bad_,                                \
	    ((const unsigned char *)(p))[bad_], pat_byte((seed), bad_));     \
} while (0)

#define pat_assert(p, n, seed) pat_assert_range((p), 0, (n), (seed))

/* The first nonzero byte of [p, p+n), or SIZE_MAX. */
static inline size_t find_nonzero(const void *p, size_t n)
{
	const unsigned char *c = p;
	size_t i = 0;
	for (; i < n && ((uintptr_t)(c + i) % 8) != 0; i++)
		if (c[i])
			return i;
	for (; i + 8 <= n; i += 8) {
		uint64_t v;
		memcpy(&v, c + i, 8);
		if (v)
			break;
	}
	for (; i < n; i++)
		if (c[i])
			return i;
	return SIZE_MAX;
}

#define assert_zero(p, n) do {                                              \
	size_t nz_ = find_nonzero((p), (n));                                \
	ck_assert_msg(nz_ == SIZE_MAX, "block %p: byte %zu of %zu is 0x%02x, " \
	    "expected 0", (void *)(p), nz_, (size_t)(n),                    \
	    ((const unsigned char *)(p))[nz_]);                              \
} while (0)

/* ---- errno ------------------------------------------------------------- */

/* Asserts that expression e yields NULL and sets errno to err. */
#define assert_null_errno(e, err) do {                                      \
	errno = 0;                                                          \
	void *r_ = (void *)(e);                                             \
	int e_ = errno;                                                     \
	ck_assert_msg(r_ == NULL, "%s gave %p, expected NULL", #e, r_);     \
	ck_assert_msg(e_ == (err), "%s set errno %d (%s), expected %d (%s)", \
	    #e, e_, strerror(e_), (err), strerror(err));                    \
} while (0)

/* ---- PRNG (xorshift64*, one state per thread or test) ------------------ */

static inline uint64_t rng_next(uint64_t *s)
{
	uint64_t x = *s;
	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	*s = x;
	return x * UINT64_C(0x2545F4914F6CDD1D);
}

/* Uniform-enough in [0, n). */
static inline size_t rng_below(uint64_t *s, size_t n)
{
	return (size_t)(rng_next(s) % n);
}

/* ---- a quick health check of the standard family ----------------------- */

/* Allocates a spread of sizes with every entry point, checks them, frees
 * them: used after a failed call to show the heap still works. */
static inline void std_heap_works(void)
{
	static const size_t sizes[] = { 1, 16, 100, 1000, 5000, 14336, 20000,
	    300 * 1024, 3 * 1024 * 1024 };
	enum { N = sizeof(sizes) / sizeof(sizes[0]) };
	void *p[N];
	for (size_t i = 0; i < N; i++) {
		p[i] = P_(malloc)(sizes[i]);
		ck_assert_ptr_nonnull(p[i]);
		pat_fill(p[i], sizes[i], 1000 + i);
	}
	void *z = P_(calloc)(10, 1000);
	ck_assert_ptr_nonnull(z);
	assert_zero(z, 10000);
	void *a = P_(aligned_alloc)(4096, 4096);
	ck_assert_ptr_nonnull(a);
	ck_assert(is_aligned(a, 4096));
	for (size_t i = 0; i < N; i++)
		pat_assert(p[i], sizes[i], 1000 + i);
	for (size_t i = 0; i < N; i++)
		P_(free)(p[i]);
	P_(free)(z);
	P_(free)(a);
}

/* ---- ranges for ph_heap_* ---------------------------------------------- */

/* A fresh anonymous range, shared (as a shm segment would be) or private. */
static inline void *map_range(size_t size, bool shared)
{
	void *p = mmap(NULL, size, PROT_READ | PROT_WRITE,
	    (shared ? MAP_SHARED : MAP_PRIVATE) | MAP_ANONYMOUS, -1, 0);
	ck_assert_msg(p != MAP_FAILED, "mmap %zu: %s", size, strerror(errno));
	return p;
}

/* ---- a child whose stderr we read -----------------------------------------
 * Runs fn(arg) in a forked child with stderr on a pipe.  Returns the
 * wait status and copies at most cap-1 bytes of what the child wrote.
 */
static inline int run_child_capture(void (*fn)(void *), void *arg,
                                    char *out, size_t cap)
{
	int fds[2];
	ck_assert_int_eq(pipe(fds), 0);
	fflush(NULL);
	pid_t pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		close(fds[0]);
		dup2(fds[1], 2);
		close(fds[1]);
		fn(arg);
		_exit(0);
	}
	close(fds[1]);
	size_t n = 0;
	for (;;) {
		ssize_t r = read(fds[0], out + n, cap - 1 - n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		n += (size_t)r;
		if (n == cap - 1) {       /* drain the rest */
			char sink[256];
			while (read(fds[0], sink, sizeof(sink)) > 0)
				;
			break;
		}
	}
	out[n] = '\0';
	close(fds[0]);
	int status;
	while (waitpid(pid, &status, 0) < 0)
		ck_assert_int_eq(errno, EINTR);
	return status;
}

#endif /* PH_TEST_INTEGRATION_TESTUTIL_H */
