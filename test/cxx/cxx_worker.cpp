// cxx_worker.cpp -- started by test_cxx with exec; joins a shared heap by
// name and works on the Table of table.hpp there.
//
//   cxx_worker build NAME KEY FIRST N        construct_root a Table under
//                                            KEY, fill entries FIRST..+N
//   cxx_worker read NAME KEY FIRST N MARKS   check it (MARKS markers per
//                                            entry), then add one more
//   cxx_worker insert NAME KEY               construct_root a Table and
//                                            insert and erase until killed;
//                                            writes one byte to fd 3 once
//                                            it is inserting
// Exit status: 0 done, 1 could not join or allocate, 2 the table was wrong.
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <unistd.h>

#include "table.hpp"

static ph_heap_t *join(const char *name)
{
	ph_heap_t *h = ph_heap_open(name, nullptr, 0, 0);
	if (h == nullptr) {
		std::fprintf(stderr, "cxx_worker: ph_heap_open(%s): %s\n", name,
		    std::strerror(errno));
		std::exit(1);
	}
	return h;
}

static int cmd_build(ph_heap_t *h, unsigned key, int first, int n)
{
	Table *t = ph::construct_root<Table>(h, key);
	table_fill(*t, first, n);
	return 0;
}

static int cmd_read(ph_heap_t *h, unsigned key, int first, int n, int marks)
{
	Table *t = ph::root<Table>(h, key);
	if (t == nullptr) {
		std::fprintf(stderr, "cxx_worker: root %u is empty\n", key);
		return 2;
	}
	std::string why = table_verify(*t, h, first, n, marks);
	if (!why.empty()) {
		std::fprintf(stderr, "cxx_worker: %s\n", why.c_str());
		return 2;
	}
	table_mark(*t);   /* allocates in the heap from this process */
	return 0;
}

// Never returns: the test kills it somewhere in this loop.
[[noreturn]] static void cmd_insert(ph_heap_t *h, unsigned key)
{
	Table *t = ph::construct_root<Table>(h, key);
	for (int i = 0;; i++) {
		table_fill(*t, i, 1);
		if (i >= 500)
			t->erase(ph::shared_string(key_of(i - 500).c_str(), h));
		if (t->size() >= 400 && i % 4096 == 0)
			t->clear();   // frees in bulk, then the buckets regrow
		if (i == 1000 && write(3, "x", 1) != 1)
			std::exit(1);
	}
}

int main(int argc, char **argv)
{
	if (argc < 4) {
		std::fprintf(stderr, "usage: cxx_worker build|read|insert NAME "
		    "KEY ...\n");
		return 1;
	}
	const char *cmd = argv[1];
	unsigned key = (unsigned)std::atoi(argv[3]);
	try {
		ph_heap_t *h = join(argv[2]);
		int rc = 1;
		int first = argc > 4 ? std::atoi(argv[4]) : 0;
		int n = argc > 5 ? std::atoi(argv[5]) : 0;
		if (!std::strcmp(cmd, "build") && argc == 6)
			rc = cmd_build(h, key, first, n);
		else if (!std::strcmp(cmd, "read") && argc == 7)
			rc = cmd_read(h, key, first, n, std::atoi(argv[6]));
		else if (!std::strcmp(cmd, "insert"))
			cmd_insert(h, key);
		else
			std::fprintf(stderr, "cxx_worker: bad command line\n");
		if (ph_heap_close(h) != 0)
			return 1;
		return rc;
	} catch (const std::exception &e) {
		std::fprintf(stderr, "cxx_worker %s: %s\n", cmd, e.what());
		return 1;
	}
}
