/*
 * alloc.c -- allocation on one heap: small blocks from slabs, large blocks
 * as page runs, and the resizing between them.
 *
 * Callers have checked sizes against HEAP_ALLOC_MAX, so page counts fit in
 * 32 bits and ALIGN_UP cannot overflow.  NULL means "no memory"; errno is
 * the public layer's business.  Bad pointers never return (report_fatal).
 */
#include <string.h>

#include "engine.h"
#include "valgrind.h"

#define JUNK_ALLOC 0xa5
#define JUNK_FREE  0x5a

static void *refuge_alloc(struct heap *h, size_t size, size_t align,
                          size_t at, bool zero);

size_t size_usable_aligned(size_t size, size_t align)
{
	if (align <= QUANTUM)
		return size_usable(size);
	size_t small = size <= SMALL_MAX && align <= PAGE ?
	    size_small_aligned(size, align) : 0;
	return small != 0 ? small : ALIGN_UP(size ? size : 1, PAGE);
}

static inline __attribute__((always_inline)) void *block_ready(
    struct heap *h, void *p, size_t usable, bool zero, bool known_zero)
{
	vg_alloc(h, p, usable, zero);
	if (zero) {
		if (!known_zero)
			memset(p, 0, usable);
	} else if (config_fill && opts.junk) {
		memset(p, JUNK_ALLOC, usable);
	}
	return p;
}

/* small_alloc past the common case: the lock, waited for. */
static __attribute__((noinline)) void *small_alloc_locked(struct heap *h,
    unsigned cls, bool zero)
{
	heap_lock(h);
	/* Blocks given back without the lock; the block stack at once, or
	 * slab_alloc_quick would send every malloc here until a free drains
	 * it. */
	if (h->bins[cls].nonfull == 0 ||
	    atomic_load_explicit(&h->remote, memory_order_relaxed))
		remote_drain(h);
	void *p = slab_alloc(h, cls);
	heap_unlock(h);
	if (unlikely(p == NULL))
		return NULL;
	return block_ready(h, p, sizeclasses[cls].size, zero, false);
}

/* A block of class cls: the common case in one call (slab.c:
 * slab_alloc_quick, which a thread without a cache reaches here), the
 * rest in small_alloc_locked; inline, so heap_malloc keeps no frame. */
static inline __attribute__((always_inline)) void *small_alloc(
    struct heap *h, unsigned cls, bool zero)
{
	void *p = zero ? NULL : slab_alloc_quick(h, cls);
	return likely(p != NULL) ? p : small_alloc_locked(h, cls, zero);
}

/* A run whose block starts at address `at` modulo align (0 but for
 * mallocalign's offsets: then the block starts `lead` bytes into it). */
static void *large_alloc(struct heap *h, size_t size, size_t align, size_t at,
                         bool zero)
{
	size_t lead = at & PAGE_MASK;
	size_t n = ALIGN_UP(lead + (size ? size : 1), PAGE) >> LG_PAGE;
	bool known_zero = false;
	uint32_t head;

	heap_lock(h);
	if (align <= PAGE && at == 0)
		head = page_run_alloc(h, n, PAGE_LARGE, 0, &known_zero);
	else
		head = page_run_alloc_at(h, n, align > PAGE ? align : PAGE,
		    at - lead, lead, &known_zero);
	if (head != 0 && config_stats) {
		h->stats.nmalloc_large++;
		h->stats.cur_large++;
		h->stats.allocated += n << LG_PAGE;
	}
	page_purge(h, false);
	heap_unlock(h);
	if (head == 0)
		return NULL;
	return block_ready(h, (char *)page_addr(h, head) + lead,
	    (n << LG_PAGE) - lead, zero, known_zero);
}

/* heap_malloc's body; quick: small sizes try slab_alloc_quick first. */
static inline __attribute__((always_inline)) void *malloc_in(struct heap *h,
    size_t size, bool zero, bool quick)
{
	if (unlikely(tsection_in()))
		return refuge_alloc(h, size, QUANTUM, 0, zero);
	if (likely(size <= SMALL_MAX))
		return quick ? small_alloc(h, size2class(size), zero) :
		    small_alloc_locked(h, size2class(size), zero);
	return large_alloc(h, size, PAGE, 0, zero);
}

void *heap_malloc(struct heap *h, size_t size, bool zero)
{
	return malloc_in(h, size, zero, true);
}

void *heap_malloc_past_quick(struct heap *h, size_t size, bool zero)
{
	return malloc_in(h, size, zero, false);
}

void *heap_malloc_aligned(struct heap *h, size_t size, size_t align,
                          bool zero)
{
	if (align <= QUANTUM)
		return heap_malloc(h, size, zero);
	if (unlikely(tsection_in()))
		return refuge_alloc(h, size, align, 0, zero);
	size_t small = size <= SMALL_MAX && align <= PAGE ?
	    size_small_aligned(size, align) : 0;
	if (small != 0)
		return small_alloc(h, size2class(small), zero);
	return large_alloc(h, size, align, 0, zero);
}

void *heap_malloc_at(struct heap *h, size_t size, size_t mod, size_t at,
                     bool zero)
{
	if (unlikely(tsection_in()))
		return refuge_alloc(h, size, mod, at, zero);
	return large_alloc(h, size, mod, at, zero);
}

/* ---- finding a block's run ----------------------------------------------- */

/* The head of the run holding live block p, or report_fatal. */
static uint32_t block_head(struct heap *h, const void *p, const char *op)
{
	uint32_t idx = page_index(h, p);
	if (unlikely(idx < h->first_page || idx >= h->npages))
		report_fatal("invalid %s of %p: heap %p metadata", op, p,
		    (void *)h);
	struct page *pm = heap_pages(h);
	switch (pm[idx].kind) {
	case PAGE_SLAB:
	case PAGE_SLAB_BODY: {
		uint32_t head = slab_of(h, idx);
		if (head != 0)
			return head;
		break;
	}
	case PAGE_LARGE:
		if (((uintptr_t)p & PAGE_MASK) == large_lead(&pm[idx]))
			return idx;
		break;
	case PAGE_FREE:
		if (((uintptr_t)p & PAGE_MASK) == 0)
			report_fatal("double free of %p in heap %p (%s)", p,
			    (void *)h, op);
		break;
	default:
		break;
	}
	report_fatal("invalid %s of %p in heap %p (not an allocated block; "
	    "double free?)", op, p, (void *)h);
}

static size_t block_usable(struct heap *h, uint32_t head)
{
	struct page *e = &heap_pages(h)[head];
	return e->kind == PAGE_SLAB ? sizeclasses[e->cls].size :
	    ((size_t)e->span << LG_PAGE) - large_lead(e);
}

size_t heap_usable_size(struct heap *h, const void *p)
{
	return heap_block_size(h, p, "usable_size");
}

size_t heap_block_size(struct heap *h, const void *p, const char *op)
{
	if (unlikely(refuge_has(h, p)))
		return refuge_usable(h, p, op);
	/* A live block's own entries do not change under us. */
	uint32_t head = block_head(h, p, op);
	struct page *e = &heap_pages(h)[head];
	if (e->kind == PAGE_SLAB)
		slab_block_index(h, e, head, p);
	return block_usable(h, head);
}

/* --enable-debug: every DEBUG_CHECK_EVERY slow-path frees per thread, the
 * whole heap is checked, so corruption is caught near its cause. */
#define DEBUG_CHECK_EVERY 4096
static __thread uint32_t debug_ops __attribute__((tls_model("initial-exec")));

static void debug_check(struct heap *h)
{
	char why[256];
	if (++debug_ops % DEBUG_CHECK_EVERY == 0 &&
	    heap_validate(h, why, sizeof(why)) != 0)
		report_fatal("heap %p is inconsistent: %s", (void *)h, why);
}

/* heap_free with h locked, for every block and every option: the lookup
 * that tells a large block from a bad pointer, tags, a cached copy, junk,
 * valgrind.  cls, head and idx are slab_block_of's answer (cls < 0: none).
 * Unlocks. */
static __attribute__((noinline)) size_t heap_free_locked(struct heap *h,
    void *p, int cls, uint32_t head, uint16_t idx)
{
	if (cls < 0) {   /* not a carved small block: large, or reported */
		head = block_head(h, p, "free");
		if (heap_pages(h)[head].kind == PAGE_SLAB) {
			idx = slab_block_index(h, &heap_pages(h)[head], head,
			    p);
			cls = heap_pages(h)[head].cls;
		}
	}
	struct page *e = &heap_pages(h)[head];
	size_t usable;
	if (unlikely(heap_tagging(h)))
		tag_drop_locked(h, p);
	if (cls >= 0) {
		usable = sizeclasses[cls].size;
		if (tcache_holds_block(h, (unsigned)cls, p))
			report_fatal("double free of %p in heap %p", p,
			    (void *)h);
		if (config_fill && opts.junk)
			memset(p, JUNK_FREE, usable);
		vg_free(h, p);
		slab_free_index(h, e, head, p, idx);
	} else {
		usable = ((size_t)e->span << LG_PAGE) - large_lead(e);
		if (config_fill && opts.junk)
			memset(p, JUNK_FREE, usable);
		vg_free(h, p);
		page_large_free(h, head);
		page_purge(h, false);
	}
	heap_unlock(h);
	return usable;
}

/* heap_free past the common case: the lock, waited for; the block stack
 * drained; every kind of block and option (heap_free_locked). */
static __attribute__((noinline)) size_t heap_free_slow(struct heap *h,
                                                       void *p)
{
	heap_lock(h);
	if (atomic_load_explicit(&h->remote, memory_order_relaxed))
		remote_drain(h);   /* a signal handler's frees */
	uint32_t head = 0;
	uint16_t idx = 0;
	int cls = slab_block_of(h, p, &head, &idx);
	return heap_free_locked(h, p, cls, head, idx);
}

size_t heap_free_past_quick(struct heap *h, void *p)
{
	if (unlikely(refuge_has(h, p) || tsection_in()))
		return refuge_free(h, p);
	if (config_debug)
		debug_check(h);
	return heap_free_slow(h, p);
}

/* A small block in one call (slab.c: slab_free_quick, which leaves a
 * refuge block alone).  A thread with a cache may hold a copy of the block
 * there (a double free around the cache: MALLOCX_TCACHE_NONE): it looks
 * first, without the lock (only this thread changes its cache, and a
 * block it holds keeps its slab, so the page map names its class), and
 * reports a block it finds, here: inside a locked section (a signal
 * handler) the block would go on the block stack unchecked, and reach
 * its slab while the cache still holds it. */
size_t heap_free(struct heap *h, void *p)
{
	if (!tcache_off() && tcache_holds(h, p))
		report_fatal("double free of %p in heap %p", p, (void *)h);
	size_t usable = slab_free_quick(h, p);
	return likely(usable != 0) ? usable : heap_free_past_quick(h, p);
}

/* ---- a signal handler inside its thread's locked section (refuge.c) ------ */

static void *refuge_alloc(struct heap *h, size_t size, size_t align,
                          size_t at, bool zero)
{
	size_t usable;
	void *p = refuge_take(h, size, align, at, &usable);
	return p ? block_ready(h, p, usable, zero, false) : NULL;
}

/* A refuge block goes back to the refuge (its tag dropped first); any
 * other block, in a handler inside a locked section, on the heap's block
 * stack, which the next lock holder drains (remote.c:remote_drain),
 * and so does a refuge block there while the heap has tags (the drain
 * drops the tag).  It is checked as far as can be without
 * the lock (a live block's own entries do not change); the drain catches
 * a double free. */
size_t refuge_free(struct heap *h, void *p)
{
	int junk = config_fill && opts.junk ? JUNK_FREE : -1;
	bool deferred = tsection_in();
	if (refuge_has(h, p)) {
		if (likely(!heap_tagging(h)))
			return refuge_give(h, p, junk);
		/* Its tag goes under the heap lock: now, or at the drain. */
		if (!deferred) {
			heap_lock(h);
			tag_drop_locked(h, p);
			heap_unlock(h);
			return refuge_give(h, p, junk);
		}
	}
	size_t usable = heap_block_size(h, p, "free");
	if (junk >= 0)
		memset(p, junk, usable);
	/* Memcheck keeps the block open until the drain frees it. */
	remote_push(h, (uint64_t)((uintptr_t)p - (uintptr_t)h), p,
	    usable);
	return usable;
}

/* Gives q the tags of p (realloc moved p to q). */
static void tags_move(struct heap *h, const void *p, const void *q)
{
	heap_lock(h);
	tag_move_locked(h, p, q);
	heap_unlock(h);
}

/* ---- resizing ------------------------------------------------------------ */

/* Resizes large block p (run head) in place to n pages; returns success. */
static bool large_resize(struct heap *h, uint32_t head, size_t n, bool zero)
{
	struct page *e = &heap_pages(h)[head];
	size_t old = e->span;
	bool ok = true, known_zero = false;

	if (n == old)
		return true;
	if (unlikely(tsection_in()))
		return false;   /* no lock: the caller moves the block */
	heap_lock(h);
	if (n < old)
		page_run_shrink(h, head, n);
	else
		ok = page_run_grow(h, head, n, &known_zero);
	if (ok && config_stats) {
		h->stats.allocated += (n << LG_PAGE);
		h->stats.allocated -= (old << LG_PAGE);
	}
	heap_unlock(h);
	if (!ok)
		return false;
	char *p = page_addr(h, head);
	vg_resize(h, p, old << LG_PAGE, n << LG_PAGE);
	if (n > old && zero && !known_zero)
		memset(p + (old << LG_PAGE), 0, (n - old) << LG_PAGE);
	return true;
}

/* Moves refuge block p to a block made as any other (from the refuge
 * again only inside a locked section). */
static void *refuge_realloc(struct heap *h, void *p, size_t size,
                            size_t align, bool zero)
{
	size_t old = refuge_usable(h, p, "realloc");
	void *q = heap_malloc_aligned(h, size, align, zero);
	if (q == NULL)
		return NULL;
	memcpy(q, p, old < size ? old : size);
	if (unlikely(heap_tagging(h)) && !tsection_in())
		tags_move(h, p, q);
	refuge_free(h, p);
	return q;
}

void *heap_realloc(struct heap *h, void *p, size_t size, size_t align,
                   bool zero)
{
	if (unlikely(refuge_has(h, p)))
		return refuge_realloc(h, p, size, align ? align : 1, zero);
	uint32_t head = block_head(h, p, "realloc");
	struct page *e = &heap_pages(h)[head];
	size_t old = block_usable(h, head);
	if (align == 0)
		align = 1;
	size_t want = size_usable_aligned(size, align);

	if (e->kind == PAGE_SLAB) {
		slab_block_index(h, e, head, p);
		if (want == old && ((uintptr_t)p & (align - 1)) == 0)
			return p;
	} else if (want > SMALL_MAX && ((uintptr_t)p & (align - 1)) == 0 &&
	    large_lead(e) == 0 && large_resize(h, head, want >> LG_PAGE, zero)) {
		return p;
	}
	/* Moving: through this thread's cache when the sizes allow. */
	void *q = NULL;
	if (align <= QUANTUM && !zero && size <= SMALL_MAX)
		q = tcache_alloc(h, size2class(size));
	if (q == NULL)
		q = heap_malloc_aligned(h, size, align, zero);
	if (q == NULL)
		return NULL;
	memcpy(q, p, old < size ? old : size);
	if (unlikely(heap_tagging(h)) && !tsection_in())
		tags_move(h, p, q);
	if (e->kind != PAGE_SLAB || !tcache_free(h, p))
		heap_free(h, p);
	return q;
}

size_t heap_resize_in_place(struct heap *h, void *p, size_t size,
                            size_t extra)
{
	if (unlikely(refuge_has(h, p)))
		return refuge_usable(h, p, "xallocx");   /* stays put */
	uint32_t head = block_head(h, p, "xallocx");
	struct page *e = &heap_pages(h)[head];

	if (e->kind == PAGE_SLAB || large_lead(e) != 0)
		return block_usable(h, head);   /* offset blocks stay put */
	/* Large: settle anywhere in [lo, hi] pages, as high as fits. */
	size_t most = extra > HEAP_ALLOC_MAX - size ? HEAP_ALLOC_MAX :
	    size + extra;
	/* Never below the smallest large class: a large block cannot become
	 * the slab block nallocx gives for a small size, so a request that
	 * fits only small sizes leaves it as it is (as jemalloc). */
	size_t least = (SMALL_MAX >> LG_PAGE) + 1;
	size_t lo = ALIGN_UP(size ? size : 1, PAGE) >> LG_PAGE;
	size_t hi = ALIGN_UP(most, PAGE) >> LG_PAGE;
	if (hi < least)
		return block_usable(h, head);
	lo = lo > least ? lo : least;
	size_t old = e->span;
	if (old > hi)
		large_resize(h, head, hi, false);
	else if (old < hi && !large_resize(h, head, hi, false) && old < lo)
		large_resize(h, head, lo, false);
	return block_usable(h, head);
}

struct heap *heap_owner_slow(const void *p, const char *op)
{
	struct heap *h = arena_of(p);
	if (h == NULL)
		h = registry_lookup(p);
	if (unlikely(h == NULL))
		report_fatal("invalid %s of %p (not in any heap)", op, p);
	return h;
}
