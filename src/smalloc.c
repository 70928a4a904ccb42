/*
 * smalloc.c -- Plan 9's smalloc: an allocation that waits for memory
 * instead of failing, and ph_heap_smalloc(_timed), its form for a heap
 * handle and with a time limit.
 *
 * A waiter announces itself in h->wait_until (a time, not a
 * count, so that a waiter killed in its sleep stops mattering once the time
 * passes), then sleeps on the futex word h->free_gen for at most
 * SMALLOC_NAP_MS.  slab_free and page_run_free call heap_wake_waiters,
 * which bumps the word only while wait_until is set, and makes the wake
 * call only when a sleeper flagged itself in it.  A waiter
 * that sleeps its nap out also takes back the caches of dead processes.
 */
#include <errno.h>

#include "internal.h"
#include "phmalloc.h"

#define SMALLOC_NAP_MS   100    /* longest sleep before looking again */

static void *fail_ptr(int err)
{
	errno = err;
	return NULL;
}

/* Raises h->wait_until to at least until. */
static void wait_announce(struct heap *h, uint64_t until)
{
	uint64_t cur = atomic_load(&h->wait_until);
	while (cur < until &&
	    !atomic_compare_exchange_weak(&h->wait_until, &cur, until))
		;
}

/* Clears the announcement if nobody raised it after us; a waiter it still
 * covers finds out at the end of its nap and announces again. */
static void wait_retire(struct heap *h, uint64_t until)
{
	atomic_compare_exchange_strong(&h->wait_until, &until, 0);
}

static void *alloc_once(struct heap *h, size_t size)
{
	void *p = size <= SMALL_MAX && !opts.zero ?
	    tcache_alloc(h, size2class(size)) : NULL;
	return p != NULL ? p : heap_malloc(h, size, opts.zero);
}

/* Waits for memory; timeout_ms < 0 waits for ever. */
static void *smalloc_wait(struct heap *h, size_t size, long timeout_ms)
{
	bool shared = (h->flags & HEAP_F_SHARED) != 0;
	uint64_t start = os_now_ms();

	tcache_flush_thread();   /* our own cached blocks may be what we need */
	for (;;) {
		uint64_t now = os_now_ms(), nap = SMALLOC_NAP_MS;
		if (timeout_ms >= 0) {
			uint64_t spent = now - start;
			if (spent >= (uint64_t)timeout_ms)
				return fail_ptr(ETIMEDOUT);
			if ((uint64_t)timeout_ms - spent < nap)
				nap = (uint64_t)timeout_ms - spent;
		}
		/* Announce before trying: a free after our try sees it. */
		uint64_t until = now + nap + SMALLOC_NAP_MS;
		wait_announce(h, until);
		uint32_t gen = atomic_load(&h->free_gen);
		void *p = alloc_once(h, size);
		if (p != NULL) {
			wait_retire(h, until);
			return p;
		}
		/* Sleep only on the generation our try saw; if a free came
		 * since, the flag cannot be set and we try again at once. */
		uint32_t want = gen | GEN_SLEEPERS;
		if (gen != want && !atomic_compare_exchange_strong(
		    &h->free_gen, &gen, want))
			continue;
		os_futex_wait_ms(&h->free_gen, want, shared, nap);
		if (atomic_load(&h->free_gen) == want) {
			/* Nobody freed: a dead process's caches may hold it. */
			heap_lock(h);
			cache_reclaim_locked(h);
			heap_unlock(h);
		}
	}
}

static void *heap_smalloc(struct heap *h, size_t size, long timeout_ms)
{
	if (size > HEAP_ALLOC_MAX)
		return fail_ptr(ENOMEM);
	/* A request larger than all the data pages would wait for ever. */
	if (size_usable(size) >> LG_PAGE > h->npages - h->first_page)
		return fail_ptr(ENOMEM);
	void *p = alloc_once(h, size);
	return p != NULL ? p : smalloc_wait(h, size, timeout_ms);
}

PH_EXPORT void *P(smalloc)(size_t size)
{
	struct heap *h = heap_for_malloc();
	return h != NULL ? heap_smalloc(h, size, -1) : fail_ptr(ENOMEM);
}

PH_EXPORT void *ph_heap_smalloc(ph_heap_t *hp, size_t size)
{
	return heap_smalloc(heap_handle(hp), size, -1);
}

PH_EXPORT void *ph_heap_smalloc_timed(ph_heap_t *hp, size_t size,
                                      long timeout_ms)
{
	return heap_smalloc(heap_handle(hp), size,
	    timeout_ms < 0 ? 0 : timeout_ms);
}
