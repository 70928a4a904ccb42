/*
 * fork_stdio.c -- fork while other threads are inside stdio and malloc
 * (what glibc's tst-malloc-fork-deadlock exercises).  Run under LD_PRELOAD
 * of the drop-in build by run.sh, so that stdio's own allocations are
 * phmalloc's: a thread in getline holds its stream's lock while it
 * mallocs, a thread in fflush(NULL) holds the list of streams and waits
 * for each stream's lock, and glibc's fork takes the list's lock after the
 * at-fork prepare handlers.  An allocator whose prepare handler takes its
 * locks closes the cycle and the process hangs; run.sh catches the hang.
 *
 *   fork_stdio [FORKS]      exit 0: every child allocated and exited 0
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static _Atomic int stop;
static char text[64 * 1024];

/* getline mallocs its buffer with the stream locked. */
static void *reader(void *arg)
{
	(void)arg;
	FILE *fp = fmemopen(text, strlen(text), "r");
	if (fp == NULL)
		return (void *)1;
	while (!atomic_load(&stop)) {
		char *line = NULL;
		size_t n = 0;
		if (getline(&line, &n, fp) < 0)
			rewind(fp);
		free(line);
	}
	fclose(fp);
	return NULL;
}

/* fflush(NULL) walks the stream list under its lock; fopen and fclose
 * allocate and free a FILE and change the list. */
static void *flusher(void *arg)
{
	(void)arg;
	while (!atomic_load(&stop)) {
		fflush(NULL);
		FILE *f = fopen("/dev/null", "w");
		if (f != NULL) {
			fprintf(f, "%d\n", 42);
			fclose(f);
		}
	}
	return NULL;
}

static void *churner(void *arg)
{
	(void)arg;
	void *ring[64] = { 0 };
	for (unsigned i = 0; !atomic_load(&stop); i++) {
		free(ring[i % 64]);
		ring[i % 64] = malloc(16 + (i * 37) % (i % 50 ? 2000 : 100000));
	}
	for (int k = 0; k < 64; k++)
		free(ring[k]);
	return NULL;
}

int main(int argc, char **argv)
{
	int forks = argc > 1 ? atoi(argv[1]) : 300;
	for (size_t i = 0; i + 40 < sizeof(text); i += 40)
		snprintf(text + i, 41, "line %07zu of some text to read ......\n",
		    i / 40);
	void *(*fn[])(void *) = { reader, reader, flusher, churner };
	enum { NT = sizeof(fn) / sizeof(fn[0]) };
	pthread_t t[NT];
	for (int i = 0; i < NT; i++)
		if (pthread_create(&t[i], NULL, fn[i], NULL) != 0)
			return 2;
	int bad = 0;
	for (int f = 0; f < forks && !bad; f++) {
		pid_t pid = fork();
		if (pid < 0)
			return 3;
		if (pid == 0) {
			/* The child allocates, through stdio too. */
			char *p = malloc(1000);
			FILE *m = fmemopen(text, 4096, "r");
			char *line = NULL;
			size_t n = 0;
			int ok = p != NULL && m != NULL &&
			    getline(&line, &n, m) > 0;
			free(line);
			if (m != NULL)
				fclose(m);
			free(p);
			_exit(ok ? 0 : 1);
		}
		int st;
		if (waitpid(pid, &st, 0) != pid || !WIFEXITED(st) ||
		    WEXITSTATUS(st) != 0)
			bad = 1;
	}
	atomic_store(&stop, 1);
	for (int i = 0; i < NT; i++) {
		void *r;
		pthread_join(t[i], &r);
		bad |= r != NULL;
	}
	printf("%d forks while threads used stdio and malloc: %s\n", forks,
	    bad ? "a child failed" : "all children ran");
	return bad;
}
