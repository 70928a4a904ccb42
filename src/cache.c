/*
 * cache.c -- a heap's thread caches as the heap holds them: each cache a
 * large block of the heap, on its list (heap->tcaches), with a stack of
 * free block offsets per small class and an outbox of other arenas'
 * blocks.  Making and unmaking caches, filling a bin from the depot and
 * the slabs and giving blocks back (both in batches, under the heap's
 * lock, which the caller holds), sending an outbox home without any lock,
 * and taking back, checked block by block, the caches of processes that
 * died.  Which cache a thread uses, and the slow halves of the fast paths,
 * are tcache.c's; the pushes and pops themselves are inline (parts.h).
 *
 * A cached block is not written: freeing into the cache touches only the
 * cache, so a block freed by another thread than the one that allocated it
 * does not move between their caches.  (The key that marks free blocks is
 * written when a block goes back to its slab.)
 */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "parts.h"

static inline struct tcache *tc_at(struct heap *h, uint64_t off)
{
	return (struct tcache *)((char *)h + off);
}

/* The cache at offset off on the heap's list, or NULL when off does not
 * name one: the list lives in memory that other processes, or a damaged
 * file, wrote.  Every walk of the list goes through here. */
struct tcache *cache_checked(struct heap *h, uint64_t off)
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
	    (size_t)pm[idx].span << LG_PAGE < cache_run_bytes())
		return NULL;
	struct tcache *tc = tc_at(h, off);
	return tc->magic == TCACHE_MAGIC ? tc : NULL;
}

static size_t tc_bytes(void)
{
	return sizeof(struct tcache) + tcache_nslots * sizeof(uint64_t);
}

size_t cache_run_bytes(void)
{
	return ALIGN_UP(tc_bytes(), PAGE);
}

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
		remote_drain(owner);
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
void cache_outbox_flush(struct heap *h, struct tcache *tc)
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

/* Gives back the oldest blocks of bin c until `keep` remain.  Needs lock. */
void cache_bin_flush_locked(struct heap *h, struct tcache *tc, unsigned c,
                             uint32_t keep, enum cache_flush how)
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
	ph_assert(tcache_count(b) == keep && b->top <= b->hi);
}

void cache_flush_locked(struct heap *h, struct tcache *tc)
{
	cache_outbox_flush(h, tc);
	remote_drain(h);
	for (unsigned c = 0; c < NBINS; c++)
		cache_bin_flush_locked(h, tc, c, 0, FLUSH_HOME);
	depot_drain(h);   /* a flush asked for gives everything back */
}

bool cache_refill_locked(struct heap *h, struct tcache *tc, unsigned c)
{
	struct tcache_bin *b = tcache_bin(tc, c);
	uint32_t want = (b->hi - b->lo) / 2;
	ph_assert(tcache_count(b) < want && b->top >= b->lo);
	remote_drain(h);
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
	ph_assert(tcache_count(b) <= want && b->top <= b->hi);
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

struct tcache *cache_create_locked(struct heap *h)
{
	size_t n = ALIGN_UP(tc_bytes(), PAGE) >> LG_PAGE;
	bool zero;
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
		ph_assert(cache_checked(h, h->tcaches) == tc);
	}
	return tc;
}

/* Flushes tc, takes it off the heap's list and frees it.  Needs lock.
 * check: tc belonged to a process that died; trust none of its blocks. */
void cache_destroy_locked(struct heap *h, struct tcache *tc, bool check)
{
	/* Only an arena's cache (never a dead process's) has an outbox. */
	if (check)
		outbox_format(tc);
	else
		cache_outbox_flush(h, tc);
	for (unsigned c = 0; c < NBINS; c++) {
		if (check)   /* its owner died: only top was its own */
			bin_format(tc, c, tcache_count(tcache_bin(tc, c)));
		cache_bin_flush_locked(h, tc, c, 0, check ? FLUSH_CHECKED :
		    FLUSH_HOME);
	}
	uint64_t off = (uint64_t)((char *)tc - (char *)h), guard = h->npages;
	for (uint64_t *link = &h->tcaches; *link && guard--;
	    link = &tc_at(h, *link)->next) {
		if (*link == off) {
			*link = tc->next;
			break;
		}
		if (cache_checked(h, *link) == NULL)
			break;
	}
	ph_assert(!cache_listed(h, tc));
	tc->magic = 0;
	page_run_free(h, page_index(h, tc));
}

bool cache_listed(struct heap *h, struct tcache *tc)
{
	CACHE_FOREACH(h, t, nx, guard)
		if (t == tc)
			return true;
	return false;
}

/* ---- what the caches hold ------------------------------------------------ */

static bool bin_holds(struct tcache *tc, struct tcache_bin *b, uint64_t off)
{
	for (uint32_t i = b->lo; i < b->top; i++)
		if (tc->slots[i] == off)
			return true;
	return false;
}

/* Is the block at offset off on this thread's cache of class cls, or in
 * its outbox? */
bool cache_holds(struct tcache *tc, unsigned cls, uint64_t off)
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
bool cache_list_holds(struct heap *h, unsigned cls, uint64_t off)
{
	const struct sizeclass *sc = &sizeclasses[cls];
	uint32_t lo = sc->tcache_lo, hi = lo + sc->tcache_max;
	CACHE_FOREACH(h, tc, nx, guard) {
		uint32_t top = __atomic_load_n(&tcache_bin(tc, cls)->top,
		    __ATOMIC_ACQUIRE);
		for (uint32_t i = lo; i < top && i < hi; i++)
			if (__atomic_load_n(&tc->slots[i], __ATOMIC_RELAXED) ==
			    off)
				return true;
	}
	return false;
}

/* Bytes of free blocks sitting in the heap's thread caches.  Needs lock. */
size_t cache_cached_bytes(struct heap *h, size_t *foreign)
{
	size_t bytes = 0, other = 0;
	CACHE_FOREACH(h, tc, nx, guard)
		for (unsigned c = 0; c < NBINS; c++) {
			struct tcache_bin *b = tcache_bin(tc, c);
			for (uint32_t i = b->lo; i < b->top; i++)
				bytes += sizeclasses[c].size;
		}
	/* Other threads' outboxes change under us: what does not look like
	 * a block of another arena is skipped. */
	CACHE_FOREACH(h, tc, nx, guard) {
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

size_t cache_count_locked(struct heap *h)
{
	size_t n = 0;
	CACHE_FOREACH(h, tc, nx, guard)
		n++;
	return n;
}

/* ---- processes dying, damage, checks ------------------------------------- */

/* Takes back the caches of processes that died.  Needs lock. */
unsigned cache_reclaim_locked(struct heap *h)
{
	unsigned n = 0;
	CACHE_FOREACH(h, tc, nx, guard)
		if (!os_proc_alive(tc->pid, tc->start)) {
			cache_destroy_locked(h, tc, true);
			n++;
		}
	return n;
}

size_t cache_repair_locked(struct heap *h)
{
	uint64_t *link = &h->tcaches, guard = h->npages;
	size_t n = 0;
	while (*link) {
		struct tcache *tc = cache_checked(h, *link);
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
int cache_validate(struct heap *h, char *why, size_t whylen)
{
	struct page *pm = heap_pages(h);
	uint64_t guard = h->npages;
	uint32_t pid = (uint32_t)getpid(), tid = os_tid();
	for (uint64_t off = h->tcaches; off; off = tc_at(h, off)->next) {
		struct tcache *tc = cache_checked(h, off);
		if (tc == NULL || guard-- == 0) {
			return report_why(why, whylen, "thread cache list: bad "
			    "entry at offset %llu", (unsigned long long)off);
		}
		/* Only the owner moves top; the layout is fixed at creation. */
		bool quiet = tc->pid == pid && tc->tid == tid;
		if (tc->bins[0].div_magic != 0 || tc->bins[0].top !=
		    tc->bins[0].hi) {
			return report_why(why, whylen, "thread cache %llu: the "
			    "bin of no class would take blocks",
			    (unsigned long long)off);
		}
		for (unsigned c = 0; c < NBINS; c++) {
			const struct sizeclass *sc = &sizeclasses[c];
			struct tcache_bin *b = tcache_bin(tc, c);
			if (b->lo != sc->tcache_lo || b->hi - b->lo !=
			    sc->tcache_max || b->div_magic != sc->div_magic ||
			    (quiet && (b->top < b->lo || b->top > b->hi))) {
				return report_why(why, whylen, "thread cache "
				    "%llu: class %u has slots %u..%u top %u, "
				    "not %u..%u", (unsigned long long)off, c,
				    b->lo, b->hi, b->top, sc->tcache_lo,
				    sc->tcache_lo + sc->tcache_max);
			}
			if (tc->slots[b->lo - 1] != TCACHE_GUARD) {
				return report_why(why, whylen, "thread cache "
				    "%llu: class %u: the guard below slot %u "
				    "is %llu", (unsigned long long)off, c,
				    b->lo,
				    (unsigned long long)tc->slots[b->lo - 1]);
			}
			for (uint32_t i = b->lo; quiet && i < b->top; i++) {
				uint64_t bo = tc->slots[i];
				uint32_t hd = bo < h->size ? slab_of(h,
				    (uint32_t)(bo >> LG_PAGE)) : 0;
				if (hd == 0 || pm[hd].cls != c) {
					return report_why(why, whylen, "thread "
					    "cache %llu: class %u slot %u is "
					    "not a cached block",
					    (unsigned long long)off, c, i);
				}
			}
		}
		struct tcache_bin *ob = &tc->outbox;
		if (ob->lo != tcache_outbox_lo || ob->hi != ob->lo +
		    TCACHE_OUTBOX || tc->slots[ob->lo - 1] != TCACHE_GUARD ||
		    (quiet && (ob->top < ob->lo || ob->top > ob->hi))) {
			return report_why(why, whylen, "thread cache %llu: "
			    "outbox has slots %u..%u top %u",
			    (unsigned long long)off, ob->lo, ob->hi, ob->top);
		}
		for (uint32_t i = ob->lo; quiet && i < ob->top; i++)
			if (foreign_block_class(h, tc->slots[i]) < 0) {
				return report_why(why, whylen, "thread cache "
				    "%llu: outbox slot %u is not another "
				    "arena's block", (unsigned long long)off,
				    i);
			}
	}
	return 0;
}
