# test/phstat/local.mk -- phstat against real heaps: a file heap and a shm
# heap, each held open by a separately started process (ph_holder), whose
# ph_heap_stats the --json output must match; --check on a good heap and
# on damaged copies; --svg parsed as XML; every bad-argument case.
check_PROGRAMS += test/phstat/ph_holder
TESTS += test/phstat/test_phstat.py
EXTRA_DIST += test/phstat/test_phstat.py
test_phstat_ph_holder_SOURCES = test/phstat/ph_holder.c
test_phstat_ph_holder_LDADD = libphmalloc.la
test_phstat_ph_holder_LDFLAGS = -no-install
