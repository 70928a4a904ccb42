// test_cxx.cpp -- <phmalloc/allocator.hpp>: std containers in a heap,
// shared by processes started with exec, across a reset, and after a
// process is killed while it inserts; heap_resource for one process.
//
// Nothing here depends on timing: processes are ordered by waitpid and a
// pipe, and the kill lands wherever the worker happens to be (every place
// must leave a heap that checks clean).
#include <check.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <spawn.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstring>
#include <deque>
#include <initializer_list>
#include <list>
#include <map>
#include <memory_resource>
#include <string>
#include <unordered_map>
#include <vector>

#include "../run_suite.h"
#include "table.hpp"

extern char **environ;

#define MIB ((std::size_t)1 << 20)
#define SHARED_SIZE (64 * MIB)
#define KILL_ROUNDS 8

// ---- the allocator's type is what the containers in the heap hold --------

static_assert(sizeof(ph::shared_allocator<int>) == sizeof(void *),
    "one pointer: the heap's base address");
static_assert(std::is_trivially_copyable_v<ph::shared_allocator<int>>);
static_assert(!std::is_polymorphic_v<ph::shared_allocator<int>>,
    "no vtable in the heap");
static_assert(!std::is_default_constructible_v<ph::shared_allocator<int>>,
    "an allocator always names its heap");
static_assert(std::is_same_v<std::allocator_traits<ph::shared_allocator<int>>
    ::rebind_alloc<double>, ph::shared_allocator<double>>);
static_assert(!std::allocator_traits<ph::scoped_allocator<int>>
    ::propagate_on_container_copy_assignment::value);
static_assert(!std::allocator_traits<ph::scoped_allocator<int>>
    ::propagate_on_container_move_assignment::value);
static_assert(!std::allocator_traits<ph::scoped_allocator<int>>
    ::is_always_equal::value);
static_assert(std::uses_allocator_v<Table, ph::shared_allocator<char>>);

// ---- helpers --------------------------------------------------------------

static ph_heap_t *private_heap(std::size_t size)
{
	void *p = mmap(nullptr, size, PROT_READ | PROT_WRITE,
	    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ck_assert(p != MAP_FAILED);
	ph_heap_t *h = ph_heap_create(p, size, PH_HEAP_ZEROED);
	ck_assert_ptr_nonnull(h);
	return h;
}

static bool in_heap(ph_heap_t *h, const void *p)
{
	return ph_heap_of(p) == h;
}

#define ck_assert_verified(t, h, first, n, marks) do { \
	std::string why_ = table_verify((t), (h), (first), (n), (marks)); \
	ck_assert_msg(why_.empty(), "table: %s", why_.c_str()); \
} while (0)

template <class E, class F>
static bool throws(F f)
{
	try {
		f();
	} catch (const E &) {
		return true;
	} catch (...) {
		return false;
	}
	return false;
}

static int system_error_code(void (*f)(ph_heap_t *), ph_heap_t *h)
{
	try {
		f(h);
	} catch (const std::system_error &e) {
		return e.code().value();
	}
	return 0;
}

// ---- one process ---------------------------------------------------------

START_TEST(containers_allocate_in_their_heap)
{
	ph_heap_t *h = private_heap(16 * MIB);
	ph::shared_allocator<int> a(h);
	ck_assert_ptr_eq(a.base(), h);
	ck_assert_ptr_eq(a.heap(), h);

	ph::shared_vector<int> v(h);
	for (int i = 0; i < 10000; i++)
		v.push_back(i);
	ck_assert(in_heap(h, v.data()));

	ph::shared_string s("a string too long for any short-string buffer", h);
	s += s;
	ck_assert(in_heap(h, s.data()));

	ph::shared_deque<long> d(h);
	for (long i = 0; i < 5000; i++)
		d.push_front(i);
	ck_assert(in_heap(h, &d.front()) && in_heap(h, &d.back()));

	std::list<int, ph::shared_allocator<int>> l(h);
	l.assign(100, 7);
	ck_assert(in_heap(h, &l.front()));

	// Nested: the scoped adaptor gives keys and values the map's heap.
	ph::shared_map<ph::shared_string, ph::shared_vector<int>> m(h);
	for (int i = 0; i < 500; i++)
		m[ph::shared_string(key_of(i).c_str(), h)].assign(
		    length_of(i), i);
	ck_assert_uint_eq(m.size(), 500);
	for (const auto &e : m) {
		ck_assert(in_heap(h, &e));
		ck_assert(in_heap(h, e.first.data()));
		ck_assert(in_heap(h, e.second.data()));
		ck_assert(e.second.get_allocator() == a);
	}
	// std::less<> finds a key without making one in the heap.
	ck_assert(m.find(key_of(42).c_str()) != m.end());
	ck_assert(m.find(std::string_view("no such key")) == m.end());

	Table t(h);
	table_fill(t, 0, 2000);
	ck_assert_verified(t, h, 0, 2000, 0);
	table_mark(t);
	ck_assert_verified(t, h, 0, 2000, 1);
	ck_assert_int_eq(ph_heap_check(h), 0);
}
END_TEST

// Building and dropping a nested table many times in a heap that holds a
// few of them: a block the containers failed to give back would fill it.
START_TEST(containers_give_their_blocks_back)
{
	ph_heap_t *h = private_heap(2 * MIB);
	try {
		for (int round = 0; round < 200; round++) {
			Table t(h);
			table_fill(t, round, 300);
			ph::shared_vector<ph::shared_string> names(h);
			for (const auto &e : t)
				names.emplace_back(e.first);
			ck_assert(in_heap(h, names.back().data()));
		}
	} catch (const std::bad_alloc &) {
		ck_abort_msg("the heap filled up: the containers leak");
	}
	ck_assert_int_eq(ph_heap_check(h), 0);
}
END_TEST

START_TEST(equality_rebind_and_assignment_keep_the_heap)
{
	ph_heap_t *h1 = private_heap(4 * MIB), *h2 = private_heap(4 * MIB);
	ph::shared_allocator<int> a1(h1), a2(h2);
	ph::shared_allocator<double> d1(a1);
	ck_assert(d1 == a1);
	ck_assert(a1 != a2);
	ck_assert(ph::shared_allocator<char>(h1) ==
	    ph::scoped_allocator<int>(h1));

	ph::shared_vector<int> x(h1), y(h2);
	x.assign(1000, 1);
	y = x;                              // copy into y's own heap
	ck_assert(in_heap(h2, y.data()));
	y = std::move(x);                   // unequal heaps: moved element-wise
	ck_assert(in_heap(h2, y.data()));
	ck_assert_uint_eq(y.size(), 1000);
	ph::shared_vector<int> z(y);        // a copy stays in its source's heap
	ck_assert(in_heap(h2, z.data()));
	ph::shared_vector<int> w(h1);
	w = std::move(z);                   // equal or not, w keeps h1
	ck_assert(in_heap(h1, w.data()));
	ph::shared_vector<int> u(std::move(w));  // move construction steals
	ck_assert(in_heap(h1, u.data()));
	ck_assert(u.get_allocator() == a1);
}
END_TEST

struct alignas(64) line { char c[64]; };
struct alignas(4096) page { char c[100]; };

START_TEST(allocation_errors_and_alignment)
{
	ph_heap_t *h = private_heap(4 * MIB);
	ph::shared_allocator<line> al(h);
	ph::shared_allocator<page> ap(h);
	for (int i = 0; i < 50; i++) {
		line *l = al.allocate(3);
		page *p = ap.allocate(2);
		ck_assert_uint_eq((std::uintptr_t)l % 64, 0);
		ck_assert_uint_eq((std::uintptr_t)p % 4096, 0);
		ck_assert(in_heap(h, l) && in_heap(h, p));
		al.deallocate(l, 3);
		ap.deallocate(p, 2);
	}
	ph::shared_vector<line> lines(h);
	lines.resize(300);
	ck_assert_uint_eq((std::uintptr_t)lines.data() % 64, 0);

	ph::shared_allocator<std::uint64_t> a(h);
	ck_assert(throws<std::bad_array_new_length>([&] {
		(void)a.allocate(SIZE_MAX / 4);
	}));
	// Too big for this heap: bad_alloc, and the heap carries on.
	ck_assert(throws<std::bad_alloc>([&] { (void)a.allocate(8 * MIB); }));
	ph::shared_vector<int> v(h);
	ck_assert(throws<std::bad_alloc>([&] { v.resize(2 * MIB); }));
	ck_assert(v.empty());
	v.resize(1000);
	ck_assert(in_heap(h, v.data()));
	ck_assert_int_eq(ph_heap_check(h), 0);
}
END_TEST

START_TEST(a_heap_not_attached_here_is_refused)
{
	ph_heap_t *h = private_heap(4 * MIB);
	void *base = h;
	ph::shared_allocator<int> a(h);
	ck_assert_int_eq(ph_heap_detach(h), 0);
	ck_assert_ptr_null(a.heap());
	ck_assert(throws<ph::heap_not_attached>([&] { (void)a.allocate(1); }));
	ck_assert(throws<std::bad_alloc>([&] { (void)a.allocate(1); }));
	// Attached again, the same allocator works: it holds only the base.
	ck_assert_ptr_eq(ph_heap_attach(base), base);
	int *p = a.allocate(10);
	ck_assert(in_heap(h, p));
	a.deallocate(p, 10);
}
END_TEST

// Freeing into a heap this process has not attached is a bug: it aborts
// with phmalloc's one-line report, like any bad free.
START_TEST(a_free_into_a_heap_not_attached_here_aborts)
{
	ph_heap_t *h = private_heap(4 * MIB);
	ph::shared_allocator<int> a(h);
	int *p = a.allocate(10);
	ck_assert_int_eq(ph_heap_detach(h), 0);
	a.deallocate(p, 10);
}
END_TEST

struct throws_on_build {
	char payload[200 * 1024];
	throws_on_build() { throw std::runtime_error("no"); }
};

START_TEST(roots)
{
	ph_heap_t *h = private_heap(4 * MIB);
	ck_assert_ptr_null(ph::root<Table>(h, 3));
	Table *t = ph::construct_root<Table>(h, 3);
	ck_assert(t->get_allocator() == ph::shared_allocator<char>(h));
	ck_assert(in_heap(h, t));
	ck_assert_ptr_eq(ph::root<Table>(h, 3), t);
	table_fill(*t, 0, 100);
	ck_assert_verified(*t, h, 0, 100, 0);

	// Arguments come before the allocator (uses-allocator construction).
	auto *v = ph::construct_root<ph::shared_vector<int>>(h, 4, 5u, 9);
	ck_assert_uint_eq(v->size(), 5);
	ck_assert_int_eq((*v)[4], 9);
	ck_assert(in_heap(h, v->data()));
	auto *s = ph::construct_root<ph::shared_string>(h, 5,
	    "a root that is a string in the heap");
	ck_assert(in_heap(h, s->data()));
	// A type that takes no allocator is built from the arguments alone.
	int *n = ph::construct_root<int>(h, 6, 42);
	ck_assert_int_eq(*ph::root<int>(h, 6), 42);
	ck_assert_ptr_eq(n, ph::root<int>(h, 6));

	// A bad key is refused before anything is made.
	ck_assert_int_eq(system_error_code([](ph_heap_t *hh) {
		ph::construct_root<int>(hh, PH_HEAP_ROOTS, 1);
	}, h), EINVAL);
	ck_assert_int_eq(system_error_code([](ph_heap_t *hh) {
		ph::root<int>(hh, PH_HEAP_ROOTS);
	}, h), EINVAL);

	// A constructor that throws leaves the key and the heap as they
	// were: 100 tries of 200 KiB would fill this 4 MiB heap otherwise.
	for (int i = 0; i < 100; i++)
		ck_assert(throws<std::runtime_error>([&] {
			ph::construct_root<throws_on_build>(h, 7);
		}));
	ck_assert_ptr_null(ph::root<throws_on_build>(h, 7));

	ck_assert(ph::destroy_root<Table>(h, 3));
	ck_assert_ptr_null(ph::root<Table>(h, 3));
	ck_assert(!ph::destroy_root<Table>(h, 3));
	ck_assert(ph::destroy_root<ph::shared_vector<int>>(h, 4));
	ck_assert_int_eq(ph_heap_check(h), 0);
}
END_TEST

// A job's data in std::pmr containers on a private heap, dropped in bulk.
struct job {
	std::pmr::unordered_map<std::pmr::string, std::pmr::vector<int>> table;
	std::pmr::deque<std::pmr::string> log;
	explicit job(std::pmr::memory_resource *r) : table(r), log(r) {}
};

static job *job_run(ph::heap_resource &r, int first, int n)
{
	std::pmr::polymorphic_allocator<job> pa(&r);
	job *j = pa.allocate(1);
	pa.construct(j, &r);
	for (int i = first; i < first + n; i++) {
		auto &v = j->table[std::pmr::string(key_of(i), &r)];
		v.assign(length_of(i), i);
		j->log.emplace_back(key_of(i));
	}
	return j;
}

START_TEST(heap_resource_for_one_process)
{
	ph_heap_t *h = private_heap(16 * MIB);
	ph::heap_resource r(h), r2(h);
	ph_heap_t *other = private_heap(4 * MIB);
	ph::heap_resource ro(other);
	ck_assert_ptr_eq(r.heap(), h);
	ck_assert(r.is_equal(r2) && r == r2);
	ck_assert(!r.is_equal(ro));
	ck_assert(!r.is_equal(*std::pmr::new_delete_resource()));

	void *p64 = r.allocate(100, 64), *p4k = r.allocate(10, 4096);
	ck_assert_uint_eq((std::uintptr_t)p64 % 64, 0);
	ck_assert_uint_eq((std::uintptr_t)p4k % 4096, 0);
	ck_assert(in_heap(h, p64) && in_heap(h, p4k));
	r2.deallocate(p64, 100, 64);       // an equal resource frees it
	r.deallocate(p4k, 10, 4096);
	ck_assert(throws<std::bad_alloc>([&] { (void)ro.allocate(8 * MIB); }));

	// Two jobs; between them the heap is reset, not the containers.
	for (int round = 0; round < 2; round++) {
		int n = round == 0 ? 3000 : 5000;
		job *j = job_run(r, round * 10000, n);
		ck_assert(in_heap(h, j));
		ck_assert_uint_eq(j->table.size(), (std::size_t)n);
		ck_assert_uint_eq(j->log.size(), (std::size_t)n);
		for (const auto &e : j->table) {
			ck_assert(in_heap(h, e.first.data()));
			ck_assert(in_heap(h, e.second.data()));
		}
		ck_assert_int_eq(ph_heap_check(h), 0);
		ph_heap_reset(h);           // the job's data is gone, j with it
		ck_assert_int_eq(ph_heap_check(h), 0);
	}
	// Containers destroyed the ordinary way give their blocks back.
	for (int i = 0; i < 100; i++) {
		std::pmr::vector<std::pmr::string> v(&ro);
		for (int k = 0; k < 200; k++)
			v.emplace_back(key_of(k));
	}
	ck_assert_int_eq(ph_heap_check(other), 0);
}
END_TEST

// ---- processes started by exec -------------------------------------------

static std::string worker_path, example_path;
static char shm_base[64];
static const char *const shm_tags[] = { "share", "reset", "kill" };

static const char *shm_name(const char *tag)
{
	static char name[96];
	std::snprintf(name, sizeof(name), "%s-%s", shm_base, tag);
	return name;
}

// Runs in the test runner, before the forked tests: the names and paths
// are inherited, and teardown removes the segments even if a test failed.
static void procs_setup(void)
{
	char exe[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	ck_assert_int_gt(n, 0);
	std::string dir(exe, (std::size_t)n);
	dir.erase(dir.rfind('/'));
	worker_path = dir + "/cxx_worker";
	example_path = dir + "/../../examples/cxx_shared_map";
	std::snprintf(shm_base, sizeof(shm_base), "/phmalloc-cxx-%d",
	    (int)getpid());
}

static void procs_teardown(void)
{
	for (const char *tag : shm_tags)
		shm_unlink(shm_name(tag));
}

// Starts path with args; fd 3 of the child is sync_fd if >= 0, its stdout
// goes to out if not NULL.
static pid_t spawn(const char *path, std::initializer_list<const char *> args,
                   int sync_fd = -1, FILE *out = nullptr)
{
	posix_spawn_file_actions_t fa;
	posix_spawn_file_actions_init(&fa);
	if (sync_fd >= 0)
		posix_spawn_file_actions_adddup2(&fa, sync_fd, 3);
	if (out != nullptr)
		posix_spawn_file_actions_adddup2(&fa, fileno(out), 1);
	std::vector<char *> argv{ const_cast<char *>(path) };
	for (const char *a : args)
		argv.push_back(const_cast<char *>(a));
	argv.push_back(nullptr);
	pid_t pid;
	int err = posix_spawn(&pid, path, &fa, nullptr, argv.data(), environ);
	ck_assert_msg(err == 0, "posix_spawn %s: %s", path, std::strerror(err));
	posix_spawn_file_actions_destroy(&fa);
	return pid;
}

static int wait_exit(pid_t pid)
{
	int st;
	ck_assert_int_eq(waitpid(pid, &st, 0), pid);
	ck_assert_msg(WIFEXITED(st), "process %d died of signal %d", (int)pid,
	    WIFSIGNALED(st) ? WTERMSIG(st) : 0);
	return WEXITSTATUS(st);
}

static int run_worker(std::initializer_list<const char *> args)
{
	return wait_exit(spawn(worker_path.c_str(), args));
}

START_TEST(two_exec_processes_share_a_table)
{
	const char *name = shm_name("share");
	ph_heap_t *h = ph_heap_open(name, nullptr, SHARED_SIZE,
	    PH_HEAP_CREATE | PH_HEAP_EXCL);
	ck_assert_ptr_nonnull(h);

	// One exec'd process builds the table, another checks it and adds
	// to every vector; this process, and a third, see both.
	ck_assert_int_eq(run_worker({ "build", name, "0", "0", "3000" }), 0);
	Table *t = ph::root<Table>(h, TABLE_ROOT);
	ck_assert_ptr_nonnull(t);
	ck_assert_verified(*t, h, 0, 3000, 0);
	ck_assert_int_eq(run_worker({ "read", name, "0", "0", "3000", "0" }),
	    0);
	ck_assert_verified(*t, h, 0, 3000, 1);
	ck_assert_int_eq(run_worker({ "read", name, "0", "0", "3000", "1" }),
	    0);
	ck_assert_verified(*t, h, 0, 3000, 2);

	// Two builders at once, a table each, allocating side by side.
	const char *w = worker_path.c_str();
	pid_t p1 = spawn(w, { "build", name, "3", "100000", "4000" });
	pid_t p2 = spawn(w, { "build", name, "4", "200000", "4000" });
	ck_assert_int_eq(wait_exit(p1), 0);
	ck_assert_int_eq(wait_exit(p2), 0);
	ck_assert_verified(*ph::root<Table>(h, 3), h, 100000, 4000, 0);
	ck_assert_verified(*ph::root<Table>(h, 4), h, 200000, 4000, 0);
	ck_assert_verified(*t, h, 0, 3000, 2);

	// The workers closed the heap: nothing of theirs to recover.
	ck_assert_int_eq(ph_heap_recover(h), 0);
	ck_assert_int_eq(ph_heap_check(h), 0);
	// This process frees what the others allocated.
	for (unsigned key : { (unsigned)TABLE_ROOT, 3u, 4u })
		ck_assert(ph::destroy_root<Table>(h, key));
	ck_assert_int_eq(ph_heap_check(h), 0);
	std::printf("shared table: built, read and extended by 4 exec'd "
	    "processes\n");
	ck_assert_int_eq(ph_heap_close(h), 0);
	ck_assert_int_eq(shm_unlink(name), 0);
}
END_TEST

START_TEST(reset_between_jobs)
{
	const char *name = shm_name("reset");
	ph_heap_t *h = ph_heap_open(name, nullptr, SHARED_SIZE,
	    PH_HEAP_CREATE | PH_HEAP_EXCL);
	ck_assert_ptr_nonnull(h);

	ck_assert_int_eq(run_worker({ "build", name, "0", "0", "2000" }), 0);
	ck_assert_verified(*ph::root<Table>(h, TABLE_ROOT), h, 0, 2000, 0);

	// Nobody uses the heap now: one reset drops the whole job.
	ph_heap_reset(h);
	ck_assert_ptr_null(ph::root<Table>(h, TABLE_ROOT));
	ck_assert_int_eq(ph_heap_check(h), 0);

	ck_assert_int_eq(run_worker({ "build", name, "0", "5000", "2500" }), 0);
	ck_assert_int_eq(run_worker({ "read", name, "0", "5000", "2500", "0" }),
	    0);
	Table *t = ph::root<Table>(h, TABLE_ROOT);
	ck_assert_ptr_nonnull(t);
	ck_assert_verified(*t, h, 5000, 2500, 1);
	ck_assert_int_eq(ph_heap_check(h), 0);
	std::printf("reset: second job built and checked after the first was "
	    "dropped\n");
	ck_assert_int_eq(ph_heap_close(h), 0);
	ck_assert_int_eq(shm_unlink(name), 0);
}
END_TEST

// A worker inserts and erases until it is killed.  Wherever SIGKILL finds
// it (in its code, in the heap's cache, holding the heap's lock), the heap
// must check clean once recovered, and stay usable; the table it was
// changing may be half updated, so nobody reads it.
START_TEST(killed_while_inserting)
{
	const char *name = shm_name("kill");
	ph_heap_t *h = ph_heap_open(name, nullptr, SHARED_SIZE,
	    PH_HEAP_CREATE | PH_HEAP_EXCL);
	ck_assert_ptr_nonnull(h);

	int recovered = 0;
	for (int round = 0; round < KILL_ROUNDS; round++) {
		int fds[2];
		ck_assert_int_eq(pipe2(fds, O_CLOEXEC), 0);
		pid_t pid = spawn(worker_path.c_str(), { "insert", name, "1" },
		    fds[1]);
		close(fds[1]);
		char c;
		ssize_t got = read(fds[0], &c, 1);   // it is inserting now
		close(fds[0]);
		if (got != 1)
			ck_abort_msg("worker stopped before inserting "
			    "(exit %d)", wait_exit(pid));
		ck_assert_int_eq(kill(pid, SIGKILL), 0);
		int st;
		ck_assert_int_eq(waitpid(pid, &st, 0), pid);
		ck_assert(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);

		int n = ph_heap_recover(h);
		ck_assert_int_ge(n, 0);
		recovered += n;
		ck_assert_int_eq(ph_heap_check(h), 0);
	}
	// Still usable, here and by a new process.
	Table *t = ph::construct_root<Table>(h, AFTER_KILL_ROOT);
	table_fill(*t, 0, 1000);
	ck_assert_verified(*t, h, 0, 1000, 0);
	ck_assert_int_eq(run_worker({ "read", name, "2", "0", "1000", "0" }),
	    0);
	ck_assert_verified(*t, h, 0, 1000, 1);
	ck_assert_int_eq(ph_heap_check(h), 0);
	ph_heap_reset(h);
	ck_assert_int_eq(ph_heap_check(h), 0);
	std::printf("kill: %d workers killed while inserting, %d caches "
	    "recovered, heap checks clean\n", KILL_ROUNDS, recovered);
	ck_assert_int_eq(ph_heap_close(h), 0);
	ck_assert_int_eq(shm_unlink(name), 0);
}
END_TEST

START_TEST(the_example_runs)
{
	FILE *out = std::tmpfile();
	ck_assert_ptr_nonnull(out);
	pid_t pid = spawn(example_path.c_str(), {}, -1, out);
	ck_assert_int_eq(wait_exit(pid), 0);
	std::rewind(out);
	std::string text;
	char buf[256];
	while (std::fgets(buf, sizeof(buf), out) != nullptr)
		text += buf;
	std::fclose(out);
	ck_assert_msg(text.find("primes: 2 3 5 7 11") != std::string::npos &&
	    text.find("added by the reader: 42") != std::string::npos,
	    "example printed:\n%s", text.c_str());
}
END_TEST

static Suite *cxx_suite(void)
{
	Suite *s = suite_create("cxx");
	TCase *one = tcase_create("one process");
	tcase_add_test(one, containers_allocate_in_their_heap);
	tcase_add_test(one, containers_give_their_blocks_back);
	tcase_add_test(one, equality_rebind_and_assignment_keep_the_heap);
	tcase_add_test(one, allocation_errors_and_alignment);
	tcase_add_test(one, a_heap_not_attached_here_is_refused);
	tcase_add_test_raise_signal(one,
	    a_free_into_a_heap_not_attached_here_aborts, SIGABRT);
	tcase_add_test(one, roots);
	tcase_add_test(one, heap_resource_for_one_process);
	suite_add_tcase(s, one);

	TCase *procs = tcase_create("processes");
	tcase_add_unchecked_fixture(procs, procs_setup, procs_teardown);
	tcase_add_test(procs, two_exec_processes_share_a_table);
	tcase_add_test(procs, reset_between_jobs);
	tcase_add_test(procs, killed_while_inserting);
	tcase_add_test(procs, the_example_runs);
	suite_add_tcase(s, procs);
	return s;
}

int main(void)
{
	return run_suite(cxx_suite());
}
