/*
 * lock.c -- the locks of heaps.
 *
 * A futex lock for what one process uses: the word holds the owner's TID
 * (LOCK_WAITERS or-ed in when somebody sleeps), so re-entry from a signal
 * handler is caught and named instead of hanging.  A robust process-shared
 * pthread mutex for what several processes share: the kernel notices when
 * its owner dies and the next locker gets EOWNERDEAD.  Fast paths are inline
 * in internal.h; this file is the rest.
 */
#include <errno.h>
#include <time.h>

#include "internal.h"

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
 * waiter is late by one slice at worst. */
#define ROBUST_SLICE_MS 50

static int robust_wait(struct lock *l)
{
	int err = pthread_mutex_trylock(&l->mtx);
	while (err == EBUSY || err == ETIMEDOUT) {
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

static bool lock_acquire_robust(struct lock *l)
{
	int err = robust_wait(l);
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

bool lock_acquire_slow(struct lock *l)
{
	if (l->robust)
		return lock_acquire_robust(l);
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
