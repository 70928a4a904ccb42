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
#include <sys/prctl.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "base.h"

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

/* madvise, 0 or its errno value; errno itself is left as it was. */
static int os_advise(void *addr, size_t size, int advice)
{
	int saved = errno;
	int err = madvise(addr, size, advice) == 0 ? 0 : errno;
	errno = saved;
	return err;
}

/* Gives the pages back.  Private anonymous memory reads as zero afterwards;
 * shared memory (shm, tmpfs files) needs MADV_REMOVE to free the backing. */
int os_purge(void *addr, size_t size, bool shared)
{
	return os_advise(addr, size, shared ? MADV_REMOVE : MADV_DONTNEED);
}

int os_hugepages(void *addr, size_t size, bool on)
{
	return os_advise(addr, size, on ? MADV_HUGEPAGE : MADV_NOHUGEPAGE);
}

#ifndef MADV_COLLAPSE
#define MADV_COLLAPSE 25   /* Linux 6.1; older headers lack the name */
#endif

int os_collapse(void *addr, size_t size)
{
	return os_advise(addr, size, MADV_COLLAPSE);
}

int os_resident(void *addr, size_t size, unsigned char *vec)
{
	int saved = errno;
	int err = mincore(addr, size, vec) == 0 ? 0 : errno;
	errno = saved;
	return err;
}

size_t os_pages_shared(const void *addr, size_t npages)
{
	int saved = errno;
	int fd = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
	size_t shared = 0;
	bool read_all = fd >= 0;
	uint64_t e[64];
	uintptr_t first = (uintptr_t)addr >> 12;
	for (size_t i = 0; read_all && i < npages; i += 64) {
		size_t k = npages - i < 64 ? npages - i : 64;
		ssize_t got = pread(fd, e, k * sizeof(e[0]),
		    (off_t)((first + i) * sizeof(e[0])));
		read_all = got == (ssize_t)(k * sizeof(e[0]));
		for (size_t j = 0; read_all && j < k; j++)   /* present, */
			shared += (e[j] >> 63 & 1) && !(e[j] >> 56 & 1);
	}                                             /* not exclusive */
	if (fd >= 0)
		close(fd);
	errno = saved;
	return read_all ? shared : npages;
}

bool os_thp_disabled(void)
{
	int saved = errno;
	bool off = prctl(PR_GET_THP_DISABLE, 0, 0, 0, 0) > 0;
	errno = saved;
	return off;
}

size_t os_read_text(const char *path, char *buf, size_t len)
{
	int saved = errno;
	size_t have = 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	while (fd >= 0 && have + 1 < len) {
		ssize_t n = read(fd, buf + have, len - 1 - have);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		have += (size_t)n;
	}
	if (fd >= 0)
		close(fd);
	if (len > 0)
		buf[have] = '\0';
	errno = saved;
	return have;
}

typedef bool (*maps_fn)(void *arg, uintptr_t lo, uintptr_t hi,
                        const char *perms);

/* Hands one line of /proc/self/maps to fn; its fields are at its start. */
static bool maps_line(const char *line, maps_fn fn, void *arg)
{
	unsigned long lo, hi;
	char perms[8];
	return sscanf(line, "%lx-%lx %7s", &lo, &hi, perms) == 3 &&
	    fn(arg, lo, hi, perms);
}

/* Calls fn(arg, lo, hi, perms) for each line of /proc/self/maps, in address
 * order, until it returns true.  Parses with read(2) into a stack buffer: no
 * allocation.  1 if fn said stop, 0 if it never did, -1 if there is no
 * such file to read (no /proc). */
static int maps_each(maps_fn fn, void *arg)
{
	int fd = open("/proc/self/maps", O_RDONLY | O_CLOEXEC);
	bool stop = false, skip = false;   /* skip: the rest of a long line */
	char buf[4096];
	size_t have = 0;

	if (fd < 0)
		return -1;
	while (!stop) {
		ssize_t n = read(fd, buf + have, sizeof(buf) - 1 - have);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		have += (size_t)n;
		buf[have] = '\0';
		char *line = buf, *nl;
		while (!stop && (nl = strchr(line, '\n')) != NULL) {
			stop = !skip && maps_line(line, fn, arg);
			skip = false;
			line = nl + 1;
		}
		have -= (size_t)(line - buf);
		if (!stop && have == sizeof(buf) - 1) {
			/* A line longer than buf (a long path): take its
			 * fields now and drop the rest of it. */
			stop = !skip && maps_line(buf, fn, arg);
			skip = true;
			have = 0;
		}
		memmove(buf, line, have);
	}
	close(fd);
	return stop ? 1 : 0;
}

static bool shared_at(void *arg, uintptr_t lo, uintptr_t hi,
                      const char *perms)
{
	uintptr_t *addr = arg;
	if (*addr < lo || *addr >= hi)
		return false;
	*addr = perms[3] == 's';   /* found: the answer replaces the key */
	return true;
}

bool os_range_shared(const void *addr)
{
	int saved = errno;
	uintptr_t a = (uintptr_t)addr;
	bool shared = maps_each(shared_at, &a) == 1 && a == 1;
	errno = saved;
	return shared;
}

/* The walk of os_range_writable: next is the first byte not yet shown to
 * be writable; a gap or a mapping without 'w' ends it. */
struct writable_walk {
	uintptr_t next, end;
	bool ok;
};

static bool writable_step(void *arg, uintptr_t lo, uintptr_t hi,
                          const char *perms)
{
	struct writable_walk *w = arg;
	if (hi <= w->next)
		return false;          /* below the range */
	if (lo > w->next || perms[0] != 'r' || perms[1] != 'w')
		return true;           /* a hole, or not readable and writable */
	w->next = hi;
	w->ok = w->next >= w->end;
	return w->ok;
}

/* The kernel's list of mappings is the one answer that cannot fault:
 * mincore and msync tell only whether pages are mapped, and a probe that
 * writes (process_vm_writev) would race with another process writing the
 * range.  It is read once per heap made or joined, never on a fast path. */
int os_range_writable(const void *addr, size_t size)
{
	int saved = errno;
	struct writable_walk w = { (uintptr_t)addr, (uintptr_t)addr + size,
	    false };
	if (size == 0 || w.end < w.next) {
		errno = saved;
		return EFAULT;
	}
	int err = 0;
	if (maps_each(writable_step, &w) < 0) {
		/* No /proc (a chroot, a sandbox): at least the pages must be
		 * mapped; a read-only range then still faults at the write. */
		err = msync((void *)addr, size, MS_ASYNC) == 0 ? 0 : EFAULT;
	} else if (!w.ok) {
		err = EFAULT;
	}
	errno = saved;
	return err;
}

/* Is gid this process's effective group or one of its supplementary
 * groups?  The list goes in a stack buffer, or a mapping when it is long:
 * no allocation, since this may run inside a drop-in malloc's process. */
static bool gid_member(gid_t gid)
{
	enum { GROUPS_ON_STACK = 64 };
	gid_t small[GROUPS_ON_STACK], *list = small;
	size_t mapped = 0;
	if (gid == getegid())
		return true;
	int n = getgroups(0, NULL);
	if (n > GROUPS_ON_STACK) {
		mapped = ALIGN_UP((size_t)n * sizeof(gid_t), PAGE);
		if ((list = os_reserve(mapped)) == NULL)
			return false;
	}
	/* A list that grew since it was counted gives -1: not a member. */
	n = n > 0 ? getgroups(n, list) : 0;
	bool member = false;
	for (int i = 0; i < n && !member; i++)
		member = list[i] == gid;
	if (mapped != 0)
		os_unmap(list, mapped);
	return member;
}

int os_object_trusted(int fd, bool group)
{
	int saved = errno;
	struct stat st;
	int err = 0;
	if (fstat(fd, &st) != 0)
		err = errno;
	else if (!S_ISREG(st.st_mode))
		err = EINVAL;   /* a heap lives in a file or shm object */
	else if ((st.st_mode & S_IWOTH) != 0)
		err = EACCES;
	else if (st.st_uid != geteuid() &&
	    !(group && gid_member(st.st_gid)))
		err = EACCES;
	errno = saved;
	return err;
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

/* The process (thread group) of thread tid, 0 if no such thread runs (none,
 * or a zombie), UINT32_MAX if that cannot be told (no /proc, or a /proc
 * mounted hidepid that hides a thread kill(2) still finds).  Any thread of
 * the machine can be looked up at /proc/TID, listed or not. */
uint32_t os_thread_process(uint32_t tid)
{
	char path[48], buf[1024];
	snprintf(path, sizeof(path), "/proc/%u/status", tid);
	int saved = errno;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	int err = errno;
	errno = saved;
	if (fd < 0) {
		/* /proc may hide other users' threads (hidepid): only a
		 * signal's answer that nobody has that id says gone. */
		if (err != ENOENT && err != ESRCH)
			return UINT32_MAX;
		bool gone = kill((pid_t)tid, 0) != 0 && errno == ESRCH;
		errno = saved;
		return gone ? 0 : UINT32_MAX;
	}
	ssize_t n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	errno = saved;
	if (n <= 0)
		return 0;   /* it went away between open and read */
	buf[n] = '\0';
	const char *st = strstr(buf, "\nState:\t");
	const char *tg = strstr(buf, "\nTgid:\t");
	if (st == NULL || tg == NULL)
		return UINT32_MAX;
	if (st[8] == 'Z' || st[8] == 'X')
		return 0;
	return (uint32_t)strtoul(tg + 7, NULL, 10);
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
	/* start 0: not recorded (a fork's child, tcache.c), so the pid must
	 * do. */
	return now == 0 || start == 0 || now == start;
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

/* The thread's kernel TID (base.h: os_tid, in tthread.tid); a fork's
 * child sets it anew from fork.c's atfork handler (os_tid_fork_child). */
uint32_t os_tid_slow(void)
{
	tthread.tid = (uint32_t)syscall(SYS_gettid);
	return tthread.tid;
}

/* In a fork's child: its one thread leads its thread group, so its tid
 * is its pid (one system call, where gettid would be another). */
uint32_t os_tid_fork_child(void)
{
	tthread.tid = (uint32_t)getpid();
	return tthread.tid;
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

void os_signals_let_pending(void)
{
	/* Unblocking delivers what is pending before the call returns. */
	if (sig_depth == 1) {
		sigset_t all;
		pthread_sigmask(SIG_SETMASK, &sig_saved, NULL);
		signals_async(&all);
		pthread_sigmask(SIG_BLOCK, &all, NULL);
	}
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
