/* test_tcache.c -- thread caches (tcache.c): how a thread's slot for a heap
 * is written, the outbox that holds other arenas' blocks, refills and
 * flushes that put every block back in the heap it came from, the epoch a
 * reset bumps, and the caches of owners that died. */
#include <pthread.h>
#include <sys/wait.h>
#include <unistd.h>

#include <phmalloc.h>

#include "fastpath.h"
#include "unit.h"
#include "../trapflag.h"

#define MIB ((size_t)1 << 20)
#define HEAP_SIZE (4 * MIB)

/* ---- helpers ----------------------------------------------------------- */

/* Would tcache.c:tcache_usable let this thread cache?  Under memcheck it
 * must not: memcheck sees every malloc and free. */
static bool caches_expected(void)
{
	if (!config_tcache || !opts.tcache ||
	    (config_fill && (opts.junk || opts.zero)))
		return false;
#ifdef PH_HAVE_VALGRIND
	uint64_t probe = 0, vbits;
	if (RUNNING_ON_VALGRIND &&
	    VALGRIND_GET_VBITS(&probe, &vbits, sizeof(probe)) == 1)
		return false;
#endif
	return true;
}

/* A private heap the caches serve: they serve registered heaps only. */
static struct heap *heap_new(void)
{
	struct heap *h = unit_heap(HEAP_SIZE, 0);
	ck_assert_int_eq(registry_add(h), 0);
	return h;
}

static void heap_done(struct heap *h)
{
	tcache_detach(h);   /* this process's caches go back, slots forgotten */
	registry_remove(h);
	unit_heap_free(h);
}

/* A heap other processes can map: robust lock, MAP_SHARED range. */
static struct heap *shared_heap_new(void)
{
	void *base = mmap(NULL, HEAP_SIZE, PROT_READ | PROT_WRITE,
	    MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	ck_assert_ptr_ne(base, MAP_FAILED);
	struct heap *h = (struct heap *)ph_heap_create(base, HEAP_SIZE,
	    PH_HEAP_SHARED);
	ck_assert_ptr_nonnull(h);
	ck_assert(h->lock.robust);
	return h;
}

static void shared_heap_done(struct heap *h)
{
	ck_assert_int_eq(ph_heap_detach((ph_heap_t *)h), 0);
	munmap(h, HEAP_SIZE);
}

static uint64_t off_of(const struct heap *h, const void *p)
{
	return (uint64_t)((uintptr_t)p - (uintptr_t)h);
}

/* The class of the slab that holds block p of h, by the page map; -1 if p
 * is not the start of a block in a slab of h. */
static int slab_class(struct heap *h, const void *p)
{
	uint64_t off = off_of(h, p);
	if (off >= h->size)
		return -1;
	struct page *pm = heap_pages(h);
	uint32_t idx = (uint32_t)(off >> LG_PAGE);
	uint32_t head = pm[idx].kind == PAGE_SLAB_BODY ? pm[idx].span : idx;
	if (head < h->first_page || head >= h->npages ||
	    pm[head].kind != PAGE_SLAB)
		return -1;
	uint64_t in_slab = off - ((uint64_t)head << LG_PAGE);
	if (in_slab % sizeclasses[pm[head].cls].size != 0)
		return -1;
	return pm[head].cls;
}

/* This thread's slot naming h, whatever its epoch; NULL if none. */
static struct tslot *slot_of(const struct heap *h)
{
	for (unsigned i = 0; i < TCACHE_SLOTS; i++)
		if (tthread.slots[i].heap == h)
			return &tthread.slots[i];
	return NULL;
}

static bool bin_has(const struct tcache *tc, const struct tcache_bin *b,
                    uint64_t off)
{
	for (uint32_t i = b->lo; i < b->top; i++)
		if (tc->slots[i] == off)
			return true;
	return false;
}

/* Is the block at offset off in one of tc's class bins? */
static bool bins_have(struct tcache *tc, uint64_t off)
{
	for (unsigned c = 0; c < NBINS; c++)
		if (bin_has(tc, tcache_bin(tc, c), off))
			return true;
	return false;
}

static uint32_t cached_count(struct tcache *tc)
{
	uint32_t n = 0;
	for (unsigned c = 0; c < NBINS; c++)
		n += tcache_count(tcache_bin(tc, c));
	return n;
}


static size_t caches_listed(struct heap *h)
{
	heap_lock(h);
	size_t n = cache_count_locked(h);
	heap_unlock(h);
	return n;
}

/* Splices in what other threads gave back without h's lock. */
static void drain(struct heap *h)
{
	heap_lock(h);
	remote_drain(h);
	heap_unlock(h);
}

/* t names a cache of h that this thread owns, on h's list, good now. */
static void slot_names_own_cache(struct heap *h, struct tslot *t)
{
	ck_assert_ptr_eq(t->heap, h);
	uint64_t epoch = atomic_load(&h->epoch);
	ck_assert_uint_eq(t->epoch, epoch);
	uint64_t off = off_of(h, t->tc);
	ck_assert_uint_ge(off, (uint64_t)h->first_page << LG_PAGE);
	ck_assert_uint_lt(off, h->size);
	ck_assert_uint_eq(t->tc->magic, TCACHE_MAGIC);
	ck_assert_uint_eq(t->tc->pid, (uint32_t)getpid());
	ck_assert_uint_eq(t->tc->tid, os_tid());
	bool listed = false;
	for (uint64_t o = h->tcaches; o != 0 && !listed;
	    o = ((struct tcache *)((char *)h + o))->next)
		listed = o == off;
	ck_assert_msg(listed, "the slot's cache is not on its heap's list");
}

/* Each test starts with no cache in any slot (they may share a process
 * under CK_FORK=no), in a thread past its cacheless frees, so that a free
 * makes a cache as a malloc does (the rule before that has its test). */
static void setup(void)
{
	sizeclass_init();
	for (unsigned i = 0; i < TCACHE_SLOTS; i++)
		tcache_slot_release(&tthread.slots[i]);
	tthread.cacheless_frees = TCACHE_MAKE_FREES;
}

/* ---- caching on or off ------------------------------------------------- */

START_TEST(caches_serve_a_heap_exactly_when_enabled)
{
	struct heap *h = heap_new();
	unsigned c = size2class(64);
	void *p = tcache_alloc(h, c);
	if (caches_expected()) {
		ck_assert_ptr_nonnull(p);
		ck_assert_int_eq(slab_class(h, p), (int)c);
		ck_assert_uint_eq(caches_listed(h), 1);
		memset(p, 1, 64);
		ck_assert(tcache_free(h, p));
	} else {
		/* memcheck, --disable-tcache, tcache:false, junk or zero:
		 * every block goes the direct way */
		ck_assert_ptr_null(p);
		p = heap_malloc(h, 64, false);
		memset(p, 1, 64);
		ck_assert(!tcache_free(h, p));
		heap_free(h, p);
		ck_assert_uint_eq(h->tcaches, 0);
		ck_assert_uint_eq(unit_live(h), 0);
	}
	unit_validate(h);
	heap_done(h);
}
END_TEST

/* A cache is made by a malloc at once, and by a free only once the thread
 * has freed TCACHE_MAKE_FREES blocks without one: a thread that frees a
 * block handed to it and then allocates (cache-scratch) must not get that
 * block, which shares a line with other threads' blocks, back from its
 * new cache. */
START_TEST(a_free_makes_a_cache_only_after_the_cacheless_frees)
{
	struct heap *h = heap_new();
	unsigned c = size2class(16);
	tthread.cacheless_frees = 0;
	void *given = heap_malloc(h, 16, false);   /* another thread's */
	void *next = heap_malloc(h, 16, false);    /* its neighbour */
	ck_assert_ptr_nonnull(given);
	ck_assert_ptr_nonnull(next);
	ck_assert(!tcache_free(h, given));   /* no cache made */
	ck_assert_ptr_null(slot_of(h));
	heap_free(h, given);
	ck_assert_uint_eq(tthread.cacheless_frees, 1);
	void *mine = tcache_alloc(h, c);     /* a malloc makes one */
	ck_assert_ptr_nonnull(mine);
	ck_assert_ptr_nonnull(slot_of(h));
	ck_assert_ptr_ne(mine, given);
	ck_assert(tcache_free(h, mine));     /* and frees use it */
	heap_free(h, next);

	/* A thread that only frees gets a cache at its 64th such free. */
	struct heap *g = heap_new();
	void *p[TCACHE_MAKE_FREES + 1];
	for (unsigned i = 0; i <= TCACHE_MAKE_FREES; i++)
		ck_assert_ptr_nonnull(p[i] = heap_malloc(g, 16, false));
	for (unsigned i = 1; i < TCACHE_MAKE_FREES; i++) {
		ck_assert(!tcache_free(g, p[i]));
		heap_free(g, p[i]);
	}
	ck_assert_ptr_null(slot_of(g));
	ck_assert(tcache_free(g, p[TCACHE_MAKE_FREES]));
	ck_assert_ptr_nonnull(slot_of(g));
	ck_assert(tcache_free(g, p[0]));
	unit_validate(h);
	unit_validate(g);
}
END_TEST

/* ---- 1. slots: which cache this thread uses for a heap ---------------- */

START_TEST(a_slot_names_a_listed_cache_of_this_thread)
{
	struct heap *h = heap_new();
	unsigned c = size2class(100);
	const struct sizeclass *sc = &sizeclasses[c];
	char *p = tcache_alloc(h, c);
	ck_assert_ptr_nonnull(p);
	ck_assert_int_eq(slab_class(h, p), (int)c);
	/* Slot 0 is the malloc heap's, which h is not; it never reads NULL. */
	ck_assert_ptr_nonnull(tthread.slots[0].heap);
	ck_assert_ptr_ne(tthread.slots[0].heap, h);
	struct tslot *t = slot_of(h);
	ck_assert_ptr_nonnull(t);
	ck_assert_ptr_ne(t, &tthread.slots[0]);
	slot_names_own_cache(h, t);
	ck_assert_ptr_eq(tslot_of(h), t);   /* the fast paths take it */
	/* The refill took half a bin; p left it, the rest wait. */
	struct tcache_bin *b = tcache_bin(t->tc, c);
	ck_assert_uint_eq(tcache_count(b) + 1, sc->tcache_base / 2);
	ck_assert(!bin_has(t->tc, b, off_of(h, p)));
	ck_assert_uint_eq(unit_class_live(h, c), sc->tcache_base / 2);
	memset(p, 0x11, sc->size);
	ck_assert(tcache_free(h, p));
	ck_assert(bin_has(t->tc, b, off_of(h, p)));
	ck_assert_uint_eq(caches_listed(h), 1);
	unit_validate(h);
	heap_done(h);
}
END_TEST

START_TEST(the_malloc_heaps_cache_moves_to_slot_0_never_left_null)
{
	struct heap *h = heap_new();
	unsigned c = size2class(48);
	void *p = tcache_alloc(h, c);
	ck_assert_ptr_nonnull(p);
	struct tslot *t = slot_of(h);
	ck_assert_ptr_nonnull(t);
	ck_assert_ptr_ne(t, &tthread.slots[0]);
	struct tcache *tc = t->tc;
	/* h becomes what malloc uses: its cache, not a new one, moves to
	 * slot 0, where malloc's fast path looks. */
	heap_default_set(h);
	void *q = tcache_alloc(h, c);
	ck_assert_ptr_nonnull(q);
	ck_assert_ptr_eq(tthread.slots[0].tc, tc);
	slot_names_own_cache(h, &tthread.slots[0]);
	ck_assert_ptr_null(t->heap);   /* the old slot is empty */
	ck_assert_uint_eq(caches_listed(h), 1);
	struct tslot *t0 = tslot0_enter();
	ck_assert_ptr_eq(t0, &tthread.slots[0]);
	tbusy_leave();
	/* Released, slot 0 reads as no heap (never NULL: the fast path
	 * reads its epoch through it) and its blocks are back. */
	tcache_slot_release(&tthread.slots[0]);
	ck_assert_ptr_eq(tthread.slots[0].heap, TSLOT_NONE);
	ck_assert_ptr_null(tslot0_enter());
	ck_assert(!tbusy());
	ck_assert_uint_eq(caches_listed(h), 0);
	ck_assert_uint_eq(unit_live(h), 2);
	unit_validate(h);
	heap_free(h, p);
	heap_free(h, q);
	/* A detach forgets slot 0 the same way. */
	ck_assert_ptr_nonnull(p = tcache_alloc(h, c));
	ck_assert_ptr_eq(tthread.slots[0].heap, h);
	tcache_detach(h);
	ck_assert_ptr_eq(tthread.slots[0].heap, TSLOT_NONE);
	ck_assert_uint_eq(caches_listed(h), 0);
	ck_assert_uint_eq(unit_live(h), 1);
	unit_validate(h);
	heap_done(h);
}
END_TEST

START_TEST(a_heap_past_the_last_slot_evicts_one_whose_cache_goes_back)
{
	/* Slot 0 is kept for the malloc heap: TCACHE_SLOTS - 1 others fit. */
	enum { N = TCACHE_SLOTS };
	unsigned c = size2class(160);
	struct heap *hs[N];
	void *p[N];
	for (unsigned i = 0; i < N; i++) {
		hs[i] = heap_new();
		ck_assert_ptr_nonnull(p[i] = tcache_alloc(hs[i], c));
	}
	/* The last heap took the last slot from the one before it. */
	struct heap *gone = hs[N - 2];
	ck_assert_ptr_null(slot_of(gone));
	ck_assert_ptr_eq(tthread.slots[TCACHE_SLOTS - 1].heap, hs[N - 1]);
	for (unsigned i = 0; i + 2 < N; i++)
		ck_assert_ptr_eq(tthread.slots[i + 1].heap, hs[i]);
	ck_assert_ptr_ne(tthread.slots[0].heap, gone);
	ck_assert_uint_eq(gone->tcaches, 0);
	ck_assert_uint_eq(unit_live(gone), 1);   /* p only */
	unit_validate(gone);
	/* Freeing into it brings it back, and sends the last one away. */
	ck_assert(tcache_free(gone, p[N - 2]));
	struct tslot *t = slot_of(gone);
	ck_assert_ptr_eq(t, &tthread.slots[TCACHE_SLOTS - 1]);
	slot_names_own_cache(gone, t);
	ck_assert(bin_has(t->tc, tcache_bin(t->tc, c), off_of(gone, p[N - 2])));
	ck_assert_ptr_null(slot_of(hs[N - 1]));
	ck_assert_uint_eq(hs[N - 1]->tcaches, 0);
	ck_assert_uint_eq(unit_live(hs[N - 1]), 1);
	for (unsigned i = 0; i < N; i++) {
		unit_validate(hs[i]);
		heap_done(hs[i]);
	}
}
END_TEST

START_TEST(a_retired_malloc_slot_is_given_back_at_the_next_slow_path)
{
	struct heap *h = heap_new();
	unsigned c = size2class(64);
	heap_default_set(h);
	void *p = tcache_alloc(h, c);
	ck_assert_ptr_nonnull(p);
	struct tcache *old = tthread.slots[0].tc;
	slot_names_own_cache(h, &tthread.slots[0]);
	uint64_t out = unit_live(h);
	/* Retiring (a move to another arena) changes the epoch only: it may
	 * run in a signal handler over a fast path that still uses the
	 * cache. */
	tslot0_retire();
	ck_assert_ptr_eq(tthread.slots[0].heap, h);
	ck_assert_ptr_eq(tthread.slots[0].tc, old);
	ck_assert_uint_eq(tthread.slots[0].epoch, 0);
	ck_assert_ptr_null(tslot0_enter());
	ck_assert_ptr_null(tslot_of(h));
	ck_assert_uint_eq(caches_listed(h), 1);
	ck_assert_uint_eq(unit_live(h), out);
	/* The next slow path gives the old cache back and makes a new one. */
	void *q = tcache_alloc(h, c);
	ck_assert_ptr_nonnull(q);
	slot_names_own_cache(h, &tthread.slots[0]);
	ck_assert_uint_eq(caches_listed(h), 1);
	uint32_t cached = cached_count(tthread.slots[0].tc);
	ck_assert_uint_eq(unit_live(h), 2 + cached);
	unit_validate(h);
	heap_done(h);
}
END_TEST

/* A signal at every instruction: the trap flag makes the CPU raise
 * SIGTRAP after each instruction (phmalloc never blocks SIGTRAP: os.c),
 * and the handler checks what a signal handler's malloc would read.  Each
 * slot either fails the fast paths' epoch test or names a cache inside
 * its heap -- the heaps' epochs are made equal (each starts at a random
 * value), so a slot written in the wrong order could pass with another
 * heap's cache -- and slot 0's heap is never
 * NULL.  Every boundary is seen: nothing depends on where a signal falls.
 * (gcc and clang -O2 store heap and tc as one 16-byte word, so a missing
 * stale-first epoch shows only where they are two stores, as at -O1.) */
#if defined(__x86_64__) && defined(__linux__)
#define STEP_HEAPS 3
static struct heap *step_heap[STEP_HEAPS];
static volatile unsigned long steps, bad_step;
static volatile int bad_slot = -1;
static const char *volatile bad_why;

#define STEPPED(stmt) do {                                               \
	trap_flag(true);                                                 \
	stmt;                                                            \
	trap_flag(false);                                                \
} while (0)

static const char *slot_wrong(unsigned i)
{
	const struct tslot *t = &tthread.slots[i];
	struct heap *h = t->heap;
	if (h == NULL)
		return i == 0 ? "slot 0's heap is NULL" : NULL;
	if (h == TSLOT_NONE)
		return NULL;   /* its epoch matches no slot's */
	bool known = false;
	for (unsigned k = 0; k < STEP_HEAPS; k++)
		known |= h == step_heap[k];
	if (!known)
		return "names a heap the test never used";
	if (t->epoch != atomic_load(&h->epoch))
		return NULL;   /* the fast paths turn it away */
	uint64_t off = (uint64_t)((uintptr_t)t->tc - (uintptr_t)h);
	if (off < (uint64_t)h->first_page << LG_PAGE || off >= h->size)
		return "passes the epoch test with a cache outside its heap";
	return NULL;
}

static void on_step(int sig, siginfo_t *si, void *ctx)
{
	(void)sig;
	(void)si;
	(void)ctx;
	steps++;
	for (unsigned i = 0; i < TCACHE_SLOTS && bad_slot < 0; i++) {
		const char *why = slot_wrong(i);
		if (why != NULL) {
			bad_why = why;
			bad_step = steps;
			bad_slot = (int)i;
		}
	}
}

START_TEST(no_instruction_sees_a_slot_pass_with_another_heaps_cache)
{
	struct sigaction sa, was;
	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = on_step;
	sa.sa_flags = SA_SIGINFO;
	sigfillset(&sa.sa_mask);
	ck_assert_int_eq(sigaction(SIGTRAP, &sa, &was), 0);
	for (unsigned k = 0; k < STEP_HEAPS; k++)
		step_heap[k] = heap_new();
	struct heap *a = step_heap[0], *b = step_heap[1], *d = step_heap[2];
	atomic_store(&b->epoch, atomic_load(&a->epoch));
	atomic_store(&d->epoch, atomic_load(&a->epoch));
	unsigned c = size2class(32);
	void *pa, *pb, *pd, *pb2;
	heap_default_set(a);
	STEPPED(pa = tcache_alloc(a, c));    /* slot 0 made for a */
	STEPPED(pb = tcache_alloc(b, c));    /* slot 1 made for b */
	/* b becomes the malloc heap while slot 0 still holds a, as between
	 * heap_default_set's exchange and its epoch bump, which another
	 * thread may be in: slots 0 and 1 swap, each from a good triple. */
	atomic_store(&default_heap, b);
	STEPPED(pb2 = tcache_alloc(b, c));
	ck_assert(pa != NULL && pb != NULL && pb2 != NULL);
	ck_assert_ptr_eq(tthread.slots[0].heap, b);
	slot_names_own_cache(b, &tthread.slots[0]);
	ck_assert_ptr_eq(tthread.slots[1].heap, a);
	slot_names_own_cache(a, &tthread.slots[1]);
	atomic_fetch_add(&a->epoch, 1);      /* the bump */
	bool freed[3];
	STEPPED(freed[0] = tcache_free(a, pa));   /* a's slot remade */
	STEPPED(pd = tcache_alloc(d, c));
	STEPPED(tslot0_retire());
	STEPPED(freed[1] = tcache_free(b, pb));   /* slot 0 given back */
	STEPPED(freed[2] = tcache_free(b, pb2));
	STEPPED(tcache_flush_thread());
	struct tslot *td = slot_of(d);
	STEPPED(tcache_slot_release(td));
	STEPPED(tcache_slot_release(&tthread.slots[0]));
	ck_assert_int_eq(sigaction(SIGTRAP, &was, NULL), 0);
	ck_assert_msg(bad_slot < 0, "slot %d at instruction %lu: %s", bad_slot,
	    bad_step, bad_why);
	ck_assert_uint_gt(steps, 1000);   /* the calls were stepped */
	ck_assert(freed[0] && freed[1] && freed[2]);
	ck_assert_ptr_nonnull(pd);
	heap_free(d, pd);
	for (unsigned k = 0; k < STEP_HEAPS; k++) {
		unit_validate(step_heap[k]);
		heap_done(step_heap[k]);
	}
}
END_TEST
#endif

/* ---- 2. the outbox: other arenas' blocks ------------------------------ */

/* Moves this thread to arena i (which retires its slot 0); returns it,
 * with the blocks given back to it taken in, so that its counts hold
 * still (tests may share a process under CK_FORK=no). */
static struct heap *arena_enter(unsigned i)
{
	ck_assert_int_eq(heap_arena_set(i), 0);
	struct heap *a = heap_arena();
	drain(a);
	return a;
}

/* n blocks of class c from arena a through its cache, written. */
static void arena_take(struct heap *a, unsigned c, void **p, unsigned n)
{
	for (unsigned i = 0; i < n; i++) {
		p[i] = tcache_alloc(a, c);
		ck_assert_ptr_nonnull(p[i]);
		ck_assert_ptr_eq(arena_of(p[i]), a);
		memset(p[i], 0x5a, sizeclasses[c].size);
	}
}

/* Frees p as free() does: slot 0 on the fast path (fastpath.h), else the
 * slow path. */
static void free_like_free(struct heap *owner, void *p, bool fast)
{
	if (fast) {
		struct tslot *t = tslot0_enter();
		bool done = t != NULL && cache_free(t->heap, t, p);
		if (t != NULL)
			tbusy_leave();
		ck_assert_msg(done, "free's fast path refused %p", p);
	} else {
		ck_assert(tcache_free(owner, p));
	}
}

static void *malloc_like_malloc(struct heap *a, unsigned c, bool fast)
{
	void *q = NULL;
	if (fast) {
		struct tslot *t = tslot0_enter();
		if (t != NULL) {
			(void)cache_alloc(t->heap, t, sizeclasses[c].size, &q);
			tbusy_leave();
		}
	}
	return q != NULL ? q : tcache_alloc(a, c);
}

START_TEST(other_arenas_blocks_go_to_the_outbox_never_to_malloc)
{
	enum { K = 40 };
	unsigned c = size2class(64);
	struct heap *a0 = arena_enter(0);
	uint64_t out0 = unit_class_live(a0, c);
	void *p[K];
	arena_take(a0, c, p, K);
	struct heap *a1 = arena_enter(1);
	ck_assert_ptr_ne(a1, a0);
	for (unsigned i = 0; i < K; i++)
		free_like_free(a0, p[i], i % 2 == 1);
	struct tslot *t = &tthread.slots[0];
	slot_names_own_cache(a1, t);
	struct tcache *tc = t->tc;
	ck_assert_uint_eq(tcache_count(&tc->outbox), K);
	for (unsigned i = 0; i < K; i++) {
		uint64_t off = off_of(a1, p[i]);
		ck_assert_msg(bin_has(tc, &tc->outbox, off),
		    "block %u of arena 0 is not in the outbox", i);
		ck_assert_msg(!bins_have(tc, off),
		    "block %u of arena 0 is in a class bin", i);
		ck_assert(tcache_holds(a0, p[i]));   /* a double free shows */
	}
	/* Still out for arena 0; counted as foreign in arena 1's caches. */
	ck_assert_uint_eq(unit_class_live(a0, c), out0 + K);
	size_t foreign = 0;
	heap_lock(a1);
	cache_cached_bytes(a1, &foreign);
	heap_unlock(a1);
	ck_assert_uint_eq(foreign, K * sizeclasses[c].size);
	/* Two bins' worth of mallocs, fast and slow: all arena 1's own. */
	uint32_t n = 2 * sizeclasses[c].tcache_base;
	void **q = calloc(n, sizeof(*q));
	for (uint32_t j = 0; j < n; j++) {
		q[j] = malloc_like_malloc(a1, c, j % 2 == 0);
		ck_assert_ptr_nonnull(q[j]);
		ck_assert_msg(arena_of(q[j]) == a1, "malloc %u in arena 1 gave "
		    "%p, a block of another arena", j, q[j]);
		memset(q[j], 0x6b, sizeclasses[c].size);
	}
	ck_assert_uint_eq(tcache_count(&tc->outbox), K);
	for (uint32_t j = 0; j < n; j++)
		free_like_free(a1, q[j], j % 2 == 1);
	free(q);
	unit_validate(a0);
	unit_validate(a1);
}
END_TEST

START_TEST(a_flush_sends_the_outbox_home)
{
	enum { K = 60 };
	unsigned c = size2class(128);
	struct heap *a0 = arena_enter(0);
	uint64_t out0 = unit_class_live(a0, c);
	void *p[K];
	arena_take(a0, c, p, K);
	struct heap *a1 = arena_enter(1);
	uint64_t out1 = unit_class_live(a1, c);
	for (unsigned i = 0; i < K; i++)
		free_like_free(a0, p[i], i % 3 == 1);   /* slow first: slot 0 */
	struct tcache *tc = tthread.slots[0].tc;
	ck_assert_uint_eq(tcache_count(&tc->outbox), K);
	tcache_flush_thread();
	ck_assert_uint_eq(tcache_count(&tc->outbox), 0);
	/* On arena 0's remote lists: its next lock holder takes them in. */
	drain(a0);
	ck_assert_uint_eq(unit_class_live(a0, c), out0);
	ck_assert_uint_eq(unit_class_live(a1, c), out1);
	for (unsigned i = 0; i < K; i++)
		ck_assert(!tcache_holds(a0, p[i]));
	unit_validate(a0);
	unit_validate(a1);
}
END_TEST

START_TEST(a_full_outbox_goes_home_before_it_takes_another_block)
{
	enum { K = TCACHE_OUTBOX + 1 };
	unsigned c = size2class(64);
	struct heap *a0 = arena_enter(0);
	uint64_t out0 = unit_class_live(a0, c);
	void **p = calloc(K, sizeof(*p));
	arena_take(a0, c, p, K);
	struct heap *a1 = arena_enter(1);
	for (unsigned i = 0; i < K; i++)
		free_like_free(a0, p[i], false);
	struct tcache *tc = tthread.slots[0].tc;
	ck_assert_uint_eq(tcache_count(&tc->outbox), 1);
	ck_assert(bin_has(tc, &tc->outbox, off_of(a1, p[K - 1])));
	drain(a0);
	ck_assert_uint_eq(unit_class_live(a0, c), out0 + 1);
	unit_validate(a0);
	unit_validate(a1);
	free(p);
}
END_TEST

/* ---- 3. refills and flushes across heaps and arenas ------------------- */

START_TEST(flushes_send_each_block_back_to_the_heap_it_came_from)
{
	/* A heap in every slot but 0 (the malloc heap's), blocks of five
	 * classes from each, taken and freed in turn. */
	enum { NH = TCACHE_SLOTS - 1 };
	static const unsigned classes[] = { 0, 3, 9, 17, 26 };
	enum { NC = sizeof(classes) / sizeof(classes[0]) };
	struct heap *hs[NH];
	for (unsigned j = 0; j < NH; j++)
		hs[j] = heap_new();
	uint32_t most = 0;
	for (unsigned k = 0; k < NC; k++)
		if (sizeclasses[classes[k]].tcache_base > most)
			most = sizeclasses[classes[k]].tcache_base;
	/* More than a bin holds, so that the frees flush half bins too. */
	uint32_t n = most + 5;
	void **p = calloc((size_t)NH * NC * n, sizeof(*p));
	for (uint32_t i = 0; i < NC * n; i++)
		for (unsigned j = 0; j < NH; j++) {
			unsigned c = classes[i % NC];
			void *q = tcache_alloc(hs[j], c);
			ck_assert_ptr_nonnull(q);
			ck_assert_int_eq(slab_class(hs[j], q), (int)c);
			memset(q, (int)(j + 1), sizeclasses[c].size);
			p[i * NH + j] = q;
		}
	for (uint32_t i = 0; i < NH * NC * n; i++)
		ck_assert(tcache_free(hs[i % NH], p[i]));
	/* Each cache holds blocks of its own heap, each in its class's bin. */
	for (unsigned j = 0; j < NH; j++) {
		struct tcache *tc = slot_of(hs[j])->tc;
		ck_assert_uint_gt(cached_count(tc), 0);
		for (unsigned c = 0; c < NBINS; c++) {
			struct tcache_bin *b = tcache_bin(tc, c);
			for (uint32_t i = b->lo; i < b->top; i++)
				ck_assert_int_eq(slab_class(hs[j],
				    tcache_block(hs[j], tc->slots[i])), (int)c);
		}
	}
	tcache_flush_thread();
	for (unsigned j = 0; j < NH; j++) {
		struct tslot *t = slot_of(hs[j]);
		slot_names_own_cache(hs[j], t);
		ck_assert_msg(cached_count(t->tc) == 0, "heap %u's cache (slot "
		    "%u) kept %u blocks", j, (unsigned)(t - tthread.slots),
		    cached_count(t->tc));
		ck_assert_uint_eq(unit_live(hs[j]), 0);
		unit_assert_allocated(hs[j], 0);
		unit_validate(hs[j]);
	}
	/* and refill from it again */
	for (unsigned j = 0; j < NH; j++) {
		void *q = tcache_alloc(hs[j], classes[1]);
		ck_assert_int_eq(slab_class(hs[j], q), (int)classes[1]);
		ck_assert(tcache_free(hs[j], q));
		heap_done(hs[j]);
	}
	free(p);
}
END_TEST

START_TEST(blocks_of_two_arenas_freed_through_one_cache_go_home)
{
	enum { K = 150 };
	unsigned c = size2class(96);
	struct heap *a0 = arena_enter(0);
	uint64_t out0 = unit_live(a0), bytes0 = a0->stats.allocated;
	void *p0[K], *p1[K];
	arena_take(a0, c, p0, K);
	struct heap *a1 = arena_enter(1);
	uint64_t out1 = unit_live(a1), bytes1 = a1->stats.allocated;
	arena_take(a1, c, p1, K);
	for (unsigned i = 0; i < K; i++) {
		free_like_free(a0, p0[i], i % 2 == 0);
		free_like_free(a1, p1[i], i % 2 == 1);
	}
	tcache_flush_thread();
	drain(a0);
	drain(a1);
	ck_assert_uint_eq(unit_live(a0), out0);
	unit_assert_allocated(a0, bytes0);
	ck_assert_uint_eq(unit_live(a1), out1);
	unit_assert_allocated(a1, bytes1);
	unit_validate(a0);
	unit_validate(a1);
	/* Back in arena 0, the cache there refills from arena 0. */
	ck_assert_ptr_eq(arena_enter(0), a0);
	void *q = tcache_alloc(a0, c);
	ck_assert_ptr_eq(arena_of(q), a0);
	ck_assert_int_eq(slab_class(a0, q), (int)c);
	ck_assert_ptr_null(slot_of(a1));   /* arena 1's cache went back */
	ck_assert_uint_eq(unit_live(a1), out1);
	free_like_free(a0, q, false);
	unit_validate(a0);
	unit_validate(a1);
}
END_TEST

/* ---- 4. the epoch: a reset wipes the caches --------------------------- */

/* Fills h's cache of class c with n blocks, each written with `fill`. */
static void cache_fill(struct heap *h, unsigned c, void **p, unsigned n,
                       int fill)
{
	for (unsigned i = 0; i < n; i++) {
		ck_assert_ptr_nonnull(p[i] = tcache_alloc(h, c));
		memset(p[i], fill, sizeclasses[c].size);
	}
	for (unsigned i = 0; i < n; i++)
		ck_assert(tcache_free(h, p[i]));
}

static bool block_reads(const void *p, size_t n, int fill)
{
	const unsigned char *b = p;
	for (size_t i = 0; i < n; i++)
		if (b[i] != (unsigned char)fill)
			return false;
	return true;
}

START_TEST(a_reset_drops_the_cache_without_touching_it_or_its_blocks)
{
	enum { N = 16 };
	struct heap *h = heap_new();
	unsigned c = size2class(256);
	size_t size = sizeclasses[c].size;
	void *p[N];
	cache_fill(h, c, p, N, 0xc3);
	struct tslot *t = slot_of(h);
	struct tcache *old = t->tc;
	uint32_t top = tcache_bin(old, c)->top;
	/* A cached block is not written: no link, no free key. */
	for (unsigned i = 0; i < N; i++)
		ck_assert(block_reads(p[i], size, 0xc3));
	heap_reset(h);
	ck_assert_ptr_null(tslot_of(h));   /* the fast paths refuse it */
	/* The next slow path forgets the slot and never flushes it: the
	 * cache and its blocks were wiped with the rest of the heap. */
	tcache_flush_thread();
	ck_assert_ptr_null(slot_of(h));
	ck_assert_uint_eq(h->tcaches, 0);
	ck_assert_uint_eq(old->magic, TCACHE_MAGIC);
	ck_assert_uint_eq(tcache_bin(old, c)->top, top);
	for (unsigned i = 0; i < N; i++)
		ck_assert_msg(block_reads(p[i], size, 0xc3),
		    "block %u of the old cache was written after the reset", i);
	ck_assert_uint_eq(unit_live(h), 0);
	unit_assert_allocated(h, 0);
	unit_validate(h);
	heap_done(h);
}
END_TEST

START_TEST(after_a_reset_the_cache_hands_out_only_blocks_of_new_slabs)
{
	enum { N = 24 };
	struct heap *h = heap_new();
	unsigned c = size2class(32);
	void *p[N];
	cache_fill(h, c, p, N, 0x3c);
	heap_reset(h);
	/* Every block now comes from a slab made after the reset: one the
	 * old cache still named would sit on a free page. */
	for (unsigned i = 0; i < N; i++) {
		ck_assert_ptr_nonnull(p[i] = tcache_alloc(h, c));
		ck_assert_msg(slab_class(h, p[i]) == (int)c,
		    "block %u (%p) is in no slab of class %u", i, p[i], c);
		for (unsigned j = 0; j < i; j++)
			ck_assert_ptr_ne(p[i], p[j]);
	}
	struct tslot *t = slot_of(h);
	slot_names_own_cache(h, t);
	ck_assert_uint_eq(caches_listed(h), 1);
	ck_assert_uint_eq(unit_live(h), N + cached_count(t->tc));
	unit_validate(h);
	for (unsigned i = 0; i < N; i++)
		ck_assert(tcache_free(h, p[i]));
	heap_done(h);
}
END_TEST

/* ---- 5. caches of owners that died ------------------------------------ */

struct child_report {
	uint32_t held;        /* blocks it kept when it died */
	uint32_t cached;      /* blocks in its cache when it died */
	uint64_t held_bytes;
};

static struct child_report *report_new(void)
{
	struct child_report *r = mmap(NULL, PAGE, PROT_READ | PROT_WRITE,
	    MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	ck_assert_ptr_ne(r, MAP_FAILED);
	return r;
}

/* In a child (no ck_assert there): takes blocks of three classes through
 * h's cache, gives back all but `keep` of each, and reports. */
static void child_fill(struct heap *h, struct child_report *r, unsigned keep)
{
	static const unsigned classes[] = { 1, 6, 13 };
	enum { N = 8 };
	for (unsigned k = 0; k < 3; k++) {
		unsigned c = classes[k];
		void *p[N];
		for (unsigned i = 0; i < N; i++) {
			if ((p[i] = tcache_alloc(h, c)) == NULL)
				_exit(10);
			memset(p[i], 0x77, sizeclasses[c].size);
		}
		for (unsigned i = keep; i < N; i++)
			if (!tcache_free(h, p[i]))
				_exit(11);
		r->held += keep;
		r->held_bytes += (uint64_t)keep * sizeclasses[c].size;
	}
	struct tslot *t = slot_of(h);
	if (t == NULL || t->tc->pid != (uint32_t)getpid())
		_exit(12);
	r->cached = cached_count(t->tc);
}

static void wait_exit_zero(pid_t pid)
{
	int st;
	ck_assert_int_eq(waitpid(pid, &st, 0), pid);
	ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0,
	    "child status %#x", st);
}

START_TEST(a_dead_processs_cache_is_reclaimed_and_its_blocks_freed)
{
	struct heap *h = shared_heap_new();
	struct child_report *r = report_new();
	pid_t pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		child_fill(h, r, 3);
		_exit(0);   /* dies with its cache full */
	}
	wait_exit_zero(pid);
	ck_assert_uint_gt(r->cached, 0);
	ck_assert_uint_eq(caches_listed(h), 1);
	ck_assert_uint_eq(unit_live(h), r->held + r->cached);
	heap_lock(h);
	unsigned n = cache_reclaim_locked(h);
	heap_unlock(h);
	ck_assert_uint_eq(n, 1);
	ck_assert_uint_eq(h->tcaches, 0);
	/* What it held dies with it; what it cached is free again. */
	ck_assert_uint_eq(unit_live(h), r->held);
	unit_assert_allocated(h, r->held_bytes);
	unit_validate(h);
	heap_lock(h);
	ck_assert_uint_eq(cache_reclaim_locked(h), 0);
	heap_unlock(h);
	munmap(r, PAGE);
	shared_heap_done(h);
}
END_TEST

START_TEST(a_killed_processs_cache_is_taken_back_by_ph_heap_recover)
{
	struct heap *h = shared_heap_new();
	struct child_report *r = report_new();
	/* Our own cache, made before the fork: the child forgets its copy of
	 * the slot (tcache_fork_child) and makes its own. */
	unsigned c = size2class(16);
	void *mine = tcache_alloc(h, c);
	ck_assert_ptr_nonnull(mine);
	uint32_t ours = cached_count(slot_of(h)->tc);
	pid_t pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		child_fill(h, r, 2);
		kill(getpid(), SIGKILL);
		_exit(1);
	}
	int st;
	ck_assert_int_eq(waitpid(pid, &st, 0), pid);
	ck_assert_msg(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL,
	    "child status %#x", st);
	ck_assert_uint_eq(caches_listed(h), 2);
	ck_assert_int_eq(ph_heap_recover((ph_heap_t *)h), 1);
	ck_assert_uint_eq(caches_listed(h), 1);   /* ours, alive */
	ck_assert_ptr_nonnull(tslot_of(h));
	slot_names_own_cache(h, slot_of(h));
	ck_assert_uint_eq(cached_count(slot_of(h)->tc), ours);
	ck_assert_uint_eq(unit_live(h), 1 + ours + r->held);
	unit_validate(h);
	ck_assert_int_eq(ph_heap_recover((ph_heap_t *)h), 0);
	ck_assert(tcache_free(h, mine));
	munmap(r, PAGE);
	shared_heap_done(h);
}
END_TEST

START_TEST(reclaim_takes_only_the_caches_of_processes_that_died)
{
	struct heap *h = shared_heap_new();
	struct child_report *rl = report_new(), *rd = report_new();
	void *mine = tcache_alloc(h, size2class(80));
	ck_assert_ptr_nonnull(mine);
	uint32_t ours = cached_count(slot_of(h)->tc);
	int go[2], ready[2];
	ck_assert_int_eq(pipe(go), 0);
	ck_assert_int_eq(pipe(ready), 0);
	pid_t live = fork();
	ck_assert_int_ge(live, 0);
	if (live == 0) {
		close(go[1]);
		close(ready[0]);
		child_fill(h, rl, 1);
		char b = 1;
		if (write(ready[1], &b, 1) != 1)
			_exit(20);
		while (read(go[0], &b, 1) > 0)   /* until go is closed */
			;
		tcache_flush_thread();
		_exit(0);
	}
	close(go[0]);
	close(ready[1]);
	char b;
	ck_assert_int_eq(read(ready[0], &b, 1), 1);   /* its cache is full */
	pid_t dead = fork();
	ck_assert_int_ge(dead, 0);
	if (dead == 0) {
		close(go[1]);
		child_fill(h, rd, 2);
		_exit(0);
	}
	wait_exit_zero(dead);
	ck_assert_uint_eq(caches_listed(h), 3);
	/* The live child cannot exit before we close go: no race. */
	ck_assert_int_eq(ph_heap_recover((ph_heap_t *)h), 1);
	ck_assert_uint_eq(caches_listed(h), 2);
	ck_assert_uint_eq(unit_live(h), 1 + ours + rl->held + rl->cached +
	    rd->held);
	close(go[1]);
	wait_exit_zero(live);
	/* It flushed before it went: its empty cache is taken now. */
	ck_assert_uint_eq(unit_live(h), 1 + ours + rl->held + rd->held);
	ck_assert_int_eq(ph_heap_recover((ph_heap_t *)h), 1);
	ck_assert_uint_eq(caches_listed(h), 1);
	slot_names_own_cache(h, slot_of(h));
	unit_validate(h);
	ck_assert(tcache_free(h, mine));
	close(ready[0]);
	munmap(rl, PAGE);
	munmap(rd, PAGE);
	shared_heap_done(h);
}
END_TEST

START_TEST(reclaim_trusts_no_block_of_a_dead_cache)
{
	struct heap *h = shared_heap_new();
	unsigned c = size2class(48);
	pid_t pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		/* A cache that a death between two stores, or stray writes,
		 * left: entries that are no block it may give back. */
		enum { N = 8 };
		void *p[N];
		for (unsigned i = 0; i < N; i++)
			if ((p[i] = tcache_alloc(h, c)) == NULL)
				_exit(10);
		for (unsigned i = 0; i < N; i++)
			if (!tcache_free(h, p[i]))
				_exit(11);
		struct tcache *tc = slot_of(h)->tc;
		struct tcache_bin *b = tcache_bin(tc, c);
		if (b->hi - b->top < 5)
			_exit(12);
		/* a block its slab holds as well: a pop that died before
		 * moving top, the block since freed */
		void *q = heap_malloc(h, 48, false);
		heap_free(h, q);
		tcache_push(tc, b, off_of(h, q));
		tcache_push(tc, b, off_of(h, p[0]));      /* twice */
		tcache_push(tc, b, h->size + 64);          /* past the end */
		tcache_push(tc, b, off_of(h, p[1]) + 16);  /* inside a block */
		tcache_push(tc, b, off_of(h, tc));         /* the cache */
		/* a top far past its bin, in a class it never used */
		struct tcache_bin *b2 = tcache_bin(tc, size2class(1000));
		b2->top = b2->hi + 1000;
		_exit(0);
	}
	wait_exit_zero(pid);
	heap_lock(h);
	ck_assert_uint_eq(cache_reclaim_locked(h), 1);
	heap_unlock(h);
	ck_assert_uint_eq(h->tcaches, 0);
	ck_assert_uint_eq(unit_live(h), 0);
	unit_assert_allocated(h, 0);
	unit_validate(h);
	/* and the heap hands every block out once */
	uint32_t n = sizeclasses[c].nblocks;
	void **p = calloc(n, sizeof(*p));
	for (uint32_t i = 0; i < n; i++) {
		ck_assert_ptr_nonnull(p[i] = heap_malloc(h, 48, false));
		memset(p[i], 0x42, 48);
	}
	unit_validate(h);
	for (uint32_t i = 0; i < n; i++)
		heap_free(h, p[i]);
	free(p);
	shared_heap_done(h);
}
END_TEST

struct worker_arg {
	struct heap *h[2];
	void *kept[2][2];
};

static void *worker(void *arg)
{
	struct worker_arg *w = arg;
	unsigned c = size2class(112);
	for (unsigned j = 0; j < 2; j++) {
		void *p[8];
		for (unsigned i = 0; i < 8; i++)
			if ((p[i] = tcache_alloc(w->h[j], c)) == NULL)
				return "no block";
		for (unsigned i = 2; i < 8; i++)
			if (!tcache_free(w->h[j], p[i]))
				return "not cached";
		w->kept[j][0] = p[0];
		w->kept[j][1] = p[1];
	}
	return NULL;   /* its caches stay full: the exit gives them back */
}

START_TEST(a_thread_that_exits_gives_its_caches_back)
{
	struct worker_arg w = { .h = { heap_new(), heap_new() } };
	pthread_t t;
	ck_assert_int_eq(pthread_create(&t, NULL, worker, &w), 0);
	void *res;
	ck_assert_int_eq(pthread_join(t, &res), 0);
	ck_assert_msg(res == NULL, "worker: %s", (char *)res);
	for (unsigned j = 0; j < 2; j++) {
		ck_assert_uint_eq(caches_listed(w.h[j]), 0);
		ck_assert_uint_eq(unit_live(w.h[j]), 2);
		unit_validate(w.h[j]);
		heap_free(w.h[j], w.kept[j][0]);
		heap_free(w.h[j], w.kept[j][1]);
		ck_assert_uint_eq(unit_live(w.h[j]), 0);
		heap_done(w.h[j]);
	}
}
END_TEST

/* ---- 3. the depot: a process arena's blocks between caches and slabs --- */

static struct depot *depot_at(struct heap *a)
{
	return a->depot ? (struct depot *)((char *)a + a->depot) : NULL;
}

/* Gives this thread's arena cache back: the next one starts with no
 * history, so blocks freed into it overflow without a swing to grow on
 * (the refills that took them out were the old cache's). */
static void arena_cache_renew(void)
{
	tcache_slot_release(&tthread.slots[0]);
}

/* A bin that overflows gives its oldest half to the depot, untouched; the
 * next refill of that class takes them back from it before any slab. */
START_TEST(an_overflow_goes_to_the_depot_and_a_refill_takes_it_back)
{
	unsigned c = size2class(64);
	struct heap *a0 = arena_enter(0);
	heap_purge(a0, true);   /* a depot from earlier tests: emptied */
	uint32_t max = sizeclasses[c].tcache_base;
	uint32_t n = 2 * max;
	void **p = calloc(n, sizeof(*p));
	arena_take(a0, c, p, n);
	arena_cache_renew();
	uint64_t out = unit_class_live(a0, c);
	for (uint32_t i = 0; i < n; i++)
		free_like_free(a0, p[i], false);   /* full bins flush */
	struct depot *d = depot_at(a0);
	ck_assert_ptr_nonnull(d);
	uint32_t held = d->bins[c].n;
	ck_assert_uint_gt(held, 0);
	/* the depot's blocks are free but out of their slabs: counted out,
	 * and as cached */
	ck_assert_uint_eq(unit_class_live(a0, c), out);
	heap_lock(a0);
	ck_assert_uint_eq(depot_bytes(a0), (size_t)held * sizeclasses[c].size);
	heap_unlock(a0);
	unit_validate(a0);
	/* the depot holds the oldest ones freed: the first of p */
	uint64_t first = d->slots[d->bins[c].lo];
	ck_assert_uint_eq(first, (uint64_t)((char *)p[0] - (char *)a0));
	/* Take the whole bin and more: the refill empties the depot first. */
	uint32_t before = held;
	for (uint32_t i = 0; i < n; i++)
		p[i] = tcache_alloc(a0, c);
	ck_assert_uint_lt(d->bins[c].n, before);
	unit_validate(a0);
	for (uint32_t i = 0; i < n; i++)
		free_like_free(a0, p[i], false);
	/* A forced purge and an explicit flush put everything home. */
	tcache_flush_thread();
	ck_assert_uint_eq(d->bins[c].n, 0);
	ck_assert_uint_eq(unit_class_live(a0, c), out - n);
	unit_validate(a0);
	free(p);
}
END_TEST

/* Arena a's depot, holding blocks of class c: a bin's worth taken twice
 * over and given back through the slow path, whose full bins flush. */
static struct depot *depot_filled(struct heap *a, unsigned c)
{
	uint32_t n = 2 * sizeclasses[c].tcache_base;
	void **p = calloc(n, sizeof(*p));
	arena_take(a, c, p, n);
	arena_cache_renew();
	for (uint32_t i = 0; i < n; i++)
		free_like_free(a, p[i], false);
	free(p);
	struct depot *d = depot_at(a);
	ck_assert_ptr_nonnull(d);
	ck_assert_uint_gt(d->bins[c].n, 0);
	return d;
}

START_TEST(validate_catches_a_depot_slot_that_is_no_block)
{
	unsigned c = size2class(64);
	struct heap *a0 = arena_enter(0);
	struct depot *d = depot_filled(a0, c);
	uint64_t *slot = &d->slots[d->bins[c].lo];
	uint64_t keep = *slot;
	char why[256] = "";
	*slot = keep + 8;   /* inside a block */
	ck_assert_int_ne(heap_validate(a0, why, sizeof(why)), 0);
	ck_assert_ptr_nonnull(strstr(why, "depot"));
	*slot = keep;
	d->bins[c].n = d->bins[c].cap + 1;   /* more than it has room for */
	ck_assert_int_ne(heap_validate(a0, why, sizeof(why)), 0);
	d->bins[c].n = 1;
	unit_validate(a0);
	tcache_flush_thread();   /* drains the depot: the one block home */
	ck_assert_uint_eq(d->bins[c].n, 0);
	unit_validate(a0);
}
END_TEST

/* n blocks of class c of arena a straight from its slabs, their offsets
 * put in its depot (which takes them all: asserted). */
static void depot_put_fresh(struct heap *a, unsigned c, uint64_t *off,
                            uint32_t n)
{
	for (uint32_t i = 0; i < n; i++) {
		void *q = heap_malloc(a, sizeclasses[c].size, false);
		ck_assert_ptr_nonnull(q);
		off[i] = off_of(a, q);
	}
	heap_lock(a);
	ck_assert_uint_eq(depot_put(a, c, off, n), n);
	heap_unlock(a);
}

/* A depot's class starts in its base room; a put that would overflow it
 * moves it, its offsets in order, to its wide room; a take that leaves it
 * half its base room or less brings it back. */
START_TEST(a_depot_class_moves_to_its_wide_room_and_back)
{
	unsigned c = size2class(64);
	uint32_t base = sizeclasses[c].tcache_base;
	struct heap *a0 = arena_enter(0);
	heap_purge(a0, true);   /* a depot from earlier tests: emptied */
	uint64_t *off = calloc(2 * base, sizeof(*off));
	uint64_t *got = calloc(2 * base, sizeof(*got));
	depot_put_fresh(a0, c, off, base - 10);
	struct depot *d = depot_at(a0);
	ck_assert_ptr_nonnull(d);
	uint32_t base_lo = d->bins[c].lo;
	ck_assert_uint_eq(d->bins[c].n, base - 10);
	ck_assert_uint_lt(base_lo, d->bins[c + 1].lo);   /* packed, in order */
	unit_validate(a0);
	depot_put_fresh(a0, c, off + base - 10, base + 10);
	uint32_t wide_lo = d->bins[c].lo;
	ck_assert_uint_ne(wide_lo, base_lo);
	ck_assert_uint_gt(wide_lo, d->bins[NBINS - 1].lo);   /* after them */
	ck_assert_uint_eq(d->bins[c].n, 2 * base);
	for (uint32_t i = 0; i < 2 * base; i++)
		ck_assert_uint_eq(d->slots[wide_lo + i], off[i]);
	unit_validate(a0);
	/* Takes from the top: down to half its base room, then home. */
	heap_lock(a0);
	ck_assert_uint_eq(depot_take(a0, c, got, base), base);
	ck_assert_uint_eq(d->bins[c].lo, wide_lo);
	ck_assert_uint_eq(depot_take(a0, c, got + base, base / 2),
	    base / 2);
	heap_unlock(a0);
	ck_assert_uint_eq(d->bins[c].lo, base_lo);
	ck_assert_uint_eq(d->bins[c].n, base / 2);
	for (uint32_t i = 0; i < base / 2; i++)
		ck_assert_uint_eq(d->slots[base_lo + i], off[i]);
	for (uint32_t i = 0; i < base; i++)   /* the newest, in order */
		ck_assert_uint_eq(got[i], off[base + i]);
	for (uint32_t i = 0; i < base / 2; i++)
		ck_assert_uint_eq(got[base + i], off[base / 2 + i]);
	unit_validate(a0);
	/* The validator takes either room and nothing else. */
	struct depot_bin keep = d->bins[c];
	const uint32_t bad_lo[] = { base_lo + 1, base_lo - 1, wide_lo + 1,
	    d->bins[c + 1].lo };
	char why[256];
	for (unsigned i = 0; i < sizeof(bad_lo) / sizeof(bad_lo[0]); i++) {
		d->bins[c].lo = bad_lo[i];
		ck_assert_int_ne(heap_validate(a0, why, sizeof(why)), 0);
		ck_assert_msg(strstr(why, "depot") != NULL, "%s", why);
		d->bins[c] = keep;
	}
	memcpy(&d->slots[wide_lo], &d->slots[base_lo],
	    keep.n * sizeof(uint64_t));
	d->bins[c].lo = wide_lo;   /* its wide room, holding the same */
	unit_validate(a0);
	d->bins[c] = keep;
	unit_validate(a0);
	for (uint32_t i = 0; i < base + base / 2; i++)
		heap_free(a0, tcache_block(a0, got[i]));
	heap_purge(a0, true);   /* drains it: each class back in its base */
	ck_assert_uint_eq(d->bins[c].lo, base_lo);
	ck_assert_uint_eq(d->bins[c].n, 0);
	unit_validate(a0);
	free(off);
	free(got);
}
END_TEST

/* A depot that holds a few blocks of every class spans a few pages: the
 * base rooms are packed (its wide rooms are up to 6 KiB each). */
START_TEST(a_depot_with_a_few_blocks_of_each_class_spans_few_pages)
{
	enum { MOST_PAGES = 7, N = 4 };
	struct heap *a0 = arena_enter(0);
	heap_purge(a0, true);
	uint64_t off[N];
	for (unsigned c = 0; c < NBINS; c++)
		depot_put_fresh(a0, c, off, N);
	struct depot *d = depot_at(a0);
	size_t pages = depot_run_bytes(a0) >> LG_PAGE;
	ck_assert_uint_gt(pages, 16);
	bool *spanned = calloc(pages, sizeof(*spanned));
	spanned[0] = true;   /* the header */
	for (unsigned c = 0; c < NBINS; c++) {
		struct depot_bin *b = &d->bins[c];
		ck_assert_uint_eq(b->n, N);
		uintptr_t first = (uintptr_t)&d->slots[b->lo] - (uintptr_t)d;
		uintptr_t end = (uintptr_t)&d->slots[b->lo + b->n] -
		    (uintptr_t)d;
		for (uintptr_t a = first; a < end; a = (a | PAGE_MASK) + 1)
			spanned[a >> LG_PAGE] = true;
	}
	size_t n = 0;
	for (size_t i = 0; i < pages; i++)
		n += spanned[i];
	ck_assert_msg(n <= MOST_PAGES, "%u classes of %u blocks span %zu of "
	    "the depot's %zu pages", NBINS, N, n, pages);
	free(spanned);
	unit_validate(a0);
	heap_purge(a0, true);
	unit_validate(a0);
}
END_TEST

/* A repair (a fork's child found the lock held) drains the depot before
 * it reclaims dead caches. */
START_TEST(repair_drains_the_depot)
{
	unsigned c = size2class(128);
	struct heap *a0 = arena_enter(0);
	depot_filled(a0, c);
	heap_lock(a0);
	heap_repair(a0);
	ck_assert_uint_eq(depot_bytes(a0), 0);
	heap_unlock(a0);
	unit_validate(a0);
}
END_TEST

/* ---- 5. bins that grow with the program and shrink when calm ----------- */

#define BIG_HEAP ((size_t)1 << 30)   /* scale TCACHE_SCALES - 1: bins grow */

/* A private heap big enough that its caches' bins may grow to their
 * largest (sizeclass.c: tcache_scale_for); untouched pages cost nothing. */
static struct heap *big_heap_new(void)
{
	struct heap *h = unit_heap(BIG_HEAP, 0);
	ck_assert_int_eq(registry_add(h), 0);
	ck_assert_uint_eq(h->tcache_scale, TCACHE_SCALES - 1);
	return h;
}

static uint32_t bin_limit(struct tcache *tc, unsigned c)
{
	struct tcache_bin *b = tcache_bin(tc, c);
	return b->hi - b->lo;
}

static uint32_t bin_cap(struct heap *h, unsigned c)
{
	return cache_layout(h)->cap[c];
}

/* n blocks of class c of h through this thread's cache, written. */
static void take(struct heap *h, unsigned c, void **p, uint32_t n)
{
	for (uint32_t i = 0; i < n; i++) {
		p[i] = tcache_alloc(h, c);
		ck_assert_ptr_nonnull(p[i]);
		memset(p[i], 0x3c, sizeclasses[c].size);
	}
}

static void give(struct heap *h, void **p, uint32_t n)
{
	for (uint32_t i = 0; i < n; i++)
		ck_assert(tcache_free(h, p[i]));
}

/* The working set of class c rises by n blocks and falls again. */
static void swing(struct heap *h, unsigned c, uint32_t n)
{
	void **p = calloc(n, sizeof(*p));
	take(h, c, p, n);
	give(h, p, n);
	free(p);
}

static void gc_pass(struct heap *h, struct tcache *tc)
{
	heap_lock(h);
	cache_gc_locked(h, tc);
	heap_unlock(h);
}

/* Blocks of class c sitting in the caches of h, by the slabs' count: what
 * the slabs gave out less what the program holds. */
static size_t cached_bytes(struct heap *h)
{
	heap_lock(h);
	size_t n = cache_cached_bytes(h, NULL);
	heap_unlock(h);
	return n;
}

/* A working set that rises and falls by n blocks of a class grows its bin
 * by the swing: after one swing the next ones take no lock, no slab. */
START_TEST(a_bin_that_swings_grows_until_the_swing_fits)
{
	struct heap *h = big_heap_new();
	unsigned c = size2class(64);
	uint32_t base = sizeclasses[c].tcache_base, n = 1500;
	ck_assert_uint_lt(base, n);
	ck_assert_uint_gt(bin_cap(h, c), n);
	swing(h, c, n);
	struct tcache *tc = slot_of(h)->tc;
	ck_assert_uint_ge(bin_limit(tc, c), n);
	unit_validate(h);
	/* The next swings: no slow-path event, no block from a slab. */
	uint32_t left = tc->gc_left, limit = bin_limit(tc, c);
	uint64_t nmalloc = h->bins[c].nmalloc, ndalloc = h->bins[c].ndalloc;
	for (int k = 0; k < 3; k++)
		swing(h, c, n);
	ck_assert_uint_eq(tc->gc_left, left);
	ck_assert_uint_eq(bin_limit(tc, c), limit);
	ck_assert_uint_eq(h->bins[c].nmalloc, nmalloc);
	ck_assert_uint_eq(h->bins[c].ndalloc, ndalloc);
	unit_validate(h);
	heap_done(h);
}
END_TEST

/* A producer's bin only ever runs empty, a consumer's only overflows: room
 * would not spare either a trip to the slabs, and neither grows. */
START_TEST(a_bin_used_one_way_keeps_its_base_limit)
{
	struct heap *h = big_heap_new();
	unsigned c = size2class(256);
	uint32_t base = sizeclasses[c].tcache_base, n = 10 * base;
	void **p = calloc(n, sizeof(*p));
	take(h, c, p, n);
	struct tslot *t = slot_of(h);
	ck_assert_uint_eq(bin_limit(t->tc, c), base);
	/* The blocks go to another cache, which sees only their frees. */
	tcache_slot_release(t);
	give(h, p, n);
	t = slot_of(h);
	ck_assert_uint_eq(bin_limit(t->tc, c), base);
	ck_assert_uint_le(tcache_count(tcache_bin(t->tc, c)), base);
	unit_validate(h);
	free(p);
	heap_done(h);
}
END_TEST

/* A swing wider than a bin's cap grows it to the cap; swings in many big
 * classes stop at the cache's budget, and what they hold stays within it. */
START_TEST(growth_stops_at_the_bins_cap_and_the_caches_budget)
{
	struct heap *h = big_heap_new();
	unsigned c = size2class(16);
	swing(h, c, bin_cap(h, c) + 1000);
	struct tcache *tc = slot_of(h)->tc;
	ck_assert_uint_eq(bin_limit(tc, c), bin_cap(h, c));
	unit_validate(h);
	/* Each of these may grow to 2 MiB of blocks: four of them fill the
	 * budget, and the rest stay at their bases or near them. */
	static const size_t sizes[] = { 4096, 5120, 6144, 7168, 8192, 10240,
	    12288, 14336 };
	bool short_of_cap = false;
	for (unsigned i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		unsigned k = size2class(sizes[i]);
		swing(h, k, bin_cap(h, k));
		ck_assert_uint_le(cache_extra_bytes(tc), TCACHE_BUDGET);
		short_of_cap |= bin_limit(tc, k) < bin_cap(h, k);
	}
	ck_assert(short_of_cap);
	ck_assert_uint_gt(cache_extra_bytes(tc), TCACHE_BUDGET / 2);
	unit_validate(h);
	heap_done(h);
}
END_TEST

/* The slow paths run a GC pass every TCACHE_GC_EVENTS events: a bin that
 * nobody used counts one calm pass for each. */
START_TEST(a_gc_pass_comes_every_so_many_slow_path_events)
{
	struct heap *h = big_heap_new();
	unsigned c = size2class(16), idle = size2class(512);
	uint32_t batch = sizeclasses[c].tcache_base / 2;
	/* Each refill of a producer's bin is one event. */
	uint32_t n = 2 * TCACHE_GC_EVENTS * batch;
	void **p = calloc(n, sizeof(*p));
	take(h, c, p, n);
	struct tcache *tc = slot_of(h)->tc;
	ck_assert_uint_eq(tc->gc[idle].calm, 2);
	ck_assert_uint_eq(tc->gc_left, TCACHE_GC_EVENTS);
	take(h, c, p, batch);   /* one more refill: one event */
	ck_assert_uint_eq(tc->gc_left, TCACHE_GC_EVENTS - 1);
	ck_assert_uint_eq(tc->gc[idle].calm, 2);
	give(h, p, n);
	unit_validate(h);
	free(p);
	heap_done(h);
}
END_TEST

/* A grown bin that stops growing keeps its room for TCACHE_GC_CALM
 * passes, then loses half of it at each pass, down to its base, giving
 * back what no longer fits. */
START_TEST(gc_lowers_a_calm_bins_limit_to_its_base)
{
	struct heap *h = big_heap_new();
	unsigned c = size2class(64);
	uint32_t base = sizeclasses[c].tcache_base, n = 1500;
	void **p = calloc(n, sizeof(*p));
	take(h, c, p, n);
	give(h, p, n);
	struct tcache *tc = slot_of(h)->tc;
	uint32_t limit = bin_limit(tc, c);
	ck_assert_uint_ge(limit, n);
	for (unsigned i = 0; i < TCACHE_GC_CALM; i++)
		gc_pass(h, tc);
	ck_assert_uint_eq(bin_limit(tc, c), limit);
	for (int pass = 0; bin_limit(tc, c) > base; pass++) {
		ck_assert_int_lt(pass, 32);
		uint32_t was = bin_limit(tc, c);
		gc_pass(h, tc);
		uint32_t now = bin_limit(tc, c);
		ck_assert_uint_eq(now, was / 2 > base ? was / 2 : base);
		ck_assert_uint_le(tcache_count(tcache_bin(tc, c)), now);
		unit_validate(h);
	}
	gc_pass(h, tc);
	ck_assert_uint_eq(bin_limit(tc, c), base);
	/* and it grows again when it swings again */
	take(h, c, p, n);
	give(h, p, n);
	ck_assert_uint_ge(bin_limit(tc, c), n);
	unit_validate(h);
	free(p);
	heap_done(h);
}
END_TEST

/* What the bins of classes a thread stopped using hold goes down, pass by
 * pass, back to their slabs, while the thread works in another class; the
 * slabs that empty give their pages back. */
START_TEST(gc_gives_back_what_idle_bins_hold)
{
	struct heap *h = big_heap_new();
	static const size_t sizes[] = { 48, 320, 1024, 3072 };
	enum { NS = sizeof(sizes) / sizeof(sizes[0]), N = 600, PASSES = 16 };
	for (unsigned i = 0; i < NS; i++)
		swing(h, size2class(sizes[i]), N);
	struct tcache *tc = slot_of(h)->tc;
	for (unsigned i = 0; i < NS; i++) {
		unsigned c = size2class(sizes[i]);
		ck_assert_uint_gt(tcache_count(tcache_bin(tc, c)), 0);
		ck_assert_uint_gt(h->bins[c].nslabs, 1);
	}
	/* A producer's work in class 16, one event per refill: a GC pass
	 * every TCACHE_GC_EVENTS refills. */
	unsigned busy = size2class(16);
	uint32_t n = TCACHE_GC_EVENTS * (sizeclasses[busy].tcache_base / 2);
	void **p = calloc((size_t)PASSES * n, sizeof(*p));
	size_t last = cached_bytes(h);
	for (unsigned pass = 0; pass < PASSES; pass++) {
		take(h, busy, p + (size_t)pass * n, n);   /* one pass */
		size_t now = cached_bytes(h) - tcache_count(tcache_bin(tc,
		    busy)) * sizeclasses[busy].size;
		ck_assert_uint_le(now, last);
		/* the first may find some of them used since the last */
		if (pass >= 1)
			ck_assert_uint_le(now, last / 2);
		last = now;
	}
	ck_assert_uint_eq(last, 0);
	for (unsigned i = 0; i < NS; i++) {
		unsigned c = size2class(sizes[i]);
		ck_assert_uint_eq(tcache_count(tcache_bin(tc, c)), 0);
		if (config_stats)
			ck_assert_uint_eq(unit_class_live(h, c), 0);
		ck_assert_uint_le(h->bins[c].nslabs, 1);   /* it keeps one */
	}
	unit_validate(h);
	give(h, p, PASSES * n);
	free(p);
	heap_done(h);
}
END_TEST

/* The validators take a bin's limit anywhere from its base to its cap in
 * the heap's layout, and nothing else: no limit outside that room, no bin
 * moved, no guard overwritten, no top above the limit, no GC state that
 * the slow paths never write, no limits past the budget. */
START_TEST(validators_take_grown_bins_and_refuse_bad_limits)
{
	struct heap *h = big_heap_new();
	unsigned c = size2class(128);
	swing(h, c, 1200);
	struct tcache *tc = slot_of(h)->tc;
	struct tcache_bin *b = tcache_bin(tc, c);
	ck_assert_uint_gt(bin_limit(tc, c), sizeclasses[c].tcache_base);
	unit_validate(h);
	char why[256];
	struct tcache_bin keep = *b;
	struct tcache_gc gkeep = tc->gc[c];
	uint32_t cap = bin_cap(h, c), base = sizeclasses[c].tcache_base;
	const uint32_t bad_hi[] = { b->lo + cap + 1, b->lo + base - 1,
	    b->lo - 1 };
	for (unsigned i = 0; i < 3; i++) {
		b->hi = bad_hi[i];
		if (b->top > b->hi)
			b->top = b->hi;
		ck_assert_int_ne(heap_validate(h, why, sizeof(why)), 0);
		ck_assert_msg(strstr(why, "class") != NULL, "%s", why);
		*b = keep;
	}
	b->hi = b->lo + cap;   /* the whole room: good */
	unit_validate(h);
	*b = keep;
	b->lo++;
	ck_assert_int_ne(heap_validate(h, why, sizeof(why)), 0);
	*b = keep;
	b->top = b->hi + 1;
	ck_assert_int_ne(heap_validate(h, why, sizeof(why)), 0);
	*b = keep;
	tc->slots[b->lo - 1] = 16;   /* the guard */
	ck_assert_int_ne(heap_validate(h, why, sizeof(why)), 0);
	tc->slots[b->lo - 1] = TCACHE_GUARD;
	tc->gc[c].last = 3;
	ck_assert_int_ne(heap_validate(h, why, sizeof(why)), 0);
	ck_assert_msg(strstr(why, "GC") != NULL, "%s", why);
	tc->gc[c] = gkeep;
	unit_validate(h);
	/* Every bin at its cap, in its wide room (the others are empty), is
	 * more than the budget allows. */
	struct tcache_bin all[NBINS];
	for (unsigned k = 0; k < NBINS; k++) {
		struct tcache_bin *bk = tcache_bin(tc, k);
		all[k] = *bk;
		if (k != c) {
			ck_assert_uint_eq(tcache_count(bk), 0);
			bk->lo = bk->top = cache_layout(h)->wide_lo[k];
		}
		bk->hi = bk->lo + bin_cap(h, k);
	}
	ck_assert_uint_gt(cache_extra_bytes(tc), TCACHE_BUDGET);
	ck_assert_int_ne(heap_validate(h, why, sizeof(why)), 0);
	ck_assert_msg(strstr(why, "past their bases") != NULL, "%s", why);
	for (unsigned k = 0; k < NBINS; k++)
		*tcache_bin(tc, k) = all[k];
	unit_validate(h);
	heap_done(h);
}
END_TEST

/* A cache made on a zeroed run writes no guard: it touches its header's
 * page and the slots it uses, not a page per bin (arenas' caches span
 * 175 pages of address space). */
START_TEST(a_new_cache_touches_only_the_pages_it_uses)
{
	struct heap *h = big_heap_new();
	unsigned c = size2class(32);
	void *p = tcache_alloc(h, c);
	ck_assert_ptr_nonnull(p);
	struct tcache *tc = slot_of(h)->tc;
	size_t pages = cache_run_bytes(h) >> LG_PAGE;
	ck_assert_uint_gt(pages, 100);
	size_t resident = unit_resident_pages(tc, pages << LG_PAGE);
	ck_assert_msg(resident <= 3, "%zu of the cache's %zu pages are "
	    "resident", resident, pages);
	ck_assert(tcache_free(h, p));
	unit_validate(h);
	heap_done(h);
}
END_TEST

/* ---- 6. two rooms: bins start packed, move out to grow ------------------ */

/* Is bin c of tc in its base room (true) or its wide room (false)? */
static bool in_base_room(struct heap *h, struct tcache *tc, unsigned c)
{
	const struct tcache_layout *l = cache_layout(h);
	uint32_t lo = tcache_bin(tc, c)->lo;
	ck_assert_msg(lo == l->lo[c] || lo == l->wide_lo[c],
	    "class %u at slot %u, in neither room", c, lo);
	return lo == l->lo[c];
}

/* The offsets bin c holds, oldest first, into out (room for its limit). */
static uint32_t bin_blocks(struct tcache *tc, unsigned c, uint64_t *out)
{
	struct tcache_bin *b = tcache_bin(tc, c);
	for (uint32_t i = b->lo; i < b->top; i++)
		out[i - b->lo] = tc->slots[i];
	return tcache_count(b);
}

/* A bin keeps its base room until it grows; then it holds its blocks in
 * its wide room, the same blocks in the same order, a guard below; a GC
 * pass that lowers it to its base brings it and its blocks back. */
START_TEST(a_bin_moves_to_its_wide_room_to_grow_and_back_at_its_base)
{
	struct heap *h = big_heap_new();
	const struct tcache_layout *l = cache_layout(h);
	unsigned c = size2class(64);
	uint32_t base = sizeclasses[c].tcache_base, n = 1500;
	ck_assert_uint_ne(l->lo[c], l->wide_lo[c]);
	void **p = calloc(n, sizeof(*p));
	uint64_t *was = calloc(bin_cap(h, c), sizeof(*was));
	uint64_t *now = calloc(bin_cap(h, c), sizeof(*now));
	take(h, c, p, base);
	struct tcache *tc = slot_of(h)->tc;
	ck_assert(in_base_room(h, tc, c));
	ck_assert_uint_eq(bin_limit(tc, c), base);
	give(h, p, base);   /* full now: the next free overflows */
	uint32_t k = bin_blocks(tc, c, was);
	ck_assert_uint_eq(k, base);
	/* A swing grows it: the overflow that turns the refills' run moves
	 * it first, with what it held. */
	take(h, c, p, n);
	give(h, p, n);
	ck_assert(!in_base_room(h, tc, c));
	ck_assert_uint_ge(bin_limit(tc, c), n);
	ck_assert_uint_eq(tc->slots[tcache_bin(tc, c)->lo - 1], TCACHE_GUARD);
	unit_validate(h);
	/* The move itself, caught with what the bin holds before it: the
	 * blocks go along unchanged (bin_move through bin_grow). */
	for (int pass = 0; bin_limit(tc, c) > base; pass++) {
		ck_assert_int_lt(pass, 40);
		ck_assert(!in_base_room(h, tc, c));
		k = bin_blocks(tc, c, was);
		gc_pass(h, tc);
		unit_validate(h);
	}
	ck_assert(in_base_room(h, tc, c));
	ck_assert_uint_eq(bin_limit(tc, c), base);
	ck_assert_uint_eq(tc->slots[tcache_bin(tc, c)->lo - 1], TCACHE_GUARD);
	/* what the last pass left it (at most base / 2) moved unchanged */
	uint32_t m = bin_blocks(tc, c, now);
	ck_assert_uint_le(m, base / 2);
	ck_assert_uint_le(m, k);
	for (uint32_t i = 0; i < m; i++)
		ck_assert_uint_eq(now[i], was[k - m + i]);
	/* and out again when it swings again */
	take(h, c, p, n);
	give(h, p, n);
	ck_assert(!in_base_room(h, tc, c));
	unit_validate(h);
	free(was);
	free(now);
	free(p);
	heap_done(h);
}
END_TEST

/* The pages of slots in [lo, lo + n) of tc that the kernel holds. */
static size_t slots_resident(struct tcache *tc, uint32_t lo, uint32_t n)
{
	uintptr_t first = (uintptr_t)&tc->slots[lo] & ~(uintptr_t)PAGE_MASK;
	uintptr_t end = ALIGN_UP((uintptr_t)&tc->slots[lo + n], PAGE);
	return unit_resident_pages((void *)first, end - first);
}

/* In a heap of the OS's pages (an arena's), a bin that comes back to its
 * base room gives back the pages of its wide room that no neighbour
 * shares; in any other heap they stay. */
START_TEST(a_bin_back_in_its_base_room_gives_its_wide_pages_back)
{
	for (int osmem = 1; osmem >= 0; osmem--) {
		struct heap *h = unit_heap(BIG_HEAP, osmem ? HEAP_F_OSMEM : 0);
		ck_assert_int_eq(registry_add(h), 0);
		const struct tcache_layout *l = cache_layout(h);
		unsigned c = size2class(32);
		uint32_t n = 3000, base = sizeclasses[c].tcache_base;
		uint32_t wide = l->wide_lo[c], cap = l->cap[c];
		ck_assert_uint_ge(cap, n);
		void **p = calloc(n, sizeof(*p));
		take(h, c, p, n);
		give(h, p, n);
		struct tcache *tc = slot_of(h)->tc;
		ck_assert(!in_base_room(h, tc, c));
		size_t was = slots_resident(tc, wide, cap);
		ck_assert_uint_ge(was, 5);   /* 3000 of 4096 slots: 32 KiB */
		for (int pass = 0; bin_limit(tc, c) > base; pass++) {
			ck_assert_int_lt(pass, 40);
			gc_pass(h, tc);
		}
		ck_assert(in_base_room(h, tc, c));
		/* at most the two end pages, shared with its neighbours */
		size_t now = slots_resident(tc, wide, cap);
		if (osmem)
			ck_assert_msg(now <= 2, "%zu of its wide room's pages "
			    "resident", now);
		else
			ck_assert_uint_eq(now, was);
		unit_validate(h);
		/* and it moves out again as it grew before */
		take(h, c, p, n);
		give(h, p, n);
		ck_assert(!in_base_room(h, tc, c));
		unit_validate(h);
		free(p);
		heap_done(h);
	}
}
END_TEST

/* A pid that names no live process: a child that has exited. */
static uint32_t dead_pid(void)
{
	pid_t pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0)
		_exit(0);
	wait_exit_zero(pid);
	return (uint32_t)pid;
}

/* Bin c as a move cut by a kill between its two stores leaves it: lo and
 * top in the room at `to` with its blocks, hi the other room's base end
 * (cache.c, "two rooms"). */
static void cut_move(struct heap *h, struct tcache *tc, unsigned c,
                     uint32_t to)
{
	struct tcache_bin *b = tcache_bin(tc, c);
	uint32_t base = sizeclasses[c].tcache_base, n = tcache_count(b);
	ck_assert_uint_le(n, base);
	b->hi = b->lo + base;
	tc->slots[to - 1] = TCACHE_GUARD;
	memmove(&tc->slots[to], &tc->slots[b->lo], n * sizeof(uint64_t));
	b->lo = to;
	b->top = to + n;
	ck_assert(cache_bin_cut(h, tc, c));
	ck_assert(!cache_bin_laid_out(h, tc, c));
}

/* The validators and reclaim take a bin in either of its rooms, and a move
 * a kill cut, in a cache whose owner died; reclaim gives back the blocks
 * of each.  A bin anywhere else is reported, and reclaim gives back none
 * of its blocks. */
START_TEST(reclaim_takes_a_bin_in_either_room_and_nothing_else)
{
	struct heap *h = big_heap_new();
	const struct tcache_layout *l = cache_layout(h);
	unsigned at_base = size2class(16), wide = size2class(64);
	unsigned cut_up = size2class(128), cut_down = size2class(256);
	unsigned stray = size2class(512);
	const unsigned cls[] = { at_base, wide, cut_up, cut_down, stray };
	enum { NC = sizeof(cls) / sizeof(cls[0]), N = 1500 };
	void **p = calloc(N, sizeof(*p));
	uint64_t held = unit_live(h);
	/* something cached in each bin, wide and cut_down grown */
	for (unsigned i = 0; i < NC; i++) {
		unsigned c = cls[i];
		uint32_t n = c == wide || c == cut_down ? N :
		    sizeclasses[c].tcache_base;
		take(h, c, p, n);
		give(h, p, n);
	}
	struct tcache *tc = slot_of(h)->tc;
	ck_assert(in_base_room(h, tc, at_base));
	ck_assert(!in_base_room(h, tc, wide));
	ck_assert(in_base_room(h, tc, cut_up));
	ck_assert(!in_base_room(h, tc, cut_down));
	/* cut_down, lowered to its base as a GC pass does, then cut */
	heap_lock(h);
	cache_bin_flush_locked(h, tc, cut_down, 7, FLUSH_HOME);
	heap_unlock(h);
	tcache_bin(tc, cut_down)->hi = tcache_bin(tc, cut_down)->lo +
	    sizeclasses[cut_down].tcache_base;
	unit_validate(h);
	cut_move(h, tc, cut_up, l->wide_lo[cut_up]);
	cut_move(h, tc, cut_down, l->lo[cut_down]);
	uint64_t cached = 0;
	for (unsigned i = 0; i < NC; i++) {
		ck_assert_uint_gt(tcache_count(tcache_bin(tc, cls[i])), 0);
		cached += tcache_count(tcache_bin(tc, cls[i]));
	}
	ck_assert_uint_eq(unit_live(h), held + cached);
	char why[256];
	/* Ours: no move of ours is left cut. */
	ck_assert_int_ne(heap_validate(h, why, sizeof(why)), 0);
	ck_assert_msg(strstr(why, "class") != NULL, "%s", why);
	/* Its owner dead: cut moves are what a kill leaves, and fine. */
	tc->pid = dead_pid();
	tc->start = 0;
	unit_validate(h);
	/* A bin in neither room: one slot up from either, or at the other
	 * class's room, is reported by both checks. */
	struct tcache_bin *b = tcache_bin(tc, stray), keep = *b;
	const uint32_t bad_lo[] = { l->lo[stray] + 1, l->wide_lo[stray] + 1,
	    l->wide_lo[stray] - 1, l->lo[stray + 1], l->wide_lo[stray + 1] };
	for (unsigned i = 0; i < sizeof(bad_lo) / sizeof(bad_lo[0]); i++) {
		uint32_t n = tcache_count(b);
		b->lo = bad_lo[i];
		b->top = b->lo + n;
		b->hi = b->lo + sizeclasses[stray].tcache_base;
		ck_assert_int_ne(heap_validate(h, why, sizeof(why)), 0);
		ck_assert_msg(strstr(why, "class") != NULL, "%s", why);
		heap_lock(h);
		ck_assert_int_ne(cache_validate(h, why, sizeof(why)), 0);
		heap_unlock(h);
		ck_assert_uint_eq(cache_bin_room(h, tc, stray), 0);
		ck_assert(!cache_bin_cut(h, tc, stray));
		*b = keep;
	}
	unit_validate(h);
	/* A bin whose size is not its class's (what a pop or push adds to
	 * the thread's counts), or a bin 0 that would count: reported. */
	b->size += QUANTUM;
	ck_assert_int_ne(heap_validate(h, why, sizeof(why)), 0);
	ck_assert_msg(strstr(why, "class") != NULL, "%s", why);
	*b = keep;
	tc->bins[0].size = 16;
	ck_assert_int_ne(heap_validate(h, why, sizeof(why)), 0);
	ck_assert_msg(strstr(why, "no class") != NULL, "%s", why);
	heap_lock(h);
	ck_assert_int_ne(cache_validate(h, why, sizeof(why)), 0);
	heap_unlock(h);
	tc->bins[0].size = 0;
	unit_validate(h);
	/* Misplaced for good: reclaim gives back every block but its. */
	uint32_t lost = tcache_count(b);
	b->lo = l->lo[stray] + 1;
	b->top = b->lo + lost;
	heap_lock(h);
	ck_assert_uint_eq(cache_reclaim_locked(h), 1);
	heap_unlock(h);
	atomic_fetch_add(&h->epoch, 1);   /* our slot named it: forget */
	ck_assert_uint_eq(h->tcaches, 0);
	ck_assert_uint_eq(unit_live(h), held + lost);
	free(p);
	heap_done(h);
}
END_TEST

/* A cache whose bins all keep their base limits touches a few pages of
 * slots, whatever classes it uses: the base rooms are packed (an arena's
 * wide rooms alone span some 170 pages, a page or more a class). */
START_TEST(a_cache_at_its_bases_touches_few_pages)
{
	enum { MOST_PAGES = 8 };
	struct heap *h = big_heap_new();
	void *p[NBINS];
	for (unsigned c = 0; c < NBINS; c++)
		ck_assert_ptr_nonnull(p[c] = tcache_alloc(h, c));
	struct tcache *tc = slot_of(h)->tc;
	/* the pages its bins span, guards and the header's included */
	size_t pages = cache_run_bytes(h) >> LG_PAGE;
	bool *spanned = calloc(pages, sizeof(*spanned));
	spanned[0] = true;
	for (unsigned c = 0; c < NBINS; c++) {
		struct tcache_bin *b = tcache_bin(tc, c);
		ck_assert(in_base_room(h, tc, c));
		ck_assert_uint_gt(tcache_count(b), 0);
		uintptr_t first = (uintptr_t)&tc->slots[b->lo - 1] -
		    (uintptr_t)tc, end = (uintptr_t)&tc->slots[b->hi] -
		    (uintptr_t)tc;
		for (uintptr_t a = first; a < end; a = (a | PAGE_MASK) + 1)
			spanned[a >> LG_PAGE] = true;
	}
	size_t nspanned = 0;
	for (size_t i = 0; i < pages; i++)
		nspanned += spanned[i];
	ck_assert_msg(nspanned <= MOST_PAGES, "its %u bins span %zu pages",
	    NBINS, nspanned);
	/* and what the kernel holds of the run is no more */
	size_t resident = unit_resident_pages(tc, pages << LG_PAGE);
	ck_assert_msg(resident <= MOST_PAGES, "%zu of the cache's %zu pages "
	    "are resident", resident, pages);
	free(spanned);
	for (unsigned c = 0; c < NBINS; c++)
		ck_assert(tcache_free(h, p[c]));
	unit_validate(h);
	heap_done(h);
}
END_TEST

int main(void)
{
	conf_init();
	/* The outbox needs a second arena; PHMALLOC_CONF may ask for one. */
	if (opts.narenas == 1)
		opts.narenas = 2;
	Suite *s = suite_create("tcache");
	TCase *tc = tcase_create("tcache");
	tcase_add_checked_fixture(tc, setup, NULL);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, caches_serve_a_heap_exactly_when_enabled);
	/* Under memcheck, and when built or configured without caches,
	 * there is nothing more to test. */
	if (caches_expected()) {
		tcase_add_test(tc, a_slot_names_a_listed_cache_of_this_thread);
		tcase_add_test(tc,
		    a_free_makes_a_cache_only_after_the_cacheless_frees);
		tcase_add_test(tc,
		    the_malloc_heaps_cache_moves_to_slot_0_never_left_null);
		tcase_add_test(tc,
		    a_heap_past_the_last_slot_evicts_one_whose_cache_goes_back);
		tcase_add_test(tc,
		    a_retired_malloc_slot_is_given_back_at_the_next_slow_path);
#if defined(__x86_64__) && defined(__linux__)
		tcase_add_test(tc,
		    no_instruction_sees_a_slot_pass_with_another_heaps_cache);
#endif
		tcase_add_test(tc,
		    other_arenas_blocks_go_to_the_outbox_never_to_malloc);
		tcase_add_test(tc, a_flush_sends_the_outbox_home);
		tcase_add_test(tc,
		    a_full_outbox_goes_home_before_it_takes_another_block);
		tcase_add_test(tc,
		    flushes_send_each_block_back_to_the_heap_it_came_from);
		tcase_add_test(tc,
		    blocks_of_two_arenas_freed_through_one_cache_go_home);
		tcase_add_test(tc,
		    a_reset_drops_the_cache_without_touching_it_or_its_blocks);
		tcase_add_test(tc,
		    after_a_reset_the_cache_hands_out_only_blocks_of_new_slabs);
		tcase_add_test(tc,
		    a_dead_processs_cache_is_reclaimed_and_its_blocks_freed);
		tcase_add_test(tc,
		    a_killed_processs_cache_is_taken_back_by_ph_heap_recover);
		tcase_add_test(tc,
		    reclaim_takes_only_the_caches_of_processes_that_died);
		tcase_add_test(tc, reclaim_trusts_no_block_of_a_dead_cache);
		tcase_add_test(tc, a_thread_that_exits_gives_its_caches_back);
		tcase_add_test(tc,
		    an_overflow_goes_to_the_depot_and_a_refill_takes_it_back);
		tcase_add_test(tc,
		    validate_catches_a_depot_slot_that_is_no_block);
		tcase_add_test(tc, repair_drains_the_depot);
		tcase_add_test(tc,
		    a_depot_class_moves_to_its_wide_room_and_back);
		tcase_add_test(tc,
		    a_depot_with_a_few_blocks_of_each_class_spans_few_pages);
		tcase_add_test(tc,
		    a_bin_that_swings_grows_until_the_swing_fits);
		tcase_add_test(tc, a_bin_used_one_way_keeps_its_base_limit);
		tcase_add_test(tc,
		    growth_stops_at_the_bins_cap_and_the_caches_budget);
		tcase_add_test(tc,
		    a_gc_pass_comes_every_so_many_slow_path_events);
		tcase_add_test(tc, gc_lowers_a_calm_bins_limit_to_its_base);
		tcase_add_test(tc, gc_gives_back_what_idle_bins_hold);
		tcase_add_test(tc,
		    validators_take_grown_bins_and_refuse_bad_limits);
		tcase_add_test(tc, a_new_cache_touches_only_the_pages_it_uses);
		tcase_add_test(tc,
		    a_bin_moves_to_its_wide_room_to_grow_and_back_at_its_base);
		tcase_add_test(tc,
		    a_bin_back_in_its_base_room_gives_its_wide_pages_back);
		tcase_add_test(tc,
		    reclaim_takes_a_bin_in_either_room_and_nothing_else);
		tcase_add_test(tc, a_cache_at_its_bases_touches_few_pages);
	}
	suite_add_tcase(s, tc);
	return unit_run(s);
}
