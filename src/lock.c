/*
 * lock.c -- process-shared futex locks.
 *
 * The lock word holds the owner's TID (LOCK_WAITERS or-ed in when somebody
 * sleeps), so a lock in a shared heap works across processes with plain
 * futex calls, and the owner can be named.  Acquire and release fast paths
 * are inline in internal.h; this file is the contended path.
 */
#include "internal.h"

#define LOCK_SPINS 64

void lock_init(struct lock *l)
{
	atomic_store_explicit(&l->word, 0, memory_order_relaxed);
}

void lock_reset(struct lock *l)
{
	atomic_store_explicit(&l->word, 0, memory_order_release);
}

static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#endif
}

void lock_acquire_slow(struct lock *l)
{
	uint32_t me = os_tid();

	for (int i = 0; i < LOCK_SPINS; i++) {
		uint32_t w = atomic_load_explicit(&l->word,
		    memory_order_relaxed);
		if (w == 0 && atomic_compare_exchange_weak_explicit(&l->word,
		    &w, me, memory_order_acquire, memory_order_relaxed))
			return;
		if ((w & ~LOCK_WAITERS) == me)
			report_fatal("deadlock: heap lock %p already held by "
			    "thread %u (re-entered from a signal handler?)",
			    (void *)l, me);
		cpu_relax();
	}
	for (;;) {
		uint32_t w = atomic_load_explicit(&l->word,
		    memory_order_relaxed);
		if (w == 0) {
			/* Others may sleep: keep the waiters bit when taking. */
			if (atomic_compare_exchange_weak_explicit(&l->word,
			    &w, me | LOCK_WAITERS, memory_order_acquire,
			    memory_order_relaxed))
				return;
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
