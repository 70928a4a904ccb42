/* test_page.c -- page runs: allocation, coalescing, alignment, resizing,
 * dirty accounting and purge, and what page_validate catches. */
#include "unit.h"

#define MIB ((size_t)1 << 20)

static uint32_t run_alloc(struct heap *h, size_t n, bool *zero)
{
	lock_acquire(&h->lock);
	uint32_t head = page_run_alloc(h, n, PAGE_LARGE, 0, zero);
	lock_release(&h->lock);
	return head;
}

static void run_free(struct heap *h, uint32_t head)
{
	lock_acquire(&h->lock);
	page_run_free(h, head);
	lock_release(&h->lock);
}

START_TEST(fresh_heap_is_one_run)
{
	struct heap *h = unit_heap(4 * MIB, 0);
	struct page *pm = heap_pages(h);
	ck_assert_uint_eq(pm[h->first_page].kind, PAGE_FREE);
	ck_assert_uint_eq(pm[h->first_page].span, h->npages - h->first_page);
	ck_assert_uint_eq(h->stats.dirty_pages, 0);
	unit_validate(h);
	unit_heap_unmap(h);
}
END_TEST

START_TEST(neighbours_coalesce)
{
	struct heap *h = unit_heap(4 * MIB, 0);
	bool z;
	uint32_t a = run_alloc(h, 3, &z), b = run_alloc(h, 5, &z),
	    c = run_alloc(h, 7, &z);
	ck_assert_uint_eq(b, a + 3);
	ck_assert_uint_eq(c, b + 5);
	run_free(h, a);
	run_free(h, c);         /* merges with the trailing free run */
	unit_validate(h);
	run_free(h, b);         /* merges left and right: one run again */
	unit_validate(h);
	ck_assert_uint_eq(heap_pages(h)[h->first_page].span,
	    h->npages - h->first_page);
	unit_heap_unmap(h);
}
END_TEST

START_TEST(exhaustion_and_reuse)
{
	struct heap *h = unit_heap(1 * MIB, 0);
	size_t cap = h->npages - h->first_page, got = 0;
	bool z;
	uint32_t head, first = 0;
	while ((head = run_alloc(h, 1, &z)) != 0) {
		if (!first)
			first = head;
		got++;
	}
	ck_assert_uint_eq(got, cap);
	ck_assert_uint_eq(run_alloc(h, 1, &z), 0);
	unit_validate(h);
	run_free(h, first + 10);
	ck_assert_uint_eq(run_alloc(h, 1, &z), first + 10);
	ck_assert(!z);          /* it was used: not known to be zero */
	unit_validate(h);
	unit_heap_unmap(h);
}
END_TEST

START_TEST(aligned_runs)
{
	struct heap *h = unit_heap(64 * MIB, 0);
	bool z;
	for (size_t align = 2 * PAGE; align <= 8 * MIB; align *= 2) {
		lock_acquire(&h->lock);
		uint32_t head = page_run_alloc_aligned(h, 3, align, &z);
		lock_release(&h->lock);
		ck_assert_uint_ne(head, 0);
		ck_assert_uint_eq((uintptr_t)page_addr(h, head) % align, 0);
		ck_assert_uint_eq(heap_pages(h)[head].span, 3);
		unit_validate(h);
	}
	unit_heap_unmap(h);
}
END_TEST

START_TEST(grow_and_shrink_in_place)
{
	struct heap *h = unit_heap(4 * MIB, 0);
	bool z;
	uint32_t a = run_alloc(h, 4, &z);
	lock_acquire(&h->lock);
	ck_assert(page_run_grow(h, a, 10, &z));
	lock_release(&h->lock);
	ck_assert_uint_eq(heap_pages(h)[a].span, 10);
	unit_validate(h);
	uint32_t b = run_alloc(h, 2, &z);
	ck_assert_uint_eq(b, a + 10);
	lock_acquire(&h->lock);
	ck_assert(!page_run_grow(h, a, 11, &z));   /* b is in the way */
	page_run_shrink(h, a, 6);
	lock_release(&h->lock);
	unit_validate(h);
	/* The freed pages 6..9 are the best fit for a 4-page run. */
	ck_assert_uint_eq(run_alloc(h, 4, &z), a + 6);
	unit_validate(h);
	unit_heap_unmap(h);
}
END_TEST

START_TEST(random_operations_keep_invariants)
{
	struct heap *h = unit_heap(16 * MIB, 0);
	enum { NLIVE = 128 };
	uint32_t live[NLIVE] = { 0 };
	uint8_t *owner = calloc(h->npages, 1);
	bool z;
	srandom(7);
	for (int op = 0; op < 20000; op++) {
		int i = (int)(random() % NLIVE);
		lock_acquire(&h->lock);
		if (live[i] == 0) {
			size_t n = 1 + (size_t)random() % 40;
			live[i] = (random() % 4 == 0) ?
			    page_run_alloc_aligned(h, n, PAGE << (1 + random() % 6),
			    &z) : page_run_alloc(h, n, PAGE_LARGE, 0, &z);
			for (size_t k = 0; live[i] && k < heap_pages(h)[live[i]].span; k++) {
				ck_assert_msg(owner[live[i] + k] == 0,
				    "page %zu handed out twice", live[i] + k);
				owner[live[i] + k] = 1;
			}
		} else {
			size_t n = heap_pages(h)[live[i]].span;
			int what = (int)(random() % 3);
			if (what == 0 && n > 1) {
				size_t keep = 1 + (size_t)random() % (n - 1);
				page_run_shrink(h, live[i], keep);
				memset(owner + live[i] + keep, 0, n - keep);
			} else if (what == 1 &&
			    page_run_grow(h, live[i], n + 3, &z)) {
				memset(owner + live[i] + n, 1, 3);
			} else {
				page_run_free(h, live[i]);
				memset(owner + live[i], 0, n);
				live[i] = 0;
			}
		}
		lock_release(&h->lock);
		if (op % 500 == 0)
			unit_validate(h);
	}
	unit_validate(h);
	free(owner);
	unit_heap_unmap(h);
}
END_TEST

START_TEST(dirty_pages_and_purge)
{
	struct heap *h = unit_heap(4 * MIB, HEAP_F_OSMEM);
	bool z;
	uint32_t a = run_alloc(h, 8, &z);
	ck_assert(z);                           /* fresh from the OS */
	memset(page_addr(h, a), 0x77, 8 * PAGE);
	run_free(h, a);
	ck_assert_uint_eq(h->stats.dirty_pages, 8);
	a = run_alloc(h, 8, &z);
	ck_assert(!z);
	run_free(h, a);
	heap_purge(h, true);
	ck_assert_uint_eq(h->stats.dirty_pages, 0);
	ck_assert_uint_ge(h->stats.npurged_pages, 8);
	a = run_alloc(h, 8, &z);
	ck_assert(z);
	for (size_t i = 0; i < 8 * PAGE; i++)
		ck_assert_uint_eq(((unsigned char *)page_addr(h, a))[i], 0);
	unit_validate(h);
	unit_heap_unmap(h);
}
END_TEST

/* A run freed right of a purged free run: the merged run's dirty prefix
 * spans both, and the count must say so (it once said only the new pages,
 * and a later purge took it below zero). */
START_TEST(free_next_to_a_purged_run_counts_its_prefix)
{
	struct heap *h = unit_heap(4 * MIB, HEAP_F_OSMEM);
	bool z;
	uint32_t a = run_alloc(h, 4, &z), b = run_alloc(h, 4, &z),
	    c = run_alloc(h, 4, &z);
	ck_assert_uint_eq(b, a + 4);
	run_free(h, a);
	heap_purge(h, true);
	ck_assert_uint_eq(h->stats.dirty_pages, 0);
	run_free(h, b);   /* merges with a, clean, on its left */
	ck_assert_uint_eq(heap_pages(h)[a].span, 8);
	ck_assert_uint_eq(h->stats.dirty_pages, heap_pages(h)[a].aux);
	unit_validate(h);
	heap_purge(h, true);
	ck_assert_uint_eq(h->stats.dirty_pages, 0);
	run_free(h, c);
	unit_validate(h);
	unit_heap_unmap(h);
}
END_TEST

START_TEST(validate_catches_a_bad_tail)
{
	struct heap *h = unit_heap(4 * MIB, 0);
	bool z;
	uint32_t a = run_alloc(h, 4, &z);
	heap_pages(h)[a + 3].span = a + 1;
	char why[256];
	ck_assert_int_ne(heap_validate(h, why, sizeof(why)), 0);
	ck_assert_ptr_nonnull(strstr(why, "tail"));
	unit_heap_unmap(h);
}
END_TEST

START_TEST(validate_catches_stats_drift)
{
	struct heap *h = unit_heap(4 * MIB, 0);
	bool z;
	run_alloc(h, 4, &z);
	h->stats.active_pages++;
	char why[256];
	ck_assert_int_ne(heap_validate(h, why, sizeof(why)), 0);
	ck_assert_ptr_nonnull(strstr(why, "active"));
	unit_heap_unmap(h);
}
END_TEST

START_TEST(validate_catches_a_lost_list_entry)
{
	struct heap *h = unit_heap(4 * MIB, 0);
	bool z;
	uint32_t a = run_alloc(h, 4, &z);
	run_alloc(h, 1, &z);
	run_free(h, a);
	memset(h->runs, 0, sizeof(h->runs));
	char why[256];
	ck_assert_int_ne(heap_validate(h, why, sizeof(why)), 0);
	unit_heap_unmap(h);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("page");
	TCase *tc = tcase_create("runs");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, fresh_heap_is_one_run);
	tcase_add_test(tc, neighbours_coalesce);
	tcase_add_test(tc, exhaustion_and_reuse);
	tcase_add_test(tc, aligned_runs);
	tcase_add_test(tc, grow_and_shrink_in_place);
	tcase_add_test(tc, random_operations_keep_invariants);
	tcase_add_test(tc, dirty_pages_and_purge);
	tcase_add_test(tc, free_next_to_a_purged_run_counts_its_prefix);
	suite_add_tcase(s, tc);
	TCase *tv = tcase_create("validate");
	tcase_add_test(tv, validate_catches_a_bad_tail);
	tcase_add_test(tv, validate_catches_stats_drift);
	tcase_add_test(tv, validate_catches_a_lost_list_entry);
	suite_add_tcase(s, tv);
	return unit_run(s);
}
