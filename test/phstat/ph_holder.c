/*
 * ph_holder.c -- a process that makes or joins a heap and holds it open
 * while test_phstat.py looks at it with phstat.
 *
 *   ph_holder create NAME SIZE   create the heap, fill it (see fill())
 *   ph_holder join NAME          join it, allocate a few blocks of its own
 *
 * Then it reads commands, one a line, on stdin and answers each with one
 * JSON line on stdout:
 *   stats    ph_heap_stats, the roots, what this process keeps live and
 *            whether it has thread caches
 *   recover  ph_heap_recover
 *   check    ph_heap_check
 *   churn MS start a thread that allocates and frees for MS milliseconds
 *   wait     wait for that thread to end
 *   lock     take the heap's lock (internal heap_lock) and keep it
 *   unlock   let it go
 *   tag      allocate one small and one large block and give each a
 *            malloc tag (the heap then holds a tag table)
 *   close    ph_heap_close, then exit
 * End of input exits without closing (as a process that dies would).
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdbool.h>
#include <time.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "phmalloc.h"
#include "internal.h"   /* heap_lock: linked with libphinternal */

static ph_heap_t *heap;
/* Blocks this process keeps live, by usable size. */
static struct { size_t size; unsigned n; } live[8];

static void keep(void *p)
{
	size_t us = ph_heap_usable_size(heap, p);
	for (unsigned i = 0; i < 8; i++)
		if (live[i].size == us || live[i].size == 0) {
			live[i].size = us;
			live[i].n++;
			return;
		}
}

static void *must(void *p, const char *what)
{
	if (p == NULL) {
		fprintf(stderr, "ph_holder: %s: %s\n", what, strerror(errno));
		exit(1);
	}
	return p;
}

/* 60 of 100 small blocks through the thread cache, 30 calloc'ed blocks of
 * 1000 bytes, two of three large blocks (a hole between them), roots 0
 * and 3. */
static void fill(void)
{
	void *small[100], *big[3];
	for (int i = 0; i < 100; i++)
		small[i] = must(ph_heap_malloc(heap, 48), "malloc 48");
	for (int i = 0; i < 100; i++)
		if (i % 5 < 2)
			ph_heap_free(heap, small[i]);
		else
			keep(small[i]);
	for (int i = 0; i < 30; i++)
		keep(must(ph_heap_calloc(heap, 1, 1000), "calloc 1000"));
	for (int i = 0; i < 3; i++)
		big[i] = must(ph_heap_malloc(heap, 100 << 10), "malloc 100K");
	ph_heap_free(heap, big[1]);
	keep(big[0]);
	keep(big[2]);
	ph_heap_set_root(heap, 0, small[2]);
	ph_heap_set_root(heap, 3, big[0]);
}

static void join_fill(void)
{
	void *p = NULL;
	for (int i = 0; i < 10; i++)
		keep(p = must(ph_heap_malloc(heap, 48), "malloc 48"));
	ph_heap_set_root(heap, 5, p);
}

static unsigned churn_ms;
static pthread_t churner;

static uint64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Keeps the heap's metadata changing: large blocks take the lock every
 * time, small ones move between the cache and the slabs.  Half the heap in
 * slabs first, so that a copy of it takes long enough to see the changes. */
static void *churn(void *arg)
{
	enum { NFILL = 6000 };
	static void *fillers[NFILL];
	for (int i = 0; i < NFILL; i++)
		fillers[i] = must(ph_heap_malloc(heap, 1200), "churn fill");
	/* At least one round, however late this thread runs. */
	uint64_t end = now_ms() + churn_ms, n = 0;
	do {
		void *big = must(ph_heap_malloc(heap, 64 << 10), "churn");
		void *small[64];
		for (int i = 0; i < 64; i++)
			small[i] = must(ph_heap_malloc(heap, 200), "churn");
		for (int i = 0; i < 64; i++)
			ph_heap_free(heap, small[i]);
		ph_heap_free(heap, big);
		n++;
	} while (now_ms() < end);
	for (int i = 0; i < NFILL; i++)
		ph_heap_free(heap, fillers[i]);
	return (void *)(uintptr_t)n;
}

static void print_stats(void)
{
	struct ph_heap_stats st;
	int err = ph_heap_stats(heap, &st);
	if (err) {
		printf("{\"error\": %d}\n", err);
		return;
	}
	printf("{\"pid\": %d, \"base\": %" PRIuPTR ", \"size\": %zu, "
	    "\"metadata\": %zu, \"allocated\": %zu, \"active\": %zu, "
	    "\"free\": %zu, \"largest_free\": %zu, \"dirty\": %zu, "
	    "\"backed\": %zu, \"epoch\": %" PRIu64 ", \"repairs\": %" PRIu64,
	    (int)getpid(), (uintptr_t)heap, st.size, st.metadata, st.allocated,
	    st.active, st.free, st.largest_free, st.dirty, st.backed, st.epoch,
	    st.repairs);
	bool built_tcache = false, opt_tcache = false;
	size_t len = sizeof(bool);
	PHMALLOC_FN(mallctl)("config.tcache", &built_tcache, &len, NULL, 0);
	len = sizeof(bool);
	PHMALLOC_FN(mallctl)("opt.tcache", &opt_tcache, &len, NULL, 0);
	printf(", \"tcache\": %s", built_tcache && opt_tcache ? "true" :
	    "false");
	printf(", \"roots\": {");
	const char *sep = "";
	for (unsigned k = 0; k < PH_HEAP_ROOTS; k++) {
		char *r = ph_heap_get_root(heap, k);
		if (r != NULL) {
			printf("%s\"%u\": %" PRIuPTR, sep, k,
			    (uintptr_t)(r - (char *)heap));
			sep = ", ";
		}
	}
	printf("}, \"live\": {");
	sep = "";
	for (unsigned i = 0; i < 8 && live[i].size; i++) {
		printf("%s\"%zu\": %u", sep, live[i].size, live[i].n);
		sep = ", ";
	}
	printf("}}\n");
}

int main(int argc, char **argv)
{
	if (argc == 4 && strcmp(argv[1], "create") == 0) {
		heap = must(ph_heap_open(argv[2], NULL, strtoull(argv[3], NULL,
		    0), PH_HEAP_CREATE | PH_HEAP_EXCL), "open");
		fill();
	} else if (argc == 3 && strcmp(argv[1], "join") == 0) {
		heap = must(ph_heap_open(argv[2], NULL, 0, 0), "join");
		join_fill();
	} else {
		fprintf(stderr, "usage: ph_holder create NAME SIZE | join NAME\n");
		return 2;
	}
	printf("{\"ready\": %d}\n", (int)getpid());
	fflush(stdout);
	char line[64];
	while (fgets(line, sizeof(line), stdin) != NULL) {
		if (strcmp(line, "stats\n") == 0) {
			print_stats();
		} else if (strcmp(line, "recover\n") == 0) {
			printf("{\"recovered\": %d}\n", ph_heap_recover(heap));
		} else if (strcmp(line, "check\n") == 0) {
			printf("{\"check\": %d}\n", ph_heap_check(heap));
		} else if (strncmp(line, "churn ", 6) == 0) {
			churn_ms = (unsigned)atoi(line + 6);
			int err = pthread_create(&churner, NULL, churn, NULL);
			printf("{\"churning\": %d}\n", err == 0);
		} else if (strcmp(line, "wait\n") == 0) {
			void *n;
			pthread_join(churner, &n);
			printf("{\"churned\": %" PRIuPTR "}\n", (uintptr_t)n);
		} else if (strcmp(line, "lock\n") == 0) {
			heap_lock((struct heap *)heap);
			printf("{\"locked\": %d}\n", (int)os_tid());
		} else if (strcmp(line, "tag\n") == 0) {
			void *a = must(ph_heap_malloc(heap, 48), "malloc 48");
			void *b = must(ph_heap_malloc(heap, 100 << 10),
			    "malloc 100K");
			keep(a);
			keep(b);
			PHMALLOC_FN(setmalloctag)(a, 0x7a61);
			PHMALLOC_FN(setmalloctag)(b, 0x7a62);
			printf("{\"tagged\": %d}\n",
			    PHMALLOC_FN(getmalloctag)(a) == 0x7a61 &&
			    PHMALLOC_FN(getmalloctag)(b) == 0x7a62);
		} else if (strcmp(line, "unlock\n") == 0) {
			heap_unlock((struct heap *)heap);
			printf("{\"unlocked\": 1}\n");
		} else if (strcmp(line, "close\n") == 0) {
			printf("{\"closed\": %d}\n", ph_heap_close(heap));
			fflush(stdout);
			return 0;
		} else {
			printf("{\"error\": \"unknown command\"}\n");
		}
		fflush(stdout);
	}
	return 0;
}
