# test/cxx/local.mk -- <phmalloc/allocator.hpp>: std containers in shared
# heaps used by processes started with exec, reset between jobs, a process
# killed while it inserts, heap_resource; and examples/cxx_shared_map.
# -no-install: real binaries, so that test_cxx can exec cxx_worker and the
# example from the build tree.
CXX_TEST_FLAGS = -std=c++17 -Wall -Wextra -Wshadow -pthread

check_PROGRAMS += test/cxx/test_cxx test/cxx/cxx_worker
TESTS += test/cxx/test_cxx
test_cxx_test_cxx_SOURCES = test/cxx/test_cxx.cpp test/cxx/table.hpp
test_cxx_test_cxx_CXXFLAGS = $(CXX_TEST_FLAGS) $(CHECK_CFLAGS)
test_cxx_test_cxx_LDADD = libphmalloc.la $(TEST_LIBS)
test_cxx_test_cxx_LDFLAGS = -no-install
test_cxx_cxx_worker_SOURCES = test/cxx/cxx_worker.cpp test/cxx/table.hpp
test_cxx_cxx_worker_CXXFLAGS = $(CXX_TEST_FLAGS)
test_cxx_cxx_worker_LDADD = libphmalloc.la
test_cxx_cxx_worker_LDFLAGS = -no-install

# Built by `all` like the other examples; test_cxx runs it.
noinst_PROGRAMS += examples/cxx_shared_map
examples_cxx_shared_map_SOURCES = examples/cxx_shared_map.cpp
examples_cxx_shared_map_CXXFLAGS = $(CXX_TEST_FLAGS)
examples_cxx_shared_map_LDADD = libphmalloc.la
examples_cxx_shared_map_LDFLAGS = -no-install
