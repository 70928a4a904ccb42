// bench/phb_boost.cc -- Boost.Interprocess managed_shared_memory, the peer
// of phmalloc's shared heap (workloads 7, 8 and 9).  Same commands and
// output as bench/phb_phshm.c and bench/phb_phmap.cc:
//
//   phb_boost create NAME SIZE_MIB
//   phb_boost run NAME START_NS DUR_MS
//   phb_boost maprun NAME START_NS DUR_MS
//        workload 9 (bench/phb_map.h): a boost::unordered_map with
//        Boost.Interprocess's allocator, in the segment
//   phb_boost unlink NAME
//   phb_boost reset NAME NBLOCKS SIZE_MIB
//        fill a segment with NBLOCKS small blocks, time freeing them one by
//        one; fill it again, time destroying and re-creating the segment
#include <boost/interprocess/allocators/allocator.hpp>
#include <boost/interprocess/managed_shared_memory.hpp>
#include <boost/interprocess/shared_memory_object.hpp>
#include <boost/unordered_map.hpp>

#include <exception>
#include <memory>
#include <sys/mman.h>
#include <unistd.h>

#include "phb_common.h"
#include "phb_map.h"

namespace bip = boost::interprocess;

// Boost's own hash map: std::unordered_map keeps raw pointers, which
// Boost's offset_ptr-based allocator does not give it.
using bo_alloc = bip::allocator<std::pair<const uint64_t, uint64_t>,
    bip::managed_shared_memory::segment_manager>;
using bo_map = boost::unordered_map<uint64_t, uint64_t, phb_map_hash,
    std::equal_to<uint64_t>, bo_alloc>;

static void unavailable(const char *what, const char *why)
{
	printf("UNAVAILABLE %s: %s\n", what, why);
	exit(PHB_EXIT_UNAVAILABLE);
}

static uint32_t sizes[PHB_NSIZES];
static void *ring[PHB_RING];

static int cmd_create(char **argv)
{
	size_t size = (size_t)strtoull(argv[3], NULL, 0) << 20;
	bip::shared_memory_object::remove(argv[2]);
	bip::managed_shared_memory seg(bip::create_only, argv[2], size);
	return 0;
}

static int cmd_run(char **argv)
{
	uint64_t start = strtoull(argv[3], NULL, 0);
	uint64_t dur = strtoull(argv[4], NULL, 0) * 1000000ull;
	uint64_t ops, ns;
	bip::managed_shared_memory seg(bip::open_only, argv[2]);
	phb_fill_sizes(sizes, 16, 512, (uint64_t)getpid());
#define BO_A(sz) seg.allocate((sz), std::nothrow)
#define BO_F(p) seg.deallocate(p)
	PHB_RING_TIMED(BO_A, BO_F, ring, sizes, start, dur, &ops, &ns);
	phb_result("ops_per_s", (double)ops / ((double)ns / 1e9));
	return 0;
}

static int cmd_maprun(char **argv)
{
	uint64_t start = strtoull(argv[3], NULL, 0);
	uint64_t dur = strtoull(argv[4], NULL, 0) * 1000000ull;
	uint64_t ops, ns;
	bip::managed_shared_memory seg(bip::open_only, argv[2]);
	// One map per process, in the segment, like phb_phmap's.
	bo_map *m = seg.construct<bo_map>(bip::anonymous_instance)(
	    0, phb_map_hash(), std::equal_to<uint64_t>(),
	    bo_alloc(seg.get_segment_manager()));
	phb_map_timed(*m, (uint64_t)getpid(), start, dur, &ops, &ns);
	seg.destroy_ptr(m);
	phb_result("ops_per_s", (double)ops / ((double)ns / 1e9));
	return 0;
}

static void fill(bip::managed_shared_memory &seg, void **v, size_t n, uint64_t seed)
{
	uint64_t s = seed;
	for (size_t i = 0; i < n; i++) {
		size_t sz = 16 + (size_t)(phb_rand(&s) % 241);   // 16..256 B
		char *p = (char *)seg.allocate(sz, std::nothrow);
		if (!p)
			unavailable("allocate while filling", "segment full");
		p[0] = (char)i;
		v[i] = p;
	}
}

static int cmd_reset(char **argv)
{
	const char *name = argv[2];
	size_t n = (size_t)strtoull(argv[3], NULL, 0);
	size_t size = (size_t)strtoull(argv[4], NULL, 0) << 20;
	void **v = (void **)mmap(NULL, n * sizeof(void *), PROT_READ | PROT_WRITE,
	                         MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (v == MAP_FAILED)
		unavailable("mmap", strerror(errno));
	bip::shared_memory_object::remove(name);
	std::unique_ptr<bip::managed_shared_memory> seg(
		new bip::managed_shared_memory(bip::create_only, name, size));

	uint64_t t0 = phb_now_ns();
	fill(*seg, v, n, 1);
	uint64_t t1 = phb_now_ns();
	for (size_t i = 0; i < n; i++)
		seg->deallocate(v[i]);
	uint64_t t2 = phb_now_ns();
	fill(*seg, v, n, 2);
	uint64_t t3 = phb_now_ns();
	seg.reset();
	bip::shared_memory_object::remove(name);
	seg.reset(new bip::managed_shared_memory(bip::create_only, name, size));
	uint64_t t4 = phb_now_ns();
	fill(*seg, v, n, 3);
	uint64_t t5 = phb_now_ns();

	printf("RESULT metric=alloc_first_ms value=%.3f\n", (double)(t1 - t0) / 1e6);
	printf("RESULT metric=free_each_ms value=%.3f\n", (double)(t2 - t1) / 1e6);
	printf("RESULT metric=recreate_ms value=%.6f\n", (double)(t4 - t3) / 1e6);
	phb_result("alloc_after_reset_ms", (double)(t5 - t4) / 1e6);
	seg.reset();
	bip::shared_memory_object::remove(name);
	return 0;
}

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	try {
		if (argc >= 4 && !strcmp(argv[1], "create"))
			return cmd_create(argv);
		if (argc >= 5 && !strcmp(argv[1], "run"))
			return cmd_run(argv);
		if (argc >= 5 && !strcmp(argv[1], "maprun"))
			return cmd_maprun(argv);
		if (argc >= 3 && !strcmp(argv[1], "unlink")) {
			bip::shared_memory_object::remove(argv[2]);
			return 0;
		}
		if (argc >= 5 && !strcmp(argv[1], "reset"))
			return cmd_reset(argv);
	} catch (const std::exception &e) {
		unavailable("boost::interprocess", e.what());
	}
	fprintf(stderr, "usage: phb_boost create NAME SIZE_MIB | run NAME START_NS DUR_MS"
	        " | maprun NAME START_NS DUR_MS | unlink NAME"
	        " | reset NAME NBLOCKS SIZE_MIB\n");
	return 2;
}
