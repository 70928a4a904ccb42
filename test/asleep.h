/*
 * asleep.h -- waits until another thread sleeps, so that a test can order
 * "it sleeps, then we wake it" without guessing a time.
 *
 * thread_state(pid, tid) reads a thread's state from /proc/PID/task/TID/stat.
 * wait_until_asleep(pid, tid) returns once thread tid of process pid is in
 * state S (interruptible sleep: a futex, a pipe, nanosleep) by
 * /proc/PID/task/TID/stat, or is gone.  A waiter that spun instead of
 * sleeping is never seen asleep: the test then hangs, and its timeout
 * names it.  No allocation and no stdio, so that it may be called while a
 * heap the process allocates from is full.
 */
#ifndef PH_TEST_ASLEEP_H
#define PH_TEST_ASLEEP_H

#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/types.h>
#include <unistd.h>

#define ASLEEP_POLL_US 1000

/* Thread tid's state letter (R, S, D, ...), or 0 when it is gone. */
static inline char thread_state(pid_t pid, pid_t tid)
{
	char path[64], buf[512];
	snprintf(path, sizeof(path), "/proc/%d/task/%d/stat", (int)pid,
	    (int)tid);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	ssize_t n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return 0;
	buf[n] = '\0';
	const char *state = strrchr(buf, ')');   /* after "(comm)" */
	return state != NULL && state[1] == ' ' ? state[2] : 0;
}

static inline void wait_until_asleep(pid_t pid, pid_t tid)
{
	for (;;) {
		char st = thread_state(pid, tid);
		if (st == 0 || st == 'S' || st == 'Z')
			return;
		usleep(ASLEEP_POLL_US);
	}
}

#endif
