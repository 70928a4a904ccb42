/*
 * wake_latency.c -- how soon smalloc's sleeper wakes after another
 * process's free (make stress).  A figure, not a check: make check asserts
 * only that the sleeper wakes and gets the block (test_qmalloc.c); how
 * soon depends on the machine.  A waiter that only polled would come back
 * anywhere in its nap (qmalloc.c: SMALLOC_NAP_MS, 100 ms); a futex wake
 * brings it back within a scheduling delay.
 *
 *   wake_latency [ROUNDS]
 *
 * Prints the median, the 90th percentile and the largest latency in
 * microseconds, for a page run freed (a full heap) and for a small block
 * freed back to a slab.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <phmalloc.h>

#include "../asleep.h"

#define HEAP_BYTES  ((size_t)4 << 20)
#define BIG         ((size_t)256 << 10)
#define SMALL       ((size_t)64)

static uint64_t now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

/* Rounds of: a child waits until we sleep in smalloc, notes the time and
 * frees `block`; we note when smalloc returns.  Fills lat[]; -1 on error. */
static int measure(ph_heap_t *h, void *block, size_t want, int rounds,
                   uint64_t *lat)
{
	volatile uint64_t *freed_at = mmap(NULL, 4096, PROT_READ | PROT_WRITE,
	    MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (freed_at == MAP_FAILED)
		return -1;
	pid_t self = getpid();
	for (int i = 0; i < rounds; i++) {
		fflush(NULL);
		pid_t pid = fork();
		if (pid < 0)
			return -1;
		if (pid == 0) {
			wait_until_asleep(self, self);
			*freed_at = now_us();
			ph_heap_free(h, block);
			ph_heap_detach(h);   /* in case it went to a cache */
			_exit(0);
		}
		void *p = ph_heap_smalloc(h, want);
		uint64_t back = now_us();
		int st;
		if (waitpid(pid, &st, 0) != pid || p != block)
			return -1;
		lat[i] = back - *freed_at;
	}
	munmap((void *)freed_at, 4096);
	return 0;
}

static void report(const char *what, uint64_t *lat, int n)
{
	qsort(lat, (size_t)n, sizeof(*lat), cmp_u64);
	printf("smalloc wake latency, %s: median %llu us, p90 %llu us, max "
	    "%llu us (%d rounds)\n", what, (unsigned long long)lat[n / 2],
	    (unsigned long long)lat[n * 9 / 10], (unsigned long long)lat[n - 1],
	    n);
}

int main(int argc, char **argv)
{
	int rounds = argc > 1 ? atoi(argv[1]) : 50;
	if (rounds < 1)
		rounds = 1;
	uint64_t *lat = calloc((size_t)rounds, sizeof(*lat));
	for (int kind = 0; kind < 2 && lat != NULL; kind++) {
		void *m = mmap(NULL, HEAP_BYTES, PROT_READ | PROT_WRITE,
		    MAP_SHARED | MAP_ANONYMOUS, -1, 0);
		ph_heap_t *h = m == MAP_FAILED ? NULL :
		    ph_heap_create(m, HEAP_BYTES, PH_HEAP_SHARED);
		if (h == NULL) {
			fprintf(stderr, "wake_latency: no heap: %s\n",
			    strerror(errno));
			return 1;
		}
		size_t want = kind == 0 ? BIG : SMALL;
		void *block = ph_heap_malloc(h, want);
		while (ph_heap_malloc(h, want) != NULL)
			;
		while (kind == 0 && ph_heap_malloc(h, 16 << 10) != NULL)
			;
		if (block == NULL || measure(h, block, want, rounds, lat) != 0) {
			fprintf(stderr, "wake_latency: a round failed\n");
			return 1;
		}
		report(kind == 0 ? "a page run freed" : "a small block freed",
		    lat, rounds);
		ph_heap_detach(h);
		munmap(m, HEAP_BYTES);
	}
	free(lat);
	return 0;
}
