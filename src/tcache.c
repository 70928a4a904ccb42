/*
 * tcache.c -- the thread's side of the caches: which cache a thread uses
 * for each heap (its slots), the slow halves of the fast paths, thread
 * exit, detach and fork.
 *
 * A thread keeps, per heap it uses (up to TCACHE_SLOTS heaps), a cache of
 * free blocks for each small class (cache.c), so that a malloc/free pair
 * served by the cache is a few loads and stores and no atomic
 * read-modify-write.  The fast paths are inline in fastpath.h (for
 * malloc.c and heapapi.c); refills and flushes take the heap's lock here
 * and do their work in cache.c.  A double free is caught at once when it
 * repeats the last free of that class, and otherwise when the block goes
 * back to its slab.
 *
 * Paranoid mode (PHMALLOC_CONF=paranoid:true) catches every double free,
 * A-B-A through a cache included, by keeping no cache at all in this
 * process: tcache_usable says no, so slot 0 stays TSLOT_NONE, the fast
 * paths of malloc.c and heapapi.c fail their one epoch test as they do
 * for a thread that has no cache yet, and every malloc and free goes to
 * heap_malloc/heap_free under the heap's lock.  Then every small block of
 * a heap only this process uses is either live or on its slab's free
 * chain, so the check of the slab (slab.c:slab_free, which in paranoid
 * mode walks the chain even when the key was overwritten) is exact.  A
 * shared heap may also be cached by processes that are not paranoid:
 * heap_free asks tcache_holds, which in paranoid mode looks through every
 * cache on the heap's list (cache_list_holds; why that cannot report a live
 * block is written there).  The default fast paths do not change (their
 * instruction count is the same, callgrind); paranoid mode costs two lock
 * round trips per malloc+free pair, about 15 times the instructions
 * (doc/design.md#paranoid).  The other way, keeping the caches and a
 * "cached" mark in each block, would write the block on malloc's fast
 * path, which the default mode must not pay for, or need a second set of
 * fast paths.
 *
 * The cache itself is a large block in the heap it caches, on the heap's
 * list (heap->tcaches), so another process can reclaim it.  The thread
 * finds it through tthread.slots[], which also hold the heap's epoch when the
 * cache was made: a reset bumps the epoch and wipes the heap, caches
 * included, so a slot with an old epoch is forgotten, never flushed.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "engine.h"
#include "valgrind.h"

static pthread_key_t exit_key;
static pthread_once_t exit_once = PTHREAD_ONCE_INIT;

static void tcache_thread_exit(void *arg);

static void exit_key_create(void)
{
	pthread_key_create(&exit_key, tcache_thread_exit);
}

/* Can this thread use thread caches at all?  (Callers hold busy and ask
 * only if the thread was not busy already.) */
static bool tcache_usable(void)
{
	if (likely(tthread.state == TSTATE_ON))
		return true;
	if (tthread.state == TSTATE_OFF)
		return false;
	/* A program that uses only heap handles makes no process heap, which
	 * is where the options are read otherwise.  They never change, so a
	 * thread they keep from caching never asks again. */
	conf_init();
	if (!config_tcache || !opts.tcache || opts.paranoid ||
	    (config_fill && (opts.junk || opts.zero))) {
		tthread.state = TSTATE_OFF;
		return false;
	}
	/* Memcheck must see every malloc and free, so no caching under it.
	 * Other tools (callgrind) measure the real paths. */
	if (vg_on()) {
		tthread.state = TSTATE_OFF;
		return false;
	}
	/* Signals blocked: a handler that allocates must not find this
	 * thread inside pthread_once (it would wait for itself).  One that
	 * came before did all of this already. */
	os_signals_block();
	if (tthread.state == TSTATE_NEW) {
		pthread_once(&exit_once, exit_key_create);
		pthread_setspecific(exit_key, (void *)1);   /* the destructor */
		tthread.state = TSTATE_ON;
	}
	os_signals_restore();
	return tthread.state == TSTATE_ON;
}

/* ---- the heap's side, under its lock (cache.c) ------------------------------ */

static struct tcache *tc_create(struct heap *h)
{
	heap_lock(h);
	struct tcache *tc = cache_create_locked(h);
	heap_unlock(h);
	return tc;
}

static void tc_flush_all(struct heap *h, struct tcache *tc)
{
	heap_lock(h);
	cache_flush_locked(h, tc);
	heap_unlock(h);
}

/* Puts blocks in empty bin c (cache.c); false if the heap has none. */
static bool bin_refill(struct heap *h, struct tcache *tc, unsigned c)
{
	heap_lock(h);
	bool got = cache_refill_locked(h, tc, c);
	heap_unlock(h);
	return got;
}

/* ---- slots: which cache this thread uses for a heap ------------------------ */

/* Writes a slot field by field, the epoch made stale first and set last,
 * so that a signal handler reading it in between sees a slot that fails
 * the fast paths' test, and slot 0's heap pointer always reads (it is
 * TSLOT_NONE, never NULL). */
static void slot_set(struct tslot *t, struct heap *h, struct tcache *tc,
                     uint64_t epoch)
{
	t->epoch = 0;   /* no heap's epoch is 0 */
	atomic_signal_fence(memory_order_seq_cst);
	t->heap = h;
	t->tc = tc;
	t->size = h != NULL && h != TSLOT_NONE ? h->size : 0;
	t->gen = atomic_load_explicit(&registry_gen, memory_order_acquire);
	atomic_signal_fence(memory_order_seq_cst);
	t->epoch = epoch;
}

static void slot_forget(struct tslot *t)
{
	slot_set(t, t == &tthread.slots[0] ? TSLOT_NONE : NULL, NULL, 0);
}

/* Is the slot's cache still there to use?  The heap must still be attached,
 * and its epoch unchanged: a reset wiped the cache with everything else (it
 * is off the list); a detach somewhere bumped the epoch so that caches in
 * other threads are checked again, and any still listed are given back. */
static bool slot_valid(struct tslot *t)
{
	struct heap *h = t->heap;
	if (h == NULL || h == TSLOT_NONE)
		return false;
	/* read before the registry: a detach after it makes this stale */
	uint32_t gen = atomic_load_explicit(&registry_gen,
	    memory_order_acquire);
	if (registry_lookup(h) != h) {
		slot_forget(t);
		return false;
	}
	if (atomic_load_explicit(&h->epoch, memory_order_acquire) ==
	    t->epoch) {
		t->gen = gen;   /* the fast paths may read h again */
		return true;
	}
	/* Still ours only if listed and owned by this thread: after a reset
	 * another thread's new cache may sit where ours was. */
	heap_lock(h);
	if (cache_listed(h, t->tc) && t->tc->magic == TCACHE_MAGIC &&
	    t->tc->pid == (uint32_t)getpid() && t->tc->tid == os_tid())
		cache_destroy_locked(h, t->tc, false);
	heap_unlock(h);
	slot_forget(t);
	return false;
}

/* This thread's slot for h, made on demand; NULL if caching is off.  Call
 * with busy held (tbusy_hold), the thread not busy before. */
static struct tslot *tcache_slot(struct heap *h, bool make)
{
	if (!tcache_usable())
		return NULL;
	/* Slot 0 is the malloc heap's and nobody else's: malloc.c's fast
	 * paths (fastpath.h) trust it without asking which heap it caches. */
	bool mine = heap_is_thread_malloc(h);
	/* Of the process's arenas only the thread's own has a cache: another
	 * one's, in slots 1 and up (a realloc of its block, smalloc), would
	 * hold blocks that the double-free checks, which look in the thread's
	 * own cache (tcache_holds), never see. */
	if (!mine && heap_is_process(h))
		return NULL;
	struct tslot *t = NULL, *spare = NULL;
	for (unsigned i = 0; i < TCACHE_SLOTS && t == NULL; i++) {
		if (tthread.slots[i].heap == h && slot_valid(&tthread.slots[i]))
			t = &tthread.slots[i];
		else if (spare == NULL && (i == 0) == mine &&
		    !slot_valid(&tthread.slots[i]))
			spare = &tthread.slots[i];
	}
	if (t == NULL) {
		if (!make)
			return NULL;
		if (spare == NULL) {
			/* All slots busy: give the last one's blocks back. */
			spare = &tthread.slots[TCACHE_SLOTS - 1];
			tcache_slot_release(spare);
		}
		uint64_t epoch = atomic_load(&h->epoch);
		struct tcache *tc = tc_create(h);
		if (tc == NULL)
			return NULL;
		slot_set(spare, h, tc, epoch);
		t = spare;
	}
	/* The malloc heap's cache sits in slot 0, where the fast path looks. */
	if (t != &tthread.slots[0] && mine) {
		struct tslot tmp = tthread.slots[0];
		slot_set(&tthread.slots[0], t->heap, t->tc, t->epoch);
		if (tmp.heap == TSLOT_NONE)
			slot_forget(t);
		else
			slot_set(t, tmp.heap, tmp.tc, tmp.epoch);
		t = &tthread.slots[0];
	}
	return t;
}

void tcache_slot_release(struct tslot *t)
{
	uint32_t was = tbusy_hold();
	if (slot_valid(t)) {
		struct heap *h = t->heap;
		heap_lock(h);
		cache_destroy_locked(h, t->tc, false);
		heap_unlock(h);
	}
	slot_forget(t);
	tbusy_restore(was);
}

void tcache_flush_thread(void)
{
	uint32_t was = tbusy_hold();
	for (unsigned i = 0; !was && i < TCACHE_SLOTS; i++)
		if (slot_valid(&tthread.slots[i]))
			tc_flush_all(tthread.slots[i].heap, tthread.slots[i].tc);
	tbusy_restore(was);
}

static void tcache_thread_exit(void *unused)
{
	(void)unused;
	uint32_t was = tbusy_hold();
	for (unsigned i = 0; i < TCACHE_SLOTS; i++)
		tcache_slot_release(&tthread.slots[i]);
	tthread.state = TSTATE_OFF;   /* later frees in other destructors go direct */
	tbusy_restore(was);
}

/* ---- the slow halves of the fast paths ---------------------------------- */

/* Busy from before the slot is looked up until the block is popped: a
 * signal handler in between would go around the caches, never remake the
 * slot under us. */
void *tcache_alloc(struct heap *h, unsigned cls)
{
	uint32_t was = tbusy_hold();
	struct tslot *t = was || tsection_in() ? NULL : tcache_slot(h, true);
	uint64_t *p = NULL;
	if (t != NULL) {
		struct tcache *tc = t->tc;
		struct tcache_bin *b = tcache_bin(tc, cls);
		if (tcache_count(b) != 0 || bin_refill(h, tc, cls))
			p = tcache_block(h, tcache_pop(tc, b));
	}
	tbusy_restore(was);
	return p;
}

/* The class comes from p's slab map entry, unchecked and without the
 * lock: a block this thread holds keeps its slab, whose entries name its
 * bin, and for any other p the answer is "no" whatever the entry says. */
bool tcache_holds(struct heap *h, const void *p)
{
	uintptr_t off = (uintptr_t)p - (uintptr_t)h;
	if (off >= (uintptr_t)h->npages << LG_PAGE)
		return false;
	unsigned bin = __atomic_load_n(&heap_slabmap(h)[off >> LG_PAGE],
	    __ATOMIC_RELAXED) & SLABMAP_BIN_MASK;
	return bin - 1u < NBINS && tcache_holds_block(h, bin - 1u, p);
}

bool tcache_holds_search(struct heap *h, unsigned cls, const void *p)
{
	if (opts.paranoid)   /* no cache of ours: maybe another process's */
		return cache_list_holds(h, cls,
		    (uint64_t)((uintptr_t)p - (uintptr_t)h));
	/* Blocks of a process arena may sit in this thread's arena's cache. */
	struct heap *mine = heap_is_process(h) ? heap_arena() : h;
	for (unsigned i = 0; i < TCACHE_SLOTS; i++) {
		struct tslot *t = &tthread.slots[i];
		if (t->heap != mine || t->epoch != atomic_load(&mine->epoch))
			continue;
		if (cache_holds(t->tc, cls,
		    (uint64_t)((uintptr_t)p - (uintptr_t)mine)))
			return true;
		break;
	}
	/* A thread that moved to another arena left its old arena's cache in
	 * slot 0, retired (tslot0_retire): its blocks, of any arena, stay
	 * there until the next slow path gives them back. */
	struct tslot *t0 = &tthread.slots[0];
	return heap_is_process(h) && t0->epoch == 0 &&
	    t0->heap != TSLOT_NONE && t0->heap != NULL && t0->heap != mine &&
	    registry_lookup(t0->heap) == t0->heap &&
	    cache_holds(t0->tc, cls,
	    (uint64_t)((uintptr_t)p - (uintptr_t)t0->heap));
}

static bool tcache_free_busy(struct heap *h, struct tslot *t, void *p);

bool tcache_free(struct heap *h, void *p)
{
	if (heap_tagging(h))
		return false;   /* heap_free drops the block's tag */
	/* A block of any arena goes into this thread's own arena's cache
	 * (another arena's into its outbox), which gives it back to its arena
	 * later without that arena's lock.  Busy as in tcache_alloc. */
	struct heap *mine = heap_is_process(h) ? heap_arena() : h;
	uint32_t was = tbusy_hold();
	/* A cache is made by a malloc, or once a thread has freed
	 * TCACHE_MAKE_FREES blocks without one (a consumer that only frees):
	 * a thread that frees a block handed to it and then allocates its own
	 * (cache-scratch) does not get that block back from its cache, where
	 * it would share a line with the other threads' blocks next to it. */
	bool make = tthread.cacheless_frees >= TCACHE_MAKE_FREES;
	struct tslot *t = was || tsection_in() ? NULL : tcache_slot(mine, make);
	if (t == NULL && !make && !was)
		tthread.cacheless_frees++;
	bool done = t != NULL && tcache_free_busy(h, t, p);
	tbusy_restore(was);
	return done;
}
/* p is a block of `owner`; t caches t->heap, which is owner or, for process
 * arenas, the arena of this thread. */
static bool tcache_free_busy(struct heap *owner, struct tslot *t, void *p)
{
	struct heap *h = t->heap;
	struct page *pm = heap_pages(owner);
	uint32_t head = slab_of(owner, page_index(owner, p));
	if (head == 0)
		return false;   /* large, or bad: the direct path decides */
	struct page *s = &pm[head];
	slab_block_index(owner, s, head, p);   /* aborts on a bad pointer */
	struct tcache *tc = t->tc;
	uint64_t off = (uint64_t)((uintptr_t)p - (uintptr_t)h);
	if (cache_holds(tc, s->cls, off))
		report_fatal("double free of %p in heap %p", p, (void *)owner);
	if (((uint64_t *)p)[1] == owner->free_key)
		return false;   /* maybe free in its slab: checked there */
	if (owner != h) {   /* another arena's: into the outbox */
		if (tc->outbox.top == tc->outbox.hi)
			cache_outbox_flush(h, tc);
		tcache_push(tc, &tc->outbox, off);
		return true;
	}
	struct tcache_bin *b = tcache_bin(tc, s->cls);
	if (b->top == b->hi) {   /* room: a bigger bin or half given back */
		heap_lock(h);
		cache_bin_overflow_locked(h, tc, s->cls);
		heap_unlock(h);
	}
	tcache_push(tc, b, off);
	return true;
}

/* ---- heaps going away, processes forking and dying ------------------------- */

void tcache_detach(struct heap *h)
{
	/* The caller guarantees that no other thread of this process uses h:
	 * give back every cache this process holds in it. */
	uint32_t pid = (uint32_t)getpid();
	heap_lock(h);
	CACHE_FOREACH(h, tc, nx, guard)
		if (tc->pid == pid)
			cache_destroy_locked(h, tc, false);
	/* Other threads of ours, if the heap comes back, must look again. */
	atomic_fetch_add_explicit(&h->epoch, 1, memory_order_release);
	heap_unlock(h);
	uint32_t was = tbusy_hold();
	for (unsigned i = 0; i < TCACHE_SLOTS; i++)
		if (tthread.slots[i].heap == h)
			slot_forget(&tthread.slots[i]);
	tbusy_restore(was);
}

void tcache_fork_child(struct heap *h)
{
	/* A shared heap's caches belong to the parent's threads: the child
	 * forgets its copy of the slot, never flushes it (that would free the
	 * blocks twice).  A private heap is the child's own copy: its other
	 * threads are gone, so their caches go back to the heap, checked
	 * block by block as a dead process's are: nothing was locked at the
	 * fork (registry.c), so such a thread may have been anywhere inside
	 * a refill, a flush or its outbox, and a block it was moving may be
	 * in its bin and in its slab at once.  Its outbox is dropped (those
	 * blocks of other arenas stay allocated in the child). */
	struct tcache *mine = NULL;
	for (unsigned i = 0; i < TCACHE_SLOTS; i++)
		if (tthread.slots[i].heap == h) {
			if (h->flags & HEAP_F_SHARED)
				slot_forget(&tthread.slots[i]);
			else
				mine = tthread.slots[i].tc;
		}
	if (h->flags & HEAP_F_SHARED)
		return;
	/* The child's one thread is the pid (os_tid_fork_child).  Its start
	 * time would cost reading /proc in every child; 0 says "not
	 * recorded" (os_proc_alive), and nothing else reads a private
	 * heap's caches. */
	if (mine) {
		mine->pid = mine->tid = os_tid();
		mine->start = 0;
	}
	bool others = false;
	CACHE_FOREACH(h, tc, nx, guard)
		others |= tc != mine;
	if (!others)
		return;   /* a one-thread parent's child: nothing to lock for */
	heap_lock(h);
	CACHE_FOREACH(h, tc, nx, guard)
		if (tc != mine)
			cache_destroy_locked(h, tc, true);
	heap_unlock(h);
}
