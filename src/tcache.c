/*
 * tcache.c -- thread caches of free small blocks.
 *
 * A thread keeps, per heap it uses (up to TCACHE_SLOTS heaps), a stack of
 * free blocks for each small class, so that a malloc/free pair served by
 * the cache is a few loads and stores and no atomic read-modify-write.
 * The fast paths are inline in fastpath.h (for malloc.c and heapapi.c);
 * this file is everything else:
 * creating a cache, refilling it from the slabs and flushing it back (both
 * in batches, under one lock), thread exit, fork, detach, and taking back
 * the caches of processes that died.
 *
 * A cached block is not written: freeing into the cache touches only the
 * cache, so a block freed by another thread than the one that allocated it
 * does not move between their caches.  (The key that marks free blocks is
 * written when a block goes back to its slab.)  A double free is caught at
 * once when it repeats the last free of that class, and otherwise when the
 * block goes back to its slab.
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
 * cache on the heap's list (tc_list_holds; why that cannot report a live
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

#include "internal.h"
#include "valgrind.h"

struct heap heap_none = { .epoch = UINT64_MAX };

__thread struct tthread tthread __attribute__((tls_model("initial-exec"))) = {
	.slots[0] = { .heap = TSLOT_NONE },
};
enum { TSTATE_NEW, TSTATE_ON, TSTATE_OFF };   /* tthread.state */

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
#ifdef PH_HAVE_VALGRIND
	if (RUNNING_ON_VALGRIND) {
		/* Only memcheck answers GET_VBITS; it must see every malloc and
		 * free, so no caching under it.  Other tools (callgrind) measure
		 * the real paths. */
		uint64_t probe = 0, vbits;
		if (VALGRIND_GET_VBITS(&probe, &vbits, sizeof(probe)) == 1) {
			tthread.state = TSTATE_OFF;
			return false;
		}
	}
#endif
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

static inline struct tcache *tc_at(struct heap *h, uint64_t off)
{
	return (struct tcache *)((char *)h + off);
}

/* The cache at offset off on the heap's list, or NULL when off does not
 * name one: the list lives in memory that other processes, or a damaged
 * file, wrote.  Every walk of the list goes through here. */
static struct tcache *tc_checked(struct heap *h, uint64_t off)
{
	if (off == 0 || off % PAGE != 0 || off >= h->size)
		return NULL;
	uint32_t idx = (uint32_t)(off >> LG_PAGE);
	struct page *pm = heap_pages(h);
	/* A cache is a used run, so below hwm, where the page map holds no
	 * stale entries (above it the top free run's interior was never
	 * cleared, and may lie beyond the file's end). */
	if (idx < h->first_page || idx >= h->hwm ||
	    pm[idx].kind != PAGE_LARGE || pm[idx].span > h->hwm - idx ||
	    (size_t)pm[idx].span << LG_PAGE < tcache_run_bytes())
		return NULL;
	struct tcache *tc = tc_at(h, off);
	return tc->magic == TCACHE_MAGIC ? tc : NULL;
}

struct tcache *tcache_checked(struct heap *h, uint64_t off)
{
	return tc_checked(h, off);
}

/* Walks the heap's cache list; stops at the first bad entry and after
 * npages entries (a cycle).  Safe against destroying tc in the body. */
#define TC_FOREACH(h, tc, nx, guard)                                      \
	for (uint64_t guard = (h)->npages; guard != 0; guard = 0)         \
		for (struct tcache *tc = tc_checked((h), (h)->tcaches),   \
		    *nx = tc ? tc_checked((h), tc->next) : NULL;           \
		    tc != NULL && guard-- != 0;                            \
		    tc = nx, nx = tc ? tc_checked((h), tc->next) : NULL)

/* ---- moving blocks between a cache and the slabs ------------------------ */

/* Is offset off a cached block of class c that its slab does not already
 * hold?  Only a dead process's cache needs asking: it may have died between
 * two stores.  Needs lock. */
static bool cached_block_sound(struct heap *h, unsigned c, uint64_t off)
{
	uint32_t head;
	if (slab_carved_class(h, off, &head) != (int)c)
		return false;
	struct page *s = &heap_pages(h)[head];
	uint64_t boff = off - ((uint64_t)head << LG_PAGE);
	return !slab_chain_has(h, s, head,
	    (uint16_t)(boff / sizeclasses[c].size));
}

/* ---- blocks of other arenas ----------------------------------------------
 * A thread's arena cache takes a freed block of another arena into its
 * outbox, never into a class bin, so its mallocs never reuse it: blocks go
 * home, and a thread trading blocks with another does not end up with
 * half its cache foreign.  A full outbox (or a flush) sends them home
 * without any lock, each owner's on its slabs' remote lists
 * (slab_remote_give: one compare-and-swap per slab).  The owner's lock
 * holder splices them in when it refills; an owner whose own threads are
 * idle (or gone) would keep them, so a pusher that sees more than
 * REMOTE_DRAIN_BYTES pending drains it if its lock is free at once.  Never
 * waits, so holding another heap's lock is no deadlock. */
#define REMOTE_DRAIN_BYTES ((uint64_t)256 << 10)
_Static_assert(TCACHE_OUTBOX <= REMOTE_GIVE_MAX, "an outbox is one give");

static void remote_give(struct heap *owner, const uint64_t *off, uint32_t n)
{
	if (slab_remote_give(owner, off, n) > REMOTE_DRAIN_BYTES &&
	    heap_trylock(owner)) {
		slab_remote_drain(owner);
		heap_unlock(owner);
	}
}

/* The class of the cached block at offset off from h, outside h, if it is
 * a small block of another arena, else -1.  Read without that arena's
 * lock: a slab with a block out (cached counts as out) keeps its page
 * entries. */
static int foreign_block_class(struct heap *h, uint64_t off)
{
	const void *p = tcache_block(h, off);
	struct heap *owner = arena_of(p);
	if (owner == NULL || owner == h || !heap_is_process(h))
		return -1;
	uint32_t hd = slab_of(owner, page_index(owner, p));
	return hd != 0 ? heap_pages(owner)[hd].cls : -1;
}

/* Sends every block in tc's outbox home.  tc is h's, h a process arena.
 * Takes no lock (h's may be held). */
static void outbox_flush(struct heap *h, struct tcache *tc)
{
	struct tcache_bin *b = &tc->outbox;
	uint32_t n = tcache_count(b);
	uint64_t *s = &tc->slots[b->lo];
	struct heap *own[TCACHE_OUTBOX];
	uint64_t off[TCACHE_OUTBOX];
	for (uint32_t i = 0; i < n; i++) {
		own[i] = arena_of(tcache_block(h, s[i]));
		if (own[i] == NULL || own[i] == h)
			report_fatal("thread cache of heap %p holds %p, a block "
			    "of no other arena", (void *)h, tcache_block(h,
			    s[i]));
	}
	for (uint32_t i = 0; i < n; i++) {   /* one give per owner */
		struct heap *o = own[i];
		if (o == NULL)
			continue;   /* given already */
		uint32_t m = 0;
		for (uint32_t j = i; j < n; j++)
			if (own[j] == o) {
				off[m++] = (uint64_t)((uintptr_t)h + s[j] -
				    (uintptr_t)o);
				own[j] = NULL;
			}
		remote_give(o, off, m);
	}
	b->top = b->lo;
}

/* Where bin_flush_locked sends blocks: the depot first (a live cache
 * that overflows), their slabs (an explicit flush: thread exit, mallctl),
 * their slabs each checked first (a dead owner's cache). */
enum flush { FLUSH_DEPOT, FLUSH_HOME, FLUSH_CHECKED };

/* Gives back the oldest blocks of bin c until `keep` remain.  Needs lock. */
static void bin_flush_locked(struct heap *h, struct tcache *tc, unsigned c,
                             uint32_t keep, enum flush how)
{
	struct tcache_bin *b = tcache_bin(tc, c);
	if (tcache_count(b) <= keep)
		return;
	uint32_t drop = tcache_count(b) - keep;
	uint64_t *s = &tc->slots[b->lo];
	struct page *pm = heap_pages(h);
	/* An overflowing cache's oldest into the depot, as they are; the
	 * rest, and all of an explicit flush, into their slabs.  The depot
	 * takes them before top is lowered (depot.c, crash rule). */
	uint32_t deposited = how == FLUSH_DEPOT ? depot_put(h, c, s, drop) : 0;
	bool check = how == FLUSH_CHECKED;
	for (uint32_t i = deposited; i < drop; i++) {
		if (check && !cached_block_sound(h, c, s[i]))
			continue;
		uint32_t head = s[i] < h->size ?
		    slab_of(h, (uint32_t)(s[i] >> LG_PAGE)) : 0;
		if (head == 0 || pm[head].cls != c)
			report_fatal("thread cache of heap %p holds offset %llu "
			    "in class %u", (void *)h, (unsigned long long)s[i],
			    c);
		void *p = tcache_block(h, s[i]);
		slab_free(h, &pm[head], head, p);   /* catches a double entry */
	}
	memmove(s, s + drop, keep * sizeof(*s));
	b->top = b->lo + keep;
}

static void tc_flush_all(struct heap *h, struct tcache *tc)
{
	heap_lock(h);
	outbox_flush(h, tc);
	slab_remote_drain(h);
	for (unsigned c = 0; c < NBINS; c++)
		bin_flush_locked(h, tc, c, 0, FLUSH_HOME);
	depot_drain(h);   /* a flush asked for gives everything back */
	heap_unlock(h);
}

/* Fills bin c to half its capacity; false if the heap is full. */
static bool bin_refill(struct heap *h, struct tcache *tc, unsigned c)
{
	struct tcache_bin *b = tcache_bin(tc, c);
	uint32_t want = (b->hi - b->lo) / 2;
	heap_lock(h);
	slab_remote_drain(h);
	/* the depot's first: offsets copied, no block touched */
	uint32_t got = depot_take(h, c, &tc->slots[b->top], want -
	    tcache_count(b));
	if (got != 0)
		tcache_top_publish(b, b->top + got);
	while (tcache_count(b) < want) {
		char *p = slab_alloc(h, c);
		if (p == NULL)
			break;
		tcache_push(tc, b, (uint64_t)(p - (char *)h));
	}
	heap_unlock(h);
	return tcache_count(b) > 0;
}

/* ---- making and unmaking caches ------------------------------------------ */

/* Lays out bin c of tc as sizeclass.c says, with n blocks (n is clamped
 * to the bin: a dead owner may have left anything in top). */
static void bin_format(struct tcache *tc, unsigned c, uint32_t n)
{
	const struct sizeclass *sc = &sizeclasses[c];
	struct tcache_bin *b = tcache_bin(tc, c);
	if (n > sc->tcache_max)
		n = sc->tcache_max;
	tc->slots[sc->tcache_lo - 1] = TCACHE_GUARD;
	*b = (struct tcache_bin){ .top = sc->tcache_lo + n,
	    .lo = sc->tcache_lo, .hi = sc->tcache_lo + sc->tcache_max,
	    .div_magic = sc->div_magic };
}

static void outbox_format(struct tcache *tc)
{
	uint32_t lo = tcache_outbox_lo;
	tc->slots[lo - 1] = TCACHE_GUARD;
	tc->outbox = (struct tcache_bin){ .top = lo, .lo = lo,
	    .hi = lo + TCACHE_OUTBOX, .div_magic = 0 };
}

static size_t tc_bytes(void)
{
	return sizeof(struct tcache) + tcache_nslots * sizeof(uint64_t);
}

static struct tcache *tc_create(struct heap *h)
{
	size_t n = ALIGN_UP(tc_bytes(), PAGE) >> LG_PAGE;
	bool zero;
	heap_lock(h);
	uint32_t head = page_run_alloc(h, n, PAGE_LARGE, 0, &zero);
	struct tcache *tc = NULL;
	if (head != 0) {
		tc = page_addr(h, head);
		tc->magic = TCACHE_MAGIC;
		tc->pid = (uint32_t)getpid();
		tc->tid = os_tid();
		tc->start = os_proc_start(0);
		/* the bin of no class: no room, refuses every offset */
		tc->bins[0] = (struct tcache_bin){ .top = 1, .lo = 1, .hi = 1,
		    .div_magic = 0 };
		for (unsigned c = 0; c < NBINS; c++)
			bin_format(tc, c, 0);
		outbox_format(tc);
		tc->next = h->tcaches;
		atomic_thread_fence(memory_order_release);   /* then publish */
		h->tcaches = (uint64_t)((char *)tc - (char *)h);
	}
	heap_unlock(h);
	return tc;
}

/* Flushes tc, takes it off the heap's list and frees it.  Needs lock.
 * check: tc belonged to a process that died; trust none of its blocks. */
static void tc_destroy_locked(struct heap *h, struct tcache *tc, bool check)
{
	/* Only an arena's cache (never a dead process's) has an outbox. */
	if (check)
		outbox_format(tc);
	else
		outbox_flush(h, tc);
	for (unsigned c = 0; c < NBINS; c++) {
		if (check)   /* its owner died: only top was its own */
			bin_format(tc, c, tcache_count(tcache_bin(tc, c)));
		bin_flush_locked(h, tc, c, 0, check ? FLUSH_CHECKED :
		    FLUSH_HOME);
	}
	uint64_t off = (uint64_t)((char *)tc - (char *)h), guard = h->npages;
	for (uint64_t *link = &h->tcaches; *link && guard--;
	    link = &tc_at(h, *link)->next) {
		if (*link == off) {
			*link = tc->next;
			break;
		}
		if (tc_checked(h, *link) == NULL)
			break;
	}
	tc->magic = 0;
	page_run_free(h, page_index(h, tc));
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
	atomic_signal_fence(memory_order_seq_cst);
	t->epoch = epoch;
}

static void slot_forget(struct tslot *t)
{
	slot_set(t, t == &tthread.slots[0] ? TSLOT_NONE : NULL, NULL, 0);
}

static bool tc_listed(struct heap *h, struct tcache *tc)
{
	TC_FOREACH(h, t, nx, guard)
		if (t == tc)
			return true;
	return false;
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
	if (registry_lookup(h) != h) {
		slot_forget(t);
		return false;
	}
	if (atomic_load_explicit(&h->epoch, memory_order_acquire) == t->epoch)
		return true;
	/* Still ours only if listed and owned by this thread: after a reset
	 * another thread's new cache may sit where ours was. */
	heap_lock(h);
	if (tc_listed(h, t->tc) && t->tc->magic == TCACHE_MAGIC &&
	    t->tc->pid == (uint32_t)getpid() && t->tc->tid == os_tid())
		tc_destroy_locked(h, t->tc, false);
	heap_unlock(h);
	slot_forget(t);
	return false;
}

/* This thread's slot for h, made on demand; NULL if caching is off.  Call
 * with busy held (tbusy_hold), the thread not busy before. */
static struct tslot *tcache_slot(struct heap *h)
{
	if (!tcache_usable())
		return NULL;
	/* Slot 0 is the malloc heap's and nobody else's: malloc.c's fast
	 * paths (fastpath.h) trust it without asking which heap it caches. */
	bool mine = heap_is_thread_malloc(h);
	struct tslot *t = NULL, *spare = NULL;
	for (unsigned i = 0; i < TCACHE_SLOTS && t == NULL; i++) {
		if (tthread.slots[i].heap == h && slot_valid(&tthread.slots[i]))
			t = &tthread.slots[i];
		else if (spare == NULL && (i == 0) == mine &&
		    !slot_valid(&tthread.slots[i]))
			spare = &tthread.slots[i];
	}
	if (t == NULL) {
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
		tc_destroy_locked(h, t->tc, false);
		heap_unlock(h);
	}
	slot_forget(t);
	tbusy_restore(was);
}

void tcache_retire_malloc_slot(void)
{
	if (tthread.slots[0].heap != TSLOT_NONE)
		tthread.slots[0].epoch = 0;   /* no heap's epoch is 0 */
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
	struct tslot *t = was || tsection_in() ? NULL : tcache_slot(h);
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

static bool bin_holds(struct tcache *tc, struct tcache_bin *b, uint64_t off)
{
	for (uint32_t i = b->lo; i < b->top; i++)
		if (tc->slots[i] == off)
			return true;
	return false;
}

/* Is the block at offset off on this thread's cache of class cls, or in
 * its outbox? */
static bool tc_holds(struct tcache *tc, unsigned cls, uint64_t off)
{
	return bin_holds(tc, tcache_bin(tc, cls), off) ||
	    bin_holds(tc, &tc->outbox, off);
}

/* Paranoid mode: is the block at offset off of h, of class cls, in the
 * bin of cls of any cache on h's list?  This process has none (see the
 * top of this file), but processes that share h and are not paranoid do,
 * and change their bins without the lock.  Needs lock, which keeps every
 * refill, flush, creation and destruction of a cache out, so only the
 * lock-free pushes and pops of their owners run meanwhile.  Exact both
 * ways for a block p that the caller is freeing:
 *   - p live (a correct free): whoever handed p out popped it from its
 *     cache (or had it from a slab) before it reached the caller, and the
 *     pop's store of top happens before the caller's acquire load of top,
 *     so the slots read below top never hold p as that pop left them; a
 *     later push that reuses the slot stores its block before its top,
 *     with release (tcache_push, fastpath.h:cache_push_block), so the
 *     acquire load of top makes that block, not p, visible in the slot.
 *     p itself is pushed again only by a free of p, which makes the
 *     caller's free a double free anyway.
 *   - p found: it sits in a cache, that is free; an owner popping it at
 *     this moment gives it out after our look, so our free came first.
 * The layout of bins is the same in every cache (sizeclass.c), so lo and
 * hi come from our table and top, written by another process, is
 * clamped to them.  Outboxes are not looked at: only process arenas'
 * caches have them, and a paranoid process's arenas have no cache. */
static bool tc_list_holds(struct heap *h, unsigned cls, uint64_t off)
{
	const struct sizeclass *sc = &sizeclasses[cls];
	uint32_t lo = sc->tcache_lo, hi = lo + sc->tcache_max;
	TC_FOREACH(h, tc, nx, guard) {
		uint32_t top = __atomic_load_n(&tcache_bin(tc, cls)->top,
		    __ATOMIC_ACQUIRE);
		for (uint32_t i = lo; i < top && i < hi; i++)
			if (__atomic_load_n(&tc->slots[i], __ATOMIC_RELAXED) ==
			    off)
				return true;
	}
	return false;
}

bool tcache_holds(struct heap *h, const void *p)
{
	struct page *pm = heap_pages(h);
	uint32_t head = slab_of(h, page_index(h, p));
	return head != 0 && tcache_holds_block(h, pm[head].cls, p);
}

bool tcache_holds_block(struct heap *h, unsigned cls, const void *p)
{
	if (opts.paranoid)   /* no cache of ours: maybe another process's */
		return tc_list_holds(h, cls,
		    (uint64_t)((uintptr_t)p - (uintptr_t)h));
	/* Blocks of a process arena may sit in this thread's arena's cache. */
	struct heap *mine = heap_is_process(h) ? heap_arena() : h;
	for (unsigned i = 0; i < TCACHE_SLOTS; i++) {
		struct tslot *t = &tthread.slots[i];
		if (t->heap != mine || t->epoch != atomic_load(&mine->epoch))
			continue;
		return tc_holds(t->tc, cls,
		    (uint64_t)((uintptr_t)p - (uintptr_t)mine));
	}
	return false;
}
/* Bytes of free blocks sitting in the heap's thread caches.  Needs lock. */
size_t tcache_cached_bytes(struct heap *h, size_t *foreign)
{
	size_t bytes = 0, other = 0;
	TC_FOREACH(h, tc, nx, guard)
		for (unsigned c = 0; c < NBINS; c++) {
			struct tcache_bin *b = tcache_bin(tc, c);
			for (uint32_t i = b->lo; i < b->top; i++)
				bytes += sizeclasses[c].size;
		}
	/* Other threads' outboxes change under us: what does not look like
	 * a block of another arena is skipped. */
	TC_FOREACH(h, tc, nx, guard) {
		struct tcache_bin *b = &tc->outbox;
		for (uint32_t i = b->lo; i < b->top && i < b->hi; i++) {
			int c = foreign_block_class(h, tc->slots[i]);
			if (c >= 0)
				other += sizeclasses[c].size;
		}
	}
	if (foreign != NULL)
		*foreign = other;
	return bytes;
}

size_t tcache_count_locked(struct heap *h)
{
	size_t n = 0;
	TC_FOREACH(h, tc, nx, guard)
		n++;
	return n;
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
	struct tslot *t = was || tsection_in() ? NULL : tcache_slot(mine);
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
	if (tc_holds(tc, s->cls, off))
		report_fatal("double free of %p in heap %p", p, (void *)owner);
	if (((uint64_t *)p)[1] == owner->free_key)
		return false;   /* maybe free in its slab: checked there */
	if (owner != h) {   /* another arena's: into the outbox */
		if (tc->outbox.top == tc->outbox.hi)
			outbox_flush(h, tc);
		tcache_push(tc, &tc->outbox, off);
		return true;
	}
	struct tcache_bin *b = tcache_bin(tc, s->cls);
	if (b->top == b->hi) {
		heap_lock(h);
		bin_flush_locked(h, tc, s->cls, (b->hi - b->lo) / 2,
		    FLUSH_DEPOT);
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
	TC_FOREACH(h, tc, nx, guard)
		if (tc->pid == pid)
			tc_destroy_locked(h, tc, false);
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
	TC_FOREACH(h, tc, nx, guard)
		others |= tc != mine;
	if (!others)
		return;   /* a one-thread parent's child: nothing to lock for */
	heap_lock(h);
	TC_FOREACH(h, tc, nx, guard)
		if (tc != mine)
			tc_destroy_locked(h, tc, true);
	heap_unlock(h);
}

/* Takes back the caches of processes that died.  Needs lock. */
unsigned tcache_reclaim_locked(struct heap *h)
{
	unsigned n = 0;
	TC_FOREACH(h, tc, nx, guard)
		if (!os_proc_alive(tc->pid, tc->start)) {
			tc_destroy_locked(h, tc, true);
			n++;
		}
	return n;
}

size_t tcache_run_bytes(void)
{
	return ALIGN_UP(tc_bytes(), PAGE);
}

size_t tcache_repair_locked(struct heap *h)
{
	uint64_t *link = &h->tcaches, guard = h->npages;
	size_t n = 0;
	while (*link) {
		struct tcache *tc = tc_checked(h, *link);
		if (tc == NULL || guard-- == 0) {
			*link = 0;
			break;
		}
		n++;
		link = &tc->next;
	}
	return n;
}

/* Every cache on the list is well formed, and this thread's hold blocks
 * of slabs of their classes.  (Other threads change
 * theirs without the lock; a dead process's may be caught between two
 * stores, which reclaim checks block by block.)  Needs lock. */
int tcache_validate(struct heap *h, char *why, size_t whylen)
{
	struct page *pm = heap_pages(h);
	uint64_t guard = h->npages;
	uint32_t pid = (uint32_t)getpid(), tid = os_tid();
	for (uint64_t off = h->tcaches; off; off = tc_at(h, off)->next) {
		struct tcache *tc = tc_checked(h, off);
		if (tc == NULL || guard-- == 0) {
			snprintf(why, whylen, "thread cache list: bad entry at "
			    "offset %llu", (unsigned long long)off);
			return 1;
		}
		/* Only the owner moves top; the layout is fixed at creation. */
		bool quiet = tc->pid == pid && tc->tid == tid;
		if (tc->bins[0].div_magic != 0 || tc->bins[0].top !=
		    tc->bins[0].hi) {
			snprintf(why, whylen, "thread cache %llu: the bin of "
			    "no class would take blocks",
			    (unsigned long long)off);
			return 1;
		}
		for (unsigned c = 0; c < NBINS; c++) {
			const struct sizeclass *sc = &sizeclasses[c];
			struct tcache_bin *b = tcache_bin(tc, c);
			if (b->lo != sc->tcache_lo || b->hi - b->lo !=
			    sc->tcache_max || b->div_magic != sc->div_magic ||
			    (quiet && (b->top < b->lo || b->top > b->hi))) {
				snprintf(why, whylen, "thread cache %llu: "
				    "class %u has slots %u..%u top %u, not "
				    "%u..%u", (unsigned long long)off, c,
				    b->lo, b->hi, b->top, sc->tcache_lo,
				    sc->tcache_lo + sc->tcache_max);
				return 1;
			}
			if (tc->slots[b->lo - 1] != TCACHE_GUARD) {
				snprintf(why, whylen, "thread cache %llu: "
				    "class %u: the guard below slot %u is %llu",
				    (unsigned long long)off, c, b->lo,
				    (unsigned long long)tc->slots[b->lo - 1]);
				return 1;
			}
			for (uint32_t i = b->lo; quiet && i < b->top; i++) {
				uint64_t bo = tc->slots[i];
				uint32_t hd = bo < h->size ? slab_of(h,
				    (uint32_t)(bo >> LG_PAGE)) : 0;
				if (hd == 0 || pm[hd].cls != c) {
					snprintf(why, whylen, "thread cache "
					    "%llu: class %u slot %u is not a "
					    "cached block",
					    (unsigned long long)off, c, i);
					return 1;
				}
			}
		}
		struct tcache_bin *ob = &tc->outbox;
		if (ob->lo != tcache_outbox_lo || ob->hi != ob->lo +
		    TCACHE_OUTBOX || tc->slots[ob->lo - 1] != TCACHE_GUARD ||
		    (quiet && (ob->top < ob->lo || ob->top > ob->hi))) {
			snprintf(why, whylen, "thread cache %llu: outbox has "
			    "slots %u..%u top %u", (unsigned long long)off,
			    ob->lo, ob->hi, ob->top);
			return 1;
		}
		for (uint32_t i = ob->lo; quiet && i < ob->top; i++)
			if (foreign_block_class(h, tc->slots[i]) < 0) {
				snprintf(why, whylen, "thread cache %llu: outbox "
				    "slot %u is not another arena's block",
				    (unsigned long long)off, i);
				return 1;
			}
	}
	return 0;
}
