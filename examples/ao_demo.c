/*
 * ao_demo.c -- an event log filled from a signal handler, written the way a
 * libatomic_ops AO_malloc program is: the handler allocates each record
 * with AO_malloc (locking is impossible there) and pushes it on a list with
 * a compare-and-swap; the main loop takes the whole list, checks and frees
 * the records with AO_free.
 */
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>

#include <phmalloc/ao_malloc.h>

#define EVENTS 2000

struct event {
	struct event *next;
	unsigned      seq;
	char          what[48];
};

static struct event *_Atomic pending;
static volatile sig_atomic_t nsent, nfailed;

static void on_alarm(int sig)
{
	struct event *e = AO_malloc(sizeof(*e));
	if (e == NULL) {
		nfailed++;
		return;
	}
	e->seq = (unsigned)nsent++;
	snprintf(e->what, sizeof(e->what), "tick %u", e->seq);
	e->next = atomic_load(&pending);
	while (!atomic_compare_exchange_weak(&pending, &e->next, e))
		;
}

int main(void)
{
#ifdef AO_MALLOC_IS_LOCK_FREE
	const char *kind = "lock-free";
#else
	const char *kind = "not lock-free";
#endif
	AO_malloc_enable_mmap();
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_alarm;
	sa.sa_flags = SA_RESTART;
	sigaction(SIGALRM, &sa, NULL);
	struct itimerval it = { { 0, 200 }, { 0, 200 } };   /* 5 kHz */
	setitimer(ITIMER_REAL, &it, NULL);

	unsigned seen = 0, bad = 0;
	while (seen < EVENTS && !nfailed) {
		/* Work of our own meanwhile, which the handler interrupts. */
		char *scratch = AO_malloc(100 + seen % 3000);
		if (scratch == NULL)
			return 1;
		memset(scratch, 'x', 100);
		AO_free(scratch);
		for (struct event *e = atomic_exchange(&pending, NULL), *next;
		    e != NULL; e = next) {
			char want[48];
			snprintf(want, sizeof(want), "tick %u", e->seq);
			bad += strcmp(want, e->what) != 0;
			next = e->next;
			AO_free(e);
			seen++;
		}
	}
	struct itimerval off = { { 0, 0 }, { 0, 0 } };
	setitimer(ITIMER_REAL, &off, NULL);
	for (struct event *e = atomic_exchange(&pending, NULL), *next;
	    e != NULL; e = next) {
		next = e->next;
		AO_free(e);
	}
	if (nfailed || bad) {
		fprintf(stderr, "ao_demo: %d allocations failed, %u records "
		    "damaged\n", (int)nfailed, bad);
		return 1;
	}
	printf("ao_demo: %u events logged from a signal handler, all intact "
	    "(AO_malloc is %s)\n", seen, kind);
	return 0;
}
