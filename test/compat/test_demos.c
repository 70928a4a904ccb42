/*
 * test_demos.c -- runs the example programs built against the
 * compatibility headers (examples/mmalloc_demo, examples/ao_demo) and
 * checks what they print and how they exit.  mmalloc_demo runs three times
 * on one file, each run a new process: the first builds its index, the
 * later ones must find it at the same address.
 */
#include <fcntl.h>

#include "../integration/testutil.h"

/* Runs examples/<name> with one argument (or none); its exit status, and
 * its stdout in out. */
static int run_demo(const char *name, const char *arg, char *out, size_t cap)
{
	char self[4096], path[4096 + 64];
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	ck_assert(n > 0);
	self[n] = '\0';
	/* We are test/compat/test_demos in the build tree. */
	*strrchr(self, '/') = '\0';
	*strrchr(self, '/') = '\0';
	*strrchr(self, '/') = '\0';
	snprintf(path, sizeof(path), "%s/examples/%s", self, name);
	int fds[2];
	ck_assert_int_eq(pipe(fds), 0);
	fflush(NULL);
	pid_t pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		dup2(fds[1], 1);
		close(fds[0]);
		close(fds[1]);
		execl(path, path, arg, (char *)NULL);
		_exit(127);
	}
	close(fds[1]);
	size_t got = 0;
	ssize_t r;
	while (got < cap - 1 && (r = read(fds[0], out + got,
	    cap - 1 - got)) > 0)
		got += (size_t)r;
	out[got] = '\0';
	close(fds[0]);
	int st;
	ck_assert_int_eq(waitpid(pid, &st, 0), pid);
	ck_assert_msg(WIFEXITED(st), "%s: killed by signal %d", path,
	    WTERMSIG(st));
	return WEXITSTATUS(st);
}

START_TEST(mmalloc_demo_finds_its_index_in_later_runs)
{
	const char *dir = getenv("TMPDIR");
	char file[256];
	snprintf(file, sizeof(file), "%s/phmm-demo-XXXXXX",
	    dir && *dir ? dir : "/tmp");
	int fd = mkstemp(file);
	ck_assert_int_ge(fd, 0);
	close(fd);   /* empty: the demo makes a heap of it */
	char out[3][512];
	void *at[3];
	for (int run = 0; run < 3; run++) {
		int rc = run_demo("mmalloc_demo", file, out[run],
		    sizeof(out[run]));
		ck_assert_msg(rc == 0, "run %d: exit %d, said \"%s\"", run + 1,
		    rc, out[run]);
		char what[16];
		unsigned nwords, nthe, nrun;
		ck_assert_msg(sscanf(out[run], "%15s %u words at %p, \"the\" "
		    "%u times, run %u", what, &nwords, &at[run], &nthe,
		    &nrun) == 5, "run %d said \"%s\"", run + 1, out[run]);
		ck_assert_str_eq(what, run == 0 ? "built" : "found");
		ck_assert_uint_eq(nwords, 18);
		ck_assert_uint_eq(nthe, 4);
		ck_assert_uint_eq(nrun, (unsigned)run + 1);
		ck_assert_ptr_eq(at[run], at[0]);
	}
	/* Not a heap: the demo must fail cleanly, not crash. */
	fd = open(file, O_WRONLY | O_TRUNC);
	ck_assert_int_eq(write(fd, "plain text, not a heap\n", 23), 23);
	close(fd);
	char o[512];
	ck_assert_int_eq(run_demo("mmalloc_demo", file, o, sizeof(o)), 1);
	unlink(file);
}
END_TEST

START_TEST(ao_demo_logs_events_from_its_handler)
{
	char out[512];
	int rc = run_demo("ao_demo", NULL, out, sizeof(out));
	ck_assert_msg(rc == 0, "exit %d, said \"%s\"", rc, out);
	ck_assert_msg(strstr(out, "ao_demo: ") == out &&
	    strstr(out, "events logged from a signal handler, all intact "
	    "(AO_malloc is not lock-free)\n") != NULL, "said \"%s\"", out);
	unsigned n = 0;
	ck_assert(sscanf(out, "ao_demo: %u", &n) == 1 && n >= 2000);
}
END_TEST

static Suite *demos_suite(void)
{
	Suite *s = suite_create("demos");
	TCase *tc = tcase_create("examples");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, mmalloc_demo_finds_its_index_in_later_runs);
	tcase_add_test(tc, ao_demo_logs_events_from_its_handler);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return run_suite(demos_suite());
}
