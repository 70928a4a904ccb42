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
#include <stddef.h>
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
	    (size_t)pm[idx].span << LG_PAGE < cache_run_bytes(h))
		return NULL;
	struct tcache *tc = tc_at(h, off);
	return tc->magic == TCACHE_MAGIC ? tc : NULL;
}

size_t cache_run_bytes(struct heap *h)
{
	return tcache_run_bytes((unsigned)(cache_layout(h) - tcache_layouts));
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
	if (how != FLUSH_CHECKED)   /* catches a double entry */
		slab_free_batch(h, c, s + deposited, drop - deposited);
	for (uint32_t i = 0; how == FLUSH_CHECKED && i < drop; i++) {
		uint32_t head;
		if (!cached_block_sound(h, c, s[i]))
			continue;
		(void)slab_carved_class(h, s[i], &head);
		slab_free(h, &pm[head], head, tcache_block(h, s[i]));
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

/* ---- two rooms ---------------------------------------------------------------
 * A bin lies in its base room while its limit is its class's base, in its
 * wide room while it is more (types.h).  The base rooms of all bins are
 * packed at the front of the slots: an arena's wide rooms are up to 4096
 * slots (32 KiB) each, so a cache whose bins sat there touched a page of
 * slots for each class it used (W10's main thread's cache: 31 pages); in
 * their base rooms all 35 classes share 6.
 *
 * Only the owner moves a bin, on its slow path under the lock, busy (a
 * signal handler goes around the cache): a paranoid process reads the bin
 * under the lock only (cache_list_holds), phstat only what lock_seq says
 * nobody changed.  What a kill at any instruction leaves is read by
 * reclaim and by the image check.  A move, of the n <= base blocks a bin
 * holds at its base limit:
 *   0. (down only) hi = lo + base, in the wide room: a legal limit;
 *   1. the offsets are copied to the new room and its guard written: no
 *      part of the bin, so a kill here leaves it whole where it was;
 *   2. top and lo in one aligned 64-bit store (bin_place): the bin is in
 *      its new room with its blocks, hi still the old room's base end;
 *   3. hi for the new limit.
 * So a kill between 2 and 3 leaves lo and top consistent and hi the other
 * room's base end (L.lo[c] + base or L.wide_lo[c] + base): "cut", the one
 * state besides the legal ones that a move can leave (cache_bin_cut).
 * Reclaim takes a dead owner's lo and top and lays out hi itself
 * (bin_format), so it gives a cut bin's blocks back; the validators take
 * a cut bin only in a cache that is not this thread's.  Stores are in
 * program order (compiler fences): what a killed process stored before
 * it died is all visible after.  A bin back in its base room gives the
 * pages of its wide room back (bin_room_purge). */

/* The slots of the room that starts at lo for bin c in layout l: the base
 * room's or the wide room's, 0 if lo starts neither. */
static uint32_t room_at(const struct tcache_layout *l, unsigned c,
                        uint32_t lo)
{
	if (lo == l->lo[c])
		return sizeclasses[c].tcache_base;
	return lo == l->wide_lo[c] ? l->cap[c] : 0;
}

uint32_t cache_bin_room(const struct heap *h, const struct tcache *tc,
                        unsigned c)
{
	return room_at(cache_layout(h), c, tc->bins[1 + c].lo);
}

/* Top and lo in one store, which a kill cannot split (crash rule above). */
_Static_assert(offsetof(struct tcache_bin, top) == 0 &&
    offsetof(struct tcache_bin, lo) == 4 &&
    offsetof(struct tcache, bins) % 8 == 0 &&
    sizeof(struct tcache_bin) % 8 == 0, "top and lo: one aligned word");
static void bin_place(struct tcache_bin *b, uint32_t lo, uint32_t top)
{
	store_pair32(&b->top, top, lo);
}

/* A wide room its bin left holds nothing anyone reads: an arena's pages
 * that lie wholly in it go back to the OS, as a free run's would
 * (page.c:run_purge), so a cache whose bins grew and came back to their
 * bases is again a few resident pages.  The guard below the room, the
 * ends that share a page with a neighbour, and a heap whose pages are not
 * the OS's (a file) stay as they are.  After the move: a kill before it
 * leaves pages resident, nothing else. */
static void bin_room_purge(struct heap *h, struct tcache *tc, uint32_t lo,
                           uint32_t room)
{
	uintptr_t first = ALIGN_UP((uintptr_t)&tc->slots[lo], PAGE);
	uintptr_t end = (uintptr_t)&tc->slots[lo + room] & ~(uintptr_t)PAGE_MASK;
	if ((h->flags & HEAP_F_OSMEM) && first < end)
		os_purge((void *)first, end - first,
		    (h->flags & HEAP_F_SHARED) != 0);
}

/* Moves bin c, at its base limit, to the room that starts at `to` (its
 * other room), with limit `limit` there.  The owner's, needs lock. */
static void bin_move(struct heap *h, struct tcache *tc, unsigned c,
                     uint32_t to, uint32_t limit)
{
	struct tcache_bin *b = tcache_bin(tc, c);
	uint32_t base = sizeclasses[c].tcache_base, from = b->lo;
	uint32_t n = tcache_count(b);
	ph_assert(to != from && room_at(cache_layout(h), c, to) >= limit &&
	    limit >= base && n <= base && b->hi - b->lo >= base);
	if (b->hi - b->lo > base)   /* 0. */
		b->hi = b->lo + base;
	/* 1. (a zeroed run holds the guard: reading it maps no page, writing
	 * it would make the page below the room resident) */
	if (tc->slots[to - 1] != TCACHE_GUARD)
		tc->slots[to - 1] = TCACHE_GUARD;
	memcpy(&tc->slots[to], &tc->slots[from], n * sizeof(uint64_t));
	bin_place(b, to, to + n);   /* 2. */
	b->hi = to + limit;   /* 3. */
	/* the GC pass's view of top moves with it (idle: top unchanged) */
	tc->gc[c].top = tc->gc[c].top - from + to;
	ph_assert(cache_bin_laid_out(h, tc, c) && tcache_count(b) == n);
	if (to == cache_layout(h)->lo[c])
		bin_room_purge(h, tc, from, cache_layout(h)->cap[c]);
}

bool cache_bin_cut(struct heap *h, const struct tcache *tc, unsigned c)
{
	const struct tcache_layout *l = cache_layout(h);
	const struct tcache_bin *b = &tc->bins[1 + c];
	uint32_t base = sizeclasses[c].tcache_base;
	uint32_t other = b->lo == l->lo[c] ? l->wide_lo[c] : l->lo[c];
	return l->wide_lo[c] != l->lo[c] && room_at(l, c, b->lo) != 0 &&
	    b->hi == other + base && b->div_magic == sizeclasses[c].div_magic &&
	    b->size == sizeclasses[c].size &&
	    tc->slots[b->lo - 1] == TCACHE_GUARD;
}

/* ---- how big a bin is: its limit ---------------------------------------------
 * A bin starts at its class's base limit (sizeclass.c: about 32 KiB of
 * blocks) and may grow to its cap in the heap's layout.  Growth follows
 * the program: when a bin's slow-path events turn, a refill after
 * overflows or an overflow after refills, its use swings wider than it
 * holds, by the blocks those events moved; it grows by that much, as far
 * as its cap and the cache's budget allow (into its wide room: "two
 * rooms", above).  So a working set that rises and falls by n blocks
 * settles after one swing with a limit of about n
 * and stops taking the lock (jemalloc's tcache and gperftools' thread
 * cache grow their lists much so).  A bin used one way only (a producer's
 * refills, a consumer's overflows) gains nothing from room and does not
 * grow.  Every TCACHE_GC_EVENTS events of a cache a GC pass looks at all
 * its bins (cache_gc_locked): a bin that has not grown for TCACHE_GC_CALM
 * passes has its limit halved (not below its base: there it moves back to
 * its base room), one that saw no event and did not move since the last
 * pass (idle) gives half its blocks back to their slabs.  So what an idle
 * bin holds halves at each pass.  All of it on the slow path, under the
 * lock: the fast paths compare top with hi as they always did. */

size_t cache_extra_bytes(const struct tcache *tc)
{
	size_t bytes = 0;
	for (unsigned c = 0; c < NBINS; c++) {
		const struct tcache_bin *b = &tc->bins[1 + c];
		uint32_t limit = b->hi - b->lo, base = sizeclasses[c].tcache_base;
		if (limit > base)
			bytes += (size_t)(limit - base) * sizeclasses[c].size;
	}
	return bytes;
}

/* Raises bin c's limit by up to `by` blocks. */
static void bin_grow(struct heap *h, struct tcache *tc, unsigned c,
                     uint32_t by)
{
	struct tcache_bin *b = tcache_bin(tc, c);
	uint32_t limit = b->hi - b->lo, cap = cache_layout(h)->cap[c];
	size_t extra = cache_extra_bytes(tc);
	size_t left = extra < TCACHE_BUDGET ? (TCACHE_BUDGET - extra) /
	    sizeclasses[c].size : 0;
	if (limit >= cap)
		return;
	if (by > cap - limit)
		by = cap - limit;
	if (by > left)
		by = (uint32_t)left;
	if (by == 0)
		return;
	if (b->lo == cache_layout(h)->lo[c])   /* out of its base room */
		bin_move(h, tc, c, cache_layout(h)->wide_lo[c], limit + by);
	else
		b->hi += by;
	tc->gc[c].calm = 0;
	ph_assert(b->hi - b->lo <= cap &&
	    cache_extra_bytes(tc) <= TCACHE_BUDGET);
}

/* Bin c's slow path is an event ev: if it turns a run of the other kind,
 * the bin grows by what that run moved. */
static void bin_event(struct heap *h, struct tcache *tc, unsigned c,
                      unsigned ev)
{
	struct tcache_gc *g = &tc->gc[c];
	if (g->last != ev) {
		if (g->last != 0)
			bin_grow(h, tc, c, g->run);
		g->last = (uint8_t)ev;
		g->run = 0;
	}
	g->seen |= (uint8_t)ev;
}

/* The blocks an event moved count towards its run's swing. */
static void bin_moved(struct tcache *tc, unsigned c, uint32_t n)
{
	struct tcache_gc *g = &tc->gc[c];
	g->run = n > UINT32_MAX - g->run ? UINT32_MAX : g->run + n;
}

/* One more slow-path event of tc: every TCACHE_GC_EVENTS, a GC pass. */
static void cache_gc_tick(struct heap *h, struct tcache *tc)
{
	if (tc->gc_left > 1 && tc->gc_left <= TCACHE_GC_EVENTS) {
		tc->gc_left--;
		return;
	}
	cache_gc_locked(h, tc);
}

void cache_gc_locked(struct heap *h, struct tcache *tc)
{
	tc->gc_left = TCACHE_GC_EVENTS;
	for (unsigned c = 0; c < NBINS; c++) {
		struct tcache_bin *b = tcache_bin(tc, c);
		struct tcache_gc *g = &tc->gc[c];
		uint32_t limit = b->hi - b->lo, base = sizeclasses[c].tcache_base;
		if (g->calm < UINT8_MAX)
			g->calm++;
		if (g->calm > TCACHE_GC_CALM && limit > base) {
			/* calm: half the room, and what it holds within it */
			uint32_t to = limit / 2 > base ? limit / 2 : base;
			if (tcache_count(b) > to)
				cache_bin_flush_locked(h, tc, c, to / 2,
				    FLUSH_HOME);
			b->hi = b->lo + to;
			if (to == base)   /* back to its base room */
				bin_move(h, tc, c, cache_layout(h)->lo[c], base);
		}
		if (g->seen == 0 && b->top == g->top && tcache_count(b) != 0)
			/* idle: half its blocks back to their slabs */
			cache_bin_flush_locked(h, tc, c, tcache_count(b) / 2,
			    FLUSH_HOME);
		g->seen = 0;
		g->top = b->top;
		ph_assert(b->top <= b->hi && b->hi - b->lo >= base);
	}
}

void cache_bin_overflow_locked(struct heap *h, struct tcache *tc, unsigned c)
{
	struct tcache_bin *b = tcache_bin(tc, c);
	cache_gc_tick(h, tc);   /* first: it may move this bin's limit */
	bin_event(h, tc, c, TCACHE_EV_FLUSH);
	if (b->top == b->hi) {   /* it did not grow: its oldest half back */
		uint32_t n = tcache_count(b), keep = (b->hi - b->lo) / 2;
		cache_bin_flush_locked(h, tc, c, keep, FLUSH_DEPOT);
		bin_moved(tc, c, n - keep);
	}
	ph_assert(b->top < b->hi);
}

bool cache_refill_locked(struct heap *h, struct tcache *tc, unsigned c)
{
	struct tcache_bin *b = tcache_bin(tc, c);
	uint32_t want = sizeclasses[c].tcache_base / 2;
	ph_assert(tcache_count(b) < want && b->top >= b->lo);
	cache_gc_tick(h, tc);
	bin_event(h, tc, c, TCACHE_EV_REFILL);
	remote_drain(h);
	uint32_t had = tcache_count(b);
	/* the depot's first: offsets copied, no block touched; then the
	 * slabs', in one batch; both written above top, then published */
	uint32_t got = depot_take(h, c, &tc->slots[b->top], want - had);
	if (got < want - had)
		got += slab_alloc_batch(h, c, &tc->slots[b->top + got],
		    want - had - got);
	tcache_top_publish(b, b->top + got);
	ph_assert(tcache_count(b) <= want && b->top <= b->hi);
	bin_moved(tc, c, tcache_count(b) - had);
	return tcache_count(b) > 0;
}

/* ---- making and unmaking caches ------------------------------------------ */

/* Lays out bin c of tc in the room that starts at lo (its base room's or
 * its wide room's first slot), at its base limit, holding n blocks (a dead
 * owner's: n is clamped to the room, and the limit raised to hold them
 * until they are given back).  zero: the run reads as zero, which is the
 * guard already (types.h), so its page is not touched. */
_Static_assert(TCACHE_GUARD == 0, "a zeroed run holds the guards");
static void bin_format(struct heap *h, struct tcache *tc, unsigned c,
                       uint32_t lo, uint32_t n, bool zero)
{
	const struct sizeclass *sc = &sizeclasses[c];
	struct tcache_bin *b = tcache_bin(tc, c);
	uint32_t room = room_at(cache_layout(h), c, lo);
	ph_assert(room != 0);
	if (n > room)
		n = room;
	if (!zero)
		tc->slots[lo - 1] = TCACHE_GUARD;
	*b = (struct tcache_bin){ .top = lo + n, .lo = lo,
	    .hi = lo + (n > sc->tcache_base ? n : sc->tcache_base),
	    .div_magic = sc->div_magic, .size = sc->size };
	tc->gc[c] = (struct tcache_gc){ .top = b->top };
}

static void outbox_format(struct heap *h, struct tcache *tc, bool zero)
{
	uint32_t lo = cache_layout(h)->outbox_lo;
	if (!zero)
		tc->slots[lo - 1] = TCACHE_GUARD;
	tc->outbox = (struct tcache_bin){ .top = lo, .lo = lo,
	    .hi = lo + TCACHE_OUTBOX, .div_magic = 0, .size = 0 };
}

struct tcache *cache_create_locked(struct heap *h)
{
	size_t n = cache_run_bytes(h) >> LG_PAGE;
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
		    .div_magic = 0, .size = 0 };
		for (unsigned c = 0; c < NBINS; c++)
			bin_format(h, tc, c, cache_layout(h)->lo[c], 0, zero);
		outbox_format(h, tc, zero);
		tc->gc_left = TCACHE_GC_EVENTS;
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
		outbox_format(h, tc, false);
	else
		cache_outbox_flush(h, tc);
	for (unsigned c = 0; c < NBINS; c++) {
		/* Its owner died: only lo and top were its own, in one of the
		 * bin's two rooms, maybe cut between the stores of a move
		 * (which leaves hi wrong, and lo and top right: "two rooms").
		 * A lo in neither room is damage; the bin's blocks, if any,
		 * stay out of their slabs. */
		struct tcache_bin *b = tcache_bin(tc, c);
		if (check && cache_bin_room(h, tc, c) != 0)
			bin_format(h, tc, c, b->lo, tcache_count(b), false);
		else if (check)
			bin_format(h, tc, c, cache_layout(h)->lo[c], 0, false);
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
 * A bin lies in one of two rooms of h's layout (sizeclass.c), and only its
 * owner moves it, under the lock: so lo, written by another process, must
 * start one of them (else the bin is skipped), and top is clamped to that
 * room (hi moves; the room bounds it).  Outboxes
 * are not looked at: only process arenas' caches have them, and a
 * paranoid process's arenas have no cache. */
bool cache_list_holds(struct heap *h, unsigned cls, uint64_t off)
{
	const struct tcache_layout *l = cache_layout(h);
	CACHE_FOREACH(h, tc, nx, guard) {
		uint32_t lo = __atomic_load_n(&tcache_bin(tc, cls)->lo,
		    __ATOMIC_RELAXED);
		uint32_t hi = lo + room_at(l, cls, lo);
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

bool cache_bin_laid_out(struct heap *h, const struct tcache *tc, unsigned c)
{
	const struct tcache_bin *b = &tc->bins[1 + c];
	uint32_t room = cache_bin_room(h, tc, c);
	return room != 0 && b->hi >= b->lo &&
	    b->hi - b->lo >= sizeclasses[c].tcache_base &&
	    b->hi - b->lo <= room &&
	    b->div_magic == sizeclasses[c].div_magic &&
	    b->size == sizeclasses[c].size &&
	    tc->slots[b->lo - 1] == TCACHE_GUARD;
}

/* Every cache on the list is well formed, and this thread's hold blocks
 * of slabs of their classes, within limits that add no more than the
 * budget.  (Other threads change theirs without the lock; a dead
 * process's may be caught between two stores, which reclaim checks block
 * by block.)  Needs lock. */
int cache_validate(struct heap *h, char *why, size_t whylen)
{
	const struct tcache_layout *l = cache_layout(h);
	struct page *pm = heap_pages(h);
	uint64_t guard = h->npages;
	uint32_t pid = (uint32_t)getpid(), tid = os_tid();
	for (uint64_t off = h->tcaches; off; off = tc_at(h, off)->next) {
		struct tcache *tc = cache_checked(h, off);
		if (tc == NULL || guard-- == 0) {
			return report_why(why, whylen, "thread cache list: bad "
			    "entry at offset %llu", (unsigned long long)off);
		}
		/* Only the owner moves top, hi and lo (lo and hi under the
		 * lock); a move cut by a kill is no bin of ours. */
		bool quiet = tc->pid == pid && tc->tid == tid;
		if (tc->bins[0].div_magic != 0 || tc->bins[0].size != 0 ||
		    tc->bins[0].top != tc->bins[0].hi) {
			return report_why(why, whylen, "thread cache %llu: the "
			    "bin of no class would take blocks",
			    (unsigned long long)off);
		}
		for (unsigned c = 0; c < NBINS; c++) {
			struct tcache_bin *b = tcache_bin(tc, c);
			if (!(cache_bin_laid_out(h, tc, c) || (!quiet &&
			    cache_bin_cut(h, tc, c))) ||
			    (quiet && (b->top < b->lo || b->top > b->hi))) {
				return report_why(why, whylen, "thread cache "
				    "%llu: class %u has slots %u..%u top %u "
				    "guard %llu, not from %u (%u long) or from "
				    "%u (%u to %u long)",
				    (unsigned long long)off, c, b->lo, b->hi,
				    b->top, (unsigned long long)(b->lo != 0 &&
				    b->lo <= l->nslots ? tc->slots[b->lo - 1] :
				    0), l->lo[c], sizeclasses[c].tcache_base,
				    l->wide_lo[c], sizeclasses[c].tcache_base,
				    l->cap[c]);
			}
			if (quiet && (tc->gc[c].last > TCACHE_EV_FLUSH ||
			    tc->gc[c].seen > (TCACHE_EV_REFILL |
			    TCACHE_EV_FLUSH))) {
				return report_why(why, whylen, "thread cache "
				    "%llu: class %u: GC state %u/%u",
				    (unsigned long long)off, c,
				    tc->gc[c].last, tc->gc[c].seen);
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
		if (quiet && cache_extra_bytes(tc) > TCACHE_BUDGET) {
			return report_why(why, whylen, "thread cache %llu: "
			    "its limits are %zu bytes past their bases",
			    (unsigned long long)off,
			    cache_extra_bytes(tc));
		}
		struct tcache_bin *ob = &tc->outbox;
		if (ob->lo != l->outbox_lo || ob->hi != ob->lo +
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
