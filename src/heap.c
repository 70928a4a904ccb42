/*
 * heap.c -- a heap as a whole: what needs every part of it at once.
 * Reset (every block gone in one call), repair after a lock holder died
 * (the crash rule, types.h), purge, and the statistics snapshot.  The
 * parts are below it (layout.c, page.c, slab.c, refuge.c, tag.c,
 * remote.c, depot.c, cache.c); heap_lock, which repairs, is its lock.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "engine.h"
#include "valgrind.h"

/* heap_lock after its try failed (engine.h): waits, counts the wait, and
 * repairs after a holder that died.  Out of line, so that the lock's
 * callers keep their registers for their own work. */
void heap_lock_wait(struct heap *h)
{
	bool died = lock_acquire_slow(&h->lock, heap_lock_gone, h);
	heap_seq_enter(h);
	if (h == tthread.arena)
		tthread.arena_waits = arena_waits_note(tthread.arena_waits,
		    true);
	if (unlikely(died))
		heap_repair(h);
}

/* ---- reset, purge, check, statistics --------------------------------------- */

void heap_reset(struct heap *h)
{
	heap_lock(h);
	/* Caches first: whatever happens next, no thread uses its old one. */
	atomic_fetch_add_explicit(&h->epoch, 1, memory_order_release);
	size_t used = h->hwm;
	size_t dirty = (h->flags & HEAP_F_ZEROED) ? used - h->first_page :
	    heap_initial_dirty(h, h->npages);
	if (vg_on())
		slab_vg_forget(h);   /* every block is gone */
	page_map_init(h, dirty, used);
	h->hwm = (uint32_t)used;
	memset(h->bins, 0, sizeof(h->bins));
	memset(h->roots, 0, sizeof(h->roots));
	h->tcaches = 0;   /* the caches were blocks of the heap: gone too */
	atomic_store_explicit(&h->remote, 0, memory_order_relaxed);
	atomic_store_explicit(&h->remote_bytes, 0, memory_order_relaxed);
	atomic_store_explicit(&h->remote_slabs, 0, memory_order_relaxed);
	h->tags = 0;      /* so was the tag table */
	h->depot = 0;     /* and the depot */
	refuge_reset(h);
	atomic_store_explicit(&h->tagging, 0, memory_order_relaxed);
	atomic_store_explicit(&h->cache_limit, h->size, memory_order_relaxed);
	struct heap_stats keep = h->stats;
	memset(&h->stats, 0, sizeof(h->stats));
	h->stats.dirty_pages = keep.dirty_pages;
	ph_assert_valid(page_validate(h, NULL, why, whylen));
	heap_wake_waiters(h);   /* everything is free: smalloc may go on */
	heap_unlock(h);
}

/* Called for each used run by page_repair. */
static void repair_run(struct heap *h, uint32_t head)
{
	struct page *e = &heap_pages(h)[head];
	if (e->kind == PAGE_SLAB) {
		slab_repair(h, head);
	} else if (config_stats) {
		h->stats.allocated += (uint64_t)e->span << LG_PAGE;
		h->stats.cur_large++;
	}
}

int heap_repair(struct heap *h)
{
	for (unsigned c = 0; c < NBINS; c++) {
		h->bins[c].nonfull = 0;
		h->bins[c].nslabs = 0;
		h->bins[c].curblocks = 0;
	}
	h->stats.allocated = 0;
	h->stats.cur_large = 0;
	if (page_repair(h, repair_run) != 0)
		report_fatal("heap %p: page map damaged beyond repair", (void *)h);
	/* Caches are large runs, but not the user's. */
	size_t caches = cache_repair_locked(h);
	size_t depot = depot_run_bytes(h);   /* a large run, not the user's */
	if (config_stats) {
		h->stats.allocated -= caches * cache_run_bytes(h);
		h->stats.cur_large -= caches;
		if (depot != 0) {
			h->stats.allocated -= depot;
			h->stats.cur_large--;
		}
	}
	if (depot == 0)
		h->depot = 0;   /* named none */
	for (unsigned k = 0; k < NROOTS; k++)
		if (h->roots[k] >= h->size)
			h->roots[k] = 0;
	h->stats.nrepairs++;
	/* before the dead caches: a block in both is then free on its chain,
	 * which their reclaim skips (depot.c, crash rule) */
	depot_drain(h);
	cache_reclaim_locked(h);
	heap_proc_reclaim_locked(h);
	ph_assert_valid(page_validate(h, slab_validate, why, whylen) ||
	    bin_validate(h, why, whylen));
	return 0;
}

void heap_purge(struct heap *h, bool force)
{
	heap_lock(h);
	remote_drain(h);   /* emptied slabs can go too */
	if (force)
		depot_drain(h);
	page_purge(h, force);
	heap_unlock(h);
}

void heap_stats_read(struct heap *h, struct stats_snapshot *s)
{
	heap_lock(h);
	remote_drain(h);   /* remote blocks count as free */
	heap_stats_read_locked(h, s);
	heap_unlock(h);
}

void heap_stats_read_locked(struct heap *h, struct stats_snapshot *s)
{
	memset(s, 0, sizeof(*s));
	/* Blocks in thread caches are free as far as the user is concerned;
	 * those of other arenas are taken off the total by the caller. */
	s->cached = cache_cached_bytes(h, &s->foreign_cached) +
	    depot_bytes(h);
	s->ncaches = cache_count_locked(h);
	/* (no counters in a --disable-stats build: 0, as README says) */
	s->allocated = config_stats ? h->stats.allocated - s->cached : 0;
	s->active = h->stats.active_pages << LG_PAGE;
	s->dirty = h->stats.dirty_pages << LG_PAGE;
	s->metadata = (size_t)h->first_page << LG_PAGE;
	s->mapped = (size_t)h->hwm << LG_PAGE;
	/* Touched metadata: the header and the page map up to hwm. */
	s->resident = s->active + s->dirty + ALIGN_UP(sizeof(struct heap) +
	    page_map_bytes(h->hwm), PAGE);
	s->size = h->size;
	s->backed = (size_t)h->limit << LG_PAGE;
	s->free = (size_t)(h->npages - h->first_page -
	    h->stats.active_pages) << LG_PAGE;
	s->largest_free = (size_t)page_largest_free(h) << LG_PAGE;
	s->epoch = atomic_load_explicit(&h->epoch, memory_order_relaxed);
	s->nmalloc_large = h->stats.nmalloc_large;
	s->ndalloc_large = h->stats.ndalloc_large;
	s->cur_large = h->stats.cur_large;
	s->npurged_pages = h->stats.npurged_pages;
	s->npurge_calls = h->stats.npurge_calls;
	s->nrepairs = h->stats.nrepairs;
	for (unsigned c = 0; c < NBINS; c++) {
		s->bins[c].size = sizeclasses[c].size;
		s->bins[c].nregs = sizeclasses[c].nblocks;
		s->bins[c].npages = sizeclasses[c].npages;
		s->bins[c].nslabs = h->bins[c].nslabs;
		s->bins[c].nmalloc = h->bins[c].nmalloc;
		s->bins[c].ndalloc = h->bins[c].ndalloc;
		s->bins[c].curblocks = h->bins[c].curblocks;
	}
}
