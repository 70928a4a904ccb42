/*
 * test_api.c -- every call of the standard family and jemalloc's *allocx,
 * through the public header only, with the configured prefix: normal use,
 * edges, and the bad input DESIGN.md names (NULL + ENOMEM for overflow,
 * EINVAL for bad alignments, one line and abort for bad frees).
 */
#include <check.h>
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <phmalloc.h>

#include "../run_suite.h"

#define P_(n) PHMALLOC_FN(n)
#define MIB ((size_t)1 << 20)

static void fill_check(unsigned char *p, size_t n, unsigned char v)
{
	memset(p, v, n);
	for (size_t i = 0; i < n; i += 61)
		ck_assert_uint_eq(p[i], v);
	ck_assert_uint_eq(p[n - 1], v);
}

/* ---- malloc, free, usable size ----------------------------------------- */

START_TEST(malloc_zero_is_unique_and_freeable)
{
	void *a = P_(malloc)(0), *b = P_(malloc)(0);
	ck_assert_ptr_nonnull(a);
	ck_assert_ptr_nonnull(b);
	ck_assert_ptr_ne(a, b);
	ck_assert_uint_ge(P_(malloc_usable_size)(a), 1);
	P_(free)(a);
	P_(free)(b);
	P_(free)(NULL);
	ck_assert_uint_eq(P_(malloc_usable_size)(NULL), 0);
}
END_TEST

START_TEST(every_small_size_and_large_sizes)
{
	for (size_t s = 1; s <= 20000; s += (s < 1100 ? 1 : 97)) {
		unsigned char *p = P_(malloc)(s);
		ck_assert_ptr_nonnull(p);
		ck_assert_uint_eq((uintptr_t)p % 16, 0);
		size_t u = P_(malloc_usable_size)(p);
		ck_assert_uint_ge(u, s);
		fill_check(p, u, (unsigned char)s);
		P_(free)(p);
	}
	for (size_t s = 20000; s <= 64 * MIB; s = s * 3 / 2) {
		unsigned char *p = P_(malloc)(s);
		ck_assert_ptr_nonnull(p);
		ck_assert_uint_ge(P_(malloc_usable_size)(p), s);
		p[0] = 1;
		p[s - 1] = 2;
		P_(free)(p);
	}
}
END_TEST

START_TEST(many_live_blocks_keep_their_contents)
{
	enum { N = 100000 };
	unsigned char **p = calloc(N, sizeof(*p));
	size_t *sz = calloc(N, sizeof(*sz));
	srandom(11);
	for (int i = 0; i < N; i++) {
		sz[i] = 1 + (size_t)random() % (random() % 100 ? 600 : 70000);
		p[i] = P_(malloc)(sz[i]);
		memset(p[i], i & 0xff, sz[i]);
	}
	for (int i = N - 1; i > 0; i--) {   /* free in random order */
		int j = (int)(random() % (i + 1));
		unsigned char *tp = p[i]; p[i] = p[j]; p[j] = tp;
		size_t ts = sz[i]; sz[i] = sz[j]; sz[j] = ts;
	}
	for (int i = 0; i < N; i++) {
		ck_assert_uint_eq(p[i][0], p[i][sz[i] - 1]);
		P_(free)(p[i]);
	}
	free(p);
	free(sz);
}
END_TEST

START_TEST(overflowing_sizes_give_enomem)
{
	errno = 0;
	ck_assert_ptr_null(P_(malloc)(SIZE_MAX));
	ck_assert_int_eq(errno, ENOMEM);
	errno = 0;
	ck_assert_ptr_null(P_(malloc)(SIZE_MAX / 2 + 1));
	ck_assert_int_eq(errno, ENOMEM);
	errno = 0;
	ck_assert_ptr_null(P_(calloc)(SIZE_MAX, 2));
	ck_assert_int_eq(errno, ENOMEM);
	errno = 0;
	ck_assert_ptr_null(P_(calloc)(2, SIZE_MAX / 2 + 1));
	ck_assert_int_eq(errno, ENOMEM);
	char *p = P_(malloc)(100);
	strcpy(p, "still here");
	errno = 0;
	ck_assert_ptr_null(P_(realloc)(p, SIZE_MAX));
	ck_assert_int_eq(errno, ENOMEM);
	ck_assert_str_eq(p, "still here");
	ck_assert_ptr_null(P_(mallocx)(SIZE_MAX, 0));
	ck_assert_uint_eq(P_(nallocx)(SIZE_MAX, 0), 0);
	P_(free)(p);
	/* and the heap still works */
	P_(free)(P_(malloc)(1000));
}
END_TEST

/* ---- calloc, realloc -------------------------------------------------------- */

START_TEST(calloc_zeroes_even_reused_memory)
{
	for (size_t s = 8; s <= 8 * MIB; s *= 4) {
		unsigned char *d = P_(malloc)(s);
		memset(d, 0xee, s);
		P_(free)(d);
		unsigned char *z = P_(calloc)(1, s);
		for (size_t i = 0; i < s; i += 7)
			ck_assert_uint_eq(z[i], 0);
		ck_assert_uint_eq(z[s - 1], 0);
		P_(free)(z);
	}
	unsigned char *big = P_(calloc)(32, MIB);
	for (size_t i = 0; i < 32 * MIB; i += 4096)
		ck_assert_uint_eq(big[i], 0);
	P_(free)(big);
	ck_assert_ptr_nonnull(P_(calloc)(0, 10));
}
END_TEST

START_TEST(realloc_semantics)
{
	char *p = P_(realloc)(NULL, 50);      /* malloc */
	ck_assert_ptr_nonnull(p);
	strcpy(p, "hello");
	p = P_(realloc)(p, 5000);             /* grow, moves classes */
	ck_assert_str_eq(p, "hello");
	p = P_(realloc)(p, 3);                /* shrink keeps the prefix */
	ck_assert_int_eq(memcmp(p, "hel", 3), 0);
	/* A large block shrinks in place. */
	char *big = P_(malloc)(4 * MIB);
	memset(big, 7, 4 * MIB);
	char *same = P_(realloc)(big, 1 * MIB);
	ck_assert_ptr_eq(same, big);
	ck_assert_int_eq(same[MIB - 1], 7);
	/* and grows in place when the pages after it are free */
	char *grown = P_(realloc)(same, 2 * MIB);
	ck_assert_int_eq(grown[MIB - 1], 7);
	P_(free)(grown);
	/* glibc's realloc(p, 0): frees and returns NULL */
	ck_assert_ptr_null(P_(realloc)(p, 0));
}
END_TEST

/* ---- alignment ---------------------------------------------------------------- */

START_TEST(every_power_of_two_alignment)
{
	for (size_t a = sizeof(void *); a <= 64 * MIB; a *= 2) {
		void *p = (void *)0x1;
		ck_assert_int_eq(P_(posix_memalign)(&p, a, 100), 0);
		ck_assert_uint_eq((uintptr_t)p % a, 0);
		memset(p, 1, 100);
		P_(free)(p);
		p = P_(aligned_alloc)(a, a);
		ck_assert_uint_eq((uintptr_t)p % a, 0);
		P_(free)(p);
		p = P_(memalign)(a, 3);
		ck_assert_uint_eq((uintptr_t)p % a, 0);
		P_(free)(p);
		p = P_(mallocx)(17, MALLOCX_ALIGN(a));
		ck_assert_uint_eq((uintptr_t)p % a, 0);
		ck_assert_uint_eq(P_(sallocx)(p, 0),
		    P_(nallocx)(17, MALLOCX_ALIGN(a)));
		P_(dallocx)(p, 0);
	}
	void *v = P_(valloc)(10);
	ck_assert_uint_eq((uintptr_t)v % 4096, 0);
	P_(free)(v);
	void *pv = P_(pvalloc)(4097);
	ck_assert_uint_eq((uintptr_t)pv % 4096, 0);
	ck_assert_uint_ge(P_(malloc_usable_size)(pv), 8192);
	P_(free)(pv);
}
END_TEST

START_TEST(bad_alignments_give_einval)
{
	void *p = (void *)0x1234;
	ck_assert_int_eq(P_(posix_memalign)(&p, 0, 10), EINVAL);
	ck_assert_int_eq(P_(posix_memalign)(&p, 24, 10), EINVAL);
	ck_assert_int_eq(P_(posix_memalign)(&p, 4, 10), EINVAL);
	ck_assert_ptr_eq(p, (void *)0x1234);   /* untouched */
	ck_assert_int_eq(P_(posix_memalign)(&p, 64, SIZE_MAX), ENOMEM);
	errno = 0;
	ck_assert_ptr_null(P_(aligned_alloc)(48, 96));
	ck_assert_int_eq(errno, EINVAL);
	errno = 0;
	ck_assert_ptr_null(P_(aligned_alloc)(0, 96));
	ck_assert_int_eq(errno, EINVAL);
}
END_TEST

/* ---- jemalloc's family ------------------------------------------------------ */

START_TEST(allocx_family)
{
	for (size_t s = 1; s < 100000; s += s / 3 + 1) {
		void *p = P_(mallocx)(s, 0);
		ck_assert_uint_eq(P_(sallocx)(p, 0), P_(nallocx)(s, 0));
		if (s > 48 && s <= 14336)   /* four classes per doubling */
			ck_assert_uint_ge(s * 4, P_(nallocx)(s, 0) * 3);
		P_(sdallocx)(p, s, 0);
	}
	unsigned char *z = P_(mallocx)(3000, MALLOCX_ZERO);
	for (int i = 0; i < 3000; i++)
		ck_assert_uint_eq(z[i], 0);
	memset(z, 9, 3000);
	z = P_(rallocx)(z, 300000, MALLOCX_ZERO);
	ck_assert_uint_eq(z[2999], 9);
	for (size_t i = 3000; i < 300000; i += 11)
		ck_assert_uint_eq(z[i], 0);
	/* xallocx resizes in place or not at all, and says to what */
	size_t got = P_(xallocx)(z, 100000, 0, 0);
	ck_assert_uint_ge(got, 100000);
	ck_assert_uint_eq(P_(sallocx)(z, 0), got);
	ck_assert_uint_eq(z[2999], 9);
	void *small = P_(mallocx)(40, MALLOCX_LG_ALIGN(6) | MALLOCX_TCACHE_NONE);
	ck_assert_uint_eq((uintptr_t)small % 64, 0);
	ck_assert_uint_eq(P_(xallocx)(small, 41, 0, 0), P_(sallocx)(small, 0));
	P_(dallocx)(small, MALLOCX_TCACHE_NONE);
	P_(dallocx)(z, 0);
}
END_TEST

/* ---- bad frees: one line, then abort ---------------------------------------- */

static char static_block[64];

START_TEST(double_free_small)
{
	void *p = P_(malloc)(40);
	P_(free)(p);
	P_(free)(p);
}
END_TEST

START_TEST(double_free_large)
{
	void *p = P_(malloc)(1 * MIB);
	P_(free)(p);
	P_(free)(p);
}
END_TEST

START_TEST(interior_pointer_small)
{
	char *p = P_(malloc)(64);
	P_(free)(p + 16);
}
END_TEST

START_TEST(interior_pointer_large)
{
	char *p = P_(malloc)(64 * 1024);
	P_(free)(p + 4096);
}
END_TEST

START_TEST(pointer_never_handed_out_stack)
{
	char local[32];
	P_(free)(local);
}
END_TEST

START_TEST(pointer_never_handed_out_static)
{
	P_(free)(static_block);
}
END_TEST

START_TEST(realloc_of_interior_pointer)
{
	char *p = P_(malloc)(200);
	P_(realloc)(p + 8, 400);
}
END_TEST

START_TEST(sdallocx_with_a_size_too_big)
{
	void *p = P_(malloc)(100);
	P_(sdallocx)(p, 5000, 0);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("api");
	TCase *tc = tcase_create("normal");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, malloc_zero_is_unique_and_freeable);
	tcase_add_test(tc, every_small_size_and_large_sizes);
	tcase_add_test(tc, many_live_blocks_keep_their_contents);
	tcase_add_test(tc, overflowing_sizes_give_enomem);
	tcase_add_test(tc, calloc_zeroes_even_reused_memory);
	tcase_add_test(tc, realloc_semantics);
	tcase_add_test(tc, every_power_of_two_alignment);
	tcase_add_test(tc, bad_alignments_give_einval);
	tcase_add_test(tc, allocx_family);
	suite_add_tcase(s, tc);
	TCase *tb = tcase_create("bad frees");
	tcase_add_test_raise_signal(tb, double_free_small, SIGABRT);
	tcase_add_test_raise_signal(tb, double_free_large, SIGABRT);
	tcase_add_test_raise_signal(tb, interior_pointer_small, SIGABRT);
	tcase_add_test_raise_signal(tb, interior_pointer_large, SIGABRT);
	tcase_add_test_raise_signal(tb, pointer_never_handed_out_stack, SIGABRT);
	tcase_add_test_raise_signal(tb, pointer_never_handed_out_static,
	    SIGABRT);
	tcase_add_test_raise_signal(tb, realloc_of_interior_pointer, SIGABRT);
	tcase_add_test_raise_signal(tb, sdallocx_with_a_size_too_big, SIGABRT);
	suite_add_tcase(s, tb);
	return run_suite(s);
}
