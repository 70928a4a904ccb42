/*
 * replay.c -- runs a fuzz target's LLVMFuzzerTestOneInput on every file of
 * its regression corpus (and on any files or directories named on the
 * command line), without a fuzzing engine: make check replays every
 * crasher ever found, with gcc as well as clang.
 *
 * REPLAY_DIR names the corpus directory (test/fuzz/regress/<target>).
 */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static unsigned replayed;

static void replay_file(const char *path)
{
	FILE *f = fopen(path, "rb");
	if (f == NULL) {
		perror(path);
		exit(1);
	}
	static uint8_t buf[8 << 20];
	size_t n = fread(buf, 1, sizeof(buf), f);
	fclose(f);
	LLVMFuzzerTestOneInput(buf, n);
	replayed++;
}

static void replay_path(const char *path)
{
	struct stat st;
	if (stat(path, &st) != 0) {
		perror(path);
		exit(1);
	}
	if (!S_ISDIR(st.st_mode)) {
		replay_file(path);
		return;
	}
	DIR *d = opendir(path);
	struct dirent *e;
	while (d != NULL && (e = readdir(d)) != NULL) {
		if (e->d_name[0] == '.')
			continue;
		char sub[4096];
		snprintf(sub, sizeof(sub), "%s/%s", path, e->d_name);
		replay_path(sub);
	}
	if (d != NULL)
		closedir(d);
}

int main(int argc, char **argv)
{
	if (argc > 1)
		for (int i = 1; i < argc; i++)
			replay_path(argv[i]);
	else if (access(REPLAY_DIR, F_OK) == 0)
		replay_path(REPLAY_DIR);
	printf("%s: %u inputs replayed\n", argv[0], replayed);
	return replayed > 0 ? 0 : 77;   /* 77: nothing to replay, skipped */
}
