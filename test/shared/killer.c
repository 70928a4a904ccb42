/*
 * killer.c -- the kill test's driver (see killer.h).
 *
 * After every kill: ph_heap_check must pass (it takes the lock, so a heap
 * left half written by the victim is repaired first), ph_heap_recover takes
 * back the victim's caches, and every survivor must finish another round
 * within STALL_LIMIT_MS.  Then a replacement is started.
 */
#include <errno.h>
#include <signal.h>
#include <spawn.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <phmalloc.h>

#include "killer.h"
#include "shared.h"

#define HEAP_SIZE      ((size_t)1 << 30)   /* sparse: only what is used */
#define MAX_WORKERS    16

extern char **environ;

static double now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static pid_t start(const char *worker, const char *name, unsigned tag)
{
	char t[16];
	snprintf(t, sizeof(t), "%u", tag);
	char *argv[] = { (char *)worker, "hammer", (char *)name, t, NULL };
	pid_t pid;
	if (posix_spawn(&pid, worker, NULL, NULL, argv, environ) != 0)
		return -1;
	return pid;
}

/* Did the worker die on its own (it found bad data)?  Reaps it if so.  A
 * worker that never started (pid -1) counts as dead, and is never passed
 * to waitpid or kill, where -1 means every child or every process. */
static int died_on_its_own(pid_t pid)
{
	int st;
	return pid <= 0 || waitpid(pid, &st, WNOHANG) == pid;
}

int kill_run(const char *worker, const char *name, int nworkers, int kills,
             unsigned seed, double stall_limit_ms, struct kill_result *r)
{
	memset(r, 0, sizeof(*r));
	if (nworkers < 1 || nworkers > MAX_WORKERS)
		return -1;
	shm_unlink(name);
	ph_heap_t *h = ph_heap_open(name, NULL, HEAP_SIZE, PH_HEAP_CREATE |
	    PH_HEAP_EXCL);
	if (h == NULL)
		return -1;
	struct mailbox *mb = ph_heap_calloc(h, 1, sizeof(*mb));
	ph_heap_set_root(h, 0, mb);

	pid_t pid[MAX_WORKERS];
	unsigned tag[MAX_WORKERS], next_tag = 1;
	for (int i = 0; i < nworkers; i++) {
		tag[i] = next_tag++;
		pid[i] = start(worker, name, tag[i]);
	}
	srandom(seed);
	for (int k = 0; k < kills; k++) {
		usleep(2000 + (unsigned)(random() % 30000));
		int v = (int)(random() % nworkers);
		if (died_on_its_own(pid[v])) {
			r->corruptions++;
		} else {
			kill(pid[v], SIGKILL);
			waitpid(pid[v], NULL, 0);
			r->kills++;
		}
		ph_heap_recover(h);
		if (ph_heap_check(h) != 0)
			r->corruptions++;

		/* Every survivor finishes a round (within the limit, if
		 * there is one). */
		uint64_t before[MAX_WORKERS];
		for (int i = 0; i < nworkers; i++)
			before[i] = atomic_load(&mb->progress[tag[i] % 64]);
		double t0 = now_ms(), waited = 0;
		bool hung = false;
		for (int i = 0; i < nworkers && !hung; i++) {
			if (i == v || pid[i] <= 0)
				continue;   /* killed, or never started */
			while (atomic_load(&mb->progress[tag[i] % 64]) ==
			    before[i] && !hung) {
				usleep(500);
				waited = now_ms() - t0;
				hung = stall_limit_ms > 0 &&
				    waited >= stall_limit_ms;
			}
		}
		r->hangs += hung;
		if (waited > r->max_stall_ms)
			r->max_stall_ms = waited;
		tag[v] = next_tag++;
		pid[v] = start(worker, name, tag[v]);
	}
	for (int i = 0; i < nworkers; i++) {
		if (died_on_its_own(pid[i])) {
			r->corruptions++;
			continue;
		}
		kill(pid[i], SIGKILL);
		waitpid(pid[i], NULL, 0);
	}
	if (ph_heap_check(h) != 0)
		r->corruptions++;
	ph_heap_recover(h);
	struct ph_heap_stats st;
	ph_heap_stats(h, &st);
	r->repairs = st.repairs;
	ph_heap_reset(h);
	ph_heap_stats(h, &st);
	r->free_after_reset = st.largest_free;
	r->capacity = st.size - st.metadata;
	if (ph_heap_check(h) != 0)
		r->corruptions++;
	ph_heap_close(h);
	shm_unlink(name);
	return r->hangs == 0 && r->corruptions == 0 &&
	    r->free_after_reset * 10 >= r->capacity * 9 ? 0 : 1;
}
