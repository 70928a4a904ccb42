/*
 * bench/phb_mm.c -- OSSP mm, the fork-children-only shared allocator, doing
 * the shared-heap ring workload (workload 7).  mm cannot be joined by an
 * unrelated process, so the parent creates the pool and forks the workers.
 *
 *   phb_mm run NPROC DUR_MS SIZE_MIB
 *
 * Each child prints one "RESULT metric=ops_per_s" line.
 */
#define _GNU_SOURCE
#include <sys/wait.h>
#include <unistd.h>

#include <mm.h>

#include "phb_common.h"

static uint32_t sizes[PHB_NSIZES];
static void *ring[PHB_RING];

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc < 5 || strcmp(argv[1], "run")) {
		fprintf(stderr, "usage: phb_mm run NPROC DUR_MS SIZE_MIB\n");
		return 2;
	}
	int nproc = atoi(argv[2]);
	uint64_t dur = strtoull(argv[3], NULL, 0) * 1000000ull;
	size_t size = (size_t)strtoull(argv[4], NULL, 0) << 20;
	if (size > mm_maxsize())
		size = mm_maxsize();
	MM *mm = mm_create(size, NULL);
	if (!mm) {
		printf("UNAVAILABLE mm_create: %s\n", mm_error());
		return PHB_EXIT_UNAVAILABLE;
	}
	uint64_t start = phb_now_ns() + 200000000ull;
	for (int i = 0; i < nproc; i++) {
		pid_t pid = fork();
		if (pid < 0) {
			perror("phb_mm: fork");
			return 1;
		}
		if (pid == 0) {
			uint64_t ops, ns;
			phb_fill_sizes(sizes, 16, 512, (uint64_t)getpid());
#define MM_A(sz) mm_malloc(mm, (sz))
#define MM_F(p) mm_free(mm, (p))
			PHB_RING_TIMED(MM_A, MM_F, ring, sizes, start, dur, &ops, &ns);
			phb_result("ops_per_s", (double)ops / ((double)ns / 1e9));
			_exit(0);
		}
	}
	int rc = 0, st;
	while (wait(&st) > 0)
		if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
			rc = WIFEXITED(st) ? WEXITSTATUS(st) : 1;
	mm_destroy(mm);
	return rc;
}
