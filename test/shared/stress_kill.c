/*
 * stress_kill.c -- the long kill test (make stress): hundreds of SIGKILLs.
 *
 *   stress_kill [KILLS [WORKERS]]
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "killer.h"

/* A survivor that makes no progress this long after a kill counts as a
 * hang (robust waits come back every 50 ms: lock.c). */
#define STALL_LIMIT_MS 5000.0

int main(int argc, char **argv)
{
	int kills = argc > 1 ? atoi(argv[1]) : 500;
	int workers = argc > 2 ? atoi(argv[2]) : 4;
	char worker[PATH_MAX], name[64];
	ssize_t n = readlink("/proc/self/exe", worker, sizeof(worker) - 16);
	if (n <= 0)
		return 2;
	worker[n] = '\0';
	strcpy(strrchr(worker, '/') + 1, "ph_worker");
	snprintf(name, sizeof(name), "/phmalloc-stress-%d", (int)getpid());
	struct kill_result r;
	int rc = kill_run(worker, name, workers, kills, (unsigned)time(NULL),
	    STALL_LIMIT_MS, &r);
	printf("kill test: %d kills, %d hangs, %d corruptions, %llu repairs, "
	    "longest stall %.0f ms, reset gave back %.1f%% of the heap\n",
	    r.kills, r.hangs, r.corruptions, (unsigned long long)r.repairs,
	    r.max_stall_ms, r.capacity ? 100.0 * r.free_after_reset /
	    r.capacity : 0.0);
	return rc == 0 ? 0 : 1;
}
