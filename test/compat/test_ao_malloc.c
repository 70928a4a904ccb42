/*
 * test_ao_malloc.c -- <phmalloc/ao_malloc.h>: AO_malloc, AO_free and
 * AO_malloc_enable_mmap in normal use, at the edges, with bad input, and
 * from a timer signal handler firing at 20 kHz while the interrupted thread
 * itself allocates (a million operations, every block's contents checked)
 * and another thread contends for the heap lock.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <sys/time.h>

#include <phmalloc/ao_malloc.h>

#include "../integration/testutil.h"

START_TEST(lock_free_macro_is_not_defined)
{
	/* ao_malloc.h says why: the slow path takes the heap lock. */
#ifdef AO_MALLOC_IS_LOCK_FREE
	ck_abort_msg("AO_MALLOC_IS_LOCK_FREE is defined");
#endif
}
END_TEST

START_TEST(ao_malloc_and_free)
{
	static const size_t sizes[] = { 0, 1, 15, 16, 17, 100, 4096, 14336,
	    14337, 65535, 65536, 300 * 1024, 8 * 1024 * 1024 };
	enum { N = sizeof(sizes) / sizeof(sizes[0]) };
	void *p[N];
	for (size_t i = 0; i < N; i++) {
		p[i] = AO_malloc(sizes[i]);
		ck_assert_msg(p[i] != NULL, "AO_malloc(%zu)", sizes[i]);
		ck_assert(is_aligned(p[i], MIN_ALIGN));
		ck_assert_ptr_eq(ph_heap_of(p[i]), ph_heap_default());
		ck_assert_uint_ge(P_(malloc_usable_size)(p[i]), sizes[i]);
		pat_fill(p[i], sizes[i], i);
	}
	for (size_t i = 0; i < N; i++) {
		pat_assert(p[i], sizes[i], i);
		AO_free(p[i]);
	}
	AO_free(NULL);
	/* The process's malloc: blocks cross between the two families. */
	void *a = AO_malloc(40), *b = P_(malloc)(40);
	P_(free)(a);
	AO_free(b);
	std_heap_works();
}
END_TEST

START_TEST(ao_malloc_failure)
{
	int saved = errno = 1234;
	void *p = AO_malloc(10);
	ck_assert_ptr_nonnull(p);
	ck_assert_int_eq(errno, saved);   /* success leaves errno alone */
	AO_free(p);
	assert_null_errno(AO_malloc(SIZE_MAX), ENOMEM);
	assert_null_errno(AO_malloc(SIZE_MAX / 2), ENOMEM);
	std_heap_works();
}
END_TEST

static void *enable_mmap_thread(void *arg)
{
	AO_malloc_enable_mmap();
	void *p = AO_malloc(1000);
	AO_free(p);
	return p;
}

/* Idempotent and safe from several threads at once; no size limit before
 * or after (libatomic_ops stops just under 64 KiB without it). */
START_TEST(enable_mmap_is_idempotent)
{
	void *big = AO_malloc(64 * MIB);
	ck_assert_ptr_nonnull(big);
	AO_free(big);
	pthread_t t[4];
	for (int i = 0; i < 4; i++)
		ck_assert_int_eq(pthread_create(&t[i], NULL,
		    enable_mmap_thread, NULL), 0);
	AO_malloc_enable_mmap();
	AO_malloc_enable_mmap();
	for (int i = 0; i < 4; i++)
		ck_assert_int_eq(pthread_join(t[i], NULL), 0);
	ph_heap_t *h = ph_heap_default();
	AO_malloc_enable_mmap();
	ck_assert_ptr_eq(ph_heap_default(), h);
	big = AO_malloc(64 * MIB);
	ck_assert_ptr_nonnull(big);
	pat_fill(big, 4096, 1);
	pat_assert(big, 4096, 1);
	AO_free(big);
	ck_assert_int_eq(ph_heap_check(h), 0);
}
END_TEST

/* ---- bad input -------------------------------------------------------------- */

static void run_free_stack(void *arg)
{
	int local;
	AO_free(&local);
}

static void run_free_twice(void *arg)
{
	void *p = AO_malloc(200);
	AO_free(p);
	AO_free(p);
}

static void run_free_interior(void *arg)
{
	char *p = AO_malloc(20000);
	AO_free(p + 4096);
}

START_TEST(bad_free_aborts_with_one_line)
{
	static void (*const fns[])(void *) = { run_free_stack, run_free_twice,
	    run_free_interior };
	for (size_t i = 0; i < sizeof(fns) / sizeof(fns[0]); i++) {
		char out[512];
		int st = run_child_capture(fns[i], NULL, out, sizeof(out));
		ck_assert_msg(WIFSIGNALED(st) && WTERMSIG(st) == SIGABRT,
		    "case %zu: status %#x, said \"%s\"", i, st, out);
		ck_assert_msg(strncmp(out, "phmalloc: ", 10) == 0 &&
		    strchr(out, '\n') == out + strlen(out) - 1,
		    "case %zu: said \"%s\"", i, out);
	}
}
END_TEST

/* ---- from a signal handler ------------------------------------------------------
 * The handler keeps its own ring of blocks: each tick it checks and frees
 * some and allocates new ones (small ones through the thread cache, a few
 * large ones through the locked path).  The main loop does the same on
 * its ring, marking when it is inside an AO call, so the test can tell that
 * the handler really interrupted phmalloc.  Nothing in the handler may
 * assert: it records the first failure for the main loop to report.
 */
#define SIG_RING     256
#define SIG_OPS_TICK 4
#define MAIN_RING    1024
#define MAIN_OPS     1000000
#define TICK_US      50          /* 20 kHz */
#define MIN_TICKS    2000

struct slot {
	void    *p;
	size_t   len;
	uint64_t seed;
};

static struct slot sig_ring[SIG_RING];
static volatile sig_atomic_t in_ao;          /* main is inside AO_* */
static volatile sig_atomic_t stop_ticks;
static _Atomic unsigned long ticks, ticks_inside, sig_ops;
static volatile sig_atomic_t sig_error;      /* 0, or what went wrong */
static _Atomic bool worker_stop;

enum { ERR_NULL = 1, ERR_CONTENT, ERR_ALIGN };

static size_t sig_len(uint64_t n)
{
	if (n % 97 == 0)
		return 20000 + (size_t)(n % 50000);   /* large: locked path */
	return 1 + (size_t)((n * 131) % 1500);
}

static void on_tick(int sig)
{
	int saved = errno;
	unsigned long t = atomic_fetch_add_explicit(&ticks, 1,
	    memory_order_relaxed);
	if (in_ao)
		atomic_fetch_add_explicit(&ticks_inside, 1,
		    memory_order_relaxed);
	for (unsigned k = 0; k < SIG_OPS_TICK && !stop_ticks; k++) {
		uint64_t n = (uint64_t)t * SIG_OPS_TICK + k;
		struct slot *s = &sig_ring[n % SIG_RING];
		if (s->p != NULL) {
			if (pat_find_bad_range(s->p, 0, s->len, s->seed) !=
			    SIZE_MAX && sig_error == 0)
				sig_error = ERR_CONTENT;
			AO_free(s->p);
		}
		s->len = sig_len(n);
		s->seed = n + (UINT64_C(1) << 40);
		s->p = AO_malloc(s->len);
		if (s->p == NULL) {
			if (sig_error == 0)
				sig_error = ERR_NULL;
			continue;
		}
		if (!is_aligned(s->p, MIN_ALIGN) && sig_error == 0)
			sig_error = ERR_ALIGN;
		pat_fill(s->p, s->len, s->seed);
		atomic_fetch_add_explicit(&sig_ops, 1, memory_order_relaxed);
	}
	errno = saved;
}

/* Allocates and frees alongside, so that the locked path is contended;
 * SIGALRM stays with the main thread.  It pauses now and then: a core of
 * its own all the time would slow the tests running next to it. */
static void *worker(void *arg)
{
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGALRM);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	void *ring[64] = { 0 };
	for (uint64_t n = 0; !atomic_load(&worker_stop); n++) {
		void **s = &ring[n % 64];
		AO_free(*s);
		*s = AO_malloc(n % 13 == 0 ? 30000 : 16 + n % 4000);
		if (*s == NULL)
			return (void *)1;
		memset(*s, (int)n, 16);
		if (n % 256 == 255)
			usleep(200);
	}
	for (int i = 0; i < 64; i++)
		AO_free(ring[i]);
	return NULL;
}

/* Not ck_assert in the loop: Check writes a record for every passing
 * assertion, a system call per operation. */
static void slot_check(const struct slot *s)
{
	size_t bad = pat_find_bad_range(s->p, 0, s->len, s->seed);
	if (bad != SIZE_MAX)
		ck_abort_msg("block %p of %zu seed %llu: byte %zu is wrong",
		    s->p, s->len, (unsigned long long)s->seed, bad);
}

static void timer_set(long us)
{
	struct itimerval it = { { 0, us }, { 0, us } };
	ck_assert_int_eq(setitimer(ITIMER_REAL, &it, NULL), 0);
}

START_TEST(ao_malloc_from_a_timer_signal_handler)
{
	AO_malloc_enable_mmap();   /* the process heap exists before a tick */
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_tick;
	sa.sa_flags = SA_RESTART;
	sigemptyset(&sa.sa_mask);
	ck_assert_int_eq(sigaction(SIGALRM, &sa, NULL), 0);
	pthread_t tw;
	ck_assert_int_eq(pthread_create(&tw, NULL, worker, NULL), 0);

	static struct slot ring[MAIN_RING];
	uint64_t rng = 12345;
	timer_set(TICK_US);
	for (unsigned long op = 0; op < MAIN_OPS ||
	    atomic_load(&ticks) < MIN_TICKS; op++) {
		struct slot *s = &ring[rng_below(&rng, MAIN_RING)];
		if (s->p != NULL) {
			slot_check(s);
			in_ao = 1;
			AO_free(s->p);
			in_ao = 0;
		}
		s->len = op % 211 == 0 ? 16384 + rng_below(&rng, 100000) :
		    1 + rng_below(&rng, 2000);
		s->seed = op;
		in_ao = 1;
		s->p = AO_malloc(s->len);
		in_ao = 0;
		if (s->p == NULL)
			ck_abort_msg("AO_malloc(%zu) in main gave NULL", s->len);
		pat_fill(s->p, s->len, s->seed);
		if (sig_error != 0)
			ck_abort_msg("handler failed: %d", (int)sig_error);
	}
	timer_set(0);
	stop_ticks = 1;
	atomic_store(&worker_stop, true);
	void *wres;
	ck_assert_int_eq(pthread_join(tw, &wres), 0);
	ck_assert_ptr_null(wres);
	ck_assert_msg(sig_error == 0, "handler failed: %d", (int)sig_error);

	for (unsigned i = 0; i < MAIN_RING; i++)
		if (ring[i].p != NULL) {
			slot_check(&ring[i]);
			AO_free(ring[i].p);
		}
	for (unsigned i = 0; i < SIG_RING; i++)
		if (sig_ring[i].p != NULL) {
			slot_check(&sig_ring[i]);
			AO_free(sig_ring[i].p);
		}
	unsigned long nt = atomic_load(&ticks), ni = atomic_load(&ticks_inside);
	printf("ao_malloc: %lu ticks, %lu inside AO_malloc/AO_free, %lu "
	    "handler allocations, %d main operations\n", nt, ni,
	    atomic_load(&sig_ops), MAIN_OPS);
	ck_assert_uint_ge(nt, MIN_TICKS);
	ck_assert_msg(ni > 0, "no tick interrupted an AO call");
	ck_assert_int_eq(ph_heap_check(ph_heap_default()), 0);
}
END_TEST

static Suite *ao_suite(void)
{
	Suite *s = suite_create("ao_malloc");
	TCase *tc = tcase_create("api");
	tcase_add_test(tc, lock_free_macro_is_not_defined);
	tcase_add_test(tc, ao_malloc_and_free);
	tcase_add_test(tc, ao_malloc_failure);
	tcase_add_test(tc, enable_mmap_is_idempotent);
	tcase_add_test(tc, bad_free_aborts_with_one_line);
	suite_add_tcase(s, tc);
	TCase *ts = tcase_create("signals");
	tcase_set_timeout(ts, 120);
	tcase_add_test(ts, ao_malloc_from_a_timer_signal_handler);
	suite_add_tcase(s, ts);
	return s;
}

int main(void)
{
	return run_suite(ao_suite());
}
