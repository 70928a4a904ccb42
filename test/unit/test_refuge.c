/* test_refuge.c -- the refuge (refuge.c): what a signal handler gets when
 * it interrupts its own thread inside a locked section, the block stack
 * its frees go on, and what the refuge's checks and repair catch. */
#include <pthread.h>
#include <sys/wait.h>
#include <unistd.h>

#include "unit.h"

#define MIB ((size_t)1 << 20)

static struct heap *h;

static void setup(void)
{
	sizeclass_init();
	h = unit_heap(8 * MIB, 0);
}

static void teardown(void)
{
	unit_heap_free(h);
}

/* Runs the allocator as a handler inside a section would: tsection > 0. */
#define IN_SECTION(stmt) do { tsection_enter(); stmt; tsection_leave(); } \
	while (0)

START_TEST(geometry_follows_the_heap_size)
{
	ck_assert_uint_eq(refuge_pages(HEAP_MIN_SIZE / PAGE), 4);
	/* the smallest heap holds the longest slab, one page less does not */
	ck_assert_uint_ge(heap_capacity_pages(HEAP_MIN_SIZE / PAGE),
	    SLAB_MAXPAGES);
	ck_assert_uint_lt(heap_capacity_pages(HEAP_MIN_SIZE / PAGE - 1),
	    SLAB_MAXPAGES);
	ck_assert_uint_eq(refuge_pages(6400), 100);
	ck_assert_uint_eq(refuge_pages((size_t)1 << 30), 256);
	for (uint32_t pages = 4; pages <= 256; pages++) {
		uint32_t g = refuge_granules(pages);
		/* the map (4 bytes a granule) and the granules fit */
		ck_assert_uint_gt(g, 0);
		ck_assert_uint_le(g * 64 + ALIGN_UP(g * 4, PAGE),
		    (size_t)pages * PAGE);
	}
	ck_assert_uint_eq(h->first_page - h->refuge_page,
	    refuge_pages(h->npages));
	ck_assert_uint_eq(h->refuge_gran,
	    refuge_granules(refuge_pages(h->npages)));
	/* No block of the heap proper lies in the refuge. */
	void *p = heap_malloc(h, 100, false);
	ck_assert(!refuge_has(h, p));
	ck_assert_uint_ge((uintptr_t)p - (uintptr_t)h,
	    (size_t)h->first_page * PAGE);
	heap_free(h, p);
	unit_validate(h);
}
END_TEST

START_TEST(inside_a_section_every_kind_of_allocation_is_a_refuge_block)
{
	void *small, *large, *aligned, *at, *zeroed;
	IN_SECTION(
		small = heap_malloc(h, 100, false);
		large = heap_malloc(h, 20000, false);
		aligned = heap_malloc_aligned(h, 300, 512, false);
		at = heap_malloc_at(h, 200, 4096, 24, false);
		zeroed = heap_malloc(h, 1000, true));
	void *all[] = { small, large, aligned, at, zeroed };
	for (unsigned i = 0; i < 5; i++) {
		ck_assert_ptr_nonnull(all[i]);
		ck_assert(refuge_has(h, all[i]));
	}
	ck_assert_uint_ge(heap_usable_size(h, small), 100);
	ck_assert_uint_ge(heap_usable_size(h, large), 20000);
	ck_assert_uint_eq((uintptr_t)small % QUANTUM, 0);
	ck_assert_uint_eq((uintptr_t)aligned % 512, 0);
	ck_assert_uint_eq((uintptr_t)at % 4096, 24);
	for (unsigned i = 0; i < 1000; i++)
		ck_assert_uint_eq(((unsigned char *)zeroed)[i], 0);
	memset(large, 7, 20000);
	/* the blocks do not overlap */
	for (unsigned i = 0; i < 5; i++)
		for (unsigned j = 0; j < 5; j++) {
			char *a = all[i], *b = all[j];
			if (i != j)
				ck_assert(a + heap_usable_size(h, a) <= b ||
				    b + heap_usable_size(h, b) <= a);
		}
	unit_validate(h);
	ck_assert_uint_eq(h->refuge_nmalloc, 5);
	/* Outside a section they go back to the refuge as any free does. */
	for (unsigned i = 0; i < 5; i++)
		heap_free(h, all[i]);
	ck_assert_uint_eq(h->refuge_bytes, 0);
	unit_validate(h);
	/* and the next allocation outside is an ordinary block again */
	void *p = heap_malloc(h, 100, false);
	ck_assert(!refuge_has(h, p));
	heap_free(h, p);
}
END_TEST

START_TEST(inside_a_section_frees_go_on_the_block_stack)
{
	size_t before = h->stats.allocated;
	void *small = heap_malloc(h, 100, false);
	void *large = heap_malloc(h, 100000, false);
	void *refuge;
	IN_SECTION(refuge = heap_malloc(h, 64, false));
	IN_SECTION(heap_free(h, small); heap_free(h, large);
	    heap_free(h, refuge));
	/* the refuge block is back at once; the others wait for a holder */
	ck_assert_uint_eq(h->refuge_bytes, 0);
	ck_assert_uint_ne(atomic_load(&h->remote), 0);
	if (config_stats)
		ck_assert_uint_gt(h->stats.allocated, before);
	/* A heap check holds the lock but drains nothing: the stack is
	 * sound as it is. */
	unit_validate(h);
	void *p = heap_malloc(h, 50000, false);
	heap_free(h, p);   /* this holder drains */
	ck_assert_uint_eq(atomic_load(&h->remote), 0);
	unit_assert_allocated(h, before);
	unit_validate(h);
}
END_TEST

START_TEST(realloc_moves_into_and_out_of_the_refuge)
{
	char *p = heap_malloc(h, 100, false), *q, *r;
	memset(p, 'a', 100);
	IN_SECTION(q = heap_realloc(h, p, 3000, 0, false));
	ck_assert(refuge_has(h, q));
	for (unsigned i = 0; i < 100; i++)
		ck_assert_int_eq(q[i], 'a');
	memset(q, 'b', 3000);
	/* in place: a refuge block stays where it is for xallocx */
	ck_assert_uint_eq(heap_resize_in_place(h, q, 5000, 0),
	    heap_usable_size(h, q));
	r = heap_realloc(h, q, 40000, 0, false);
	ck_assert(!refuge_has(h, r));
	for (unsigned i = 0; i < 3000; i++)
		ck_assert_int_eq(r[i], 'b');
	ck_assert_uint_eq(h->refuge_bytes, 0);
	heap_free(h, r);
	unit_validate(h);
}
END_TEST

START_TEST(a_full_refuge_says_null_and_empties_again)
{
	void *p[4096];
	unsigned n = 0;
	size_t bytes = 0;
	tsection_enter();
	ck_assert_ptr_null(heap_malloc(h, (size_t)h->refuge_gran * 64 + 1,
	    false));
	while (n < 4096 && (p[n] = heap_malloc(h, 1000, false)) != NULL)
		bytes += heap_usable_size(h, p[n++]);
	tsection_leave();
	ck_assert_uint_gt(n, 0);
	ck_assert_uint_lt(n, 4096);
	ck_assert_uint_le(bytes, (size_t)h->refuge_gran * 64);
	ck_assert_uint_eq(bytes, h->refuge_bytes);
	unit_validate(h);
	for (unsigned i = 0; i < n; i += 2)
		heap_free(h, p[i]);
	for (unsigned i = 1; i < n; i += 2)
		heap_free(h, p[i]);
	ck_assert_uint_eq(h->refuge_bytes, 0);
	/* all of it in one block once more */
	IN_SECTION(p[0] = heap_malloc(h, bytes, false));
	ck_assert_ptr_nonnull(p[0]);
	heap_free(h, p[0]);
	unit_validate(h);
}
END_TEST

START_TEST(reset_empties_the_refuge)
{
	void *a, *b;
	IN_SECTION(a = heap_malloc(h, 100, false); b = heap_malloc(h, 9000,
	    false));
	ck_assert_uint_gt(h->refuge_bytes, 0);
	heap_reset(h);
	ck_assert_uint_eq(h->refuge_bytes, 0);
	unit_validate(h);
	void *c;
	IN_SECTION(c = heap_malloc(h, 100, false));
	ck_assert_ptr_eq(c, a);   /* the first granule again */
	(void)b;
	heap_free(h, c);
	unit_validate(h);
}
END_TEST

/* A tag on a refuge block that a handler inside a section frees is
 * dropped at the drain, with the block. */
START_TEST(a_tagged_refuge_block_freed_inside_a_section_loses_its_tag)
{
	ck_assert_int_eq(registry_add(h), 0);   /* tags find the heap so */
	void *p, *q;
	IN_SECTION(p = heap_malloc(h, 100, false));
	P(setmalloctag)(p, 42);
	ck_assert_uint_eq(P(getmalloctag)(p), 42);
	unit_validate(h);   /* a tag on a refuge block is a tag on a block */
	IN_SECTION(heap_free(h, p));
	ck_assert_uint_gt(h->refuge_bytes, 0);   /* waits for the drain */
	ck_assert_uint_ne(atomic_load(&h->remote), 0);
	unit_validate(h);
	heap_free(h, heap_malloc(h, 100, false));   /* drains */
	ck_assert_uint_eq(h->refuge_bytes, 0);
	unit_validate(h);
	IN_SECTION(q = heap_malloc(h, 100, false));
	ck_assert_ptr_eq(q, p);
	ck_assert_uint_eq(P(getmalloctag)(q), 0);
	heap_free(h, q);
	registry_remove(h);
}
END_TEST

/* The refuge's map, for the damage tests. */
static uint32_t *map_of(struct heap *hp)
{
	return (uint32_t *)((char *)hp + ((size_t)hp->refuge_page << LG_PAGE));
}

START_TEST(checks_catch_a_damaged_map)
{
	char why[256] = "";
	uint32_t *map = map_of(h);
	map[3] = 0xffffffffu;   /* a continuation of nothing */
	ck_assert_int_ne(heap_validate(h, why, sizeof(why)), 0);
	ck_assert_ptr_nonnull(strstr(why, "refuge"));
	/* each entry alone is one the code may meet */
	ck_assert_int_eq(refuge_image_check(h, why, sizeof(why)), 0);
	map[3] = h->refuge_gran + 1;   /* a block past the end */
	ck_assert_int_ne(refuge_image_check(h, why, sizeof(why)), 0);
	map[3] = 2 | 64u << 16;        /* a lead past its granule */
	ck_assert_int_ne(refuge_image_check(h, why, sizeof(why)), 0);
	map[3] = 2;                    /* a block cut short */
	ck_assert_int_eq(refuge_image_check(h, why, sizeof(why)), 0);
	ck_assert_int_ne(heap_validate(h, why, sizeof(why)), 0);
	ck_assert_ptr_nonnull(strstr(why, "cut short"));
	map[3] = 0;
	/* the counted bytes must match the map */
	h->refuge_bytes = 64;
	if (config_stats)
		ck_assert_int_ne(heap_validate(h, why, sizeof(why)), 0);
	h->refuge_bytes = 0;
	unit_validate(h);
}
END_TEST

/* A holder of a shared heap's refuge lock killed inside leaves the crash
 * rule's leftovers; the next holder repairs them. */
START_TEST(a_killed_holders_leftovers_are_repaired)
{
	void *m = mmap(NULL, 8 * MIB, PROT_READ | PROT_WRITE, MAP_SHARED |
	    MAP_ANONYMOUS, -1, 0);
	ck_assert_ptr_ne(m, MAP_FAILED);
	struct heap *s = heap_format(m, 8 * MIB, HEAP_F_SHARED, true);
	heap_proc_attach(s);
	void *keep;
	IN_SECTION(keep = heap_malloc(s, 100, false));
	pid_t pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		lock_acquire(&s->refuge_lock);
		uint32_t *map = map_of(s);
		map[10] = map[11] = 0xffffffffu;   /* a take cut short */
		_exit(0);                          /* holding the lock */
	}
	int st;
	ck_assert_int_eq(waitpid(pid, &st, 0), pid);
	ck_assert(WIFEXITED(st));
	char why[256] = "";
	/* the check takes the lock: owner died, so it repairs first */
	ck_assert_msg(heap_validate(s, why, sizeof(why)) == 0, "%s", why);
	ck_assert_uint_eq(map_of(s)[10], 0);
	ck_assert_uint_eq(heap_usable_size(s, keep), 128);   /* 2 granules */
	heap_free(s, keep);
	ck_assert_uint_eq(s->refuge_bytes, 0);
	heap_proc_detach(s);
	munmap(m, 8 * MIB);
}
END_TEST

/* A fork while another thread holds the refuge lock of a heap of this
 * process alone: the child, which has no such thread, clears it (as for a
 * holder that died) and its own handlers' allocations go on.  (A child
 * that waits for ever, its signals blocked, fails the test by Check's
 * timeout, which kills the test's process group, the child with it.) */
static pthread_barrier_t held_bar;

static void *refuge_holder(void *arg)
{
	struct heap *x = arg;
	ck_assert(lock_try(&x->refuge_lock));
	pthread_barrier_wait(&held_bar);   /* held */
	pthread_barrier_wait(&held_bar);   /* forked */
	lock_release(&x->refuge_lock);
	return NULL;
}

START_TEST(a_fork_child_clears_a_refuge_lock_another_thread_held)
{
	ck_assert_int_eq(registry_add(h), 0);   /* what the child's handler walks */
	pthread_barrier_init(&held_bar, NULL, 2);
	pthread_t th;
	ck_assert_int_eq(pthread_create(&th, NULL, refuge_holder, h), 0);
	pthread_barrier_wait(&held_bar);
	pid_t pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		void *p;
		IN_SECTION(p = heap_malloc(h, 100, false));
		_exit(p != NULL && refuge_has(h, p) ? 0 : 1);
	}
	pthread_barrier_wait(&held_bar);
	int st = 0;
	ck_assert_int_eq(waitpid(pid, &st, 0), pid);
	ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "child: %#x", st);
	ck_assert_int_eq(pthread_join(th, NULL), 0);
	registry_remove(h);
}
END_TEST

/* ---- a real handler, raised inside a real section ---------------------- */

static void *handler_got, *handler_gave;
static bool handler_saw_section;

static void allocating_handler(int sig)
{
	(void)sig;
	handler_saw_section = tsection_in();
	handler_got = heap_malloc(h, 200, false);
	if (handler_got != NULL)
		memset(handler_got, 1, 200);
	heap_free(h, handler_gave);
}

START_TEST(a_handler_inside_a_section_allocates_and_frees)
{
	struct sigaction sa = { .sa_handler = allocating_handler };
	sigemptyset(&sa.sa_mask);
	ck_assert_int_eq(sigaction(SIGUSR1, &sa, NULL), 0);
	handler_gave = heap_malloc(h, 5000, false);
	heap_lock(h);   /* a section, as any slow path's */
	raise(SIGUSR1);   /* delivered before raise returns */
	heap_unlock(h);
	signal(SIGUSR1, SIG_DFL);
	ck_assert(handler_saw_section);
	ck_assert_ptr_nonnull(handler_got);
	ck_assert(refuge_has(h, handler_got));
	unit_validate(h);
	heap_free(h, handler_got);   /* to the refuge */
	ck_assert_uint_eq(h->refuge_bytes, 0);
	ck_assert_uint_ne(atomic_load(&h->remote), 0);
	heap_free(h, heap_malloc(h, 100, false));   /* drains the other */
	ck_assert_uint_eq(atomic_load(&h->remote), 0);
	unit_assert_allocated(h, 0);
	unit_validate(h);
}
END_TEST

/* ---- misuse ------------------------------------------------------------- */

START_TEST(double_free_of_a_refuge_block_aborts)
{
	void *p;
	IN_SECTION(p = heap_malloc(h, 100, false));
	heap_free(h, p);
	heap_free(h, p);
}
END_TEST

START_TEST(interior_pointer_into_the_refuge_aborts)
{
	char *p;
	IN_SECTION(p = heap_malloc(h, 1000, false));
	heap_free(h, p + 64);
}
END_TEST

START_TEST(pointer_into_the_refuge_map_aborts)
{
	heap_free(h, map_of(h) + 16);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("refuge");
	TCase *tc = tcase_create("refuge");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, geometry_follows_the_heap_size);
	tcase_add_test(tc,
	    inside_a_section_every_kind_of_allocation_is_a_refuge_block);
	tcase_add_test(tc, inside_a_section_frees_go_on_the_block_stack);
	tcase_add_test(tc, realloc_moves_into_and_out_of_the_refuge);
	tcase_add_test(tc, a_full_refuge_says_null_and_empties_again);
	tcase_add_test(tc, reset_empties_the_refuge);
	tcase_add_test(tc,
	    a_tagged_refuge_block_freed_inside_a_section_loses_its_tag);
	tcase_add_test(tc, checks_catch_a_damaged_map);
	tcase_add_test(tc, a_killed_holders_leftovers_are_repaired);
	tcase_add_test(tc, a_fork_child_clears_a_refuge_lock_another_thread_held);
	tcase_add_test(tc, a_handler_inside_a_section_allocates_and_frees);
	suite_add_tcase(s, tc);
	TCase *tb = tcase_create("misuse");
	tcase_set_tags(tb, "misuse");
	tcase_add_checked_fixture(tb, setup, teardown);
	tcase_add_test_raise_signal(tb, double_free_of_a_refuge_block_aborts,
	    SIGABRT);
	tcase_add_test_raise_signal(tb, interior_pointer_into_the_refuge_aborts,
	    SIGABRT);
	tcase_add_test_raise_signal(tb, pointer_into_the_refuge_map_aborts,
	    SIGABRT);
	suite_add_tcase(s, tb);
	return unit_run(s);
}
