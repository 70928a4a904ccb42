/*
 * os.c -- the only module that talks to the kernel.
 *
 * Contract: addresses and lengths are PAGE multiples; calls return 0 or an
 * errno value (NULL for a failed mapping) and preserve errno, since they run
 * inside malloc, which must not change errno on success.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/futex.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"

void *os_reserve(size_t size)
{
	int saved = errno;
	void *p = mmap(NULL, size, PROT_READ | PROT_WRITE,
	    MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	errno = saved;
	return p == MAP_FAILED ? NULL : p;
}

int os_reserve_at(void *addr, size_t size)
{
	int saved = errno;
	void *p = mmap(addr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE |
	    MAP_ANONYMOUS | MAP_NORESERVE | MAP_FIXED_NOREPLACE, -1, 0);
	int err = p == MAP_FAILED ? errno : 0;
	if (err == 0 && p != addr) {
		/* Kernels before 4.17 ignore MAP_FIXED_NOREPLACE. */
		munmap(p, size);
		err = EEXIST;
	}
	errno = saved;
	return err;
}

int os_unmap(void *addr, size_t size)
{
	int saved = errno;
	int err = munmap(addr, size) == 0 ? 0 : errno;
	errno = saved;
	return err;
}

/* Gives the pages back.  Private anonymous memory reads as zero afterwards;
 * shared memory (shm, tmpfs files) needs MADV_REMOVE to free the backing. */
int os_purge(void *addr, size_t size, bool shared)
{
	int saved = errno;
	int err = madvise(addr, size, shared ? MADV_REMOVE : MADV_DONTNEED);
	err = err == 0 ? 0 : errno;
	errno = saved;
	return err;
}

/* Parses /proc/self/maps with read(2) into a stack buffer: no allocation. */
bool os_range_shared(const void *addr)
{
	int saved = errno;
	int fd = open("/proc/self/maps", O_RDONLY | O_CLOEXEC);
	bool shared = false, found = false;
	char buf[4096];
	size_t have = 0;

	if (fd < 0)
		return false;
	while (!found) {
		ssize_t n = read(fd, buf + have, sizeof(buf) - 1 - have);
		if (n <= 0)
			break;
		have += (size_t)n;
		buf[have] = '\0';
		char *line = buf, *nl;
		while (!found && (nl = strchr(line, '\n')) != NULL) {
			unsigned long lo, hi;
			char perms[8];
			if (sscanf(line, "%lx-%lx %7s", &lo, &hi, perms) == 3 &&
			    (uintptr_t)addr >= lo && (uintptr_t)addr < hi) {
				found = true;
				shared = perms[3] == 's';
			}
			line = nl + 1;
		}
		have -= (size_t)(line - buf);
		memmove(buf, line, have);
	}
	close(fd);
	errno = saved;
	return shared;
}

/* Reads start time (and state letter, if asked) of a process from /proc. */
static uint64_t proc_start_read(uint32_t pid, char *state)
{
	char path[48], buf[1024];
	if (pid == 0)
		snprintf(path, sizeof(path), "/proc/self/stat");
	else
		snprintf(path, sizeof(path), "/proc/%u/stat", pid);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	ssize_t n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return 0;
	buf[n] = '\0';
	/* Field 2 (comm) may hold spaces and parentheses: count from the last
	 * ')'.  starttime is field 22, the 20th after it. */
	char *p = strrchr(buf, ')');
	if (state != NULL && p != NULL && p[1] == ' ')
		*state = p[2];
	for (int field = 2; p != NULL && field < 22; field++)
		p = strchr(p + 1, ' ');
	return p ? strtoull(p + 1, NULL, 10) : 0;
}

uint64_t os_proc_start(uint32_t pid)
{
	static _Atomic uint64_t self_start;
	static _Atomic uint32_t self_pid;
	int saved = errno;
	uint64_t v;
	if (pid != 0) {
		v = proc_start_read(pid, NULL);
	} else if ((uint32_t)getpid() == atomic_load(&self_pid)) {
		v = atomic_load(&self_start);
	} else {
		v = proc_start_read(0, NULL);
		atomic_store(&self_start, v);
		atomic_store(&self_pid, (uint32_t)getpid());
	}
	errno = saved;
	return v;
}

bool os_proc_alive(uint32_t pid, uint64_t start)
{
	int saved = errno;
	bool alive = kill((pid_t)pid, 0) == 0 || errno == EPERM;
	errno = saved;
	if (!alive)
		return false;
	/* The pid exists; is it still the same process, and not a zombie? */
	char state = 'R';
	uint64_t now = proc_start_read(pid, &state);
	if (state == 'Z' || state == 'X')
		return false;
	return now == 0 || now == start;
}

uint64_t os_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

uint64_t os_random(void)
{
	uint64_t r = 0;
	int saved = errno;
	if (getrandom(&r, sizeof(r), GRND_NONBLOCK) != sizeof(r)) {
		struct timespec ts;
		clock_gettime(CLOCK_MONOTONIC, &ts);
		r = ((uint64_t)getpid() << 32) ^ (uint64_t)ts.tv_nsec ^
		    ((uint64_t)ts.tv_sec << 20);
	}
	errno = saved;
	return r | 1;   /* never 0: 0 means "no key" */
}

/* The thread's kernel TID, cached; the cache is cleared in a fork child by
 * registry.c's atfork handler (os_tid_forget). */
static __thread uint32_t tid_cache __attribute__((tls_model("initial-exec")));

uint32_t os_tid(void)
{
	if (unlikely(tid_cache == 0))
		tid_cache = (uint32_t)syscall(SYS_gettid);
	return tid_cache;
}

void os_tid_forget(void)
{
	tid_cache = 0;
}

static __thread uint32_t sig_depth __attribute__((tls_model("initial-exec")));
static __thread sigset_t sig_saved __attribute__((tls_model("initial-exec")));

/* Every asynchronous signal.  The synchronous ones stay open: blocked,
 * a fault inside a locked section would kill the process instead of
 * reaching the program's handler (which may map the page), and a debugger
 * could not single-step through one (test_ao_malloc does). */
static void signals_async(sigset_t *set)
{
	static const int sync[] = { SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGTRAP };
	sigfillset(set);
	for (size_t i = 0; i < sizeof(sync) / sizeof(sync[0]); i++)
		sigdelset(set, sync[i]);
}

void os_signals_block(void)
{
	if (sig_depth++ == 0) {
		sigset_t all;
		signals_async(&all);
		pthread_sigmask(SIG_BLOCK, &all, &sig_saved);
	}
}

void os_signals_restore(void)
{
	if (--sig_depth == 0)
		pthread_sigmask(SIG_SETMASK, &sig_saved, NULL);
}

void os_futex_wait(_Atomic uint32_t *word, uint32_t val, bool shared)
{
	int saved = errno;
	syscall(SYS_futex, word, shared ? FUTEX_WAIT : FUTEX_WAIT_PRIVATE,
	    val, NULL, NULL, 0);
	errno = saved;
}

void os_futex_wake(_Atomic uint32_t *word, bool shared)
{
	int saved = errno;
	syscall(SYS_futex, word, shared ? FUTEX_WAKE : FUTEX_WAKE_PRIVATE,
	    1, NULL, NULL, 0);
	errno = saved;
}

void os_futex_wait_ms(_Atomic uint32_t *word, uint32_t val, bool shared,
                      uint64_t ms)
{
	int saved = errno;
	struct timespec ts = { .tv_sec = (time_t)(ms / 1000),
	    .tv_nsec = (long)(ms % 1000) * 1000000 };
	syscall(SYS_futex, word, shared ? FUTEX_WAIT : FUTEX_WAIT_PRIVATE,
	    val, &ts, NULL, 0);
	errno = saved;
}

void os_futex_wake_all(_Atomic uint32_t *word, bool shared)
{
	int saved = errno;
	syscall(SYS_futex, word, shared ? FUTEX_WAKE : FUTEX_WAKE_PRIVATE,
	    INT_MAX, NULL, NULL, 0);
	errno = saved;
}
