/* test_repair.c -- a process dies holding a shared heap's lock, leaving the
 * heap half written; the next locker gets the lock back (robust mutex) and
 * heap_repair makes the heap whole again; and a waiter whose wakeup a death
 * lost still gets the lock. */
#include <linux/futex.h>
#include <pthread.h>
#include <semaphore.h>
#include <signal.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "unit.h"
#include "../asleep.h"

#define MIB ((size_t)1 << 20)

static struct heap *h;

static void setup(void)
{
	void *base = mmap(NULL, 16 * MIB, PROT_READ | PROT_WRITE,
	    MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	ck_assert_ptr_ne(base, MAP_FAILED);
	h = heap_format(base, 16 * MIB, HEAP_F_SHARED, true);
	ck_assert(h->lock.robust);
	/* As ph_heap_create does: listed in the registry (so that fork's
	 * child lists itself in procs) and attached (procs), which is how a
	 * waiter tells a user holding the lock from a stranger. */
	ck_assert_int_eq(registry_add(h), 0);
	heap_proc_attach(h);
}

static void teardown(void)
{
	registry_remove(h);
	munmap(h, h->size);
}

/* Runs damage() in a child that takes the lock and dies holding it; then
 * takes the lock here, which must repair, and checks the heap. */
static void die_holding_lock(void (*damage)(void))
{
	uint64_t repairs = h->stats.nrepairs;
	pid_t pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		heap_lock(h);
		damage();
		_exit(0);   /* without unlocking */
	}
	int st;
	ck_assert_int_eq(waitpid(pid, &st, 0), pid);
	/* The seqlock (what phstat reads) says a holder is inside, and stays
	 * odd and grows when the next one takes over. */
	uint64_t dead = atomic_load(&h->lock_seq);
	ck_assert_uint_eq(dead % 2, 1);
	heap_lock(h);
	uint64_t held = atomic_load(&h->lock_seq);
	ck_assert_uint_eq(held % 2, 1);
	ck_assert_uint_gt(held, dead);
	heap_unlock(h);
	ck_assert_uint_eq(atomic_load(&h->lock_seq), held + 1);
	ck_assert_uint_eq(h->stats.nrepairs, repairs + 1);
	unit_validate(h);
	/* And it still works. */
	void *p[200];
	for (int i = 0; i < 200; i++)
		ck_assert_ptr_nonnull(p[i] = heap_malloc(h, 1 + i * 97, false));
	for (int i = 0; i < 200; i++)
		heap_free(h, p[i]);
	unit_validate(h);
}

static uint32_t big[3];

static void make_three_large(void)
{
	for (int i = 0; i < 3; i++)
		big[i] = page_index(h, heap_malloc(h, 5 * PAGE, false));
	ck_assert_uint_eq(big[1], big[0] + 5);
}

static void damage_nothing(void)
{
}

START_TEST(clean_death_is_repaired_too)
{
	die_holding_lock(damage_nothing);
}
END_TEST

/* A free that died after publishing but before coalescing: two free runs
 * side by side, neither on its list. */
static void damage_uncoalesced(void)
{
	struct page *pm = heap_pages(h);
	struct page e = { .kind = PAGE_FREE, .span = 5 };
	pm[big[1]].word = e.word;
}

START_TEST(free_that_died_before_coalescing)
{
	make_three_large();
	heap_free(h, page_addr(h, big[0]));
	/* page_validate, right after the repair, fails on adjacent free runs;
	 * so it passing means they were merged. */
	die_holding_lock(damage_uncoalesced);
}
END_TEST

/* An allocation that died after writing the rest's head, before shortening
 * the run: a head entry inside a free run. */
static void damage_split_half_done(void)
{
	struct page *pm = heap_pages(h);
	uint32_t first = h->runs[NRUNCLASSES - 1] ? h->runs[NRUNCLASSES - 1] :
	    h->hwm;
	struct page e = { .kind = PAGE_FREE, .span = 3 };
	pm[first + 7].word = e.word;
	memset(h->runs, 0, sizeof(h->runs));
	memset(h->runmap, 0, sizeof(h->runmap));
}

START_TEST(alloc_that_died_mid_split)
{
	make_three_large();
	die_holding_lock(damage_split_half_done);
}
END_TEST

static void damage_counts(void)
{
	h->stats.active_pages += 1000;
	h->stats.allocated = 12345;
	memset(h->bins, 0, sizeof(h->bins));
}

START_TEST(counts_and_bins_are_rebuilt)
{
	for (int i = 0; i < 5000; i++)
		heap_malloc(h, 16 + (size_t)(i % 300), false);
	die_holding_lock(damage_counts);
}
END_TEST

static uint16_t *victim;

static void damage_chain(void)
{
	*victim = (uint16_t)(5000 ^ (uint16_t)h->free_key);
}

START_TEST(broken_slab_chain_is_cut)
{
	void *a = heap_malloc(h, 64, false), *b = heap_malloc(h, 64, false);
	heap_malloc(h, 64, false);
	heap_free(h, a);
	heap_free(h, b);
	victim = b;   /* b heads the chain; its link now points nowhere */
	die_holding_lock(damage_chain);
}
END_TEST

static void damage_cache_list(void)
{
	h->tcaches = 12345;
}

START_TEST(bad_cache_list_is_cut)
{
	die_holding_lock(damage_cache_list);
	ck_assert_uint_eq(h->tcaches, 0);
}
END_TEST

/* A wakeup lost to a death: the holder's lock word goes to 0 without the
 * sleeping waiter being woken, as when a process is killed between
 * releasing the mutex and waking (the kernel then sees a lock that is not
 * its own and leaves it).  The waiter must still get the lock, one wait
 * slice later (lock.c), not sleep for ever. */
START_TEST(waiter_of_a_lost_wakeup_gets_the_lock)
{
	enum { HELD = 1, GO = 2, GOT = 3 };
	volatile uint32_t *st = mmap(NULL, 4096, PROT_READ | PROT_WRITE,
	    MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	ck_assert_ptr_ne((void *)st, MAP_FAILED);
	_Atomic uint32_t *word = (_Atomic uint32_t *)&h->lock.mtx;   /* glibc */
	pid_t holder = fork();
	ck_assert_int_ge(holder, 0);
	if (holder == 0) {
		heap_lock(h);
		*st = HELD;
		while (*st != GO)
			usleep(1000);
		atomic_store(word, 0);   /* released, nobody woken */
		_exit(0);
	}
	while (*st != HELD)
		usleep(1000);
	pid_t waiter = fork();
	ck_assert_int_ge(waiter, 0);
	if (waiter == 0) {
		heap_lock(h);
		*st = GOT;
		heap_unlock(h);
		_exit(0);
	}
	/* The waiter has said it sleeps (the kernel's waiters bit, which
	 * glibc sets in the word), and sleeps: then the word goes to 0. */
	while (!(atomic_load(word) & FUTEX_WAITERS))
		usleep(1000);
	wait_until_asleep(waiter, waiter);
	*st = GO;
	int status;
	ck_assert_int_eq(waitpid(holder, &status, 0), holder);
	/* A waiter that slept on would hang here, and the timeout name it. */
	ck_assert_int_eq(waitpid(waiter, &status, 0), waiter);
	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
	    "waiter status %#x", status);
	ck_assert_uint_eq(*st, GOT);
	ck_assert_uint_eq(h->stats.nrepairs, 0);   /* nobody died holding it */
	heap_lock(h);
	heap_unlock(h);
	unit_validate(h);
	munmap((void *)st, 4096);
}
END_TEST

/* ---- locks that cannot hang a waiter (issue 14) -----------------------------
 * A robust lock's word that names a thread that will never release it --
 * one that does not exist, or a live thread of a process that is not a user
 * of the heap -- is taken over as the kernel marks a dead owner's, and the
 * taker repairs.  A user that holds it is waited for, with the waiter's
 * signals delivered every wait slice (lock.c). */

static void lock_word_set(int word)
{
	atomic_store((_Atomic int *)&h->lock.mtx, word);   /* glibc */
}

static void take_over_and_check(int word)
{
	uint64_t repairs = h->stats.nrepairs;
	lock_word_set(word);
	heap_lock(h);   /* a hang here is the bug: the timeout names it */
	heap_unlock(h);
	ck_assert_uint_eq(h->stats.nrepairs, repairs + 1);
	unit_validate(h);
	void *p = heap_malloc(h, 100, false);
	ck_assert_ptr_nonnull(p);
	heap_free(h, p);
}

START_TEST(lock_of_a_thread_that_is_gone_is_taken_over)
{
	pid_t gone = fork();
	ck_assert_int_ge(gone, 0);
	if (gone == 0)
		_exit(0);
	ck_assert_int_eq(waitpid(gone, NULL, 0), gone);
	take_over_and_check(gone);                      /* a copied file */
	take_over_and_check(gone | FUTEX_WAITERS);      /* ... with waiters */
	take_over_and_check((int)FUTEX_WAITERS);        /* waiters, no owner */
}
END_TEST

START_TEST(lock_of_a_stranger_is_taken_over)
{
	/* TID 1 lives (init) but never attached to this heap. */
	take_over_and_check(1);
}
END_TEST

/* Handshakes by blocking calls, never by polling with a sleep: the
 * handler posts a semaphore (async-signal-safe), the waiter thread posts
 * its TID, the holder process and the test trade bytes on pipes. */
static sem_t handled;
static void note_signal(int sig)
{
	(void)sig;
	sem_post(&handled);
}

static pid_t waiter_tid;
static sem_t waiter_started;
static void *lock_waiter(void *arg)
{
	(void)arg;
	waiter_tid = (pid_t)syscall(SYS_gettid);
	sem_post(&waiter_started);
	heap_lock(h);
	heap_unlock(h);
	return NULL;
}

START_TEST(lock_of_a_user_is_waited_for_with_signals_delivered)
{
	int held[2], go[2];
	ck_assert_int_eq(pipe(held), 0);
	ck_assert_int_eq(pipe(go), 0);
	ck_assert_int_eq(sem_init(&handled, 0, 0), 0);
	ck_assert_int_eq(sem_init(&waiter_started, 0, 0), 0);
	struct sigaction sa = { .sa_handler = note_signal };
	ck_assert_int_eq(sigaction(SIGUSR1, &sa, NULL), 0);
	uint64_t repairs = h->stats.nrepairs;
	pid_t holder = fork();   /* a user: fork's child lists itself */
	ck_assert_int_ge(holder, 0);
	if (holder == 0) {
		char c = 'h';
		heap_lock(h);
		if (write(held[1], &c, 1) != 1 || read(go[0], &c, 1) != 1)
			_exit(1);
		heap_unlock(h);
		_exit(0);
	}
	char c;
	ck_assert_int_eq(read(held[0], &c, 1), 1);   /* it holds the lock */
	pthread_t t;
	ck_assert_int_eq(pthread_create(&t, NULL, lock_waiter, NULL), 0);
	while (sem_wait(&waiter_started) != 0)
		continue;   /* EINTR */
	/* Signal the waiter until its handler has run three times, all while
	 * the holder still holds the lock: a wait that blocked signals until
	 * the lock came would never let this loop end. */
	for (int n = 1; n <= 3; n++) {
		wait_until_asleep(getpid(), waiter_tid);
		pthread_kill(t, SIGUSR1);
		while (sem_wait(&handled) != 0)
			continue;   /* EINTR */
	}
	/* the user was not robbed: it still holds the lock, the waiter waits */
	ck_assert_int_eq(waitpid(holder, NULL, WNOHANG), 0);
	ck_assert_int_eq(write(go[1], "g", 1), 1);
	ck_assert_int_eq(pthread_join(t, NULL), 0);
	int status;
	ck_assert_int_eq(waitpid(holder, &status, 0), holder);
	ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	ck_assert_uint_eq(h->stats.nrepairs, repairs);
	unit_validate(h);
	sem_destroy(&handled);
	sem_destroy(&waiter_started);
	for (int i = 0; i < 2; i++) {
		close(held[i]);
		close(go[i]);
	}
}
END_TEST

/* A forked child that checks without Check exits with the number of the
 * step that failed: reaps it and fails the test with that number. */
static void child_passed(pid_t pid)
{
	int st;
	ck_assert_int_eq(waitpid(pid, &st, 0), pid);
	ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0,
	    "the child failed at step %d (status %#x)",
	    WIFEXITED(st) ? WEXITSTATUS(st) : -1, st);
}

/* ---- fork while another thread is inside a locked section -------------------
 * Nothing is locked before fork (registry.c): the child finds the private
 * heap's lock held by a thread it does not have, with the update half
 * done, and must clear the lock and repair the heap.  Before, the prepare
 * handler waited for the lock, and this test hung. */
struct holder {
	int go[2], done[2];   /* pipes: "locked and damaged", "let go" */
};

static void *hold_lock_mid_update(void *arg)
{
	struct holder *w = arg;
	char c = 'x';
	heap_lock(h);
	damage_split_half_done();
	if (write(w->go[1], &c, 1) != 1 || read(w->done[0], &c, 1) != 1)
		abort();
	heap_repair(h);   /* its update, finished */
	heap_unlock(h);
	return NULL;
}

START_TEST(fork_while_another_thread_holds_a_private_heaps_lock)
{
	h = unit_heap(16 * MIB, 0);
	ck_assert(!h->lock.robust);
	ck_assert_int_eq(registry_add(h), 0);   /* the fork handler's list */
	make_three_large();
	struct holder w;
	ck_assert_int_eq(pipe(w.go), 0);
	ck_assert_int_eq(pipe(w.done), 0);
	pthread_t t;
	ck_assert_int_eq(pthread_create(&t, NULL, hold_lock_mid_update, &w), 0);
	char c;
	ck_assert_int_eq(read(w.go[0], &c, 1), 1);
	ck_assert(lock_held(&h->lock));
	uint64_t repairs = h->stats.nrepairs;
	pid_t pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		/* No Check here: exit with the number of the failed step. */
		char why[256];
		if (lock_held(&h->lock))
			_exit(1);
		if (h->stats.nrepairs != repairs + 1)
			_exit(2);
		if (heap_validate(h, why, sizeof(why)) != 0)
			_exit(3);
		void *p[100];
		for (int i = 0; i < 100; i++)
			if ((p[i] = heap_malloc(h, 1 + i * 197, false)) == NULL)
				_exit(4);
		for (int i = 0; i < 100; i++)
			heap_free(h, p[i]);
		_exit(heap_validate(h, why, sizeof(why)) != 0 ? 5 : 0);
	}
	child_passed(pid);
	ck_assert_int_eq(write(w.done[1], "x", 1), 1);
	pthread_join(t, NULL);
	unit_validate(h);
	registry_remove(h);
	unit_heap_free(h);
}
END_TEST

/* Another thread of the parent may be anywhere inside a refill or a flush
 * when the fork comes, with a block in its cache and on its slab at once
 * (the lock held or not).  The child gives back such a thread's cache
 * checked block by block, as a dead process's: the block is not freed a
 * second time (trusted, it was: "double free" in the child, once in
 * about 1,000 forks while three threads allocated). */
struct half_moved {
	int go[2], done[2];
	void *block;   /* in this thread's cache and free in its slab */
};

static void *cache_a_free_block(void *arg)
{
	struct half_moved *w = arg;
	char c = 'x';
	struct heap *a = heap_for_malloc();
	/* Through the cache (a refill fills its bin); NULL: no caches here. */
	void *p = tcache_alloc(a, size2class(64));
	void *q = NULL;
	/* The top block of this thread's bin of 64 B, also freed to its
	 * slab, as a flush cut short after the slab took it. */
	struct tslot *t = &tthread.slots[0];
	if (p != NULL && t->heap == a && t->tc != NULL) {
		struct tcache_bin *b = &t->tc->bins[size2bin(64)];
		if (b->top > b->lo) {
			/* Off the bin for heap_free (which refuses a block
			 * this thread caches), then back on it. */
			q = tcache_block(a, t->tc->slots[--b->top]);
			heap_free(a, q);
			b->top++;
		}
	}
	w->block = q;
	if (write(w->go[1], &c, 1) != 1 || read(w->done[0], &c, 1) != 1)
		abort();
	/* Leave the cache as the flush would have: without that block. */
	if (q != NULL)
		t->tc->bins[size2bin(64)].top--;
	if (p != NULL)
		heap_free(a, p);
	return NULL;
}

START_TEST(fork_child_checks_the_caches_of_the_parents_other_threads)
{
	struct half_moved w = { 0 };
	ck_assert_int_eq(pipe(w.go), 0);
	ck_assert_int_eq(pipe(w.done), 0);
	pthread_t t;
	ck_assert_int_eq(pthread_create(&t, NULL, cache_a_free_block, &w), 0);
	char c;
	ck_assert_int_eq(read(w.go[0], &c, 1), 1);
	if (w.block == NULL) {   /* no caches in this build (or memcheck) */
		ck_assert_int_eq(write(w.done[1], "x", 1), 1);
		pthread_join(t, NULL);
		return;
	}
	fflush(NULL);
	pid_t pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		/* Every block of 64 B handed out at most once, and the heap
		 * whole: no Check here, the step that failed is the status. */
		struct heap *a = heap_for_malloc();
		char why[256];
		if (heap_validate(a, why, sizeof(why)) != 0)
			_exit(1);
		enum { N = 3000 };
		static void *got[N];
		for (int i = 0; i < N; i++) {
			got[i] = heap_malloc(a, 64, false);
			if (got[i] == NULL)
				_exit(2);
			for (int k = 0; k < i; k++)
				if (got[k] == got[i])
					_exit(3);
		}
		for (int i = 0; i < N; i++)
			heap_free(a, got[i]);
		_exit(heap_validate(a, why, sizeof(why)) != 0 ? 4 : 0);
	}
	child_passed(pid);
	ck_assert_int_eq(write(w.done[1], "x", 1), 1);
	pthread_join(t, NULL);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("repair");
	TCase *tc = tcase_create("repair");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, clean_death_is_repaired_too);
	tcase_add_test(tc, free_that_died_before_coalescing);
	tcase_add_test(tc, alloc_that_died_mid_split);
	tcase_add_test(tc, counts_and_bins_are_rebuilt);
	tcase_add_test(tc, broken_slab_chain_is_cut);
	tcase_add_test(tc, bad_cache_list_is_cut);
	tcase_add_test(tc, waiter_of_a_lost_wakeup_gets_the_lock);
	tcase_add_test(tc, lock_of_a_thread_that_is_gone_is_taken_over);
	tcase_add_test(tc, lock_of_a_stranger_is_taken_over);
	tcase_add_test(tc, lock_of_a_user_is_waited_for_with_signals_delivered);
	suite_add_tcase(s, tc);
	TCase *tf = tcase_create("fork");
	tcase_set_timeout(tf, 30);
	tcase_add_test(tf, fork_while_another_thread_holds_a_private_heaps_lock);
	tcase_add_test(tf, fork_child_checks_the_caches_of_the_parents_other_threads);
	suite_add_tcase(s, tf);
	return unit_run(s);
}
