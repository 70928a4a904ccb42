/*
 * shm_demo.c -- the main job: separately started processes share one heap.
 *
 * A coordinator creates a heap in a POSIX shm segment and, for each job,
 * starts worker processes by exec.  Each worker joins the heap (mapped at
 * the address the heap records), builds its results there as a linked list
 * of blocks and publishes the list's head through the job record under
 * root 0.  The coordinator follows those pointers, checks every value,
 * frees half of the blocks itself (frees across processes), checks the
 * heap, and wipes it with one reset before the next job.
 *
 *   shm_demo [-w WORKERS] [-n BLOCKS] [-j JOBS]
 *
 * The shm segment is removed at exit, and on SIGINT, SIGTERM or SIGHUP.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <phmalloc.h>

#define HEAP_MIN    ((size_t)64 << 20)
#define BLOCK_COST  1200      /* bytes a result block takes, at most */
#define MAX_WORKERS 64

struct result {
	struct result *next;
	uint32_t worker, seq;
	uint64_t value;
	uint32_t len;
	char text[];          /* len bytes of a pattern */
};

struct job {
	uint32_t id, nworkers, nblocks;
	_Atomic(struct result *) results[MAX_WORKERS];
};

extern char **environ;
static char shm_name[64];

static double now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static uint64_t value_of(uint32_t job, uint32_t worker, uint32_t seq)
{
	uint64_t x = ((uint64_t)job << 40) ^ ((uint64_t)worker << 20) ^ seq;
	x *= 0x9e3779b97f4a7c15ull;
	return x ^ (x >> 29);
}

static void die(const char *what)
{
	fprintf(stderr, "shm_demo: %s: %s\n", what, strerror(errno));
	exit(1);
}

/* ---- worker ---------------------------------------------------------------- */

static int worker_main(const char *name, uint32_t index)
{
	ph_heap_t *h = ph_heap_open(name, NULL, 0, 0);
	if (h == NULL)
		die("worker: ph_heap_open");
	struct job *jb = ph_heap_get_root(h, 0);
	if (jb == NULL || index >= jb->nworkers)
		die("worker: no job under root 0");
	struct result *head = NULL;
	for (uint32_t seq = 0; seq < jb->nblocks; seq++) {
		uint64_t v = value_of(jb->id, index, seq);
		uint32_t len = 16 + (uint32_t)(v % 1000);
		/* Some scratch work in the heap that is freed at once. */
		void *scratch = ph_heap_malloc(h, 64 + v % 4000);
		struct result *r = ph_heap_malloc(h, sizeof(*r) + len);
		if (r == NULL || scratch == NULL)
			die("worker: ph_heap_malloc");
		ph_heap_free(h, scratch);
		r->worker = index;
		r->seq = seq;
		r->value = v;
		r->len = len;
		memset(r->text, 'a' + (int)(v % 26), len);
		r->next = head;
		head = r;
	}
	atomic_store(&jb->results[index], head);
	return ph_heap_close(h);
}

/* ---- coordinator ------------------------------------------------------------- */

static void on_signal(int sig)
{
	shm_unlink(shm_name);     /* async-signal-safe */
	signal(sig, SIG_DFL);
	raise(sig);
}

static void cleanup(void)
{
	shm_unlink(shm_name);
}

static pid_t start_worker(const char *self, uint32_t index)
{
	char idx[16];
	snprintf(idx, sizeof(idx), "%u", index);
	char *argv[] = { (char *)self, "--worker", shm_name, idx, NULL };
	pid_t pid;
	errno = posix_spawn(&pid, self, NULL, NULL, argv, environ);
	if (errno)
		die("posix_spawn");
	return pid;
}

/* Walks one worker's list; checks every block; frees every other one. */
static int check_results(ph_heap_t *h, struct job *jb, uint32_t w,
                         size_t *blocks, size_t *bytes)
{
	uint32_t expect = jb->nblocks;
	struct result *r = atomic_load(&jb->results[w]), *next;
	for (; r; r = next) {
		next = r->next;
		expect--;
		if (r->worker != w || r->seq != expect ||
		    r->value != value_of(jb->id, w, expect) ||
		    r->text[r->len - 1] != 'a' + (int)(r->value % 26)) {
			fprintf(stderr, "shm_demo: bad result %u/%u\n", w,
			    expect);
			return 1;
		}
		(*blocks)++;
		*bytes += sizeof(*r) + r->len;
		if (expect % 2)
			ph_heap_free(h, r);   /* allocated by the worker */
	}
	return expect != 0;
}

static void fmt_bytes(char *buf, size_t n, size_t v)
{
	if (v >= (1u << 20))
		snprintf(buf, n, "%.1f MiB", v / 1048576.0);
	else if (v >= 1024)
		snprintf(buf, n, "%.1f KiB", v / 1024.0);
	else
		snprintf(buf, n, "%zu B", v);
}

int main(int argc, char **argv)
{
	if (argc == 4 && strcmp(argv[1], "--worker") == 0)
		return worker_main(argv[2], (uint32_t)atoi(argv[3]));

	uint32_t nworkers = 4, nblocks = 10000, njobs = 2;
	int opt;
	while ((opt = getopt(argc, argv, "w:n:j:")) != -1) {
		switch (opt) {
		case 'w': nworkers = (uint32_t)atoi(optarg); break;
		case 'n': nblocks = (uint32_t)atoi(optarg); break;
		case 'j': njobs = (uint32_t)atoi(optarg); break;
		default:
			fprintf(stderr, "usage: shm_demo [-w WORKERS] "
			    "[-n BLOCKS] [-j JOBS]\n");
			return 2;
		}
	}
	if (nworkers < 1 || nworkers > MAX_WORKERS || nblocks < 1 ||
	    njobs < 1) {
		fprintf(stderr, "shm_demo: 1..%d workers, at least 1 block "
		    "and 1 job\n", MAX_WORKERS);
		return 2;
	}
	char self[4096];
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (n < 0)
		die("readlink /proc/self/exe");
	self[n] = '\0';

	snprintf(shm_name, sizeof(shm_name), "/phmalloc-demo-%d",
	    (int)getpid());
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	signal(SIGHUP, on_signal);
	atexit(cleanup);
	size_t heap_size = (size_t)nworkers * nblocks * BLOCK_COST;
	heap_size = ((heap_size + HEAP_MIN) + (1u << 20) - 1) & ~(size_t)0xfffff;
	ph_heap_t *h = ph_heap_open(shm_name, NULL, heap_size,
	    PH_HEAP_CREATE | PH_HEAP_EXCL);
	if (h == NULL)
		die("ph_heap_open");
	printf("phmalloc shared-heap demo: heap %s, %zu MiB at %p; %u "
	    "workers started by exec per job\n", shm_name, heap_size >> 20,
	    (void *)h, nworkers);

	size_t total_blocks = 0, total_bytes = 0;
	double t_all = now_ms();
	for (uint32_t j = 1; j <= njobs; j++) {
		double t0 = now_ms();
		struct job *jb = ph_heap_calloc(h, 1, sizeof(*jb));
		if (jb == NULL)
			die("ph_heap_calloc");
		jb->id = j;
		jb->nworkers = nworkers;
		jb->nblocks = nblocks;
		ph_heap_set_root(h, 0, jb);

		pid_t pids[MAX_WORKERS];
		for (uint32_t w = 0; w < nworkers; w++)
			pids[w] = start_worker(self, w);
		int failed = 0;
		for (uint32_t w = 0; w < nworkers; w++) {
			int st;
			if (waitpid(pids[w], &st, 0) != pids[w] ||
			    !WIFEXITED(st) || WEXITSTATUS(st) != 0)
				failed = 1;
		}
		size_t blocks = 0, bytes = 0;
		for (uint32_t w = 0; !failed && w < nworkers; w++)
			failed = check_results(h, jb, w, &blocks, &bytes);
		if (failed || ph_heap_check(h) != 0) {
			fprintf(stderr, "shm_demo: job %u failed\n", j);
			return 1;
		}
		struct ph_heap_stats before, after;
		ph_heap_stats(h, &before);
		double tr = now_ms();
		ph_heap_reset(h);
		tr = now_ms() - tr;
		ph_heap_stats(h, &after);
		char b1[32], b2[32], b3[32];
		fmt_bytes(b1, sizeof(b1), bytes);
		fmt_bytes(b2, sizeof(b2), before.active);
		fmt_bytes(b3, sizeof(b3), after.active);
		printf("job %u: %u workers, %zu blocks (%s) checked in %.0f ms; "
		    "heap in use %s -> %s after reset (%.3f ms)\n", j, nworkers,
		    blocks, b1, now_ms() - t0, b2, b3, tr);
		total_blocks += blocks;
		total_bytes += bytes;
	}
	char tb[32];
	fmt_bytes(tb, sizeof(tb), total_bytes);
	printf("total: %u jobs, %zu blocks, %s in %.0f ms; heap consistent; "
	    "segment %s removed\n", njobs, total_blocks, tb,
	    now_ms() - t_all, shm_name);
	ph_heap_close(h);
	return 0;
}
