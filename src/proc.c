/*
 * proc.c -- the table of a heap's attached processes (struct heap.procs),
 * and the question a waiter for a robust heap lock asks of it: can the
 * lock's owner never release it (heap_lock_gone)?
 *
 * A process lists itself before it ever takes the heap's lock and takes
 * itself off when it detaches; entries of dead processes are dropped by
 * the next repair (heap_proc_reclaim_locked).  A full table records
 * nothing and marks the heap HEAP_F_PROCS_LOST: from then a lock owner in
 * an unlisted process is waited for, never taken for dead.
 */
#include <unistd.h>

#include "parts.h"

/* Lists this process in procs[] without the lock: a process is listed
 * before it ever takes the lock, so that a waiter never takes a user's
 * hold for a stranger's (heap_lock_gone).  An entry counts from its pid;
 * one claimed by compare-and-swap has start 0 ("not recorded") until the
 * store that follows.  Only entries of dead processes are cleared by
 * others (heap_proc_reclaim_locked), and an empty one is claimed only by
 * a compare-and-swap from 0. */
static bool proc_claim(struct heap *h, uint32_t pid, uint64_t start)
{
	for (unsigned i = 0; i < HEAP_NPROCS; i++) {
		struct heap_proc *p = &h->procs[i];
		uint32_t empty = 0;
		if (__atomic_compare_exchange_n(&p->pid, &empty, pid, false,
		    __ATOMIC_RELEASE, __ATOMIC_RELAXED)) {
			__atomic_store_n(&p->start, start, __ATOMIC_RELAXED);
			return true;
		}
	}
	__atomic_fetch_or(&h->flags, HEAP_F_PROCS_LOST, __ATOMIC_RELAXED);
	return false;
}

/* This process's entry: its pid, started at `start` or not recorded. */
static struct heap_proc *proc_mine(struct heap *h, uint32_t pid,
                                   uint64_t start)
{
	for (unsigned i = 0; i < HEAP_NPROCS; i++) {
		struct heap_proc *p = &h->procs[i];
		uint64_t s = __atomic_load_n(&p->start, __ATOMIC_RELAXED);
		if (__atomic_load_n(&p->pid, __ATOMIC_ACQUIRE) == pid &&
		    (s == start || s == 0))
			return p;
	}
	return NULL;
}

void heap_proc_attach(struct heap *h)
{
	uint32_t pid = (uint32_t)getpid();
	uint64_t start = os_proc_start(0);
	struct heap_proc *p = proc_mine(h, pid, start);
	if (p != NULL)
		__atomic_store_n(&p->start, start, __ATOMIC_RELAXED);
	else
		proc_claim(h, pid, start);
}

/* In a fork's child of a process attached to shared heap h: the child
 * uses h too, so it is listed at once, without the lock (which another
 * process may hold; the child takes none at a fork): an empty entry is
 * claimed by compare-and-swap, start left 0 ("not recorded"), or, with
 * none empty, the heap is marked as having unlisted users. */
void heap_proc_attach_fork_child(struct heap *h, uint32_t pid)
{
	proc_claim(h, pid, 0);
}

bool heap_lock_gone(const void *ctx, uint32_t tid)
{
	const struct heap *h = ctx;
	uint32_t pid = os_thread_process(tid);
	if (pid == UINT32_MAX)
		return false;   /* cannot tell: wait */
	if (pid == 0)
		return true;    /* no such thread, or a zombie */
	if (pid == (uint32_t)getpid())
		return false;   /* ours: the mutex says EDEADLK */
	if (__atomic_load_n(&h->flags, __ATOMIC_RELAXED) & HEAP_F_PROCS_LOST)
		return false;   /* its process may be an unlisted user */
	for (unsigned i = 0; i < HEAP_NPROCS; i++) {
		const struct heap_proc *p = &h->procs[i];
		if (__atomic_load_n(&p->pid, __ATOMIC_ACQUIRE) != pid)
			continue;
		/* A listed pid that now names another process (a copied
		 * file, a reboot) does not count. */
		uint64_t now = p->start ? os_proc_start(pid) : 0;
		if (p->start == 0 || now == 0 || now == p->start)
			return false;
	}
	return true;   /* a thread of a process that never attached */
}

/* Takes this process off procs[], without the lock (it holds none now). */
void heap_proc_detach(struct heap *h)
{
	uint32_t pid = (uint32_t)getpid();
	struct heap_proc *p;
	while ((p = proc_mine(h, pid, os_proc_start(0))) != NULL) {
		__atomic_store_n(&p->start, 0, __ATOMIC_RELAXED);
		__atomic_store_n(&p->pid, 0, __ATOMIC_RELEASE);
	}
}

unsigned heap_proc_reclaim_locked(struct heap *h)
{
	unsigned n = 0;
	for (unsigned i = 0; i < HEAP_NPROCS; i++) {
		struct heap_proc *p = &h->procs[i];
		if (p->pid != 0 && !os_proc_alive(p->pid, p->start)) {
			*p = (struct heap_proc){ 0 };
			n++;
		}
	}
	return n;
}
