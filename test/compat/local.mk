# test/compat/local.mk -- the compatibility headers <phmalloc/mmalloc.h>
# and <phmalloc/ao_malloc.h>, and the example programs built against them.
# -no-install: real binaries, so that the tests can exec mm_reader and the
# examples from the build tree.
COMPAT_TESTS = test/compat/test_mmalloc test/compat/test_ao_malloc \
	test/compat/test_demos
check_PROGRAMS += $(COMPAT_TESTS) test/compat/mm_reader
TESTS += $(COMPAT_TESTS)
COMPAT_LDADD = libphmalloc.la $(TEST_LIBS)

test_compat_test_mmalloc_SOURCES = test/compat/test_mmalloc.c \
	test/compat/compat.h test/integration/testutil.h
test_compat_test_mmalloc_CFLAGS = $(TEST_CFLAGS)
test_compat_test_mmalloc_LDADD = $(COMPAT_LDADD)
test_compat_test_mmalloc_LDFLAGS = -no-install

test_compat_mm_reader_SOURCES = test/compat/mm_reader.c test/compat/compat.h
test_compat_mm_reader_LDADD = libphmalloc.la
test_compat_mm_reader_LDFLAGS = -no-install

test_compat_test_ao_malloc_SOURCES = test/compat/test_ao_malloc.c \
	test/integration/testutil.h
test_compat_test_ao_malloc_CFLAGS = $(TEST_CFLAGS)
test_compat_test_ao_malloc_LDADD = $(COMPAT_LDADD)

# The examples are noinst_PROGRAMS (examples/local.mk): built by `all`,
# before any test runs.
test_compat_test_demos_SOURCES = test/compat/test_demos.c \
	test/integration/testutil.h
test_compat_test_demos_CFLAGS = $(TEST_CFLAGS)
test_compat_test_demos_LDADD = $(COMPAT_LDADD)
test_compat_test_demos_LDFLAGS = -no-install
