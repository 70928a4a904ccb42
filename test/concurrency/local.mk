# test/concurrency/local.mk -- threads, signals and fork against the caches.
check_PROGRAMS += test/concurrency/test_concurrency
TESTS += test/concurrency/test_concurrency
test_concurrency_test_concurrency_SOURCES = test/concurrency/test_concurrency.c
test_concurrency_test_concurrency_CFLAGS = $(TEST_CFLAGS)
test_concurrency_test_concurrency_LDADD = libphmalloc.la $(TEST_LIBS)
