/*
 * killer.h -- the kill test: processes started by exec hammer one shared
 * heap while the driver kills them with SIGKILL at random moments.
 */
#ifndef PH_TEST_KILLER_H
#define PH_TEST_KILLER_H

#include <stddef.h>
#include <stdint.h>

struct kill_result {
	int      kills;          /* workers killed with SIGKILL */
	int      hangs;          /* survivors that made no progress in time */
	int      corruptions;    /* failed checks, or workers that saw bad data */
	uint64_t repairs;        /* times the heap was repaired after a kill */
	double   max_stall_ms;   /* longest wait for all survivors to move */
	size_t   free_after_reset, capacity;
};

/* Runs the test with nworkers hammering at a time and `kills` kills.
 * After each kill every survivor must finish a round: a survivor that
 * makes no progress for stall_limit_ms counts as a hang (make stress
 * reports them); with stall_limit_ms 0 it is waited for without limit, so
 * that nothing depends on how the machine schedules (make check: a stuck
 * survivor hangs the test, and Check's timeout names it).  Returns 0 when
 * there was no hang, no corruption, and a reset at the end gave back at
 * least 90% of the heap. */
int kill_run(const char *worker, const char *shm_name, int nworkers,
             int kills, unsigned seed, double stall_limit_ms,
             struct kill_result *r);

#endif
