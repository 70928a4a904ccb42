# test/integration/local.mk -- the public API through <phmalloc.h> only.
# Every program calls the standard family through PHMALLOC_FN, so it runs
# against whatever prefix configure chose.
INTEGRATION_TESTS = test/integration/test_malloc \
	test/integration/test_aligned test/integration/test_mallocx \
	test/integration/test_badinput test/integration/test_threads \
	test/integration/test_heap test/integration/test_qmalloc \
	test/integration/test_trust
check_PROGRAMS += $(INTEGRATION_TESTS)
TESTS += $(INTEGRATION_TESTS)
INTEGRATION_LDADD = libphmalloc.la $(TEST_LIBS)

test_integration_test_malloc_SOURCES = test/integration/test_malloc.c \
	test/integration/testutil.h
test_integration_test_malloc_CFLAGS = $(TEST_CFLAGS)
test_integration_test_malloc_LDADD = $(INTEGRATION_LDADD)

test_integration_test_aligned_SOURCES = test/integration/test_aligned.c \
	test/integration/testutil.h
test_integration_test_aligned_CFLAGS = $(TEST_CFLAGS)
test_integration_test_aligned_LDADD = $(INTEGRATION_LDADD)

test_integration_test_mallocx_SOURCES = test/integration/test_mallocx.c \
	test/integration/testutil.h
test_integration_test_mallocx_CFLAGS = $(TEST_CFLAGS)
test_integration_test_mallocx_LDADD = $(INTEGRATION_LDADD)

test_integration_test_badinput_SOURCES = test/integration/test_badinput.c \
	test/integration/testutil.h
test_integration_test_badinput_CFLAGS = $(TEST_CFLAGS)
test_integration_test_badinput_LDADD = $(INTEGRATION_LDADD)

test_integration_test_threads_SOURCES = test/integration/test_threads.c \
	test/integration/testutil.h
test_integration_test_threads_CFLAGS = $(TEST_CFLAGS)
test_integration_test_threads_LDADD = $(INTEGRATION_LDADD)

test_integration_test_heap_SOURCES = test/integration/test_heap.c \
	test/integration/testutil.h
test_integration_test_heap_CFLAGS = $(TEST_CFLAGS)
test_integration_test_heap_LDADD = $(INTEGRATION_LDADD)

test_integration_test_qmalloc_SOURCES = test/integration/test_qmalloc.c \
	test/integration/testutil.h
test_integration_test_qmalloc_CFLAGS = $(TEST_CFLAGS)
test_integration_test_qmalloc_LDADD = $(INTEGRATION_LDADD)

test_integration_test_trust_SOURCES = test/integration/test_trust.c \
	test/integration/testutil.h
test_integration_test_trust_CFLAGS = $(TEST_CFLAGS)
test_integration_test_trust_LDADD = $(INTEGRATION_LDADD)

# test_image: damaged heap images are refused or work (issue 14).  It reads
# the heap's layout from internal.h, so it links the engine's internals.
check_PROGRAMS += test/integration/test_image
TESTS += test/integration/test_image
test_integration_test_image_SOURCES = test/integration/test_image.c \
	test/fuzz/image_lib.h
test_integration_test_image_CPPFLAGS = $(AM_CPPFLAGS) -DPH_PREFIX=$(PH_PREFIX)
test_integration_test_image_CFLAGS = $(TEST_CFLAGS)
test_integration_test_image_LDADD = libphinternal.la $(TEST_LIBS)
