/*
 * depot.c -- a process arena's free blocks between the thread caches and
 * the slabs.
 *
 * A thread cache whose bin is full gives its oldest half back; a cache
 * whose bin is empty takes half a bin.  Through the slabs each block costs
 * a page-map lookup, a write into the block (its chain link and key) and,
 * for a slab that empties or fills, a bin list change: a producer thread
 * that refills what a consumer thread flushes pays that twice per block.
 * The depot keeps such blocks as offsets, a class's stack of them, so a
 * flush and a refill copy a batch of offsets under the lock and touch
 * neither the blocks nor their slabs (tcache.c: bin_flush_locked,
 * bin_refill).  What does not fit goes through the slabs as before.
 *
 * Only process arenas have one: a shared heap's caches are reclaimed by
 * other processes block by block against their slabs, which a block in a
 * depot is not on.  A depot is a large block of its arena, made at the
 * arena's first flush and gone with a reset (struct heap.depot).  Its
 * blocks count as cached (statistics) and keep their slabs; a forced purge
 * and a repair put them back into their slabs (depot_drain).
 *
 * Two rooms, as a thread cache's bins have (cache.c): a class's stack lies
 * in its base room, one cache bin's base limit of slots, while it fits
 * there, and moves to its wide room (its cap) when a put would overflow
 * it, back when a take leaves it at most half its base room.  The base
 * rooms are packed at the front, so a depot that holds a few blocks of
 * many classes touches a few pages, not a page or two per class (its wide
 * rooms are up to 6 KiB each).
 *
 * Crash rule (a fork's child finds the arena lock held by a thread it does
 * not have): slots are written before n counts them, a move copies the
 * slots into its new room before n and lo change, in one 64-bit store
 * (depot_place: nothing between the rooms to repair), and a flush lowers
 * the cache's top after the depot took its blocks, so a block may be both
 * in the depot and in a dead thread's cache; the child's repair drains the
 * depot into the slabs first, and reclaiming the dead cache then finds
 * those blocks free on their chains and skips them.
 */
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "parts.h"

#define DEPOT_FACTOR    4          /* a class holds 4 cache bins' worth */
#define DEPOT_CLASS_MAX (64 << 10) /* ... but no more than 64 KiB */

/* ---- layout: the same in every depot --------------------------------------- */

/* Computed once from the size classes (racing computations agree): class
 * c's base room [depot_lo_tab[c], + depot_base_tab[c]), its wide room
 * [depot_wide_tab[c], + depot_cap_tab[c]) (depot_wide_tab[c] ==
 * depot_lo_tab[c] when its cap is no more than its base room: one room).
 * The base rooms tile the front of the slots in class order, the wide
 * rooms follow. */
static uint32_t depot_lo_tab[NBINS], depot_base_tab[NBINS];
static uint32_t depot_wide_tab[NBINS], depot_cap_tab[NBINS];
static size_t depot_npages;
static _Atomic bool depot_tab_ready;

static void depot_tab_init(void)
{
	if (atomic_load_explicit(&depot_tab_ready, memory_order_acquire))
		return;
	uint32_t lo = 0;
	for (unsigned c = 0; c < NBINS; c++) {
		uint32_t base = sizeclasses[c].tcache_base;
		uint32_t cap = DEPOT_FACTOR * base;
		uint32_t most = DEPOT_CLASS_MAX / sizeclasses[c].size;
		depot_cap_tab[c] = cap < most ? cap : most > 0 ? most : 1;
		depot_base_tab[c] = base < depot_cap_tab[c] ? base :
		    depot_cap_tab[c];
		depot_lo_tab[c] = lo;
		lo += depot_base_tab[c];
	}
	for (unsigned c = 0; c < NBINS; c++) {
		depot_wide_tab[c] = depot_lo_tab[c];
		if (depot_cap_tab[c] > depot_base_tab[c]) {
			depot_wide_tab[c] = lo;
			lo += depot_cap_tab[c];
		}
	}
	depot_npages = ALIGN_UP(sizeof(struct depot) + (size_t)lo *
	    sizeof(uint64_t), PAGE) >> LG_PAGE;
	atomic_store_explicit(&depot_tab_ready, true, memory_order_release);
}

/* The slots of class c's room that starts at lo, 0 if lo starts neither
 * of its rooms. */
static uint32_t depot_room(unsigned c, uint32_t lo)
{
	if (lo == depot_lo_tab[c])
		return depot_base_tab[c];
	return lo == depot_wide_tab[c] ? depot_cap_tab[c] : 0;
}

static void depot_layout(struct depot *d)
{
	d->magic = DEPOT_MAGIC;
	for (unsigned c = 0; c < NBINS; c++)   /* each in its base room */
		d->bins[c] = (struct depot_bin){ .n = 0, .lo = depot_lo_tab[c],
		    .cap = depot_cap_tab[c] };
}

/* h's depot, or NULL if it has none, is no process arena, or the offset
 * names no depot.  Needs lock. */
static struct depot *depot_of(struct heap *h)
{
	uint64_t off = h->depot;
	if (off == 0 || off % PAGE != 0 || off >= h->size)
		return NULL;
	depot_tab_init();
	uint32_t idx = (uint32_t)(off >> LG_PAGE);
	struct page *e = &heap_pages(h)[idx];
	if (idx < h->first_page || e->kind != PAGE_LARGE ||
	    large_lead(e) != 0 || e->span < depot_npages)
		return NULL;
	struct depot *d = (struct depot *)((char *)h + off);
	return d->magic == DEPOT_MAGIC && heap_is_process(h) ? d : NULL;
}

/* Class c's bin of d if it lies in one of its rooms and holds no more
 * than that room (so no slot index leaves the depot), else NULL.  cap is
 * the wide room's, wherever the bin lies. */
static struct depot_bin *depot_bin(struct depot *d, unsigned c)
{
	struct depot_bin *b = &d->bins[c];
	return b->cap == depot_cap_tab[c] && b->n <= depot_room(c, b->lo) ?
	    b : NULL;
}

/* n and lo in one store, which a kill cannot split. */
_Static_assert(offsetof(struct depot_bin, n) == 0 &&
    offsetof(struct depot_bin, lo) == 4 &&
    offsetof(struct depot, bins) % 8 == 0 &&
    sizeof(struct depot_bin) % 8 == 0, "n and lo: one aligned word");
static void depot_place(struct depot_bin *b, uint32_t lo, uint32_t n)
{
	store_pair32(&b->n, n, lo);
}

/* Moves bin c of d, with what it holds, to its room that starts at `to`:
 * the slots first, then n and lo at once. */
static void depot_move(struct depot *d, unsigned c, uint32_t to)
{
	struct depot_bin *b = &d->bins[c];
	ph_assert(to != b->lo && b->n <= depot_room(c, to));
	memcpy(&d->slots[to], &d->slots[b->lo], b->n * sizeof(uint64_t));
	depot_place(b, to, b->n);
}

/* ---- taking and giving ------------------------------------------------------ */

uint32_t depot_put(struct heap *h, unsigned c, const uint64_t *off,
                   uint32_t n)
{
	if (!(h->flags & HEAP_F_OSMEM) || !heap_is_process(h))
		return 0;
	struct depot *d = depot_of(h);
	if (d == NULL) {
		if (h->depot != 0)
			return 0;   /* damaged: the slabs it is */
		depot_tab_init();
		bool zero;
		uint32_t head = page_run_alloc(h, depot_npages, PAGE_LARGE, 0,
		    &zero);
		if (head == 0)
			return 0;
		d = page_addr(h, head);
		depot_layout(d);
		h->depot = (uint64_t)head << LG_PAGE;
	}
	struct depot_bin *b = depot_bin(d, c);
	if (b == NULL)
		return 0;
	if (b->lo == depot_lo_tab[c] && depot_wide_tab[c] != b->lo &&
	    n > depot_base_tab[c] - b->n)
		depot_move(d, c, depot_wide_tab[c]);   /* it would overflow */
	uint32_t room = depot_room(c, b->lo) - b->n, k = n < room ? n : room;
	/* free's fast path does not ask whether a block was ever handed out
	 * (its slab does, when the block goes back): ask here, from the page
	 * entries only; the first that fails, and all after it, go to the
	 * slabs, which report it. */
	k = slab_carved_prefix(h, c, off, k);
	ph_assert(b->n + k <= depot_room(c, b->lo));
	memcpy(&d->slots[b->lo + b->n], off, k * sizeof(*off));
	atomic_signal_fence(memory_order_release);   /* crash rule */
	b->n += k;
	return k;
}

uint32_t depot_take(struct heap *h, unsigned c, uint64_t *out,
                    uint32_t want)
{
	struct depot *d = h->depot != 0 ? depot_of(h) : NULL;
	struct depot_bin *b = d != NULL ? depot_bin(d, c) : NULL;
	if (b == NULL)
		return 0;
	uint32_t k = want < b->n ? want : b->n;
	ph_assert(b->n <= depot_room(c, b->lo));
	/* the newest: their lines are the likeliest still cached */
	memcpy(out, &d->slots[b->lo + b->n - k], k * sizeof(*out));
	b->n -= k;
	if (b->lo != depot_lo_tab[c] && b->n <= depot_base_tab[c] / 2)
		depot_move(d, c, depot_lo_tab[c]);   /* back in its base room */
	return k;
}

void depot_drain(struct heap *h)
{
	struct depot *d = h->depot != 0 ? depot_of(h) : NULL;
	if (d == NULL)
		return;
	for (unsigned c = 0; c < NBINS; c++) {
		struct depot_bin *b = depot_bin(d, c);
		if (b == NULL)
			report_fatal("depot of heap %p: class %u has no room "
			    "for what it says it holds", (void *)h, c);
		slab_free_batch(h, c, &d->slots[b->lo], b->n);
		depot_place(b, depot_lo_tab[c], 0);
	}
}

size_t depot_run_bytes(struct heap *h)
{
	return h->depot != 0 && depot_of(h) != NULL ? depot_npages << LG_PAGE :
	    0;
}

size_t depot_bytes(struct heap *h)
{
	struct depot *d = h->depot != 0 ? depot_of(h) : NULL;
	size_t bytes = 0;
	for (unsigned c = 0; d != NULL && c < NBINS; c++) {
		struct depot_bin *b = depot_bin(d, c);
		bytes += b != NULL ? (size_t)b->n * sizeclasses[c].size : 0;
	}
	return bytes;
}

/* ---- checking ---------------------------------------------------------------- */

int depot_validate(struct heap *h, char *why, size_t whylen)
{
	if (h->depot == 0)
		return 0;
	struct depot *d = depot_of(h);
	if (d == NULL) {
		return report_why(why, whylen, "depot offset %llu names no "
		    "depot of a process arena", (unsigned long long)h->depot);
	}
	for (unsigned c = 0; c < NBINS; c++) {
		const struct depot_bin *b = depot_bin(d, c);
		if (b == NULL) {
			return report_why(why, whylen, "depot class %u: slots "
			    "from %u, cap %u, holds %u; not from %u (%u long) "
			    "or from %u (%u long)", c, d->bins[c].lo,
			    d->bins[c].cap, d->bins[c].n, depot_lo_tab[c],
			    depot_base_tab[c], depot_wide_tab[c],
			    depot_cap_tab[c]);
		}
		for (uint32_t i = 0; i < b->n; i++)
			if (slab_carved_class(h, d->slots[b->lo + i], NULL) !=
			    (int)c) {
				return report_why(why, whylen, "depot class %u "
				    "holds offset %llu, no block of it", c,
				    (unsigned long long)d->slots[b->lo + i]);
			}
	}
	return 0;
}
