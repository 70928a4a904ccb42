# test/shared/local.mk -- heaps shared by processes started with exec.
# -no-install: real binaries in the build tree, so test_shared can exec
# ph_worker from its own directory.
check_PROGRAMS += test/shared/ph_worker test/shared/test_shared \
	test/shared/stress_kill test/shared/wake_latency
TESTS += test/shared/test_shared
EXTRA_DIST += test/shared/shared.h test/shared/killer.h
test_shared_ph_worker_SOURCES = test/shared/ph_worker.c test/shared/shared.h
test_shared_ph_worker_LDADD = libphmalloc.la
test_shared_ph_worker_LDFLAGS = -no-install
test_shared_test_shared_SOURCES = test/shared/test_shared.c \
	test/shared/killer.c
test_shared_test_shared_CFLAGS = $(TEST_CFLAGS)
test_shared_test_shared_LDADD = libphmalloc.la $(TEST_LIBS)
test_shared_test_shared_LDFLAGS = -no-install
test_shared_stress_kill_SOURCES = test/shared/stress_kill.c \
	test/shared/killer.c
test_shared_stress_kill_LDADD = libphmalloc.la
test_shared_stress_kill_LDFLAGS = -no-install
test_shared_wake_latency_SOURCES = test/shared/wake_latency.c
test_shared_wake_latency_LDADD = libphmalloc.la
test_shared_wake_latency_LDFLAGS = -no-install

# The long runs and the timing figures, not part of make check.
STRESS_KILLS ?= 600
stress: test/shared/stress_kill test/shared/ph_worker test/shared/wake_latency
	test/shared/wake_latency 50
	test/shared/stress_kill $(STRESS_KILLS) 4
.PHONY: stress
