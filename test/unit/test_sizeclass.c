/* test_sizeclass.c -- the size-class table and size2class. */
#include "unit.h"

START_TEST(table_is_valid)
{
	sizeclass_init();
	ck_assert_int_eq(sizeclass_validate(), 0);
}
END_TEST

START_TEST(boundaries)
{
	static const struct { size_t req, cls_size; } cases[] = {
		{ 0, 16 }, { 1, 16 }, { 16, 16 }, { 17, 32 }, { 128, 128 },
		{ 129, 160 }, { 256, 256 }, { 257, 320 }, { 1024, 1024 },
		{ 1025, 1280 }, { 4096, 4096 }, { 4097, 5120 },
		{ 8193, 10240 }, { 14336, 14336 },
	};
	sizeclass_init();
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		ck_assert_uint_eq(sizeclasses[size2class(cases[i].req)].size,
		    cases[i].cls_size);
	ck_assert_uint_eq(size2class(SMALL_MAX), NBINS - 1);
	ck_assert_uint_eq(size_usable(SMALL_MAX + 1), 16384);
	ck_assert_uint_eq(size_usable(100000), 102400);
}
END_TEST

/* Above 48 bytes at most 25%; below, less than the 16-byte quantum. */
START_TEST(waste_at_most_quarter)
{
	sizeclass_init();
	for (size_t s = 1; s <= SMALL_MAX; s++) {
		size_t u = size_usable(s);
		if (s > 3 * QUANTUM)
			ck_assert_msg(s * 4 >= u * 3, "size %zu wastes %zu", s,
			    u - s);
		else
			ck_assert_uint_lt(u - s, QUANTUM);
	}
	/* Large: page rounding wastes less than a page. */
	for (size_t s = SMALL_MAX + 1; s < 4 * 1024 * 1024; s += 4093)
		ck_assert_uint_lt(size_usable(s) - s, PAGE);
}
END_TEST

START_TEST(slab_geometry)
{
	sizeclass_init();
	for (unsigned c = 0; c < NBINS; c++) {
		const struct sizeclass *sc = &sizeclasses[c];
		size_t bytes = sc->npages * PAGE;
		ck_assert_uint_le((size_t)sc->nblocks * sc->size, bytes);
		ck_assert_uint_lt(bytes - (size_t)sc->nblocks * sc->size,
		    sc->size);
		/* The tail a slab wastes stays small relative to the slab. */
		ck_assert_msg((bytes % sc->size) * 8 <= bytes,
		    "class %u (%u B) wastes %zu of %zu", c, sc->size,
		    bytes % sc->size, bytes);
	}
}
END_TEST

START_TEST(signature_tracks_table)
{
	sizeclass_init();
	uint64_t sig = sizeclass_signature();
	ck_assert_uint_eq(sig, sizeclass_signature());
	sizeclasses[5].npages++;
	ck_assert_uint_ne(sig, sizeclass_signature());
	sizeclasses[5].npages--;
	ck_assert_uint_eq(sig, sizeclass_signature());
}
END_TEST

/* A cache's room follows its heap's size: the smallest heaps keep the
 * fixed bins every cache had, a cache takes no more than 1/1024 of a heap
 * big enough to let it grow, and the largest scale gives a bin the few
 * thousand blocks issue 16 asks for. */
START_TEST(cache_layouts_scale_with_the_heap)
{
	sizeclass_init();
	ck_assert_int_eq(sizeclass_validate(), 0);
	ck_assert_uint_eq(tcache_scale_for(HEAP_MIN_SIZE), 0);
	ck_assert_uint_eq(tcache_scale_for((size_t)4 << 20), 0);
	ck_assert_uint_eq(tcache_scale_for((size_t)1 << 30), TCACHE_SCALES - 1);
	ck_assert_uint_eq(tcache_scale_for((size_t)1 << 38), TCACHE_SCALES - 1);
	unsigned last = 0;
	for (size_t size = HEAP_MIN_SIZE; size <= ((size_t)1 << 32);
	    size += size / 4) {
		unsigned k = tcache_scale_for(size);
		ck_assert_uint_ge(k, last);
		ck_assert(k == 0 || tcache_run_bytes(k) <= size / 1024);
		last = k;
	}
	for (unsigned c = 0; c < NBINS; c++) {
		uint32_t base = sizeclasses[c].tcache_base;
		ck_assert_uint_eq(tcache_layouts[0].cap[c], base);
		uint32_t top = tcache_layouts[TCACHE_SCALES - 1].cap[c];
		/* up to 1024 B, 2048 blocks or more; each at most 2 MiB */
		if (sizeclasses[c].size <= 1024)
			ck_assert_uint_ge(top, 2048);
		ck_assert(top == base || (uint64_t)top * sizeclasses[c].size <=
		    TCACHE_CAP_BYTES);
	}
	/* A layout that breaks the tiling is caught. */
	tcache_layouts[3].lo[7]++;
	ck_assert_int_ne(sizeclass_validate(), 0);
	tcache_layouts[3].lo[7]--;
	uint32_t cap = tcache_layouts[5].cap[0];
	tcache_layouts[5].cap[0] = TCACHE_CAP_BLOCKS + 1;
	ck_assert_int_ne(sizeclass_validate(), 0);
	tcache_layouts[5].cap[0] = cap;
	ck_assert_int_eq(sizeclass_validate(), 0);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("sizeclass");
	TCase *tc = tcase_create("table");
	tcase_add_test(tc, table_is_valid);
	tcase_add_test(tc, boundaries);
	tcase_add_test(tc, waste_at_most_quarter);
	tcase_add_test(tc, slab_geometry);
	tcase_add_test(tc, signature_tracks_table);
	tcase_add_test(tc, cache_layouts_scale_with_the_heap);
	suite_add_tcase(s, tc);
	return unit_run(s);
}
