/*
 * internal.h -- the modules of phmalloc and what each is responsible for.
 *
 * Error convention inside the library: functions that can fail for want of
 * memory return NULL / 0 (page index) and leave errno to the public layer;
 * functions returning int return 0 or an errno value.  Corruption and misuse
 * never return: they go to report_fatal (error.c), the one place that prints
 * and aborts.
 */
#ifndef PH_INTERNAL_H
#define PH_INTERNAL_H

#include <stdarg.h>
#include <stdnoreturn.h>

#include "types.h"

#define PH_CAT2(a, b)   a##b
#define PH_CAT(a, b)    PH_CAT2(a, b)
/* P(malloc) is the configured public name: je_malloc, ph_malloc, malloc. */
#define P(name)         PH_CAT(PH_PREFIX, name)
#define PH_STR2(x)      #x
#define PH_STR(x)       PH_STR2(x)
#define PH_EXPORT       __attribute__((visibility("default")))
#define likely(x)       __builtin_expect(!!(x), 1)
/* What a fork's child runs before it returns: gcc puts cold functions
 * side by side (.text.unlikely), so that a child faults in one or two
 * pages of code, not one per file (each costs a minor fault per fork). */
#define PH_FORK_CHILD   __attribute__((cold))
#define unlikely(x)     __builtin_expect(!!(x), 0)
#define ALIGN_UP(x, a)  (((x) + ((a) - 1)) & ~((a) - 1))

/* ---- error.c: the one reporter ------------------------------------------
 * report_fatal prints "phmalloc: <message>" in one line on stderr (with
 * write(2), never stdio, so it works with the heap lock held) and aborts.
 * report_warn prints the same way and returns.
 */
noreturn void report_fatal(const char *fmt, ...)
	__attribute__((format(printf, 1, 2), cold));
void report_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Formats into buf like snprintf, with no allocation; returns length. */
int report_format(char *buf, size_t len, const char *fmt, va_list ap);

/* ---- conf.c: run-time options from PHMALLOC_CONF ------------------------
 * Parsed once, before the process heap exists; "name:value,name:value".
 * An unknown or malformed option gets a one-line warning and is ignored.
 */
struct opts {
	bool     abort_conf;   /* abort on a bad option instead of warning */
	bool     junk;         /* fill new blocks with 0xa5, freed with 0x5a */
	bool     zero;         /* zero every new block */
	bool     tcache;       /* use thread caches */
	bool     stats_print;  /* malloc_stats_print at exit */
	int64_t  decay_ms;     /* purge free pages unused this long; -1 never */
	size_t   reserve;      /* bytes of address space each arena reserves */
	unsigned narenas;      /* process-mode arenas; 0 = ARENAS_PER_CPU/CPU */
	bool     paranoid;     /* catch every double free: this process keeps
	                          no thread caches (tcache.c: paranoid mode) */
};
extern struct opts opts;
void conf_init(void);
/* Parses one configuration string into opts (exposed for tests). */
void conf_parse(const char *s);

/* ---- os.c: everything that talks to the kernel --------------------------
 * Preconditions: addresses and lengths are PAGE multiples.  Return 0 or an
 * errno value, or NULL for a failed mapping; errno is preserved.
 */
void    *os_reserve(size_t size);
/* The same at addr exactly, never replacing a mapping there (EEXIST). */
int      os_reserve_at(void *addr, size_t size);
int      os_unmap(void *addr, size_t size);
/* Is the mapping holding addr shared with other processes (MAP_SHARED)? */
bool     os_range_shared(const void *addr);
/* 0 if every byte of [addr, addr+size) is mapped readable and writable,
 * else EFAULT; never faults (reads /proc/self/maps). */
int      os_range_writable(const void *addr, size_t size);
/* 0 if the object open at fd may be joined as a heap: a regular file, not
 * writable by others, owned by the effective uid or, with group, by one of
 * the process's groups; else EACCES (EINVAL: not a regular file).  Root is
 * not exempt. */
int      os_object_trusted(int fd, bool group);
int      os_purge(void *addr, size_t size, bool shared);
uint64_t os_now_ms(void);
/* Start time of process pid (0 = this one) in clock ticks since boot, from
 * /proc; 0 if it cannot be read.  With the pid it names a process for good. */
uint64_t os_proc_start(uint32_t pid);
/* The process of live thread tid; 0 if it is not a live thread;
 * UINT32_MAX if that cannot be told. */
uint32_t os_thread_process(uint32_t tid);
/* Is the process pid that started at `start` still running? */
bool     os_proc_alive(uint32_t pid, uint64_t start);
uint64_t os_random(void);
uint32_t os_tid(void);
PH_FORK_CHILD uint32_t os_tid_fork_child(void);   /* the new tid (= pid) */
void     os_futex_wait(_Atomic uint32_t *word, uint32_t val, bool shared);
/* Blocks every signal for this thread (nested calls count); restore undoes
 * the outermost block. */
void     os_signals_block(void);
void     os_signals_restore(void);
/* While waiting for a lock: if this thread's outermost block is the only
 * one (it holds no lock), lets the signals that arrived meanwhile run their
 * handlers (or end the process), then blocks again. */
void     os_signals_let_pending(void);
void     os_futex_wake(_Atomic uint32_t *word, bool shared);
/* os_futex_wait for at most ms milliseconds; wake_all wakes every sleeper. */
void     os_futex_wait_ms(_Atomic uint32_t *word, uint32_t val, bool shared,
                          uint64_t ms);
void     os_futex_wake_all(_Atomic uint32_t *word, bool shared);

/* ---- lock.c: futex locks and robust mutexes ------------------------------
 * lock_acquire returns true when the previous owner died holding the lock
 * (robust locks only): the caller must repair what it protects.
 */
void lock_init(struct lock *l, bool robust);
/* Asked by a waiter for a robust lock: can thread tid, which the lock's
 * word names as its owner, never release it (no such thread, or not one
 * of the lock's users)?  ctx is the caller's (heap.c: heap_lock_gone). */
typedef bool (*lock_gone_fn)(const void *ctx, uint32_t tid);
bool lock_acquire_slow(struct lock *l, lock_gone_fn gone, const void *ctx);
void lock_release_slow(struct lock *l);
/* Forgets every holder (after fork, in the child, which has one thread). */
PH_FORK_CHILD void lock_reset(struct lock *l);
/* Is a futex lock held by anyone?  (In a fork's child: by a thread of the
 * parent, which the child does not have.) */
static inline bool lock_held(struct lock *l)
{
	return !l->robust && atomic_load_explicit(&l->word,
	    memory_order_acquire) != 0;
}

static inline bool lock_acquire(struct lock *l)
{
	uint32_t expect = 0;
	if (likely(!l->robust && atomic_compare_exchange_strong_explicit(
	    &l->word, &expect, os_tid(), memory_order_acquire,
	    memory_order_relaxed)))
		return false;
	return lock_acquire_slow(l, NULL, NULL);
}

/* Takes a futex lock if it is free, never waiting; false otherwise and
 * always for robust locks (only arenas, which are never shared, ask). */
static inline bool lock_try(struct lock *l)
{
	uint32_t expect = 0;
	return !l->robust && atomic_compare_exchange_strong_explicit(&l->word,
	    &expect, os_tid(), memory_order_acquire, memory_order_relaxed);
}

static inline void lock_release(struct lock *l)
{
	if (unlikely(l->robust)) {
		pthread_mutex_unlock(&l->mtx);
		return;
	}
	uint32_t old = atomic_exchange_explicit(&l->word, 0,
	    memory_order_release);
	if (unlikely(old & LOCK_WAITERS))
		lock_release_slow(l);
}

/* ---- sizeclass.c: the size-class table ----------------------------------
 * 16..128 by 16, then four classes per doubling up to SMALL_MAX.  Larger
 * requests are large blocks rounded up to whole pages.
 */
void     sizeclass_init(void);
uint64_t sizeclass_signature(void);
int      sizeclass_validate(void);
extern uint8_t size2bin_tab[];   /* (size + 15) / 16 -> 1 + class */
extern uint32_t bin_size_tab[];  /* bin (1 + class) -> block size; 0 -> 0 */
/* align_bin_tab[r][bin]: the bin of the smallest class at or above bin's
 * whose blocks are all aligned to 32 << r (r < ALIGN_ROWS: up to a page),
 * 0 if none. */
#define ALIGN_ROWS (LG_PAGE - 4)
extern uint8_t align_bin_tab[ALIGN_ROWS][1 + NBINS];

/* The block size that serves size (<= SMALL_MAX) at alignment align (a
 * power of two, <= PAGE) from a small class, 0 if none: two table loads. */
static inline size_t size_small_aligned(size_t size, size_t align)
{
	unsigned bin = size2bin_tab[(size + QUANTUM - 1) >> 4];
	if (align > QUANTUM)
		bin = align_bin_tab[__builtin_ctzl(align) - 5][bin];
	return bin_size_tab[bin];
}

/* The thread cache bin (struct tcache.bins index: 1 + class) of a small
 * request (size <= SMALL_MAX): one table load. */
static inline unsigned size2bin(size_t size)
{
	return size2bin_tab[(size + QUANTUM - 1) >> 4];
}

static inline unsigned size2class(size_t size)
{
	return size2bin(size) - 1;
}

/* Is off (a byte offset in a slab, < 2^16) a multiple of the class size
 * d?  With m = div_magic = (2^32 + e) / d, 0 <= e < d, and off = q*d + r:
 * off * m = q*2^32 + q*e + r*m.  Mod 2^32 that is q*e < 2^16 < m when
 * r = 0 (q*d <= off < 2^16, e < d, m > 2^32 / SMALL_MAX > 2^18), and
 * r*m + q*e >= m, below 2^32, when r > 0.  One multiply, one compare;
 * sizeclass_validate checks every offset. */
static inline bool sizeclass_is_boundary(uint32_t div_magic, uint32_t off)
{
	return (uint32_t)(off * div_magic) < div_magic;
}

/* The largest request we consider: page counts fit in 32 bits and
 * ALIGN_UP(size, any alignment we accept) cannot overflow. */
#define HEAP_ALLOC_MAX  ((size_t)(HEAP_MAX_PAGES - 1) << LG_PAGE)

/* Usable size for a request: small class size or whole pages. */
static inline size_t size_usable(size_t size)
{
	if (size <= SMALL_MAX)
		return sizeclasses[size2class(size)].size;
	return ALIGN_UP(size, PAGE);
}

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
int      page_validate(struct heap *h, char *why, size_t whylen);
/* Rebuilds tails, free-run lists, dirty counts and the slab map and merges
 * adjacent free runs, from the walk of head spans; calls fn on each used
 * run.  Needs lock.
 * Returns 1 if the walk itself is broken. */
int      page_repair(struct heap *h, void (*fn)(struct heap *, uint32_t));

/* ---- slab.c: small blocks ------------------------------------------------
 * A slab is a run of sizeclasses[c].npages pages cut into blocks; free
 * blocks form a chain through their first two bytes (block indices, masked
 * with the heap key), and their second word holds heap->free_key so that a
 * double free is caught.  All calls need heap->lock but slab_remote_push
 * and slab_remote_give, which are made for callers without it.
 */
void *slab_alloc(struct heap *h, unsigned cls);
void  slab_free(struct heap *h, struct page *slab, uint32_t head, void *p);
/* slab_free of block p whose index slab_block_index gave already. */
void  slab_free_index(struct heap *h, struct page *slab, uint32_t head,
                      void *p, uint16_t idx);
/* Gives small blocks of process arena h back without h's lock: a chain
 * from offset first to block last, linked through first words, of `bytes`
 * bytes; they reach their slabs at the next slab_remote_drain (needs
 * lock).  Returns the bytes pushed since the last drain. */
uint64_t slab_remote_push(struct heap *h, uint64_t first, void *last,
                          uint64_t bytes);
/* Gives the n small blocks of process arena h at offsets off[] back
 * without h's lock (n <= REMOTE_GIVE_MAX), on their slabs' remote lists;
 * returns the bytes given since the last drain. */
#define REMOTE_GIVE_MAX 256
uint64_t slab_remote_give(struct heap *h, const uint64_t *off, uint32_t n);
/* Puts back in their slabs the blocks on the remote stack and lists.
 * Needs lock. */
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

/* ---- heap.c: formatting, joining, resetting, checking --------------------
 */
struct heap *heap_format(void *base, size_t size, unsigned hflags, bool zeroed);
/* Validates a header found at base (size 0 = take the header's). */
int          heap_verify_header(const struct heap *h, size_t size);
struct heap *heap_process(void);   /* arena 0, created on demand */
/* This thread's arena (one of heap_narenas(); threads start in arena 0
 * and move to another when they keep waiting for its lock). */
struct heap *heap_arena(void);
extern __thread struct heap *tarena __attribute__((tls_model("initial-exec")));
/* After each acquisition of tarena's lock: did it wait? */
void         heap_arena_note(bool waited);
/* The arena policy, a pure function of the waits so that it can be tested
 * without a scheduler: a count of recent waits for the arena's lock,
 * decaying, each acquisition takes 1/16 off and each wait adds ARENA_WAIT.
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
	waits -= waits >> 4;
	return waited ? waits + ARENA_WAIT : waits;
}
static inline bool arena_waits_say_move(uint32_t waits)
{
	return waits > ARENA_MOVE_AT;
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
/* jemalloc's arenas.create, arena.<i>.reset and arena.<i>.destroy: arenas
 * of their own made after the automatic ones (heap.c).  0 or EAGAIN (none
 * can be made), EFAULT (i is not a created arena). */
int          heap_arena_create(unsigned *out);
int          heap_arena_reset(unsigned i);
int          heap_arena_destroy(unsigned i);
bool         heap_arena_is_created(unsigned i);
/* Automatic arenas and every index created so far (arenas.narenas). */
unsigned     heap_narenas_total(void);
bool         heap_is_process(const struct heap *h);   /* any arena */
/* The arenas' reservation (heap.c): arena i at arena_base + (i << arena_lg)
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
 * thread of the parent held it (registry.c: fork). */
PH_FORK_CHILD void heap_process_fork_child(void);
size_t       heap_capacity_pages(size_t npages);
void         heap_reset(struct heap *h);
void         heap_vg_forget(struct heap *h);   /* valgrind.h */
int          heap_validate(struct heap *h, char *why, size_t whylen);
/* heap_validate's checks without the header check and without the lock:
 * the caller holds it, or owns a private copy of the heap.  Only reads. */
int          heap_validate_locked(struct heap *h, char *why, size_t whylen);
/* The table of attached processes: this process joins it (a full table
 * records nothing) and leaves it; dead processes' entries are dropped
 * (needs lock; returns how many). */
void         heap_proc_attach(struct heap *h);
void         heap_proc_detach(struct heap *h);
unsigned     heap_proc_reclaim_locked(struct heap *h);
void         heap_purge(struct heap *h, bool force);
/* Rebuilds what a process killed inside the lock may have left half
 * written (the crash rule, types.h); needs lock.  From the walk of head
 * spans (page_repair): tails, free-run lists, bins, counts, the slab map
 * and slab chains; then cuts the cache list at its first bad entry, drops
 * roots outside the heap, and takes back dead processes' caches and
 * table entries.  Always returns 0: a walk that is itself broken goes to
 * report_fatal ("page map damaged beyond repair"). */
int          heap_repair(struct heap *h);

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

/* ---- sections: the heap locks a thread holds --------------------------------
 * Heap locks are held without blocking signals.  tsection counts the heap
 * locks this thread holds or is taking, from before the try to after the
 * release; a call into phmalloc that finds it non-zero runs in a signal
 * handler that interrupted its own thread inside a locked section, and
 * takes no heap lock: it allocates from the heap's refuge and gives blocks
 * back on the heap's block stack (refuge.c).  Only this thread and its
 * handlers touch the count, so plain stores behind compiler fences. */
extern __thread uint32_t tsection __attribute__((tls_model("initial-exec")));

static inline bool tsection_in(void)
{
	return tsection != 0;
}
static inline void tsection_enter(void)
{
	tsection++;
	atomic_signal_fence(memory_order_seq_cst);
}
static inline void tsection_leave(void)
{
	atomic_signal_fence(memory_order_seq_cst);
	tsection--;
}

/* May a robust heap lock whose word names thread tid be taken over?  When
 * tid is no live thread, or one of a process not attached to the heap
 * (struct heap.procs), unless procs[] once overflowed (lock.c). */
bool heap_lock_gone(const void *ctx, uint32_t tid);
PH_FORK_CHILD void heap_proc_attach_fork_child(struct heap *h, uint32_t pid);

static inline void heap_lock(struct heap *h)
{
	tsection_enter();
	bool waited = !lock_try(&h->lock);   /* always, for a robust lock */
	bool died = waited && lock_acquire_slow(&h->lock, heap_lock_gone,
	    h);   /* tried already */
	heap_seq_enter(h);
	if (h == tarena)
		heap_arena_note(waited);
	if (unlikely(died))
		heap_repair(h);
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
/* Backs pages below `end` (growable heaps: extends the file); 0 or errno.
 * Needs heap->lock. */
int          heap_grow(struct heap *h, size_t end);
/* Bytes a new growable heap of `size` needs backed before formatting. */
size_t       heap_initial_backing(size_t size);

/* ---- registry.c: the process-local list of attached heaps ---------------- */
int          registry_add(struct heap *h);
void         registry_remove(struct heap *h);
/* Heaps that ph_heap_open mapped, and so ph_heap_close unmaps; fd is kept
 * open (else -1) when the heap grows its file. */
void         registry_set_owned(struct heap *h, int fd);
bool         registry_is_owned(const struct heap *h);
int          registry_fd(const struct heap *h);
struct heap *registry_lookup(const void *p);
/* Calls fn for each attached heap (e.g. to lock them all before fork). */
void         registry_foreach(void (*fn)(struct heap *h));
/* Does [start, start+size) overlap an attached heap? */
bool         registry_overlaps(const void *start, size_t size);
extern struct heap *_Atomic default_heap;   /* what P(malloc) uses */
/* Makes h the default heap, sending every thread's malloc fast path, which
 * caches the old one, to look again. */
void         registry_default_set(struct heap *h);
/* The last system error this process met on h, for mmalloc_errno.  heap_grow
 * notes its failures as unseen (the allocation layer reports ENOMEM); the
 * next caller that fails on h takes the real cause with registry_error_take. */
void         registry_error_note(struct heap *h, int err, bool unseen);
int          registry_error_last(const struct heap *h);
int          registry_error_take(struct heap *h);   /* 0 if none unseen */
/* Called once the process heap works: registers the fork handlers and the
 * exit-time statistics, which may allocate. */
void         registry_process_ready(void);

/* ---- heapapi.c: heaps in open files, for mmalloc.c ----------------------
 * fd stays the caller's.  heap_open_new formats a heap of `size` in the
 * empty file fd (PH_HEAP_GROW in flags: the file grows as it is used) and
 * maps it at base, or where other processes can map it too if base is NULL;
 * heap_open_existing joins the heap in fd at base, NULL meaning the address
 * it records.  Both register the heap as owned (ph_heap_close unmaps it).
 * NULL + errno on failure.
 */
struct heap *heap_open_new(int fd, void *base, size_t size, unsigned flags);
struct heap *heap_open_existing(int fd, void *base, size_t size);

/* ---- alloc.c: allocation on one heap -------------------------------------
 * Sizes are already checked against HEAP_ALLOC_MAX.  NULL means ENOMEM
 * (errno not set here).
 */
/* Usable size of a request at an alignment (nallocx). */
size_t size_usable_aligned(size_t size, size_t align);
void  *heap_malloc(struct heap *h, size_t size, bool zero);
void  *heap_malloc_aligned(struct heap *h, size_t size, size_t align,
                           bool zero);
/* A large block whose address is `at` modulo `mod` (a power of two, at <
 * mod): a run placed so that the block starts at % PAGE bytes into it. */
void  *heap_malloc_at(struct heap *h, size_t size, size_t mod, size_t at,
                      bool zero);
/* Frees block p of h; returns its usable size. */
size_t heap_free(struct heap *h, void *p);
/* heap_free inside a locked section (refuge.c's rule), and of refuge
 * blocks: never takes the heap lock there. */
size_t refuge_free(struct heap *h, void *p);
/* Frees large run head: the run and its counts.  Needs lock. */
void   heap_large_free_locked(struct heap *h, uint32_t head);
void  *heap_realloc(struct heap *h, void *p, size_t size, size_t align,
                    bool zero);
/* Resizes in place to at least size, at most size+extra; returns the usable
 * size after (the old one if nothing could be done). */
size_t heap_resize_in_place(struct heap *h, void *p, size_t size,
                            size_t extra);
size_t heap_usable_size(struct heap *h, const void *p);
/* The same, naming op in the report of a bad pointer. */
size_t heap_block_size(struct heap *h, const void *p, const char *op);
/* The heap owning p, or report_fatal naming op if none does. */
struct heap *heap_owner(const void *p, const char *op);

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

/* ---- refuge.c: what a handler gets inside its thread's locked section ---
 * Pages [refuge_page, first_page) of every heap, with an allocator and a
 * lock of their own; see refuge.c for the rule.  Each call takes the
 * refuge lock itself (signals blocked) and never the heap's. */
uint32_t refuge_pages(size_t npages);        /* pages of a heap's refuge */
uint32_t refuge_granules(uint32_t pages);    /* its granules */
/* Sets a freshly formatted heap's refuge fields (first_page set) and
 * clears its map unless the range reads as zero. */
void     refuge_format(struct heap *h, size_t npages, bool zeroed);
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

/* ---- tcache.c: thread caches ----------------------------------------------
 * tthread.slots[0] caches heap_for_malloc(), the heap this thread's malloc
 * uses; malloc.c's fast paths (fastpath.h) read it inline and trust it
 * while its epoch holds, so whoever changes what heap_for_malloc() gives
 * bumps the old heap's epoch (registry.c:registry_default_set).
 * A slot is good while its heap's epoch is the one it recorded.
 */
#define TCACHE_SLOTS 4
/* Slot 0's heap while it caches none: a header whose epoch no slot ever
 * records, so the fast paths' one epoch check turns an empty slot 0 away
 * too.  It is in no registry and matches no pointer. */
extern struct heap heap_none;
#define TSLOT_NONE   (&heap_none)
struct tslot {
	struct heap   *heap;   /* the heap cached, NULL (slot 0: TSLOT_NONE) */
	struct tcache *tc;     /* the cache, in that heap */
	uint64_t       epoch;  /* heap->epoch when the cache was made */
};
/* struct tthread: what a thread keeps for its caches, in one TLS block so
 * that a fast path finds all of it from one address.
 *   busy is non-zero while the thread works on its caches: a signal
 *   handler that allocates then goes around them (they are not
 *   re-entrant). */
struct tthread {
	struct tslot slots[TCACHE_SLOTS];
	uint32_t     busy;
	uint8_t      state;                 /* tcache.c: TSTATE_* */
	/* malloc.c: jemalloc's thread.allocated and thread.deallocated,
	 * usable bytes the thread had from and gave back to the standard
	 * family; here to share the fast paths' TLS address. */
	uint64_t     allocated, deallocated;
};
extern __thread struct tthread tthread __attribute__((tls_model("initial-exec")));

/* tbusy_enter/leave do not nest (their callers checked tbusy() first), so
 * plain stores: no read-modify-write on the fast path.  tbusy_hold and
 * tbusy_restore do (the slow paths that change the slots). */
static inline bool tbusy(void)
{
	return tthread.busy != 0;
}
static inline void tbusy_enter(void)
{
	tthread.busy = 1;
	atomic_signal_fence(memory_order_seq_cst);
}
static inline void tbusy_leave(void)
{
	atomic_signal_fence(memory_order_seq_cst);
	tthread.busy = 0;
}
static inline uint32_t tbusy_hold(void)
{
	uint32_t was = tthread.busy;
	tthread.busy = 1;
	atomic_signal_fence(memory_order_seq_cst);
	return was;
}
static inline void tbusy_restore(uint32_t was)
{
	atomic_signal_fence(memory_order_seq_cst);
	tthread.busy = was;
}

/* malloc's and free's way in: marks the thread busy and returns slot 0 if
 * it is good to use and the thread was not busy already (the heap's epoch,
 * the slot's and the old flag folded into one test); else puts the flag
 * back and returns NULL.  Busy before the slot is read: a signal handler
 * that comes before has finished (it may have moved the thread to another
 * arena and remade slot 0), one that comes after goes around the caches.
 * The caller ends with tbusy_leave(). */
static inline struct tslot *tslot0_enter(void)
{
	uint32_t was = tthread.busy;
	tthread.busy = 1;
	atomic_signal_fence(memory_order_seq_cst);
	struct tslot *t = &tthread.slots[0];
	uint64_t bad = (t->epoch ^ atomic_load_explicit(&t->heap->epoch,
	    memory_order_relaxed)) | was;
	if (likely(bad == 0))
		return t;
	atomic_signal_fence(memory_order_seq_cst);
	tthread.busy = was;
	return NULL;
}

/* The block a cache slot names: slots hold offsets from the cache's heap
 * that may point below it (another arena's block), so the sum is taken on
 * integers, where wrapping is defined. */
static inline void *tcache_block(struct heap *h, uint64_t off)
{
	return (void *)((uintptr_t)h + off);
}

/* A push's store of top, after its slot's: with release, so that a
 * paranoid process reading the bin under the lock sees the slot below the
 * top it reads (tcache.c:tc_list_holds).  On x86-64 every store is a
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

static inline struct tcache_bin *tcache_bin(struct tcache *tc, unsigned cls)
{
	return &tc->bins[1 + cls];
}

static inline uint32_t tcache_count(const struct tcache_bin *b)
{
	return b->top - b->lo;
}

void     tcache_slot_release(struct tslot *t);
/* A block of class cls through the cache; NULL: use the heap directly. */
void    *tcache_alloc(struct heap *h, unsigned cls);
/* Frees small block p into the cache; false: free it directly. */
bool     tcache_free(struct heap *h, void *p);
void     tcache_flush_thread(void);
/* Makes slot 0's cache stale without touching it (the thread moves to
 * another arena): the next slow path gives it back.  Async-signal-safe. */
void     tcache_retire_malloc_slot(void);
/* Is p on one of this thread's caches of h?  (double-free check) */
bool     tcache_holds(struct heap *h, const void *p);
/* tcache_holds of small block p of class cls, its slab found already. */
bool     tcache_holds_block(struct heap *h, unsigned cls, const void *p);
/* Bytes of h's blocks in the caches listed in h; *foreign (if not NULL)
 * gets the bytes of other arenas' blocks those caches hold. */
size_t   tcache_cached_bytes(struct heap *h, size_t *foreign);
void     tcache_detach(struct heap *h);
PH_FORK_CHILD void tcache_fork_child(struct heap *h);
size_t   tcache_count_locked(struct heap *h);   /* caches on the list */
unsigned tcache_reclaim_locked(struct heap *h);
/* Cuts the heap's cache list at its first bad entry; returns how many
 * caches are left on it. */
size_t   tcache_repair_locked(struct heap *h);
size_t   tcache_run_bytes(void);   /* bytes of the run holding a cache */
int      tcache_validate(struct heap *h, char *why, size_t whylen);

/* ---- stats.c and ctl.c ---------------------------------------------------
 * A consistent snapshot of one heap, taken under its lock.
 */
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
/* The default heap's snapshot; in process mode, all arenas summed. */
void heap_stats_read_default(struct stats_snapshot *s);

/* ---- qmalloc.c: Plan 9's calls: mallocalign, smalloc, block tags -------
 * Tags live in a table in the heap (h->tags), made at the first tag; from
 * then until a reset h->tagging sends every free through heap_free, which
 * drops the block's tag.  smalloc sleeps on h->free_gen; every free that
 * gives pages or blocks back to the heap wakes it, at the price of one load
 * and a predictable branch while nobody waits.
 */
void tag_drop_locked(struct heap *h, const void *p);
/* Gives q the tags of p (realloc moved p to q); takes the lock. */
void tag_move(struct heap *h, const void *p, const void *q);
int  tag_validate(struct heap *h, char *why, size_t whylen);   /* lock */
void heap_wake_slow(struct heap *h);

static inline void heap_wake_waiters(struct heap *h)
{
	if (unlikely(atomic_load_explicit(&h->wait_until,
	    memory_order_relaxed) != 0))
		heap_wake_slow(h);
}

static inline bool heap_tagging(const struct heap *h)
{
	return atomic_load_explicit(&h->tagging, memory_order_relaxed) != 0;
}

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
/* The cache at offset off on h's list, or NULL if off names none (tcache.c). */
struct tcache *tcache_checked(struct heap *h, uint64_t off);

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

/* Public calls the library itself uses (the public header is generated for
 * the configured prefix, which the drop-in variant does not share). */
PH_EXPORT void P(malloc_stats_print)(void (*write_cb)(void *, const char *),
                                     void *cbopaque, const char *opts);

#endif /* PH_INTERNAL_H */
