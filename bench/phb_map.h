// bench/phb_map.h -- workload 9: a hash map of 64-bit keys that lives in a
// shared heap, driven the same way for every allocator (C++ drivers only).
//
// PHB_MAP_LIVE random keys are inserted first (not timed); then each step
// erases the oldest key, inserts a new random one and looks up a random live
// one (always found): 3 map operations, 2 of them allocating or freeing a
// node.  Runs from the instant start_ns for dur_ns, checking the clock every
// 1024 steps.  The map keeps its size, so no rehash happens while timed.
#ifndef PHB_MAP_H
#define PHB_MAP_H

#include "phb_common.h"

#include <cstddef>
#include <cstdint>

#define PHB_MAP_LIVE 16384u   /* live keys, a power of two */

// The same hash for every map (keys are random already).
struct phb_map_hash {
	std::size_t operator()(std::uint64_t k) const noexcept
	{
		return (std::size_t)k;
	}
};

template <class Map>
static void phb_map_timed(Map &m, std::uint64_t seed, std::uint64_t start_ns,
                          std::uint64_t dur_ns, std::uint64_t *ops_out,
                          std::uint64_t *ns_out)
{
	static std::uint64_t keys[PHB_MAP_LIVE];
	std::uint64_t s = seed | 1, i = 0, sum = 0, lost = 0, t0, t1;
	for (std::uint32_t k = 0; k < PHB_MAP_LIVE; k++) {
		do
			keys[k] = phb_rand(&s);
		while (!m.emplace(keys[k], k).second);
	}
	phb_wait_until(start_ns);
	t0 = phb_now_ns();
	do {
		for (std::uint32_t k = 0; k < 1024; k++, i++) {
			std::uint32_t slot = (std::uint32_t)i & (PHB_MAP_LIVE - 1);
			lost += m.erase(keys[slot]) != 1;
			std::uint64_t key;
			do
				key = phb_rand(&s);
			while (!m.emplace(key, i).second);
			keys[slot] = key;
			auto it = m.find(keys[(key >> 40) & (PHB_MAP_LIVE - 1)]);
			if (it == m.end())
				lost++;
			else
				sum += it->second;
		}
		t1 = phb_now_ns();
	} while (t1 - t0 < dur_ns);
	PHB_ESCAPE(&sum);
	if (lost != 0 || m.size() != PHB_MAP_LIVE) {
		printf("UNAVAILABLE the map lost %llu keys\n",
		    (unsigned long long)lost);
		exit(PHB_EXIT_UNAVAILABLE);
	}
	*ops_out = 3 * i;
	*ns_out = t1 - t0;
}

#endif
