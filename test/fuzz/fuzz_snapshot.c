/*
 * fuzz_snapshot.c -- libFuzzer target: phstat's reader (tools/snapshot.c)
 * on arbitrary images.  The bytes become a file (a memfd, opened by its
 * /proc path as phstat opens a heap file), which snap_open copies and
 * judges; then what phstat does with a copy runs on it: statistics, the
 * walk, the validators of --check.  phstat must never crash or hang on
 * what it reads.
 *
 * The first byte picks the file's length: as given (a truncated heap),
 * or padded with zeroes to the size of image_lib.h's heaps.
 */
#define _GNU_SOURCE   /* memfd_create */
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include "snapshot.h"

#define SNAP_FUZZ_SIZE ((size_t)512 << 10)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void count_run(void *arg, uint64_t first, uint64_t n, enum snap_use use,
                      double fill)
{
	(void)first;
	(void)use;
	(void)fill;
	*(uint64_t *)arg += n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size == 0)
		return 0;
	int fd = memfd_create("snapshot-fuzz", 0);
	if (fd < 0)
		abort();
	bool pad = data[0] & 1;
	if (write(fd, data + 1, size - 1) != (ssize_t)(size - 1) ||
	    (pad && size - 1 < SNAP_FUZZ_SIZE &&
	    ftruncate(fd, (off_t)SNAP_FUZZ_SIZE) != 0))
		abort();
	char name[64];
	snprintf(name, sizeof(name), "/proc/self/fd/%d", fd);
	struct snap s;
	if (snap_open(&s, name) == SNAP_OK) {
		struct stats_snapshot st;
		char why[256];
		uint64_t pages = 0;
		heap_stats_read_locked(s.h, &st);
		(void)heap_validate_locked(s.h, why, sizeof(why));
		if (snap_walk(&s, count_run, &pages) && pages > s.h->npages)
			abort();   /* the walk tiles the heap, no more */
	}
	snap_close(&s);
	close(fd);
	return 0;
}
