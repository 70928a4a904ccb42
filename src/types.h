/*
 * types.h -- the words and the structs of phmalloc.
 *
 * The words used here and everywhere in the source -- heap, page, run,
 * slab, block, bin, tcache, tslot, epoch, arena, remote list, root, tag,
 * hwm, dirty, the crash rule -- mean only what the one glossary says:
 * doc/design.md, section "Glossary".  This file gives each struct's fields
 * and invariants.
 *
 * Layout of a heap at base (parts.h: heap_slabmap, heap_pages):
 *   struct heap | slab map (uint32_t per page) | page map (struct page per
 *   page) | refuge (refuge.c) | data pages from first_page on.  Index 0 is
 *   the header's page, so page index 0 also serves as the null link.
 *
 * Locking: every field of struct heap below `lock`, and every struct page,
 * is protected by heap->lock, except the two smalloc words (free_gen,
 * wait_until), lock_seq and a slab's `aux` (its remote list), which are
 * atomic.  Fields above `lock` are set when the heap is formatted and
 * read-only afterwards, except `epoch`, `tagging` and `cache_limit`
 * (atomic) and the remote stacks (pushed without the lock, emptied by its
 * holder).  The slab map changes under the lock and is read without it.
 */
#ifndef PH_TYPES_H
#define PH_TYPES_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"

/* ---- build configuration as constant booleans (jemalloc style) ---------- */
#ifdef PH_DEBUG
static const bool config_debug = true;
#else
static const bool config_debug = false;
#endif
#ifdef PH_STATS
static const bool config_stats = true;
#else
static const bool config_stats = false;
#endif
#ifdef PH_FILL
static const bool config_fill = true;
#else
static const bool config_fill = false;
#endif
#ifdef PH_TCACHE
static const bool config_tcache = true;
#else
static const bool config_tcache = false;
#endif
#ifdef PH_HAVE_VALGRIND
static const bool config_valgrind = true;
#else
static const bool config_valgrind = false;
#endif

/* ---- fixed geometry ------------------------------------------------------ */
#define LG_PAGE         12
#define PAGE            ((size_t)1 << LG_PAGE)
#define PAGE_MASK       (PAGE - 1)
#define QUANTUM         ((size_t)16)       /* alignof(max_align_t) on x86-64 */
#define NBINS           35                 /* small size classes */
#define SMALL_MAX       ((size_t)14336)    /* largest small class */
#define SLAB_MAXPAGES   16                 /* a slab is at most this long */
#define NRUNCLASSES     128                /* free-run size classes */
#define HEAP_MAGIC      UINT64_C(0x3170616568687028) /* "(phheap1" */
#define HEAP_VERSION    6u  /* 2: remote stack, tags, waiters, procs;
                               * 3: cache bins as top/lo/hi with a guard;
                               * 4: the refuge, before first_page;
                               * 5: cache bins with a moving limit, their
                               *    room by the heap's size (tcache_scale),
                               *    GC state, guard 0;
                               * 6: cache and depot bins in two rooms,
                               *    base rooms packed at the front */
/* The smallest range we format: a page of header and maps, the smallest
 * refuge (4 pages) and room for the longest slab (SLAB_MAXPAGES). */
#define HEAP_MIN_SIZE   ((1 + 4 + SLAB_MAXPAGES) * PAGE)   /* 84 KiB */
#define HEAP_MIN_RESERVE ((size_t)64 << 20) /* smallest process heap */
#define ARENA_MIN_BYTES ((size_t)4 << 20)   /* ... where address space is short */
#define NROOTS          16
#define ARENAS_MAX      64      /* process-mode arenas, at most */
#define ARENAS_PER_CPU  4       /* default arenas per CPU, as jemalloc */
#define HEAP_GROW_STEP_MIN 256  /* pages a growable heap's file grows by, at least */

/* A run or block never exceeds this: page indices are 32-bit. */
#define HEAP_MAX_PAGES  UINT32_MAX

/* ---- struct page: one per page --------------------------------------------
 *
 * kind             head page of ...   other pages of the run
 * PAGE_FREE        a free run         tail: PAGE_FREE_TAIL, rest PAGE_NONE
 * PAGE_LARGE       a large block      tail: PAGE_LARGE_TAIL, rest PAGE_NONE
 * PAGE_SLAB        a slab             every page: PAGE_SLAB_BODY
 * PAGE_NONE        header/page map pages, interiors of free and large runs
 *
 * Invariants (checked by page_validate, slab_validate and bin_validate):
 *   a head's `span` is its run's length; the runs tile [first_page, npages);
 *   a tail's and a slab body's `span` is the head's index;
 *   no two free runs are adjacent (they are coalesced at once);
 *   a free run is on exactly the free-run list of its length class, and
 *   aux <= span: its first aux pages may be dirty, the rest read as zero;
 *   sum of free runs' aux == stats.dirty_pages;
 *   slab: nfree == |free chain| + nblocks - carved; carved <= nblocks;
 *         every chain index < carved, no index twice;
 *         nfree > 0  <=>  the slab is on its bin's list;
 *   slab map[i] == slabmap_entry(cls, i - head) for each page i of a slab,
 *   0 for every other page.
 * How these are changed so that a process may die at any point: the crash
 * rule, below the struct.
 */
enum page_kind {
	PAGE_NONE = 0,
	PAGE_FREE,
	PAGE_FREE_TAIL,
	PAGE_LARGE,
	PAGE_LARGE_TAIL,
	PAGE_SLAB,
	PAGE_SLAB_BODY,
};

struct page {
	union {
		struct {
			uint8_t  kind;   /* enum page_kind */
			uint8_t  cls;    /* slab: size class */
			uint16_t nfree;  /* slab: free blocks, on the chain or
			                    never carved; large head: its
			                    lead, bytes into the first page
			                    where the block starts (0 but
			                    for mallocalign's offsets) */
			uint32_t span;   /* head: run length in pages;
			                    tail/body: head index */
		};
		uint64_t word;   /* the four above, published in one store */
	};
	uint32_t next;   /* list link (page index, 0 = none): bin or run list */
	uint32_t prev;
	union {
		uint64_t stamp;     /* free run: ms when it became dirty */
		struct {
			uint16_t free;   /* first block of the free chain,
			                    SLAB_NONE if empty */
			uint16_t carved; /* blocks [0, carved) were handed
			                    out at least once */
			uint32_t rnext;  /* on the arena's stack of slabs
			                    with remote blocks: the next */
		} s;             /* slab */
	};
	uint64_t aux;    /* free run: pages at its start that may be dirty
	                    (the rest read as zero); slab of a process arena:
	                    its remote list (slab.c), changed without the
	                    lock; otherwise zero */
};
#define SLAB_NONE UINT16_MAX

/* ---- the crash rule --------------------------------------------------------
 * A process may die at any instruction inside the lock (a shared heap's
 * robust mutex then goes to the next locker with EOWNERDEAD; a fork's child
 * finds held a lock that another thread of the parent had).  So the runs
 * are always the tiling found by following head spans from first_page:
 * every change first writes entries that this walk does not reach, then
 * switches the tiling with one 64-bit store of a head's first word
 * (page.c:page_publish, the one publish point).  A slab's free chain and
 * the heap's cache list are written the same way, their head last.
 * heap.c:heap_repair rebuilds the rest (tails, free-run lists, bins, counts,
 * the slab map) from that walk.
 */

/* ---- struct bin: one per small size class --------------------------------
 *   nonfull lists exactly the slabs of this class with nfree > 0.
 *   stats: curblocks == nmalloc - nfree (blocks handed out, live).
 */
struct bin {
	uint32_t nonfull;    /* head page index of the first non-full slab */
	uint32_t nslabs;     /* slabs of this class in the heap */
	uint64_t nmalloc;    /* blocks ever allocated */
	uint64_t ndalloc;    /* blocks ever freed */
	uint64_t curblocks;  /* live blocks */
};

/* ---- lock: the lock of a heap ----------------------------------------------
 * A heap only this process uses takes a futex lock: word == 0 free, else the
 * owner's TID, with LOCK_WAITERS or-ed in when somebody sleeps on it.
 * A heap other processes share takes a robust, process-shared pthread mutex:
 * when its owner dies the kernel hands it to the next locker with
 * EOWNERDEAD, which repairs the heap (heap.c:heap_repair) and goes on.
 */
struct lock {
	_Atomic uint32_t word;   /* futex lock */
	uint32_t robust;         /* 1: use mtx instead */
	pthread_mutex_t mtx;     /* robust, process-shared, error-checking */
};
#define LOCK_WAITERS 0x80000000u

/* ---- struct heap_stats -----------------------------------------------------
 *   allocated: bytes in live blocks (usable sizes);
 *   active:    bytes in pages that belong to slabs or large blocks;
 *   dirty:     bytes in free pages that may hold memory (not purged);
 *   mapped:    bytes of the range that were ever touched (up to hwm).
 */
struct heap_stats {
	uint64_t allocated;
	uint64_t active_pages;
	uint64_t dirty_pages;
	uint64_t nmalloc_large;
	uint64_t ndalloc_large;
	uint64_t cur_large;
	uint64_t npurged_pages;
	uint64_t npurge_calls;
	uint64_t nrepairs;       /* repairs after a process died in the lock */
};

/* ---- struct heap_proc: one process attached to a heap ----------------------
 * Filled by proc.c:heap_proc_attach when a process creates, attaches, opens
 * or configures the heap, cleared at detach and close, and for a process
 * that died by heap.c:heap_proc_reclaim_locked (ph_heap_recover, repair).
 * Only phstat reads it; a full table simply records no more.
 */
struct heap_proc {
	uint32_t pid;        /* 0: empty entry */
	uint32_t unused;
	uint64_t start;      /* process start time (os_proc_start) */
};
#define HEAP_NPROCS 32

/* ---- struct heap: the one state struct, at the start of its range --------- */
struct heap {
	/* Set when formatted, read-only after (except epoch). */
	_Atomic uint64_t magic;   /* HEAP_MAGIC once formatted */
	_Atomic uint32_t init;    /* 0 fresh, 1 being formatted, 2 ready */
	uint32_t version;         /* HEAP_VERSION */
	uint32_t hdr_size;        /* sizeof(struct heap) when formatted */
	uint32_t page_size;       /* PAGE when formatted */
	uint32_t nbins;           /* NBINS when formatted */
	uint32_t flags;           /* HEAP_F_* */
	uint64_t base;            /* address formatted at */
	uint64_t size;            /* bytes in the range */
	uint32_t npages;          /* pages in the range */
	uint32_t first_page;      /* first data page */
	uint32_t refuge_page;     /* first page of the refuge (refuge.c) */
	uint32_t refuge_gran;     /* granules in the refuge */
	uint64_t free_key;        /* marks freed small blocks (double free) */
	uint64_t class_sig;       /* signature of the size-class table */
	_Atomic uint64_t epoch;   /* bumped by each reset and detach: thread
	                             caches made before are checked again */
	_Atomic uint32_t tagging; /* 1 from the first block tag to the next
	                             reset: frees skip the thread caches, so
	                             that the slow path drops tags (qmalloc.c) */
	uint32_t tcache_scale;    /* the layout of its thread caches,
	                             tcache_layouts[tcache_scale], chosen by
	                             the heap's size (sizeclass.c) */
	_Atomic uint64_t cache_limit; /* size, or 0 while tagging: free's fast
	                             path caches offsets below it only */

	/* The fields above are read on every malloc and free; the lock and
	 * what it guards change often: keep them off that cache line. */

	/* Blocks given back without taking the lock: other threads' whose key
	 * says they may be free already (a double free?), and a signal
	 * handler's inside its thread's locked section (refuge.c): a stack
	 * linked through each block's first word (offsets, 0 = end), pushed
	 * with compare-and-swap, emptied all at once by the lock holder
	 * (remote.c:remote_drain).  Other threads' other blocks go on their
	 * slabs' remote lists. */
	_Atomic uint64_t remote __attribute__((aligned(64)));
	/* Bytes pushed since the last drain, roughly (a push racing the drain
	 * may be forgotten): a pusher drains an idle owner past a bound. */
	_Atomic uint64_t remote_bytes;
	/* Slabs with blocks on their remote lists (slab.c): a stack linked
	 * through their page entries' s.rnext (page indices, 0 = end). */
	_Atomic uint64_t remote_slabs;
	struct lock lock __attribute__((aligned(64)));   /* protects below */
	/* Odd while the lock is held, and bumped by every holder: a reader
	 * without the lock (phstat) that reads the same even value before
	 * and after its copy saw no holder change anything. */
	_Atomic uint64_t lock_seq;
	uint32_t hwm;             /* pages >= hwm were never handed out */
	uint32_t limit;           /* pages < limit are backed: hwm <= limit;
	                             below npages only in a growable heap */
	uint64_t purge_next_ms;   /* next time decay may purge */
	uint32_t runs[NRUNCLASSES];   /* free-run list heads by length class */
	uint64_t runmap[NRUNCLASSES / 64]; /* bit c: runs[c] non-empty */
	struct bin bins[NBINS];
	uint64_t roots[NROOTS];   /* offsets, 0 = unset */
	uint64_t tcaches;         /* offset of the first thread cache, 0 none */
	uint64_t tags;            /* offset of the block tag table, 0 none */
	uint64_t depot;           /* offset of the depot (depot.c), 0 none;
	                             process arenas only */
	_Atomic uint32_t free_gen; /* no lock: futex word smalloc sleeps on,
	                             bumped by frees while wait_until != 0;
	                             top bit: a sleeper wants the wake call */
	uint32_t unused;          /* zero: keeps wait_until 8-byte aligned */
	_Atomic uint64_t wait_until; /* no lock: os_now_ms until which some
	                             smalloc may sleep; 0 nobody waits */
	struct heap_stats stats;

	/* The refuge's own lock (refuge.c), held with signals blocked; it
	 * protects the refuge's map and the two counts after it. */
	struct lock refuge_lock __attribute__((aligned(64)));
	uint64_t refuge_nmalloc;  /* blocks the refuge ever gave */
	uint64_t refuge_bytes;    /* bytes in its live blocks */

	/* Attached processes (phstat): filled at create/attach/open/
	 * config_private_heap, cleared at detach/close; dead entries are
	 * dropped by recovery.  Not cleared by reset. */
	struct heap_proc procs[HEAP_NPROCS];
};

/* struct heap.flags */
#define HEAP_F_OSMEM    0x1u  /* pages come from the OS: purge with madvise */
#define HEAP_F_SHARED   0x2u  /* mapped by other processes too */
#define HEAP_F_ZEROED   0x4u  /* pages never handed out read as zero */
#define HEAP_F_GROW     0x8u  /* backing file grows as limit rises */
/* A process found procs[] full when it attached: not every user of the
 * heap is listed, so a lock owner's process cannot be judged by it
 * (proc.c:heap_lock_gone).  Set under the lock, never cleared. */
#define HEAP_F_PROCS_LOST 0x10u
#define HEAP_F_ALL      0x1fu /* every flag a valid header may carry */

/* struct heap.init */
#define HEAP_INIT_FRESH      0u  /* zeroed memory, nobody formatting */
#define HEAP_INIT_FORMATTING 1u  /* a process is formatting it */
#define HEAP_INIT_READY      2u  /* formatted */

/* ---- struct tcache: one thread's cache of free small blocks of one heap ----
 * It lives in the heap it caches (a large block), so that when its process
 * dies another process can find it on the heap's list and take the blocks
 * back.  Only its owner thread touches bins, slots and gc; the list link
 * and owner fields change under heap->lock.
 *   bins[c] lies in one of two rooms of the heap's layout (L below): its
 *   base room, slots[L.lo[c], L.lo[c] + base) with base =
 *   sizeclasses[c].tcache_base, or its wide room, slots[L.wide_lo[c],
 *   L.wide_lo[c] + L.cap[c]); lo is where the room starts.  It may use
 *   slots[lo, hi), its limit: in the base room hi == lo + base, in the
 *   wide room lo + base <= hi <= lo + L.cap[c].  A bin starts in its base
 *   room, where all bins' base rooms are packed together, so a cache
 *   whose bins keep their base limits touches a few pages of slots, not
 *   one per class; it moves to its wide room when its limit grows past
 *   base, and back when a GC pass lowers it to base (cache.c, "two
 *   rooms").  A class whose cap is its base has one room: L.wide_lo[c]
 *   == L.lo[c].
 *   slots[lo, top) hold offsets of free blocks of class c, oldest first:
 *   lo <= top <= hi.  slots[lo - 1] holds TCACHE_GUARD, which no block
 *   offset equals (offset 0 is the heap's header), so free's repeat check
 *   reads slots[top - 1] without asking whether the bin is empty; a zeroed
 *   run needs no guard written, so a cache touches only the slots it uses
 *   (a move writes the guard below the room it moves to).
 *   A process killed in a move may leave one more state: lo and top
 *   naming one room and hi the other room's base end (L.lo[c] + base or
 *   L.wide_lo[c] + base), a move cut between its two stores; reclaim,
 *   which takes a dead owner's lo and top and sets hi itself, finishes
 *   it (cache.c:bin_move).
 *   div_magic is the same in every cache of a heap; lo is one of two
 *   places (L = tcache_layouts[heap->tcache_scale], sizeclass.c); hi
 *   moves (cache.c: a bin that swings from full to empty grows, a GC pass
 *   lowers the limits of calm bins and trims idle ones).  They sit here
 *   so that malloc and free read one line.
 *   bins[0] belongs to no class: free's fast path takes the bin the slab
 *   map names, 0 for a page that is in no slab, and bins[0]'s div_magic of
 *   0 refuses every offset, so free asks no other question.
 *   outbox is a bin like the others, of any class: the blocks of other
 *   process arenas this thread freed, on their way home (tcache.c).  Only
 *   an arena's cache uses it; mallocs never take from it.
 *   gc[c]: what the slow paths saw of bin c (cache.c); only the owner
 *   reads it, reclaim ignores it.
 */
struct tcache_bin {
	uint32_t top;        /* one past the newest cached block's slot */
	uint32_t lo;         /* the bin's first slot: empty when top == lo */
	uint32_t hi;         /* one past its last usable slot, the limit:
	                        full when top == hi */
	uint32_t div_magic;  /* sizeclasses[c].div_magic, for free's check */
	uint32_t size;       /* sizeclasses[c].size, 0 in bins[0] and the
	                        outbox: what a pop or push adds to the
	                        thread's byte counts, from the line the fast
	                        path reads anyway (a table load and a saved
	                        register fewer) */
	uint32_t unused;
};
#define TCACHE_GUARD UINT64_C(0)
#define TCACHE_OUTBOX 256  /* slots of the outbox */

/* A bin's slow-path events (struct tcache_gc.last, .seen). */
#define TCACHE_EV_REFILL 1u   /* it ran empty */
#define TCACHE_EV_FLUSH  2u   /* it overflowed */
struct tcache_gc {
	uint32_t top;        /* the bin's top after the last GC pass */
	uint32_t run;        /* blocks moved by the events of kind `last` in
	                        a row: by how much the bin fell short */
	uint8_t  last;       /* the last event, 0 none yet */
	uint8_t  seen;       /* events since the last GC pass, or-ed */
	uint8_t  calm;       /* GC passes since the limit last grew */
	uint8_t  unused;
};

struct tcache {
	uint64_t magic;      /* TCACHE_MAGIC */
	uint64_t next;       /* offset of the next cache on the heap's list */
	uint32_t pid;        /* owner process */
	uint32_t tid;        /* owner thread */
	uint64_t start;      /* owner process start time: tells a reused pid */
	struct tcache_bin bins[1 + NBINS];   /* [0] no class, [1 + c] class c */
	struct tcache_bin outbox;            /* other arenas' blocks */
	uint32_t gc_left;    /* slow-path events until the next GC pass */
	uint32_t unused;
	struct tcache_gc gc[NBINS];
	uint64_t slots[];    /* block offsets */
};
#define TCACHE_MAGIC UINT64_C(0x65686361636874)   /* "thcache" */

/* ---- struct depot: a process arena's free blocks between caches and slabs --
 * A large block of the arena, made at its first flush (depot.c).  Thread
 * caches flush into it and refill from it under the arena lock, a batch
 * of offsets at a time, without touching the blocks or their slabs.
 *   bins[c] lies in one of two rooms, the same in every depot
 *   (depot.c:depot_tab_init): its base room, packed with the others' at
 *   the front (a cache bin's base limit of slots), or its wide room (cap
 *   slots); lo is where it starts.  slots[lo, lo + n) hold offsets of
 *   free blocks of class c (carved, out of their slabs' chains, in no
 *   cache), oldest first: n <= the room's slots.  n is published after
 *   the slots it counts; a move publishes n and lo in one store.
 */
struct depot_bin {
	uint32_t n;          /* blocks held */
	uint32_t lo;         /* first slot: its base or its wide room's */
	uint32_t cap;        /* slots of its wide room (of its one room, if
	                        its cap is no more than its base room) */
	uint32_t unused;
};
struct depot {
	uint64_t magic;      /* DEPOT_MAGIC */
	struct depot_bin bins[NBINS];
	uint64_t slots[];    /* block offsets */
};
#define DEPOT_MAGIC UINT64_C(0x746f7065645f6870)   /* "ph_depot" */

/* ---- size-class table (sizeclass.c), the same in every process ---------- */
struct sizeclass {
	uint32_t size;       /* block size */
	uint32_t npages;     /* slab length */
	uint32_t nblocks;    /* blocks per slab */
	uint32_t div_magic;  /* ceil(2^32 / size): offset / size without div */
	uint32_t tcache_base; /* a cache bin's first and smallest limit
	                        (about 32 KiB of blocks); a refill takes half */
};
extern struct sizeclass sizeclasses[NBINS];

/* ---- the layout of a heap's thread caches (sizeclass.c) --------------------
 * Scale k gives each bin room for base << k blocks, no more than
 * TCACHE_CAP_BLOCKS nor TCACHE_CAP_BYTES of them, never less than base; a
 * heap takes the largest scale whose cache fits in 1/1024 of it
 * (sizeclass.c:tcache_scale_for), so a small shared heap keeps the
 * smallest caches and an arena's bins may grow to a few thousand blocks.
 * Untouched slots cost address space only, touched ones a page each: so
 * the base rooms, where every bin starts, are packed at the front.
 *   lo[c] - 1 is bin c's guard slot in its base room [lo[c], lo[c] +
 *   base); wide_lo[c] - 1 the guard of its wide room [wide_lo[c],
 *   wide_lo[c] + cap[c]), or wide_lo[c] == lo[c] if cap[c] == base (no
 *   wide room).  The base rooms in class order, then the outbox's guard
 *   and TCACHE_OUTBOX slots, then unused slots up to where a page of the
 *   cache starts, then the wide rooms in class order, each with its guard
 *   below (the first room's slots start that page), tile [0, nslots).
 */
#define TCACHE_SCALES     8
#define TCACHE_CAP_BLOCKS 4096
#define TCACHE_CAP_BYTES  ((uint32_t)2 << 20)
struct tcache_layout {
	uint32_t lo[NBINS];      /* bin c's base room's first slot */
	uint32_t wide_lo[NBINS]; /* its wide room's first slot (lo[c] if it
	                            has none) */
	uint32_t cap[NBINS];     /* the most bin c's limit may reach */
	uint32_t outbox_lo;      /* the outbox's first slot */
	uint32_t nslots;         /* slots of a cache */
};
extern struct tcache_layout tcache_layouts[TCACHE_SCALES];

#endif /* PH_TYPES_H */
