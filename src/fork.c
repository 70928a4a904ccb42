/*
 * fork.c -- what a fork's child does before it returns.
 *
 * Nothing is locked before fork.  glibc's fork takes its stdio list lock
 * after the at-fork prepare handlers, and a thread inside stdio (getline,
 * fflush(NULL)) holds stdio locks while it calls malloc: a prepare handler
 * that took the heap locks crossed the two orders and hung the process
 * (glibc's tst-malloc-fork-deadlock).  Instead the child, which has one
 * thread, treats a lock that another thread of the parent held at the fork
 * as the lock of a thread that died inside its work: it clears the lock and
 * repairs what it protects, exactly as the next locker does when a process
 * dies holding a shared heap's lock (heap.c:heap_repair, the crash rule in
 * types.h).  The parent pays nothing; the child pays a repair only for a
 * heap whose lock was held.  A shared heap is the same memory in both
 * processes: the parent's threads go on with it, and the child leaves its
 * lock alone.  The prepare handler takes no lock either: it lets thp.c
 * put a dense chunk of the arenas in a huge page, which makes this fork and
 * the next cheaper for the kernel to copy.
 */
#include <pthread.h>

#include "engine.h"

PH_FORK_CHILD static void fork_child_one(struct heap *h)
{
	if (h->flags & HEAP_F_SHARED) {
		heap_proc_attach_fork_child(h, os_tid());   /* tid = pid here */
		return;
	}
	if (lock_held(&h->lock)) {
		lock_reset(&h->lock);
		heap_lock(h);
		heap_repair(h);
		heap_unlock(h);
	}
	refuge_fork_child(h);   /* its lock likewise */
}

PH_FORK_CHILD static void fork_child(void)
{
	os_tid_fork_child();
	thp_fork_child();
	registry_fork_child();
	heap_process_fork_child();
	registry_foreach(fork_child_one);
	registry_foreach(tcache_fork_child);
}

/* The fork handler is in place before main, while the process has one
 * thread.  (pthread_atfork may allocate: that simply makes the process
 * heap.)  Linked by INSTALLERS_LINK (engine.h). */
void __attribute__((constructor)) fork_install(void)
{
	pthread_atfork(thp_fork_prepare, NULL, fork_child);
}
