/* test_slab.c -- slabs and bins: carving, the free chain, double-free and
 * bad-pointer detection, slab release, and what slab_validate catches. */
#include "unit.h"
#include "valgrind.h"

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

START_TEST(fills_a_slab_with_distinct_aligned_blocks)
{
	for (unsigned c = 0; c < NBINS; c++) {
		const struct sizeclass *sc = &sizeclasses[c];
		char **p = calloc(sc->nblocks, sizeof(*p));
		for (uint32_t i = 0; i < sc->nblocks; i++) {
			p[i] = heap_malloc(h, sc->size, false);
			ck_assert_ptr_nonnull(p[i]);
			memset(p[i], (int)i, sc->size);
			if (i > 0)
				ck_assert_ptr_eq(p[i], p[i - 1] + sc->size);
		}
		ck_assert_uint_eq((uintptr_t)p[0] % PAGE, 0);
		unit_validate(h);
		for (uint32_t i = 0; i < sc->nblocks; i++) {
			ck_assert_uint_eq((unsigned char)p[i][sc->size - 1],
			    (unsigned char)i);
			heap_free(h, p[i]);
		}
		unit_validate(h);
		free(p);
	}
}
END_TEST

START_TEST(freed_blocks_are_reused_last_in_first_out)
{
	void *a = heap_malloc(h, 100, false), *b = heap_malloc(h, 100, false);
	heap_free(h, a);
	heap_free(h, b);
	ck_assert_ptr_eq(heap_malloc(h, 100, false), b);
	ck_assert_ptr_eq(heap_malloc(h, 100, false), a);
	unit_validate(h);
}
END_TEST

START_TEST(empty_slabs_go_back_but_one)
{
	unsigned c = size2class(64);
	uint32_t n = sizeclasses[c].nblocks * 3;
	void **p = calloc(n, sizeof(*p));
	for (uint32_t i = 0; i < n; i++)
		p[i] = heap_malloc(h, 64, false);
	ck_assert_uint_eq(h->bins[c].nslabs, 3);
	uint64_t active = h->stats.active_pages;
	for (uint32_t i = 0; i < n; i++)
		heap_free(h, p[i]);
	ck_assert_uint_eq(h->bins[c].nslabs, 1);
	ck_assert_uint_eq(h->stats.active_pages,
	    active - 2 * sizeclasses[c].npages);
	unit_validate(h);
	free(p);
}
END_TEST

START_TEST(random_mix_keeps_invariants)
{
	enum { N = 20000 };
	void **p = calloc(N, sizeof(*p));
	srandom(3);
	for (int op = 0; op < 200000; op++) {
		int i = (int)(random() % N);
		if (p[i]) {
			heap_free(h, p[i]);
			p[i] = NULL;
		} else {
			p[i] = heap_malloc(h, (size_t)random() % SMALL_MAX,
			    random() % 8 == 0);
		}
		if (op % 50000 == 0)
			unit_validate(h);
	}
	unit_validate(h);
	for (int i = 0; i < N; i++)
		if (p[i])
			heap_free(h, p[i]);
	unit_validate(h);
	unit_assert_allocated(h, 0);
	free(p);
}
END_TEST

START_TEST(double_free_aborts)
{
	void *p = heap_malloc(h, 48, false);
	heap_malloc(h, 48, false);   /* keep the slab alive */
	heap_free(h, p);
	heap_free(h, p);
}
END_TEST

START_TEST(double_free_after_other_frees_aborts)
{
	void *p = heap_malloc(h, 48, false), *q = heap_malloc(h, 48, false);
	heap_malloc(h, 48, false);
	heap_free(h, p);
	heap_free(h, q);
	heap_free(h, p);
}
END_TEST

START_TEST(interior_pointer_aborts)
{
	char *p = heap_malloc(h, 64, false);
	heap_free(h, p + 16);
}
END_TEST

START_TEST(never_carved_block_aborts)
{
	char *p = heap_malloc(h, 64, false);
	heap_free(h, p + 64 * 5);
}
END_TEST

START_TEST(free_key_in_user_data_is_not_a_double_free)
{
	uint64_t *p = heap_malloc(h, 32, false);
	heap_malloc(h, 32, false);
	p[1] = h->free_key;          /* user data that looks like a free block */
	heap_free(h, p);
	unit_validate(h);
}
END_TEST

START_TEST(validate_catches_write_after_free)
{
	uint64_t *p = heap_malloc(h, 32, false);
	heap_malloc(h, 32, false);
	heap_free(h, p);
	vg_open(&p[1], sizeof(p[1]));   /* on purpose: memcheck, look away */
	p[1] = 0;                    /* use after free clobbers the key */
	char why[256];
	ck_assert_int_ne(heap_validate(h, why, sizeof(why)), 0);
	ck_assert_ptr_nonnull(strstr(why, "key"));
}
END_TEST

START_TEST(corrupted_chain_aborts_on_malloc)
{
	uint16_t *p = heap_malloc(h, 32, false);
	heap_malloc(h, 32, false);
	heap_free(h, p);
	p[0] = (uint16_t)(100 ^ (uint16_t)h->free_key); /* past carved */
	heap_malloc(h, 32, false);
}
END_TEST

/* ---- the remote stack ---------------------------------------------------- */

/* One block on the remote stack: a chain of one. */
static void push1(struct heap *heap, void *p)
{
	*(uint64_t *)p = 0;
	remote_push(heap, (uint64_t)((char *)p - (char *)heap), p, 16);
}

START_TEST(remote_stack_gives_blocks_back_at_drain)
{
	enum { N = 3000 };
	static void *p[N];
	size_t base = unit_live(h);
	for (unsigned i = 0; i < N; i++) {
		p[i] = heap_malloc(h, 16 + (i % 50) * 16, false);
		ck_assert_ptr_nonnull(p[i]);
	}
	for (unsigned i = 0; i < N; i += 2)
		push1(h, p[i]);
	/* Pushed, not yet freed: still out, and the heap still sound. */
	ck_assert_uint_eq(unit_live(h), base + N);
	unit_validate(h);
	heap_lock(h);
	remote_drain(h);
	heap_unlock(h);
	ck_assert_uint_eq(atomic_load(&h->remote), 0);
	ck_assert_uint_eq(unit_live(h), base + N / 2);
	unit_validate(h);
	/* Draining an empty stack changes nothing. */
	heap_lock(h);
	remote_drain(h);
	heap_unlock(h);
	ck_assert_uint_eq(unit_live(h), base + N / 2);
	for (unsigned i = 1; i < N; i += 2)
		heap_free(h, p[i]);
	ck_assert_uint_eq(unit_live(h), base);
	unit_validate(h);
}
END_TEST

START_TEST(remote_stack_takes_chains)
{
	/* Two chains of 100 linked blocks, each pushed with one exchange: the
	 * stack counts their bytes, and one drain frees all 200. */
	enum { N = 100 };
	static void *p[2][N];
	size_t base = unit_live(h);
	uint64_t pending = 0;
	/* All allocated first: a class out of slabs drains the stack. */
	for (unsigned i = 0; i < 2 * N; i++) {
		p[i / N][i % N] = heap_malloc(h, 48, false);
		ck_assert_ptr_nonnull(p[i / N][i % N]);
	}
	for (unsigned k = 0; k < 2; k++) {
		uint64_t first = 0;
		for (unsigned i = 0; i < N; i++) {
			*(uint64_t *)p[k][i] = first;
			first = (uint64_t)((char *)p[k][i] - (char *)h);
		}
		pending = remote_push(h, first, p[k][0], N * 48);
		ck_assert_uint_eq(pending, (k + 1) * N * 48);
	}
	ck_assert_uint_eq(unit_live(h), base + 2 * N);
	heap_lock(h);
	remote_drain(h);
	heap_unlock(h);
	ck_assert_uint_eq(unit_live(h), base);
	ck_assert_uint_eq(atomic_load(&h->remote_bytes), 0);
	unit_validate(h);
}
END_TEST

static uint64_t off_of(void *p)
{
	return (uint64_t)((char *)p - (char *)h);
}

/* Drains the remote lists and stack: `live` blocks are left out. */
static void drain_expect(size_t live)
{
	heap_lock(h);
	remote_drain(h);
	heap_unlock(h);
	ck_assert_uint_eq(unit_live(h), live);
	unit_validate(h);
}

START_TEST(remote_lists_splice_into_their_slabs)
{
	/* 256 blocks over several slabs and classes given in one go: one
	 * list per slab, the slabs on the arena's stack; counted as live
	 * until the drain, which puts every one back. */
	enum { N = REMOTE_GIVE_MAX };
	static void *p[N];
	static uint64_t off[N];
	size_t base = unit_live(h), bytes = 0;
	for (unsigned i = 0; i < N; i++) {
		size_t size = 16 + (i % 7) * 200;
		p[i] = heap_malloc(h, size, false);
		ck_assert_ptr_nonnull(p[i]);
		off[i] = off_of(p[i]);
		bytes += size_usable(size);
	}
	ck_assert_uint_eq(slab_remote_give(h, off, N), bytes);
	ck_assert_uint_ne(atomic_load(&h->remote_slabs), 0);
	ck_assert_uint_eq(unit_live(h), base + N);
	unit_validate(h);
	heap_lock(h);
	remote_drain(h);
	heap_unlock(h);
	ck_assert_uint_eq(atomic_load(&h->remote_slabs), 0);
	ck_assert_uint_eq(atomic_load(&h->remote_bytes), 0);
	ck_assert_uint_eq(unit_live(h), base);
	unit_validate(h);
	/* and they are handed out again */
	for (unsigned i = 0; i < N; i++)
		ck_assert_ptr_nonnull(p[i] = heap_malloc(h, 16, false));
	for (unsigned i = 0; i < N; i++)
		heap_free(h, p[i]);
	unit_validate(h);
}
END_TEST

START_TEST(remote_lists_of_many_slabs)
{
	/* 100 blocks of 14336 B: a slab each, more than a give's table
	 * holds at once, so it pushes in rounds. */
	enum { N = 100 };
	static void *p[N];
	static uint64_t off[N];
	size_t base = unit_live(h);
	for (unsigned i = 0; i < N; i++) {
		p[i] = heap_malloc(h, SMALL_MAX, false);
		ck_assert_ptr_nonnull(p[i]);
		off[i] = off_of(p[i]);
	}
	ck_assert_uint_ge(h->bins[NBINS - 1].nslabs, N / 2);
	ck_assert_uint_eq(slab_remote_give(h, off, N), N * SMALL_MAX);
	drain_expect(base);
}
END_TEST

START_TEST(remote_lists_grow_between_drains)
{
	/* Gives to one slab's list in three rounds, one block each time and
	 * then the rest: the list keeps its tail, the drain takes all. */
	enum { N = 40 };
	static void *p[N];
	size_t base = unit_live(h);
	for (unsigned i = 0; i < N; i++)
		p[i] = heap_malloc(h, 64, false);
	uint64_t o = off_of(p[0]);
	slab_remote_give(h, &o, 1);
	o = off_of(p[1]);
	slab_remote_give(h, &o, 1);
	static uint64_t rest[N];
	for (unsigned i = 2; i < N; i++)
		rest[i - 2] = off_of(p[i]);
	slab_remote_give(h, rest, N - 2);
	drain_expect(base);
}
END_TEST

START_TEST(remote_stack_drained_by_a_new_slab)
{
	/* A class with no slab left takes what the stack holds before it
	 * makes a new slab. */
	unsigned c = size2class(4096);
	uint32_t n = sizeclasses[c].nblocks;
	void **p = calloc(n, sizeof(*p));
	for (uint32_t i = 0; i < n; i++)
		p[i] = heap_malloc(h, 4096, false);
	ck_assert_uint_eq(h->bins[c].nonfull, 0);
	uint32_t slabs = h->bins[c].nslabs;
	push1(h, p[n / 2]);
	void *q = heap_malloc(h, 4096, false);
	ck_assert_ptr_eq(q, p[n / 2]);
	ck_assert_uint_eq(h->bins[c].nslabs, slabs);
	for (uint32_t i = 0; i < n; i++)
		heap_free(h, p[i]);
	unit_validate(h);
	free(p);
}
END_TEST

START_TEST(remote_stack_double_push_aborts)
{
	void *a = heap_malloc(h, 64, false);
	push1(h, a);
	heap_lock(h);
	remote_drain(h);
	heap_unlock(h);
	push1(h, a);   /* freed already */
	heap_lock(h);
	remote_drain(h);
}
END_TEST

START_TEST(remote_give_twice_aborts)
{
	void *a = heap_malloc(h, 64, false);
	uint64_t o = off_of(a);
	slab_remote_give(h, &o, 1);
	slab_remote_give(h, &o, 1);   /* its key says free: the checked way */
	heap_lock(h);
	remote_drain(h);
}
END_TEST

START_TEST(remote_give_of_an_interior_pointer_aborts)
{
	char *a = heap_malloc(h, 64, false);
	uint64_t o = off_of(a + 16);
	slab_remote_give(h, &o, 1);
}
END_TEST

START_TEST(remote_stack_broken_link_aborts)
{
	void *a = heap_malloc(h, 64, false);
	push1(h, a);
	*(uint64_t *)a = h->size + 64;   /* a link out of the heap */
	heap_lock(h);
	remote_drain(h);
}
END_TEST

/* ---- batches: a thread cache's refill and flush ------------------------- */

/* A batch takes a slab's chain first (newest free first, as slab_alloc),
 * then blocks never handed out, then the next slab; gives back the same
 * way slab_free does, the emptied slabs to the pages but the last. */
START_TEST(a_batch_takes_the_chain_then_carves_across_slabs)
{
	unsigned c = size2class(64);
	const struct sizeclass *sc = &sizeclasses[c];
	char *p[10];
	for (int i = 0; i < 10; i++)
		p[i] = heap_malloc(h, 64, false);
	heap_free(h, p[2]);
	heap_free(h, p[5]);
	heap_free(h, p[7]);
	uint32_t n = sc->nblocks + 20;
	uint64_t *out = calloc(n, sizeof(*out));
	heap_lock(h);
	ck_assert_uint_eq(slab_alloc_batch(h, c, out, n), n);
	heap_unlock(h);
	ck_assert_uint_eq(out[0], off_of(p[7]));
	ck_assert_uint_eq(out[1], off_of(p[5]));
	ck_assert_uint_eq(out[2], off_of(p[2]));
	for (uint32_t i = 3; i < sc->nblocks - 7; i++)   /* carved in order */
		ck_assert_uint_eq(out[i], off_of(p[9]) + (i - 2) * 64);
	for (uint32_t i = 0; i < n; i++) {
		ck_assert_int_eq(slab_carved_class(h, out[i], NULL), (int)c);
		for (uint32_t j = 0; j < i; j++)
			ck_assert_uint_ne(out[i], out[j]);
	}
	ck_assert_uint_eq(h->bins[c].nslabs, 2);
	if (config_stats)
		ck_assert_uint_eq(unit_class_live(h, c), 7 + n);
	unit_validate(h);
	heap_lock(h);
	slab_free_batch(h, c, out, n);
	heap_unlock(h);
	if (config_stats)
		ck_assert_uint_eq(unit_class_live(h, c), 7);
	ck_assert_uint_eq(h->bins[c].nslabs, 1);
	unit_validate(h);
	free(out);
}
END_TEST

/* What may go into the depot: the offsets, from the first, that name
 * blocks of the class handed out at least once. */
START_TEST(carved_prefix_stops_at_the_first_stranger)
{
	unsigned c = size2class(64);
	char *a = heap_malloc(h, 64, false), *b = heap_malloc(h, 64, false);
	char *other = heap_malloc(h, 128, false);
	uint64_t off[4] = { off_of(a), off_of(b), off_of(b) + 64, off_of(a) };
	heap_lock(h);
	ck_assert_uint_eq(slab_carved_prefix(h, c, off, 4), 2);  /* not carved */
	off[2] = off_of(b) + 16;                                  /* interior */
	ck_assert_uint_eq(slab_carved_prefix(h, c, off, 4), 2);
	off[2] = off_of(other);                                   /* class */
	ck_assert_uint_eq(slab_carved_prefix(h, c, off, 4), 2);
	off[2] = (uint64_t)h->hwm << LG_PAGE;                      /* above hwm */
	ck_assert_uint_eq(slab_carved_prefix(h, c, off, 4), 2);
	off[2] = h->size + 4096;                                   /* outside */
	ck_assert_uint_eq(slab_carved_prefix(h, c, off, 4), 2);
	off[2] = 64;                                               /* header */
	ck_assert_uint_eq(slab_carved_prefix(h, c, off, 4), 2);
	off[2] = off_of(a);
	ck_assert_uint_eq(slab_carved_prefix(h, c, off, 4), 4);
	heap_unlock(h);
}
END_TEST

START_TEST(a_batch_giving_a_block_twice_aborts)
{
	unsigned c = size2class(48);
	uint64_t out[4];
	heap_malloc(h, 48, false);   /* keep the slab */
	heap_lock(h);
	ck_assert_uint_eq(slab_alloc_batch(h, c, out, 3), 3);
	out[3] = out[1];
	slab_free_batch(h, c, out, 4);
}
END_TEST

START_TEST(a_batch_giving_a_block_never_carved_aborts)
{
	unsigned c = size2class(48);
	uint64_t out[2];
	heap_lock(h);
	ck_assert_uint_eq(slab_alloc_batch(h, c, out, 1), 1);
	out[1] = out[0] + 48 * 3;
	slab_free_batch(h, c, out, 2);
}
END_TEST

START_TEST(a_batch_giving_a_block_of_another_class_aborts)
{
	uint64_t out[1];
	heap_lock(h);
	ck_assert_uint_eq(slab_alloc_batch(h, size2class(48), out, 1), 1);
	slab_free_batch(h, size2class(32), out, 1);
}
END_TEST

/* ---- a thread without a cache: the quick calls (slab_alloc_quick,
 * slab_free_quick) serve the common case and leave the rest, doing
 * nothing, to the long way.  Off (NULL, 0) in a debug build and under
 * memcheck, which always go the long way. */
static bool quick_on(void)
{
	return !config_debug && !vg_on();
}

START_TEST(quick_calls_serve_the_common_case)
{
	unsigned c = size2class(48);
	/* No slab in the bin yet: nothing done, the long way makes one. */
	ck_assert_ptr_null(slab_alloc_quick(h, c));
	ck_assert_uint_eq(h->bins[c].nslabs, 0);
	void *keep = heap_malloc(h, 48, false);
	char *p = slab_alloc_quick(h, c);
	if (!quick_on()) {
		ck_assert_ptr_null(p);
		ck_assert_uint_eq(slab_free_quick(h, keep), 0);
		heap_free(h, keep);
		return;
	}
	ck_assert_ptr_eq(p, (char *)keep + 48);   /* the next carved block */
	if (config_stats)
		ck_assert_uint_eq(unit_class_live(h, c), 2);
	ck_assert_uint_eq(slab_free_quick(h, p), 48);
	if (config_stats)
		ck_assert_uint_eq(unit_class_live(h, c), 1);
	unit_validate(h);
	/* Free already (its key says so): left to the long way, which walks
	 * the chain and reports the double free; the chain is untouched. */
	ck_assert_uint_eq(slab_free_quick(h, p), 0);
	unit_validate(h);
	ck_assert_ptr_eq(slab_alloc_quick(h, c), p);   /* last in, first out */
	/* No carved block: inside one, past the carved ones, a large block,
	 * outside the heap's pages. */
	ck_assert_uint_eq(slab_free_quick(h, p + 16), 0);
	ck_assert_uint_eq(slab_free_quick(h, p + 48 * 40), 0);
	void *big = heap_malloc(h, 64 << 10, false);
	ck_assert_uint_eq(slab_free_quick(h, big), 0);
	heap_free(h, big);
	ck_assert_uint_eq(slab_free_quick(h, (char *)h + 64), 0);
	/* The lock held by someone else: nothing done, the lock not taken. */
	ck_assert(lock_try(&h->lock));
	ck_assert_ptr_null(slab_alloc_quick(h, c));
	ck_assert_uint_eq(slab_free_quick(h, p), 0);
	lock_release(&h->lock);
	/* Inside a locked section (a signal handler's call): no lock taken. */
	tsection_enter();
	ck_assert_ptr_null(slab_alloc_quick(h, c));
	ck_assert_uint_eq(slab_free_quick(h, p), 0);
	tsection_leave();
	/* Blocks on the remote stack wait for the long way's drain, a
	 * malloc's as well as a free's: then the quick calls serve again. */
	void *r = heap_malloc(h, 48, false);
	push1(h, r);
	ck_assert_ptr_null(slab_alloc_quick(h, c));
	ck_assert_uint_eq(slab_free_quick(h, p), 0);
	void *q = heap_malloc(h, 48, false);   /* drains, then allocates */
	ck_assert_ptr_nonnull(q);
	ck_assert_uint_eq(atomic_load(&h->remote), 0);
	ck_assert_uint_eq(slab_free_quick(h, q), 48);
	push1(h, q = heap_malloc(h, 48, false));
	heap_free(h, p);   /* drains, then frees */
	ck_assert_uint_eq(atomic_load(&h->remote), 0);
	heap_free(h, keep);
	unit_validate(h);
	if (config_stats)
		ck_assert_uint_eq(unit_class_live(h, c), 0);
}
END_TEST

/* The quick free finds its block through the slab map and proves every
 * word it reads: a slab map entry that names another class, or a page
 * entry that is no slab head, sends it the long way. */
START_TEST(quick_free_refuses_a_damaged_slab_map)
{
	if (!quick_on())
		return;
	unsigned c = size2class(64);
	char *p = heap_malloc(h, 64, false);
	heap_malloc(h, 64, false);
	uint32_t page = (uint32_t)((p - (char *)h) >> LG_PAGE);
	uint32_t *sm = heap_slabmap(h), e = sm[page];
	sm[page] = slabmap_entry(c + 1, 0);      /* another class */
	ck_assert_uint_eq(slab_free_quick(h, p), 0);
	sm[page] = e | 0x100;                    /* a stray bit */
	ck_assert_uint_eq(slab_free_quick(h, p), 0);
	sm[page] = e;
	struct page *s = &heap_pages(h)[page];
	uint8_t kind = s->kind;
	s->kind = PAGE_LARGE;                   /* no slab head there */
	ck_assert_uint_eq(slab_free_quick(h, p), 0);
	s->kind = kind;
	ck_assert_uint_eq(slab_free_quick(h, p), 64);
	unit_validate(h);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("slab");
	TCase *tc = tcase_create("blocks");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, fills_a_slab_with_distinct_aligned_blocks);
	tcase_add_test(tc, freed_blocks_are_reused_last_in_first_out);
	tcase_add_test(tc, empty_slabs_go_back_but_one);
	tcase_add_test(tc, random_mix_keeps_invariants);
	tcase_add_test(tc, free_key_in_user_data_is_not_a_double_free);
	tcase_add_test(tc, remote_stack_gives_blocks_back_at_drain);
	tcase_add_test(tc, remote_stack_takes_chains);
	tcase_add_test(tc, remote_lists_splice_into_their_slabs);
	tcase_add_test(tc, remote_lists_of_many_slabs);
	tcase_add_test(tc, remote_lists_grow_between_drains);
	tcase_add_test(tc, remote_stack_drained_by_a_new_slab);
	tcase_add_test(tc, a_batch_takes_the_chain_then_carves_across_slabs);
	tcase_add_test(tc, carved_prefix_stops_at_the_first_stranger);
	tcase_add_test(tc, quick_calls_serve_the_common_case);
	tcase_add_test(tc, quick_free_refuses_a_damaged_slab_map);
	suite_add_tcase(s, tc);
	/* Misuse on purpose: memcheck would (rightly) flag it, so the
	 * valgrind run excludes the tag. */
	TCase *tb = tcase_create("misuse");
	tcase_set_tags(tb, "misuse");
	tcase_add_test(tb, validate_catches_write_after_free);
	tcase_add_checked_fixture(tb, setup, teardown);
	tcase_add_test_raise_signal(tb, double_free_aborts, SIGABRT);
	tcase_add_test_raise_signal(tb, double_free_after_other_frees_aborts,
	    SIGABRT);
	tcase_add_test_raise_signal(tb, interior_pointer_aborts, SIGABRT);
	tcase_add_test_raise_signal(tb, remote_stack_double_push_aborts,
	    SIGABRT);
	tcase_add_test_raise_signal(tb, remote_stack_broken_link_aborts,
	    SIGABRT);
	tcase_add_test_raise_signal(tb, remote_give_twice_aborts, SIGABRT);
	tcase_add_test_raise_signal(tb, remote_give_of_an_interior_pointer_aborts,
	    SIGABRT);
	tcase_add_test_raise_signal(tb, never_carved_block_aborts, SIGABRT);
	tcase_add_test_raise_signal(tb, corrupted_chain_aborts_on_malloc,
	    SIGABRT);
	tcase_add_test_raise_signal(tb, a_batch_giving_a_block_twice_aborts,
	    SIGABRT);
	tcase_add_test_raise_signal(tb,
	    a_batch_giving_a_block_never_carved_aborts, SIGABRT);
	tcase_add_test_raise_signal(tb,
	    a_batch_giving_a_block_of_another_class_aborts, SIGABRT);
	suite_add_tcase(s, tb);
	return unit_run(s);
}
