/*
 * bench/phb.c -- the process-mode benchmark driver.
 *
 * It calls plain malloc/free/realloc and is linked against nothing but
 * libc, so that one binary measures every allocator: bench/run.sh starts it
 * under LD_PRELOAD of jemalloc, mimalloc, tcmalloc or phmalloc's drop-in
 * library, or bare for glibc.
 *
 *   phb WORKLOAD [SCALE]      SCALE multiplies the amount of work (default 1)
 *   phb info                  print which library malloc resolves to
 *   phb clock                 print CLOCK_MONOTONIC in ns (start barrier)
 *
 * Workloads (modelled on the public allocator benchmarks):
 *   pair16    malloc(16) and free at once                 ns/pair (and Ir)
 *   fifo256   512 live blocks of 256 B, FIFO order         ns/pair (and Ir)
 *   ring      1024 live blocks, 16..512 B random           ns/pair (and Ir)
 *   larson    2 threads, random 8..1000 B, arrays handed between threads
 *   xmalloc   1 producer thread allocates, 1 consumer thread frees
 *   scratch   cache-scratch: passive false sharing, 2 threads
 *   sizemix   small blocks, growing reallocs, large blocks 64 KiB..16 MiB
 *   frag      peak RSS, RSS after freeing 90%, after refilling, at the end
 *   fork      fork, malloc in the child, exit, wait                us/fork
 *             (and INFO fork_vmpte_kb, fork_vmas, fork_rss_kb just
 *             before the forks, fork_child_minflt per child)
 *   memalign  2 threads, short-lived 16..512 B, half memalign'd    M ops/s
 *   classes   14 size classes, 400..1600 live blocks each, freed
 *             and refilled a class at a time                      ns/pair
 *   handoff   producer/consumer, blocks streamed one at a time    M blocks/s
 *
 * Every workload also prints
 *     INFO alloc_ops=N
 * the number of malloc, free, realloc and memalign calls it made (set-up,
 * warm-up and clean-up included, in every thread and fork child), so that
 * bench/run.sh can divide the system calls that strace counts in a whole
 * run by the operations of that run.
 *
 * With PHB_CALLGRIND=1 the ring workloads do a fixed 1,000,000 measured
 * pairs (PHB_CG_PAIRS=N to change) in the function phb_measured, so that
 *   valgrind --tool=callgrind --toggle-collect=phb_measured
 * counts the instructions of the measured pairs alone.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <malloc.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "phb_common.h"

static double scale = 1.0;

static uint64_t scaled(uint64_t n)
{
	uint64_t v = (uint64_t)((double)n * scale);
	return v ? v : 1;
}

/* Scratch memory that does not come from the allocator under test. */
static void *map_anon(size_t size)
{
	void *p = mmap(NULL, size, PROT_READ | PROT_WRITE,
	               MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED) {
		perror("phb: mmap");
		exit(1);
	}
	return p;
}

/* The malloc/free/realloc/memalign calls a run made, for the system calls
 * per 1,000 operations (bench/run.sh's strace step). */
static void alloc_ops(uint64_t n)
{
	printf("INFO alloc_ops=%llu\n", (unsigned long long)n);
}

static void *xmalloc(size_t n)
{
	void *p = malloc(n);
	if (!p) {
		fprintf(stderr, "phb: malloc(%zu) failed\n", n);
		exit(1);
	}
	return p;
}

/* ------------------------------------------------------------------ */
/* workload 1: single thread, small objects                            */

enum { PAT_PAIR16, PAT_FIFO256, PAT_RING };
static uint32_t sizes[PHB_NSIZES];
static void *ring[1024];
static uint32_t ring_len;
static uint64_t ring_pos;

static void ring_setup(int pat)
{
	switch (pat) {
	case PAT_PAIR16:
		ring_len = 0;
		break;
	case PAT_FIFO256:
		ring_len = 512;
		for (uint32_t i = 0; i < PHB_NSIZES; i++)
			sizes[i] = 256;
		break;
	default:
		ring_len = 1024;
		phb_fill_sizes(sizes, 16, 512, 0x9e3779b97f4a7c15ull);
		break;
	}
	for (uint32_t i = 0; i < ring_len; i++) {
		ring[i] = xmalloc(sizes[i]);
		PHB_ESCAPE(ring[i]);
	}
}

__attribute__((noinline)) static void ring_run(int pat, uint64_t n)
{
	if (pat == PAT_PAIR16) {
		for (uint64_t i = 0; i < n; i++) {
			char *p = malloc(16);
			PHB_ESCAPE(p);
			*(volatile char *)p = (char)i;
			free(p);
		}
		return;
	}
	uint64_t pos = ring_pos;
	const uint32_t len = ring_len;
	for (uint64_t i = 0; i < n; i++, pos++) {
		uint32_t r = (uint32_t)(pos % len);
		free(ring[r]);
		char *p = malloc(sizes[pos & (PHB_NSIZES - 1)]);
		PHB_ESCAPE(p);
		*(volatile char *)p = (char)pos;
		ring[r] = p;
	}
	ring_pos = pos;
}

/* The callgrind run counts instructions inside this function only. */
__attribute__((noinline, noipa)) void phb_measured(int pat, uint64_t n);
__attribute__((noinline, noipa)) void phb_measured(int pat, uint64_t n)
{
	ring_run(pat, n);
}

static void w_ring(int pat)
{
	int cg = getenv("PHB_CALLGRIND") != NULL;
	const char *cgn = getenv("PHB_CG_PAIRS");
	uint64_t n = cg ? (cgn && *cgn ? strtoull(cgn, NULL, 0) : 1000000) : scaled(20000000);
	uint64_t warm = cg ? 100000 : n / 10;
	ring_setup(pat);
	ring_run(pat, warm); /* warm-up, not timed */
	uint64_t t0 = phb_now_ns();
	phb_measured(pat, n);
	uint64_t t1 = phb_now_ns();
	for (uint32_t i = 0; i < ring_len; i++)
		free(ring[i]);
	if (cg)
		printf("RESULT metric=pairs value=%llu\n", (unsigned long long)n);
	else
		phb_result("ns_per_pair", (double)(t1 - t0) / (double)n);
	alloc_ops(2 * (uint64_t)ring_len + 2 * (warm + n));
}

/* ------------------------------------------------------------------ */
/* workload 2: larson-style server mix                                  */

#define LARSON_THREADS 2
#define LARSON_SLOTS 5000
static pthread_barrier_t larson_bar;
static void **larson_arrays[LARSON_THREADS];
static uint64_t larson_rounds, larson_ops_per_round;

static void *larson_thread(void *arg)
{
	unsigned tid = (unsigned)(uintptr_t)arg;
	uint64_t s = 0x1234567ull * (tid + 1);
	pthread_barrier_wait(&larson_bar);
	for (uint64_t r = 0; r < larson_rounds; r++) {
		/* each round a thread works on the other thread's blocks */
		void **slots = larson_arrays[(tid + r) % LARSON_THREADS];
		for (uint64_t k = 0; k < larson_ops_per_round; k++) {
			uint64_t x = phb_rand(&s);
			uint32_t idx = (uint32_t)(x % LARSON_SLOTS);
			size_t sz = 8 + (size_t)((x >> 32) % 993);
			free(slots[idx]);
			char *p = malloc(sz);
			if (!p)
				abort();
			p[0] = (char)k;
			p[sz - 1] = (char)k;
			slots[idx] = p;
		}
		pthread_barrier_wait(&larson_bar);
	}
	return NULL;
}

static void w_larson(void)
{
	pthread_t th[LARSON_THREADS];
	uint64_t s = 42;
	larson_ops_per_round = 100000;
	larson_rounds = scaled(100);
	for (unsigned t = 0; t < LARSON_THREADS; t++) {
		larson_arrays[t] = map_anon(LARSON_SLOTS * sizeof(void *));
		for (unsigned i = 0; i < LARSON_SLOTS; i++)
			larson_arrays[t][i] = xmalloc(8 + phb_rand(&s) % 993);
	}
	pthread_barrier_init(&larson_bar, NULL, LARSON_THREADS + 1);
	for (unsigned t = 0; t < LARSON_THREADS; t++)
		pthread_create(&th[t], NULL, larson_thread, (void *)(uintptr_t)t);
	pthread_barrier_wait(&larson_bar);
	uint64_t t0 = phb_now_ns();
	for (uint64_t r = 0; r < larson_rounds; r++)
		pthread_barrier_wait(&larson_bar);
	uint64_t t1 = phb_now_ns();
	for (unsigned t = 0; t < LARSON_THREADS; t++)
		pthread_join(th[t], NULL);
	for (unsigned t = 0; t < LARSON_THREADS; t++)
		for (unsigned i = 0; i < LARSON_SLOTS; i++)
			free(larson_arrays[t][i]);
	double ops = (double)(LARSON_THREADS * larson_rounds * larson_ops_per_round);
	phb_result("mops_per_s", ops / ((double)(t1 - t0) / 1e9) / 1e6);
	alloc_ops(2 * (uint64_t)LARSON_THREADS * LARSON_SLOTS +
	          2 * (uint64_t)LARSON_THREADS * larson_rounds * larson_ops_per_round);
}

/* ------------------------------------------------------------------ */
/* workload 3: producer/consumer cross-thread frees                     */

/* Blocks travel in batches of XQ_BATCH through a ring of XQ_DEPTH batch
 * slots: the producer fills a batch, publishes it, the consumer frees the
 * whole batch.  Batches keep the hand-over cost out of the figure and make
 * the pattern of remote frees the same from run to run. */
#define XQ_BATCH 1024u
#define XQ_DEPTH 8u              /* power of two */
static void *xq[XQ_DEPTH][XQ_BATCH];
static _Atomic uint64_t xq_head, xq_tail;   /* batches published, consumed */
static uint64_t xq_total;                   /* batches */
static uint64_t xq_sum;

static void *x_producer(void *arg)
{
	uint64_t s = 777, n = 0;
	for (uint64_t b = 0; b < xq_total; b++) {
		while (b - atomic_load_explicit(&xq_tail, memory_order_acquire) >= XQ_DEPTH)
			sched_yield();
		void **slot = xq[b & (XQ_DEPTH - 1)];
		for (unsigned i = 0; i < XQ_BATCH; i++, n++) {
			size_t sz = 16 + (size_t)(phb_rand(&s) % 497);
			uint64_t *p = malloc(sz);
			if (!p)
				abort();
			p[0] = n;
			slot[i] = p;
		}
		atomic_store_explicit(&xq_head, b + 1, memory_order_release);
	}
	return arg;
}

static void *x_consumer(void *arg)
{
	uint64_t sum = 0;
	for (uint64_t b = 0; b < xq_total; b++) {
		while (atomic_load_explicit(&xq_head, memory_order_acquire) <= b)
			sched_yield();
		void **slot = xq[b & (XQ_DEPTH - 1)];
		for (unsigned i = 0; i < XQ_BATCH; i++) {
			uint64_t *p = slot[i];
			sum += p[0];
			free(p);
		}
		atomic_store_explicit(&xq_tail, b + 1, memory_order_release);
	}
	xq_sum = sum;
	return arg;
}

static void w_xmalloc(void)
{
	pthread_t a, b;
	xq_total = scaled(3000000) / XQ_BATCH + 1;
	uint64_t t0 = phb_now_ns();
	pthread_create(&b, NULL, x_consumer, NULL);
	pthread_create(&a, NULL, x_producer, NULL);
	pthread_join(a, NULL);
	pthread_join(b, NULL);
	uint64_t t1 = phb_now_ns();
	uint64_t blocks = xq_total * XQ_BATCH;
	if (xq_sum != blocks * (blocks - 1) / 2) {
		fprintf(stderr, "phb: xmalloc checksum mismatch\n");
		exit(1);
	}
	phb_result("mblocks_per_s", (double)blocks / ((double)(t1 - t0) / 1e9) / 1e6);
	alloc_ops(2 * blocks);
}

/* ------------------------------------------------------------------ */
/* workload 4: false sharing, cache-scratch style                       */

#define SCR_THREADS 2
#define SCR_OBJ 8
static char *scr_obj[SCR_THREADS];
static uint64_t scr_iters, scr_reps;

static void *scr_thread(void *arg)
{
	unsigned tid = (unsigned)(uintptr_t)arg;
	/* free the object the main thread allocated next to the other
	 * thread's, then work on fresh objects: an allocator that hands the
	 * freed neighbour back makes the two threads share a cache line */
	free(scr_obj[tid]);
	for (uint64_t i = 0; i < scr_iters; i++) {
		volatile char *p = malloc(SCR_OBJ);
		if (!p)
			abort();
		for (uint64_t r = 0; r < scr_reps; r++)
			for (unsigned k = 0; k < SCR_OBJ; k++) {
				p[k] = (char)k;
				volatile char c = p[k];
				c++;
			}
		free((void *)p);
	}
	return NULL;
}

static void w_scratch(void)
{
	pthread_t th[SCR_THREADS];
	scr_iters = 1000;
	scr_reps = scaled(20000);
	for (unsigned t = 0; t < SCR_THREADS; t++)
		scr_obj[t] = xmalloc(SCR_OBJ);
	uint64_t t0 = phb_now_ns();
	for (unsigned t = 0; t < SCR_THREADS; t++)
		pthread_create(&th[t], NULL, scr_thread, (void *)(uintptr_t)t);
	for (unsigned t = 0; t < SCR_THREADS; t++)
		pthread_join(th[t], NULL);
	uint64_t t1 = phb_now_ns();
	phb_result("ms", (double)(t1 - t0) / 1e6);
	alloc_ops(2 * (uint64_t)SCR_THREADS + 2 * (uint64_t)SCR_THREADS * scr_iters);
}

/* ------------------------------------------------------------------ */
/* workload 5: size mix, growing reallocs, large blocks                 */

#define MIX_SLOTS 64
static void touch_pages(char *p, size_t sz)
{
	for (size_t o = 0; o < sz; o += 4096)
		p[o] = 1;
	p[sz - 1] = 1;
}

static void w_sizemix(void)
{
	void *slots[MIX_SLOTS] = { 0 };
	uint64_t s = 31337, nops = scaled(30000), reallocs = 0;
	uint64_t t0 = phb_now_ns();
	for (uint64_t op = 0; op < nops; op++) {
		uint64_t x = phb_rand(&s);
		unsigned idx = (unsigned)(x % MIX_SLOTS);
		unsigned kind = (unsigned)((x >> 16) % 100);
		free(slots[idx]);
		char *p;
		if (kind < 70) {                 /* small */
			size_t sz = 16 + (size_t)((x >> 32) % 4081);
			p = xmalloc(sz);
			p[0] = 1;
			p[sz - 1] = 1;
		} else if (kind < 95) {          /* a vector growing by 1.5x */
			size_t target = (size_t)4096 << ((x >> 32) % 9); /* 4 KiB..1 MiB */
			size_t sz = 64;
			p = xmalloc(sz);
			p[0] = 1;
			while (sz < target) {
				size_t nsz = sz + sz / 2;
				p = realloc(p, nsz);
				if (!p)
					abort();
				reallocs++;
				memset(p + sz, 2, nsz - sz);  /* push_back fills the new part */
				sz = nsz;
			}
		} else {                         /* large: 64 KiB..16 MiB, about log-uniform */
			size_t base = (size_t)65536 << ((x >> 32) % 8);   /* 64 KiB..8 MiB */
			size_t sz = base + base * ((x >> 40) % 1024) / 1024; /* ..16 MiB */
			p = xmalloc(sz);
			touch_pages(p, sz);
		}
		slots[idx] = p;
	}
	for (unsigned i = 0; i < MIX_SLOTS; i++)
		free(slots[i]);
	uint64_t t1 = phb_now_ns();
	phb_result("ms", (double)(t1 - t0) / 1e6);
	alloc_ops(2 * nops + reallocs + MIX_SLOTS);
}

/* ------------------------------------------------------------------ */
/* workload 6: fragmentation and memory                                 */

static void w_frag(void)
{
	uint64_t s = 4242;
	size_t target = (size_t)scaled(128) << 20;  /* bytes allocated in phase 1 */
	size_t maxn = target / 16 + 1, n = 0, live = 0;
	void **v = map_anon(maxn * sizeof(void *));
	uint16_t *vsz = map_anon(maxn * sizeof(uint16_t));
	uint64_t t0 = phb_now_ns();
	/* phase 1: fill with small blocks of mixed sizes */
	for (size_t total = 0; total < target; n++) {
		size_t sz = 16 + (size_t)(phb_rand(&s) % 2033);
		char *p = xmalloc(sz);
		memset(p, 1, sz < 64 ? sz : 64);
		v[n] = p;
		vsz[n] = (uint16_t)sz;
		total += sz;
		live += sz;
	}
	long rss_full = phb_status_kb("VmRSS");
	/* phase 2: free 90%, keeping every tenth block, so that most pages
	 * keep one live block */
	for (size_t i = 0; i < n; i++)
		if (i % 10) {
			live -= vsz[i];
			free(v[i]);
			v[i] = NULL;
		}
	long rss_freed = phb_status_kb("VmRSS");
	/* phase 3: refill half the freed volume with other sizes */
	size_t refill = target / 2, m = 0;
	void **w = map_anon((refill / 1024 + 1) * sizeof(void *));
	for (size_t total = 0; total < refill; m++) {
		size_t sz = 1024 + (size_t)(phb_rand(&s) % 7169);   /* 1..8 KiB */
		char *p = xmalloc(sz);
		memset(p, 2, sz < 64 ? sz : 64);
		w[m] = p;
		total += sz;
	}
	long rss_refill = phb_status_kb("VmRSS");
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	for (size_t i = 0; i < m; i++)
		free(w[i]);
	uint64_t t1 = phb_now_ns();
	long rss_end = phb_status_kb("VmRSS");
	long hwm = phb_status_kb("VmHWM");
	printf("RESULT metric=peak_rss_mib value=%.1f hwm_kb=%ld\n", hwm / 1024.0, hwm);
	printf("RESULT metric=rss_full_mib value=%.1f hwm_kb=%ld\n", rss_full / 1024.0, hwm);
	printf("RESULT metric=rss_after_free_mib value=%.1f hwm_kb=%ld\n", rss_freed / 1024.0, hwm);
	printf("RESULT metric=rss_after_refill_mib value=%.1f hwm_kb=%ld\n", rss_refill / 1024.0, hwm);
	printf("RESULT metric=rss_end_mib value=%.1f hwm_kb=%ld\n", rss_end / 1024.0, hwm);
	printf("RESULT metric=ms value=%.1f hwm_kb=%ld\n", (double)(t1 - t0) / 1e6, hwm);
	printf("INFO frag_phase1_mib=%.1f live_after_free_mib=%.1f refill_mib=%.1f\n",
	       target / 1048576.0, live / 1048576.0, refill / 1048576.0);
	alloc_ops(2 * (uint64_t)(n + m));
}

/* ------------------------------------------------------------------ */
/* workload 10: fork cost -- a process holding 2,000 live blocks (and 3
 * threads that allocated, so that their caches exist) forks; the child
 * mallocs, writes, frees and exits; the parent waits.  What the
 * allocator's at-fork work costs, in both processes.                   */

#define FORK_LIVE 2000
static void *fork_thread(void *arg)
{
	void **keep = arg;
	for (unsigned i = 0; i < 64; i++) {
		keep[i] = xmalloc(24 + i * 40);
		memset(keep[i], 1, 24 + i * 40);
	}
	return NULL;
}

/* Lines of /proc/self/maps: the mappings (VMAs) a fork duplicates. */
static long maps_lines(void)
{
	char line[512];
	long n = 0;
	FILE *f = fopen("/proc/self/maps", "r");
	if (!f)
		return -1;
	while (fgets(line, sizeof line, f))
		if (strchr(line, '\n'))
			n++;
	fclose(f);
	return n;
}

static void w_fork(void)
{
	static void *live[FORK_LIVE], *theirs[3][64];
	for (unsigned i = 0; i < FORK_LIVE; i++) {
		live[i] = xmalloc(16 + i % 1000 * 8);
		memset(live[i], 1, 16 + i % 1000 * 8);
	}
	pthread_t th[3];
	for (unsigned t = 0; t < 3; t++)
		pthread_create(&th[t], NULL, fork_thread, theirs[t]);
	for (unsigned t = 0; t < 3; t++)
		pthread_join(th[t], NULL);
	/* What a fork copies: page tables (VmPTE), mappings, resident pages. */
	long pte_kb = phb_status_kb("VmPTE"), rss_kb = phb_status_kb("VmRSS");
	long vmas = maps_lines();
	uint64_t n = scaled(2000), child_minflt = 0;
	uint64_t t0 = phb_now_ns();
	for (uint64_t i = 0; i < n; i++) {
		pid_t pid = fork();
		if (pid == 0) {
			char *p = xmalloc(100);
			memset(p, 2, 100);
			free(p);
			_exit(0);
		}
		struct rusage ru;
		if (pid < 0 || wait4(pid, NULL, 0, &ru) != pid) {
			fprintf(stderr, "phb fork: fork or wait4 failed\n");
			exit(1);
		}
		child_minflt += (uint64_t)ru.ru_minflt;
	}
	uint64_t t1 = phb_now_ns();
	phb_result("us_per_fork", (double)(t1 - t0) / 1e3 / (double)n);
	printf("INFO fork_vmpte_kb=%ld fork_vmas=%ld fork_rss_kb=%ld "
	    "fork_child_minflt=%.1f\n", pte_kb, vmas, rss_kb,
	    (double)child_minflt / (double)n);
	for (unsigned i = 0; i < FORK_LIVE; i++)
		free(live[i]);
	/* the threads' blocks stay allocated; each child mallocs and frees one */
	alloc_ops(2 * (uint64_t)FORK_LIVE + 3 * 64 + 2 * n);
}

/* ------------------------------------------------------------------ */
/* workload 11: aligned small blocks, 2 threads (rptest-like)           */

/* Each thread keeps a short ring of MA_SLOTS live blocks of 16..512 B;
 * each step frees the oldest block and allocates a new one, half of the
 * time with memalign(8, 16, 32 or 64, size), else with malloc.  Blocks
 * live MA_SLOTS steps: the figure is the aligned path beside the plain
 * one, not a large working set (W12 is that).  Every aligned block's
 * address is checked. */
#define MA_THREADS 2
#define MA_SLOTS 64u             /* power of two */
static pthread_barrier_t ma_bar;
static uint64_t ma_steps;        /* per thread */

static void *ma_thread(void *arg)
{
	unsigned tid = (unsigned)(uintptr_t)arg;
	void *slot[MA_SLOTS] = { 0 };
	uint64_t s = 0x5eed0011ull * (tid + 1);
	pthread_barrier_wait(&ma_bar);
	for (uint64_t i = 0; i < ma_steps; i++) {
		uint64_t x = phb_rand(&s);
		uint32_t k = (uint32_t)i & (MA_SLOTS - 1);
		size_t sz = 16 + (size_t)((x >> 8) % 497);
		char *p;
		free(slot[k]);
		if (x & 1) {
			size_t align = (size_t)8 << ((x >> 1) & 3);
			p = memalign(align, sz);
			if (p && ((uintptr_t)p & (align - 1))) {
				fprintf(stderr, "phb memalign: %p is not %zu-aligned\n",
				        (void *)p, align);
				exit(1);
			}
		} else {
			p = malloc(sz);
		}
		if (!p)
			abort();
		p[0] = (char)i;
		p[sz - 1] = (char)i;
		slot[k] = p;
	}
	pthread_barrier_wait(&ma_bar);
	for (uint32_t k = 0; k < MA_SLOTS; k++)
		free(slot[k]);
	return NULL;
}

static void w_memalign(void)
{
	pthread_t th[MA_THREADS];
	ma_steps = scaled(10000000);
	pthread_barrier_init(&ma_bar, NULL, MA_THREADS + 1);
	for (unsigned t = 0; t < MA_THREADS; t++)
		pthread_create(&th[t], NULL, ma_thread, (void *)(uintptr_t)t);
	pthread_barrier_wait(&ma_bar);
	uint64_t t0 = phb_now_ns();
	pthread_barrier_wait(&ma_bar);
	uint64_t t1 = phb_now_ns();
	for (unsigned t = 0; t < MA_THREADS; t++)
		pthread_join(th[t], NULL);
	double steps = (double)(MA_THREADS * ma_steps);
	phb_result("mops_per_s", steps / ((double)(t1 - t0) / 1e9) / 1e6);
	/* the first MA_SLOTS frees of a thread are free(NULL): calls all the same */
	alloc_ops((uint64_t)MA_THREADS * (2 * ma_steps + MA_SLOTS));
}

/* ------------------------------------------------------------------ */
/* workload 12: a large working set in every size class (glibc-simple-like) */

/* CL_N size classes are all live at once, class c with cl_live(c)
 * blocks (400..1600, not in the order of the sizes); each step takes one
 * class, frees all its blocks and allocates them again.  A thread cache
 * holds far fewer than 400 blocks of a class, so most of these frees and
 * mallocs go past it to the shared free lists.  Frees go in allocation
 * order on even passes and in reverse on odd ones. */
#define CL_N 14
#define CL_MAX 1600
static const uint32_t cl_size[CL_N] = {
	16, 32, 48, 64, 96, 128, 192, 256, 384, 512, 768, 1024, 1536, 2048
};
static void *cl_block[CL_N][CL_MAX];

static uint32_t cl_live(unsigned c)
{
	return 400 + (uint32_t)(c * 5 % 13) * 100;   /* 400..1600 */
}

static void cl_fill(unsigned c)
{
	for (uint32_t i = 0; i < cl_live(c); i++) {
		char *p = xmalloc(cl_size[c]);
		p[0] = (char)i;
		cl_block[c][i] = p;
	}
}

static void cl_empty(unsigned c, int reverse)
{
	uint32_t n = cl_live(c);
	for (uint32_t i = 0; i < n; i++)
		free(cl_block[c][reverse ? n - 1 - i : i]);
}

__attribute__((noinline)) static void cl_pass(int reverse)
{
	for (unsigned c = 0; c < CL_N; c++) {
		cl_empty(c, reverse);
		cl_fill(c);
	}
}

static void w_classes(void)
{
	uint64_t live = 0;
	for (unsigned c = 0; c < CL_N; c++) {
		live += cl_live(c);
		cl_fill(c);
	}
	uint64_t passes = scaled(20000000) / live + 1;
	cl_pass(1);                                   /* warm-up, not timed */
	uint64_t t0 = phb_now_ns();
	for (uint64_t k = 0; k < passes; k++)
		cl_pass((int)(k & 1));
	uint64_t t1 = phb_now_ns();
	for (unsigned c = 0; c < CL_N; c++)
		cl_empty(c, 0);
	phb_result("ns_per_pair", (double)(t1 - t0) / (double)(passes * live));
	alloc_ops(2 * live * (passes + 2));
}

/* ------------------------------------------------------------------ */
/* workload 13: producer/consumer, blocks streamed one at a time        */

/* W3 hands over batches of 1024 blocks; here the producer writes single
 * blocks of 16..4096 B into a ring of HO_SLOTS pointers and publishes its
 * position every HO_PUBLISH blocks, and the consumer frees each block as
 * soon as it sees it.  So the consumer's remote frees land while the
 * producer still carves the same pages, and fewer than HO_SLOTS blocks
 * are in flight at any time. */
#define HO_SLOTS 4096u           /* power of two */
#define HO_PUBLISH 32u
static void *ho_ring[HO_SLOTS];
static _Atomic uint64_t ho_head, ho_tail;   /* blocks published, blocks freed */
static uint64_t ho_total, ho_sum;

static void *ho_producer(void *arg)
{
	uint64_t s = 0x0dd5eedull, tail = 0;
	for (uint64_t i = 0; i < ho_total; i++) {
		while (i - tail >= HO_SLOTS) {
			tail = atomic_load_explicit(&ho_tail, memory_order_acquire);
			if (i - tail >= HO_SLOTS)
				sched_yield();
		}
		size_t sz = 16 + (size_t)(phb_rand(&s) % 4081);
		uint64_t *p = malloc(sz);
		if (!p)
			abort();
		p[0] = i;
		ho_ring[i & (HO_SLOTS - 1)] = p;
		if ((i + 1) % HO_PUBLISH == 0 || i + 1 == ho_total)
			atomic_store_explicit(&ho_head, i + 1, memory_order_release);
	}
	return arg;
}

static void *ho_consumer(void *arg)
{
	uint64_t sum = 0, head = 0;
	for (uint64_t i = 0; i < ho_total; i++) {
		while (head <= i) {
			head = atomic_load_explicit(&ho_head, memory_order_acquire);
			if (head <= i)
				sched_yield();
		}
		uint64_t *p = ho_ring[i & (HO_SLOTS - 1)];
		sum += p[0];
		free(p);
		if ((i + 1) % HO_PUBLISH == 0 || i + 1 == ho_total)
			atomic_store_explicit(&ho_tail, i + 1, memory_order_release);
	}
	ho_sum = sum;
	return arg;
}

static void w_handoff(void)
{
	pthread_t a, b;
	ho_total = scaled(3000000);
	uint64_t t0 = phb_now_ns();
	pthread_create(&b, NULL, ho_consumer, NULL);
	pthread_create(&a, NULL, ho_producer, NULL);
	pthread_join(a, NULL);
	pthread_join(b, NULL);
	uint64_t t1 = phb_now_ns();
	if (ho_sum != ho_total * (ho_total - 1) / 2) {
		fprintf(stderr, "phb handoff: checksum mismatch\n");
		exit(1);
	}
	phb_result("mblocks_per_s", (double)ho_total / ((double)(t1 - t0) / 1e9) / 1e6);
	alloc_ops(2 * ho_total);
}

static void info(void)
{
	Dl_info di;
	void *(*fn)(size_t) = malloc;
	PHB_ESCAPE(fn);
	if (dladdr((void *)fn, &di) && di.dli_fname)
		printf("INFO malloc_lib=%s\n", di.dli_fname);
	else
		printf("INFO malloc_lib=unknown\n");
}

int main(int argc, char **argv)
{
	const char *w = argc > 1 ? argv[1] : "";
	scale = phb_scale(argc > 2 ? argv[2] : NULL);
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (!strcmp(w, "info"))
		info();
	else if (!strcmp(w, "clock"))
		printf("%llu\n", (unsigned long long)phb_now_ns());
	else if (!strcmp(w, "pair16"))
		w_ring(PAT_PAIR16);
	else if (!strcmp(w, "fifo256"))
		w_ring(PAT_FIFO256);
	else if (!strcmp(w, "ring"))
		w_ring(PAT_RING);
	else if (!strcmp(w, "larson"))
		w_larson();
	else if (!strcmp(w, "xmalloc"))
		w_xmalloc();
	else if (!strcmp(w, "scratch"))
		w_scratch();
	else if (!strcmp(w, "sizemix"))
		w_sizemix();
	else if (!strcmp(w, "frag"))
		w_frag();
	else if (!strcmp(w, "fork"))
		w_fork();
	else if (!strcmp(w, "memalign"))
		w_memalign();
	else if (!strcmp(w, "classes"))
		w_classes();
	else if (!strcmp(w, "handoff"))
		w_handoff();
	else {
		fprintf(stderr, "usage: phb info|clock|pair16|fifo256|ring|larson|"
		        "xmalloc|scratch|sizemix|frag|fork|memalign|classes|handoff "
		        "[SCALE]\n");
		return 2;
	}
	return 0;
}
