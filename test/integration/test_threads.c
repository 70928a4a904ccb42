/*
 * test_threads.c -- the standard family from several threads at once,
 * through the public header with the configured prefix.
 *
 * [C] malloc and friends are thread-safe: every block keeps its contents
 * whoever allocates, frees or reallocates around it, and a block may be
 * freed or reallocated by a thread other than the one that allocated it
 * (DESIGN.md: thread caches are a process-local detail; blocks are the
 * heap's).  The same holds on a ph_heap in a shared mapping, whose
 * locks and caches are the shared-heap kind.  Worker threads never call
 * ck_assert (Check's reporting is not thread-safe): they record the first
 * failure and the main thread asserts after joining.  Each test is sized
 * to run in a few seconds on 2 cores.
 */
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <time.h>

#include "testutil.h"

#define NTHREADS 6

struct worker {
	pthread_t tid;
	unsigned id;
	uint64_t rng;
	bool failed;
	char why[256];
	/* results */
	uint64_t ops, foreign_frees, foreign_reallocs;
};

static void wfail(struct worker *w, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void wfail(struct worker *w, const char *fmt, ...)
{
	if (w->failed)
		return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(w->why, sizeof(w->why), fmt, ap);
	va_end(ap);
	w->failed = true;
}

/* Checks block p against pattern seed over n bytes; records a failure. */
static bool wcheck(struct worker *w, const void *p, size_t n, uint64_t seed)
{
	size_t bad = pat_find_bad_range(p, 0, n, seed);
	if (bad == SIZE_MAX)
		return true;
	wfail(w, "thread %u: block %p (%zu bytes, seed %llu) differs at "
	    "byte %zu: 0x%02x, expected 0x%02x", w->id, p, n,
	    (unsigned long long)seed, bad, ((const unsigned char *)p)[bad],
	    pat_byte(seed, bad));
	return false;
}

static void assert_workers(struct worker *w, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		ck_assert_msg(!w[i].failed, "%s", w[i].why);
}

/* Mostly small, some medium, a few large sizes. */
static size_t random_size(uint64_t *rng)
{
	size_t r = rng_below(rng, 1000);
	if (r < 900)
		return 1 + rng_below(rng, 512);
	if (r < 995)
		return 1 + rng_below(rng, 16 * KIB);
	return 1 + rng_below(rng, 256 * KIB);
}

/* ---- each thread on its own blocks ------------------------------------- */

#define SLOTS 256
#define OPS_PER_THREAD 200000

static void *random_ops(void *arg)
{
	struct worker *w = arg;
	void *p[SLOTS] = { 0 };
	size_t sz[SLOTS] = { 0 };
	uint64_t seed[SLOTS] = { 0 };
	uint64_t next_seed = (uint64_t)w->id << 40;

	for (unsigned op = 0; op < OPS_PER_THREAD && !w->failed; op++) {
		unsigned i = (unsigned)rng_below(&w->rng, SLOTS);
		unsigned kind = (unsigned)rng_below(&w->rng, 100);
		if (p[i] && !wcheck(w, p[i], sz[i], seed[i]))
			break;
		if (p[i] && kind < 45) {                 /* free */
			P_(free)(p[i]);
			p[i] = NULL;
			continue;
		}
		size_t s = random_size(&w->rng);
		void *q;
		if (p[i]) {                              /* realloc */
			q = P_(realloc)(p[i], s);
			if (q && !wcheck(w, q, sz[i] < s ? sz[i] : s, seed[i]))
				break;
		} else if (kind < 70) {
			q = P_(malloc)(s);
		} else if (kind < 85) {
			q = P_(calloc)(1, s);
			if (q && find_nonzero(q, s) != SIZE_MAX) {
				wfail(w, "thread %u: calloc(%zu) = %p is not "
				    "zero at %zu", w->id, s, q,
				    find_nonzero(q, s));
				break;
			}
		} else if (kind < 95) {
			size_t a = (size_t)16 << rng_below(&w->rng, 9);
			q = P_(aligned_alloc)(a, s);
			if (q && !is_aligned(q, a)) {
				wfail(w, "aligned_alloc(%zu) = %p", a, q);
				break;
			}
		} else {
			q = P_(mallocx)(s, (kind & 1) ? MALLOCX_TCACHE_NONE :
			    0);
		}
		if (q == NULL) {
			wfail(w, "thread %u: allocation of %zu gave NULL",
			    w->id, s);
			break;
		}
		p[i] = q;
		sz[i] = s;
		seed[i] = ++next_seed;
		pat_fill(q, s, seed[i]);
		w->ops++;
	}
	for (unsigned i = 0; i < SLOTS; i++) {
		if (p[i] && !w->failed)
			wcheck(w, p[i], sz[i], seed[i]);
		P_(free)(p[i]);
	}
	return NULL;
}

START_TEST(threads_with_random_ops_keep_contents)
{
	struct worker w[NTHREADS];
	memset(w, 0, sizeof(w));
	for (unsigned i = 0; i < NTHREADS; i++) {
		w[i].id = i;
		w[i].rng = 0x9876543210ull + i * 7919;
		ck_assert_int_eq(pthread_create(&w[i].tid, NULL, random_ops,
		    &w[i]), 0);
	}
	for (unsigned i = 0; i < NTHREADS; i++)
		pthread_join(w[i].tid, NULL);
	assert_workers(w, NTHREADS);
	for (unsigned i = 0; i < NTHREADS; i++)
		ck_assert_uint_gt(w[i].ops, OPS_PER_THREAD / 3);
	std_heap_works();
}
END_TEST

/* ---- blocks handed between threads through a shared ring --------------- */

struct item {
	void *p;
	size_t size;
	uint64_t seed;
	unsigned owner;
};

#define RING 4096
#define ITEMS_PER_THREAD 100000

static struct {
	pthread_mutex_t mu;
	struct item slot[RING];
	unsigned head, count;
} ring = { .mu = PTHREAD_MUTEX_INITIALIZER };

static bool ring_push(const struct item *it)
{
	bool ok = false;
	pthread_mutex_lock(&ring.mu);
	if (ring.count < RING) {
		ring.slot[(ring.head + ring.count) % RING] = *it;
		ring.count++;
		ok = true;
	}
	pthread_mutex_unlock(&ring.mu);
	return ok;
}

static bool ring_pop(struct item *it)
{
	bool ok = false;
	pthread_mutex_lock(&ring.mu);
	if (ring.count > 0) {
		*it = ring.slot[ring.head];
		ring.head = (ring.head + 1) % RING;
		ring.count--;
		ok = true;
	}
	pthread_mutex_unlock(&ring.mu);
	return ok;
}

/* The ring's blocks come from the standard family, or from this heap
 * when it is set. */
static ph_heap_t *ring_heap;

static void *ring_malloc(size_t n)
{
	return ring_heap ? ph_heap_malloc(ring_heap, n) : P_(malloc)(n);
}

static void *ring_calloc(size_t n)
{
	return ring_heap ? ph_heap_calloc(ring_heap, n, 1) : P_(calloc)(n, 1);
}

static void *ring_realloc(void *p, size_t n)
{
	return ring_heap ? ph_heap_realloc(ring_heap, p, n) :
	    P_(realloc)(p, n);
}

static void ring_free(uint64_t *rng, void *p)
{
	if (ring_heap && rng_below(rng, 4))
		ph_heap_free(ring_heap, p);
	else if (rng_below(rng, 2))
		P_(free)(p);      /* routes to the owning heap */
	else
		P_(dallocx)(p, 0);
}

/* Verifies a block taken from the ring, sometimes reallocates it first,
 * and frees it. */
static void consume(struct worker *w, struct item *it)
{
	if (!wcheck(w, it->p, it->size, it->seed))
		return;
	bool foreign = it->owner != w->id;
	if (rng_below(&w->rng, 4) == 0) {
		size_t s = random_size(&w->rng);
		void *q = ring_realloc(it->p, s);
		if (q == NULL) {
			wfail(w, "realloc(%p, %zu) gave NULL", it->p, s);
			return;
		}
		if (!wcheck(w, q, it->size < s ? it->size : s, it->seed))
			return;
		it->p = q;
		w->foreign_reallocs += foreign;
	}
	ring_free(&w->rng, it->p);
	w->foreign_frees += foreign;
}

static void *ring_worker(void *arg)
{
	struct worker *w = arg;
	uint64_t next_seed = ((uint64_t)w->id + 1) << 40;
	for (unsigned n = 0; n < ITEMS_PER_THREAD && !w->failed; n++) {
		struct item it = { .size = random_size(&w->rng),
		    .seed = ++next_seed, .owner = w->id };
		it.p = rng_below(&w->rng, 8) ? ring_malloc(it.size) :
		    ring_calloc(it.size);
		if (it.p == NULL) {
			wfail(w, "malloc(%zu) gave NULL", it.size);
			break;
		}
		if (ring_heap && ph_heap_of(it.p) != ring_heap) {
			wfail(w, "block %p is not in heap %p", it.p,
			    (void *)ring_heap);
			break;
		}
		pat_fill(it.p, it.size, it.seed);
		while (!ring_push(&it)) {
			struct item old;
			if (ring_pop(&old))
				consume(w, &old);
		}
		/* take about as many as we give, from whoever gave them */
		if (rng_below(&w->rng, 8) != 0) {
			struct item old;
			if (ring_pop(&old))
				consume(w, &old);
		}
		w->ops++;
	}
	return NULL;
}

/* Runs NT ring workers and drains the ring; returns after asserting. */
static void run_ring(void)
{
	enum { NT = 4 };
	struct worker w[NT];
	memset(w, 0, sizeof(w));
	ring.head = ring.count = 0;
	for (unsigned i = 0; i < NT; i++) {
		w[i].id = i;
		w[i].rng = 0xabcdef + i * 104729;
		ck_assert_int_eq(pthread_create(&w[i].tid, NULL, ring_worker,
		    &w[i]), 0);
	}
	for (unsigned i = 0; i < NT; i++)
		pthread_join(w[i].tid, NULL);
	assert_workers(w, NT);
	/* the main thread frees what is left: foreign to all of them */
	struct worker me = { .id = NT, .rng = 1 };
	struct item it;
	while (ring_pop(&it))
		consume(&me, &it);
	ck_assert_msg(!me.failed, "%s", me.why);
	uint64_t foreign = me.foreign_frees, reallocs = 0;
	for (unsigned i = 0; i < NT; i++) {
		ck_assert_uint_eq(w[i].ops, ITEMS_PER_THREAD);
		foreign += w[i].foreign_frees;
		reallocs += w[i].foreign_reallocs;
	}
	/* the test means something only if blocks did change threads */
	ck_assert_uint_gt(foreign, ITEMS_PER_THREAD);
	ck_assert_uint_gt(reallocs, 1000);
}

START_TEST(blocks_freed_by_other_threads_through_a_ring)
{
	ring_heap = NULL;
	run_ring();
	std_heap_works();
}
END_TEST

/* [DESIGN] The same on a ph_heap in a shared mapping (the shared-heap
 * locks and caches): afterwards the heap checks clean and, the threads'
 * caches given back at exit, nearly all of it can be allocated again.
 * The main thread's own cache, which took the ring's leftovers and whose
 * bins may have grown (cache.c), is given back first: the slabs its blocks
 * keep would split the free space by what that one cache holds, which is
 * not what is measured here. */
START_TEST(threads_share_a_ph_heap)
{
	size_t size = 64 * MIB, bs = 64 * KIB;
	void *m = map_range(size, true);
	ring_heap = ph_heap_create(m, size, PH_HEAP_SHARED);
	ck_assert_ptr_nonnull(ring_heap);
	run_ring();
	ck_assert_int_eq(P_(mallctl)("thread.tcache.flush", NULL, NULL, NULL,
	    0), 0);
	ck_assert_int_eq(ph_heap_check(ring_heap), 0);
	struct ph_heap_stats st;
	ck_assert_int_eq(ph_heap_stats(ring_heap, &st), 0);
	ck_assert_msg(st.allocated == 0, "%zu bytes still allocated after "
	    "every block was freed", st.allocated);
	/* Slabs the caches kept may split the free space a little: 80%
	 * after the churn, the brief's 90% once the heap is reset. */
	for (int round = 0; round < 2; round++) {
		size_t n = 0;
		errno = 0;
		while (ph_heap_malloc(ring_heap, bs) != NULL)
			n++;
		ck_assert_int_eq(errno, ENOMEM);
		size_t want = round == 0 ? size / 10 * 8 : size / 10 * 9;
		ck_assert_msg(n * bs >= want, "%s, only %zu blocks of 64 KiB "
		    "fit in 64 MiB", round == 0 ? "after the threads" :
		    "after reset", n);
		ck_assert_int_eq(ph_heap_check(ring_heap), 0);
		ph_heap_reset(ring_heap);
	}
}
END_TEST

/* ---- blocks outlive the thread that made them -------------------------- */

#define KEPT 20000

struct kept {
	void *p[KEPT];
	size_t size[KEPT];
};

static void *allocate_and_exit(void *arg)
{
	struct kept *k = arg;
	uint64_t rng = (uintptr_t)k;
	for (unsigned i = 0; i < KEPT; i++) {
		k->size[i] = random_size(&rng);
		k->p[i] = P_(malloc)(k->size[i]);
		if (k->p[i])
			pat_fill(k->p[i], k->size[i], i);
	}
	/* and some garbage in the thread's cache when it exits */
	for (unsigned i = 0; i < 1000; i++)
		P_(free)(P_(malloc)(1 + i % 700));
	return NULL;
}

static void *free_kept(void *arg)
{
	struct kept *k = arg;
	for (unsigned i = 1; i < KEPT; i += 2) {
		if (pat_find_bad_range(k->p[i], 0, k->size[i], i) != SIZE_MAX)
			return (void *)1;
		P_(free)(k->p[i]);
		k->p[i] = NULL;
	}
	return NULL;
}

START_TEST(blocks_outlive_their_thread)
{
	enum { NT = 4 };
	static struct kept k[NT];
	pthread_t t[NT];
	for (int round = 0; round < 3; round++) {
		for (unsigned i = 0; i < NT; i++)
			ck_assert_int_eq(pthread_create(&t[i], NULL,
			    allocate_and_exit, &k[i]), 0);
		for (unsigned i = 0; i < NT; i++)
			pthread_join(t[i], NULL);
		/* odd blocks freed by new threads, even ones by main */
		for (unsigned i = 0; i < NT; i++)
			ck_assert_int_eq(pthread_create(&t[i], NULL, free_kept,
			    &k[i]), 0);
		for (unsigned i = 0; i < NT; i++) {
			void *r;
			pthread_join(t[i], &r);
			ck_assert_msg(r == NULL, "thread %u found a block "
			    "changed", i);
		}
		for (unsigned i = 0; i < NT; i++)
			for (unsigned j = 0; j < KEPT; j += 2) {
				ck_assert_ptr_nonnull(k[i].p[j]);
				pat_assert(k[i].p[j], k[i].size[j], j);
				P_(free)(k[i].p[j]);
			}
	}
	std_heap_works();
}
END_TEST

/* ---- arenas: threads of the process heap do not share one lock -------- */

static unsigned narenas(void)
{
	unsigned n = 0;
	size_t len = sizeof(n);
	ck_assert_int_eq(P_(mallctl)("arenas.narenas", &n, &len, NULL, 0), 0);
	return n;
}

static size_t allocated_now(void)
{
	uint64_t e = 1;
	size_t v, len = sizeof(v);
	ck_assert_int_eq(P_(mallctl)("epoch", NULL, NULL, &e, sizeof(e)), 0);
	ck_assert_int_eq(P_(mallctl)("stats.allocated", &v, &len, NULL, 0), 0);
	return v;
}

#define ARENA_THREADS 8
#define ARENA_BLOCKS 5000

struct arena_job {
	void *p[ARENA_BLOCKS];
	unsigned arena;    /* the arena this thread puts itself in */
	ph_heap_t *heap;   /* the heap owning its first block */
	bool mixed;        /* a later block came from another heap */
};
static pthread_barrier_t arena_bar;

static void *arena_alloc(void *arg)
{
	struct arena_job *j = arg;
	unsigned cur = ~0u;
	size_t len = sizeof(cur);
	if (P_(mallctl)("thread.arena", &cur, &len, &j->arena,
	    sizeof(j->arena)) != 0)
		return (void *)1;
	pthread_barrier_wait(&arena_bar);   /* all at once */
	for (unsigned i = 0; i < ARENA_BLOCKS; i++) {
		size_t n = 16 + (i * 37) % 3000;
		/* Every other block past the cache: its lock each time. */
		j->p[i] = i % 2 ? P_(mallocx)(n, MALLOCX_TCACHE_NONE) :
		    P_(malloc)(n);
		if (j->p[i] == NULL)
			return (void *)2;
		pat_fill(j->p[i], n, i);
		if (i == 0)
			j->heap = ph_heap_of(j->p[0]);
		else if (ph_heap_of(j->p[i]) != j->heap)
			j->mixed = true;
	}
	return NULL;
}

static void *arena_free_other(void *arg)
{
	struct arena_job *j = arg;
	for (unsigned i = 0; i < ARENA_BLOCKS; i++) {
		if (pat_find_bad_range(j->p[i], 0, 16 + (i * 37) % 3000, i) !=
		    SIZE_MAX)
			return (void *)1;
		P_(free)(j->p[i]);
	}
	return NULL;
}

/* Threads in different arenas allocate at once, each from its own arena
 * only, and each frees what another allocated: every block goes back to
 * the arena it came from and the totals come back.  Threads are put in
 * their arenas with thread.arena, so that nothing here depends on whether
 * they happened to contend; the policy that moves threads which keep
 * waiting is tested with synthetic waits (test/unit/test_heap.c). */
START_TEST(threads_in_different_arenas_free_each_others_blocks)
{
	static struct arena_job jobs[ARENA_THREADS];
	unsigned n = narenas();
	ck_assert_uint_ge(n, 1);
	ck_assert_uint_le(n, 64);
	memset(jobs, 0, sizeof(jobs));
	pthread_barrier_init(&arena_bar, NULL, ARENA_THREADS);
	size_t before = allocated_now();
	pthread_t t[ARENA_THREADS];
	for (unsigned i = 0; i < ARENA_THREADS; i++) {
		jobs[i].arena = i % n;
		ck_assert_int_eq(pthread_create(&t[i], NULL, arena_alloc,
		    &jobs[i]), 0);
	}
	for (unsigned i = 0; i < ARENA_THREADS; i++) {
		void *r;
		pthread_join(t[i], &r);
		ck_assert_ptr_null(r);
	}
	pthread_barrier_destroy(&arena_bar);
	for (unsigned i = 0; i < ARENA_THREADS; i++) {
		ck_assert_ptr_nonnull(jobs[i].heap);
		ck_assert_msg(!jobs[i].mixed, "thread %u left arena %u", i,
		    jobs[i].arena);
		/* Same arena, same heap; different arenas, different heaps. */
		for (unsigned k = 0; k < i; k++)
			ck_assert((jobs[k].heap == jobs[i].heap) ==
			    (jobs[k].arena == jobs[i].arena));
	}
	if (have_stats())
		ck_assert_uint_ge(allocated_now(), before + ARENA_THREADS *
		    (size_t)ARENA_BLOCKS * 16);
	for (unsigned i = 0; i < ARENA_THREADS; i++)
		ck_assert_int_eq(pthread_create(&t[i], NULL, arena_free_other,
		    &jobs[(i + 1) % ARENA_THREADS]), 0);
	for (unsigned i = 0; i < ARENA_THREADS; i++) {
		void *r;
		pthread_join(t[i], &r);
		ck_assert_msg(r == NULL, "a block changed before its free");
	}
	ck_assert_uint_eq(allocated_now(), before);
	for (unsigned i = 0; i < ARENA_THREADS; i++)
		ck_assert_int_eq(ph_heap_check(jobs[i].heap), 0);
	std_heap_works();
}
END_TEST

/* [jemalloc] thread.arena reads this thread's arena and moves it. */
static void *arena_hop(void *arg)
{
	unsigned n = *(unsigned *)arg, cur = 99;
	size_t len = sizeof(cur);
	void *a = P_(malloc)(100);
	if (P_(mallctl)("thread.arena", &cur, &len, NULL, 0) != 0 || cur >= n)
		return (void *)1;
	unsigned to = (cur + 1) % n, old = 99, bad = n;
	len = sizeof(old);
	if (P_(mallctl)("thread.arena", &old, &len, &to, sizeof(to)) != 0 ||
	    old != cur)
		return (void *)2;
	void *b = P_(malloc)(100);
	len = sizeof(cur);
	if (P_(mallctl)("thread.arena", &cur, &len, NULL, 0) != 0 || cur != to)
		return (void *)3;
	if (n > 1 && ph_heap_of(a) == ph_heap_of(b))
		return (void *)4;   /* still the old arena's */
	if (P_(mallctl)("thread.arena", NULL, NULL, &bad, sizeof(bad)) !=
	    EINVAL || P_(mallctl)("thread.arena", NULL, NULL, &to, 1) !=
	    EINVAL)
		return (void *)5;
	P_(free)(a);   /* the old arena's block goes home */
	P_(free)(b);
	return NULL;
}

START_TEST(thread_arena_moves_a_thread)
{
	unsigned n = narenas();
	pthread_t t;
	void *r;
	size_t before = allocated_now();
	ck_assert_int_eq(pthread_create(&t, NULL, arena_hop, &n), 0);
	pthread_join(t, &r);
	ck_assert_ptr_null(r);
	ck_assert_uint_eq(allocated_now(), before);
}
END_TEST

/* Puts the calling thread in arena i (of n). */
static void arena_put(unsigned i)
{
	ck_assert_int_eq(P_(mallctl)("thread.arena", NULL, NULL, &i,
	    sizeof(i)), 0);
}

/* A thread that frees another arena's blocks sends them home: its own
 * mallocs never hand them out (so no false sharing, and no thread ends up
 * with half its cache of another arena), and they count as free at once
 * (statistics drain the remote stacks). */
enum { HOME_N = 1000 };
static void *home_a[HOME_N], *home_b[HOME_N], *home_b0;

static void *home_alloc_a(void *arg)
{
	(void)arg;
	arena_put(0);
	for (int i = 0; i < HOME_N; i++)
		home_a[i] = P_(malloc)(64);
	return NULL;
}

static void *home_free_a_alloc_b(void *arg)
{
	(void)arg;
	arena_put(narenas() - 1);
	home_b0 = P_(malloc)(5000);   /* of this thread's arena, surely */
	for (int i = 0; i < HOME_N; i++)
		P_(free)(home_a[i]);
	for (int i = 0; i < HOME_N; i++)
		home_b[i] = P_(malloc)(64);
	return NULL;
}

START_TEST(blocks_freed_by_another_arena_go_home)
{
	size_t before = allocated_now();
	pthread_t a, b;
	pthread_create(&a, NULL, home_alloc_a, NULL);
	pthread_join(a, NULL);
	ph_heap_t *ha = ph_heap_of(home_a[0]);
	pthread_create(&b, NULL, home_free_a_alloc_b, NULL);
	pthread_join(b, NULL);
	ph_heap_t *hb = ph_heap_of(home_b0);
	/* thread.arena put them in two arenas if there are two. */
	if (narenas() >= 2)
		ck_assert_ptr_ne(ha, hb);
	for (int i = 0; i < HOME_N; i++) {
		ck_assert_ptr_eq(ph_heap_of(home_b[i]), hb);
		if (ha != hb)
			for (int k = 0; k < HOME_N; k++)
				ck_assert_ptr_ne(home_b[i], home_a[k]);
	}
	if (have_stats())
		ck_assert_uint_eq(allocated_now(), before + HOME_N * 64 +
		    P_(malloc_usable_size)(home_b0));
	ck_assert_int_eq(ph_heap_check(ha), 0);
	ck_assert_int_eq(ph_heap_check(hb), 0);
	for (int i = 0; i < HOME_N; i++)
		P_(free)(home_b[i]);
	P_(free)(home_b0);
	ck_assert_uint_eq(allocated_now(), before);
}
END_TEST

/* A thread whose first allocation is from a heap handle: its malloc must
 * still allocate from the process heap, not from that handle's heap. */
static void *handle_first(void *arg)
{
	ph_heap_t *h = arg;
	void *a = ph_heap_malloc(h, 64);
	ph_heap_free(h, a);
	void *p = P_(malloc)(64);
	ph_heap_t *owner = ph_heap_of(p);
	P_(free)(p);
	return owner == h ? (void *)1 : NULL;
}

START_TEST(malloc_after_a_handle_stays_in_the_process_heap)
{
	size_t size = 4 * MIB;
	void *r = mmap(NULL, size, PROT_READ | PROT_WRITE,
	    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ck_assert_ptr_ne(r, MAP_FAILED);
	ph_heap_t *h = ph_heap_create(r, size, PH_HEAP_ZEROED);
	ck_assert_ptr_nonnull(h);
	for (int i = 0; i < 4; i++) {
		pthread_t t;
		void *res;
		ck_assert_int_eq(pthread_create(&t, NULL, handle_first, h), 0);
		pthread_join(t, &res);
		ck_assert_msg(res == NULL, "malloc returned a block of the "
		    "handle's heap");
	}
	ck_assert_int_eq(ph_heap_detach(h), 0);
	munmap(r, size);
}
END_TEST

/* PHMALLOC_CONF=narenas:N reaches a fresh process: this program run again
 * by exec, asked to print arenas.narenas. */
START_TEST(narenas_option_is_honoured)
{
	char cmd[600];
	for (unsigned want = 1; want <= 5; want += 2) {
		snprintf(cmd, sizeof(cmd), "PHMALLOC_CONF=narenas:%u "
		    "/proc/%d/exe --print-narenas", want, (int)getpid());
		FILE *f = popen(cmd, "r");
		ck_assert_ptr_nonnull(f);
		unsigned got = 0;
		ck_assert_int_eq(fscanf(f, "%u", &got), 1);
		ck_assert_int_eq(pclose(f), 0);
		ck_assert_uint_eq(got, want);
	}
}
END_TEST

/* PHMALLOC_CONF=thp (opt.thp) reaches a fresh process: run again by exec, it
 * prints opt.thp and the VmFlags of the mapping 4 MiB into an 8 MiB block
 * (an arena's data, past its first 2 MiB boundary): "hg" where huge pages
 * were asked for, "nh" where they were refused, neither by default. */
START_TEST(thp_option_advises_the_arenas_data)
{
	if (access("/sys/kernel/mm/transparent_hugepage/enabled", F_OK) != 0)
		return;   /* a kernel without transparent huge pages */
	static const char *const want[] = { "default", "always", "never",
	    "auto" };
	for (unsigned k = 0; k < 4; k++) {
		char cmd[600], name[32] = "", flags[256] = "";
		snprintf(cmd, sizeof(cmd), "PHMALLOC_CONF=thp:%s "
		    "/proc/%d/exe --print-thp", want[k], (int)getpid());
		FILE *f = popen(cmd, "r");
		ck_assert_ptr_nonnull(f);
		ck_assert_int_eq(fscanf(f, "%31s", name), 1);
		ck_assert_ptr_nonnull(fgets(flags, sizeof(flags), f));
		ck_assert_int_eq(pclose(f), 0);
		ck_assert_str_eq(name, want[k]);
		bool hg = strstr(flags, " hg") != NULL;
		bool nh = strstr(flags, " nh") != NULL;
		ck_assert_msg(hg == (k == 1) && nh == (k == 2),
		    "thp:%s gave VmFlags:%s", want[k], flags);
	}
}
END_TEST

/* The child of thp_option_advises_the_arenas_data. */
static int print_thp(void)
{
	char *p = P_(malloc)((size_t)8 << 20);
	const char *thp = NULL;
	size_t len = sizeof(thp);
	if (p == NULL || P_(mallctl)("opt.thp", &thp, &len, NULL, 0) != 0)
		return 1;
	uintptr_t at = (uintptr_t)p + ((size_t)4 << 20);
	FILE *f = fopen("/proc/self/smaps", "r");
	if (f == NULL)
		return 1;
	char line[512];
	bool in = false;
	while (fgets(line, sizeof(line), f) != NULL) {
		unsigned long lo, hi;
		char perms[8];
		/* a mapping's first line; its fields' lines start "Name:" */
		if (sscanf(line, "%lx-%lx %7s", &lo, &hi, perms) == 3) {
			in = lo <= at && at < hi;
		} else if (in && strncmp(line, "VmFlags:", 8) == 0) {
			printf("%s%s", thp, line + 8);
			fclose(f);
			P_(free)(p);
			return 0;
		}
	}
	fclose(f);
	return 1;
}

/* ---- thp:auto: a process that forks gets its dense chunks in huge pages ----
 * A process started by exec fills 8 MiB in four 2 MiB chunks: the first and
 * third whole, the second but for 16 pages (what thp.c may fill), the
 * fourth every other page; then it forks until the second chunk is whole
 * (its holes filled with zeros: the collapse's mark), at most 64 times. */

#define THP_CHUNK ((size_t)2 << 20)
#define THP_NP    ((unsigned)(THP_CHUNK / 4096))

static bool thp_child_hole(unsigned c, unsigned i)
{
	return (c == 1 && i % 32 == 5) || (c == 3 && i % 2 == 1);
}

static unsigned thp_resident(const char *p)
{
	static unsigned char vec[THP_NP];
	if (mincore((void *)p, THP_CHUNK, vec) != 0)
		return 0;
	unsigned n = 0;
	for (unsigned i = 0; i < THP_NP; i++)
		n += vec[i] & 1;
	return n;
}

/* Prints: collapsed refused forks resident0..3 intact. */
static int thp_forks_child(void)
{
	char *p = NULL;
	if (P_(posix_memalign)((void **)&p, THP_CHUNK, 4 * THP_CHUNK) != 0)
		return 1;
	/* every page written, then the holes given back: where THP is
	 * "always" the first write maps a whole chunk */
	for (unsigned c = 0; c < 4; c++)
		for (unsigned i = 0; i < THP_NP; i++)
			memset(p + c * THP_CHUNK + (size_t)i * 4096,
			    (int)(c * 64 + i % 64 + 1), 4096);
	for (unsigned c = 0; c < 4; c++)
		for (unsigned i = 0; i < THP_NP; i++)
			if (thp_child_hole(c, i) && madvise(p + c * THP_CHUNK +
			    (size_t)i * 4096, 4096, MADV_DONTNEED) != 0)
				return 1;
	unsigned forks = 0;
	for (; forks < 64 && thp_resident(p + THP_CHUNK) < THP_NP; forks++) {
		pid_t pid = fork();
		if (pid == 0)
			_exit(0);
		if (pid < 0 || waitpid(pid, NULL, 0) != pid)
			return 1;
	}
	unsigned res[4];
	for (unsigned c = 0; c < 4; c++)   /* before reading the holes */
		res[c] = thp_resident(p + c * THP_CHUNK);
	bool intact = true;
	for (unsigned c = 0; c < 4; c++)
		for (unsigned i = 0; i < THP_NP; i++) {
			const unsigned char *pg = (const unsigned char *)p +
			    c * THP_CHUNK + (size_t)i * 4096;
			unsigned want = thp_child_hole(c, i) ? 0 :
			    (c * 64 + i % 64 + 1) & 0xff;
			if (pg[0] != want || pg[4095] != want)
				intact = false;
		}
	uint64_t n[2] = { 0, 0 };
	size_t len = sizeof(n[0]);
	if (P_(mallctl)("stats.thp.collapsed", &n[0], &len, NULL, 0) != 0 ||
	    P_(mallctl)("stats.thp.refused", &n[1], &len, NULL, 0) != 0)
		return 1;
	/* A child counts its own forks: one that forks three times (fewer
	 * than the four thp.c waits for) collapses nothing, even a dense
	 * chunk of its own. */
	int out[2];
	if (pipe(out) != 0)
		return 1;
	pid_t g = fork();
	if (g == 0) {
		uint64_t was = 0, now = 0;   /* (the fork itself may collapse) */
		char *q = NULL;
		if (P_(mallctl)("stats.thp.collapsed", &was, &len, NULL, 0))
			_exit(1);
		if (P_(posix_memalign)((void **)&q, THP_CHUNK, THP_CHUNK) != 0)
			_exit(1);
		memset(q, 7, THP_CHUNK);
		for (int i = 0; i < 3; i++) {
			pid_t pid = fork();
			if (pid == 0)
				_exit(0);
			if (pid < 0 || waitpid(pid, NULL, 0) != pid)
				_exit(1);
		}
		if (P_(mallctl)("stats.thp.collapsed", &now, &len, NULL, 0))
			_exit(1);
		uint64_t more = now - was;
		_exit(write(out[1], &more, sizeof(more)) == sizeof(more) ?
		    0 : 1);
	}
	uint64_t child_more = UINT64_MAX;
	int status = 0;
	if (g < 0 || read(out[0], &child_more, sizeof(child_more)) !=
	    sizeof(child_more) || waitpid(g, &status, 0) != g ||
	    !WIFEXITED(status) || WEXITSTATUS(status) != 0)
		return 1;
	printf("%llu %llu %u %u %u %u %u %d %llu\n", (unsigned long long)n[0],
	    (unsigned long long)n[1], forks, res[0], res[1], res[2], res[3],
	    intact, (unsigned long long)child_more);
	P_(free)(p);
	return 0;
}

/* Can this kernel collapse, as the process heap would?  1: the system's
 * setting allows it, the huge page is 2 MiB, and a chunk of our own
 * collapses; 0: it cannot (the setting, the size, or the kernel does not
 * know MADV_COLLAPSE or forbids it); -1: our chunk was refused for want
 * of a free huge page or memory (ENOMEM, EAGAIN, EBUSY), which says
 * nothing of the next try.  *always: the setting is "always", where
 * khugepaged may fill a chunk's holes by itself at any moment. */
static int thp_collapse_works(bool *always)
{
	char buf[128] = "";
	FILE *f = fopen("/sys/kernel/mm/transparent_hugepage/enabled", "r");
	bool ok = f != NULL && fgets(buf, sizeof(buf), f) != NULL &&
	    strstr(buf, "[never]") == NULL;
	*always = strstr(buf, "[always]") != NULL;
	if (f != NULL)
		fclose(f);
	f = fopen("/sys/kernel/mm/transparent_hugepage/hpage_pmd_size", "r");
	ok = ok && f != NULL && fgets(buf, sizeof(buf), f) != NULL &&
	    strtoul(buf, NULL, 10) == THP_CHUNK;
	if (f != NULL)
		fclose(f);
	if (!ok)
		return 0;
	char *raw = mmap(NULL, 2 * THP_CHUNK, PROT_READ | PROT_WRITE,
	    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ck_assert_ptr_ne(raw, MAP_FAILED);
	char *at = (char *)(((uintptr_t)raw + THP_CHUNK - 1) &
	    ~(uintptr_t)(THP_CHUNK - 1));
	memset(at, 1, THP_CHUNK);
	int works = madvise(at, THP_CHUNK, 25 /* MADV_COLLAPSE */) == 0 ? 1 :
	    errno == ENOMEM || errno == EAGAIN || errno == EBUSY ? -1 : 0;
	munmap(raw, 2 * THP_CHUNK);
	return works;
}

START_TEST(forks_collapse_dense_arena_chunks)
{
	bool always = false;
	int works = thp_collapse_works(&always);
	for (unsigned k = 0; k < 2; k++) {
		const char *mode = k == 0 ? "auto" : "default";
		char cmd[600];
		snprintf(cmd, sizeof(cmd), "PHMALLOC_CONF=thp:%s "
		    "/proc/%d/exe --thp-forks", mode, (int)getpid());
		FILE *f = popen(cmd, "r");
		ck_assert_ptr_nonnull(f);
		unsigned long long col = 0, ref = 0, child_more = 1;
		unsigned forks = 0, r[4] = { 0 };
		int intact = 0;
		ck_assert_int_eq(fscanf(f, "%llu %llu %u %u %u %u %u %d %llu",
		    &col, &ref, &forks, &r[0], &r[1], &r[2], &r[3], &intact,
		    &child_more), 9);
		ck_assert_int_eq(pclose(f), 0);
		ck_assert_msg(intact, "thp:%s: a block changed", mode);
		ck_assert_uint_eq(child_more, 0);
		ck_assert_uint_eq(r[0], THP_NP);
		ck_assert_uint_eq(r[2], THP_NP);
		if (!always)   /* sparse: left alone (khugepaged aside) */
			ck_assert_uint_eq(r[3], THP_NP / 2);
		if (k == 1 || works == 0) {   /* nothing collapsed */
			ck_assert_uint_eq(col + ref, 0);
			if (!always) {
				ck_assert_uint_eq(r[1], THP_NP - THP_NP / 32);
				ck_assert_uint_eq(forks, 64);
			}
		} else if (ref == 0) {    /* holes filled, within a few forks */
			if (!always)      /* (else khugepaged may have been first) */
				ck_assert_uint_ge(col, 2);
			ck_assert_uint_eq(r[1], THP_NP);
			ck_assert_uint_lt(forks, 64);
		} else {                  /* the kernel had no huge page free */
			fprintf(stderr, "forks_collapse_dense_arena_chunks: "
			    "%llu collapses refused\n", ref);
		}
	}
}
END_TEST

/* Collapses while threads write: two threads keep replacing and checking
 * 4 KiB blocks (8 MiB each, dense chunks) while this one forks 40 times,
 * so thp:auto's collapses (from the fourth fork on) run while the chunks'
 * pages are being written, freed and allocated.  No block may change.
 * (Each Check test runs in a child, which counts its forks from 0.) */
#define CW_BLOCKS 2000
#define CW_SIZE   4096
static _Atomic int cw_stop;

static void *collapse_writer(void *arg)
{
	uint64_t s = (uintptr_t)arg, *bad = malloc(sizeof(*bad));
	static __thread void *blk[CW_BLOCKS];
	static __thread uint64_t seed[CW_BLOCKS];
	*bad = 0;
	for (unsigned i = 0; i < CW_BLOCKS; i++) {
		blk[i] = P_(malloc)(CW_SIZE);
		seed[i] = s * CW_BLOCKS + i;
		pat_fill_range(blk[i], 0, CW_SIZE, seed[i]);
	}
	for (uint64_t round = 1; !atomic_load(&cw_stop) || round < 3 *
	    CW_BLOCKS; round++) {
		unsigned i = (unsigned)(round * 7919 % CW_BLOCKS);
		if (pat_find_bad_range(blk[i], 0, CW_SIZE, seed[i]) !=
		    SIZE_MAX)
			(*bad)++;
		P_(free)(blk[i]);
		blk[i] = P_(malloc)(CW_SIZE);
		seed[i] += 1000003;
		pat_fill_range(blk[i], 0, CW_SIZE, seed[i]);
	}
	for (unsigned i = 0; i < CW_BLOCKS; i++) {
		if (pat_find_bad_range(blk[i], 0, CW_SIZE, seed[i]) !=
		    SIZE_MAX)
			(*bad)++;
		P_(free)(blk[i]);
	}
	return bad;
}

START_TEST(forks_collapse_while_threads_write)
{
	pthread_t th[2];
	atomic_store(&cw_stop, 0);
	for (uintptr_t t = 0; t < 2; t++)
		ck_assert_int_eq(pthread_create(&th[t], NULL, collapse_writer,
		    (void *)(t + 1)), 0);
	for (int i = 0; i < 40; i++) {
		pid_t pid = fork();
		ck_assert_int_ge(pid, 0);
		if (pid == 0)
			_exit(0);
		int status = 0;
		ck_assert_int_eq(waitpid(pid, &status, 0), pid);
		ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	}
	atomic_store(&cw_stop, 1);
	for (int t = 0; t < 2; t++) {
		uint64_t *bad = NULL;
		ck_assert_int_eq(pthread_join(th[t], (void **)&bad), 0);
		ck_assert_ptr_nonnull(bad);
		ck_assert_msg(*bad == 0, "writer %d: %llu blocks changed", t,
		    (unsigned long long)*bad);
		free(bad);
	}
	uint64_t collapsed = 0;
	size_t len = sizeof(collapsed);
	ck_assert_int_eq(P_(mallctl)("stats.thp.collapsed", &collapsed, &len,
	    NULL, 0), 0);
	fprintf(stderr, "forks_collapse_while_threads_write: %llu collapses\n",
	    (unsigned long long)collapsed);
}
END_TEST

/* ---- fork from a signal handler inside malloc --------------------------------
 * A process started for it sends SIGUSR1 to this one without pause; the
 * handler, landing often inside malloc or free (in the thread's cache, or
 * between a lock and its use), forks.  The child allocates and frees from
 * inside that handler, checks what it wrote and exits; the parent goes on.
 * One thread, as glibc's tst-mallocfork2: glibc's fork is async-signal-safe
 * only in a process of one thread (it takes its own locks otherwise);
 * forks while other threads hold phmalloc's locks are test_repair's "fork"
 * tests.  Counts, not time: FORK_ROUNDS forks. */

#define FORK_ROUNDS   150
static _Atomic int forks_done;
static pid_t fork_children[FORK_ROUNDS];

static int child_allocates(void)
{
	void *p[64];
	for (int i = 0; i < 64; i++) {
		size_t n = 16 + (size_t)i * 97 % 20000;
		if ((p[i] = P_(malloc)(n)) == NULL)
			return 2;
		memset(p[i], i, n);
	}
	for (int i = 0; i < 64; i++) {
		size_t n = 16 + (size_t)i * 97 % 20000;
		for (size_t k = 0; k < n; k += 512)
			if (((unsigned char *)p[i])[k] != (unsigned char)i)
				return 3;
		P_(free)(p[i]);
	}
	return 0;
}

static void fork_in_handler(int sig)
{
	(void)sig;
	int saved = errno;
	int n = atomic_load(&forks_done);
	if (n < FORK_ROUNDS) {
		pid_t pid = fork();
		if (pid == 0)
			_exit(child_allocates());
		if (pid > 0) {
			fork_children[n] = pid;
			atomic_store(&forks_done, n + 1);
		}
	}
	errno = saved;
}

START_TEST(fork_in_a_signal_handler_inside_malloc)
{
	/* One fork at a time. */
	struct sigaction sa = { .sa_handler = fork_in_handler };
	sigfillset(&sa.sa_mask);
	ck_assert_int_eq(sigaction(SIGUSR1, &sa, NULL), 0);
	char pid[32];
	snprintf(pid, sizeof(pid), "%d", (int)getpid());
	pid_t sender = fork();
	ck_assert_int_ne(sender, -1);
	if (sender == 0) {
		/* a process of its own, by exec: kill(1) in a loop */
		execl("/bin/sh", "sh", "-c",
		    "while kill -USR1 \"$0\" 2>/dev/null; do :; done", pid,
		    (char *)NULL);
		_exit(127);
	}
	uint64_t rng = 99;
	void *p[16] = { 0 };
	while (atomic_load(&forks_done) < FORK_ROUNDS) {
		unsigned k = (unsigned)rng_below(&rng, 16);
		P_(free)(p[k]);
		p[k] = P_(malloc)(1 + rng_below(&rng, 5000));
		ck_assert_ptr_nonnull(p[k]);
	}
	kill(sender, SIGKILL);
	waitpid(sender, NULL, 0);
	for (int i = 0; i < FORK_ROUNDS; i++) {
		int status;
		ck_assert_int_eq(waitpid(fork_children[i], &status, 0),
		    fork_children[i]);
		ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
		    "child %d of the forks: status %#x", i, status);
	}
	for (unsigned k = 0; k < 16; k++)
		P_(free)(p[k]);
	ck_assert_int_eq(ph_heap_check(ph_heap_default()), 0);
}
END_TEST

int main(int argc, char **argv)
{
	if (argc == 2 && strcmp(argv[1], "--print-narenas") == 0) {
		P_(free)(P_(malloc)(1));
		unsigned n = 0;
		size_t len = sizeof(n);
		if (P_(mallctl)("arenas.narenas", &n, &len, NULL, 0) != 0)
			return 1;
		printf("%u\n", n);
		return 0;
	}
	if (argc == 2 && strcmp(argv[1], "--print-thp") == 0)
		return print_thp();
	if (argc == 2 && strcmp(argv[1], "--thp-forks") == 0)
		return thp_forks_child();
	Suite *s = suite_create("threads");
	TCase *tc = tcase_create("threads");
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, threads_with_random_ops_keep_contents);
	tcase_add_test(tc, blocks_freed_by_other_threads_through_a_ring);
	tcase_add_test(tc, threads_share_a_ph_heap);
	tcase_add_test(tc, blocks_outlive_their_thread);
	tcase_add_test(tc, threads_in_different_arenas_free_each_others_blocks);
	tcase_add_test(tc, thread_arena_moves_a_thread);
	tcase_add_test(tc, blocks_freed_by_another_arena_go_home);
	tcase_add_test(tc, narenas_option_is_honoured);
	tcase_add_test(tc, thp_option_advises_the_arenas_data);
	tcase_add_test(tc, forks_collapse_dense_arena_chunks);
	tcase_add_test(tc, forks_collapse_while_threads_write);
	tcase_add_test(tc, malloc_after_a_handle_stays_in_the_process_heap);
	suite_add_tcase(s, tc);

	tc = tcase_create("fork");
	tcase_set_timeout(tc, 60);   /* a hang, scaled by run_suite */
	tcase_add_test(tc, fork_in_a_signal_handler_inside_malloc);
	suite_add_tcase(s, tc);
	return run_suite(s);
}
