/*
 * test_procs.c -- the heap's table of attached processes (struct
 * heap.procs), which phstat shows: filled at create and attach, cleared
 * at detach, kept by reset, a dead process's entry dropped by recovery
 * (ph_heap_recover, and so every attach), and a full table records no
 * more without failing the attach.
 */
#include <sys/wait.h>
#include <unistd.h>

#include "phmalloc.h"
#include "../unit/unit.h"

#define HEAP_BYTES ((size_t)1 << 20)

static void *shared_range(void)
{
	void *p = mmap(NULL, HEAP_BYTES, PROT_READ | PROT_WRITE,
	    MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	ck_assert_ptr_ne(p, MAP_FAILED);
	return p;
}

static unsigned entries_of(const struct heap *h, uint32_t pid)
{
	unsigned n = 0;
	for (unsigned i = 0; i < HEAP_NPROCS; i++)
		n += h->procs[i].pid == pid;
	return n;
}

static unsigned entries(const struct heap *h)
{
	unsigned n = 0;
	for (unsigned i = 0; i < HEAP_NPROCS; i++)
		n += h->procs[i].pid != 0;
	return n;
}

/* A child that joins the heap at base and exits without detaching, as a
 * process that dies would; returns its pid, reaped. */
static pid_t child_attaches_and_dies(void *base)
{
	pid_t pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		/* The copy of this process's registry still lists the heap. */
		if (ph_heap_detach(base) != 0 || ph_heap_attach(base) != base)
			_exit(1);
		_exit(0);
	}
	int st;
	ck_assert_int_eq(waitpid(pid, &st, 0), pid);
	ck_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	return pid;
}

START_TEST(create_records_detach_clears)
{
	void *base = shared_range();
	ph_heap_t *hp = ph_heap_create(base, HEAP_BYTES, PH_HEAP_SHARED);
	ck_assert_ptr_eq(hp, base);
	struct heap *h = base;
	uint32_t me = (uint32_t)getpid();
	ck_assert_uint_eq(entries(h), 1);
	ck_assert_uint_eq(entries_of(h, me), 1);
	for (unsigned i = 0; i < HEAP_NPROCS; i++)
		if (h->procs[i].pid == me)
			ck_assert_uint_eq(h->procs[i].start, os_proc_start(0));
	ph_heap_reset(hp);   /* processes stay attached across a reset */
	ck_assert_uint_eq(entries_of(h, me), 1);
	ck_assert_int_eq(ph_heap_detach(hp), 0);
	ck_assert_uint_eq(entries(h), 0);
	ck_assert_ptr_eq(ph_heap_attach(base), base);
	ck_assert_uint_eq(entries_of(h, me), 1);
	ck_assert_int_eq(ph_heap_detach(hp), 0);
	munmap(base, HEAP_BYTES);
}
END_TEST

START_TEST(dead_entries_go_at_recovery)
{
	void *base = shared_range();
	ph_heap_t *hp = ph_heap_create(base, HEAP_BYTES, PH_HEAP_SHARED);
	struct heap *h = base;
	pid_t dead = child_attaches_and_dies(base);
	ck_assert_uint_eq(entries_of(h, (uint32_t)dead), 1);
	ck_assert_uint_eq(entries(h), 2);
	ph_heap_recover(hp);
	ck_assert_uint_eq(entries_of(h, (uint32_t)dead), 0);
	ck_assert_uint_eq(entries_of(h, (uint32_t)getpid()), 1);

	/* An attach recovers too: the second child's join drops the first. */
	pid_t first = child_attaches_and_dies(base);
	pid_t second = child_attaches_and_dies(base);
	ck_assert_uint_eq(entries_of(h, (uint32_t)first), 0);
	ck_assert_uint_eq(entries_of(h, (uint32_t)second), 1);
	ck_assert_int_eq(ph_heap_check(hp), 0);
	ck_assert_int_eq(ph_heap_detach(hp), 0);
	munmap(base, HEAP_BYTES);
}
END_TEST

START_TEST(full_table_records_no_more)
{
	void *base = shared_range();
	ph_heap_t *hp = ph_heap_create(base, HEAP_BYTES, PH_HEAP_SHARED);
	struct heap *h = base;
	/* Every entry taken by a process that stays alive: this one. */
	uint64_t start = os_proc_start(0);
	for (unsigned i = 0; i < HEAP_NPROCS; i++)
		h->procs[i] = (struct heap_proc){ .pid = (uint32_t)getpid(),
		    .start = start };
	pid_t child = child_attaches_and_dies(base);   /* still attaches */
	ck_assert_uint_eq(entries_of(h, (uint32_t)child), 0);
	ck_assert_uint_eq(entries(h), HEAP_NPROCS);
	ph_heap_recover(hp);
	ck_assert_uint_eq(entries(h), HEAP_NPROCS);   /* alive: kept */
	ck_assert_int_eq(ph_heap_detach(hp), 0);
	ck_assert_uint_eq(entries(h), 0);
	munmap(base, HEAP_BYTES);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("procs");
	TCase *tc = tcase_create("table");
	tcase_add_test(tc, create_records_detach_clears);
	tcase_add_test(tc, dead_entries_go_at_recovery);
	tcase_add_test(tc, full_table_records_no_more);
	suite_add_tcase(s, tc);
	return unit_run(s);
}
