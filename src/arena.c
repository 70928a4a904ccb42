/*
 * arena.c -- the process heap: the arenas the standard family allocates
 * from, and which arena each thread uses.
 *
 * In process mode the standard family allocates from one of narenas heaps,
 * each with its own lock, so that threads do not queue on one lock to
 * refill and flush their caches.  The arenas sit side by side in one
 * reservation, arena i at arena_base + i * 2^arena_lg, so that the arena
 * owning any pointer is one subtraction and one shift away (arena_of):
 * that is what lets a thread cache hold blocks of any arena (tcache.c).
 * Arena 0 is made with the first allocation and is "the process heap";
 * the others are formatted when a thread first moves to them.  Threads
 * start in arena 0 and move to another (the next of a round-robin) when
 * half their acquisitions of its lock, lately, had to wait; or
 * when mallctl("thread.arena") says so.
 */
#include <errno.h>
#include <unistd.h>

#include "parts.h"
#include "valgrind.h"

#define VALGRIND_RESERVE_MAX ((size_t)4 << 30)
#define THP_BYTES ((uintptr_t)2 << 20)   /* an x86-64 huge page */

struct heap *_Atomic arenas[ARENAS_MAX];
uintptr_t arena_base;                   /* the reservation */
unsigned arena_lg;                      /* log2 of an arena's bytes */
_Atomic uintptr_t arena_span;           /* narenas << arena_lg, once set */
static unsigned narenas;                /* set with arena 0, then fixed */
static _Atomic unsigned arena_moves;    /* threads moved so far */
static struct lock process_heap_lock;   /* serialises making arenas */
static bool arenas_zeroed = true;       /* unmade arenas read as zero */
struct heap *_Atomic default_heap;      /* what P(malloc) uses */

static unsigned arena_count_default(void)
{
	if (opts.narenas != 0)
		return opts.narenas;
	/* One arena under valgrind: its threads run one at a time anyway. */
	long ncpu = vg_any() ? 1 : sysconf(_SC_NPROCESSORS_ONLN);
	if (ncpu < 1)
		ncpu = 1;
	return ncpu >= ARENAS_MAX / ARENAS_PER_CPU ? ARENAS_MAX :
	    (unsigned)ncpu * ARENAS_PER_CPU;
}

/* Reserves n arenas of 2^lg bytes side by side, aligned to 2^lg where
 * the address space allows (one arena more than needed, then trimmed to
 * the alignment), else unaligned: arena_of needs only the spacing.  Needs
 * process_heap_lock. */
static bool arena_try_reserve(unsigned n, unsigned lg)
{
	size_t one = (size_t)1 << lg;
	if ((one >> LG_PAGE) > HEAP_MAX_PAGES || one > SIZE_MAX / (n + 1))
		return false;
	size_t total = (size_t)n << lg;
	uintptr_t base;
	char *raw = os_reserve(total + one);
	if (raw != NULL) {
		base = ALIGN_UP((uintptr_t)raw, (uintptr_t)one);
		if (base != (uintptr_t)raw)
			os_unmap(raw, base - (uintptr_t)raw);
		os_unmap((void *)(base + total), (uintptr_t)raw + one - base);
	} else if ((raw = os_reserve(total)) != NULL) {
		base = (uintptr_t)raw;
	} else {
		return false;
	}
	arena_base = base;
	arena_lg = lg;
	narenas = n;
	atomic_store_explicit(&arena_span, total, memory_order_release);
	return true;
}

/* Reserves the arenas: narenas of the largest 2^lg <= reserve the kernel
 * grants, down to HEAP_MIN_RESERVE.  Where address space is short
 * (RLIMIT_AS, strict overcommit, a full or fragmented address space),
 * fewer and smaller arenas, as large as can be had, down to one of
 * ARENA_MIN_BYTES: a program under `ulimit -v` gets most of its limit,
 * and only then ENOMEM.  At most about 70 mmap calls, on the first
 * allocation only (or on each one while nothing can be had).  Needs
 * process_heap_lock. */
static bool arena_reserve(void)
{
	size_t want = opts.reserve;
	/* valgrind pays for every reserved page in every fork: keep it small. */
	if (vg_any() && want > VALGRIND_RESERVE_MAX)
		want = VALGRIND_RESERVE_MAX;
	if (want < ARENA_MIN_BYTES)
		want = ARENA_MIN_BYTES;
	unsigned top = 63 - (unsigned)__builtin_clzl(want), want_n = narenas;
	for (unsigned lg = top; ((size_t)1 << lg) >= HEAP_MIN_RESERVE; lg--)
		if (arena_try_reserve(want_n, lg))
			return true;
	for (unsigned lg = top; ((size_t)1 << lg) >= ARENA_MIN_BYTES; lg--)
		for (unsigned n = want_n / 2; n >= 1; n /= 2)
			if (arena_try_reserve(n, lg))
				return true;
	narenas = want_n;
	return false;
}

/* PHMALLOC_CONF=thp (jemalloc's opt.thp): huge pages for the data pages of
 * a new arena, from the first 2 MiB boundary on, or none; the system's
 * choice by default.  Fork copies a process's page tables, and a heap in
 * huge pages has 512 times fewer entries: forks cost less, at the price of
 * memory held in 2 MiB units and of purges that split them
 * (bench/results.md, W10).  Advice only: an error changes nothing. */
static void arena_advise(struct heap *h)
{
	if (opts.thp == THP_DEFAULT || opts.thp == THP_AUTO)
		return;
	uintptr_t lo = ALIGN_UP((uintptr_t)h + ((uintptr_t)h->first_page <<
	    LG_PAGE), THP_BYTES), hi = (uintptr_t)h + h->size;
	if (lo < hi)
		os_hugepages((void *)lo, hi - lo, opts.thp == THP_ALWAYS);
}

/* Arena i, made on demand; NULL when no address space can be had for the
 * arenas: the caller fails its allocation (ENOMEM), and a later call tries
 * again. */
static struct heap *arena_get(unsigned i)
{
	struct heap *h = atomic_load_explicit(&arenas[i], memory_order_acquire);
	if (likely(h != NULL))
		return h;
	/* A signal handler that allocates must not find us half way. */
	os_signals_block();
	lock_acquire(&process_heap_lock);
	h = atomic_load_explicit(&arenas[i], memory_order_relaxed);
	bool reserved = atomic_load_explicit(&arena_span,
	    memory_order_relaxed) != 0;
	if (h == NULL && !reserved) {
		conf_init();
		narenas = arena_count_default();
		reserved = arena_reserve();
	}
	if (h == NULL && reserved && i < narenas) {
		void *base = (void *)(arena_base + ((uintptr_t)i << arena_lg));
		h = heap_format(base, (size_t)1 << arena_lg, HEAP_F_OSMEM,
		    arenas_zeroed);
		arena_advise(h);
		registry_add(h);
		if (i == 0) {
			struct heap *none = NULL;
			atomic_compare_exchange_strong(&default_heap, &none, h);
		}
		atomic_store_explicit(&arenas[i], h, memory_order_release);
	}
	lock_release(&process_heap_lock);
	os_signals_restore();
	return h;
}

struct heap *heap_process(void)
{
	return arena_get(0);
}

/* Threads start in arena 0 and move when they keep waiting for its lock
 * (glibc's way): threads that trade blocks stay together, where a block
 * freed by the other costs no more than their own, and threads that
 * contend spread out. */
struct heap *heap_arena(void)
{
	if (likely(tthread.arena != NULL))
		return tthread.arena;
	if (heap_process() == NULL)
		return NULL;
	tthread.arena = arena_get(0);
	return tthread.arena;
}

/* Moves this thread to arena i.  Its cache of the old arena is only
 * retired (slot 0's epoch made stale), never given back here: this may
 * run in a signal handler that interrupted a fast path between its test
 * of slot 0 and marking the thread busy, which then finishes on that
 * cache.  The next slow path gives it back (tcache.c:slot_valid). */
static void arena_move(unsigned i)
{
	struct heap *to = arena_get(i);
	tthread.arena_waits = 0;
	if (to == tthread.arena || to == NULL)
		return;
	tslot0_retire();
	tthread.arena = to;
}

unsigned heap_arena_index(void)
{
	struct heap *h = heap_arena();
	return h == NULL ? 0 : (unsigned)(((uintptr_t)h - arena_base) >>
	    arena_lg);
}

int heap_arena_set(unsigned i)
{
	if (i >= heap_narenas())
		return EINVAL;
	if (heap_arena() == NULL)
		return ENOMEM;
	arena_move(i);
	return 0;
}

/* The private heap config_private_heap made the default, or NULL while
 * malloc uses the arenas. */
static struct heap *private_default(void)
{
	struct heap *d = atomic_load_explicit(&default_heap,
	    memory_order_acquire);
	return d != atomic_load_explicit(&arenas[0], memory_order_relaxed) ?
	    d : NULL;
}

struct heap *heap_for_malloc(void)
{
	struct heap *h = private_default();
	if (h != NULL)
		return h;
	/* Not inside cache work (a signal handler): slot 0 is in use. */
	if (unlikely(arena_waits_say_move(tthread.arena_waits)) && narenas > 1 &&
	    !tbusy()) {
		unsigned cur = heap_arena_index();
		arena_move((cur + 1 + atomic_fetch_add(&arena_moves, 1) %
		    (narenas - 1)) % narenas);
	}
	return heap_arena();
}

bool heap_is_thread_malloc(const struct heap *h)
{
	struct heap *d = private_default();
	if (d != NULL)
		return h == d;
	return h != NULL && h == tthread.arena;
}

struct heap *heap_arena_nth(unsigned i)
{
	struct heap *d = private_default();
	if (d != NULL)
		return i == 0 ? d : NULL;   /* a private heap is arena 0 */
	if (heap_process() == NULL || i >= ARENAS_MAX)
		return NULL;
	return i < narenas ? arena_get(i) : atomic_load_explicit(&arenas[i],
	    memory_order_acquire);   /* a created arena, or NULL */
}

unsigned heap_narenas(void)
{
	heap_process();
	return narenas;
}

/* ---- created arenas (jemalloc's arenas.create) -----------------------------
 * An arena made by mallctl("arenas.create") is a heap of its own on a
 * reservation of its own, at an index after the automatic arenas (narenas
 * to ARENAS_MAX - 1) in arenas[], reached through MALLOCX_ARENA(i).  It is
 * not in the span, so arena_of and the fast paths never see it: its blocks
 * are found through the registry and cached as a heap handle's are (a slot
 * of their own), and no thread has it as its arena.  Destroying one gives
 * every page back, metadata too, but keeps the reservation for the next
 * arenas.create: a thread's cache slot that still names it reads zeros or a
 * new header, never unmapped memory, finds it gone from the registry or its
 * epoch moved on, and forgets it (tcache.c:slot_valid).  The epoch goes on
 * counting across lives for that. */

static unsigned narenas_made;   /* 1 + the highest index ever used */
static struct spare {
	struct heap *h;             /* a destroyed arena's reservation */
	size_t size;
	uint64_t epoch;             /* its last life's */
} arenas_spare[ARENAS_MAX];
static unsigned nspare;

unsigned heap_narenas_total(void)
{
	heap_process();
	return narenas_made > narenas ? narenas_made : narenas;
}

bool heap_arena_is_created(unsigned i)
{
	return i >= narenas && i < ARENAS_MAX &&
	    atomic_load_explicit(&arenas[i], memory_order_acquire) != NULL;
}

/* A fresh reservation for a created arena: an automatic arena's size, or
 * less where address space is short. */
static struct spare arena_created_memory(void)
{
	if (nspare > 0)
		return arenas_spare[--nspare];
	for (size_t sz = (size_t)1 << arena_lg; sz >= ARENA_MIN_BYTES;
	    sz >>= 1) {
		void *p = os_reserve(sz);
		if (p != NULL)
			return (struct spare){ p, sz, 0 };
	}
	return (struct spare){ NULL, 0, 0 };
}

int heap_arena_create(unsigned *out)
{
	if (heap_process() == NULL)
		return EAGAIN;
	os_signals_block();
	lock_acquire(&process_heap_lock);
	unsigned i = narenas;
	while (i < ARENAS_MAX && atomic_load_explicit(&arenas[i],
	    memory_order_relaxed) != NULL)
		i++;
	int err = EAGAIN;   /* jemalloc's answer when no arena can be made */
	struct spare m = i < ARENAS_MAX ? arena_created_memory() :
	    (struct spare){ NULL, 0, 0 };
	if (m.h != NULL) {
		struct heap *h = heap_format(m.h, m.size, HEAP_F_OSMEM, true);
		arena_advise(h);
		atomic_store(&h->epoch, m.epoch + 1);
		err = registry_add(h);
		if (err == 0) {
			atomic_store_explicit(&arenas[i], h,
			    memory_order_release);
			if (i + 1 > narenas_made)
				narenas_made = i + 1;
			*out = i;
		} else {
			arenas_spare[nspare++] = m;
			err = EAGAIN;
		}
	}
	lock_release(&process_heap_lock);
	os_signals_restore();
	return err;
}

struct heap *heap_arena_created(unsigned i)
{
	return heap_arena_is_created(i) ? atomic_load(&arenas[i]) : NULL;
}

int heap_arena_destroy(unsigned i)
{
	os_signals_block();
	lock_acquire(&process_heap_lock);
	struct heap *h = heap_arena_created(i);
	if (h != NULL) {
		atomic_store(&arenas[i], NULL);
		/* From here a free of one of its blocks is a free of memory in
		 * no heap, and says so. */
		registry_remove(h);
		if (vg_on())
			slab_vg_forget(h);
		/* Bumped past every cache slot of this life, then zeros. */
		uint64_t epoch = atomic_fetch_add(&h->epoch, 1) + 1;
		arenas_spare[nspare++] = (struct spare){ h, h->size, epoch };
		os_purge(h, h->size, false);
	}
	lock_release(&process_heap_lock);
	os_signals_restore();
	return h == NULL ? EFAULT : 0;
}

struct heap *heap_arena_if_any(unsigned i)
{
	return i < ARENAS_MAX ? atomic_load_explicit(&arenas[i],
	    memory_order_acquire) : NULL;
}

/* In a fork's child: a thread of the parent may have been making an arena
 * (registry.c explains why nothing is locked before fork).  Its arenas[i]
 * is not published, so the child makes it again, but on memory that the
 * cut-short format may have written: not zeroed any more. */
void heap_process_fork_child(void)
{
	if (lock_held(&process_heap_lock)) {
		lock_reset(&process_heap_lock);
		arenas_zeroed = false;
	}
}

struct heap *heap_process_if_any(void)
{
	return heap_arena_if_any(0);
}

bool heap_is_process(const struct heap *h)
{
	return h != NULL && arena_of(h) == h;
}

/* ---- the default heap ------------------------------------------------------ */

void heap_default_set(struct heap *h)
{
	struct heap *old = atomic_exchange(&default_heap, h);
	if (old == h || old == NULL)
		return;
	/* Every thread's slot 0 names the heap its malloc used, and the fast
	 * paths trust it while its epoch holds: bump it, so that each thread
	 * looks again (tcache.c:slot_valid) and finds h. */
	if (heap_is_process(old)) {
		for (unsigned i = 0; i < ARENAS_MAX; i++) {
			struct heap *a = heap_arena_if_any(i);
			if (a != NULL)
				atomic_fetch_add(&a->epoch, 1);
		}
	} else {
		atomic_fetch_add(&old->epoch, 1);
	}
}

void heap_default_forget(struct heap *h)
{
	struct heap *expect = h;
	atomic_compare_exchange_strong(&default_heap, &expect,
	    heap_process_if_any());
}
