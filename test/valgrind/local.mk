# test/valgrind/local.mk -- memcheck sees phmalloc's blocks.
# Not in TESTS (it takes minutes): `make check-valgrind`, run once by
# tools/test.sh.
check_PROGRAMS += test/valgrind/vg_check
EXTRA_DIST += test/valgrind/run.sh
test_valgrind_vg_check_SOURCES = test/valgrind/vg_check.c
test_valgrind_vg_check_CFLAGS = $(AM_CFLAGS) -O0
test_valgrind_vg_check_LDADD = libphmalloc.la
test_valgrind_vg_check_LDFLAGS = -no-install

check-valgrind: $(check_PROGRAMS)
	$(SHELL) $(top_srcdir)/test/valgrind/run.sh
.PHONY: check-valgrind
