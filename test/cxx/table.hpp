// table.hpp -- what test_cxx and its exec'd cxx_worker agree on: a
// std::unordered_map<string, vector<int>> in a shared heap, how it is
// filled, and how any process checks it.
#ifndef PH_TEST_CXX_TABLE_HPP
#define PH_TEST_CXX_TABLE_HPP

#include <phmalloc/allocator.hpp>

#include <cstdio>
#include <string>
#include <string_view>
#include <vector>

using Table = ph::shared_unordered_map<ph::shared_string,
    ph::shared_vector<int>>;

enum { TABLE_ROOT = 0, KILL_ROOT = 1, AFTER_KILL_ROOT = 2 };

// Longer than any short-string buffer, so every key has its own block.
inline std::string key_of(int i)
{
	char k[64];
	std::snprintf(k, sizeof(k), "entry %06d of the shared table", i);
	return k;
}

inline int value_of(int i, int j) { return i * 1000 + j; }
inline std::size_t length_of(int i) { return (std::size_t)(i % 37) + 1; }

// Entries first .. first+n-1, each made in place by the table's allocator.
inline void table_fill(Table &t, int first, int n)
{
	for (int i = first; i < first + n; i++) {
		std::string k = key_of(i);
		auto r = t.emplace(std::piecewise_construct,
		    std::forward_as_tuple(k.data(), k.size()),
		    std::forward_as_tuple());
		for (std::size_t j = 0; j < length_of(i); j++)
			r.first->second.push_back(value_of(i, (int)j));
	}
}

// What a reader appends to entry i's vector: negative, so never a value.
inline int marker_of(int i) { return -(i + 1); }

inline void table_mark(Table &t)
{
	for (auto &e : t) {
		int i = -1;
		std::sscanf(e.first.c_str(), "entry %d", &i);
		e.second.push_back(marker_of(i));
	}
}

// "" if t holds exactly entries first .. first+n-1, each followed by
// `marks` markers, with every node, key and vector in heap h (as this
// process sees it), and every key found by hashing it here.
inline std::string table_verify(const Table &t, ph_heap_t *h, int first,
                                int n, int marks)
{
	char why[256];
	if (t.size() != (std::size_t)n) {
		std::snprintf(why, sizeof(why), "size %zu, want %d", t.size(),
		    n);
		return why;
	}
	std::vector<bool> seen((std::size_t)n);
	for (const auto &e : t) {
		int i = -1;
		if (std::sscanf(e.first.c_str(), "entry %d", &i) != 1 ||
		    i < first || i >= first + n ||
		    seen[(std::size_t)(i - first)] ||
		    std::string_view(e.first) != key_of(i))
			return "unexpected key '" + std::string(e.first) + "'";
		seen[(std::size_t)(i - first)] = true;
		if (ph_heap_of(&e) != h || ph_heap_of(e.first.data()) != h ||
		    ph_heap_of(e.second.data()) != h)
			return "entry " + key_of(i) + " is not in the heap";
		const auto &v = e.second;
		if (v.size() != length_of(i) + (std::size_t)marks)
			return "wrong length of " + key_of(i);
		for (std::size_t j = 0; j < v.size(); j++) {
			int want = j < length_of(i) ? value_of(i, (int)j)
			                            : marker_of(i);
			if (v[j] != want)
				return "wrong value in " + key_of(i);
		}
	}
	// Lookups hash in this process: the buckets must agree with the
	// process that inserted.
	for (int i = first; i < first + n; i++) {
		std::string k = key_of(i);
		if (t.find(ph::shared_string(k.data(), k.size(), h)) == t.end())
			return "find() misses " + k;
	}
	return "";
}

#endif
