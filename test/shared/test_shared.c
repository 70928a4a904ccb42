/*
 * test_shared.c -- heaps shared by processes started with exec, heaps in
 * files that outlive their processes, many heaps per process, reset, fork,
 * and the bad input of ph_heap_open (DESIGN.md "Bad input").
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <spawn.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <phmalloc.h>

#include "../run_suite.h"

#include "killer.h"
#include "shared.h"
#include "types.h"   /* header offsets, to forge bad files */

#define MIB ((size_t)1 << 20)

extern char **environ;
static char worker[PATH_MAX];
static char name[64];      /* this test's shm name or file path */

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Starts ph_worker with args; its stdout goes to out (may be NULL). */
static pid_t spawn(char *const args[], FILE *out)
{
	posix_spawn_file_actions_t fa;
	posix_spawn_file_actions_init(&fa);
	if (out)
		posix_spawn_file_actions_adddup2(&fa, fileno(out), 1);
	char *argv[10] = { worker };
	for (int i = 0; args[i] && i < 8; i++)
		argv[i + 1] = args[i];
	pid_t pid;
	ck_assert_int_eq(posix_spawn(&pid, worker, &fa, NULL, argv, environ),
	    0);
	posix_spawn_file_actions_destroy(&fa);
	return pid;
}

static int wait_exit(pid_t pid)
{
	int st;
	ck_assert_int_eq(waitpid(pid, &st, 0), pid);
	ck_assert_msg(WIFEXITED(st), "worker %d died of signal %d", pid,
	    WIFSIGNALED(st) ? WTERMSIG(st) : 0);
	return WEXITSTATUS(st);
}

static void setup(void)
{
	ssize_t n = readlink("/proc/self/exe", worker, sizeof(worker) - 16);
	ck_assert_int_gt(n, 0);
	worker[n] = '\0';
	strcpy(strrchr(worker, '/') + 1, "ph_worker");
	snprintf(name, sizeof(name), "/phmalloc-test-%d", (int)getpid());
}

static void teardown(void)
{
	shm_unlink(name);
}

/* ---- unrelated processes ------------------------------------------------- */

START_TEST(two_exec_processes_share_a_heap)
{
	ph_heap_t *h = ph_heap_open(name, NULL, 64 * MIB, PH_HEAP_CREATE);
	ck_assert_ptr_nonnull(h);
	struct mailbox *mb = ph_heap_calloc(h, 1, sizeof(*mb));
	ck_assert_int_eq(ph_heap_set_root(h, 0, mb), 0);

	FILE *out[2];
	pid_t pid[2];
	for (int i = 0; i < 2; i++) {
		out[i] = tmpfile();
		char tag[16];
		snprintf(tag, sizeof(tag), "%d", 101 + i);
		pid[i] = spawn((char *[]){ "churn", name, "1.5", tag, NULL },
		    out[i]);
	}
	unsigned long long ops = 0;
	for (int i = 0; i < 2; i++) {
		ck_assert_int_eq(wait_exit(pid[i]), 0);
		unsigned long long n = 0;
		rewind(out[i]);
		ck_assert_int_eq(fscanf(out[i], "%llu", &n), 1);
		ck_assert_uint_gt(n, 1000);
		ops += n;
		fclose(out[i]);
	}
	/* The workers closed the heap: their caches went back with them, so
	 * there is nothing of dead processes left to recover. */
	ck_assert_int_eq(ph_heap_recover(h), 0);
	/* Blocks crossed between the processes and were freed there. */
	ck_assert_uint_gt(atomic_load(&mb->passed), 10);
	ck_assert_int_eq(ph_heap_check(h), 0);
	/* What is left is exactly the mailbox and what it still holds. */
	size_t left = ph_heap_usable_size(h, mb);
	for (int s = 0; s < MAILBOX_SLOTS; s++) {
		uint64_t *b = atomic_load(&mb->slot[s]);
		if (b) {
			ck_assert(block_ok(b));
			left += ph_heap_usable_size(h, b);
		}
	}
	struct ph_heap_stats st;
	ck_assert_int_eq(ph_heap_stats(h, &st), 0);
	ck_assert_uint_eq(st.allocated, config_stats ? left : 0);
	printf("shared heap: %llu malloc+free pairs by 2 exec'd processes\n",
	    ops);
	ck_assert_int_eq(ph_heap_close(h), 0);
}
END_TEST

START_TEST(racing_config_private_heap_makes_one_heap)
{
	enum { N = 4 };
	size_t size = 16 * MIB;
	int fd = shm_open(name, O_RDWR | O_CREAT | O_EXCL, 0600);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(ftruncate(fd, (off_t)size), 0);
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	char when[32], addr[32], sz[32], key[N][8];
	snprintf(when, sizeof(when), "%.6f", ts.tv_sec + ts.tv_nsec / 1e9 + 0.3);
	snprintf(addr, sizeof(addr), "%#lx", (unsigned long)RACE_BASE);
	snprintf(sz, sizeof(sz), "%zu", size);
	pid_t pid[N];
	for (int i = 0; i < N; i++) {
		snprintf(key[i], sizeof(key[i]), "%d", i);
		pid[i] = spawn((char *[]){ "race", name, addr, sz, key[i], when,
		    NULL }, NULL);
	}
	for (int i = 0; i < N; i++)
		ck_assert_int_eq(wait_exit(pid[i]), 0);

	void *p = mmap(RACE_BASE, size, PROT_READ | PROT_WRITE,
	    MAP_SHARED | MAP_FIXED_NOREPLACE, fd, 0);
	ck_assert_ptr_eq(p, RACE_BASE);
	ph_heap_t *h = ph_heap_attach(p);
	ck_assert_ptr_nonnull(h);
	ck_assert_int_eq(ph_heap_check(h), 0);
	/* Every process's blocks are in the one heap, none given twice. */
	char *seen = calloc(size / 64, 1);
	for (unsigned k = 0; k < N; k++) {
		uint64_t **blocks = ph_heap_get_root(h, k);
		ck_assert_ptr_nonnull(blocks);
		for (int i = 0; i < 1000; i++) {
			uint64_t *b = blocks[i];
			size_t slot = (size_t)((char *)b - (char *)p) / 64;
			ck_assert_uint_lt(slot, size / 64);
			ck_assert_msg(!seen[slot], "block %p given twice",
			    (void *)b);
			seen[slot] = 1;
			ck_assert_uint_eq(b[0], k);
			ck_assert(block_ok(b));
		}
	}
	free(seen);
	ck_assert_int_eq(ph_heap_detach(h), 0);
	munmap(p, size);
	close(fd);
}
END_TEST

/* ---- heaps in files ------------------------------------------------------- */

static char path[PATH_MAX];

static void file_setup(void)
{
	setup();
	snprintf(path, sizeof(path), "/tmp/phmalloc-test-%d.heap",
	    (int)getpid());
	unlink(path);
}

static void file_teardown(void)
{
	unlink(path);
}

START_TEST(file_heap_outlives_its_process)
{
	FILE *o1 = tmpfile(), *o2 = tmpfile();
	ck_assert_int_eq(wait_exit(spawn((char *[]){ "create", path, NULL },
	    o1)), 0);
	ck_assert_int_eq(wait_exit(spawn((char *[]){ "verify", path, NULL },
	    o2)), 0);
	char a[64] = "", b[64] = "";
	rewind(o1);
	rewind(o2);
	ck_assert_ptr_nonnull(fgets(a, sizeof(a), o1));
	ck_assert_ptr_nonnull(fgets(b, sizeof(b), o2));
	ck_assert_str_eq(a, b);     /* same base, same list head */
	fclose(o1);
	fclose(o2);
	/* And once more in this process, at the recorded address. */
	ph_heap_t *h = ph_heap_open(path, NULL, 0, 0);
	ck_assert_ptr_eq(h, PERSIST_BASE);
	ck_assert_ptr_nonnull(ph_heap_get_root(h, 0));
	ck_assert_int_eq(ph_heap_close(h), 0);
}
END_TEST

START_TEST(open_refuses_what_is_not_a_heap)
{
	errno = 0;
	ck_assert_ptr_null(ph_heap_open(path, NULL, 0, 0));
	ck_assert_int_eq(errno, ENOENT);

	int fd = open(path, O_RDWR | O_CREAT, 0600);
	char junk[8192];
	memset(junk, 0x41, sizeof(junk));
	ck_assert_int_eq(write(fd, junk, sizeof(junk)), sizeof(junk));
	struct stat before;
	fstat(fd, &before);
	errno = 0;
	ck_assert_ptr_null(ph_heap_open(path, NULL, 0, 0));
	ck_assert_int_eq(errno, EINVAL);
	struct stat after;
	fstat(fd, &after);
	ck_assert_int_eq(after.st_size, before.st_size);   /* untouched */
	ck_assert_int_eq(pread(fd, junk, 16, 0), 16);
	ck_assert_int_eq(junk[0], 0x41);
	close(fd);
}
END_TEST

static void make_heap_file(size_t size)
{
	ph_heap_t *h = ph_heap_open(path, PERSIST_BASE, size, PH_HEAP_CREATE);
	ck_assert_ptr_nonnull(h);
	ck_assert_ptr_nonnull(ph_heap_malloc(h, 1000));
	ck_assert_int_eq(ph_heap_close(h), 0);
}

START_TEST(open_refuses_another_version)
{
	make_heap_file(4 * MIB);
	int fd = open(path, O_RDWR);
	uint32_t v = HEAP_VERSION + 1;
	ck_assert_int_eq(pwrite(fd, &v, sizeof(v),
	    offsetof(struct heap, version)), sizeof(v));
	close(fd);
	errno = 0;
	ck_assert_ptr_null(ph_heap_open(path, NULL, 0, 0));
	ck_assert_int_eq(errno, EPROTO);
}
END_TEST

START_TEST(open_refuses_a_truncated_file)
{
	make_heap_file(4 * MIB);
	ck_assert_int_eq(truncate(path, 2 * MIB), 0);
	errno = 0;
	ck_assert_ptr_null(ph_heap_open(path, NULL, 0, 0));
	ck_assert_int_eq(errno, ENODATA);
}
END_TEST

START_TEST(open_never_clobbers_a_mapping)
{
	make_heap_file(4 * MIB);
	void *q = mmap(PERSIST_BASE, PAGE, PROT_READ | PROT_WRITE,
	    MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
	ck_assert_ptr_eq(q, PERSIST_BASE);
	memset(q, 0x77, PAGE);
	errno = 0;
	ck_assert_ptr_null(ph_heap_open(path, NULL, 0, 0));
	ck_assert_int_eq(errno, EEXIST);
	ck_assert_int_eq(((unsigned char *)q)[100], 0x77);
	munmap(q, PAGE);
}
END_TEST

START_TEST(open_checks_sizes_and_exclusivity)
{
	make_heap_file(4 * MIB);
	errno = 0;
	ck_assert_ptr_null(ph_heap_open(path, NULL, 8 * MIB, 0));
	ck_assert_int_eq(errno, EINVAL);
	errno = 0;
	ck_assert_ptr_null(ph_heap_open(path, NULL, 4 * MIB, PH_HEAP_EXCL));
	ck_assert_int_eq(errno, EEXIST);
	errno = 0;
	ck_assert_ptr_null(ph_heap_open(name, NULL, 4096, PH_HEAP_CREATE));
	ck_assert_int_eq(errno, EINVAL);
	ck_assert_int_eq(shm_unlink(name), -1);   /* nothing left behind */
	errno = 0;
	ck_assert_ptr_null(ph_heap_open(NULL, NULL, 0, 0));
	ck_assert_int_eq(errno, EINVAL);
	errno = 0;
	ck_assert_ptr_null(ph_heap_open(path, (char *)PERSIST_BASE + 1, 0, 0));
	ck_assert_int_eq(errno, EINVAL);
	/* One heap is opened once in a process, wherever the second would
	 * map it: closing one copy would drop the process from the heap's
	 * table while the other still uses it. */
	ph_heap_t *h = ph_heap_open(path, NULL, 0, 0);
	ck_assert_ptr_eq(h, PERSIST_BASE);
	errno = 0;
	ck_assert_ptr_null(ph_heap_open(path, (char *)PERSIST_BASE + 64 * MIB,
	    0, 0));
	ck_assert_int_eq(errno, EEXIST);
	ck_assert_int_eq(ph_heap_close(h), 0);
	h = ph_heap_open(path, (char *)PERSIST_BASE + 64 * MIB, 0, 0);
	ck_assert_ptr_eq(h, (char *)PERSIST_BASE + 64 * MIB);
	ck_assert_int_eq(ph_heap_check(h), 0);
	ck_assert_int_eq(ph_heap_close(h), 0);
	/* A size that made a heap (rounded down to pages) joins it too. */
	unlink(path);
	h = ph_heap_open(path, NULL, 4 * MIB + 100, PH_HEAP_CREATE);
	ck_assert_ptr_nonnull(h);
	ck_assert_int_eq(ph_heap_close(h), 0);
	h = ph_heap_open(path, NULL, 4 * MIB + 100, 0);
	ck_assert_ptr_nonnull(h);
	ck_assert_int_eq(ph_heap_close(h), 0);
}
END_TEST

START_TEST(growable_heap_grows_its_file_in_steps)
{
	size_t max = 256 * MIB;
	ph_heap_t *h = ph_heap_open(path, NULL, max, PH_HEAP_CREATE |
	    PH_HEAP_GROW);
	ck_assert_ptr_nonnull(h);
	struct stat st;
	ck_assert_int_eq(stat(path, &st), 0);
	ck_assert_uint_le((size_t)st.st_size, 16 * MIB);
	size_t first = (size_t)st.st_size;
	for (int i = 0; i < 20; i++)
		memset(ph_heap_malloc(h, MIB), 1, MIB);
	ck_assert_int_eq(stat(path, &st), 0);
	ck_assert_uint_ge((size_t)st.st_size, 20 * MIB);
	ck_assert_uint_lt((size_t)st.st_size, max);
	ck_assert_uint_gt((size_t)st.st_size, first);
	struct ph_heap_stats hs;
	ph_heap_stats(h, &hs);
	ck_assert_uint_eq(hs.backed, (size_t)st.st_size);
	size_t got = 20;
	while (ph_heap_malloc(h, MIB) != NULL)
		got++;
	ck_assert_int_eq(errno, ENOMEM);
	ck_assert_uint_ge(got, 240);
	/* what is left, a page at a time: the file reaches its end */
	while (ph_heap_malloc(h, 4096) != NULL)
		continue;
	ck_assert_int_eq(errno, ENOMEM);
	ck_assert_int_eq(stat(path, &st), 0);
	ck_assert_uint_eq((size_t)st.st_size, max);
	ck_assert_int_eq(ph_heap_check(h), 0);
	ck_assert_int_eq(ph_heap_close(h), 0);
	/* A second process (here: a second open) sees the grown heap. */
	h = ph_heap_open(path, NULL, 0, 0);
	ck_assert_ptr_nonnull(h);
	ck_assert_int_eq(ph_heap_check(h), 0);
	ck_assert_int_eq(ph_heap_close(h), 0);
}
END_TEST

/* ---- many heaps, reset, fork ---------------------------------------------- */

START_TEST(many_heaps_are_independent)
{
	enum { N = 16 };
	ph_heap_t *h[N];
	char *p[N];
	for (int i = 0; i < N; i++) {
		void *r = mmap(NULL, 2 * MIB, PROT_READ | PROT_WRITE,
		    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		h[i] = ph_heap_create(r, 2 * MIB, 0);
		ck_assert_ptr_nonnull(h[i]);
		p[i] = ph_heap_malloc(h[i], 300);
		memset(p[i], i, 300);
		ck_assert_ptr_eq(ph_heap_of(p[i]), h[i]);
	}
	ph_heap_reset(h[3]);
	for (int i = 0; i < N; i++) {
		if (i == 3)
			continue;
		ck_assert_uint_eq((unsigned char)p[i][299], (unsigned)i);
		ck_assert_uint_eq(PHMALLOC_FN(malloc_usable_size)(p[i]), 320);
		p[i] = PHMALLOC_FN(realloc)(p[i], 5000);   /* stays in h[i] */
		ck_assert_ptr_eq(ph_heap_of(p[i]), h[i]);
		PHMALLOC_FN(free)(p[i]);
		ck_assert_int_eq(ph_heap_check(h[i]), 0);
	}
	for (int i = 0; i < N; i++) {
		ck_assert_int_eq(ph_heap_detach(h[i]), 0);
		munmap(h[i], 2 * MIB);
	}
}
END_TEST

START_TEST(bad_ranges_and_keys_are_refused)
{
	size_t size = 4 * MIB;
	char *r = mmap(NULL, 2 * size, PROT_READ | PROT_WRITE,
	    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	errno = 0;
	ck_assert_ptr_null(ph_heap_create(r + 8, size, 0));      /* unaligned */
	ck_assert_int_eq(errno, EINVAL);
	errno = 0;
	ck_assert_ptr_null(ph_heap_create(r, 4096, 0));          /* too small */
	ck_assert_int_eq(errno, EINVAL);
	errno = 0;
	ck_assert_ptr_null(ph_heap_create((void *)(UINTPTR_MAX & ~(uintptr_t)4095),
	    size, 0));                                           /* wraps */
	ck_assert_int_eq(errno, EINVAL);
	errno = 0;
	ck_assert_ptr_null(ph_heap_create(NULL, size, 0));
	ck_assert_int_eq(errno, EINVAL);
	ph_heap_t *h = ph_heap_create(r, size, 0);
	ck_assert_ptr_nonnull(h);
	errno = 0;
	ck_assert_ptr_null(ph_heap_create(r + MIB, size, 0));    /* overlaps */
	ck_assert_int_eq(errno, EEXIST);
	ck_assert_int_eq(PHMALLOC_FN(config_private_heap)(r + MIB, size),
	    EEXIST);
	ck_assert_int_eq(ph_heap_set_root(h, PH_HEAP_ROOTS, NULL), EINVAL);
	errno = 0;
	ck_assert_ptr_null(ph_heap_get_root(h, PH_HEAP_ROOTS));
	ck_assert_int_eq(errno, EINVAL);
	int outside;
	ck_assert_int_eq(ph_heap_set_root(h, 0, &outside), EINVAL);
	/* the header and maps are no block: refused, not read back as damage */
	ck_assert_int_eq(ph_heap_set_root(h, 0, (void *)h), EINVAL);
	ck_assert_int_eq(ph_heap_set_root(h, 0, (char *)h + 100), EINVAL);
	ck_assert_int_eq(ph_heap_detach(h), 0);
	ck_assert_int_eq(ph_heap_detach(h), EINVAL);
	/* Re-attached, it is the same heap. */
	ck_assert_ptr_eq(ph_heap_attach(r), h);
	ck_assert_int_eq(ph_heap_check(h), 0);
	ck_assert_int_eq(ph_heap_detach(h), 0);
	/* Garbage where a heap is expected. */
	memset(r + size, 0x5a, size);
	errno = 0;
	ck_assert_ptr_null(ph_heap_attach(r + size));
	ck_assert_int_ne(errno, 0);
	ck_assert_int_eq((unsigned char)r[size + 100], 0x5a);   /* untouched */
	munmap(r, 2 * size);
}
END_TEST

START_TEST(a_full_heap_says_enomem_and_stays_intact)
{
	size_t size = 1 * MIB;
	char *r = mmap(NULL, size, PROT_READ | PROT_WRITE,
	    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ph_heap_t *h = ph_heap_create(r, size, PH_HEAP_ZEROED);
	void *keep[4096];
	int n = 0;
	while (n < 4096 && (keep[n] = ph_heap_malloc(h, 1000)) != NULL) {
		memset(keep[n], n & 0xff, 1000);
		n++;
	}
	ck_assert_int_ge(n, 800);          /* a 1 MiB heap holds 800 of 1000 B */
	ck_assert_int_eq(errno, ENOMEM);
	errno = 0;
	ck_assert_ptr_null(ph_heap_malloc(h, 100000));
	ck_assert_int_eq(errno, ENOMEM);
	ck_assert_int_eq(ph_heap_check(h), 0);
	for (int i = 0; i < n; i++)
		ck_assert_uint_eq(((unsigned char *)keep[i])[999], i & 0xff);
	ph_heap_free(h, keep[n / 2]);
	ck_assert_ptr_nonnull(ph_heap_malloc(h, 1000));
	struct ph_heap_stats st;
	ph_heap_stats(h, &st);
	printf("1 MiB heap: %d blocks of 1000 B; metadata %zu bytes\n", n,
	    st.metadata);
	ck_assert_int_eq(ph_heap_detach(h), 0);
	munmap(r, size);
}
END_TEST

START_TEST(reset_of_a_million_blocks)
{
	size_t size = 128 * MIB;
	void *r = mmap(NULL, size, PROT_READ | PROT_WRITE,
	    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ph_heap_t *h = ph_heap_create(r, size, PH_HEAP_ZEROED);
	for (int i = 0; i < 1000000; i++)
		ck_assert_ptr_nonnull(ph_heap_malloc(h, 16 + i % 64));
	struct ph_heap_stats before, after;
	ph_heap_stats(h, &before);
	double t = now();
	ph_heap_reset(h);
	t = now() - t;
	ph_heap_stats(h, &after);
	printf("reset of 1,000,000 live blocks (%zu MiB): %.3f ms\n",
	    before.allocated >> 20, t * 1e3);
	ck_assert_uint_eq(after.allocated, 0);
	ck_assert_uint_eq(after.epoch, before.epoch + 1);
	ck_assert_uint_eq(after.largest_free, after.free);
	ck_assert_int_eq(ph_heap_check(h), 0);
	ck_assert_ptr_nonnull(ph_heap_malloc(h, 100));
	ph_heap_detach(h);
	munmap(r, size);
}
END_TEST

START_TEST(fork_child_keeps_using_a_shared_heap)
{
	ph_heap_t *h = ph_heap_open(name, NULL, 16 * MIB, PH_HEAP_CREATE);
	ck_assert_ptr_nonnull(h);
	char *mine = ph_heap_malloc(h, 100);
	pid_t pid = fork();
	if (pid == 0) {
		char *q = ph_heap_malloc(h, 200);
		if (q == NULL || ph_heap_check(h) != 0)
			_exit(1);
		strcpy(q, "from the child");
		ph_heap_set_root(h, 2, q);
		ph_heap_free(h, mine);    /* the parent's block */
		_exit(0);
	}
	ck_assert_int_eq(wait_exit(pid), 0);
	ck_assert_str_eq(ph_heap_get_root(h, 2), "from the child");
	ck_assert_int_eq(ph_heap_check(h), 0);
	struct ph_heap_stats st;
	ph_heap_stats(h, &st);
	/* only the child's block */
	ck_assert_uint_eq(st.allocated, config_stats ? 224 : 0);
	ck_assert_int_eq(ph_heap_close(h), 0);
}
END_TEST

/* ---- processes killed at random moments (short version of make stress) --- */

START_TEST(survives_sigkill_at_random_moments)
{
	struct kill_result r;
	int rc = kill_run(worker, name, 3, 40, 12345, 0, &r);   /* no time limit */
	printf("kill test: %d kills, %d hangs, %d corruptions, %llu repairs, "
	    "longest stall %.0f ms, reset gave back %zu of %zu bytes\n",
	    r.kills, r.hangs, r.corruptions, (unsigned long long)r.repairs,
	    r.max_stall_ms, r.free_after_reset, r.capacity);
	ck_assert_int_eq(r.kills, 40);
	ck_assert_int_eq(r.hangs, 0);
	ck_assert_int_eq(r.corruptions, 0);
	ck_assert_uint_ge(r.free_after_reset * 10, r.capacity * 9);
	ck_assert_int_eq(rc, 0);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("shared");
	TCase *tp = tcase_create("processes");
	tcase_add_checked_fixture(tp, setup, teardown);
	tcase_set_timeout(tp, 60);
	tcase_add_test(tp, two_exec_processes_share_a_heap);
	tcase_add_test(tp, racing_config_private_heap_makes_one_heap);
	tcase_add_test(tp, fork_child_keeps_using_a_shared_heap);
	suite_add_tcase(s, tp);
	TCase *tk = tcase_create("kill");
	tcase_add_checked_fixture(tk, setup, teardown);
	tcase_set_timeout(tk, 120);
	tcase_add_test(tk, survives_sigkill_at_random_moments);
	suite_add_tcase(s, tk);
	TCase *tf = tcase_create("files");
	tcase_add_checked_fixture(tf, file_setup, file_teardown);
	tcase_set_timeout(tf, 60);
	tcase_add_test(tf, file_heap_outlives_its_process);
	tcase_add_test(tf, open_refuses_what_is_not_a_heap);
	tcase_add_test(tf, open_refuses_another_version);
	tcase_add_test(tf, open_refuses_a_truncated_file);
	tcase_add_test(tf, open_never_clobbers_a_mapping);
	tcase_add_test(tf, open_checks_sizes_and_exclusivity);
	tcase_add_test(tf, growable_heap_grows_its_file_in_steps);
	suite_add_tcase(s, tf);
	TCase *th = tcase_create("heaps");
	tcase_set_timeout(th, 60);
	tcase_add_test(th, many_heaps_are_independent);
	tcase_add_test(th, reset_of_a_million_blocks);
	tcase_add_test(th, bad_ranges_and_keys_are_refused);
	tcase_add_test(th, a_full_heap_says_enomem_and_stays_intact);
	suite_add_tcase(s, th);
	return run_suite(s);
}
