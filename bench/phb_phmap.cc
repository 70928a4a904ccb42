// bench/phb_phmap.cc -- workload 9 with phmalloc: a std::unordered_map
// with ph::shared_allocator in a heap in POSIX shm, joined by separately
// started processes; and the same map with std::allocator (the C
// library's malloc, not shared) for scale.
//
//   phb_phmap create NAME SIZE_MIB       format a heap in POSIX shm NAME
//   phb_phmap maprun NAME START_NS DUR_MS   join it, run the map workload
//   phb_phmap private START_NS DUR_MS    the same map on std::allocator
//   phb_phmap unlink NAME                remove the shm object
//
// Written against <phmalloc/allocator.hpp> only.  A failure prints
// "UNAVAILABLE reason" and exits 3 (bench/run.sh reports it as such).
#include <phmalloc/allocator.hpp>

#include <dlfcn.h>
#include <sys/mman.h>
#include <unistd.h>

#include <unordered_map>

#include "phb_map.h"

using ph_map = std::unordered_map<std::uint64_t, std::uint64_t, phb_map_hash,
    std::equal_to<std::uint64_t>,
    ph::shared_allocator<std::pair<const std::uint64_t, std::uint64_t>>>;
using private_map = std::unordered_map<std::uint64_t, std::uint64_t,
    phb_map_hash>;

static void unavailable(const char *what, int err)
{
	printf("UNAVAILABLE %s: %s\n", what, strerror(err));
	exit(PHB_EXIT_UNAVAILABLE);
}

static int cmd_create(char **argv)
{
	size_t size = (size_t)strtoull(argv[3], NULL, 0) << 20;
	errno = 0;
	ph_heap_t *h = ph_heap_open(argv[2], NULL, size,
	    PH_HEAP_CREATE | PH_HEAP_EXCL | PH_HEAP_SHARED);
	if (h == NULL)
		unavailable("ph_heap_open(create)", errno ? errno : EIO);
	int rc = ph_heap_close(h);
	if (rc)
		unavailable("ph_heap_close", rc);
	return 0;
}

static int cmd_maprun(char **argv)
{
	uint64_t start = strtoull(argv[3], NULL, 0);
	uint64_t dur = strtoull(argv[4], NULL, 0) * 1000000ull;
	uint64_t ops, ns;
	errno = 0;
	ph_heap_t *h = ph_heap_open(argv[2], NULL, 0, PH_HEAP_SHARED);
	if (h == NULL)
		unavailable("ph_heap_open(join)", errno ? errno : EIO);
	{
		// The map object itself is in the heap too, as a shared one
		// must be (each process has its own here: no lock needed).
		ph::shared_allocator<ph_map> a(h);
		ph_map *m = a.allocate(1);
		new (m) ph_map(a);
		phb_map_timed(*m, (uint64_t)getpid(), start, dur, &ops, &ns);
		m->~ph_map();
		a.deallocate(m, 1);
	}
	phb_result("ops_per_s", (double)ops / ((double)ns / 1e9));
	int rc = ph_heap_close(h);
	if (rc)
		unavailable("ph_heap_close", rc);
	return 0;
}

static int cmd_private(char **argv)
{
	// The figure is the C library's: not ours if a drop-in build (empty
	// prefix) or LD_PRELOAD put another malloc in front of it.
	Dl_info di = {};
	if (!dladdr((void *)&malloc, &di) || di.dli_fname == NULL ||
	    !strstr(di.dli_fname, "libc.so")) {
		printf("UNAVAILABLE malloc is not the C library's (%s)\n",
		    di.dli_fname ? di.dli_fname : "unknown");
		return PHB_EXIT_UNAVAILABLE;
	}
	uint64_t start = strtoull(argv[2], NULL, 0);
	uint64_t dur = strtoull(argv[3], NULL, 0) * 1000000ull;
	uint64_t ops, ns;
	private_map m;
	phb_map_timed(m, (uint64_t)getpid(), start, dur, &ops, &ns);
	phb_result("ops_per_s", (double)ops / ((double)ns / 1e9));
	return 0;
}

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	try {
		if (argc >= 4 && !strcmp(argv[1], "create"))
			return cmd_create(argv);
		if (argc >= 5 && !strcmp(argv[1], "maprun"))
			return cmd_maprun(argv);
		if (argc >= 4 && !strcmp(argv[1], "private"))
			return cmd_private(argv);
		if (argc >= 3 && !strcmp(argv[1], "unlink")) {
			if (shm_unlink(argv[2]) && errno != ENOENT)
				return 1;
			return 0;
		}
	} catch (const std::exception &e) {
		printf("UNAVAILABLE %s\n", e.what());
		return PHB_EXIT_UNAVAILABLE;
	}
	fprintf(stderr, "usage: phb_phmap create NAME SIZE_MIB | maprun NAME "
	    "START_NS DUR_MS | private START_NS DUR_MS | unlink NAME\n");
	return 2;
}
