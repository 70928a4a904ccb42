/*
 * bench/phb_phshm.c -- phmalloc's shared heap, driven by separately started
 * processes (workload 7) and reset against freeing (workload 8).
 *
 *   phb_phshm create NAME SIZE_MIB [BASE]   format a heap in POSIX shm NAME
 *   phb_phshm run NAME START_NS DUR_MS      join it, run the ring workload
 *   phb_phshm unlink NAME                   remove the shm object
 *   phb_phshm reset NAME NBLOCKS SIZE_MIB [BASE]
 *        create a heap, fill it with NBLOCKS small blocks, time
 *        ph_heap_reset; fill it again, time freeing the blocks one by one
 *
 * Written against include/phmalloc.h only (the ph_heap_* calls exist in
 * every build).  Any failure of the heap calls prints "UNAVAILABLE reason"
 * and exits 3, so that the harness reports the path as not available
 * instead of a number.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "phmalloc.h"
#include "phb_common.h"

#define DEFAULT_BASE 0x600000000000ull

static void unavailable(const char *what, int err)
{
	printf("UNAVAILABLE %s: %s\n", what, strerror(err));
	exit(PHB_EXIT_UNAVAILABLE);
}

static void *base_arg(int argc, char **argv, int i)
{
	const char *e = getenv("PHB_BASE");
	unsigned long long b = DEFAULT_BASE;
	if (argc > i)
		b = strtoull(argv[i], NULL, 0);
	else if (e)
		b = strtoull(e, NULL, 0);
	return (void *)(uintptr_t)b;
}

static ph_heap_t *create(const char *name, size_t size, void *base)
{
	errno = 0;
	ph_heap_t *h = ph_heap_open(name, base, size,
	                            PH_HEAP_CREATE | PH_HEAP_EXCL | PH_HEAP_SHARED);
	if (!h)
		unavailable("ph_heap_open(create)", errno ? errno : EIO);
	return h;
}

static int cmd_create(int argc, char **argv)
{
	size_t size = (size_t)strtoull(argv[3], NULL, 0) << 20;
	ph_heap_t *h = create(argv[2], size, base_arg(argc, argv, 4));
	int rc = ph_heap_close(h);
	if (rc)
		unavailable("ph_heap_close", rc);
	return 0;
}

static uint32_t sizes[PHB_NSIZES];
static void *ring[PHB_RING];

static int cmd_run(int argc, char **argv)
{
	uint64_t start = strtoull(argv[3], NULL, 0);
	uint64_t dur = strtoull(argv[4], NULL, 0) * 1000000ull;
	uint64_t ops, ns;
	errno = 0;
	ph_heap_t *h = ph_heap_open(argv[2], NULL, 0, PH_HEAP_SHARED);
	if (!h)
		unavailable("ph_heap_open(join)", errno ? errno : EIO);
	phb_fill_sizes(sizes, 16, 512, (uint64_t)getpid());
#define PH_A(sz) ph_heap_malloc(h, (sz))
#define PH_F(p) ph_heap_free(h, (p))
	PHB_RING_TIMED(PH_A, PH_F, ring, sizes, start, dur, &ops, &ns);
	phb_result("ops_per_s", (double)ops / ((double)ns / 1e9));
	int rc = ph_heap_close(h);
	if (rc)
		unavailable("ph_heap_close", rc);
	return 0;
}

static int cmd_unlink(char **argv)
{
	if (shm_unlink(argv[2]) && errno != ENOENT) {
		perror("phb_phshm: shm_unlink");
		return 1;
	}
	return 0;
}

static void fill(ph_heap_t *h, void **v, size_t n, uint64_t seed)
{
	uint64_t s = seed;
	for (size_t i = 0; i < n; i++) {
		size_t sz = 16 + (size_t)(phb_rand(&s) % 241);   /* 16..256 B */
		char *p = ph_heap_malloc(h, sz);
		if (!p)
			unavailable("ph_heap_malloc while filling", errno ? errno : ENOMEM);
		p[0] = (char)i;
		v[i] = p;
	}
}

static int cmd_reset(int argc, char **argv)
{
	const char *name = argv[2];
	size_t n = (size_t)strtoull(argv[3], NULL, 0);
	size_t size = (size_t)strtoull(argv[4], NULL, 0) << 20;
	void *base = base_arg(argc, argv, 5);
	void **v = mmap(NULL, n * sizeof(void *), PROT_READ | PROT_WRITE,
	                MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (v == MAP_FAILED)
		unavailable("mmap", errno);
	shm_unlink(name);
	errno = 0;
	ph_heap_t *h = ph_heap_open(name, base, size,
	                            PH_HEAP_CREATE | PH_HEAP_EXCL | PH_HEAP_SHARED);
	if (h) {
		printf("INFO heap=ph_heap_open(POSIX shm)\n");
	} else {
		/* reset does not depend on how the range was mapped: fall back
		 * to ph_heap_create on a shared anonymous mapping */
		int err = errno;
		void *m = mmap(base, size, PROT_READ | PROT_WRITE,
		               MAP_SHARED | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
		if (m == MAP_FAILED)
			unavailable("ph_heap_open(create), and mmap for ph_heap_create", err);
		errno = 0;
		h = ph_heap_create(m, size, PH_HEAP_SHARED | PH_HEAP_ZEROED);
		if (!h)
			unavailable("ph_heap_open(create) and ph_heap_create", errno ? errno : err);
		printf("INFO heap=ph_heap_create(shared anonymous mapping; ph_heap_open: %s)\n",
		       strerror(err));
	}

	uint64_t t0 = phb_now_ns();
	fill(h, v, n, 1);
	uint64_t t1 = phb_now_ns();
	ph_heap_reset(h);
	uint64_t t2 = phb_now_ns();
	int chk = ph_heap_check(h);
	if (chk)
		unavailable("ph_heap_check after ph_heap_reset", chk);
	fill(h, v, n, 2);
	uint64_t t3 = phb_now_ns();
	for (size_t i = 0; i < n; i++)
		ph_heap_free(h, v[i]);
	uint64_t t4 = phb_now_ns();

	printf("RESULT metric=alloc_first_ms value=%.3f\n", (double)(t1 - t0) / 1e6);
	printf("RESULT metric=reset_ms value=%.6f\n", (double)(t2 - t1) / 1e6);
	printf("RESULT metric=alloc_after_reset_ms value=%.3f\n", (double)(t3 - t2) / 1e6);
	phb_result("free_each_ms", (double)(t4 - t3) / 1e6);
	if (ph_heap_close(h))
		ph_heap_detach(h);
	shm_unlink(name);
	return 0;
}

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc >= 4 && !strcmp(argv[1], "create"))
		return cmd_create(argc, argv);
	if (argc >= 5 && !strcmp(argv[1], "run"))
		return cmd_run(argc, argv);
	if (argc >= 3 && !strcmp(argv[1], "unlink"))
		return cmd_unlink(argv);
	if (argc >= 5 && !strcmp(argv[1], "reset"))
		return cmd_reset(argc, argv);
	fprintf(stderr, "usage: phb_phshm create NAME SIZE_MIB [BASE] | run NAME START_NS DUR_MS"
	        " | unlink NAME | reset NAME NBLOCKS SIZE_MIB [BASE]\n");
	return 2;
}
