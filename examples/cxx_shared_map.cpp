// cxx_shared_map.cpp -- a std::unordered_map<string, vector<int>> in a
// shared heap, built by one process and used by another started with exec.
//
//   cxx_shared_map             make the heap and the table, run a reader,
//                              print what it added, reset, remove the heap
//   cxx_shared_map read NAME   the reader: join, print the table, add to it
//
// The containers hold plain pointers: the heap is mapped at the same
// address in both processes, and ph::shared_allocator holds only that
// address.
#include <phmalloc/allocator.hpp>

#include <spawn.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <initializer_list>
#include <string_view>

using Table = ph::shared_unordered_map<ph::shared_string,
    ph::shared_vector<int>>;
enum { TABLE_ROOT = 0 };

extern char **environ;

static void print(const Table &t)
{
	std::vector<std::string_view> keys;   // sorted, for a stable output
	for (const auto &e : t)
		keys.push_back(e.first);
	std::sort(keys.begin(), keys.end());
	for (std::string_view k : keys) {
		std::printf("%.*s:", (int)k.size(), k.data());
		auto it = t.find(ph::shared_string(k, t.get_allocator()));
		for (int x : it->second)
			std::printf(" %d", x);
		std::printf("\n");
	}
}

static int reader(const char *name)
{
	ph_heap_t *h = ph_heap_open(name, nullptr, 0, 0);  // where it was made
	if (h == nullptr) {
		std::perror("ph_heap_open");
		return 1;
	}
	Table *t = ph::root<Table>(h, TABLE_ROOT);
	if (t == nullptr)
		return 1;
	print(*t);
	// Any process that attached the heap may allocate in it.
	t->at(ph::shared_string("primes", h)).push_back(11);
	t->emplace("added by the reader", std::initializer_list<int>{ 42 });
	return ph_heap_close(h) == 0 ? 0 : 1;
}

int main(int argc, char **argv)
{
	if (argc == 3 && std::strcmp(argv[1], "read") == 0)
		return reader(argv[2]);

	char name[64];
	std::snprintf(name, sizeof(name), "/cxx_shared_map-%d", (int)getpid());
	ph_heap_t *h = ph_heap_open(name, nullptr, 64 << 20,
	    PH_HEAP_CREATE | PH_HEAP_EXCL);
	if (h == nullptr) {
		std::perror("ph_heap_open");
		return 1;
	}
	int rc = 1;
	try {
		Table *t = ph::construct_root<Table>(h, TABLE_ROOT);
		t->emplace("primes", std::initializer_list<int>{ 2, 3, 5, 7 });
		t->emplace("squares", std::initializer_list<int>{ 1, 4, 9 });

		// The reader is a separate program image, not a fork.
		char self[4096];
		ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
		self[n > 0 ? n : 0] = '\0';
		char cmd[] = "read";
		char *args[] = { self, cmd, name, nullptr };
		pid_t pid;
		int st = 0;
		if (posix_spawn(&pid, self, nullptr, nullptr, args,
		    environ) == 0 && waitpid(pid, &st, 0) == pid &&
		    WIFEXITED(st) && WEXITSTATUS(st) == 0) {
			std::printf("after the reader:\n");
			print(*t);
			rc = ph_heap_check(h) == 0 && t->size() == 3 ? 0 : 1;
		}
		ph_heap_reset(h);   // the next job starts from an empty heap
	} catch (const std::exception &e) {
		std::fprintf(stderr, "cxx_shared_map: %s\n", e.what());
	}
	ph_heap_close(h);
	shm_unlink(name);
	return rc;
}
