/*
 * error.c -- the one place that reports misuse and corruption.
 *
 * Messages are one line, "phmalloc: <what> <pointer> [in heap <base>]",
 * written with write(2) so that reporting never allocates (we may be the
 * process's malloc) and works with any heap lock held.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base.h"

#define REPORT_MAX 512

int report_format(char *buf, size_t len, const char *fmt, va_list ap)
{
	/* glibc's vsnprintf does not allocate for the conversions we use. */
	int n = vsnprintf(buf, len, fmt, ap);
	if (n < 0)
		n = 0;
	return (size_t)n >= len ? (int)len - 1 : n;
}

static void report_line(const char *fmt, va_list ap)
{
	char buf[REPORT_MAX];
	int saved = errno;
	size_t n = 10;

	memcpy(buf, "phmalloc: ", n);
	n += (size_t)report_format(buf + n, sizeof(buf) - n - 1, fmt, ap);
	buf[n++] = '\n';
	for (size_t off = 0; off < n;) {
		ssize_t w = write(STDERR_FILENO, buf + off, n - off);
		if (w <= 0)
			break;
		off += (size_t)w;
	}
	errno = saved;
}

void report_warn(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	report_line(fmt, ap);
	va_end(ap);
}

noreturn void report_fatal(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	report_line(fmt, ap);
	va_end(ap);
	abort();
}

int report_why(char *why, size_t whylen, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	report_format(why, whylen, fmt, ap);
	va_end(ap);
	return 1;
}
