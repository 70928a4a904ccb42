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
 * Crash rule (a fork's child finds the arena lock held by a thread it does
 * not have): slots are written before n counts them, and a flush lowers
 * the cache's top after the depot took its blocks, so a block may be both
 * in the depot and in a dead thread's cache; the child's repair drains the
 * depot into the slabs first, and reclaiming the dead cache then finds
 * those blocks free on their chains and skips them.
 */
#include <stdio.h>
#include <string.h>

#include "parts.h"

#define DEPOT_FACTOR    4          /* a class holds 4 cache bins' worth */
#define DEPOT_CLASS_MAX (64 << 10) /* ... but no more than 64 KiB */

/* ---- layout: the same in every depot --------------------------------------- */

/* Computed once from the size classes (racing computations agree). */
static uint32_t depot_lo_tab[NBINS], depot_cap_tab[NBINS];
static size_t depot_npages;
static _Atomic bool depot_tab_ready;

static void depot_tab_init(void)
{
	if (atomic_load_explicit(&depot_tab_ready, memory_order_acquire))
		return;
	uint32_t lo = 0;
	for (unsigned c = 0; c < NBINS; c++) {
		uint32_t cap = DEPOT_FACTOR * sizeclasses[c].tcache_base;
		uint32_t most = DEPOT_CLASS_MAX / sizeclasses[c].size;
		depot_cap_tab[c] = cap < most ? cap : most > 0 ? most : 1;
		depot_lo_tab[c] = lo;
		lo += depot_cap_tab[c];
	}
	depot_npages = ALIGN_UP(sizeof(struct depot) + (size_t)lo *
	    sizeof(uint64_t), PAGE) >> LG_PAGE;
	atomic_store_explicit(&depot_tab_ready, true, memory_order_release);
}

static void depot_layout(struct depot *d)
{
	d->magic = DEPOT_MAGIC;
	for (unsigned c = 0; c < NBINS; c++)
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

/* Class c's bin of d if it has the layout (so no slot index leaves the
 * depot), else NULL. */
static struct depot_bin *depot_bin(struct depot *d, unsigned c)
{
	struct depot_bin *b = &d->bins[c];
	return b->lo == depot_lo_tab[c] && b->cap == depot_cap_tab[c] &&
	    b->n <= b->cap ? b : NULL;
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
	uint32_t room = b->cap - b->n, k = n < room ? n : room;
	/* free's fast path does not ask whether a block was ever handed out
	 * (its slab does, when the block goes back): ask here, from the page
	 * entries only; the first that fails, and all after it, go to the
	 * slabs, which report it. */
	k = slab_carved_prefix(h, c, off, k);
	ph_assert(b->n + k <= b->cap);
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
	ph_assert(b->n <= b->cap);
	/* the newest: their lines are the likeliest still cached */
	memcpy(out, &d->slots[b->lo + b->n - k], k * sizeof(*out));
	b->n -= k;
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
		b->n = 0;
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
			    "%u+%u, holds %u", c, d->bins[c].lo,
			    d->bins[c].cap, d->bins[c].n);
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
