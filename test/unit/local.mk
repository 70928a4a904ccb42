# test/unit/local.mk -- unit tests of the engine's internals (libphinternal).
UNIT_TESTS = test/unit/test_sizeclass test/unit/test_page \
	test/unit/test_slab test/unit/test_heap test/unit/test_repair \
	test/unit/test_tcache test/unit/test_refuge
check_PROGRAMS += $(UNIT_TESTS)
TESTS += $(UNIT_TESTS)
EXTRA_DIST += test/unit/unit.h
UNIT_CPPFLAGS = $(AM_CPPFLAGS) -DPH_PREFIX=$(PH_PREFIX)
UNIT_LDADD = libphinternal.la $(TEST_LIBS)

test_unit_test_sizeclass_SOURCES = test/unit/test_sizeclass.c
test_unit_test_sizeclass_CPPFLAGS = $(UNIT_CPPFLAGS)
test_unit_test_sizeclass_CFLAGS = $(TEST_CFLAGS)
test_unit_test_sizeclass_LDADD = $(UNIT_LDADD)
test_unit_test_page_SOURCES = test/unit/test_page.c
test_unit_test_page_CPPFLAGS = $(UNIT_CPPFLAGS)
test_unit_test_page_CFLAGS = $(TEST_CFLAGS)
test_unit_test_page_LDADD = $(UNIT_LDADD)
test_unit_test_slab_SOURCES = test/unit/test_slab.c
test_unit_test_slab_CPPFLAGS = $(UNIT_CPPFLAGS)
test_unit_test_slab_CFLAGS = $(TEST_CFLAGS)
test_unit_test_slab_LDADD = $(UNIT_LDADD)
test_unit_test_heap_SOURCES = test/unit/test_heap.c
test_unit_test_heap_CPPFLAGS = $(UNIT_CPPFLAGS)
test_unit_test_heap_CFLAGS = $(TEST_CFLAGS)
test_unit_test_heap_LDADD = $(UNIT_LDADD)
test_unit_test_repair_SOURCES = test/unit/test_repair.c
test_unit_test_repair_CPPFLAGS = $(UNIT_CPPFLAGS)
test_unit_test_repair_CFLAGS = $(TEST_CFLAGS)
test_unit_test_repair_LDADD = $(UNIT_LDADD)
test_unit_test_tcache_SOURCES = test/unit/test_tcache.c
test_unit_test_tcache_CPPFLAGS = $(UNIT_CPPFLAGS)
test_unit_test_tcache_CFLAGS = $(TEST_CFLAGS)
test_unit_test_tcache_LDADD = $(UNIT_LDADD)
test_unit_test_refuge_SOURCES = test/unit/test_refuge.c
test_unit_test_refuge_CPPFLAGS = $(UNIT_CPPFLAGS)
test_unit_test_refuge_CFLAGS = $(TEST_CFLAGS)
test_unit_test_refuge_LDADD = $(UNIT_LDADD)
