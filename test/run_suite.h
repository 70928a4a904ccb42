/*
 * run_suite.h -- the one main of every Check test program: runs a suite
 * and gives the exit status, with timeouts that scale with the build and
 * the machine.
 *
 * A test asserts nothing about time: its timeout only catches a hang, and
 * Check then names the test ("Test timeout expired" with its name).  A
 * timeout is set for an idle machine running a plain build; a loaded
 * machine, a sanitizer or valgrind may take many times as long, which must
 * not turn a slow test into a failure.  So before main, when no TCase has
 * been made yet (Check reads CK_TIMEOUT_MULTIPLIER when a TCase is made and
 * when its timeout is set), test_timeouts_scale() sets the multiplier to
 *
 *     user's CK_TIMEOUT_MULTIPLIER (default 1)
 *       x TIMEOUT_SLACK                      any machine, any day
 *       x (1 + load average / online CPUs)   a busy machine
 *       x TIMEOUT_SANITIZER                  an ASan/UBSan build
 *       x TIMEOUT_VALGRIND                   running under valgrind
 *
 * and CK_DEFAULT_TIMEOUT (Check's is 4 s) to TIMEOUT_DEFAULT_S for test
 * cases that set none.
 */
#ifndef PH_TEST_RUN_SUITE_H
#define PH_TEST_RUN_SUITE_H

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define TIMEOUT_DEFAULT_S  30
#define TIMEOUT_SLACK      3.0
#define TIMEOUT_SANITIZER  5.0
#define TIMEOUT_VALGRIND   30.0

#if defined(__SANITIZE_ADDRESS__)
#define TEST_UNDER_SANITIZER 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(undefined_behavior_sanitizer)
#define TEST_UNDER_SANITIZER 1
#endif
#endif
#ifndef TEST_UNDER_SANITIZER
#define TEST_UNDER_SANITIZER 0
#endif

/* valgrind preloads its core into the programs it runs. */
static inline int test_under_valgrind(void)
{
	const char *pre = getenv("LD_PRELOAD");
	return pre != NULL && strstr(pre, "vgpreload") != NULL;
}

__attribute__((constructor)) static void test_timeouts_scale(void)
{
	double m = 1.0, load = 0.0;
	const char *user = getenv("CK_TIMEOUT_MULTIPLIER");
	if (user != NULL && atof(user) > 0)
		m = atof(user);
	m *= TIMEOUT_SLACK;
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	if (getloadavg(&load, 1) == 1 && load > 0)
		m *= 1.0 + load / (double)(ncpu > 0 ? ncpu : 1);
	if (TEST_UNDER_SANITIZER)
		m *= TIMEOUT_SANITIZER;
	if (test_under_valgrind())
		m *= TIMEOUT_VALGRIND;
	char buf[32];
	snprintf(buf, sizeof(buf), "%.2f", m);
	setenv("CK_TIMEOUT_MULTIPLIER", buf, 1);
	if (getenv("CK_DEFAULT_TIMEOUT") == NULL) {
		snprintf(buf, sizeof(buf), "%d", TIMEOUT_DEFAULT_S);
		setenv("CK_DEFAULT_TIMEOUT", buf, 1);
	}
}

static inline int run_suite(Suite *s)
{
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

#endif
