/*
 * test_concurrency.c -- thread caches under threads, signals and fork:
 * a signal handler that allocates while the thread it interrupts does too,
 * thread exit, bounded caches, reset against cached blocks, cross-thread
 * frees, and fork while other threads allocate.
 */
#include <check.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include <phmalloc.h>

#include "../integration/testutil.h"   /* P_, MIB, have_stats */

/* ---- signals --------------------------------------------------------------- */

enum { SIG_RING = 64 };
static void *sig_ring[SIG_RING];
static volatile sig_atomic_t sig_count, sig_bad;
static volatile long main_ops;   /* the main loop's progress */

static void on_alarm(int sig)
{
	(void)sig;
	/* Where a handler takes longer than the timer's period (sanitizers,
	 * a loaded machine), the next signal is pending when it returns and
	 * the main loop would starve: work only once main has moved on. */
	static long seen = -1;
	if (main_ops == seen)
		return;
	seen = main_ops;
	int saved = errno;
	unsigned i = (unsigned)sig_count % SIG_RING;
	/* Unbalanced on purpose: keep a ring of blocks across signals. */
	if (sig_ring[i]) {
		if (((unsigned char *)sig_ring[i])[0] != (i & 0xff))
			sig_bad = 1;
		P_(free)(sig_ring[i]);
	}
	size_t size = 8 + (size_t)(sig_count * 37) % 3000;
	sig_ring[i] = P_(malloc)(size);
	if (sig_ring[i] == NULL)
		sig_bad = 1;
	else
		memset(sig_ring[i], (int)(i & 0xff), size);
	void *tmp = P_(calloc)(1, 200);
	P_(free)(P_(realloc)(tmp, 5000));
	sig_count++;
	errno = saved;
}

START_TEST(signal_handler_allocates_while_main_loop_does)
{
	struct sigaction sa = { .sa_handler = on_alarm, .sa_flags = SA_RESTART };
	sigemptyset(&sa.sa_mask);
	ck_assert_int_eq(sigaction(SIGALRM, &sa, NULL), 0);
	struct itimerval it = { { 0, 20 }, { 0, 20 } };   /* as fast as it goes */
	ck_assert_int_eq(setitimer(ITIMER_REAL, &it, NULL), 0);
	enum { RING = 256, MIN_OPS = 300000, MIN_SIGNALS = 1000 };
	unsigned char *ring[RING] = { 0 };
	long ops = 0, bad = 0;
	/* Until both loops have done their share, however the timer and the
	 * scheduler share the CPU between them (a count, never a time).
	 * No ck_assert in the loop: each passing one costs Check a write. */
	for (; (ops < MIN_OPS || sig_count < MIN_SIGNALS) && bad == 0;
	    ops++, main_ops = ops) {
		unsigned i = (unsigned)(ops * 7919) % RING;
		if (ring[i]) {
			bad += ring[i][0] != (i & 0xff);
			P_(free)(ring[i]);
		}
		size_t size = 1 + (size_t)(ops * 31) % (ops % 64 == 0 ? 40000 : 500);
		ring[i] = P_(malloc)(size);
		if (ring[i] == NULL)
			bad++;
		else
			ring[i][0] = (unsigned char)(i & 0xff);
	}
	ck_assert_msg(bad == 0, "main loop: block lost or changed at op %ld",
	    ops);
	struct itimerval off = { { 0, 0 }, { 0, 0 } };
	setitimer(ITIMER_REAL, &off, NULL);
	printf("signals: %d handler runs during %ld operations\n",
	    (int)sig_count, ops);
	ck_assert_int_eq(sig_bad, 0);
	ck_assert_int_ge(sig_count, MIN_SIGNALS);
	for (int i = 0; i < RING; i++)
		P_(free)(ring[i]);
	for (int i = 0; i < SIG_RING; i++)
		P_(free)(sig_ring[i]);
	ck_assert_int_eq(ph_heap_check(ph_heap_default()), 0);
}
END_TEST

/* ---- thread caches ------------------------------------------------------------ */

static ph_heap_t *make_heap(size_t size)
{
	void *r = mmap(NULL, size, PROT_READ | PROT_WRITE,
	    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ck_assert_ptr_ne(r, MAP_FAILED);
	ph_heap_t *h = ph_heap_create(r, size, PH_HEAP_ZEROED);
	ck_assert_ptr_nonnull(h);
	return h;
}

static void drop_heap(ph_heap_t *h, size_t size)
{
	ck_assert_int_eq(ph_heap_detach(h), 0);
	munmap(h, size);
}

static size_t fill_count(ph_heap_t *h, size_t size)
{
	size_t n = 0;
	void **keep = malloc(sizeof(void *) * 100000);
	while (n < 100000 && (keep[n] = ph_heap_malloc(h, size)) != NULL)
		n++;
	for (size_t i = 0; i < n; i++)
		ph_heap_free(h, keep[i]);
	free(keep);
	return n;
}

static void *cache_some(void *arg)
{
	ph_heap_t *h = arg;
	void *p[300];
	/* The size fill_count uses: a slab a bin keeps is no loss. */
	for (int i = 0; i < 300; i++)
		p[i] = ph_heap_malloc(h, 1000);
	for (int i = 0; i < 300; i++)
		ph_heap_free(h, p[i]);
	return NULL;
}

START_TEST(thread_exit_gives_its_cache_back)
{
	ph_heap_t *h = make_heap(1 * MIB);
	size_t before = fill_count(h, 1000);
	pthread_t t;
	pthread_create(&t, NULL, cache_some, h);
	pthread_join(t, NULL);
	/* Nothing stayed behind in the dead thread's cache. */
	ck_assert_uint_eq(fill_count(h, 1000), before);
	ck_assert_int_eq(ph_heap_check(h), 0);
	drop_heap(h, 1 * MIB);
}
END_TEST

START_TEST(caches_stay_bounded)
{
	ph_heap_t *h = make_heap(16 * MIB);
	struct ph_heap_stats s0, s1, s2;
	ph_heap_stats(h, &s0);
	enum { N = 20000 };
	void **p = malloc(N * sizeof(void *));
	for (int i = 0; i < N; i++)
		p[i] = ph_heap_malloc(h, 16);
	ph_heap_stats(h, &s1);
	ck_assert_uint_eq(s1.allocated - s0.allocated, have_stats() ?
	    (size_t)N * 16 : 0);
	for (int i = 0; i < N; i++)
		ph_heap_free(h, p[i]);
	ph_heap_stats(h, &s2);
	ck_assert_uint_eq(s2.allocated, s0.allocated);
	/* 20000 freed blocks: the cache kept a few hundred at most, the
	 * slabs got the rest back and gave their pages back too. */
	ck_assert_uint_lt(s2.active - s0.active, 64 * 1024);
	ck_assert_uint_gt(s1.active - s0.active, (size_t)N * 16);
	free(p);
	drop_heap(h, 16 * MIB);
}
END_TEST

static ph_heap_t *shared_h;
static void *after_reset[2][2000];
static pthread_barrier_t bar;

static void *alloc_across_reset(void *arg)
{
	int me = (int)(intptr_t)arg;
	void *p[500];
	for (int i = 0; i < 500; i++)
		p[i] = ph_heap_malloc(shared_h, 64);
	for (int i = 0; i < 500; i++)
		ph_heap_free(shared_h, p[i]);   /* now cached */
	pthread_barrier_wait(&bar);         /* main resets */
	pthread_barrier_wait(&bar);
	for (int i = 0; i < 2000; i++) {
		after_reset[me][i] = ph_heap_malloc(shared_h, 64);
		memset(after_reset[me][i], me + 1, 64);
	}
	return NULL;
}

START_TEST(reset_drops_cached_blocks_in_every_thread)
{
	shared_h = make_heap(8 * MIB);
	pthread_barrier_init(&bar, NULL, 3);
	pthread_t t[2];
	for (int i = 0; i < 2; i++)
		pthread_create(&t[i], NULL, alloc_across_reset, (void *)(intptr_t)i);
	pthread_barrier_wait(&bar);
	ph_heap_reset(shared_h);
	pthread_barrier_wait(&bar);
	for (int i = 0; i < 2; i++)
		pthread_join(t[i], NULL);
	/* No block was handed out twice: each holds its owner's bytes. */
	for (int me = 0; me < 2; me++)
		for (int i = 0; i < 2000; i++)
			for (int k = 0; k < 64; k++)
				ck_assert_uint_eq(((unsigned char *)
				    after_reset[me][i])[k], me + 1);
	ck_assert_int_eq(ph_heap_check(shared_h), 0);
	pthread_barrier_destroy(&bar);
	drop_heap(shared_h, 8 * MIB);
}
END_TEST

/* ---- cross-thread frees ------------------------------------------------------- */

enum { QLEN = 1024 };
static _Atomic(uint64_t *) queue[QLEN];
static _Atomic int producers_done;

static void *producer(void *arg)
{
	uint64_t tag = (uint64_t)(intptr_t)arg;
	for (int i = 0; i < 400000; i++) {
		size_t size = 16 + (size_t)(i * 13) % 600;
		uint64_t *b = P_(malloc)(size);
		b[0] = tag;
		b[1] = size;
		unsigned slot = (unsigned)(i * 31 + tag) % QLEN;
		uint64_t *old = atomic_exchange(&queue[slot], b);
		if (old) {
			ck_assert(old[0] == 1 || old[0] == 2);
			P_(free)(old);
		}
	}
	atomic_fetch_add(&producers_done, 1);
	return NULL;
}

START_TEST(blocks_freed_by_other_threads)
{
	pthread_t t[2];
	for (int i = 0; i < 2; i++)
		pthread_create(&t[i], NULL, producer, (void *)(intptr_t)(i + 1));
	for (int i = 0; i < 2; i++)
		pthread_join(t[i], NULL);
	for (int i = 0; i < QLEN; i++)
		P_(free)(atomic_exchange(&queue[i], NULL));
	ck_assert_int_eq(ph_heap_check(ph_heap_default()), 0);
}
END_TEST

/* ---- a handler's frees while the thread empties its outbox ------------------- */

/* The main thread frees blocks of another arena from a timer handler
 * (into its cache's outbox) while it flushes its caches in a loop, which
 * empties the outbox: no block may be lost or given back twice. */
enum { OB_N = 20000 };
static void *ob_blocks[OB_N];
static volatile sig_atomic_t ob_next;

static void on_alarm_free(int sig)
{
	(void)sig;
	for (int k = 0; k < 8 && ob_next < OB_N; k++)
		P_(free)(ob_blocks[ob_next++]);
}

static void *ob_alloc(void *arg)
{
	unsigned zero = 0;
	(void)arg;
	P_(mallctl)("thread.arena", NULL, NULL, &zero, sizeof(zero));
	for (int i = 0; i < OB_N; i++)
		ob_blocks[i] = P_(malloc)(16 + (size_t)(i % 40) * 8);
	return NULL;
}

static size_t ob_allocated(void)
{
	uint64_t e = 1;
	size_t v = 0, len = sizeof(v);
	P_(mallctl)("epoch", NULL, NULL, &e, sizeof(e));
	P_(mallctl)("stats.allocated", &v, &len, NULL, 0);
	return v;
}

START_TEST(handler_frees_while_the_outbox_is_emptied)
{
	unsigned n = 0, last;
	size_t len = sizeof(n);
	ck_assert_int_eq(P_(mallctl)("arenas.narenas", &n, &len, NULL, 0), 0);
	last = n - 1;   /* the main thread in another arena than ob_alloc's */
	ck_assert_int_eq(P_(mallctl)("thread.arena", NULL, NULL, &last,
	    sizeof(last)), 0);
	P_(free)(P_(malloc)(16));   /* this thread's cache exists */
	size_t before = ob_allocated();
	pthread_t t;
	pthread_create(&t, NULL, ob_alloc, NULL);
	pthread_join(t, NULL);
	ob_next = 0;
	struct sigaction sa = { .sa_handler = on_alarm_free,
	    .sa_flags = SA_RESTART };
	sigemptyset(&sa.sa_mask);
	ck_assert_int_eq(sigaction(SIGALRM, &sa, NULL), 0);
	struct itimerval it = { { 0, 20 }, { 0, 20 } };
	ck_assert_int_eq(setitimer(ITIMER_REAL, &it, NULL), 0);
	while (ob_next < OB_N)
		P_(mallctl)("thread.tcache.flush", NULL, NULL, NULL, 0);
	struct itimerval off = { { 0, 0 }, { 0, 0 } };
	setitimer(ITIMER_REAL, &off, NULL);
	P_(mallctl)("thread.tcache.flush", NULL, NULL, NULL, 0);
	/* Every block freed came back (statistics drain the remote lists). */
	ck_assert_uint_eq(ob_allocated(), before);
	ck_assert_int_eq(ph_heap_check(ph_heap_default()), 0);
}
END_TEST

/* ---- fork while other threads allocate ------------------------------------------ */

static _Atomic int stop_churn;

static void *churn(void *arg)
{
	(void)arg;
	void *ring[64] = { 0 };
	for (unsigned i = 0; !atomic_load(&stop_churn); i++) {
		unsigned k = i % 64;
		P_(free)(ring[k]);
		ring[k] = P_(malloc)(16 + (i * 37) % (i % 50 ? 900 : 70000));
	}
	for (int k = 0; k < 64; k++)
		P_(free)(ring[k]);
	return NULL;
}

START_TEST(fork_while_threads_allocate)
{
	pthread_t t[3];
	atomic_store(&stop_churn, 0);
	for (int i = 0; i < 3; i++)
		pthread_create(&t[i], NULL, churn, NULL);
	for (int f = 0; f < 30; f++) {
		pid_t pid = fork();
		if (pid == 0) {
			alarm(20);   /* a deadlock ends as a failure, not a hang */
			void *p[1000];
			for (int i = 0; i < 1000; i++)
				p[i] = P_(malloc)((size_t)i * 11 + 1);
			for (int i = 0; i < 1000; i++)
				P_(free)(p[i]);
			_exit(ph_heap_check(ph_heap_default()) == 0 ? 0 : 3);
		}
		int st;
		ck_assert_int_eq(waitpid(pid, &st, 0), pid);
		ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0,
		    "child %d: status %#x", f, st);
		usleep(1000);
	}
	atomic_store(&stop_churn, 1);
	for (int i = 0; i < 3; i++)
		pthread_join(t[i], NULL);
}
END_TEST

START_TEST(mallocx_without_cache)
{
	void *p = P_(mallocx)(100, MALLOCX_TCACHE_NONE);
	ck_assert_ptr_nonnull(p);
	ck_assert_uint_eq(P_(sallocx)(p, 0), 112);
	P_(dallocx)(p, MALLOCX_TCACHE_NONE);
	ck_assert_int_eq(ph_heap_check(ph_heap_default()), 0);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("concurrency");
	TCase *tc = tcase_create("caches");
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, signal_handler_allocates_while_main_loop_does);
	tcase_add_test(tc, thread_exit_gives_its_cache_back);
	tcase_add_test(tc, caches_stay_bounded);
	tcase_add_test(tc, reset_drops_cached_blocks_in_every_thread);
	tcase_add_test(tc, blocks_freed_by_other_threads);
	tcase_add_test(tc, handler_frees_while_the_outbox_is_emptied);
	tcase_add_test(tc, fork_while_threads_allocate);
	tcase_add_test(tc, mallocx_without_cache);
	suite_add_tcase(s, tc);
	return run_suite(s);
}
