/*
 * qmalloc.c -- the calls of Plan 9 and NIX's malloc that allocate and
 * inspect blocks: mallocalign, mallocz, msize and block tags, and their
 * ph_heap_* forms.  smalloc is in smalloc.c, the reports (mallocsummary,
 * malloctagreport) in summary.c, the tag table itself in tag.c.
 *
 * mallocalign.  A block starts where an ordinary block can start (a slot
 * of a slab, a page) or, for an offset no block start satisfies, `lead`
 * bytes into the first page of a large run: the run's head records the
 * lead (types.h), so free, realloc and usable_size know the block as they
 * know any other.  Waste: an offset of 0 gets an aligned block, whose
 * usable size is the request's class (at most twice the request when a
 * span forces a power-of-two alignment); any other offset gets a run of
 * ceil((lead + size) / PAGE) pages, so less than 2 PAGE bytes are wasted,
 * and the search needs mod / PAGE - 1 free pages more, given back at once.
 *
 * Tags.  Kept in the heap's tag table (tag.c), made at the first tag;
 * from then until a reset h->tagging keeps frees off the thread caches,
 * and heap_free drops the block's tag.  Tags are integers: never followed.
 */
#include <errno.h>
#include <string.h>

#include "internal.h"
#include "valgrind.h"
#include "phmalloc.h"

/* Public calls this file uses.  The public header is generated for the
 * configured prefix, which the drop-in variant does not share. */
PH_EXPORT void *P(malloc)(size_t size);
PH_EXPORT void *P(calloc)(size_t n, size_t size);

static void *fail_ptr(int err)
{
	errno = err;
	return NULL;
}

static bool is_pow2_or_0(size_t x)
{
	return (x & (x - 1)) == 0;
}

/* The smallest power of two >= x (x >= 1, x <= 2^63). */
static size_t pow2_ceil(size_t x)
{
	return x <= 1 ? 1 : (size_t)1 << (64 - __builtin_clzl(x - 1));
}

/* ---- mallocalign ---------------------------------------------------------- */

/* Where a block of size bytes must start: at `*at` modulo `*mod` (a power of
 * two).  0, or EINVAL when no start satisfies the request, or ENOMEM. */
static int align_plan(size_t size, size_t align, long offset, size_t span,
                      size_t *mod, size_t *at)
{
	if (!is_pow2_or_0(align) || !is_pow2_or_0(span))
		return EINVAL;
	if (size > HEAP_ALLOC_MAX || align > HEAP_ALLOC_MAX)
		return ENOMEM;
	size_t n = size ? size : 1;
	size_t a = align ? align : 1;
	/* offset mod a, negative offsets too: two's complement and a | 2^64. */
	size_t r = (size_t)offset & (a - 1);
	*mod = a;
	*at = r;
	if (span == 0)
		return 0;
	if (n > span)
		return EINVAL;
	if (a >= span)   /* span | a: every start sits at r % span in its span */
		return (r & (span - 1)) + n <= span ? 0 : EINVAL;
	/* Start at r in a window of w = 2^k >= r + n: windows (w <= span)
	 * never cross a span boundary, and a | w keeps p = r mod a. */
	if (r + n > span)
		return EINVAL;
	size_t w = pow2_ceil(r + n);
	*mod = w > a ? w : a;
	return 0;
}

static void *heap_mallocalign(struct heap *h, size_t size, size_t align,
                              long offset, size_t span)
{
	size_t mod, at;
	int err = align_plan(size, align, offset, span, &mod, &at);
	if (err)
		return fail_ptr(err);
	void *p = at == 0 ? heap_malloc_aligned(h, size, mod, opts.zero) :
	    heap_malloc_at(h, size, mod, at, opts.zero);
	return p != NULL ? p : fail_ptr(ENOMEM);
}

/* ---- tag calls ------------------------------------------------------------ */

/* Usable bytes of p, which must be a live block of h, or report_fatal
 * naming op.  A small block is also looked for among the free ones, as a
 * free does.  Needs lock. */
static size_t block_live(struct heap *h, const void *p, const char *op)
{
	size_t bytes = heap_block_size(h, p, op);
	struct page *pm = heap_pages(h);
	uint32_t head = slab_of(h, page_index(h, p));
	if (head != 0) {
		uint16_t k = slab_block_index(h, &pm[head], head, p);
		/* The key is a shortcut memcheck would call a read of the
		 * user's uninitialised bytes: under valgrind, walk. */
		if (((vg_on() || ((const uint64_t *)p)[1] == h->free_key) &&
		    slab_chain_has(h, &pm[head], head, k)) ||
		    tcache_holds(h, p))
			report_fatal("%s of %p in heap %p: the block is free",
			    op, p, (void *)h);
	}
	return bytes;
}

static void tag_set(void *p, uintptr_t tag, bool realloc_tag, const char *op)
{
	if (p == NULL)
		return;
	struct heap *h = heap_owner(p, op);
	heap_lock(h);
	block_live(h, p, op);
	struct tag_entry *e = tag_entry_get(h,
	    (uint64_t)((char *)p - (char *)h), tag != 0);
	if (e != NULL) {
		if (realloc_tag)
			e->rtag = tag;
		else
			e->mtag = tag;
		if (e->mtag == 0 && e->rtag == 0)
			tag_entry_drop(h, e);
	} else if (tag != 0) {
		errno = ENOMEM;   /* no room in the heap for the table */
	}
	heap_unlock(h);
}

static uintptr_t tag_get(void *p, bool realloc_tag, const char *op)
{
	if (p == NULL)
		return 0;
	struct heap *h = heap_owner(p, op);
	heap_lock(h);
	block_live(h, p, op);
	struct tag_entry *e = heap_tagging(h) ? tag_entry_get(h,
	    (uint64_t)((char *)p - (char *)h), false) : NULL;
	uintptr_t tag = e == NULL ? 0 : realloc_tag ? e->rtag : e->mtag;
	heap_unlock(h);
	return tag;
}

/* ---- the calls, with the configured prefix ----------------------------------- */

PH_EXPORT void *P(mallocalign)(size_t size, size_t align, long offset,
                               size_t span)
{
	struct heap *h = heap_for_malloc();
	return h != NULL ? heap_mallocalign(h, size, align, offset, span) :
	    fail_ptr(ENOMEM);
}

PH_EXPORT void *P(mallocz)(size_t size, int clr)
{
	return clr ? P(calloc)(1, size) : P(malloc)(size);
}

PH_EXPORT size_t P(msize)(void *p)
{
	if (p == NULL)
		return 0;
	/* Every block owns its usable bytes already: growing is naming them. */
	struct heap *h = heap_owner(p, "msize");
	heap_lock(h);
	size_t bytes = block_live(h, p, "msize");
	heap_unlock(h);
	return bytes;
}

PH_EXPORT void P(setmalloctag)(void *p, uintptr_t tag)
{
	tag_set(p, tag, false, "setmalloctag");
}

PH_EXPORT uintptr_t P(getmalloctag)(void *p)
{
	return tag_get(p, false, "getmalloctag");
}

PH_EXPORT void P(setrealloctag)(void *p, uintptr_t tag)
{
	tag_set(p, tag, true, "setrealloctag");
}

PH_EXPORT uintptr_t P(getrealloctag)(void *p)
{
	return tag_get(p, true, "getrealloctag");
}

/* ---- heap handles -------------------------------------------------------------- */

PH_EXPORT void *ph_heap_mallocalign(ph_heap_t *hp, size_t size, size_t align,
                                    long offset, size_t span)
{
	return heap_mallocalign(heap_handle(hp), size, align, offset, span);
}
