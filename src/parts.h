/*
 * parts.h -- the parts of a heap, each over the ones before it (base.h
 * explains the layers): the process table, the registry of attached heaps,
 * pages, slabs, the refuge, the tag table, the block stack, the layout,
 * the process arenas, the depot, and the caches as the heap holds them.
 */
#ifndef PH_PARTS_H
#define PH_PARTS_H

#include "base.h"

/* ---- proc.c: the table of attached processes -----------------------------
 * This process joins it (a full table records nothing) and leaves it;
 * dead processes' entries are dropped (needs lock; returns how many).
 */
void     heap_proc_attach(struct heap *h);
void     heap_proc_detach(struct heap *h);
unsigned heap_proc_reclaim_locked(struct heap *h);
PH_FORK_CHILD void heap_proc_attach_fork_child(struct heap *h, uint32_t pid);
/* May a robust heap lock whose word names thread tid be taken over?  When
 * tid is no live thread, or one of a process not attached to the heap
 * (struct heap.procs), unless procs[] once overflowed (lock.c). */
bool     heap_lock_gone(const void *ctx, uint32_t tid);

/* Two adjacent 32-bit fields, the first 8-aligned, in one 64-bit store,
 * which a process killed at any instruction cannot split (the crash rule):
 * cache.c moves a bin's top and lo so, depot.c a class's n and lo.
 * Compiler fences on both sides keep the stores around it in order. */
typedef uint64_t __attribute__((may_alias)) pair32_word;
static inline void store_pair32(void *first, uint32_t a, uint32_t b)
{
	struct { uint32_t a, b; } pair = { a, b };
	pair32_word w;
	__builtin_memcpy(&w, &pair, sizeof(w));
	atomic_signal_fence(memory_order_seq_cst);
	__atomic_store_n((pair32_word *)first, w, __ATOMIC_RELAXED);
	atomic_signal_fence(memory_order_seq_cst);
}

/* ---- the heap's lock, without repair ---------------------------------------
 * heap_lock, which repairs after a holder that died, is engine.h's: the
 * parts below a whole heap only ever try the lock (never waiting) or run
 * with it held by their caller ("needs lock").
 */
/* struct heap.lock_seq, by whoever took h->lock: odd (and larger than any
 * value before, even if a holder died inside) before it changes anything,
 * even again when it is done. */
static inline void heap_seq_enter(struct heap *h)
{
	uint64_t s = atomic_load_explicit(&h->lock_seq, memory_order_relaxed);
	atomic_store_explicit(&h->lock_seq, (s + 2) | 1, memory_order_relaxed);
	atomic_thread_fence(memory_order_release);   /* before what follows */
}
static inline void heap_seq_leave(struct heap *h)
{
	uint64_t s = atomic_load_explicit(&h->lock_seq, memory_order_relaxed);
	atomic_store_explicit(&h->lock_seq, s + 1, memory_order_release);
}

/* heap_lock if the lock is free at once (futex locks only), else false;
 * never waits.  heap_unlock ends it. */
static inline bool heap_trylock(struct heap *h)
{
	tsection_enter();
	if (!lock_try(&h->lock)) {
		tsection_leave();
		return false;
	}
	heap_seq_enter(h);
	return true;
}

static inline void heap_unlock(struct heap *h)
{
	heap_seq_leave(h);
	lock_release(&h->lock);
	tsection_leave();
}
/* ---- registry.c: the process-local list of attached heaps ---------------- */
int          registry_add(struct heap *h);
/* Would registry_add say ENFILE now?  (Asked before a range is formatted;
 * another thread's add may still come first.) */
bool         registry_full(void);
void         registry_remove(struct heap *h);
/* Heaps that ph_heap_open mapped, and so ph_heap_close unmaps; fd is kept
 * open (else -1) when the heap grows its file. */
void         registry_set_owned(struct heap *h, int fd);
bool         registry_is_owned(const struct heap *h);
/* h was opened from the file or shm object fd (ph_heap_open, mmalloc):
 * is that object's heap attached already (registry_has_file)?  A second
 * attach of one heap, and its detach, would drop this process from the
 * heap's table while the first still uses it. */
void         registry_set_file(struct heap *h, int fd);
bool         registry_has_file(int fd);
int          registry_fd(const struct heap *h);
struct heap *registry_lookup(const void *p);
/* Calls fn for each attached heap (e.g. to lock them all before fork). */
void         registry_foreach(void (*fn)(struct heap *h));
/* Does [start, start+size) overlap an attached heap? */
bool         registry_overlaps(const void *start, size_t size);
/* The last system error this process met on h, for mmalloc_errno.  page.c's growth
 * notes its failures as unseen (the allocation layer reports ENOMEM); the
 * next caller that fails on h takes the real cause with registry_error_take. */
void         registry_error_note(struct heap *h, int err, bool unseen);
int          registry_error_last(const struct heap *h);
int          registry_error_take(struct heap *h);   /* 0 if none unseen */
/* In a fork's child: forgets a registry update a parent thread was in. */
PH_FORK_CHILD void registry_fork_child(void);


/* ---- page.c: the page map and runs --------------------------------------
 * Runs are carved from free runs (best fit by length class, TLSF-style) and
 * coalesced with free neighbours when freed.  Free pages of an OS-backed
 * heap are purged after opts.decay_ms.  All calls need heap->lock.
 */
/* The slab map: one word per page, right after struct heap, so that free's
 * fast path finds it at a constant offset.  Zero for a page that is not in
 * a slab; else slabmap_entry(class, pages from the slab's head), which
 * holds the class's cache bin (1 + class: bin 0 is no class's) and the
 * pages before it shifted so that the page's offset in its slab is a
 * mask.  Written only when slabs come and go, so the fast path reads
 * it without sharing a cache line with what refills and flushes write. */
#define SLABMAP_TAG         0x80000000u
#define SLABMAP_BIN_MASK    0xffu   /* struct tcache.bins index */
#define SLABMAP_DELTA_SHIFT 12   /* pages from the head, < SLAB_MAXPAGES */
#define SLABMAP_DELTA_MASK  (0xffu << SLABMAP_DELTA_SHIFT)
_Static_assert(SLAB_MAXPAGES <= (SLABMAP_DELTA_MASK >> SLABMAP_DELTA_SHIFT) + 1
    && 1 + NBINS <= SLABMAP_BIN_MASK + 1, "slab map entry fields");
static inline uint32_t slabmap_entry(unsigned cls, uint32_t delta)
{
	return SLABMAP_TAG | (1 + cls) | delta << SLABMAP_DELTA_SHIFT;
}
/* Byte offset, in its slab, of the page an entry describes. */
static inline uint32_t slabmap_page_offset(uint32_t e)
{
	return ((e & SLABMAP_DELTA_MASK) >> SLABMAP_DELTA_SHIFT) << LG_PAGE;
}
#define HEAP_HDR_BYTES ALIGN_UP(sizeof(struct heap), 64)
static inline uint32_t *heap_slabmap(struct heap *h)
{
	return (uint32_t *)((char *)h + HEAP_HDR_BYTES);
}
/* The page map, after the slab map. */
static inline struct page *heap_pages(struct heap *h)
{
	return (struct page *)((char *)h + HEAP_HDR_BYTES +
	    ALIGN_UP((size_t)h->npages * sizeof(uint32_t), 64));
}
static inline void *page_addr(struct heap *h, uint32_t idx)
{
	return (char *)h + ((size_t)idx << LG_PAGE);
}
static inline uint32_t page_index(struct heap *h, const void *p)
{
	return (uint32_t)(((uintptr_t)p - (uintptr_t)h) >> LG_PAGE);
}
size_t   page_map_bytes(size_t npages);     /* npages struct page entries */
size_t   page_meta_bytes(size_t npages);    /* page map and slab map */
/* Makes all data pages one free run whose first `dirty` pages may be dirty;
 * entries below clear_upto are cleared (a reset), the rest must be zero. */
void     page_map_init(struct heap *h, size_t dirty, size_t clear_upto);
/* Returns the head index of a new run of n pages, or 0 when none fits.
 * *zero tells whether the run is known to read as zero. */
uint32_t page_run_alloc(struct heap *h, size_t n, uint8_t kind, unsigned cls,
                        bool *zero);
/* A run of n pages at a given alignment (bytes, a power of two > PAGE). */
uint32_t page_run_alloc_aligned(struct heap *h, size_t n, size_t align,
                                bool *zero);
/* A large run of n pages whose address is `phase` modulo align (a power of
 * two >= PAGE; phase a PAGE multiple below it), its block starting `lead`
 * (< PAGE) bytes into the first page. */
uint32_t page_run_alloc_at(struct heap *h, size_t n, size_t align,
                           size_t phase, size_t lead, bool *zero);
/* Where a large head's block starts in its first page (types.h: lead). */
static inline size_t large_lead(const struct page *e)
{
	return e->kind == PAGE_LARGE ? e->nfree : 0;
}
void     page_run_free(struct heap *h, uint32_t head);
/* Shrinks an allocated run to n pages, freeing the rest. */
void     page_run_shrink(struct heap *h, uint32_t head, size_t n);
/* Grows an allocated run in place to n pages if the pages after it are free;
 * returns false (and changes nothing) otherwise. */
bool     page_run_grow(struct heap *h, uint32_t head, size_t n, bool *zero);
/* Purges free runs dirty for longer than decay (all of them if force). */
void     page_purge(struct heap *h, bool force);
size_t   page_largest_free(struct heap *h);
/* The page map's own checks; run_fn, if not NULL, checks each used run
 * (slab runs: image.c).  Reads only. */
int      page_validate(struct heap *h, int (*run_fn)(struct heap *, uint32_t,
                       char *, size_t), char *why, size_t whylen);
/* Rebuilds tails, free-run lists, dirty counts and the slab map and merges
 * adjacent free runs, from the walk of head spans; calls fn on each used
 * run.  Needs lock.
 * Returns 1 if the walk itself is broken. */
int      page_repair(struct heap *h, void (*fn)(struct heap *, uint32_t));
/* Frees large run head: the run and its counts.  Needs lock. */
void     page_large_free(struct heap *h, uint32_t head);
/* A growable heap grows its file by this many pages at least. */
static inline size_t heap_grow_step(size_t npages)
{
	size_t step = npages / 64;
	return step > HEAP_GROW_STEP_MIN ? step : HEAP_GROW_STEP_MIN;
}
/* Memory came free: wakes smalloc's waiters (smalloc.c), if any.  A new
 * generation of h->free_gen, and the futex wake only when a sleeper set
 * GEN_SLEEPERS in it; while nobody waits, one load and a branch. */
#define GEN_SLEEPERS 0x80000000u
void     page_wake_slow(struct heap *h);
static inline void heap_wake_waiters(struct heap *h)
{
	if (unlikely(atomic_load_explicit(&h->wait_until,
	    memory_order_relaxed) != 0))
		page_wake_slow(h);
}

/* ---- slab.c: small blocks ------------------------------------------------
 * A slab is a run of sizeclasses[c].npages pages cut into blocks; free
 * blocks form a chain through their first two bytes (block indices, masked
 * with the heap key), and their second word holds heap->free_key so that a
 * double free is caught.  All calls need heap->lock but remote_push
 * and slab_remote_give, which are made for callers without it.
 */
void *slab_alloc(struct heap *h, unsigned cls);
void  slab_free(struct heap *h, struct page *slab, uint32_t head, void *p);
/* The whole malloc and free of a thread without a cache, in one call and
 * without the lock held by the caller, when nothing is out of the common:
 * h's lock free at once (heap_lock_fast), a slab in the bin, no remote
 * blocks to drain; for a free, a carved small block (slab_block_of) whose
 * key does not say "maybe free", no tags; and no junk, zero, paranoid
 * mode, valgrind or debug build.  Otherwise NULL or 0 with nothing done,
 * and the caller goes the long way (alloc.c), which handles them all.
 * The free returns the block's usable size. */
void  *slab_alloc_quick(struct heap *h, unsigned cls);
size_t slab_free_quick(struct heap *h, void *p);
/* Up to n blocks of class cls into out, as offsets from h: how many (fewer
 * only when the heap has no room for another slab). */
uint32_t slab_alloc_batch(struct heap *h, unsigned cls, uint64_t *out,
                          uint32_t n);
/* How many of the offsets off[0..n), from the first, name blocks of class
 * cls carved from their slabs (handed out at least once). */
uint32_t slab_carved_prefix(struct heap *h, unsigned cls, const uint64_t *off,
                            uint32_t n);
/* The n blocks of class cls at offsets off from h back to their slabs;
 * aborts on one that is no block of cls handed out, or is free already. */
void  slab_free_batch(struct heap *h, unsigned cls, const uint64_t *off,
                      uint32_t n);
/* slab_free of block p whose index slab_block_index gave already. */
void  slab_free_index(struct heap *h, struct page *slab, uint32_t head,
                      void *p, uint16_t idx);
/* Gives the n small blocks of process arena h at offsets off[] back
 * without h's lock (n <= REMOTE_GIVE_MAX), on their slabs' remote lists;
 * returns the bytes given since the last drain. */
#define REMOTE_GIVE_MAX 256
uint64_t slab_remote_give(struct heap *h, const uint64_t *off, uint32_t n);
/* Splices every slab's remote list into its chain.  Needs lock. */
void     slab_remote_drain(struct heap *h);
/* The class of the block at offset off of h if it is the start of a block
 * its slab has carved (its slab's head page in *head unless head is
 * NULL), else -1.  Reads page entries only, never the block, and never
 * aborts: for offsets other threads, processes or damage may have
 * written (caches, depots, stacks). */
int   slab_carved_class(struct heap *h, uint64_t off, uint32_t *head);
/* The index of block p in its slab, or report_fatal for a pointer that is
 * not the start of a block handed out. */
uint16_t slab_block_index(struct heap *h, struct page *slab, uint32_t head,
                          const void *p);
int   slab_validate(struct heap *h, uint32_t head, char *why, size_t whylen);
/* The chain of slab head alone (indices, keys; not nfree, which a holder
 * killed inside may have left off by one): its length, or -1 and why. */
int   slab_chain_validate(struct heap *h, uint32_t head, char *why,
                          size_t whylen);
int   bin_validate(struct heap *h, char *why, size_t whylen);
void  slab_repair(struct heap *h, uint32_t head);
bool  slab_chain_has(struct heap *h, struct page *slab, uint32_t head,
                     uint16_t idx);
/* The head of the slab holding page idx, or 0 when idx is in no slab: the
 * one checked lookup (as musl mallocng's get_meta) for page entries that
 * another process, a dead one or a damaged file may have written.  A
 * nonzero answer is a slab head below hwm, of a class, of its class's
 * length, idx inside it, carved no further than its blocks. */
static inline uint32_t slab_of(struct heap *h, uint32_t idx)
{
	const struct page *pm = heap_pages(h);
	if (idx < h->first_page || idx >= h->hwm || idx >= h->npages)
		return 0;
	uint32_t head = pm[idx].kind == PAGE_SLAB_BODY ? pm[idx].span : idx;
	if (head > idx || idx - head >= SLAB_MAXPAGES || head < h->first_page)
		return 0;
	const struct page *s = &pm[head];
	if (s->kind != PAGE_SLAB || s->cls >= NBINS ||
	    s->span != sizeclasses[s->cls].npages || idx - head >= s->span ||
	    s->s.carved > sizeclasses[s->cls].nblocks)
		return 0;
	return head;
}

/* Is p a carved block of a slab of h?  Its class (else -1), its slab's
 * head in *head and its index in *idx: the checked lookup of slab_of by
 * the slab map, for a block whose class the caller does not know (the
 * free of a thread without a cache).  Every word read from the heap is
 * proved before it is followed, as slab_of's are; -1 also for a large
 * block, a free page or a pointer into no block, which the caller's full
 * lookup (alloc.c: block_head) then tells apart.  The same checks as
 * slab.c's slab_view_block, which serves batches of a known class: built
 * on that view, one lookup cost 13 to 21 instructions more (the view's
 * class words made for one block), so each keeps its own form. */
static inline int slab_block_of(struct heap *h, const void *p,
                                uint32_t *head, uint16_t *idx)
{
	uintptr_t off = (uintptr_t)p - (uintptr_t)h;
	uint32_t hwm = h->hwm < h->npages ? h->hwm : h->npages;
	if (off >> LG_PAGE >= hwm)
		return -1;
	uint32_t page = (uint32_t)(off >> LG_PAGE), e = heap_slabmap(h)[page];
	unsigned cls = (e & SLABMAP_BIN_MASK) - 1u;
	if (cls >= NBINS || (e & ~SLABMAP_DELTA_MASK) != slabmap_entry(cls, 0))
		return -1;
	const struct sizeclass *sc = &sizeclasses[cls];
	uint32_t delta = slabmap_page_offset(e) >> LG_PAGE, hd = page - delta;
	if (delta >= sc->npages || hd < h->first_page)
		return -1;
	const struct page *s = &heap_pages(h)[hd];
	uint32_t boff = ((uint32_t)off & PAGE_MASK) | delta << LG_PAGE;
	uint32_t i = (uint32_t)(((uint64_t)boff * sc->div_magic) >> 32);
	if (s->kind != PAGE_SLAB || s->cls != cls || s->span != sc->npages ||
	    i * sc->size != boff || i >= s->s.carved ||
	    s->s.carved > sc->nblocks)
		return -1;
	*head = hd;
	*idx = (uint16_t)i;
	return (int)cls;
}

/* Withdraws every live block, large ones too, from valgrind's view
 * (valgrind.h); walks the heap, so only under valgrind. */
void  slab_vg_forget(struct heap *h);

/* ---- refuge.c: what a handler gets inside its thread's locked section ---
 * Pages [refuge_page, first_page) of every heap, with an allocator and a
 * lock of their own; see refuge.c for the rule.  Each call takes the
 * refuge lock itself (signals blocked) and never the heap's. */
uint32_t refuge_pages(size_t npages);        /* pages of a heap's refuge */
uint32_t refuge_granules(uint32_t pages);    /* its granules */
/* Sets a freshly formatted heap's refuge fields (first_page set) and
 * clears its map unless the range reads as zero. */
void     refuge_format(struct heap *h, size_t npages, bool zeroed);
/* In a fork's child, for a heap of this process alone: a refuge lock
 * another thread of the parent held is cleared and the refuge repaired,
 * as for a holder that died (fork.c). */
PH_FORK_CHILD void refuge_fork_child(struct heap *h);
/* A block of size bytes whose pointer is `at` modulo align (a power of
 * two), its usable size in *usable; NULL if the refuge has no room. */
void    *refuge_take(struct heap *h, size_t size, size_t align, size_t at,
                     size_t *usable);
/* Gives back refuge block p, filled with byte `junk` unless junk < 0;
 * report_fatal for a pointer that is no live refuge block. */
size_t   refuge_give(struct heap *h, void *p, int junk);   /* usable */
size_t   refuge_usable(struct heap *h, const void *p, const char *op);
/* Usable bytes of the live refuge block at p, 0 if none starts there
 * (for reports: never aborts). */
size_t   refuge_bytes_at(struct heap *h, const void *p);
int      refuge_validate(struct heap *h, char *why, size_t whylen);
/* Without the lock: is every map entry one the code may meet? */
int      refuge_image_check(struct heap *h, char *why, size_t whylen);
void     refuge_reset(struct heap *h);   /* needs heap->lock, no users */

static inline bool refuge_has(const struct heap *h, const void *p)
{
	uintptr_t off = (uintptr_t)p - (uintptr_t)h;
	return off >= ((uintptr_t)h->refuge_page << LG_PAGE) &&
	    off < ((uintptr_t)h->first_page << LG_PAGE);
}


/* ---- tag.c: the tag table ---------------------------------------------------
 * The malloc and realloc tags of a heap's blocks, in a table at h->tags
 * made at the first tag (qmalloc.c); from then until a reset h->tagging
 * sends every free through heap_free, which drops the block's tag.  All
 * calls need heap->lock.
 */
struct tag_entry {
	uint64_t off;    /* block offset; TAG_EMPTY, or TAG_TOMB once dropped */
	uint64_t mtag;   /* malloc tag */
	uint64_t rtag;   /* realloc tag */
};
static inline bool heap_tagging(const struct heap *h)
{
	return atomic_load_explicit(&h->tagging, memory_order_relaxed) != 0;
}
/* The entry of block offset off; with create, made (tags 0) if missing.
 * NULL if absent, or no room to make it. */
struct tag_entry *tag_entry_get(struct heap *h, uint64_t off, bool create);
void     tag_entry_drop(struct heap *h, struct tag_entry *e);
void     tag_drop_locked(struct heap *h, const void *p);
/* Gives q the tags of p (realloc moved p to q). */
void     tag_move_locked(struct heap *h, const void *p, const void *q);
uint64_t tag_live(struct heap *h);        /* tagged blocks */
uint64_t tag_cap(struct heap *h);         /* entries of the table, 0: none */
size_t   tag_table_size(struct heap *h);  /* bytes of its run */
/* Usable bytes of the live block entry i names, its malloc tag in *mtag;
 * 0 for an empty or dropped entry, or one naming no live block. */
size_t   tag_block_at(struct heap *h, uint64_t i, uint64_t *mtag);
int      tag_validate(struct heap *h, char *why, size_t whylen);

/* ---- remote.c: the block stack ------------------------------------------------
 * Blocks given back without the heap's lock (signal handlers inside their
 * thread's section, blocks whose key says they may be free already).
 */
/* Pushes a chain from offset first to block last, linked through first
 * words, of `bytes` bytes; returns the bytes pushed since the last drain.
 * Takes no lock (inline: slab.c pushes here too). */
static inline uint64_t remote_push(struct heap *h, uint64_t first, void *last,
                                   uint64_t bytes)
{
	uint64_t old = atomic_load_explicit(&h->remote, memory_order_relaxed);
	do
		*(uint64_t *)last = old;
	while (!atomic_compare_exchange_weak_explicit(&h->remote, &old, first,
	    memory_order_release, memory_order_relaxed));
	return atomic_fetch_add_explicit(&h->remote_bytes, bytes,
	    memory_order_relaxed) + bytes;
}
/* Puts back every block of the slabs' remote lists and of the block
 * stack.  Needs lock. */
void     remote_drain(struct heap *h);
/* Takes the whole of one of h's remote stacks (0 if it is empty); the
 * pending bytes start again. */
static inline uint64_t heap_remote_take(struct heap *h, _Atomic uint64_t *top)
{
	if (atomic_load_explicit(top, memory_order_relaxed) == 0)
		return 0;
	uint64_t v = atomic_exchange_explicit(top, 0, memory_order_acquire);
	atomic_store_explicit(&h->remote_bytes, 0, memory_order_relaxed);
	return v;
}

/* ---- layout.c: where a heap's parts lie; formatting; the header check ---- */
struct heap *heap_format(void *base, size_t size, unsigned hflags, bool zeroed);
/* Decides who formats a range several processes may be configuring at
 * once: true, the range held zeroes (or neither a heap nor zeroes) and
 * this caller's compare-and-swap moved its init word to FORMATTING, so it
 * formats; false, a heap is there or another process is formatting it,
 * so it joins (heap_join waits while FORMATTING). */
bool         heap_claim(struct heap *h);
/* Validates a header found at base (size 0 = take the header's). */
int          heap_verify_header(const struct heap *h, size_t size);
size_t       heap_capacity_pages(size_t npages);
size_t       heap_initial_backing(size_t size);
/* Dirty pages at the start of a fresh data area, below upto. */
size_t       heap_initial_dirty(struct heap *h, size_t upto);

/* ---- arena.c: the process heap's arenas, and which one a thread uses ------ */
struct heap *heap_process(void);   /* arena 0, created on demand */
/* This thread's arena (one of heap_narenas(); threads start in arena 0
 * and move to another when they keep waiting for its lock). */
struct heap *heap_arena(void);
/* The arena policy, a pure function of the waits so that it can be tested
 * without a scheduler: a count of recent waits for the arena's lock,
 * decaying, each acquisition takes 1/16 off (rounded up, so that a calm
 * thread's count is 0 and heap_lock's uncontended path leaves it be) and
 * each wait adds ARENA_WAIT.
 * Past ARENA_MOVE_AT (half the acquisitions waited, lately; the fixed
 * point of "every other one waited" is 16 * ARENA_WAIT / 2) the thread
 * moves to another arena at its next malloc.  Two threads trading blocks
 * (larson) wait at more than a quarter of theirs (they moved at that
 * bound) and lose more by moving than by waiting: larson ran 15% slower
 * with a quarter than with a half. */
#define ARENA_WAIT    64u
#define ARENA_MOVE_AT 512u
static inline uint32_t arena_waits_note(uint32_t waits, bool waited)
{
	waits -= (waits + 15) >> 4;   /* rounded up: calm goes back to 0 */
	return waited ? waits + ARENA_WAIT : waits;
}
static inline bool arena_waits_say_move(uint32_t waits)
{
	return waits > ARENA_MOVE_AT;
}
/* heap_lock's first try alone (engine.h): false, nothing held, if the
 * lock is taken or robust; else held, and this thread's waits for its
 * arena decay as heap_lock's would.  A caller that goes to a slower
 * version of itself on false keeps no registers for the wait. */
static inline bool heap_lock_fast(struct heap *h)
{
	if (unlikely(!heap_trylock(h)))
		return false;
	if (unlikely(tthread.arena_waits != 0) && h == tthread.arena)
		tthread.arena_waits = arena_waits_note(tthread.arena_waits,
		    false);   /* 0 stays 0 */
	return true;
}
unsigned     heap_arena_index(void);   /* of this thread's arena */
int          heap_arena_set(unsigned i);   /* 0, or EINVAL */
/* The heap P(malloc) allocates from in this thread: the configured
 * private heap, else this thread's arena. */
struct heap *heap_for_malloc(void);
/* Is h what heap_for_malloc() gives this thread?  Makes nothing. */
bool         heap_is_thread_malloc(const struct heap *h);
unsigned     heap_narenas(void);
/* Arena i of what malloc uses (made on demand), NULL if there is none:
 * mallocx's MALLOCX_ARENA.  A configured private heap is arena 0. */
struct heap *heap_arena_nth(unsigned i);
struct heap *heap_arena_if_any(unsigned i);   /* NULL if not made (yet) */
/* jemalloc's arenas.create and arena.<i>.destroy: arenas of their own
 * made after the automatic ones.  0 or EAGAIN (none can be made), EFAULT
 * (i is not a created arena). */
int          heap_arena_create(unsigned *out);
int          heap_arena_destroy(unsigned i);
/* Created arena i, NULL if i is no created arena (arena.<i>.reset). */
struct heap *heap_arena_created(unsigned i);
bool         heap_arena_is_created(unsigned i);
/* Automatic arenas and every index created so far (arenas.narenas). */
unsigned     heap_narenas_total(void);
bool         heap_is_process(const struct heap *h);   /* any arena */
/* The arenas' reservation: arena i at arena_base + (i << arena_lg)
 * for i < arena_span >> arena_lg; arenas[i] is NULL until it is made. */
extern struct heap *_Atomic arenas[ARENAS_MAX];
extern uintptr_t arena_base;
extern unsigned arena_lg;
extern _Atomic uintptr_t arena_span;
/* The arena holding p, or NULL if p is in none (or in one not made). */
static inline struct heap *arena_of(const void *p)
{
	uintptr_t d = (uintptr_t)p - arena_base;
	if (d >= atomic_load_explicit(&arena_span, memory_order_acquire))
		return NULL;
	return atomic_load_explicit(&arenas[d >> arena_lg],
	    memory_order_acquire);
}
struct heap *heap_process_if_any(void);  /* NULL before the first malloc */
/* In a fork's child: clears the lock that guards making arenas, if a
 * thread of the parent held it (fork.c). */
PH_FORK_CHILD void heap_process_fork_child(void);
extern struct heap *_Atomic default_heap;   /* what P(malloc) uses */

/* ---- thp.c: dense arena chunks into huge pages, at forks ----------------- */
#define THP_FORKS   4     /* the fork from which the walk runs */
#define THP_SCAN    4     /* chunks a fork looks at, at most */
#define THP_HOLES   16    /* pages a chunk may miss and still be collapsed */
#define THP_REPASS  64    /* forks between walks */
#define THP_TRACK   4096  /* chunks of an arena remembered as collapsed */
#define THP_END     (-1)  /* thp_step: past h's last chunk */
#define THP_PAUSE   (-2)  /* thp_step: *scan ran out first */
/* What the walk remembers of one heap: the chunks it collapsed (the first
 * THP_TRACK), and how many chunks the heap had when it last looked. */
struct thp_track {
	uint32_t seen;
	uint8_t done[THP_TRACK / 8];
};
/* Looks at h's chunks from chunk *next on (the 2 MiB chunks wholly in its
 * data below hwm), at most *scan of them, and collapses the first that is
 * not marked done in t and has at most THP_HOLES pages not resident or
 * not its own (shared with a child, or the zero page): its answer (0 or
 * an errno value), or THP_END or THP_PAUSE if none was tried.  Advances
 * *next past what it looked at and lowers *scan. */
int  thp_step(struct heap *h, struct thp_track *t, uint32_t *next,
              unsigned *scan);
/* The fork's prepare handler's share (PHMALLOC_CONF=thp:auto), and the
 * child's. */
void thp_fork_prepare(void);
PH_FORK_CHILD void thp_fork_child(void);
/* Chunks collapsed so far, or (refused) collapses the kernel refused. */
uint64_t thp_count(bool refused);
/* Makes h the default heap, sending every thread's malloc fast path, which
 * caches the old one, to look again. */
void         heap_default_set(struct heap *h);
/* h goes away: if it was the default heap, the process heap is again. */
void         heap_default_forget(struct heap *h);

/* ---- depot.c: a process arena's free blocks between caches and slabs -----
 * All calls need heap->lock; only process arenas get a depot. */
/* Takes up to n offsets of class c's free blocks (out of their slabs);
 * returns how many (0 for a heap that is no process arena). */
uint32_t depot_put(struct heap *h, unsigned c, const uint64_t *off,
                   uint32_t n);
/* Gives up to want offsets of class c into out; returns how many. */
uint32_t depot_take(struct heap *h, unsigned c, uint64_t *out,
                    uint32_t want);
void     depot_drain(struct heap *h);   /* every block into its slab */
size_t   depot_bytes(struct heap *h);   /* bytes of the blocks held */
/* Bytes of the depot's own run, 0 if the heap has none (or its offset
 * names none). */
size_t   depot_run_bytes(struct heap *h);
int      depot_validate(struct heap *h, char *why, size_t whylen);


/* ---- cache.c: a heap's thread caches, as the heap holds them --------------
 * Each cache a large block of the heap on its list (heap->tcaches).  The
 * pushes and pops are inline, for the fast paths; everything else needs
 * heap->lock but cache_outbox_flush, which takes none.
 */
/* The block a cache slot names: slots hold offsets from the cache's heap
 * that may point below it (another arena's block), so the sum is taken on
 * integers, where wrapping is defined. */
static inline void *tcache_block(struct heap *h, uint64_t off)
{
	return (void *)((uintptr_t)h + off);
}

/* A push's store of top, after its slot's: with release, so that a
 * paranoid process reading the bin under the lock sees the slot below the
 * top it reads (cache.c:cache_list_holds).  On x86-64 every store is a
 * release (TSO) and a compiler fence is enough; an __atomic store there
 * made gcc spend 3 more instructions on free's fast path (callgrind). */
static inline void tcache_top_publish(struct tcache_bin *b, uint32_t top)
{
#if defined(__x86_64__) || defined(__i386__)
	atomic_signal_fence(memory_order_release);
	b->top = top;
#else
	__atomic_store_n(&b->top, top, __ATOMIC_RELEASE);
#endif
}

/* Push and pop write the slot, then top, so a process killed between the
 * two stores leaves a cache that reclaim can trust.  Callers check that
 * the bin has room (push) or a block (pop). */
static inline void tcache_push(struct tcache *tc, struct tcache_bin *b,
                               uint64_t off)
{
	uint32_t top = b->top;
	tc->slots[top] = off;
	tcache_top_publish(b, top + 1);
}

static inline uint64_t tcache_pop(struct tcache *tc, struct tcache_bin *b)
{
	uint32_t top = b->top - 1;
	uint64_t off = tc->slots[top];
	atomic_signal_fence(memory_order_release);
	b->top = top;
	return off;
}

/* The fast path's pop, of a bin of h's cache whose top the caller read
 * already (and found above lo): the block's address made before the fence,
 * so that gcc adds the slot to h straight from memory (2 instructions a
 * pair fewer than tcache_pop's offset, callgrind). */
static inline void *tcache_take_block(struct heap *h, struct tcache *tc,
                                      struct tcache_bin *b, uint32_t top)
{
	void *p = tcache_block(h, tc->slots[top - 1]);
	atomic_signal_fence(memory_order_release);
	b->top = top - 1;
	return p;
}

static inline struct tcache_bin *tcache_bin(struct tcache *tc, unsigned cls)
{
	return &tc->bins[1 + cls];
}

static inline uint32_t tcache_count(const struct tcache_bin *b)
{
	return b->top - b->lo;
}

/* The layout of h's caches: where each bin lies and how far it may grow
 * (types.h, sizeclass.c).  The scale was checked with the header
 * (layout.c:heap_verify_header); the bound keeps a damaged one in the
 * table. */
static inline const struct tcache_layout *cache_layout(const struct heap *h)
{
	return &tcache_layouts[h->tcache_scale < TCACHE_SCALES ?
	    h->tcache_scale : 0];
}

/* The cache at offset off on h's list, or NULL if off names none: the
 * list lives in memory other processes, or a damaged file, wrote.  Every
 * walk of the list goes through here. */
struct tcache *cache_checked(struct heap *h, uint64_t off);
/* Walks the heap's cache list; stops at the first bad entry and after
 * npages entries (a cycle).  Safe against destroying tc in the body. */
#define CACHE_FOREACH(h, tc, nx, guard)                                   \
	for (uint64_t guard = (h)->npages; guard != 0; guard = 0)         \
		for (struct tcache *tc = cache_checked((h), (h)->tcaches), \
		    *nx = tc ? cache_checked((h), tc->next) : NULL;        \
		    tc != NULL && guard-- != 0;                            \
		    tc = nx, nx = tc ? cache_checked((h), tc->next) : NULL)
/* How far a cache's bins may grow (cache.c, "how big a bin is"): their
 * limits add at most TCACHE_BUDGET bytes of blocks to their bases; a GC
 * pass every TCACHE_GC_EVENTS slow-path events; a bin that has not grown
 * for TCACHE_GC_CALM passes has its limit halved at each. */
#define TCACHE_BUDGET    ((size_t)8 << 20)
#define TCACHE_GC_EVENTS 64
#define TCACHE_GC_CALM   8
/* Where cache_bin_flush_locked sends blocks: the depot first (a live cache
 * that overflows), their slabs (an explicit flush: thread exit, mallctl),
 * their slabs each checked first (a dead owner's cache). */
enum cache_flush { FLUSH_DEPOT, FLUSH_HOME, FLUSH_CHECKED };
struct tcache *cache_create_locked(struct heap *h);   /* NULL: no room */
/* Flushes tc, takes it off the heap's list and frees it.  check: tc
 * belonged to a process that died; trust none of its blocks. */
void     cache_destroy_locked(struct heap *h, struct tcache *tc, bool check);
bool     cache_listed(struct heap *h, struct tcache *tc);
/* Gives back the oldest blocks of bin c until `keep` remain. */
void     cache_bin_flush_locked(struct heap *h, struct tcache *tc, unsigned c,
                                uint32_t keep, enum cache_flush how);
/* Bin c is full: makes room, by growing it if its use swings, else by
 * giving back its oldest half. */
void     cache_bin_overflow_locked(struct heap *h, struct tcache *tc,
                                   unsigned c);
/* A GC pass over tc's bins: lowers the limits of calm bins, trims idle
 * ones.  The slow paths run one every TCACHE_GC_EVENTS events. */
void     cache_gc_locked(struct heap *h, struct tcache *tc);
/* Sends every block in tc's outbox home; takes no lock. */
void     cache_outbox_flush(struct heap *h, struct tcache *tc);
/* Every block of tc back: outbox, bins, and the depot. */
void     cache_flush_locked(struct heap *h, struct tcache *tc);
/* Puts half a base bin's worth of blocks in empty bin c (growing it if
 * its use swings); false if the heap has none. */
bool     cache_refill_locked(struct heap *h, struct tcache *tc, unsigned c);
/* Is the block at offset off in tc's bin of cls, or in its outbox? */
bool     cache_holds(struct tcache *tc, unsigned cls, uint64_t off);
/* Is it in the bin of cls of any cache on h's list?  (paranoid mode) */
bool     cache_list_holds(struct heap *h, unsigned cls, uint64_t off);
/* Bytes of h's blocks in the caches listed in h; *foreign (if not NULL)
 * gets the bytes of other arenas' blocks those caches hold. */
size_t   cache_cached_bytes(struct heap *h, size_t *foreign);
size_t   cache_count_locked(struct heap *h);   /* caches on the list */
unsigned cache_reclaim_locked(struct heap *h);
/* Cuts the heap's cache list at its first bad entry; returns how many
 * caches are left on it. */
size_t   cache_repair_locked(struct heap *h);
size_t   cache_run_bytes(struct heap *h);   /* bytes of the run of a cache */
/* Bytes tc's bin limits add beyond their bases; at most TCACHE_BUDGET. */
size_t   cache_extra_bytes(const struct tcache *tc);
/* Does bin c of tc lie in one of the two rooms h's layout gives it (its
 * base room, at its base limit, or its wide room, between its base and
 * its cap), with its class's division magic and its guard?  (Its top is
 * the owner's, checked apart.) */
bool     cache_bin_laid_out(struct heap *h, const struct tcache *tc,
                            unsigned c);
/* Is bin c of tc a move between its rooms that a kill cut between its
 * stores: lo in one room, hi the other room's base end?  Reclaim
 * finishes it (cache.c, "two rooms"). */
bool     cache_bin_cut(struct heap *h, const struct tcache *tc, unsigned c);
/* The slots of the room bin c's lo starts (its base or its cap), 0 if lo
 * starts neither of its rooms. */
uint32_t cache_bin_room(const struct heap *h, const struct tcache *tc,
                        unsigned c);
int      cache_validate(struct heap *h, char *why, size_t whylen);


#endif /* PH_PARTS_H */
