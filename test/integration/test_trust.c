/*
 * test_trust.c -- who may join a heap in a file or shm object
 * (DESIGN.md "Trust and security", ph_heap(3) "Trust").
 *
 * [DESIGN] "Creation is O_EXCL first, mode 0600; PH_HEAP_GROUP creates
 * 0660 for a group.  Joining checks the object: owned by the caller's
 * effective uid (or, with PH_HEAP_GROUP, by one of its groups) and not
 * writable by others -- otherwise EACCES, nothing mapped.  Root is not
 * exempt.  Heap files are opened with O_NOFOLLOW; no open loop is
 * unbounded."
 *
 * The planting attack and the group cases need a second user: run as root,
 * a forked child becomes `nobody` (setgid/setuid) and makes the object;
 * run as anyone else those tests print why they are skipped and pass.
 * A spinning open would show as Check's timeout, which only catches hangs.
 */
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "testutil.h"

#define HEAP_BYTES  (4 * MIB)
#define SHM_DIR     "/dev/shm"

/* ---- names -------------------------------------------------------------- */

/* A shm name of this test process; Check forks every test, so the pid
 * keeps two tests' names apart. */
static void shm_name(char *buf, size_t cap, const char *tag)
{
	snprintf(buf, cap, "/ph-trust-%d-%s", (int)getpid(), tag);
}

/* The file a shm name lives in, for stat, chmod and symlink. */
static void shm_path(char *buf, size_t cap, const char *name)
{
	snprintf(buf, cap, SHM_DIR "%s", name);
}

static char tmp_dir[64];

/* A path in a directory of this test's own. */
static void tmp_path(char *buf, size_t cap, const char *leaf)
{
	if (tmp_dir[0] == '\0') {
		snprintf(tmp_dir, sizeof(tmp_dir), "/tmp/ph-trust.XXXXXX");
		ck_assert_ptr_nonnull(mkdtemp(tmp_dir));
	}
	snprintf(buf, cap, "%s/%s", tmp_dir, leaf);
}

/* Where name lives in the file system: itself, or under /dev/shm. */
static void fs_path(char *buf, size_t cap, const char *name)
{
	if (name[0] == '/' && strchr(name + 1, '/') == NULL)
		shm_path(buf, cap, name);
	else
		snprintf(buf, cap, "%s", name);
}

static void name_remove(const char *name)
{
	char p[256];
	fs_path(p, sizeof(p), name);
	unlink(p);
}

static struct stat stat_of(const char *name)
{
	char p[256];
	struct stat st;
	fs_path(p, sizeof(p), name);
	ck_assert_msg(lstat(p, &st) == 0, "lstat %s: %s", p, strerror(errno));
	return st;
}

/* Is the page at p mapped in this process?  mincore says ENOMEM if not. */
static bool page_mapped(const void *p)
{
	unsigned char vec;
	return mincore((void *)((uintptr_t)p & ~(os_page() - 1)), os_page(),
	    &vec) == 0;
}

/* ph_heap_open must fail with err. */
#define assert_open_fails(name, size, flags, err) do {                    \
	errno = 0;                                                          \
	ph_heap_t *h_ = ph_heap_open((name), NULL, (size), (flags));        \
	int e_ = errno;                                                     \
	ck_assert_msg(h_ == NULL, "ph_heap_open(%s, flags %#x) joined %p, " \
	    "expected %s", (name), (unsigned)(flags), (void *)h_,           \
	    strerror(err));                                                  \
	ck_assert_msg(e_ == (err), "ph_heap_open(%s, flags %#x): errno %d " \
	    "(%s), expected %d (%s)", (name), (unsigned)(flags), e_,        \
	    strerror(e_), (err), strerror(err));                             \
} while (0)

/* Makes a heap at name (mode as ph_heap_open leaves it), puts a string
 * under root 0, closes it; returns where it was mapped. */
static void *make_heap(const char *name, unsigned flags, const char *text)
{
	ph_heap_t *h = ph_heap_open(name, NULL, HEAP_BYTES,
	    PH_HEAP_CREATE | PH_HEAP_EXCL | flags);
	ck_assert_msg(h != NULL, "create %s: %s", name, strerror(errno));
	char *s = ph_heap_malloc(h, strlen(text) + 1);
	ck_assert_ptr_nonnull(s);
	strcpy(s, text);
	ck_assert_int_eq(ph_heap_set_root(h, 0, s), 0);
	ck_assert_int_eq(ph_heap_close(h), 0);
	return h;
}

/* Joins name with flags, checks root 0 holds text and the heap works. */
static void join_and_read(const char *name, unsigned flags, const char *text)
{
	ph_heap_t *h = ph_heap_open(name, NULL, 0, flags);
	ck_assert_msg(h != NULL, "join %s (flags %#x): %s", name, flags,
	    strerror(errno));
	char *s = ph_heap_get_root(h, 0);
	ck_assert_ptr_nonnull(s);
	ck_assert_str_eq(s, text);
	void *p = ph_heap_malloc(h, 1000);
	ck_assert_ptr_nonnull(p);
	ph_heap_free(h, p);
	ck_assert_int_eq(ph_heap_check(h), 0);
	ck_assert_int_eq(ph_heap_close(h), 0);
}

/* ---- creation modes ------------------------------------------------------ */

static const mode_t umasks[] = { 0, 022, 027, 077, 0777 };
enum { NUMASKS = sizeof(umasks) / sizeof(umasks[0]) };

/* The object of a new heap has exactly 0600 (0660 with PH_HEAP_GROUP),
 * whatever the umask took from the mode given to open. */
static void create_mode(unsigned flags, mode_t want)
{
	for (unsigned i = 0; i < NUMASKS; i++) {
		char name[64], path[128];
		shm_name(name, sizeof(name), "mode");
		tmp_path(path, sizeof(path), "mode.heap");
		const char *names[] = { name, path };
		for (unsigned k = 0; k < 2; k++) {
			mode_t old = umask(umasks[i]);
			ph_heap_t *h = ph_heap_open(names[k], NULL, HEAP_BYTES,
			    PH_HEAP_CREATE | flags);
			int err = errno;
			umask(old);
			ck_assert_msg(h != NULL, "create %s, umask %03o: %s",
			    names[k], (unsigned)umasks[i], strerror(err));
			struct stat st = stat_of(names[k]);
			ck_assert_msg(S_ISREG(st.st_mode) &&
			    (st.st_mode & 07777) == want, "%s made with umask "
			    "%03o has mode %04o, want %04o", names[k],
			    (unsigned)umasks[i], (unsigned)(st.st_mode & 07777),
			    (unsigned)want);
			ck_assert_uint_eq(st.st_uid, geteuid());
			ck_assert_int_eq(ph_heap_close(h), 0);
			name_remove(names[k]);
		}
	}
}

START_TEST(create_mode_is_0600_whatever_the_umask)
{
	create_mode(0, 0600);
}
END_TEST

START_TEST(group_create_mode_is_0660_whatever_the_umask)
{
	create_mode(PH_HEAP_GROUP, 0660);
}
END_TEST

/* ---- joining by mode ------------------------------------------------------ */

/* An object writable by others is refused whoever owns it, and nothing of
 * it is mapped; modes that only its owner (and group) can write are fine
 * for the owner, with or without PH_HEAP_GROUP. */
START_TEST(joining_an_object_writable_by_others_is_refused)
{
	static const mode_t bad[] = { 0666, 0646, 0602, 0622 };
	static const mode_t good[] = { 0600, 0640, 0644, 0660 };
	char name[64], path[128], fs[256];
	shm_name(name, sizeof(name), "other");
	tmp_path(path, sizeof(path), "other.heap");
	const char *names[] = { name, path };
	for (unsigned k = 0; k < 2; k++) {
		void *base = make_heap(names[k], 0, "mine");
		fs_path(fs, sizeof(fs), names[k]);
		for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
			ck_assert_int_eq(chmod(fs, bad[i]), 0);
			assert_open_fails(names[k], 0, 0, EACCES);
			assert_open_fails(names[k], HEAP_BYTES, PH_HEAP_CREATE,
			    EACCES);
			assert_open_fails(names[k], 0, PH_HEAP_GROUP, EACCES);
			ck_assert_msg(!page_mapped(base), "mode %04o: %p is "
			    "mapped after a refused open", (unsigned)bad[i],
			    base);
			struct stat st = stat_of(names[k]);
			ck_assert_uint_eq(st.st_mode & 07777, bad[i]);
			ck_assert_int_eq(st.st_size, HEAP_BYTES);
		}
		for (unsigned i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
			ck_assert_int_eq(chmod(fs, good[i]), 0);
			join_and_read(names[k], 0, "mine");
			join_and_read(names[k], PH_HEAP_GROUP, "mine");
			join_and_read(names[k], PH_HEAP_CREATE, "mine");
		}
		name_remove(names[k]);
	}
}
END_TEST

/* A heap lives in a regular file: a FIFO is refused at once (no read of a
 * pipe that nobody writes). */
START_TEST(joining_what_is_not_a_regular_file_is_refused)
{
	char path[128];
	tmp_path(path, sizeof(path), "fifo");
	ck_assert_int_eq(mkfifo(path, 0600), 0);
	assert_open_fails(path, 0, 0, EINVAL);
	assert_open_fails(path, HEAP_BYTES, PH_HEAP_CREATE, EINVAL);
	unlink(path);
}
END_TEST

/* ---- symbolic links ----------------------------------------------------- */

/* A link to a good heap of ours is still refused: the name must be the
 * object itself. */
START_TEST(symlink_to_a_heap_is_eloop)
{
	char name[64], link_name[64], shm_file[128], shm_link[128];
	char path[128], link_path[128];
	shm_name(name, sizeof(name), "target");
	shm_name(link_name, sizeof(link_name), "link");
	shm_path(shm_file, sizeof(shm_file), name);
	shm_path(shm_link, sizeof(shm_link), link_name);
	tmp_path(path, sizeof(path), "target.heap");
	tmp_path(link_path, sizeof(link_path), "link.heap");

	void *b1 = make_heap(name, 0, "target");
	void *b2 = make_heap(path, 0, "target");
	ck_assert_int_eq(symlink(shm_file, shm_link), 0);
	ck_assert_int_eq(symlink(path, link_path), 0);
	const char *links[] = { link_name, link_path };
	for (unsigned k = 0; k < 2; k++) {
		assert_open_fails(links[k], 0, 0, ELOOP);
		assert_open_fails(links[k], HEAP_BYTES, PH_HEAP_CREATE, ELOOP);
		assert_open_fails(links[k], HEAP_BYTES, PH_HEAP_CREATE |
		    PH_HEAP_EXCL, EEXIST);
	}
	ck_assert(!page_mapped(b1) && !page_mapped(b2));
	join_and_read(name, 0, "target");   /* the real names still work */
	join_and_read(path, 0, "target");
	unlink(shm_link);
	unlink(link_path);
	name_remove(name);
	name_remove(path);
}
END_TEST

/* A dangling link with PH_HEAP_CREATE used to spin for ever: O_EXCL says
 * EEXIST, the open that joins said ENOENT, round and round.  Now it
 * returns, and nothing is made where the link points. */
START_TEST(dangling_symlink_with_create_returns)
{
	char name[64], shm_link[128], gone[128], path_gone[128], link_path[128];
	shm_name(name, sizeof(name), "dangling");
	shm_path(shm_link, sizeof(shm_link), name);
	snprintf(gone, sizeof(gone), SHM_DIR "/ph-trust-%d-nothing",
	    (int)getpid());
	tmp_path(path_gone, sizeof(path_gone), "nothing.heap");
	tmp_path(link_path, sizeof(link_path), "dangling.heap");
	ck_assert_int_eq(symlink(gone, shm_link), 0);
	ck_assert_int_eq(symlink(path_gone, link_path), 0);
	const char *links[] = { name, link_path };
	for (unsigned k = 0; k < 2; k++) {
		assert_open_fails(links[k], HEAP_BYTES, PH_HEAP_CREATE, ELOOP);
		assert_open_fails(links[k], HEAP_BYTES, PH_HEAP_CREATE |
		    PH_HEAP_GROUP, ELOOP);
		assert_open_fails(links[k], HEAP_BYTES, PH_HEAP_EXCL, EEXIST);
		assert_open_fails(links[k], 0, 0, ELOOP);
	}
	struct stat st;
	ck_assert_int_eq(lstat(gone, &st), -1);
	ck_assert_int_eq(lstat(path_gone, &st), -1);
	unlink(shm_link);
	unlink(link_path);
}
END_TEST

/* ---- another user's objects (root only) -------------------------------- */

static bool skip_unless_root(const char *test)
{
	if (geteuid() == 0)
		return false;
	printf("test_trust: %s skipped: needs root to act as a second "
	    "user\n", test);
	return true;
}

struct planter {
	const char *name;
	uid_t uid;
	gid_t gid;
	unsigned flags;     /* for ph_heap_open */
	mode_t mode;        /* chmod'ed to this after, 0: left as made */
	const char *text;   /* under root 0 */
};

/* Forks a child that becomes uid:gid (no other groups), makes a valid
 * heap at p->name holding p->text, closes it and sets its mode.  Returns
 * the address the heap records, read back through a pipe. */
static void *plant(const struct planter *p)
{
	int fds[2];
	ck_assert_int_eq(pipe(fds), 0);
	fflush(NULL);
	pid_t pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		close(fds[0]);
		umask(077);   /* the mode must come out right anyway */
		if (setgroups(0, NULL) != 0 || setgid(p->gid) != 0 ||
		    setuid(p->uid) != 0)
			_exit(10);
		ph_heap_t *h = ph_heap_open(p->name, NULL, HEAP_BYTES,
		    PH_HEAP_CREATE | PH_HEAP_EXCL | p->flags);
		if (h == NULL)
			_exit(11);
		char *s = ph_heap_malloc(h, strlen(p->text) + 1);
		if (s == NULL)
			_exit(12);
		strcpy(s, p->text);
		if (ph_heap_set_root(h, 0, s) != 0)
			_exit(13);
		void *base = h;
		if (ph_heap_close(h) != 0)
			_exit(14);
		char path[256];
		fs_path(path, sizeof(path), p->name);
		if (p->mode != 0 && chmod(path, p->mode) != 0)
			_exit(15);
		if (write(fds[1], &base, sizeof(base)) != sizeof(base))
			_exit(16);
		_exit(0);
	}
	close(fds[1]);
	void *base = NULL;
	ssize_t n = read(fds[0], &base, sizeof(base));
	close(fds[0]);
	int status;
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
	    "planting child as %u:%u: status %#x", (unsigned)p->uid,
	    (unsigned)p->gid, status);
	ck_assert_int_eq(n, sizeof(base));
	struct stat st = stat_of(p->name);
	ck_assert_uint_eq(st.st_uid, p->uid);
	ck_assert_uint_eq(st.st_gid, p->gid);
	return base;
}

static struct passwd nobody_pw(void)
{
	struct passwd *pw = getpwnam("nobody");
	ck_assert_msg(pw != NULL && pw->pw_uid != 0, "no unprivileged user "
	    "'nobody' to act as the planter");
	return *pw;
}

/* Reads the whole object, to show a refused open changed nothing. */
static void *read_all(const char *name, size_t *len)
{
	char path[256];
	fs_path(path, sizeof(path), name);
	int fd = open(path, O_RDONLY);
	ck_assert_int_ge(fd, 0);
	struct stat st;
	ck_assert_int_eq(fstat(fd, &st), 0);
	void *buf = malloc((size_t)st.st_size);
	ck_assert_ptr_nonnull(buf);
	ck_assert_int_eq(pread(fd, buf, (size_t)st.st_size, 0), st.st_size);
	close(fd);
	*len = (size_t)st.st_size;
	return buf;
}

/* The planting attack: another user makes /dev/shm/NAME a valid heap,
 * mode 0666 (or any mode: it is not root's), and root, asking to create or
 * join NAME, would adopt it, read the planted roots and store its data
 * where the planter reads it.  Root gets EACCES, maps nothing and changes
 * nothing in the object. */
static const mode_t planted_modes[] = { 0666, 0644, 0600, 0660 };

START_TEST(planted_heap_is_refused_even_for_root)
{
	if (skip_unless_root("planted_heap_is_refused_even_for_root"))
		return;
	struct passwd pw = nobody_pw();
	char name[64];
	shm_name(name, sizeof(name), "planted");
	mode_t mode = planted_modes[_i];
	struct planter p = { name, pw.pw_uid, pw.pw_gid, 0, mode, "planted" };
	void *base = plant(&p);
	size_t len0, len1;
	void *before = read_all(name, &len0);

	assert_open_fails(name, HEAP_BYTES, PH_HEAP_CREATE, EACCES);
	assert_open_fails(name, 0, 0, EACCES);
	assert_open_fails(name, 0, PH_HEAP_GROUP, EACCES);   /* not our group */
	assert_open_fails(name, HEAP_BYTES, PH_HEAP_CREATE | PH_HEAP_GROUP,
	    EACCES);
	ck_assert_msg(!page_mapped(base), "planted heap's address %p is "
	    "mapped after the refusal", base);

	void *after = read_all(name, &len1);
	ck_assert_uint_eq(len0, len1);
	ck_assert_msg(memcmp(before, after, len0) == 0, "the planted object "
	    "was written by a refused open");
	struct stat st = stat_of(name);
	ck_assert_uint_eq(st.st_mode & 07777, mode);
	free(before);
	free(after);
	shm_unlink(name);
}
END_TEST

/* A group heap: another user, whose group is ours, makes it with
 * PH_HEAP_GROUP (0660, that group).  We join it only when we say
 * PH_HEAP_GROUP, and then share its data. */
START_TEST(group_member_joins_a_group_heap)
{
	if (skip_unless_root("group_member_joins_a_group_heap"))
		return;
	struct passwd pw = nobody_pw();
	char name[64];
	shm_name(name, sizeof(name), "group");
	struct planter p = { name, pw.pw_uid, getegid(), PH_HEAP_GROUP, 0,
	    "for the group" };
	void *base = plant(&p);
	struct stat st = stat_of(name);
	ck_assert_uint_eq(st.st_mode & 07777, 0660);

	assert_open_fails(name, 0, 0, EACCES);   /* not ours, no flag */
	assert_open_fails(name, HEAP_BYTES, PH_HEAP_CREATE, EACCES);
	ck_assert(!page_mapped(base));
	join_and_read(name, PH_HEAP_GROUP, "for the group");
	join_and_read(name, PH_HEAP_GROUP | PH_HEAP_CREATE, "for the group");

	/* Made writable by others, it is refused with the flag too. */
	char path[128];
	shm_path(path, sizeof(path), name);
	ck_assert_int_eq(chmod(path, 0666), 0);
	assert_open_fails(name, 0, PH_HEAP_GROUP, EACCES);
	shm_unlink(name);
}
END_TEST

/* PH_HEAP_GROUP admits the caller's groups only: a group heap of a group
 * we are not in is refused. */
START_TEST(group_heap_of_another_group_is_refused)
{
	if (skip_unless_root("group_heap_of_another_group_is_refused"))
		return;
	struct passwd pw = nobody_pw();
	ck_assert_uint_ne(pw.pw_gid, getegid());
	char name[64];
	shm_name(name, sizeof(name), "othergroup");
	struct planter p = { name, pw.pw_uid, pw.pw_gid, PH_HEAP_GROUP, 0,
	    "not yours" };
	void *base = plant(&p);
	assert_open_fails(name, 0, PH_HEAP_GROUP, EACCES);
	assert_open_fails(name, HEAP_BYTES, PH_HEAP_CREATE | PH_HEAP_GROUP,
	    EACCES);
	ck_assert(!page_mapped(base));
	shm_unlink(name);
}
END_TEST

/* Without a second user: our own group heap is joined by another process
 * of ours with or without the flag (we own it). */
START_TEST(own_group_heap_is_joined)
{
	char name[64];
	shm_name(name, sizeof(name), "owngroup");
	make_heap(name, PH_HEAP_GROUP, "ours");
	ck_assert_uint_eq(stat_of(name).st_mode & 07777, 0660);
	fflush(NULL);
	pid_t pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		ph_heap_t *h = ph_heap_open(name, NULL, 0, PH_HEAP_GROUP);
		char *s = h ? ph_heap_get_root(h, 0) : NULL;
		_exit(s != NULL && strcmp(s, "ours") == 0 ? 0 : 1);
	}
	int status;
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	join_and_read(name, 0, "ours");
	shm_unlink(name);
}
END_TEST

static void remove_tmp_dir(void)
{
	if (tmp_dir[0] != '\0')
		rmdir(tmp_dir);
}

int main(void)
{
	atexit(remove_tmp_dir);
	Suite *s = suite_create("trust");

	TCase *tc = tcase_create("create");
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, create_mode_is_0600_whatever_the_umask);
	tcase_add_test(tc, group_create_mode_is_0660_whatever_the_umask);
	suite_add_tcase(s, tc);

	tc = tcase_create("join");
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, joining_an_object_writable_by_others_is_refused);
	tcase_add_test(tc, joining_what_is_not_a_regular_file_is_refused);
	tcase_add_test(tc, symlink_to_a_heap_is_eloop);
	tcase_add_test(tc, dangling_symlink_with_create_returns);
	tcase_add_test(tc, own_group_heap_is_joined);
	suite_add_tcase(s, tc);

	tc = tcase_create("another user");
	tcase_set_timeout(tc, 30);
	tcase_add_loop_test(tc, planted_heap_is_refused_even_for_root, 0,
	    sizeof(planted_modes) / sizeof(planted_modes[0]));
	tcase_add_test(tc, group_member_joins_a_group_heap);
	tcase_add_test(tc, group_heap_of_another_group_is_refused);
	suite_add_tcase(s, tc);

	return run_suite(s);
}
