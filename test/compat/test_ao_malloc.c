/*
 * test_ao_malloc.c -- <phmalloc/ao_malloc.h>: AO_malloc, AO_free and
 * AO_malloc_enable_mmap in normal use, at the edges, with bad input, and
 * from a timer signal handler firing at 20 kHz while the interrupted thread
 * itself allocates (a million operations, every block's contents checked)
 * and another thread contends for the heap lock; and with the handler's
 * work run after every instruction of the main thread's calls (the trap
 * flag, x86-64 Linux).
 */
#include <pthread.h>
#include <stdatomic.h>
#include <sys/syscall.h>
#include <sys/time.h>

#include <phmalloc/ao_malloc.h>

#include "../integration/testutil.h"
#include "../trapflag.h"

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
#define MAIN_OPS     200000
#define TICK_US      50          /* 20 kHz */
#define MIN_TICKS    2000

struct slot {
	void      *p;
	size_t     len;
	uint64_t   seed;
	ph_heap_t *heap;   /* ph_heap_malloc's heap, or NULL: AO_malloc's */
};

/* Allocates s's block (of s->len) in heap hp, or with AO_malloc. */
static void *slot_alloc(struct slot *s, ph_heap_t *hp)
{
	s->heap = hp;
	return s->p = hp != NULL ? ph_heap_malloc(hp, s->len) :
	    AO_malloc(s->len);
}

/* Frees s's block through the family that made it. */
static void slot_free(const struct slot *s)
{
	if (s->heap != NULL)
		ph_heap_free(s->heap, s->p);
	else
		AO_free(s->p);
}

static struct slot sig_ring[SIG_RING];
static volatile sig_atomic_t in_ao;          /* main is inside AO_* */
static volatile sig_atomic_t stop_ticks;
static _Atomic unsigned long ticks, ticks_inside, sig_ops;
static volatile sig_atomic_t sig_error;      /* 0, or what went wrong */
static _Atomic bool worker_stop;

static long main_tid;                        /* the only thread with ticks */

enum { ERR_NULL = 1, ERR_CONTENT, ERR_ALIGN, ERR_THREAD };
static const char *const err_what[] = { "", "AO_malloc gave NULL",
    "a block's contents changed", "a block is misaligned",
    "a tick ran on another thread" };

static size_t sig_len(uint64_t n)
{
	if (n % 97 == 0)
		return 20000 + (size_t)(n % 50000);   /* large: locked path */
	return 1 + (size_t)((n * 131) % 1500);
}

/* A handler's operation n on its ring slot s: checks and frees the block
 * there, allocates one of sig_len(n) (in heap hp, or with AO_malloc) and
 * fills it with pattern seed.  Records the first failure in sig_error;
 * false if it allocated nothing. */
static bool handler_op(struct slot *s, uint64_t n, uint64_t seed,
                       ph_heap_t *hp)
{
	if (s->p != NULL) {
		if (pat_find_bad_range(s->p, 0, s->len, s->seed) != SIZE_MAX &&
		    sig_error == 0)
			sig_error = ERR_CONTENT;
		slot_free(s);
	}
	s->len = sig_len(n);
	s->seed = seed;
	if (slot_alloc(s, hp) == NULL) {
		if (sig_error == 0)
			sig_error = ERR_NULL;
		return false;
	}
	if (!is_aligned(s->p, MIN_ALIGN) && sig_error == 0)
		sig_error = ERR_ALIGN;
	pat_fill(s->p, s->len, s->seed);
	return true;
}

static void on_tick(int sig)
{
	int saved = errno;
	if (syscall(SYS_gettid) != main_tid && sig_error == 0)
		sig_error = ERR_THREAD;   /* two handlers would share the ring */
	unsigned long t = atomic_fetch_add_explicit(&ticks, 1,
	    memory_order_relaxed);
	if (in_ao)
		atomic_fetch_add_explicit(&ticks_inside, 1,
		    memory_order_relaxed);
	for (unsigned k = 0; k < SIG_OPS_TICK && !stop_ticks; k++) {
		uint64_t n = (uint64_t)t * SIG_OPS_TICK + k;
		if (handler_op(&sig_ring[n % SIG_RING], n,
		    n + (UINT64_C(1) << 40), NULL))
			atomic_fetch_add_explicit(&sig_ops, 1,
			    memory_order_relaxed);
	}
	errno = saved;
}

/* Allocates and frees alongside, so that the locked path is contended.
 * It pauses now and then: a core of its own all the time would slow the
 * tests running next to it.  Started by worker_start, with SIGALRM
 * blocked from its first instruction. */
static void *worker(void *arg)
{
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

/* SIGALRM stays with the main thread: the handler's ring is the main
 * thread's.  The worker inherits the mask at pthread_create, so it never
 * has SIGALRM open; blocking it in the worker itself would leave a window
 * before its first instruction in which the kernel may hand it a tick,
 * and two handlers would share the ring at once (which once made this
 * test fail under load, 1 run in 30). */
static pthread_t worker_start(void)
{
	sigset_t alrm, old;
	sigemptyset(&alrm);
	sigaddset(&alrm, SIGALRM);
	ck_assert_int_eq(pthread_sigmask(SIG_BLOCK, &alrm, &old), 0);
	atomic_store(&worker_stop, false);
	pthread_t t;
	ck_assert_int_eq(pthread_create(&t, NULL, worker, NULL), 0);
	ck_assert_int_eq(pthread_sigmask(SIG_SETMASK, &old, NULL), 0);
	return t;
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
	main_tid = syscall(SYS_gettid);
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_tick;
	sa.sa_flags = SA_RESTART;
	sigemptyset(&sa.sa_mask);
	ck_assert_int_eq(sigaction(SIGALRM, &sa, NULL), 0);
	pthread_t tw = worker_start();

	static struct slot ring[MAIN_RING];
	uint64_t rng = 12345;
	timer_set(TICK_US);
	/* Until the main loop has done its share, MIN_TICKS ticks came and
	 * one of them interrupted an AO call: counts, never a time, so a
	 * slow or busy machine only takes longer. */
	unsigned long op = 0;
	for (; op < MAIN_OPS || atomic_load(&ticks) < MIN_TICKS ||
	    atomic_load(&ticks_inside) == 0; op++) {
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
			ck_abort_msg("handler failed: %s", err_what[sig_error]);
	}
	timer_set(0);
	stop_ticks = 1;
	atomic_store(&worker_stop, true);
	void *wres;
	ck_assert_int_eq(pthread_join(tw, &wres), 0);
	ck_assert_ptr_null(wres);
	ck_assert_msg(sig_error == 0, "handler failed: %s",
	    err_what[sig_error]);

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
	    "handler allocations, %lu main operations\n", nt, ni,
	    atomic_load(&sig_ops), op);
	ck_assert_uint_ge(nt, MIN_TICKS);
	ck_assert_msg(ni > 0, "no tick interrupted an AO call");
	ck_assert_int_eq(ph_heap_check(ph_heap_default()), 0);
}
END_TEST

/* ---- a signal at every instruction ---------------------------------------
 * The timer above lands where it happens to; this puts the handler's work
 * at every instruction boundary of the main thread's AO calls.  The trap
 * flag makes the CPU raise SIGTRAP after each instruction of the calls
 * (phmalloc never blocks SIGTRAP: os.c); the trap handler does what an
 * asynchronous handler would do there, unless the interrupted code had
 * SIGALRM blocked (a locked section), where a real signal would wait.
 */
#if defined(__x86_64__) && defined(__linux__)
#include <ucontext.h>
/* Under AddressSanitizer each call has about four times the instructions
 * (and every trap costs more): fewer calls. */
#if defined(__SANITIZE_ADDRESS__)
#define STEP_OPS  800
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define STEP_OPS  800
#endif
#endif
#ifndef STEP_OPS
#define STEP_OPS  4000
#endif
#define STEP_RING 512

static struct slot step_ring[STEP_RING];
static ph_heap_t *step_heap;   /* a shared heap: every other call */
#define STEP_HEAP_SIZE ((size_t)64 << 20)
static unsigned long steps, steps_masked, step_ops;
static bool step_handler_on;

static void on_step(int sig, siginfo_t *si, void *ctx)
{
	(void)sig;
	(void)si;
	const ucontext_t *uc = ctx;
	int saved = errno;
	steps++;
	if (sigismember(&uc->uc_sigmask, SIGALRM))
		steps_masked++;
	else if (step_handler_on) {
		uint64_t n = step_ops++;
		handler_op(&step_ring[n % STEP_RING], n,
		    n + (UINT64_C(1) << 41), n % 2 ? step_heap : NULL);
	}
	errno = saved;
}

START_TEST(ao_malloc_interrupted_at_every_instruction)
{
	AO_malloc_enable_mmap();
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = on_step;
	sa.sa_flags = SA_SIGINFO;
	sigfillset(&sa.sa_mask);
	ck_assert_int_eq(sigaction(SIGTRAP, &sa, NULL), 0);
	step_heap = ph_heap_create(map_range(STEP_HEAP_SIZE, true),
	    STEP_HEAP_SIZE, 0);
	ck_assert_ptr_nonnull(step_heap);
	pthread_t tw = worker_start();
	static struct slot ring[STEP_RING];
	uint64_t rng = 777;
	step_handler_on = true;
	for (unsigned long op = 0; op < STEP_OPS; op++) {
		struct slot *s = &ring[rng_below(&rng, STEP_RING)];
		if (s->p != NULL) {
			slot_check(s);
			trap_flag(true);
			slot_free(s);
			trap_flag(false);
		}
		/* mostly small, so that bins fill and empty; now and then
		 * a large block */
		s->len = op % 101 == 0 ? 16384 + rng_below(&rng, 50000) :
		    1 + rng_below(&rng, op % 3 == 0 ? 4000 : 300);
		s->seed = op;
		trap_flag(true);
		slot_alloc(s, op % 2 ? step_heap : NULL);
		trap_flag(false);
		ck_assert_msg(s->p != NULL, "%s(%zu) gave NULL", s->heap ?
		    "ph_heap_malloc" : "AO_malloc", s->len);
		pat_fill(s->p, s->len, s->seed);
		ck_assert_msg(sig_error == 0, "handler failed: %s at op %lu",
		    err_what[sig_error], op);
	}
	step_handler_on = false;
	atomic_store(&worker_stop, true);
	void *wres;
	ck_assert_int_eq(pthread_join(tw, &wres), 0);
	ck_assert_ptr_null(wres);
	for (unsigned i = 0; i < STEP_RING; i++) {
		if (ring[i].p != NULL) {
			slot_check(&ring[i]);
			slot_free(&ring[i]);
		}
		if (step_ring[i].p != NULL) {
			slot_check(&step_ring[i]);
			slot_free(&step_ring[i]);
		}
	}
	printf("ao_malloc: %lu instructions stepped, %lu with signals "
	    "blocked, %lu handler operations\n", steps, steps_masked,
	    step_ops);
	/* Every op stepped through some instructions with signals open. */
	ck_assert_uint_gt(step_ops, 2 * STEP_OPS);
	ck_assert_int_eq(ph_heap_check(ph_heap_default()), 0);
	ck_assert_int_eq(ph_heap_check(step_heap), 0);
	struct ph_heap_stats st;
	ck_assert_int_eq(ph_heap_stats(step_heap, &st), 0);
	ck_assert_uint_eq(st.allocated, 0);   /* every block came back */
	ck_assert_int_eq(ph_heap_detach(step_heap), 0);
}
END_TEST
#endif

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
#if defined(__x86_64__) && defined(__linux__)
	TCase *tt = tcase_create("steps");
	tcase_set_timeout(tt, 300);
	tcase_add_test(tt, ao_malloc_interrupted_at_every_instruction);
	suite_add_tcase(s, tt);
#endif
	return s;
}

int main(void)
{
	return run_suite(ao_suite());
}
