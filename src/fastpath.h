/*
 * fastpath.h -- a small malloc or free served by this thread's cache: no
 * lock, no atomic read-modify-write, no call.  Shared by the standard
 * family (malloc.c, on the default heap's slot 0) and the heap handles
 * (heapapi.c).  Call with the thread marked busy (tbusy_enter): a signal
 * handler that allocates then goes around the caches.
 */
#ifndef PH_FASTPATH_H
#define PH_FASTPATH_H

#include "internal.h"

/* This thread's slot for h if its cache is good to use, else NULL.  h is
 * read only once a slot names it and no heap was detached since the slot
 * was last found good (another thread may have closed h: the slow path
 * asks the registry), so a bad handle is not followed here. */
static inline struct tslot *tslot_of(struct heap *h)
{
	for (unsigned i = 0; i < TCACHE_SLOTS; i++) {
		struct tslot *t = &tthread.slots[i];
		if (t->heap == h)
			return t->gen == atomic_load_explicit(&registry_gen,
			    memory_order_acquire) && t->epoch ==
			    atomic_load_explicit(&h->epoch,
			    memory_order_relaxed) ? t : NULL;
	}
	return NULL;
}

/* Pops a block of cache bin `bin` from t's cache into *out, adding its
 * usable size to *bytes unless bytes is NULL (a constant: the add is
 * compiled in or out); false if that bin is empty. */
static inline __attribute__((always_inline)) bool cache_alloc_bin(
    struct heap *h, struct tslot *t, size_t bin, void **out,
    uint64_t *bytes)
{
	struct tcache *tc = t->tc;
	struct tcache_bin *b = &tc->bins[bin];
	uint32_t top = b->top;
	if (unlikely(top == b->lo))
		return false;
	*out = tcache_take_block(h, tc, b, top);
	if (bytes != NULL)
		*bytes += b->size;
	return true;
}

/* The same for a request of size (<= SMALL_MAX) bytes. */
static inline __attribute__((always_inline)) bool cache_alloc_counted(
    struct heap *h, struct tslot *t, size_t size, void **out,
    uint64_t *bytes)
{
	/* (size_t: an unsigned bin costs a zero-extension more) */
	return cache_alloc_bin(h, t, (size_t)size2bin(size), out, bytes);
}

static inline __attribute__((always_inline)) bool cache_alloc(struct heap *h,
    struct tslot *t, size_t size, void **out)
{
	return cache_alloc_counted(h, t, size, out, NULL);
}

/* Pushes block p, at offset ooff in heap `owner`, on t's cache, where it is
 * kept as offset coff from the cache's own heap, if it is a small block
 * that looks live and the bin has room: the bin of its class if owner is
 * the cache's heap, else (another process arena) the outbox, which sends
 * it home (tcache.c).  Adds its usable size to *bytes unless bytes is
 * NULL.  False sends the caller to the slow path, which decides. */
static inline __attribute__((always_inline)) bool cache_push_block(
    struct heap *owner, uintptr_t ooff, struct tslot *t, uint64_t coff,
    bool home, uint64_t *bytes)
{
	/* Its slab map entry names its bin, bins[0] if it is in no slab
	 * (large or bad), whose div_magic of 0 turns every offset away. */
	uint32_t e = heap_slabmap(owner)[ooff >> LG_PAGE];
	size_t bin = e & SLABMAP_BIN_MASK;
	struct tcache *tc = t->tc;
	struct tcache_bin *cb = &tc->bins[bin];
	struct tcache_bin *b = home ? cb : &tc->outbox;
	/* the offset in the slab: in the page, plus the pages before it */
	uint32_t boff = ((uint32_t)ooff & (PAGE - 1)) + slabmap_page_offset(e);
	uint32_t top = b->top;
	/* Neither the block nor its slab's page entry is read: other threads
	 * write those lines.  A block never handed out is caught when it goes
	 * back to its slab.  slots[top - 1] is the guard if the bin is empty. */
	if (unlikely(!sizeclass_is_boundary(cb->div_magic, boff) ||
	    top == b->hi || tc->slots[top - 1] == coff))
		return false;   /* not a small block, full, or freed twice */
	tc->slots[top] = coff;
	tcache_top_publish(b, top + 1);
	if (bytes != NULL)
		*bytes += cb->size;
	return true;
}

/* Pushes p on t's cache if it is a small block of h, or, when h is a
 * process arena, of another arena: into the outbox, which tcache.c empties
 * onto the owners' remote stacks.  Only an arena's cache may: a shared
 * heap's cache is read by other processes.  A heap with tags sends its
 * frees to heap_free, which drops the tag.  bytes as in cache_push_block. */
static inline __attribute__((always_inline)) bool cache_free_counted(
    struct heap *h, struct tslot *t, void *p, uint64_t *bytes)
{
	uintptr_t off = (uintptr_t)p - (uintptr_t)h;
	/* cache_limit is h->size, or 0 while h keeps tags.  Each case has
	 * its own copy of the push, so the common one keeps one offset. */
	if (likely(off < atomic_load_explicit(&h->cache_limit,
	    memory_order_relaxed)))
		return cache_push_block(h, off, t, off, true, bytes);
	/* another arena's block, if h is an arena; or tags */
	struct heap *owner = arena_of(p);
	if (owner == NULL || !(h->flags & HEAP_F_OSMEM) ||
	    heap_tagging(owner))
		return false;
	return cache_push_block(owner, (uintptr_t)p - (uintptr_t)owner, t,
	    off, false, bytes);
}

static inline __attribute__((always_inline)) bool cache_free(struct heap *h,
    struct tslot *t, void *p)
{
	return cache_free_counted(h, t, p, NULL);
}

#endif /* PH_FASTPATH_H */
