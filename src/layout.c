/*
 * layout.c -- where the parts of a heap lie in its range, formatting a
 * range as an empty heap, and checking a header found in one.
 *
 * Layout of a heap at base (parts.h: heap_slabmap, heap_pages):
 *   struct heap | slab map | page map | refuge | data pages ...
 *   ^ page 0                          ^ refuge_page ^ first_page
 * The slab map is npages x uint32_t, the page map npages x struct page:
 * metadata costs 36 bytes per PAGE (0.9%) plus the header, rounded up to
 * whole pages (heap_meta_pages).  The refuge (refuge.c) is 1/64 of the
 * pages, 4 to 256 of them (heap_data_first).
 */
#include <errno.h>
#include <string.h>

#include "parts.h"

static size_t heap_meta_pages(size_t npages)
{
	size_t bytes = ALIGN_UP(sizeof(struct heap), 64) +
	    page_meta_bytes(npages);
	return ALIGN_UP(bytes, PAGE) >> LG_PAGE;
}

/* The first data page of a range of npages: after metadata and refuge. */
static size_t heap_data_first(size_t npages)
{
	return heap_meta_pages(npages) + refuge_pages(npages);
}

/* Pages of data a range of npages can give, 0 if it is too small. */
size_t heap_capacity_pages(size_t npages)
{
	size_t meta = heap_data_first(npages);
	return npages > meta ? npages - meta : 0;
}

/* Dirty pages at the start of a fresh data area: none if the range reads as
 * zero, else all of them below the high-water mark. */
size_t heap_initial_dirty(struct heap *h, size_t upto)
{
	return (h->flags & HEAP_F_ZEROED) ? 0 : upto - h->first_page;
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
	h->first_page = (uint32_t)heap_data_first(npages);
	h->limit = (hflags & HEAP_F_GROW) ?
	    (uint32_t)(heap_initial_backing(size) >> LG_PAGE) : h->npages;
	h->free_key = os_random();
	h->class_sig = sizeclass_signature();
	h->tcache_scale = tcache_scale_for(h->size);
	/* Not 1 for every heap: another thread's slot for a heap that was
	 * detached from this range (its own detach forgets only its own
	 * slots) must not take this one for it (fastpath.h:tslot_of).  Never
	 * 0, which a retired slot holds (base.h:tslot0_retire), and far below
	 * UINT64_MAX / 2 (heap_verify_header). */
	atomic_store_explicit(&h->epoch, (os_random() >> 2) | 1,
	    memory_order_relaxed);
	atomic_store_explicit(&h->cache_limit, h->size, memory_order_relaxed);
	lock_init(&h->lock, (hflags & HEAP_F_SHARED) != 0);
	refuge_format(h, npages, zeroed);
	page_map_init(h, heap_initial_dirty(h, h->npages), 0);
	atomic_store_explicit(&h->magic, HEAP_MAGIC, memory_order_relaxed);
	atomic_store_explicit(&h->init, HEAP_INIT_READY, memory_order_release);
	return h;
}

bool heap_claim(struct heap *h)
{
	for (;;) {
		/* READY is stored after magic (heap_format), with release */
		uint32_t init = atomic_load_explicit(&h->init,
		    memory_order_acquire);
		if (atomic_load_explicit(&h->magic, memory_order_relaxed) ==
		    HEAP_MAGIC || init == HEAP_INIT_FORMATTING)
			return false;
		/* Zeroes, or neither a heap nor zeroes (the caller's range).
		 * A failed exchange read the word anew: look again. */
		if (atomic_compare_exchange_strong(&h->init, &init,
		    HEAP_INIT_FORMATTING))
			return true;
	}
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
	    h->first_page != heap_data_first(h->npages) ||
	    h->refuge_page != heap_meta_pages(h->npages) ||
	    h->refuge_gran != refuge_granules(refuge_pages(h->npages)) ||
	    h->first_page >= h->npages || h->size < HEAP_MIN_SIZE)
		return EINVAL;
	if (size != 0 && size != h->size)
		return EINVAL;
	/* Every cache's bins lie where this scale puts them (cache.c). */
	if (h->tcache_scale != tcache_scale_for(h->size))
		return EINVAL;
	/* free's fast path trusts it as the heap's end. */
	uint64_t limit = atomic_load_explicit(&h->cache_limit,
	    memory_order_relaxed);
	if (limit != 0 && limit != h->size)
		return EINVAL;
	/* Epochs count up from a random start below 2^62; the top of the
	 * range is heap_none's (no cache) to the fast paths, so a header
	 * that nears it is damage. */
	if (atomic_load_explicit(&h->epoch, memory_order_relaxed) >=
	    UINT64_MAX / 2)
		return EINVAL;
	if (atomic_load_explicit(&h->init, memory_order_acquire) !=
	    HEAP_INIT_READY)
		return EAGAIN;
	return 0;
}

size_t heap_initial_backing(size_t size)
{
	size_t npages = size >> LG_PAGE;
	size_t want = heap_data_first(npages) + heap_grow_step(npages);
	return (want < npages ? want : npages) << LG_PAGE;
}
