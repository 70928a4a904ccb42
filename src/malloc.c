/*
 * malloc.c -- the standard family and jemalloc's *allocx, with the
 * configured prefix (P(malloc) is je_malloc, ph_malloc or malloc).
 *
 * This is the layer that owns errno: it checks sizes and alignments, picks
 * the heap (the default heap to allocate, the owning heap to free), and
 * sets ENOMEM / EINVAL exactly as C and POSIX say.
 */
#include <errno.h>
#include <string.h>

#include "fastpath.h"
#include "internal.h"

INSTALLERS_LINK;

/* mallocx flags (the public header's encoding) */
#define FLAG_LG_ALIGN_MASK 0x3f
#define FLAG_ZERO          0x40
#define FLAG_TCACHE_MASK   0xfff00 /* MALLOCX_TCACHE(tc): tc + 2 */
#define FLAG_TCACHE_NONE   0x100   /* MALLOCX_TCACHE(-1) */
#define FLAG_ARENA_SHIFT   20      /* MALLOCX_ARENA(a): a + 1 from here up */

/* [jemalloc] thread.allocated and thread.deallocated (ctl.c) count the
 * usable bytes of every block this thread had from the standard and
 * *allocx families and gave back to them, in tthread, when configured with
 * statistics (the default; 9 instructions a malloc+free pair, 0.5 ns).
 * Plain adds on the fast paths: a signal handler that allocates between
 * the load and the store of one of them loses its own count (they are
 * statistics; nothing is freed by them). */
#define ALLOCATED   (config_stats ? &tthread.allocated : NULL)
#define DEALLOCATED (config_stats ? &tthread.deallocated : NULL)

static inline void count(uint64_t *counter, size_t bytes)
{
	if (config_stats)
		*counter += bytes;
}
static inline bool is_pow2(size_t x)
{
	return x != 0 && (x & (x - 1)) == 0;
}

/* A block of h (NULL: no heap could be had, ENOMEM), past the caches. */
static void *alloc_in(struct heap *h, size_t size, size_t align, bool zero)
{
	void *p = likely(h != NULL && size <= HEAP_ALLOC_MAX &&
	    align <= HEAP_ALLOC_MAX) ? heap_malloc_aligned(h, size, align,
	    zero || opts.zero) : NULL;
	if (unlikely(p == NULL))
		errno = ENOMEM;
	else if (config_stats)   /* the size's class, or the refuge's block */
		count(&tthread.allocated, unlikely(refuge_has(h, p)) ?
		    heap_usable_size(h, p) : size_usable_aligned(size, align));
	return p;
}

/* Out of line: the fast paths that fall back to it keep no frame. */
static __attribute__((noinline)) void *alloc_checked(size_t size,
    size_t align, bool zero)
{
	return alloc_in(heap_for_malloc(), size, align, zero);
}

/* ---- the fast paths (fastpath.h) on the default heap; the rest is slow ---- */

/* p, a small block of h of class cls from the long way, or NULL (ENOMEM),
 * counted: its class's size, or a refuge block's own, as free will count
 * it (a signal handler inside its thread's locked section gets one). */
static __attribute__((noinline)) void *small_counted(struct heap *h, void *p,
                                                     unsigned cls)
{
	if (unlikely(p == NULL))
		errno = ENOMEM;
	else if (config_stats)
		count(&tthread.allocated, refuge_has(h, p) ?
		    heap_usable_size(h, p) : sizeclasses[cls].size);
	return p;
}

/* A small block of the default heap past the caches (no cache, or
 * MALLOCX_TCACHE_NONE): the common case is one call (slab_alloc_quick),
 * and when it says no heap_malloc_past_quick does not ask again. */
static inline __attribute__((always_inline)) void *malloc_locked(
    size_t size)
{
	struct heap *h = heap_for_malloc();
	if (unlikely(h == NULL)) {
		errno = ENOMEM;   /* no address space for the process heap */
		return NULL;
	}
	unsigned cls = size2class(size);
	void *p = slab_alloc_quick(h, cls);
	if (likely(p != NULL)) {
		count(&tthread.allocated, sizeclasses[cls].size);
		return p;
	}
	return small_counted(h, heap_malloc_past_quick(h, size, opts.zero),
	    cls);
}

static __attribute__((noinline)) void *malloc_slow(size_t size)
{
	if (size > SMALL_MAX)
		return alloc_checked(size, 0, false);
	if (tcache_off())
		return malloc_locked(size);
	struct heap *h = heap_for_malloc();
	if (unlikely(h == NULL)) {
		errno = ENOMEM;   /* no address space for the process heap */
		return NULL;
	}
	unsigned cls = size2class(size);
	void *p = opts.zero ? NULL : tcache_alloc(h, cls);
	if (likely(p != NULL)) {
		count(&tthread.allocated, sizeclasses[cls].size);
		return p;
	}
	return small_counted(h, heap_malloc(h, size, opts.zero), cls);
}

/* malloc's body, inline in malloc and in the aligned calls that a small
 * class satisfies (no second trip through the PLT). */
static inline __attribute__((always_inline)) void *malloc_inline(size_t size)
{
	struct tslot *t;
	if (likely(size <= SMALL_MAX && (t = tslot0_enter()) != NULL)) {
		void *p;
		bool done = cache_alloc_counted(t->heap, t, size, &p,
		    ALLOCATED);
		tbusy_leave();
		if (likely(done))
			return p;
	}
	return malloc_slow(size);
}

PH_EXPORT void *P(malloc)(size_t size)
{
	return malloc_inline(size);
}

/* malloc_inline for a block of cache bin `bin`, whose class's size is
 * size: the aligned calls, which know the bin.  (malloc_inline written on
 * top of this costs malloc one instruction: it looks the bin up before
 * testing the slot.) */
static inline __attribute__((always_inline)) void *malloc_bin_inline(
    size_t bin, size_t size)
{
	struct tslot *t = tslot0_enter();
	if (likely(t != NULL)) {
		void *p;
		bool done = cache_alloc_bin(t->heap, t, bin, &p, ALLOCATED);
		tbusy_leave();
		if (likely(done))
			return p;
	}
	return malloc_slow(size);
}

/* An aligned block, through the caches when a small class satisfies the
 * alignment (a class whose size is a multiple of it: slabs start on a
 * page): then it is a malloc of that class's size.  Before the first heap
 * the class tables read zero, so the answer is "none" and the slow path
 * makes the heap (and the tables). */
static inline __attribute__((always_inline)) void *alloc_aligned(size_t size,
    size_t align, bool zero)
{
	if (likely(size <= SMALL_MAX && align <= PAGE)) {
		/* Every small block is QUANTUM-aligned. */
		if (align <= QUANTUM && !zero)
			return malloc_inline(size);
		size_t bin = align <= QUANTUM ? size2bin(size) :
		    size2bin_aligned(size, align);
		size_t usable = bin_size_tab[bin];
		if (usable != 0) {
			void *p = malloc_bin_inline(bin, usable);
			if (p != NULL && zero)
				memset(p, 0, usable);
			return p;
		}
	}
	return alloc_checked(size, align, zero);
}

/* A block of a heap handle's heap this thread caches: into that cache,
 * still without a lock or a registry walk.  (Other arenas' blocks took
 * slot 0 on the fast path.)  False: nothing cached it.  A slot's heap is
 * read only for a pointer inside it (the slot keeps its size) and while
 * no heap was detached since: another thread may have closed it. */
static bool free_other_slot(void *p)
{
	bool done = false;
	tbusy_enter();
	uint32_t gen = atomic_load_explicit(&registry_gen,
	    memory_order_acquire);
	for (unsigned i = 1; i < TCACHE_SLOTS && !done; i++) {
		struct tslot *t = &tthread.slots[i];
		struct heap *h = t->heap;
		if (h != NULL && (uintptr_t)p - (uintptr_t)h < t->size &&
		    t->gen == gen && t->epoch == atomic_load_explicit(
		    &h->epoch, memory_order_relaxed))
			done = cache_free_counted(h, t, p,
			    DEALLOCATED);
	}
	tbusy_leave();
	return done;
}

/* A block of h, past the caches (MALLOCX_TCACHE_NONE). */
static void free_direct(struct heap *h, void *p)
{
	count(&tthread.deallocated, heap_free(h, p));
}

/* realloc and rallocx: p's block of h made size bytes, NULL and ENOMEM if
 * it cannot be (p is then left as it was). */
static void *realloc_in(struct heap *h, void *p, size_t size, size_t align,
                        bool zero)
{
	size_t old = heap_usable_size(h, p);
	void *q = heap_realloc(h, p, size, align, zero);
	if (unlikely(q == NULL)) {
		errno = ENOMEM;
		return NULL;
	}
	count(&tthread.deallocated, old);
	count(&tthread.allocated, heap_usable_size(h, q));
	return q;
}

/* When called inside this thread's cache work (from a signal handler),
 * no cache. */
static __attribute__((noinline)) void free_slow(void *p)
{
	if (p == NULL)
		return;
	if (tcache_off()) {   /* the common case in one call */
		struct heap *h = heap_owner(p, "free");
		size_t usable = slab_free_quick(h, p);
		count(&tthread.deallocated, usable != 0 ? usable :
		    heap_free_past_quick(h, p));
		return;
	}
	if (!tbusy() && free_other_slot(p))
		return;
	struct heap *h = heap_owner(p, "free");
	/* A block that is not live is reported as a bad "free", not as the
	 * size query that finds it out. */
	count(&tthread.deallocated, heap_block_size(h, p, "free"));
	if (!tcache_free(h, p))
		heap_free(h, p);
}

PH_EXPORT void *P(calloc)(size_t n, size_t size)
{
	size_t total;
	/* The product is exact iff the builtin reports no overflow. */
	if (unlikely(__builtin_mul_overflow(n, size, &total))) {
		errno = ENOMEM;
		return NULL;
	}
	if (total <= SMALL_MAX) {
		void *p = malloc_inline(total);
		if (p != NULL)
			memset(p, 0, total);
		return p;
	}
	return alloc_checked(total, 0, true);
}

PH_EXPORT void P(free)(void *p)
{
	struct tslot *t = tslot0_enter();   /* busy, as in malloc */
	if (likely(t != NULL)) {
		bool done = cache_free_counted(t->heap, t, p,
		    DEALLOCATED);
		tbusy_leave();
		if (likely(done))
			return;
	}
	free_slow(p);
}

PH_EXPORT void *P(realloc)(void *p, size_t size)
{
	if (p == NULL)
		return alloc_checked(size, 0, false);
	if (size == 0) {
		/* glibc's behaviour: free and return NULL. */
		P(free)(p);
		return NULL;
	}
	struct heap *h = heap_owner(p, "realloc");
	if (unlikely(size > HEAP_ALLOC_MAX)) {
		errno = ENOMEM;
		return NULL;
	}
	return realloc_in(h, p, size, 0, opts.zero);
}

PH_EXPORT int P(posix_memalign)(void **out, size_t align, size_t size)
{
	if (!is_pow2(align) || align % sizeof(void *) != 0)
		return EINVAL;
	int saved = errno;
	void *p = alloc_aligned(size, align, false);
	if (p == NULL) {
		errno = saved;
		return ENOMEM;
	}
	*out = p;
	return 0;
}

PH_EXPORT void *P(aligned_alloc)(size_t align, size_t size)
{
	if (!is_pow2(align)) {
		errno = EINVAL;
		return NULL;
	}
	return alloc_aligned(size, align, false);
}

PH_EXPORT void *P(memalign)(size_t align, size_t size)
{
	/* Every block is QUANTUM-aligned: below that (a non-power of two
	 * too, which glibc rounds up) memalign is malloc. */
	if (likely(align <= QUANTUM))
		return malloc_inline(size);
	if (!is_pow2(align)) {
		if (align > HEAP_ALLOC_MAX) {
			errno = EINVAL;
			return NULL;
		}
		align = (size_t)1 << (64 - __builtin_clzl(align));
	}
	return alloc_aligned(size, align, false);
}

PH_EXPORT void *P(valloc)(size_t size)
{
	return alloc_aligned(size, PAGE, false);
}

PH_EXPORT void *P(pvalloc)(size_t size)
{
	if (size > HEAP_ALLOC_MAX) {
		errno = ENOMEM;
		return NULL;
	}
	return alloc_aligned(ALIGN_UP(size ? size : 1, PAGE), PAGE, false);
}

PH_EXPORT size_t P(malloc_usable_size)(const void *p)
{
	if (p == NULL)
		return 0;
	return heap_usable_size(heap_owner(p, "malloc_usable_size"), p);
}

/* ---- jemalloc's non-standard family ------------------------------------- */

static inline size_t flag_align(int flags)
{
	unsigned lg = (unsigned)flags & FLAG_LG_ALIGN_MASK;
	return lg ? (size_t)1 << lg : 0;
}

/* MALLOCX_TCACHE_NONE, and not MALLOCX_TCACHE(tc) of another tc */
static inline bool flag_tcache_none(int flags)
{
	return ((unsigned)flags & FLAG_TCACHE_MASK) == FLAG_TCACHE_NONE;
}

PH_EXPORT void *P(mallocx)(size_t size, int flags)
{
	size_t align = flag_align(flags);
	/* [jemalloc] MALLOCX_ARENA(a): from arena a, under its lock (no
	 * cache); NULL when there is no arena a. */
	unsigned arena = (unsigned)flags >> FLAG_ARENA_SHIFT;
	if (unlikely(arena != 0))
		return alloc_in(heap_arena_nth(arena - 1), size, align,
		    (flags & FLAG_ZERO) != 0);
	if (!flag_tcache_none(flags))
		return alloc_aligned(size, align, (flags & FLAG_ZERO) != 0);
	if (size <= SMALL_MAX && align <= QUANTUM && !(flags & FLAG_ZERO))
		return malloc_locked(size);
	return alloc_checked(size, align, (flags & FLAG_ZERO) != 0);
}

/* [jemalloc] rallocx with MALLOCX_ARENA(a): p stays if it already is the
 * block a would give (its class, at the alignment), else a new block of a
 * takes its contents (the zero flag zeroes the rest) and p is freed. */
static void *realloc_into(struct heap *a, struct heap *h, void *p,
                          size_t size, size_t align, bool zero)
{
	size_t old = heap_usable_size(h, p);
	if (((uintptr_t)p & (align - 1)) == 0 && old >= size &&
	    size_usable_aligned(size, align) == old)
		return p;   /* already that block */
	void *q = alloc_in(a, size, align, zero);
	if (q == NULL)
		return NULL;
	memcpy(q, p, old < size ? old : size);
	P(free)(p);
	return q;
}

PH_EXPORT void *P(rallocx)(void *p, size_t size, int flags)
{
	size_t align = flag_align(flags);
	if (unlikely(size > HEAP_ALLOC_MAX || align > HEAP_ALLOC_MAX)) {
		errno = ENOMEM;
		return NULL;
	}
	struct heap *h = heap_owner(p, "rallocx");
	bool zero = (flags & FLAG_ZERO) != 0 || opts.zero;
	unsigned arena = (unsigned)flags >> FLAG_ARENA_SHIFT;
	if (unlikely(arena != 0)) {
		struct heap *a = heap_arena_nth(arena - 1);
		if (a != h)
			return realloc_into(a, h, p, size, align ? align : 1,
			    zero);
	}
	return realloc_in(h, p, size, align ? align : 1, zero);
}

PH_EXPORT size_t P(xallocx)(void *p, size_t size, size_t extra, int flags)
{
	struct heap *h = heap_owner(p, "xallocx");
	size_t old = heap_usable_size(h, p), align = flag_align(flags);
	/* [jemalloc] a block not at the alignment asked for stays as it is */
	if (size > HEAP_ALLOC_MAX || (align != 0 &&
	    ((uintptr_t)p & (align - 1)) != 0))
		return old;
	size_t now = heap_resize_in_place(h, p, size, extra);
	if (now > old && ((flags & FLAG_ZERO) || opts.zero))
		memset((char *)p + old, 0, now - old);
	if (now != old) {   /* jemalloc counts a resize as both */
		count(&tthread.deallocated, old);
		count(&tthread.allocated, now);
	}
	return now;
}

PH_EXPORT size_t P(sallocx)(const void *p, int flags)
{
	return heap_usable_size(heap_owner(p, "sallocx"), p);
}

PH_EXPORT void P(dallocx)(void *p, int flags)
{
	if (flag_tcache_none(flags))
		free_direct(heap_owner(p, "dallocx"), p);
	else
		P(free)(p);
}

PH_EXPORT size_t P(nallocx)(size_t size, int flags)
{
	size_t align = flag_align(flags);
	if (size > HEAP_ALLOC_MAX || align > HEAP_ALLOC_MAX)
		return 0;
	sizeclass_init();
	return size_usable_aligned(size, align);
}

PH_EXPORT void P(sdallocx)(void *p, size_t size, int flags)
{
	struct heap *h = heap_owner(p, "sdallocx");
	size_t usable = heap_usable_size(h, p);
	size_t claimed = P(nallocx)(size, flags);
	/* A size between the request and the usable size is fine; a refuge
	 * block's usable size is no class's. */
	if (unlikely(size > usable || (claimed != usable &&
	    !refuge_has(h, p) &&
	    P(nallocx)(size, 0) != usable && size <= SMALL_MAX)))
		report_fatal("sdallocx of %p with size %zu, but the block "
		    "holds %zu", p, size, usable);
	if (flag_tcache_none(flags))
		free_direct(h, p);
	else
		P(free)(p);
}
