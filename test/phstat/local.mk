# test/phstat/local.mk -- phstat against real heaps: a file heap and a shm
# heap, each held open by a separately started process (ph_holder), whose
# ph_heap_stats the --json output must match; --check on a good heap and
# on damaged copies; --svg parsed as XML; every bad-argument case.
check_PROGRAMS += test/phstat/ph_holder
TESTS += test/phstat/test_phstat.py
EXTRA_DIST += test/phstat/test_phstat.py
test_phstat_ph_holder_SOURCES = test/phstat/ph_holder.c
test_phstat_ph_holder_CPPFLAGS = $(AM_CPPFLAGS) -DPH_PREFIX=$(PH_PREFIX)
test_phstat_ph_holder_LDADD = libphinternal.la
test_phstat_ph_holder_LDFLAGS = -no-install

# The table of attached processes that phstat shows, on the internals.
check_PROGRAMS += test/phstat/test_procs
TESTS += test/phstat/test_procs
test_phstat_test_procs_SOURCES = test/phstat/test_procs.c
test_phstat_test_procs_CPPFLAGS = $(AM_CPPFLAGS) -DPH_PREFIX=$(PH_PREFIX)
test_phstat_test_procs_CFLAGS = $(TEST_CFLAGS)
test_phstat_test_procs_LDADD = libphinternal.la $(TEST_LIBS)
