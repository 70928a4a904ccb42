/*
 * lock.c -- the locks of heaps.
 *
 * A futex lock for what one process uses: the word holds the owner's TID
 * (LOCK_WAITERS or-ed in when somebody sleeps), so re-entry from a signal
 * handler is caught and named instead of hanging.  A robust process-shared
 * pthread mutex for what several processes share: the kernel notices when
 * its owner dies and the next locker gets EOWNERDEAD.  Fast paths are inline
 * in base.h; this file is the rest.
 */
#include <errno.h>
#include <time.h>

#include "base.h"

#define LOCK_SPINS 64

void lock_init(struct lock *l, bool robust)
{
	atomic_store_explicit(&l->word, 0, memory_order_relaxed);
	l->robust = robust;
	if (!robust)
		return;
	pthread_mutexattr_t a;
	pthread_mutexattr_init(&a);
	pthread_mutexattr_setpshared(&a, PTHREAD_PROCESS_SHARED);
	pthread_mutexattr_setrobust(&a, PTHREAD_MUTEX_ROBUST);
	pthread_mutexattr_settype(&a, PTHREAD_MUTEX_ERRORCHECK);
	int err = pthread_mutex_init(&l->mtx, &a);
	pthread_mutexattr_destroy(&a);
	if (err)
		report_fatal("cannot make a robust mutex at %p (error %d)",
		    (void *)l, err);
}

void lock_reset(struct lock *l)
{
	/* Written only if held: a fork's child would copy the page for a
	 * store of the 0 already there. */
	if (atomic_load_explicit(&l->word, memory_order_relaxed) != 0)
		atomic_store_explicit(&l->word, 0, memory_order_release);
}

static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#endif
}

/* A robust mutex is waited for in slices of ROBUST_SLICE_MS, never in one
 * pthread_mutex_lock: the kill test caught a waiter asleep for good on a
 * free lock (word 0, no waiters bit), its wakeup lost when another process
 * was killed between releasing the lock and waking it, or between being
 * woken and taking it.  Each slice looks at the word again, so such a
 * waiter is late by one slice at worst.
 *
 * Between slices the waiter (1) lets the signals that arrived run, when it
 * holds no other lock, so that no wait with signals blocked outlasts a
 * slice; and (2) asks `gone` whether the owner the word names can still
 * release it.  The kernel marks a robust mutex whose owner died
 * (FUTEX_OWNER_DIED) only for an owner it saw die: a heap file copied, or
 * reopened after a reboot, keeps a word that names a thread that is not
 * there, or is some other process's.  Such a lock is marked as the kernel
 * would, and the next locker gets EOWNERDEAD and repairs. */
#define ROBUST_SLICE_MS 50

#ifdef __GLIBC__
/* glibc's robust mutex word: the owner's TID, FUTEX_WAITERS, and
 * FUTEX_OWNER_DIED set by the kernel (<linux/futex.h>). */
#define MTX_WORD(l)   ((_Atomic int *)&(l)->mtx.__data.__lock)
#define MTX_WAITERS   0x80000000
#define MTX_DIED      0x40000000
#define MTX_TID       0x3fffffff

/* Marks l as its owner's death would, if the word is still `word`. */
static void robust_abandon(struct lock *l, int word)
{
	int died = MTX_DIED | (word & MTX_WAITERS);
	if (atomic_compare_exchange_strong(MTX_WORD(l), &word, died) &&
	    (died & MTX_WAITERS))
		os_futex_wake_all((_Atomic uint32_t *)MTX_WORD(l), true);
}

/* The lock's word if its owner can never release it, else 0.  Waiters
 * but no owner is a word no locker leaves: nobody would wake them. */
static int robust_gone_word(struct lock *l, lock_gone_fn gone,
                            const void *ctx)
{
	int word = atomic_load(MTX_WORD(l));
	uint32_t tid = (uint32_t)word & MTX_TID;
	if (word == 0 || (word & MTX_DIED))
		return 0;
	return (tid == 0 ? (word & MTX_WAITERS) != 0 : gone(ctx, tid)) ?
	    word : 0;
}
#else
static int robust_gone_word(struct lock *l, lock_gone_fn gone,
                            const void *ctx)
{
	(void)l, (void)gone, (void)ctx;   /* the word's layout is unknown */
	return 0;
}
static void robust_abandon(struct lock *l, int word)
{
	(void)l, (void)word;
}
#endif

/* Slices in a row the same word must be judged gone before it is taken
 * over: a verdict must outlast any moment a user's hold could look like
 * a stranger's. */
#define GONE_SLICES 4

static int robust_wait(struct lock *l, lock_gone_fn gone, const void *ctx)
{
	int err = pthread_mutex_trylock(&l->mtx);
	int seen = 0;
	unsigned times = 0;
	while (err == EBUSY || err == ETIMEDOUT) {
		os_signals_let_pending();
		int word = gone != NULL ? robust_gone_word(l, gone, ctx) : 0;
		times = word != 0 && word == seen ? times + 1 : word != 0;
		seen = word;
		if (times >= GONE_SLICES) {
			robust_abandon(l, word);
			times = 0;
		}
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_nsec += ROBUST_SLICE_MS * 1000000L;
		if (ts.tv_nsec >= 1000000000L) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000L;
		}
		err = pthread_mutex_timedlock(&l->mtx, &ts);
	}
	return err;
}

static bool lock_acquire_robust(struct lock *l, lock_gone_fn gone,
                                const void *ctx)
{
	int err = robust_wait(l, gone, ctx);
	if (likely(err == 0))
		return false;
	if (err == EOWNERDEAD) {
		/* Ours now; what it protects may be half written. */
		pthread_mutex_consistent(&l->mtx);
		return true;
	}
	if (err == EDEADLK)
		report_fatal("deadlock: heap lock %p already held by this "
		    "thread (re-entered from a signal handler?)", (void *)l);
	report_fatal("heap lock %p unusable (error %d)", (void *)l, err);
}

static noreturn void lock_reentered(struct lock *l, uint32_t me)
{
	report_fatal("deadlock: heap lock %p already held by thread %u "
	    "(re-entered from a signal handler?)", (void *)l, me);
}

bool lock_acquire_slow(struct lock *l, lock_gone_fn gone, const void *ctx)
{
	if (l->robust)
		return lock_acquire_robust(l, gone, ctx);
	uint32_t me = os_tid();
	for (int i = 0; i < LOCK_SPINS; i++) {
		uint32_t w = atomic_load_explicit(&l->word,
		    memory_order_relaxed);
		if (w == 0 && atomic_compare_exchange_weak_explicit(&l->word,
		    &w, me, memory_order_acquire, memory_order_relaxed))
			return false;
		if ((w & ~LOCK_WAITERS) == me)
			lock_reentered(l, me);
		cpu_relax();
	}
	for (;;) {
		uint32_t w = atomic_load_explicit(&l->word,
		    memory_order_relaxed);
		if ((w & ~LOCK_WAITERS) == me)
			lock_reentered(l, me);
		if (w == 0) {
			/* Others may sleep: keep the waiters bit when taking. */
			if (atomic_compare_exchange_weak_explicit(&l->word,
			    &w, me | LOCK_WAITERS, memory_order_acquire,
			    memory_order_relaxed))
				return false;
			continue;
		}
		if (!(w & LOCK_WAITERS)) {
			if (!atomic_compare_exchange_weak_explicit(&l->word,
			    &w, w | LOCK_WAITERS, memory_order_relaxed,
			    memory_order_relaxed))
				continue;
			w |= LOCK_WAITERS;
		}
		os_futex_wait(&l->word, w, true);
	}
}

void lock_release_slow(struct lock *l)
{
	os_futex_wake(&l->word, true);
}
