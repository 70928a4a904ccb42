/*
 * base.h -- the bottom layer: the one reporter, the options, the kernel,
 * locks, what a thread keeps, and the size classes.  Nothing here knows
 * what a heap holds.  The layers, bottom first (doc/design.md "Layers";
 * tools/layers.txt is the table make check holds the objects to):
 *   base.h    error.c conf.c os.c lock.c thread.c sizeclass.c
 *   parts.h   the parts of a heap, each over the ones before it
 *   engine.h  a heap as a whole, the thread's side, allocation
 *   internal.h  the public layer's shared declarations, for the public
 *             calls, the add-ons on top of them, and the tests
 *
 * Error convention inside the library: functions that can fail for want of
 * memory return NULL / 0 (page index) and leave errno to the public layer;
 * functions returning int return 0 or an errno value.  Corruption and misuse
 * never return: they go to report_fatal (error.c), the one place that prints
 * and aborts.
 */
#ifndef PH_BASE_H
#define PH_BASE_H

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
/* The one way a validator (every *_validate and the image checks) reports
 * what it found: formats it into why (as report_format) and returns 1, so
 * that a check reads `return report_why(why, whylen, "...", ...)`.  The
 * caller decides what a finding means: an errno for a heap being joined,
 * report_fatal for a heap in use (--enable-debug, ph_heap_check). */
int report_why(char *why, size_t whylen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* ---- assertions: three tiers ---------------------------------------------
 *   always   a read of memory that other processes, a dead one or a damaged
 *            file may have written is checked before it is followed, in
 *            every build: slab_of, cache_checked, the drains' and walks'
 *            bounds, each going to report_fatal with what it found.
 *   ph_assert(cond)  an invariant the code itself keeps, stated where the
 *            state changes (a slab carved, a bin's list, a run split or
 *            merged, a cache refilled or flushed, a drain, a repair);
 *            --enable-debug only.  Otherwise the condition is compiled
 *            but never run (config_debug is a constant), so it cannot rot.
 *   ph_assert_valid(check)  a module's whole *_validate at a state change
 *            (a slab after its repair, the page map after a reset), and
 *            heap_validate every DEBUG_CHECK_EVERY slow frees (alloc.c);
 *            --enable-debug only.  check is a call that may use the names
 *            why and whylen, which the macro provides.
 * All three end in report_fatal: "phmalloc: assertion failed at
 * slab.c:120: ...", one line, and abort.
 */
#define ph_assert(cond) do {                                               \
	if (config_debug && unlikely(!(cond)))                            \
		report_fatal("assertion failed at %s:%d: %s", __FILE__,   \
		    __LINE__, #cond);                                       \
} while (0)
#define ph_assert_valid(check) do {                                        \
	if (config_debug) {                                               \
		char why[200];                                            \
		size_t whylen = sizeof(why);                              \
		if (check)                                                \
			report_fatal("assertion failed at %s:%d: %s",     \
			    __FILE__, __LINE__, why);                       \
	}                                                                 \
} while (0)

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
	uint8_t  thp;          /* transparent huge pages for the arenas' data:
	                          THP_AUTO (the system's, and dense chunks
	                          collapsed for a process that forks: thp.c),
	                          DEFAULT (the system's), ALWAYS, NEVER */
};
enum { THP_DEFAULT, THP_ALWAYS, THP_NEVER, THP_AUTO };
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
/* Asks for transparent huge pages over [addr, addr+size), or asks for none
 * (madvise MADV_HUGEPAGE / MADV_NOHUGEPAGE); 0 or an errno value. */
int      os_hugepages(void *addr, size_t size, bool on);
/* Asks the kernel to put [addr, addr+size) in huge pages now, copying what
 * is resident and zero-filling the rest (madvise MADV_COLLAPSE, Linux 6.1);
 * 0 or an errno value (EINVAL where the kernel cannot). */
int      os_collapse(void *addr, size_t size);
/* mincore: vec[i] & 1 if page i of [addr, addr+size) is resident; 0 or an
 * errno value. */
int      os_resident(void *addr, size_t size, unsigned char *vec);
/* How many of the npages from addr are present but not this process's
 * alone (/proc/self/pagemap): shared with a child since a fork, or the
 * kernel's zero page where a page was read and never written.  npages
 * when that cannot be read. */
size_t   os_pages_shared(const void *addr, size_t npages);
/* Has the process turned transparent huge pages off (PR_SET_THP_DISABLE)? */
bool     os_thp_disabled(void);
/* Reads at most len - 1 bytes of the file at path into buf and ends them
 * with a NUL, with read(2) (no allocation); the bytes read, 0 if none. */
size_t   os_read_text(const char *path, char *buf, size_t len);
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
/* os_tid (the thread's kernel TID) is with struct tthread, below. */
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

/* ---- thread.c: what a thread keeps --------------------------------------
 * The thread-local state several layers read, defined once (thread.c).
 *
 * Sections: heap locks are held without blocking signals. tthread.section counts the heap
 * locks this thread holds or is taking, from before the try to after the
 * release; a call into phmalloc that finds it non-zero runs in a signal
 * handler that interrupted its own thread inside a locked section, and
 * takes no heap lock: it allocates from the heap's refuge and gives blocks
 * back on the heap's block stack (refuge.c).  Only this thread and its
 * handlers touch the count, so plain stores behind compiler fences. */
/* The thread's cache slots.  tthread.slots[0] caches heap_for_malloc(), the
 * heap this thread's malloc uses; malloc.c's fast paths (fastpath.h) read
 * it inline and trust it while its epoch holds, so whoever changes what
 * heap_for_malloc() gives bumps the old heap's epoch
 * (arena.c:heap_default_set).  A slot is good while its heap's epoch is the
 * one it recorded. */
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
	uint64_t       size;   /* heap->size: which pointers are its, asked
	                          without reading the heap */
	uint32_t       gen;    /* registry_gen when last found good: a heap
	                          detached since (and maybe unmapped) by any
	                          thread is not read through a slot 1.. */
};
/* Bumped by every detach (registry.c:registry_remove). */
extern _Atomic uint32_t registry_gen;
/* struct tthread: what a thread keeps for its caches, in one TLS block so
 * that a fast path finds all of it from one address.
 *   busy is non-zero while the thread works on its caches: a signal
 *   handler that allocates then goes around them (they are not
 *   re-entrant). */
struct tthread {
	struct tslot slots[TCACHE_SLOTS];
	uint32_t     busy;
	uint8_t      state;                 /* TSTATE_* */
	/* frees that found no cache of their heap and made none (tcache.c:
	 * tcache_free: a cache is made by a malloc, or by the
	 * TCACHE_MAKE_FREES-th free) */
	uint8_t      cacheless_frees;
#define TCACHE_MAKE_FREES 64
	/* malloc.c: jemalloc's thread.allocated and thread.deallocated,
	 * usable bytes the thread had from and gave back to the standard
	 * family; here to share the fast paths' TLS address. */
	uint64_t     allocated, deallocated;
	/* Below: read by the locked paths, here for the same reason. */
	uint32_t     section;   /* heap locks held or being taken (below) */
	uint32_t     tid;       /* kernel TID, 0 until asked (os_tid) */
	struct heap *arena;     /* the arena this thread's malloc uses
	                           (arena.c), NULL until its first */
	uint32_t     arena_waits; /* its recent waits for that arena's lock:
	                           heap_lock counts them (arena_waits_note),
	                           the arena policy reads them (arena.c) */
};
extern __thread struct tthread tthread __attribute__((tls_model("initial-exec")));

static inline bool tsection_in(void)
{
	return tthread.section != 0;
}
static inline void tsection_enter(void)
{
	tthread.section++;
	atomic_signal_fence(memory_order_seq_cst);
}
static inline void tsection_leave(void)
{
	atomic_signal_fence(memory_order_seq_cst);
	tthread.section--;
}

/* The thread's kernel TID, cached in tthread.tid (a fork's child sets it
 * anew: os_tid_fork_child).  Inline: every heap lock names its holder. */
uint32_t os_tid_slow(void);
static inline uint32_t os_tid(void)
{
	uint32_t tid = tthread.tid;
	return likely(tid != 0) ? tid : os_tid_slow();
}

/* tthread.state: caching not decided yet (tcache.c:tcache_usable), on, or
 * off for good (the options say no cache, or the thread is exiting). */
enum { TSTATE_NEW, TSTATE_ON, TSTATE_OFF };

/* Will this thread never have a cache?  Then its slow paths go straight to
 * the heap, and heap_free finds no cached copy of a block to look for. */
static inline bool tcache_off(void)
{
	return tthread.state == TSTATE_OFF;
}

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
	if (!config_tcache)   /* --disable-tcache: straight to the slow path */
		return NULL;
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

/* Makes slot 0's cache stale without touching it (the thread moves to
 * another arena): the next slow path gives it back (tcache.c:slot_valid).
 * Async-signal-safe. */
static inline void tslot0_retire(void)
{
	if (tthread.slots[0].heap != TSLOT_NONE)
		tthread.slots[0].epoch = 0;   /* no heap's epoch is 0 */
}

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
/* Bytes of the run that holds a cache of layout tcache_layouts[scale]. */
size_t   tcache_run_bytes(unsigned scale);
/* The layout a heap of `size` bytes gives its caches. */
unsigned tcache_scale_for(size_t size);
int      sizeclass_validate(void);
extern uint8_t size2bin_tab[];   /* (size + 15) / 16 -> 1 + class */
extern uint32_t bin_size_tab[];  /* bin (1 + class) -> block size; 0 -> 0 */
/* align_bin_tab[r][bin]: the bin of the smallest class at or above bin's
 * whose blocks are all aligned to 32 << r (r < ALIGN_ROWS: up to a page),
 * 0 if none. */
#define ALIGN_ROWS (LG_PAGE - 4)
extern uint8_t align_bin_tab[ALIGN_ROWS][1 + NBINS];

/* The thread cache bin (struct tcache.bins index: 1 + class) of a small
 * request (size <= SMALL_MAX): one table load. */
static inline unsigned size2bin(size_t size)
{
	return size2bin_tab[(size + QUANTUM - 1) >> 4];
}

/* The cache bin of the smallest class whose blocks are all align-aligned
 * and hold size bytes, for QUANTUM < align <= PAGE and size <= SMALL_MAX;
 * 0 (bin_size_tab[0] == 0) if none. */
static inline unsigned size2bin_aligned(size_t size, size_t align)
{
	return align_bin_tab[__builtin_ctzl(align) - 5][size2bin(size)];
}

/* The block size that serves size (<= SMALL_MAX) at alignment align (a
 * power of two, <= PAGE) from a small class, 0 if none: two table loads. */
static inline size_t size_small_aligned(size_t size, size_t align)
{
	return bin_size_tab[align > QUANTUM ? size2bin_aligned(size, align) :
	    size2bin(size)];
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

#endif /* PH_BASE_H */
