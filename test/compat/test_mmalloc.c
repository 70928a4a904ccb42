/*
 * test_mmalloc.c -- <phmalloc/mmalloc.h>: every call, in normal use, at its
 * edges and with bad input.  A heap file is filled, keyed and detached here
 * and then checked by mm_reader, a separately exec'd process; anonymous
 * heaps (fd < 0), the NULL descriptor (the process's malloc heap),
 * mmalloc_errno after each kind of failure, the one-line abort on a
 * descriptor or pointer that is not one, and the allocation calls from a
 * 20 kHz timer signal handler.
 */
#include <fcntl.h>
#include <sys/file.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/time.h>

#include <phmalloc/mmalloc.h>

#include "../integration/testutil.h"
#include "compat.h"

/* ---- helpers ------------------------------------------------------------ */

static char tmp_path[256];

/* A new empty file; its path is in tmp_path until tmp_done. */
static int tmp_open(void)
{
	const char *dir = getenv("TMPDIR");
	snprintf(tmp_path, sizeof(tmp_path), "%s/phmm-XXXXXX",
	    dir && *dir ? dir : "/tmp");
	int fd = mkstemp(tmp_path);
	ck_assert_msg(fd >= 0, "mkstemp %s: %s", tmp_path, strerror(errno));
	return fd;
}

static void tmp_done(void)
{
	unlink(tmp_path);
}

static off_t file_size(int fd)
{
	struct stat st;
	ck_assert_int_eq(fstat(fd, &st), 0);
	return st.st_size;
}

/* Is [p, p+n) mapped in this process? */
static bool is_mapped(void *p, size_t n)
{
	return msync(p, n, MS_ASYNC) == 0;
}

static void *attach_ok(int fd, void *base)
{
	errno = 0;
	void *md = mmalloc_attach(fd, base);
	ck_assert_msg(md != NULL, "mmalloc_attach(%d, %p): %s", fd, base,
	    strerror(errno));
	return md;
}

static void detach_ok(void *md)
{
	void *r = mmalloc_detach(md);
	ck_assert_msg(r == NULL, "mmalloc_detach(%p) failed: %s", md,
	    strerror(errno));
}

static bool in_heap(void *md, const void *p)
{
	return ph_heap_of(p) == (ph_heap_t *)md;
}

/* Every allocation call on md, with contents checked. */
static void use_heap(void *md)
{
	static const size_t sizes[] = { 1, 16, 100, 1000, 5000, 14336, 20000,
	    300 * 1024, 3 * 1024 * 1024 };
	enum { N = sizeof(sizes) / sizeof(sizes[0]) };
	void *p[N];
	for (size_t i = 0; i < N; i++) {
		p[i] = mmalloc(md, sizes[i]);
		ck_assert_msg(p[i] != NULL && (md == NULL || in_heap(md, p[i])),
		    "mmalloc(%zu) gave %p", sizes[i], p[i]);
		ck_assert(is_aligned(p[i], MIN_ALIGN));
		pat_fill(p[i], sizes[i], i);
	}
	char *z = mcalloc(md, 100, 100);
	ck_assert_ptr_nonnull(z);
	assert_zero(z, 10000);
	void *v = mvalloc(md, 5000);
	ck_assert_ptr_nonnull(v);
	ck_assert(is_aligned(v, os_page()));
	void *a = mmemalign(md, 256, 300);
	ck_assert_ptr_nonnull(a);
	ck_assert(is_aligned(a, 256));
	for (size_t i = 0; i < N; i++)
		pat_assert(p[i], sizes[i], i);
	/* mrealloc keeps the contents, growing and shrinking. */
	for (size_t i = 0; i < N; i++) {
		size_t to = sizes[i] * 3 + 1;
		p[i] = mrealloc(md, p[i], to);
		ck_assert_ptr_nonnull(p[i]);
		pat_assert(p[i], sizes[i], i);
		pat_fill(p[i], to, i + 100);
		p[i] = mrealloc(md, p[i], sizes[i]);
		ck_assert_ptr_nonnull(p[i]);
		pat_assert(p[i], sizes[i], i + 100);
	}
	for (size_t i = 0; i < N; i++)
		mfree(md, p[i]);
	mfree(md, z);
	mfree(md, v);
	mfree(md, a);
	mfree(md, NULL);
	if (md != NULL)
		ck_assert_int_eq(ph_heap_check(md), 0);
}

/* ---- anonymous heaps (fd < 0) ---------------------------------------------- */

START_TEST(anonymous_heap_works_and_detach_unmaps_it)
{
	void *md = attach_ok(-1, NULL);
	ck_assert(is_aligned(md, os_page()));
	ck_assert_ptr_eq(ph_heap_of(md), md);
	ck_assert_int_eq(mmalloc_errno(md), 0);
	use_heap(md);
	void *big = mmalloc(md, 100 * MIB);   /* reserved, touched on use */
	ck_assert(big != NULL && in_heap(md, big));
	mfree(md, big);
	detach_ok(md);
	ck_assert(!is_mapped(md, os_page()));
	ck_assert_ptr_null(ph_heap_of(md));
}
END_TEST

START_TEST(anonymous_heap_at_baseaddr)
{
	void *base = mmalloc_findbase(MMALLOC_HEAP_SIZE);
	ck_assert_ptr_nonnull(base);
	ck_assert(is_aligned(base, os_page()));
	void *md = attach_ok(-1, base);
	ck_assert_ptr_eq(md, base);
	/* Its address is taken now: a second heap there is refused. */
	assert_null_errno(mmalloc_attach(-1, base), EEXIST);
	assert_null_errno(mmalloc_attach(-1, (char *)base + 1), EINVAL);
	use_heap(md);
	detach_ok(md);
	/* Free again: a new heap may go there. */
	md = attach_ok(-1, base);
	ck_assert_ptr_eq(md, base);
	detach_ok(md);
}
END_TEST

START_TEST(anonymous_heap_is_private)
{
	void *md = attach_ok(-1, NULL);
	int *x = mmalloc(md, sizeof(int));
	ck_assert_ptr_nonnull(x);
	*x = 1;
	pid_t pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		/* The child has its own copy and may use it. */
		*x = 2;
		int *y = mmalloc(md, sizeof(int));
		_exit(y != NULL && *x == 2 ? 0 : 1);
	}
	int st;
	ck_assert_int_eq(waitpid(pid, &st, 0), pid);
	ck_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	ck_assert_int_eq(*x, 1);
	mfree(md, x);
	detach_ok(md);
}
END_TEST

/* ---- the NULL descriptor: the process's malloc heap ------------------------------ */

START_TEST(null_descriptor_is_the_default_heap)
{
	void *p = mmalloc(NULL, 100);
	ck_assert_ptr_nonnull(p);
	ck_assert_ptr_eq(ph_heap_of(p), ph_heap_default());
	pat_fill(p, 100, 7);
	/* The same heap as malloc: either may free the other's blocks. */
	void *q = P_(malloc)(50);
	ck_assert_ptr_eq(ph_heap_of(q), ph_heap_default());
	mfree(NULL, q);
	use_heap(NULL);
	ck_assert_int_eq(mmalloc_setkey(NULL, 3, p), 1);
	ck_assert_ptr_eq(mmalloc_getkey(NULL, 3), p);
	ck_assert_int_eq(mmalloc_setkey(NULL, 3, NULL), 1);
	assert_null_errno(mmalloc_getkey(NULL, 3), ENOENT);
	/* Detaching it does nothing, and it keeps working. */
	ck_assert_ptr_null(mmalloc_detach(NULL));
	pat_assert(p, 100, 7);
	P_(free)(p);
	ck_assert_int_eq(mmcheck(NULL, NULL), 1);
}
END_TEST

/* ---- heaps in files ------------------------------------------------------------- */

/* Fills a new heap file, keys it, detaches; an exec'd process must find it
 * all at the same address through key 0; then this process finds what that
 * one left. */
START_TEST(file_heap_reattached_by_an_exec_process)
{
	int fd = tmp_open();
	void *md = attach_ok(fd, NULL);
	ck_assert(file_size(fd) > 0);
	close(fd);   /* the heap keeps its own descriptor */
	struct idx *ix = mmalloc(md, sizeof(*ix));
	ck_assert_ptr_nonnull(ix);
	ix->magic = IDX_MAGIC;
	ix->n = IDX_RECS;
	ix->self = ix;
	for (unsigned i = 0; i < IDX_RECS; i++) {
		ix->recs[i] = mmalloc(md, sizeof(struct rec) + rec_len(i));
		ck_assert_ptr_nonnull(ix->recs[i]);
		rec_fill(ix->recs[i], 1000 + i, rec_len(i));
	}
	ck_assert_int_eq(mmalloc_setkey(md, KEY_INDEX, ix), 1);
	ck_assert_ptr_null(mmalloc_getkey(md, KEY_READER));
	detach_ok(md);
	ck_assert(!is_mapped(md, os_page()));

	char self[4096], reader[4096 + 16], addr[32];
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	ck_assert(n > 0);
	self[n] = '\0';
	snprintf(reader, sizeof(reader), "%.*s/mm_reader",
	    (int)(strrchr(self, '/') - self), self);
	snprintf(addr, sizeof(addr), "%lx", (unsigned long)(uintptr_t)md);
	int out[2];
	ck_assert_int_eq(pipe(out), 0);
	pid_t pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		dup2(out[1], 1);
		close(out[0]);
		close(out[1]);
		execl(reader, reader, tmp_path, addr, (char *)NULL);
		_exit(127);
	}
	close(out[1]);
	char line[256] = "";
	ssize_t got = read(out[0], line, sizeof(line) - 1);
	line[got > 0 ? got : 0] = '\0';
	close(out[0]);
	int st;
	ck_assert_int_eq(waitpid(pid, &st, 0), pid);
	ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0,
	    "%s: status %#x, said \"%s\"", reader, st, line);
	ck_assert_msg(strstr(line, "records checked") != NULL, "%s", line);

	/* Back here: the reader's note, the even records, a clean heap. */
	fd = open(tmp_path, O_RDWR);
	ck_assert_int_ge(fd, 0);
	void *md2 = attach_ok(fd, NULL);
	close(fd);
	ck_assert_ptr_eq(md2, md);
	ck_assert_ptr_eq(mmalloc_getkey(md2, KEY_INDEX), ix);
	const char *note = mmalloc_getkey(md2, KEY_READER);
	ck_assert_ptr_nonnull(note);
	ck_assert_msg(strncmp(note, "reader ", 7) == 0, "note: %.60s", note);
	for (unsigned i = 0; i < IDX_RECS; i++) {
		if (i % 2) {
			ck_assert_ptr_null(ix->recs[i]);
			continue;
		}
		ck_assert_uint_eq(rec_find_bad(ix->recs[i]), SIZE_MAX);
		mfree(md2, ix->recs[i]);
	}
	ck_assert_int_eq(ph_heap_check(md2), 0);
	detach_ok(md2);
	tmp_done();
}
END_TEST

START_TEST(file_heap_at_baseaddr_comes_back_there)
{
	int fd = tmp_open();
	void *base = mmalloc_findbase(MMALLOC_HEAP_SIZE);
	ck_assert_ptr_nonnull(base);
	void *md = attach_ok(fd, base);
	ck_assert_ptr_eq(md, base);
	char *s = mmalloc(md, 32);
	strcpy(s, "kept");
	ck_assert_int_eq(mmalloc_setkey(md, 15, s), 1);
	/* Attached twice in one process: its address is taken. */
	assert_null_errno(mmalloc_attach(fd, NULL), EEXIST);
	detach_ok(md);
	/* A heap file comes back where it was made, whatever baseaddr says. */
	md = attach_ok(fd, (char *)base + 2 * MMALLOC_HEAP_SIZE);
	ck_assert_ptr_eq(md, base);
	ck_assert_str_eq(mmalloc_getkey(md, 15), "kept");
	use_heap(md);
	detach_ok(md);
	close(fd);
	tmp_done();
}
END_TEST

START_TEST(file_heap_grows_its_file)
{
	int fd = tmp_open();
	void *md = attach_ok(fd, NULL);
	off_t before = file_size(fd);
	ck_assert(before > 0 && (size_t)before < MMALLOC_HEAP_SIZE);
	void *big = mmalloc(md, (size_t)before * 2);   /* not touched */
	ck_assert(big != NULL && in_heap(md, big));
	ck_assert(file_size(fd) > before * 2);
	ck_assert_int_eq(mmalloc_errno(md), 0);
	mfree(md, big);
	detach_ok(md);
	close(fd);
	tmp_done();
}
END_TEST

/* Two processes attach one new file at once: one formats, both share it. */
START_TEST(two_processes_attach_one_new_file)
{
	int fd = tmp_open();
	close(fd);
	pid_t pid[2];
	for (int k = 0; k < 2; k++) {
		pid[k] = fork();
		ck_assert_int_ge(pid[k], 0);
		if (pid[k] == 0) {
			int f = open(tmp_path, O_RDWR);
			void *md = f >= 0 ? mmalloc_attach(f, NULL) : NULL;
			int *x = md ? mmalloc(md, sizeof(int)) : NULL;
			if (x == NULL)
				_exit(1);
			*x = 100 + k;
			_exit(mmalloc_setkey(md, 2 + k, x) == 1 &&
			    mmalloc_detach(md) == NULL ? 0 : 2);
		}
	}
	for (int k = 0; k < 2; k++) {
		int st;
		ck_assert_int_eq(waitpid(pid[k], &st, 0), pid[k]);
		ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0,
		    "attacher %d: status %#x", k, st);
	}
	fd = open(tmp_path, O_RDWR);
	void *md = attach_ok(fd, NULL);
	for (int k = 0; k < 2; k++) {
		int *x = mmalloc_getkey(md, 2 + k);
		ck_assert_msg(x != NULL && *x == 100 + k, "key %d lost", 2 + k);
	}
	ck_assert_int_eq(ph_heap_check(md), 0);
	detach_ok(md);
	close(fd);
	tmp_done();
}
END_TEST

/* A heap made by ph_heap_open is a heap file too, and the other way round. */
START_TEST(file_heap_interworks_with_ph_heap_open)
{
	int fd = tmp_open();
	close(fd);
	unlink(tmp_path);
	ph_heap_t *h = ph_heap_open(tmp_path, NULL, 32 * MIB,
	    PH_HEAP_CREATE | PH_HEAP_EXCL);
	ck_assert_ptr_nonnull(h);
	int *x = ph_heap_malloc(h, sizeof(int));
	*x = 42;
	ck_assert_int_eq(ph_heap_set_root(h, 4, x), 0);
	ck_assert_int_eq(ph_heap_close(h), 0);
	fd = open(tmp_path, O_RDWR);
	void *md = attach_ok(fd, NULL);
	ck_assert_ptr_eq(md, h);
	ck_assert_int_eq(*(int *)mmalloc_getkey(md, 4), 42);
	use_heap(md);   /* its 9 MiB blocks fit in 32 MiB */
	detach_ok(md);
	close(fd);
	tmp_done();
}
END_TEST

/* ---- files that are not heaps ----------------------------------------------------- */

static void write_all(int fd, const void *buf, size_t n)
{
	ck_assert_int_eq(write(fd, buf, n), (ssize_t)n);
}

START_TEST(file_that_is_not_a_heap_is_refused_untouched)
{
	int fd = tmp_open();
	char text[8192];
	for (size_t i = 0; i < sizeof(text); i++)
		text[i] = "not a heap\n"[i % 11];
	write_all(fd, text, sizeof(text));
	assert_null_errno(mmalloc_attach(fd, NULL), EINVAL);
	char back[sizeof(text)];
	ck_assert_int_eq(pread(fd, back, sizeof(back), 0), sizeof(back));
	ck_assert(memcmp(back, text, sizeof(text)) == 0);
	ck_assert_int_eq(file_size(fd), sizeof(text));
	/* Too short to be a heap. */
	ck_assert_int_eq(ftruncate(fd, 10), 0);
	assert_null_errno(mmalloc_attach(fd, NULL), EINVAL);
	ck_assert_int_eq(file_size(fd), 10);
	close(fd);
	tmp_done();
}
END_TEST

START_TEST(truncated_heap_file_is_refused)
{
	int fd = tmp_open();
	void *md = attach_ok(fd, NULL);
	ck_assert_ptr_nonnull(mmalloc(md, 1000));
	detach_ok(md);
	ck_assert_int_eq(ftruncate(fd, file_size(fd) / 2), 0);
	assert_null_errno(mmalloc_attach(fd, NULL), ENODATA);
	close(fd);
	tmp_done();
}
END_TEST

START_TEST(bad_file_descriptors)
{
	/* Not open. */
	int fd = tmp_open();
	close(fd);
	assert_null_errno(mmalloc_attach(fd, NULL), EBADF);
	/* Read-only, empty: refused, and the file stays empty. */
	fd = open(tmp_path, O_RDONLY);
	ck_assert_int_ge(fd, 0);
	errno = 0;
	ck_assert_ptr_null(mmalloc_attach(fd, NULL));
	ck_assert_msg(errno == EINVAL || errno == EBADF, "errno %d", errno);
	ck_assert_int_eq(file_size(fd), 0);
	close(fd);
	/* Read-only, a heap: it cannot be mapped for writing. */
	fd = open(tmp_path, O_RDWR);
	detach_ok(attach_ok(fd, NULL));
	close(fd);
	fd = open(tmp_path, O_RDONLY);
	assert_null_errno(mmalloc_attach(fd, NULL), EACCES);
	close(fd);
	/* Unaligned baseaddr. */
	fd = open(tmp_path, O_RDWR);
	assert_null_errno(mmalloc_attach(fd, (void *)(uintptr_t)0x100000123),
	    EINVAL);
	close(fd);
	tmp_done();
}
END_TEST

/* ---- keys -------------------------------------------------------------------------- */

START_TEST(keys_set_get_clear_and_bad_input)
{
	void *md = attach_ok(-1, NULL);
	void *blk[MMALLOC_KEYS];
	for (int k = 0; k < MMALLOC_KEYS; k++) {
		assert_null_errno(mmalloc_getkey(md, k), ENOENT);
		blk[k] = mmalloc(md, 8);
		ck_assert_int_eq(mmalloc_setkey(md, k, blk[k]), 1);
	}
	for (int k = 0; k < MMALLOC_KEYS; k++)
		ck_assert_ptr_eq(mmalloc_getkey(md, k), blk[k]);
	ck_assert_int_eq(mmalloc_errno(md), 0);
	/* Bad key numbers. */
	int bad[] = { -1, MMALLOC_KEYS, 1000, -2147483647 - 1 };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		errno = 0;
		ck_assert_int_eq(mmalloc_setkey(md, bad[i], blk[0]), 0);
		ck_assert_int_eq(errno, EINVAL);
		assert_null_errno(mmalloc_getkey(md, bad[i]), EINVAL);
	}
	ck_assert_int_eq(mmalloc_errno(md), EINVAL);
	/* A key must point into the heap's data: not the stack, another
	 * heap, or the heap's own header. */
	int local;
	void *elsewhere = P_(malloc)(8);
	void *keys[] = { &local, elsewhere, md, (char *)md + 100 };
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		errno = 0;
		ck_assert_int_eq(mmalloc_setkey(md, 5, keys[i]), 0);
		ck_assert_int_eq(errno, EINVAL);
	}
	P_(free)(elsewhere);
	ck_assert_ptr_eq(mmalloc_getkey(md, 5), blk[5]);   /* unchanged */
	/* NULL clears. */
	ck_assert_int_eq(mmalloc_setkey(md, 5, NULL), 1);
	assert_null_errno(mmalloc_getkey(md, 5), ENOENT);
	detach_ok(md);
}
END_TEST

/* ---- mmalloc_errno and the allocation edges --------------------------------------------- */

START_TEST(errno_after_failures)
{
	void *md = attach_ok(-1, NULL);
	ck_assert_int_eq(mmalloc_errno(md), 0);
	assert_null_errno(mmalloc(md, SIZE_MAX), ENOMEM);
	ck_assert_int_eq(mmalloc_errno(md), ENOMEM);
	assert_null_errno(mmemalign(md, 48, 100), EINVAL);
	ck_assert_int_eq(mmalloc_errno(md), EINVAL);
	assert_null_errno(mcalloc(md, SIZE_MAX / 2, 3), ENOMEM);
	ck_assert_int_eq(mmalloc_errno(md), ENOMEM);
	void *p = mmalloc(md, 10);
	assert_null_errno(mrealloc(md, p, SIZE_MAX - 4096), ENOMEM);
	mfree(md, p);   /* still the caller's after a failed mrealloc */
	/* A larger request than the whole heap. */
	assert_null_errno(mmalloc(md, MMALLOC_HEAP_SIZE), ENOMEM);
	ck_assert_int_eq(mmalloc_errno(md), ENOMEM);
	/* Success does not clear it: it is the last error met. */
	ck_assert_ptr_nonnull(mmalloc(md, 10));
	ck_assert_int_eq(mmalloc_errno(md), ENOMEM);
	/* The errors are per heap. */
	void *md2 = attach_ok(-1, NULL);
	ck_assert_int_eq(mmalloc_errno(md2), 0);
	detach_ok(md2);
	detach_ok(md);
}
END_TEST

/* The file cannot grow (RLIMIT_FSIZE): the allocation fails with ENOMEM and
 * mmalloc_errno tells the system's reason; the heap stays good. */
START_TEST(errno_tells_why_the_file_could_not_grow)
{
	int fd = tmp_open();
	void *md = attach_ok(fd, NULL);
	void *keep = mmalloc(md, 1000);
	pat_fill(keep, 1000, 3);
	off_t size = file_size(fd);
	signal(SIGXFSZ, SIG_IGN);
	struct rlimit old, lim;
	ck_assert_int_eq(getrlimit(RLIMIT_FSIZE, &old), 0);
	lim = old;
	lim.rlim_cur = (rlim_t)size;
	ck_assert_int_eq(setrlimit(RLIMIT_FSIZE, &lim), 0);
	assert_null_errno(mmalloc(md, (size_t)size * 2), ENOMEM);
	ck_assert_int_eq(mmalloc_errno(md), EFBIG);
	ck_assert_int_eq(file_size(fd), size);
	/* A later failure of another kind tells its own cause. */
	assert_null_errno(mmemalign(md, 3, 8), EINVAL);
	ck_assert_int_eq(mmalloc_errno(md), EINVAL);
	ck_assert_int_eq(setrlimit(RLIMIT_FSIZE, &old), 0);
	void *big = mmalloc(md, (size_t)size * 2);
	ck_assert_ptr_nonnull(big);
	pat_assert(keep, 1000, 3);
	ck_assert_int_eq(ph_heap_check(md), 0);
	detach_ok(md);
	close(fd);
	tmp_done();
}
END_TEST

/* A full fixed-size heap (a ph_heap_create handle is a descriptor too). */
START_TEST(full_heap_gives_enomem)
{
	size_t size = MIB;
	void *m = map_range(size, false);
	ph_heap_t *h = ph_heap_create(m, size, 0);
	ck_assert_ptr_nonnull(h);
	void *first = mmalloc(h, 100);
	pat_fill(first, 100, 9);
	size_t n = 0;
	while (mmalloc(h, 4000) != NULL)
		ck_assert(++n < 1000);
	ck_assert_int_eq(errno, ENOMEM);
	ck_assert(n > 100);
	ck_assert_int_eq(mmalloc_errno(h), ENOMEM);
	pat_assert(first, 100, 9);
	ck_assert_int_eq(ph_heap_check(h), 0);
	ck_assert_ptr_null(mmalloc_detach(h));
	ck_assert(is_mapped(m, size));   /* the caller's range: not unmapped */
	munmap(m, size);
}
END_TEST

START_TEST(realloc_and_align_edges)
{
	void *md = attach_ok(-1, NULL);
	/* mrealloc(NULL) allocates; to 0 it frees and gives a minimal block. */
	char *p = mrealloc(md, NULL, 40);
	ck_assert(p != NULL && in_heap(md, p));
	char *q = mrealloc(md, p, 0);
	ck_assert(q != NULL && in_heap(md, q));
	mfree(md, q);
	void *z = mmalloc(md, 0);
	ck_assert(z != NULL && in_heap(md, z));
	mfree(md, z);
	/* Alignments: 0 means none in particular; powers of two up to 1 MiB. */
	void *a0 = mmemalign(md, 0, 10);
	ck_assert_ptr_nonnull(a0);
	mfree(md, a0);
	for (size_t al = 1; al <= MIB; al *= 2) {
		void *a = mmemalign(md, al, 10);
		ck_assert_msg(a != NULL && is_aligned(a, al), "align %zu", al);
		mfree(md, a);
	}
	assert_null_errno(mmemalign(md, 3, 10), EINVAL);
	assert_null_errno(mmemalign(md, 4096 + 16, 10), EINVAL);
	void *v = mvalloc(md, 0);
	ck_assert(v != NULL && is_aligned(v, os_page()));
	mfree(md, v);
	char *c = mcalloc(md, 0, 10);
	ck_assert_ptr_nonnull(c);
	mfree(md, c);
	ck_assert_int_eq(mmcheck(md, NULL), 1);
	ck_assert_int_eq(mmcheckf(md, NULL, 1), 1);
	detach_ok(md);
}
END_TEST

START_TEST(findbase)
{
	assert_null_errno(mmalloc_findbase(0), EINVAL);
	assert_null_errno(mmalloc_findbase(SIZE_MAX), EINVAL);
	void *b = mmalloc_findbase(3 * os_page() + 1);
	ck_assert(b != NULL && is_aligned(b, os_page()));
	void *m = mmap(b, 4 * os_page(), PROT_READ | PROT_WRITE,
	    MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
	ck_assert_ptr_eq(m, b);
	munmap(m, 4 * os_page());
}
END_TEST

/* ---- detach ---------------------------------------------------------------------------- */

START_TEST(detach_of_what_is_not_attached_fails)
{
	void *md = attach_ok(-1, NULL);
	detach_ok(md);
	errno = 0;
	ck_assert_ptr_eq(mmalloc_detach(md), md);   /* already detached */
	ck_assert_int_eq(errno, EINVAL);
	int local;
	errno = 0;
	ck_assert_ptr_eq(mmalloc_detach(&local), &local);
	ck_assert_int_eq(errno, EINVAL);
	/* The process heap named explicitly is not detached. */
	void *def = ph_heap_default();
	errno = 0;
	ck_assert_ptr_eq(mmalloc_detach(def), def);
	ck_assert_int_eq(errno, EINVAL);
	std_heap_works();
}
END_TEST

/* ---- misuse: one line, then abort ----------------------------------------------------- */

static void *abort_md;

static void run_alloc_bad_md(void *arg)   { mmalloc(arg, 10); }
static void run_free_bad_md(void *arg)    { mfree(arg, NULL); }
static void run_setkey_bad_md(void *arg)  { mmalloc_setkey(arg, 0, NULL); }
static void run_getkey_bad_md(void *arg)  { mmalloc_getkey(arg, 99); }
static void run_errno_bad_md(void *arg)   { mmalloc_errno(arg); }
static void run_check_bad_md(void *arg)   { mmcheck(arg, NULL); }

static void run_free_foreign(void *arg)
{
	void *p = P_(malloc)(32);   /* in the process heap, not in md */
	mfree(abort_md, p);
}

static void run_free_twice(void *arg)
{
	void *p = mmalloc(abort_md, 3000);
	mfree(abort_md, p);
	mfree(abort_md, p);
}

static void run_free_interior(void *arg)
{
	char *p = mmalloc(abort_md, 100);
	mfree(abort_md, p + 16);
}

static void run_check_broken(void *arg)
{
	/* The first word of a heap is its magic (src/types.h). */
	*(volatile uint64_t *)abort_md = 0;
	mmcheck(abort_md, NULL);
}

struct abort_case {
	const char *name;
	void (*fn)(void *);
	void *arg;
	const char *says;
};

static void assert_aborts(const struct abort_case *c)
{
	char out[1024];
	int st = run_child_capture(c->fn, c->arg, out, sizeof(out));
	ck_assert_msg(WIFSIGNALED(st) && WTERMSIG(st) == SIGABRT,
	    "%s: status %#x, expected SIGABRT; said \"%s\"", c->name, st, out);
	ck_assert_msg(strncmp(out, "phmalloc: ", 10) == 0 &&
	    strstr(out, c->says) != NULL && strchr(out, '\n') ==
	    out + strlen(out) - 1, "%s: said \"%s\", expected one line "
	    "with \"%s\"", c->name, out, c->says);
}

START_TEST(misuse_aborts_with_one_line)
{
	abort_md = attach_ok(-1, NULL);
	int local;
	void *inside = (char *)abort_md + 64 * KIB;   /* in it, not its base */
	struct abort_case cases[] = {
		{ "mmalloc(stack)", run_alloc_bad_md, &local, "bad heap handle" },
		{ "mmalloc(inside)", run_alloc_bad_md, inside, "bad heap handle" },
		{ "mfree(stack)", run_free_bad_md, &local, "bad heap handle" },
		{ "setkey(stack)", run_setkey_bad_md, &local,
		  "bad mmalloc descriptor" },
		{ "getkey(inside)", run_getkey_bad_md, inside,
		  "bad mmalloc descriptor" },
		{ "errno(stack)", run_errno_bad_md, &local,
		  "bad mmalloc descriptor" },
		{ "mmcheck(stack)", run_check_bad_md, &local,
		  "bad mmalloc descriptor" },
		{ "mfree(foreign)", run_free_foreign, NULL, "not in heap" },
		{ "mfree twice", run_free_twice, NULL, "double free" },
		{ "mfree(interior)", run_free_interior, NULL, "free" },
		{ "mmcheck(broken)", run_check_broken, NULL,
		  "is inconsistent" },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		assert_aborts(&cases[i]);
	/* None of it touched the heap in this process. */
	use_heap(abort_md);
	detach_ok(abort_md);
}
END_TEST

static int check_calls;
static void count_call(void) { check_calls++; }

START_TEST(mmcheck_calls_func_on_a_broken_heap)
{
	void *md = attach_ok(-1, NULL);
	ck_assert_int_eq(mmcheck(md, count_call), 1);
	ck_assert_int_eq(check_calls, 0);
	uint64_t magic = *(uint64_t *)md;   /* first word (src/types.h) */
	*(volatile uint64_t *)md = 0;
	ck_assert_int_eq(mmcheckf(md, count_call, 1), 0);
	ck_assert_int_eq(check_calls, 1);
	ck_assert_int_eq(mmalloc_errno(md), EUCLEAN);
	*(volatile uint64_t *)md = magic;
	ck_assert_int_eq(mmcheck(md, count_call), 1);
	ck_assert_int_eq(check_calls, 1);
	detach_ok(md);
}
END_TEST

/* ---- from a signal handler ----------------------------------------------------- */

#define SIG_RING 128
static void *sig_md;
static void *sig_blk[SIG_RING];
static size_t sig_len[SIG_RING];
static volatile sig_atomic_t sig_runs, sig_bad, main_inside, sig_inside;
static volatile unsigned main_ops;   /* the main loop's progress */

static void on_alarm(int sig)
{
	/* A handler slower than the timer's period (a loaded machine,
	 * sanitizers) would find the next signal pending when it returns and
	 * starve the main loop: work only once main has moved on. */
	static unsigned seen = ~0u;
	if (main_ops == seen)
		return;
	seen = main_ops;
	int saved = errno;
	unsigned i = (unsigned)sig_runs % SIG_RING;
	sig_inside += main_inside;
	if (sig_blk[i] != NULL) {
		if (pat_find_bad_range(sig_blk[i], 0, sig_len[i], i) != SIZE_MAX)
			sig_bad = 1;
		mfree(sig_md, sig_blk[i]);
	}
	sig_len[i] = (sig_runs % 50 == 0) ? 30000 : 1 + (size_t)sig_runs % 900;
	sig_blk[i] = sig_runs % 3 ? mmalloc(sig_md, sig_len[i]) :
	    mrealloc(sig_md, mcalloc(sig_md, 1, 8), sig_len[i]);
	if (sig_blk[i] == NULL)
		sig_bad = 2;
	else
		pat_fill(sig_blk[i], sig_len[i], i);
	sig_runs++;
	errno = saved;
}

/* The allocation calls on one file heap from a 20 kHz timer handler while
 * the interrupted thread allocates there too. */
START_TEST(allocation_calls_from_a_signal_handler)
{
	int fd = tmp_open();
	sig_md = attach_ok(fd, NULL);
	close(fd);
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_alarm;
	sa.sa_flags = SA_RESTART;
	sigemptyset(&sa.sa_mask);
	ck_assert_int_eq(sigaction(SIGALRM, &sa, NULL), 0);
	struct itimerval it = { { 0, 50 }, { 0, 50 } };
	ck_assert_int_eq(setitimer(ITIMER_REAL, &it, NULL), 0);
	enum { RING = 512, OPS = 300000 };
	static void *blk[RING];
	static size_t len[RING];
	/* Until a tick came inside an mmalloc call too: counts, never a
	 * time, so a slow or busy machine only takes longer. */
	for (unsigned op = 0; op < OPS || sig_runs < 1000 || sig_inside == 0;
	    op++, main_ops = op) {
		unsigned i = (op * 7919u) % RING;
		if (blk[i] != NULL) {
			if (pat_find_bad_range(blk[i], 0, len[i], op % RING + 7)
			    != SIZE_MAX)
				ck_abort_msg("block %u lost its contents", i);
			main_inside = 1;
			mfree(sig_md, blk[i]);
			main_inside = 0;
		}
		len[i] = op % 97 == 0 ? 20000 : 1 + op % 1200;
		main_inside = 1;
		blk[i] = mmalloc(sig_md, len[i]);
		main_inside = 0;
		if (blk[i] == NULL)
			ck_abort_msg("mmalloc in main gave NULL");
		/* 7919 is odd: slot i comes round again at the same op % RING. */
		pat_fill(blk[i], len[i], op % RING + 7);
	}
	struct itimerval off = { { 0, 0 }, { 0, 0 } };
	ck_assert_int_eq(setitimer(ITIMER_REAL, &off, NULL), 0);
	ck_assert_int_eq(sig_bad, 0);
	ck_assert_int_ge(sig_runs, 1000);
	ck_assert_msg(sig_inside > 0, "no tick came during an mmalloc call");
	ck_assert_int_eq(ph_heap_check(sig_md), 0);
	detach_ok(sig_md);
	tmp_done();
}
END_TEST

static Suite *mmalloc_suite(void)
{
	Suite *s = suite_create("mmalloc");
	TCase *ta = tcase_create("anonymous");
	tcase_add_test(ta, anonymous_heap_works_and_detach_unmaps_it);
	tcase_add_test(ta, anonymous_heap_at_baseaddr);
	tcase_add_test(ta, anonymous_heap_is_private);
	tcase_add_test(ta, null_descriptor_is_the_default_heap);
	suite_add_tcase(s, ta);
	TCase *tf = tcase_create("file");
	tcase_set_timeout(tf, 60);
	tcase_add_test(tf, file_heap_reattached_by_an_exec_process);
	tcase_add_test(tf, file_heap_at_baseaddr_comes_back_there);
	tcase_add_test(tf, file_heap_grows_its_file);
	tcase_add_test(tf, two_processes_attach_one_new_file);
	tcase_add_test(tf, file_heap_interworks_with_ph_heap_open);
	tcase_add_test(tf, file_that_is_not_a_heap_is_refused_untouched);
	tcase_add_test(tf, truncated_heap_file_is_refused);
	tcase_add_test(tf, bad_file_descriptors);
	suite_add_tcase(s, tf);
	TCase *tk = tcase_create("keys_errors");
	tcase_set_timeout(tk, 60);
	tcase_add_test(tk, keys_set_get_clear_and_bad_input);
	tcase_add_test(tk, errno_after_failures);
	tcase_add_test(tk, errno_tells_why_the_file_could_not_grow);
	tcase_add_test(tk, full_heap_gives_enomem);
	tcase_add_test(tk, realloc_and_align_edges);
	tcase_add_test(tk, findbase);
	tcase_add_test(tk, detach_of_what_is_not_attached_fails);
	tcase_add_test(tk, misuse_aborts_with_one_line);
	tcase_add_test(tk, mmcheck_calls_func_on_a_broken_heap);
	suite_add_tcase(s, tk);
	TCase *ts = tcase_create("signals");
	tcase_set_timeout(ts, 120);
	tcase_add_test(ts, allocation_calls_from_a_signal_handler);
	suite_add_tcase(s, ts);
	return s;
}

int main(void)
{
	return run_suite(mmalloc_suite());
}
