/*
 * engine.h -- a heap as a whole (heap.c: reset, repair, purge, the lock
 * that repairs), the checks of a heap read from memory (image.c), the
 * thread's side of the caches (tcache.c), allocation on one heap
 * (alloc.c) and fork (fork.c): the engine the public calls drive.
 */
#ifndef PH_ENGINE_H
#define PH_ENGINE_H

#include "parts.h"

/* ---- heap.c: a heap as a whole -------------------------------------------- */
void         heap_reset(struct heap *h);
void         heap_purge(struct heap *h, bool force);
/* Rebuilds what a process killed inside the lock may have left half
 * written (the crash rule, types.h); needs lock.  From the walk of head
 * spans (page_repair): tails, free-run lists, bins, counts, the slab map
 * and slab chains; then cuts the cache list at its first bad entry, drops
 * roots outside the heap, and takes back dead processes' caches and
 * table entries.  Always returns 0: a walk that is itself broken goes to
 * report_fatal ("page map damaged beyond repair"). */
int          heap_repair(struct heap *h);

/* Takes h's lock: tries once, then waits; a robust lock whose holder died
 * is taken over and what it protects repaired (heap_repair) before the
 * caller goes on.  Counts this thread's waits for its arena's lock (the
 * arena policy, arena.c).  heap_unlock ends it (parts.h). */
void heap_lock_wait(struct heap *h);   /* heap_lock's waiting half */

static inline void heap_lock(struct heap *h)
{
	if (unlikely(!heap_lock_fast(h))) {   /* always, for a robust lock */
		tsection_enter();
		heap_lock_wait(h);
	}
}

/* A consistent snapshot of one heap, taken under its lock. */
struct stats_snapshot {
	size_t allocated, active, dirty, mapped, resident, size, metadata;
	size_t free, largest_free, backed;
	size_t foreign_cached;   /* other arenas' blocks in this one's caches */
	size_t cached, ncaches;   /* bytes in thread caches; caches */
	uint64_t epoch;
	uint64_t nmalloc_large, ndalloc_large, cur_large;
	uint64_t npurged_pages, npurge_calls, nrepairs;
	struct {
		size_t size;
		uint32_t nregs, npages, nslabs;
		uint64_t nmalloc, ndalloc, curblocks;
	} bins[NBINS];
};
void heap_stats_read(struct heap *h, struct stats_snapshot *s);
/* The same without taking the lock (held, or h is a private copy). */
void heap_stats_read_locked(struct heap *h, struct stats_snapshot *s);

/* ---- image.c: a heap read from a file or segment is input ---------------
 * heap_image_validate checks, reading only and in time bounded by the
 * metadata, everything that joining, recovery and the first allocations
 * follow in the heap at h (a heap other processes may be using: see
 * image.c for how a busy heap is read).  file_size is the backing file's
 * size, or 0 to probe the mapping.  Returns 0, or EUCLEAN (damaged),
 * ENODATA (the file is shorter than the heap says), or heap_verify_header's
 * errno; why says what.  heap_image_check is the checks themselves, on a
 * heap nobody changes (the lock held, or a private copy): ph_heap_check
 * and phstat --check run it with mode 0.
 */
#define IMAGE_JOIN       0x1u   /* joined: no process arena, no remote stacks */
#define IMAGE_REPAIRABLE 0x2u   /* its lock's owner died: repair comes first */
int heap_image_validate(struct heap *h, size_t file_size, char *why,
                        size_t whylen);
int heap_image_check(struct heap *h, unsigned mode, char *why, size_t whylen);
int heap_validate(struct heap *h, char *why, size_t whylen);
/* heap_validate's checks without the header check and without the lock:
 * the caller holds it, or owns a private copy of the heap.  Only reads. */
int heap_validate_locked(struct heap *h, char *why, size_t whylen);

/* ---- tcache.c: the thread's side of the caches ------------------------------- */
void     tcache_slot_release(struct tslot *t);
/* A block of class cls through the cache; NULL: use the heap directly. */
void    *tcache_alloc(struct heap *h, unsigned cls);
/* Frees small block p into the cache; false: free it directly. */
bool     tcache_free(struct heap *h, void *p);
void     tcache_flush_thread(void);
/* Is p on one of this thread's caches of h?  (double-free check) */
bool     tcache_holds(struct heap *h, const void *p);
/* tcache_holds of small block p of class cls, its slab found already: no
 * search in a thread that has no cache, unless paranoid mode must look
 * through other processes' caches (tcache_holds_search). */
bool     tcache_holds_search(struct heap *h, unsigned cls, const void *p);
static inline bool tcache_holds_block(struct heap *h, unsigned cls,
                                      const void *p)
{
	return (opts.paranoid || !tcache_off()) &&
	    tcache_holds_search(h, cls, p);
}
void     tcache_detach(struct heap *h);
PH_FORK_CHILD void tcache_fork_child(struct heap *h);

/* ---- alloc.c: allocation on one heap -------------------------------------
 * Sizes are already checked against HEAP_ALLOC_MAX.  NULL means ENOMEM
 * (errno not set here).
 */
/* Usable size of a request at an alignment (nallocx). */
size_t size_usable_aligned(size_t size, size_t align);
void  *heap_malloc(struct heap *h, size_t size, bool zero);
/* heap_malloc for a caller whose slab_alloc_quick just said no: a small
 * size goes to the locked path without asking it again. */
void  *heap_malloc_past_quick(struct heap *h, size_t size, bool zero);
void  *heap_malloc_aligned(struct heap *h, size_t size, size_t align,
                           bool zero);
/* A large block whose address is `at` modulo `mod` (a power of two, at <
 * mod): a run placed so that the block starts at % PAGE bytes into it. */
void  *heap_malloc_at(struct heap *h, size_t size, size_t mod, size_t at,
                      bool zero);
/* Frees block p of h; returns its usable size. */
size_t heap_free(struct heap *h, void *p);
/* heap_free for a caller whose slab_free_quick just said no. */
size_t heap_free_past_quick(struct heap *h, void *p);
/* heap_free inside a locked section (refuge.c's rule), and of refuge
 * blocks: never takes the heap lock there. */
size_t refuge_free(struct heap *h, void *p);
void  *heap_realloc(struct heap *h, void *p, size_t size, size_t align,
                    bool zero);
/* Resizes in place to at least size, at most size+extra; returns the usable
 * size after (the old one if nothing could be done). */
size_t heap_resize_in_place(struct heap *h, void *p, size_t size,
                            size_t extra);
size_t heap_usable_size(struct heap *h, const void *p);
/* The same, naming op in the report of a bad pointer. */
size_t heap_block_size(struct heap *h, const void *p, const char *op);
/* The heap owning p, or report_fatal naming op if none does.  Inline, the
 * default heap's test: a free without a cache asks it on every call. */
struct heap *heap_owner_slow(const void *p, const char *op);
static inline struct heap *heap_owner(const void *p, const char *op)
{
	struct heap *h = atomic_load_explicit(&default_heap,
	    memory_order_acquire);
	if (likely(h != NULL && (uintptr_t)p - (uintptr_t)h < h->size))
		return h;
	return heap_owner_slow(p, op);
}


/* ---- fork.c: what a fork's child does ------------------------------------- */
/* Installs the at-fork handler; a constructor, run before main. */
void fork_install(void);
/* The constructors a process needs (fork.c, stats.c), named in each file
 * through which a program links phmalloc (malloc.c, heapapi.c): a static
 * link takes an archive's object only for a symbol it needs, and would
 * leave a constructor's object out. */
void stats_install(void);
#define INSTALLERS_LINK                                                     \
	static void (*const installers_link[])(void) __attribute__((used)) = \
	    { fork_install, stats_install }

#endif /* PH_ENGINE_H */
