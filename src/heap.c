/*
 * heap.c -- a heap as a whole: formatting a range, checking a header found
 * in one, the process heap, reset, consistency check and statistics.
 *
 * Layout of a heap at base:
 *   struct heap | page map (npages x struct page) | data pages ...
 *   ^ page 0                                       ^ first_page
 * Metadata costs sizeof(struct page) per PAGE (0.8%) plus the header.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "internal.h"
#include "valgrind.h"

static size_t heap_meta_pages(size_t npages)
{
	size_t bytes = ALIGN_UP(sizeof(struct heap), 64) +
	    page_meta_bytes(npages);
	return ALIGN_UP(bytes, PAGE) >> LG_PAGE;
}

/* Pages of data a range of npages can give, 0 if it is too small. */
size_t heap_capacity_pages(size_t npages)
{
	size_t meta = heap_meta_pages(npages);
	return npages > meta ? npages - meta : 0;
}

/* Dirty pages at the start of a fresh data area: none if the range reads as
 * zero, else all of them below the high-water mark. */
static size_t heap_initial_dirty(struct heap *h, size_t upto)
{
	return (h->flags & HEAP_F_ZEROED) ? 0 : upto - h->first_page;
}

/* A growable heap's backing starts with its metadata and one step. */
static size_t heap_grow_step(size_t npages)
{
	size_t step = npages / 64;
	return step > HEAP_GROW_STEP_MIN ? step : HEAP_GROW_STEP_MIN;
}

size_t heap_initial_backing(size_t size)
{
	size_t npages = size >> LG_PAGE;
	size_t want = heap_meta_pages(npages) + heap_grow_step(npages);
	return (want < npages ? want : npages) << LG_PAGE;
}

int heap_grow(struct heap *h, size_t end)
{
	if (!(h->flags & HEAP_F_GROW) || end > h->npages)
		return ENOMEM;
	int fd = registry_fd(h);
	if (fd < 0) {
		registry_error_note(h, EBADF, true);
		return EBADF;   /* attached without its file: cannot grow */
	}
	size_t want = h->limit + heap_grow_step(h->npages);
	if (want < end)
		want = end;
	if (want > h->npages)
		want = h->npages;
	int saved = errno;
	int err = ftruncate(fd, (off_t)(want << LG_PAGE)) == 0 ? 0 : errno;
	errno = saved;
	if (err == 0)
		h->limit = (uint32_t)want;
	else
		registry_error_note(h, err, true);   /* ENOSPC, EFBIG, ... */
	return err;
}

struct heap *heap_format(void *base, size_t size, unsigned hflags,
                         bool zeroed)
{
	struct heap *h = base;
	size_t npages = size >> LG_PAGE;
	size_t meta = heap_meta_pages(npages);

	sizeclass_init();
	/* Claim the range first: magic and init stay in place while the rest of
	 * the header is cleared, so a racing joiner waits instead of joining. */
	atomic_store_explicit(&h->init, HEAP_INIT_FORMATTING,
	    memory_order_relaxed);
	atomic_store_explicit(&h->magic, 0, memory_order_relaxed);
	if (!zeroed)
		memset(&h->version, 0, (meta << LG_PAGE) -
		    offsetof(struct heap, version));
	h->version = HEAP_VERSION;
	h->hdr_size = sizeof(struct heap);
	h->page_size = PAGE;
	h->nbins = NBINS;
	h->flags = hflags | (zeroed ? HEAP_F_ZEROED : 0);
	h->base = (uint64_t)(uintptr_t)base;
	h->size = npages << LG_PAGE;
	h->npages = (uint32_t)npages;
	h->first_page = (uint32_t)meta;
	h->limit = (hflags & HEAP_F_GROW) ?
	    (uint32_t)(heap_initial_backing(size) >> LG_PAGE) : h->npages;
	h->free_key = os_random();
	h->class_sig = sizeclass_signature();
	atomic_store_explicit(&h->epoch, 1, memory_order_relaxed);
	lock_init(&h->lock, (hflags & HEAP_F_SHARED) != 0);
	page_map_init(h, heap_initial_dirty(h, h->npages), 0);
	atomic_store_explicit(&h->magic, HEAP_MAGIC, memory_order_relaxed);
	atomic_store_explicit(&h->init, HEAP_INIT_READY, memory_order_release);
	return h;
}

/* A header read from memory is input, not truth (DESIGN.md). */
int heap_verify_header(const struct heap *h, size_t size)
{
	if (atomic_load_explicit(&h->magic, memory_order_acquire) !=
	    HEAP_MAGIC)
		return EINVAL;
	if (h->version != HEAP_VERSION || h->hdr_size != sizeof(struct heap) ||
	    h->page_size != PAGE || h->nbins != NBINS)
		return EPROTO;
	sizeclass_init();
	if (h->class_sig != sizeclass_signature())
		return EPROTO;
	if (h->size == 0 || h->size % PAGE != 0 ||
	    h->npages != h->size >> LG_PAGE ||
	    h->first_page != heap_meta_pages(h->npages) ||
	    h->first_page >= h->npages || h->size < HEAP_MIN_SIZE)
		return EINVAL;
	if (size != 0 && size != h->size)
		return EINVAL;
	if (atomic_load_explicit(&h->init, memory_order_acquire) !=
	    HEAP_INIT_READY)
		return EAGAIN;
	return 0;
}

/* ---- the process heap ------------------------------------------------------ */

#define VALGRIND_RESERVE_MAX ((size_t)4 << 30)

static struct heap *_Atomic process_heap;
static struct lock process_heap_lock;

static struct heap *process_heap_create(void)
{
	conf_init();
	size_t want = opts.reserve;
	/* valgrind pays for every reserved page in every fork: keep it small. */
	if (vg_on() && want > VALGRIND_RESERVE_MAX)
		want = VALGRIND_RESERVE_MAX;
	for (size_t size = want; size >= HEAP_MIN_RESERVE; size /= 2) {
		size_t npages = size >> LG_PAGE;
		if (npages > HEAP_MAX_PAGES)
			continue;
		void *base = os_reserve(size);
		if (base == NULL)
			continue;
		struct heap *h = heap_format(base, size, HEAP_F_OSMEM, true);
		registry_add(h);
		return h;
	}
	report_fatal("cannot reserve address space for the process heap "
	    "(reserve:%zu)", opts.reserve);
}

struct heap *heap_process(void)
{
	struct heap *h = atomic_load_explicit(&process_heap,
	    memory_order_acquire);
	if (likely(h != NULL))
		return h;
	/* A signal handler that allocates must not find us half way. */
	os_signals_block();
	lock_acquire(&process_heap_lock);
	h = atomic_load_explicit(&process_heap, memory_order_relaxed);
	if (h == NULL) {
		h = process_heap_create();
		struct heap *none = NULL;
		atomic_compare_exchange_strong(&default_heap, &none, h);
		atomic_store_explicit(&process_heap, h, memory_order_release);
	}
	lock_release(&process_heap_lock);
	os_signals_restore();
	/* Outside the lock: these may allocate, which now works. */
	registry_process_ready();
	return h;
}

void heap_process_lock_for_fork(bool take)
{
	if (take)
		lock_acquire(&process_heap_lock);
	else
		lock_release(&process_heap_lock);
}

void heap_process_unlock_in_child(void)
{
	lock_reset(&process_heap_lock);
}

struct heap *heap_process_if_any(void)
{
	return atomic_load_explicit(&process_heap, memory_order_acquire);
}

bool heap_is_process(const struct heap *h)
{
	return h == atomic_load_explicit(&process_heap, memory_order_relaxed);
}

/* ---- reset, purge, check, statistics --------------------------------------- */

/* Withdraws every live block from valgrind's view (before a reset or an
 * unmapping), so that blocks later handed out at the same addresses do not
 * overlap stale ones.  Walks the heap: only call it under valgrind. */
void heap_vg_forget(struct heap *h)
{
	struct page *pm = heap_pages(h);
	for (uint32_t i = h->first_page; i < h->npages; i += pm[i].span) {
		if (pm[i].span == 0)
			break;
		char *base = page_addr(h, i);
		if (pm[i].kind == PAGE_LARGE) {
			vg_free(h, base);
		} else if (pm[i].kind == PAGE_SLAB) {
			const struct sizeclass *sc = &sizeclasses[pm[i].cls];
			uint64_t onchain[4] = { 0 };   /* nblocks <= 256 */
			for (uint16_t k = pm[i].s.free; k != SLAB_NONE &&
			    k < pm[i].s.carved;) {
				onchain[k / 64] |= UINT64_C(1) << (k % 64);
				uint16_t *link = (uint16_t *)(base +
				    (size_t)k * sc->size);
				vg_open(link, 2);
				k = *link ^ (uint16_t)h->free_key;
			}
			for (uint32_t k = 0; k < pm[i].s.carved && k < 256; k++)
				if (!(onchain[k / 64] >> (k % 64) & 1))
					vg_free(h, base + (size_t)k * sc->size);
		}
	}
}

void heap_reset(struct heap *h)
{
	heap_lock(h);
	/* Caches first: whatever happens next, no thread uses its old one. */
	atomic_fetch_add_explicit(&h->epoch, 1, memory_order_release);
	size_t used = h->hwm;
	size_t dirty = (h->flags & HEAP_F_ZEROED) ? used - h->first_page :
	    heap_initial_dirty(h, h->npages);
	if (vg_on())
		heap_vg_forget(h);   /* every block is gone */
	page_map_init(h, dirty, used);
	h->hwm = (uint32_t)used;
	memset(h->bins, 0, sizeof(h->bins));
	memset(h->roots, 0, sizeof(h->roots));
	h->tcaches = 0;   /* the caches were blocks of the heap: gone too */
	struct heap_stats keep = h->stats;
	memset(&h->stats, 0, sizeof(h->stats));
	h->stats.dirty_pages = keep.dirty_pages;
	heap_unlock(h);
}

/* Called for each used run by page_repair. */
static void repair_run(struct heap *h, uint32_t head)
{
	struct page *e = &heap_pages(h)[head];
	if (e->kind == PAGE_SLAB) {
		slab_repair(h, head);
	} else {
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
	size_t caches = tcache_repair_locked(h);
	h->stats.allocated -= caches * tcache_run_bytes();
	h->stats.cur_large -= caches;
	for (unsigned k = 0; k < NROOTS; k++)
		if (h->roots[k] >= h->size)
			h->roots[k] = 0;
	h->stats.nrepairs++;
	tcache_reclaim_locked(h);
	return 0;
}

void heap_purge(struct heap *h, bool force)
{
	heap_lock(h);
	page_purge(h, force);
	heap_unlock(h);
}

int heap_validate(struct heap *h, char *why, size_t whylen)
{
	int err = heap_verify_header(h, 0);
	if (err) {
		snprintf(why, whylen, "bad header (%s)", strerror(err));
		return 1;
	}
	heap_lock(h);
	int bad = h->hwm > h->limit || h->hwm < h->first_page ||
	    h->limit > h->npages;
	if (bad)
		snprintf(why, whylen, "hwm %u, limit %u outside [%u, %u]",
		    h->hwm, h->limit, h->first_page, h->npages);
	for (unsigned k = 0; !bad && k < NROOTS; k++)
		if (h->roots[k] >= h->size) {
			snprintf(why, whylen, "root %u: offset %llu beyond "
			    "the heap", k, (unsigned long long)h->roots[k]);
			bad = 1;
		}
	if (!bad)
		bad = page_validate(h, why, whylen) ||
		    bin_validate(h, why, whylen) ||
		    tcache_validate(h, why, whylen);
	if (!bad && config_stats) {
		uint64_t blocks = 0;
		for (unsigned c = 0; c < NBINS; c++)
			blocks += h->bins[c].curblocks *
			    sizeclasses[c].size;
		uint64_t large = h->stats.allocated - blocks;
		if (blocks > h->stats.allocated ||
		    large > h->stats.active_pages << LG_PAGE) {
			snprintf(why, whylen, "stats: %llu bytes allocated, "
			    "%llu in small blocks",
			    (unsigned long long)h->stats.allocated,
			    (unsigned long long)blocks);
			bad = 1;
		}
	}
	heap_unlock(h);
	return bad;
}

void heap_stats_read(struct heap *h, struct stats_snapshot *s)
{
	memset(s, 0, sizeof(*s));
	heap_lock(h);
	/* Blocks in thread caches are free as far as the user is concerned. */
	s->allocated = h->stats.allocated - tcache_cached_bytes(h);
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
	heap_unlock(h);
}
