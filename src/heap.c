/*
 * heap.c -- a heap as a whole: formatting a range, checking a header found
 * in one, the process heap, reset, consistency check and statistics.
 *
 * Layout of a heap at base (internal.h: heap_slabmap, heap_pages):
 *   struct heap | slab map | page map | refuge | data pages ...
 *   ^ page 0                          ^ refuge_page ^ first_page
 * The slab map is npages x uint32_t, the page map npages x struct page:
 * metadata costs 36 bytes per PAGE (0.9%) plus the header, rounded up to
 * whole pages (heap_meta_pages).  The refuge (refuge.c) is 1/64 of the
 * pages, 4 to 256 of them (heap_data_first).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "internal.h"
#include "valgrind.h"

__thread uint32_t tsection __attribute__((tls_model("initial-exec")));

static size_t heap_meta_pages(size_t npages)
{
	size_t bytes = ALIGN_UP(sizeof(struct heap), 64) +
	    page_meta_bytes(npages);
	return ALIGN_UP(bytes, PAGE) >> LG_PAGE;
}

/* The first data page of a range of npages: after metadata and refuge. */
static size_t heap_data_first(size_t npages)
{
	return heap_meta_pages(npages) + refuge_pages(npages);
}

/* Pages of data a range of npages can give, 0 if it is too small. */
size_t heap_capacity_pages(size_t npages)
{
	size_t meta = heap_data_first(npages);
	return npages > meta ? npages - meta : 0;
}

/* Dirty pages at the start of a fresh data area: none if the range reads as
 * zero, else all of them below the high-water mark. */
static size_t heap_initial_dirty(struct heap *h, size_t upto)
{
	return (h->flags & HEAP_F_ZEROED) ? 0 : upto - h->first_page;
}

/* A growable heap's backing starts with its metadata and one step. */
static size_t heap_grow_step(size_t npages)
{
	size_t step = npages / 64;
	return step > HEAP_GROW_STEP_MIN ? step : HEAP_GROW_STEP_MIN;
}

size_t heap_initial_backing(size_t size)
{
	size_t npages = size >> LG_PAGE;
	size_t want = heap_data_first(npages) + heap_grow_step(npages);
	return (want < npages ? want : npages) << LG_PAGE;
}

int heap_grow(struct heap *h, size_t end)
{
	if (!(h->flags & HEAP_F_GROW) || end > h->npages)
		return ENOMEM;
	int fd = registry_fd(h);
	if (fd < 0) {
		registry_error_note(h, EBADF, true);
		return EBADF;   /* attached without its file: cannot grow */
	}
	size_t want = h->limit + heap_grow_step(h->npages);
	if (want < end)
		want = end;
	if (want > h->npages)
		want = h->npages;
	int saved = errno;
	int err = ftruncate(fd, (off_t)(want << LG_PAGE)) == 0 ? 0 : errno;
	errno = saved;
	if (err == 0)
		h->limit = (uint32_t)want;
	else
		registry_error_note(h, err, true);   /* ENOSPC, EFBIG, ... */
	return err;
}

struct heap *heap_format(void *base, size_t size, unsigned hflags,
                         bool zeroed)
{
	struct heap *h = base;
	size_t npages = size >> LG_PAGE;
	size_t meta = heap_meta_pages(npages);

	sizeclass_init();
	/* Claim the range first: magic and init stay in place while the rest of
	 * the header is cleared, so a racing joiner waits instead of joining. */
	atomic_store_explicit(&h->init, HEAP_INIT_FORMATTING,
	    memory_order_relaxed);
	atomic_store_explicit(&h->magic, 0, memory_order_relaxed);
	if (!zeroed)
		memset(&h->version, 0, (meta << LG_PAGE) -
		    offsetof(struct heap, version));
	h->version = HEAP_VERSION;
	h->hdr_size = sizeof(struct heap);
	h->page_size = PAGE;
	h->nbins = NBINS;
	h->flags = hflags | (zeroed ? HEAP_F_ZEROED : 0);
	h->base = (uint64_t)(uintptr_t)base;
	h->size = npages << LG_PAGE;
	h->npages = (uint32_t)npages;
	h->first_page = (uint32_t)heap_data_first(npages);
	h->limit = (hflags & HEAP_F_GROW) ?
	    (uint32_t)(heap_initial_backing(size) >> LG_PAGE) : h->npages;
	h->free_key = os_random();
	h->class_sig = sizeclass_signature();
	atomic_store_explicit(&h->epoch, 1, memory_order_relaxed);
	atomic_store_explicit(&h->cache_limit, h->size, memory_order_relaxed);
	lock_init(&h->lock, (hflags & HEAP_F_SHARED) != 0);
	refuge_format(h, npages, zeroed);
	page_map_init(h, heap_initial_dirty(h, h->npages), 0);
	atomic_store_explicit(&h->magic, HEAP_MAGIC, memory_order_relaxed);
	atomic_store_explicit(&h->init, HEAP_INIT_READY, memory_order_release);
	return h;
}

/* A header read from memory is input, not truth (DESIGN.md). */
int heap_verify_header(const struct heap *h, size_t size)
{
	if (atomic_load_explicit(&h->magic, memory_order_acquire) !=
	    HEAP_MAGIC)
		return EINVAL;
	if (h->version != HEAP_VERSION || h->hdr_size != sizeof(struct heap) ||
	    h->page_size != PAGE || h->nbins != NBINS)
		return EPROTO;
	sizeclass_init();
	if (h->class_sig != sizeclass_signature())
		return EPROTO;
	if (h->size == 0 || h->size % PAGE != 0 ||
	    h->npages != h->size >> LG_PAGE ||
	    h->first_page != heap_data_first(h->npages) ||
	    h->refuge_page != heap_meta_pages(h->npages) ||
	    h->refuge_gran != refuge_granules(refuge_pages(h->npages)) ||
	    h->first_page >= h->npages || h->size < HEAP_MIN_SIZE)
		return EINVAL;
	if (size != 0 && size != h->size)
		return EINVAL;
	/* free's fast path trusts it as the heap's end. */
	uint64_t limit = atomic_load_explicit(&h->cache_limit,
	    memory_order_relaxed);
	if (limit != 0 && limit != h->size)
		return EINVAL;
	/* Epochs count up from 1; the top of the range is heap_none's (no
	 * cache) to the fast paths, so a header that nears it is damage. */
	if (atomic_load_explicit(&h->epoch, memory_order_relaxed) >=
	    UINT64_MAX / 2)
		return EINVAL;
	if (atomic_load_explicit(&h->init, memory_order_acquire) !=
	    HEAP_INIT_READY)
		return EAGAIN;
	return 0;
}

/* ---- the process heap: arenas -------------------------------------------------
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

#define VALGRIND_RESERVE_MAX ((size_t)4 << 30)

struct heap *_Atomic arenas[ARENAS_MAX];
uintptr_t arena_base;                   /* the reservation */
unsigned arena_lg;                      /* log2 of an arena's bytes */
_Atomic uintptr_t arena_span;           /* narenas << arena_lg, once set */
static unsigned narenas;                /* set with arena 0, then fixed */
static _Atomic unsigned arena_moves;    /* threads moved so far */
static struct lock process_heap_lock;   /* serialises making arenas */
static bool arenas_zeroed = true;       /* unmade arenas read as zero */
__thread struct heap *tarena __attribute__((tls_model("initial-exec")));
/* This thread's recent waits for tarena's lock (arena_waits_note). */
static __thread uint32_t tarena_waits __attribute__((tls_model("initial-exec")));

static unsigned arena_count_default(void)
{
	if (opts.narenas != 0)
		return opts.narenas;
	/* One arena under valgrind: its threads run one at a time anyway. */
	long ncpu = vg_on() ? 1 : sysconf(_SC_NPROCESSORS_ONLN);
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
	if (vg_on() && want > VALGRIND_RESERVE_MAX)
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
	struct heap *h = arena_get(0);
	/* Outside the lock: these may allocate, which now works. */
	if (h != NULL)
		registry_process_ready();
	return h;
}

/* Threads start in arena 0 and move when they keep waiting for its lock
 * (glibc's way): threads that trade blocks stay together, where a block
 * freed by the other costs no more than their own, and threads that
 * contend spread out. */
struct heap *heap_arena(void)
{
	if (likely(tarena != NULL))
		return tarena;
	if (heap_process() == NULL)
		return NULL;
	tarena = arena_get(0);
	return tarena;
}

void heap_arena_note(bool waited)
{
	tarena_waits = arena_waits_note(tarena_waits, waited);
}

/* Moves this thread to arena i.  Its cache of the old arena is only
 * retired (slot 0's epoch made stale), never given back here: this may
 * run in a signal handler that interrupted a fast path between its test
 * of slot 0 and marking the thread busy, which then finishes on that
 * cache.  The next slow path gives it back (tcache.c:slot_valid). */
static void arena_move(unsigned i)
{
	struct heap *to = arena_get(i);
	tarena_waits = 0;
	if (to == tarena || to == NULL)
		return;
	tcache_retire_malloc_slot();
	tarena = to;
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
	if (unlikely(arena_waits_say_move(tarena_waits)) && narenas > 1 &&
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
	return h != NULL && h == tarena;
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

/* The created arena i, or NULL: jemalloc answers EFAULT for an automatic
 * arena, which may not be reset or destroyed. */
static struct heap *arena_created(unsigned i)
{
	return heap_arena_is_created(i) ? atomic_load(&arenas[i]) : NULL;
}

int heap_arena_reset(unsigned i)
{
	struct heap *h = arena_created(i);
	if (h == NULL)
		return EFAULT;
	heap_reset(h);
	return 0;
}

int heap_arena_destroy(unsigned i)
{
	os_signals_block();
	lock_acquire(&process_heap_lock);
	struct heap *h = arena_created(i);
	if (h != NULL) {
		atomic_store(&arenas[i], NULL);
		/* From here a free of one of its blocks is a free of memory in
		 * no heap, and says so. */
		registry_remove(h);
		if (vg_on())
			heap_vg_forget(h);
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

/* ---- reset, purge, check, statistics --------------------------------------- */

/* Withdraws every live block from valgrind's view (before a reset or an
 * unmapping), so that blocks later handed out at the same addresses do not
 * overlap stale ones.  Walks the heap: only call it under valgrind. */
void heap_vg_forget(struct heap *h)
{
	struct page *pm = heap_pages(h);
	for (uint32_t i = h->first_page; i < h->npages; i += pm[i].span) {
		if (pm[i].span == 0)
			break;
		char *base = page_addr(h, i);
		if (pm[i].kind == PAGE_LARGE) {
			vg_free(h, base + large_lead(&pm[i]));
		} else if (pm[i].kind == PAGE_SLAB) {
			const struct sizeclass *sc = &sizeclasses[pm[i].cls];
			uint64_t onchain[4] = { 0 };   /* nblocks <= 256 */
			for (uint16_t k = pm[i].s.free; k != SLAB_NONE &&
			    k < pm[i].s.carved;) {
				onchain[k / 64] |= UINT64_C(1) << (k % 64);
				uint16_t *link = (uint16_t *)(base +
				    (size_t)k * sc->size);
				vg_open(link, 2);
				k = *link ^ (uint16_t)h->free_key;
			}
			for (uint32_t k = 0; k < pm[i].s.carved && k < 256; k++)
				if (!(onchain[k / 64] >> (k % 64) & 1))
					vg_free(h, base + (size_t)k * sc->size);
		}
	}
}

void heap_reset(struct heap *h)
{
	heap_lock(h);
	/* Caches first: whatever happens next, no thread uses its old one. */
	atomic_fetch_add_explicit(&h->epoch, 1, memory_order_release);
	size_t used = h->hwm;
	size_t dirty = (h->flags & HEAP_F_ZEROED) ? used - h->first_page :
	    heap_initial_dirty(h, h->npages);
	if (vg_on())
		heap_vg_forget(h);   /* every block is gone */
	page_map_init(h, dirty, used);
	h->hwm = (uint32_t)used;
	memset(h->bins, 0, sizeof(h->bins));
	memset(h->roots, 0, sizeof(h->roots));
	h->tcaches = 0;   /* the caches were blocks of the heap: gone too */
	atomic_store_explicit(&h->remote, 0, memory_order_relaxed);
	atomic_store_explicit(&h->remote_bytes, 0, memory_order_relaxed);
	atomic_store_explicit(&h->remote_slabs, 0, memory_order_relaxed);
	h->tags = 0;      /* so was the tag table */
	h->depot = 0;     /* and the depot */
	refuge_reset(h);
	atomic_store_explicit(&h->tagging, 0, memory_order_relaxed);
	atomic_store_explicit(&h->cache_limit, h->size, memory_order_relaxed);
	struct heap_stats keep = h->stats;
	memset(&h->stats, 0, sizeof(h->stats));
	h->stats.dirty_pages = keep.dirty_pages;
	heap_wake_waiters(h);   /* everything is free: smalloc may go on */
	heap_unlock(h);
}

/* Called for each used run by page_repair. */
static void repair_run(struct heap *h, uint32_t head)
{
	struct page *e = &heap_pages(h)[head];
	if (e->kind == PAGE_SLAB) {
		slab_repair(h, head);
	} else {
		h->stats.allocated += (uint64_t)e->span << LG_PAGE;
		h->stats.cur_large++;
	}
}

int heap_repair(struct heap *h)
{
	for (unsigned c = 0; c < NBINS; c++) {
		h->bins[c].nonfull = 0;
		h->bins[c].nslabs = 0;
		h->bins[c].curblocks = 0;
	}
	h->stats.allocated = 0;
	h->stats.cur_large = 0;
	if (page_repair(h, repair_run) != 0)
		report_fatal("heap %p: page map damaged beyond repair", (void *)h);
	/* Caches are large runs, but not the user's. */
	size_t caches = tcache_repair_locked(h);
	h->stats.allocated -= caches * tcache_run_bytes();
	h->stats.cur_large -= caches;
	size_t depot = depot_run_bytes(h);   /* a large run, not the user's */
	if (depot != 0) {
		h->stats.allocated -= depot;
		h->stats.cur_large--;
	} else {
		h->depot = 0;   /* named none */
	}
	for (unsigned k = 0; k < NROOTS; k++)
		if (h->roots[k] >= h->size)
			h->roots[k] = 0;
	h->stats.nrepairs++;
	/* before the dead caches: a block in both is then free on its chain,
	 * which their reclaim skips (depot.c, crash rule) */
	depot_drain(h);
	tcache_reclaim_locked(h);
	heap_proc_reclaim_locked(h);
	return 0;
}

void heap_purge(struct heap *h, bool force)
{
	heap_lock(h);
	slab_remote_drain(h);   /* emptied slabs can go too */
	if (force)
		depot_drain(h);
	page_purge(h, force);
	heap_unlock(h);
}

/* The checks of heap_validate, without the header check and the lock: for
 * a caller that holds the lock, or that reads a private copy of a heap
 * (phstat).  Reads only; every walk below is bounded. */
int heap_validate_locked(struct heap *h, char *why, size_t whylen)
{
	/* The same checks a joiner runs (image.c), remote stacks included. */
	return heap_image_check(h, 0, why, whylen);
}

int heap_validate(struct heap *h, char *why, size_t whylen)
{
	int err = heap_verify_header(h, 0);
	if (err) {
		snprintf(why, whylen, "bad header (%s)", strerror(err));
		return 1;
	}
	heap_lock(h);
	int bad = heap_validate_locked(h, why, whylen);
	heap_unlock(h);
	return bad || refuge_validate(h, why, whylen);
}

void heap_stats_read(struct heap *h, struct stats_snapshot *s)
{
	heap_lock(h);
	slab_remote_drain(h);   /* remote blocks count as free */
	heap_stats_read_locked(h, s);
	heap_unlock(h);
}

void heap_stats_read_locked(struct heap *h, struct stats_snapshot *s)
{
	memset(s, 0, sizeof(*s));
	/* Blocks in thread caches are free as far as the user is concerned;
	 * those of other arenas are taken off the total by the caller. */
	s->cached = tcache_cached_bytes(h, &s->foreign_cached) +
	    depot_bytes(h);
	s->ncaches = tcache_count_locked(h);
	s->allocated = h->stats.allocated - s->cached;
	s->active = h->stats.active_pages << LG_PAGE;
	s->dirty = h->stats.dirty_pages << LG_PAGE;
	s->metadata = (size_t)h->first_page << LG_PAGE;
	s->mapped = (size_t)h->hwm << LG_PAGE;
	/* Touched metadata: the header and the page map up to hwm. */
	s->resident = s->active + s->dirty + ALIGN_UP(sizeof(struct heap) +
	    page_map_bytes(h->hwm), PAGE);
	s->size = h->size;
	s->backed = (size_t)h->limit << LG_PAGE;
	s->free = (size_t)(h->npages - h->first_page -
	    h->stats.active_pages) << LG_PAGE;
	s->largest_free = (size_t)page_largest_free(h) << LG_PAGE;
	s->epoch = atomic_load_explicit(&h->epoch, memory_order_relaxed);
	s->nmalloc_large = h->stats.nmalloc_large;
	s->ndalloc_large = h->stats.ndalloc_large;
	s->cur_large = h->stats.cur_large;
	s->npurged_pages = h->stats.npurged_pages;
	s->npurge_calls = h->stats.npurge_calls;
	s->nrepairs = h->stats.nrepairs;
	for (unsigned c = 0; c < NBINS; c++) {
		s->bins[c].size = sizeclasses[c].size;
		s->bins[c].nregs = sizeclasses[c].nblocks;
		s->bins[c].npages = sizeclasses[c].npages;
		s->bins[c].nslabs = h->bins[c].nslabs;
		s->bins[c].nmalloc = h->bins[c].nmalloc;
		s->bins[c].ndalloc = h->bins[c].ndalloc;
		s->bins[c].curblocks = h->bins[c].curblocks;
	}
}

/* ---- the table of attached processes (struct heap.procs) ------------------ */

/* Lists this process in procs[] without the lock: a process is listed
 * before it ever takes the lock, so that a waiter never takes a user's
 * hold for a stranger's (heap_lock_gone).  An entry counts from its pid;
 * one claimed by compare-and-swap has start 0 ("not recorded") until the
 * store that follows.  Only entries of dead processes are cleared by
 * others (heap_proc_reclaim_locked), and an empty one is claimed only by
 * a compare-and-swap from 0. */
static bool proc_claim(struct heap *h, uint32_t pid, uint64_t start)
{
	for (unsigned i = 0; i < HEAP_NPROCS; i++) {
		struct heap_proc *p = &h->procs[i];
		uint32_t empty = 0;
		if (__atomic_compare_exchange_n(&p->pid, &empty, pid, false,
		    __ATOMIC_RELEASE, __ATOMIC_RELAXED)) {
			__atomic_store_n(&p->start, start, __ATOMIC_RELAXED);
			return true;
		}
	}
	__atomic_fetch_or(&h->flags, HEAP_F_PROCS_LOST, __ATOMIC_RELAXED);
	return false;
}

/* This process's entry: its pid, started at `start` or not recorded. */
static struct heap_proc *proc_mine(struct heap *h, uint32_t pid,
                                   uint64_t start)
{
	for (unsigned i = 0; i < HEAP_NPROCS; i++) {
		struct heap_proc *p = &h->procs[i];
		uint64_t s = __atomic_load_n(&p->start, __ATOMIC_RELAXED);
		if (__atomic_load_n(&p->pid, __ATOMIC_ACQUIRE) == pid &&
		    (s == start || s == 0))
			return p;
	}
	return NULL;
}

void heap_proc_attach(struct heap *h)
{
	uint32_t pid = (uint32_t)getpid();
	uint64_t start = os_proc_start(0);
	struct heap_proc *p = proc_mine(h, pid, start);
	if (p != NULL)
		__atomic_store_n(&p->start, start, __ATOMIC_RELAXED);
	else
		proc_claim(h, pid, start);
}

/* In a fork's child of a process attached to shared heap h: the child
 * uses h too, so it is listed at once, without the lock (which another
 * process may hold; the child takes none at a fork): an empty entry is
 * claimed by compare-and-swap, start left 0 ("not recorded"), or, with
 * none empty, the heap is marked as having unlisted users. */
void heap_proc_attach_fork_child(struct heap *h, uint32_t pid)
{
	proc_claim(h, pid, 0);
}

bool heap_lock_gone(const void *ctx, uint32_t tid)
{
	const struct heap *h = ctx;
	uint32_t pid = os_thread_process(tid);
	if (pid == UINT32_MAX)
		return false;   /* cannot tell: wait */
	if (pid == 0)
		return true;    /* no such thread, or a zombie */
	if (pid == (uint32_t)getpid())
		return false;   /* ours: the mutex says EDEADLK */
	if (__atomic_load_n(&h->flags, __ATOMIC_RELAXED) & HEAP_F_PROCS_LOST)
		return false;   /* its process may be an unlisted user */
	for (unsigned i = 0; i < HEAP_NPROCS; i++) {
		const struct heap_proc *p = &h->procs[i];
		if (__atomic_load_n(&p->pid, __ATOMIC_ACQUIRE) != pid)
			continue;
		/* A listed pid that now names another process (a copied
		 * file, a reboot) does not count. */
		uint64_t now = p->start ? os_proc_start(pid) : 0;
		if (p->start == 0 || now == 0 || now == p->start)
			return false;
	}
	return true;   /* a thread of a process that never attached */
}

/* Takes this process off procs[], without the lock (it holds none now). */
void heap_proc_detach(struct heap *h)
{
	uint32_t pid = (uint32_t)getpid();
	struct heap_proc *p;
	while ((p = proc_mine(h, pid, os_proc_start(0))) != NULL) {
		__atomic_store_n(&p->start, 0, __ATOMIC_RELAXED);
		__atomic_store_n(&p->pid, 0, __ATOMIC_RELEASE);
	}
}

unsigned heap_proc_reclaim_locked(struct heap *h)
{
	unsigned n = 0;
	for (unsigned i = 0; i < HEAP_NPROCS; i++) {
		struct heap_proc *p = &h->procs[i];
		if (p->pid != 0 && !os_proc_alive(p->pid, p->start)) {
			*p = (struct heap_proc){ 0 };
			n++;
		}
	}
	return n;
}

/* Adds snapshot b into a: the process heap seen as one heap. */
static void stats_add(struct stats_snapshot *a, const struct stats_snapshot *b)
{
	a->allocated += b->allocated;
	a->foreign_cached += b->foreign_cached;
	a->cached += b->cached;
	a->ncaches += b->ncaches;
	a->active += b->active;
	a->dirty += b->dirty;
	a->metadata += b->metadata;
	a->mapped += b->mapped;
	a->resident += b->resident;
	a->size += b->size;
	a->backed += b->backed;
	a->free += b->free;
	if (b->largest_free > a->largest_free)
		a->largest_free = b->largest_free;
	a->nmalloc_large += b->nmalloc_large;
	a->ndalloc_large += b->ndalloc_large;
	a->cur_large += b->cur_large;
	a->npurged_pages += b->npurged_pages;
	a->npurge_calls += b->npurge_calls;
	a->nrepairs += b->nrepairs;
	for (unsigned c = 0; c < NBINS; c++) {
		a->bins[c].nslabs += b->bins[c].nslabs;
		a->bins[c].nmalloc += b->bins[c].nmalloc;
		a->bins[c].ndalloc += b->bins[c].ndalloc;
		a->bins[c].curblocks += b->bins[c].curblocks;
	}
}

void heap_stats_read_default(struct stats_snapshot *s)
{
	struct heap *h = atomic_load(&default_heap);
	if (h == NULL && (h = heap_process()) == NULL) {
		memset(s, 0, sizeof(*s));   /* no address space: nothing yet */
		return;
	}
	heap_stats_read(h, s);   /* arena 0's epoch stands for them all */
	if (!heap_is_process(h))
		return;
	for (unsigned i = 1; i < ARENAS_MAX; i++) {
		struct heap *a = heap_arena_if_any(i);
		if (a != NULL) {
			struct stats_snapshot more;
			heap_stats_read(a, &more);
			stats_add(s, &more);
		}
	}
	/* Cached blocks of one arena in another's caches are free too. */
	s->allocated -= s->foreign_cached < s->allocated ? s->foreign_cached :
	    s->allocated;
	s->cached += s->foreign_cached;
	s->foreign_cached = 0;
}
