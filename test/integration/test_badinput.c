/*
 * test_badinput.c -- DESIGN.md's "Bad input is part of the contract",
 * through the public header with the configured prefix.
 *
 * [DESIGN] "Invalid or double free: detected where the metadata allows,
 * reported in one line (phmalloc: double free of 0x... in heap 0x...) and
 * abort -- never silent corruption."  Each case below is one the page map
 * and slab metadata can tell apart from a live block start, so each must
 * raise SIGABRT (tcase_add_test_raise_signal; Check forks every test).
 *
 * [DESIGN] "Size overflow: NULL + ENOMEM", "Bad alignment: EINVAL", "A
 * range that is unaligned, too small, ...: EINVAL": after every such
 * failed call the heap still works and live blocks are untouched.
 *
 * [DESIGN] "ph_heap_* with NULL or a non-heap handle: the one-line 'bad
 * heap handle' abort; unmapped or read-only ranges: EFAULT before anything
 * is written" (issue 14).
 */
#include "testutil.h"

static char static_block[256] __attribute__((aligned(4096)));

/* ---- double frees ------------------------------------------------------ */

START_TEST(double_free_small_immediate)
{
	void *p = P_(malloc)(40);
	P_(free)(p);
	P_(free)(p);
}
END_TEST

START_TEST(double_free_small_of_each_class)
{
	/* one class per test run would be tidier, but any class that fails
	 * to abort makes the whole test fail: the first double free must */
	void *p = P_(malloc)(_i == 0 ? 16 : _i == 1 ? 160 : _i == 2 ? 3000 :
	    14336);
	P_(free)(p);
	P_(free)(p);
}
END_TEST

START_TEST(double_free_calloc_block)
{
	void *p = P_(calloc)(10, 10);
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

START_TEST(double_free_medium_large)
{
	void *p = P_(malloc)(20000);
	P_(free)(p);
	P_(free)(p);
}
END_TEST

/* The block realloc moved away from is freed; freeing it again is a
 * double free. */
START_TEST(free_after_realloc_moved_it)
{
	char *p = P_(malloc)(100);
	char *q = P_(realloc)(p, 1 * MIB);
	if (q == p)   /* small -> large must move; if not, no abort = fail */
		return;
	P_(free)(p);
}
END_TEST

/* [glibc] realloc(p, 0) freed p (see test_malloc), so this is a double
 * free. */
START_TEST(free_after_realloc_to_zero)
{
	void *p = P_(malloc)(64 * KIB);
	if (P_(realloc)(p, 0) != NULL)
		return;   /* test_malloc reports this; no abort here = fail */
	P_(free)(p);
}
END_TEST

START_TEST(double_dallocx)
{
	void *p = P_(mallocx)(500, 0);
	P_(dallocx)(p, 0);
	P_(dallocx)(p, MALLOCX_TCACHE_NONE);
}
END_TEST

/* ---- pointers that are not block starts -------------------------------- */

START_TEST(interior_pointer_small)
{
	char *p = P_(malloc)(64);
	P_(free)(p + 16);
}
END_TEST

START_TEST(interior_pointer_large)
{
	char *p = P_(malloc)(64 * KIB);
	P_(free)(p + 4096);
}
END_TEST

/* A page-aligned pointer inside a large, page-aligned block: the page map
 * must say "inside a block", not "a block starts here". */
START_TEST(interior_page_of_page_aligned_large_block)
{
	char *p = P_(aligned_alloc)(4096, 1 * MIB);
	P_(free)(p + 8 * 4096);
}
END_TEST

START_TEST(last_page_of_large_block)
{
	char *p = P_(malloc)(256 * KIB);
	P_(free)(p + 256 * KIB - 4096);
}
END_TEST

START_TEST(stack_address)
{
	char local[64];
	memset(local, 1, sizeof(local));
	P_(free)(local);
}
END_TEST

START_TEST(static_array_address)
{
	P_(free)(static_block);
}
END_TEST

/* libc's own malloc: a pointer phmalloc never handed out. */
START_TEST(libc_malloc_pointer)
{
	void *p = malloc(100);
	P_(free)(p);
}
END_TEST

/* A page of our own mapping that no heap knows. */
START_TEST(foreign_mapping_address)
{
	void *m = mmap(NULL, 1 * MIB, PROT_READ | PROT_WRITE,
	    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	P_(free)((char *)m + 64 * KIB);
}
END_TEST

/* Inside the heap, but beyond any block: free of a pointer to where a
 * freed large block used to be, after it was given back. */
START_TEST(free_of_freed_large_block_interior)
{
	char *p = P_(malloc)(4 * MIB);
	P_(free)(p);
	P_(free)(p + 1 * MIB);
}
END_TEST

START_TEST(realloc_of_interior_pointer_small)
{
	char *p = P_(malloc)(200);
	void *q = P_(realloc)(p + 8, 400);
	(void)q;   /* not reached: the call aborts */
}
END_TEST

START_TEST(realloc_of_interior_pointer_large)
{
	char *p = P_(malloc)(1 * MIB);
	void *q = P_(realloc)(p + 4096, 2 * MIB);
	(void)q;   /* not reached: the call aborts */
}
END_TEST

START_TEST(realloc_of_freed_block)
{
	char *p = P_(malloc)(2 * MIB);
	P_(free)(p);
	void *q = P_(realloc)(p, 3 * MIB);
	(void)q;   /* not reached: the call aborts */
}
END_TEST

START_TEST(realloc_of_stack_address)
{
	char local[64];
	memset(local, 1, sizeof(local));
	void *q = P_(realloc)(local, 100);
	(void)q;   /* not reached: the call aborts */
}
END_TEST

/* [jemalloc] sdallocx's size must lie in [request, usable]. */
START_TEST(sdallocx_with_a_size_too_big)
{
	void *p = P_(malloc)(100);
	P_(sdallocx)(p, 5000, 0);
}
END_TEST

/* ---- the report: one line naming the pointer --------------------------- */

static void do_double_free(void *arg)
{
	void *p = *(void **)arg;
	P_(free)(p);
	P_(free)(p);
}

static void do_bogus_free(void *arg)
{
	P_(free)(*(void **)arg);
}

/* Checks that text is exactly one line starting with "phmalloc: " and
 * naming ptr as %p prints it. */
static void assert_one_line_about(const char *text, const void *ptr,
                                  const char *what)
{
	char pstr[32];
	snprintf(pstr, sizeof(pstr), "%p", ptr);
	ck_assert_msg(strncmp(text, "phmalloc: ", 10) == 0,
	    "report does not start with \"phmalloc: \": \"%s\"", text);
	ck_assert_msg(strstr(text, what) != NULL, "report \"%s\" lacks "
	    "\"%s\"", text, what);
	ck_assert_msg(strstr(text, pstr) != NULL, "report \"%s\" does not "
	    "name %s", text, pstr);
	const char *nl = strchr(text, '\n');
	ck_assert_msg(nl != NULL && nl[1] == '\0', "report is not exactly "
	    "one line: \"%s\"", text);
}

/* [DESIGN] "phmalloc: double free of 0x... in heap 0x..." and abort. */
START_TEST(double_free_report_is_one_line)
{
	static const size_t sizes[] = { 40, 5000, 1 * MIB };
	for (size_t i = 0; i < 3; i++) {
		void *p = P_(malloc)(sizes[i]);
		char out[1024];
		int st = run_child_capture(do_double_free, &p, out,
		    sizeof(out));
		ck_assert_msg(WIFSIGNALED(st) && WTERMSIG(st) == SIGABRT,
		    "double free of a %zu-byte block: status %#x", sizes[i],
		    st);
		char want[64];
		snprintf(want, sizeof(want), "phmalloc: double free of %p in "
		    "heap ", p);
		ck_assert_msg(strncmp(out, want, strlen(want)) == 0,
		    "double free of a %zu-byte block reported as \"%s\", "
		    "want \"%s0x...\"", sizes[i], out, want);
		assert_one_line_about(out, p, "double free");
		P_(free)(p);   /* only the child freed it */
	}
}
END_TEST

/* [DESIGN] An invalid free names the pointer in one line and aborts. */
START_TEST(invalid_free_report_is_one_line)
{
	char local[16];
	char *blk = P_(malloc)(64 * KIB);
	void *bad[] = { local, static_block, blk + 4096, blk + 16 };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char out[1024];
		int st = run_child_capture(do_bogus_free, &bad[i], out,
		    sizeof(out));
		ck_assert_msg(WIFSIGNALED(st) && WTERMSIG(st) == SIGABRT,
		    "free(%p): status %#x", bad[i], st);
		assert_one_line_about(out, bad[i], "free");
	}
	P_(free)(blk);
}
END_TEST

/* ---- bad heap handles ---------------------------------------------------- */

/* One call through a bad handle; every one must report and abort before
 * it follows the handle.  The fast paths (malloc and free of small
 * blocks) are reached with this thread's cache slots in use. */
enum { OP_MALLOC, OP_MALLOC_LARGE, OP_FREE, OP_FREE_NULL, OP_CALLOC,
       OP_ALIGNED, OP_REALLOC, OP_USABLE, OP_RESET, OP_SET_ROOT, OP_GET_ROOT,
       NOPS };

struct bad_call {
	ph_heap_t *h;
	void *live;   /* a block of a real heap, for free and realloc */
	int op;
};

static void do_bad_call(void *arg)
{
	struct bad_call *c = arg;
	switch (c->op) {
	case OP_MALLOC: ph_heap_malloc(c->h, 16); break;
	case OP_MALLOC_LARGE: ph_heap_malloc(c->h, 1 * MIB); break;
	case OP_FREE: ph_heap_free(c->h, c->live); break;
	case OP_FREE_NULL: ph_heap_free(c->h, NULL); break;
	case OP_CALLOC: ph_heap_calloc(c->h, 2, 16); break;
	case OP_ALIGNED: ph_heap_aligned_alloc(c->h, 64, 64); break;
	case OP_REALLOC: ph_heap_realloc(c->h, c->live, 100); break;
	case OP_USABLE: ph_heap_usable_size(c->h, c->live); break;
	case OP_RESET: ph_heap_reset(c->h); break;
	case OP_SET_ROOT: ph_heap_set_root(c->h, 0, NULL); break;
	default: ph_heap_get_root(c->h, 0); break;
	}
}

/* NULL (which matches every unused cache slot), a buffer from libc's
 * malloc, a static page, and a heap this process detached: each through
 * every call above gives "phmalloc: bad heap handle <h> ..." and SIGABRT,
 * never SIGSEGV. */
START_TEST(bad_heap_handle_report_is_one_line)
{
	void *m = map_range(1 * MIB, true);
	ph_heap_t *real = ph_heap_create(m, 1 * MIB, 0);
	ck_assert_ptr_nonnull(real);
	void *live = ph_heap_malloc(real, 16);   /* this thread has a slot */
	ck_assert_ptr_nonnull(live);
	ph_heap_free(real, ph_heap_malloc(real, 16));

	void *m2 = map_range(1 * MIB, true);
	ph_heap_t *gone = ph_heap_create(m2, 1 * MIB, 0);
	ck_assert_ptr_nonnull(gone);
	ph_heap_free(gone, ph_heap_malloc(gone, 16));
	ck_assert_int_eq(ph_heap_detach(gone), 0);

	void *buf = malloc(4096);   /* libc's, or in a drop-in build ours */
	ck_assert_ptr_nonnull(buf);
	ph_heap_t *bad[] = { NULL, buf, (ph_heap_t *)static_block, gone };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		for (int op = 0; op < NOPS; op++) {
			struct bad_call c = { bad[i], live, op };
			char out[1024];
			int st = run_child_capture(do_bad_call, &c, out,
			    sizeof(out));
			ck_assert_msg(WIFSIGNALED(st) && WTERMSIG(st) == SIGABRT,
			    "handle %p, call %d: status %#x, said \"%s\"",
			    (void *)bad[i], op, st, out);
			assert_one_line_about(out, bad[i], "bad heap handle");
		}
	}
	free(buf);
	/* The real heap did not notice. */
	ck_assert_int_eq(ph_heap_check(real), 0);
	ph_heap_free(real, live);
	ck_assert_int_eq(ph_heap_detach(real), 0);
	munmap(m, 1 * MIB);
	munmap(m2, 1 * MIB);
}
END_TEST

/* ---- ranges that cannot be written -------------------------------------- */

enum { RANGE_READ_ONLY, RANGE_READ_ONLY_SHARED, RANGE_UNMAPPED,
       RANGE_READ_ONLY_TAIL, RANGE_HOLE, RANGE_NONE_PROT, NRANGES };
#define RANGE_BYTES (1 * MIB)

/* A range of RANGE_BYTES that cannot be written in whole: read-only, not
 * mapped, or mapped read-write only in part.  *rw is its writable part
 * (readable, all zero) or NULL. */
static char *bad_range(int kind, char **rw, size_t *rw_len)
{
	char *m = map_range(RANGE_BYTES, kind != RANGE_READ_ONLY);
	size_t half = RANGE_BYTES / 2;
	*rw = NULL;
	*rw_len = 0;
	switch (kind) {
	case RANGE_READ_ONLY:
	case RANGE_READ_ONLY_SHARED:
		ck_assert_int_eq(mprotect(m, RANGE_BYTES, PROT_READ), 0);
		break;
	case RANGE_UNMAPPED:
		ck_assert_int_eq(munmap(m, RANGE_BYTES), 0);
		break;
	case RANGE_READ_ONLY_TAIL:   /* the header would go in fine */
		ck_assert_int_eq(mprotect(m + half, half, PROT_READ), 0);
		*rw = m;
		*rw_len = half;
		break;
	case RANGE_HOLE:
		ck_assert_int_eq(munmap(m + half, os_page()), 0);
		*rw = m;
		*rw_len = half;
		break;
	default:   /* PROT_NONE after the first page */
		ck_assert_int_eq(mprotect(m + os_page(), RANGE_BYTES -
		    os_page(), PROT_NONE), 0);
		*rw = m;
		*rw_len = os_page();
		break;
	}
	return m;
}

static void bad_range_free(char *m)
{
	munmap(m, RANGE_BYTES);   /* whatever of it is still mapped */
}

/* [issue 14] ph_heap_create on a range it cannot write: EFAULT, nothing
 * written (the part that is writable still reads as zero). */
START_TEST(create_on_unwritable_range_is_efault)
{
	char *rw;
	size_t rw_len;
	char *m = bad_range(_i, &rw, &rw_len);
	assert_null_errno(ph_heap_create(m, RANGE_BYTES, 0), EFAULT);
	assert_null_errno(ph_heap_create(m, RANGE_BYTES, PH_HEAP_SHARED |
	    PH_HEAP_ZEROED), EFAULT);
	if (rw != NULL)
		assert_zero(rw, rw_len);
	ck_assert_ptr_null(ph_heap_of(m));
	bad_range_free(m);
}
END_TEST

/* [issue 14] config_private_heap the same; malloc goes on from the heap it
 * used before. */
START_TEST(config_private_heap_on_unwritable_range_is_efault)
{
	void *keep = P_(malloc)(100);
	ph_heap_t *before = ph_heap_default();
	char *rw;
	size_t rw_len;
	char *m = bad_range(_i, &rw, &rw_len);
	ck_assert_int_eq(P_(config_private_heap)(m, RANGE_BYTES), EFAULT);
	if (rw != NULL)
		assert_zero(rw, rw_len);
	ck_assert_ptr_eq(ph_heap_default(), before);
	std_heap_works();
	P_(free)(keep);
	bad_range_free(m);
}
END_TEST

/* [issue 14] Attaching a heap mapped read-only: EFAULT before attaching
 * writes this process into it; mapped read-write again, it attaches. */
START_TEST(attach_read_only_heap_is_efault)
{
	char *m = map_range(RANGE_BYTES, true);
	ph_heap_t *h = ph_heap_create(m, RANGE_BYTES, 0);
	ck_assert_ptr_nonnull(h);
	ck_assert_ptr_nonnull(ph_heap_malloc(h, 5000));
	ck_assert_int_eq(ph_heap_detach(h), 0);
	char *copy = malloc(RANGE_BYTES);
	ck_assert_ptr_nonnull(copy);
	memcpy(copy, m, RANGE_BYTES);
	ck_assert_int_eq(mprotect(m + RANGE_BYTES / 2, RANGE_BYTES / 2,
	    PROT_READ), 0);
	assert_null_errno(ph_heap_attach(m), EFAULT);
	ck_assert_int_eq(mprotect(m, RANGE_BYTES, PROT_READ), 0);
	assert_null_errno(ph_heap_attach(m), EFAULT);
	ck_assert_msg(memcmp(copy, m, RANGE_BYTES) == 0, "a refused attach "
	    "changed the heap");
	ck_assert_int_eq(mprotect(m, RANGE_BYTES, PROT_READ | PROT_WRITE), 0);
	ck_assert_ptr_eq(ph_heap_attach(m), h);
	ck_assert_int_eq(ph_heap_check(h), 0);
	ck_assert_int_eq(ph_heap_detach(h), 0);
	free(copy);
	munmap(m, RANGE_BYTES);
}
END_TEST

/* ---- failed calls leave a working heap --------------------------------- */

/* [DESIGN] After every failed call (ENOMEM, EINVAL, EEXIST) the standard
 * family keeps working and blocks that were live stay intact. */
START_TEST(heap_works_after_each_failed_call)
{
	enum { N = 64 };
	void *live[N];
	for (int i = 0; i < N; i++) {
		live[i] = P_(malloc)((size_t)i * 997 + 1);
		pat_fill(live[i], (size_t)i * 997 + 1, (uint64_t)i);
	}
	void *blk = P_(malloc)(3000);
	pat_fill(blk, 3000, 4242);
	void *out = (void *)0x99;

	for (int step = 0; step < 22; step++) {
		switch (step) {
		case 0: assert_null_errno(P_(malloc)(SIZE_MAX), ENOMEM); break;
		case 1: assert_null_errno(P_(calloc)(SIZE_MAX, 2), ENOMEM);
			break;
		case 2: assert_null_errno(P_(calloc)(SIZE_MAX / 16 + 2, 16),
			    ENOMEM); break;
		case 3: assert_null_errno(P_(realloc)(blk, SIZE_MAX), ENOMEM);
			break;
		case 4: ck_assert_int_eq(P_(posix_memalign)(&out, 24, 8),
			    EINVAL); break;
		case 5: ck_assert_int_eq(P_(posix_memalign)(&out, 64,
			    SIZE_MAX), ENOMEM); break;
		case 6: assert_null_errno(P_(aligned_alloc)(48, 96), EINVAL);
			break;
		case 7: assert_null_errno(P_(aligned_alloc)(64, SIZE_MAX),
			    ENOMEM); break;
		case 8: assert_null_errno(P_(memalign)(64, SIZE_MAX), ENOMEM);
			break;
		case 9: assert_null_errno(P_(valloc)(SIZE_MAX), ENOMEM); break;
		case 10: assert_null_errno(P_(pvalloc)(SIZE_MAX), ENOMEM);
			break;
		case 11: ck_assert_ptr_null(P_(mallocx)(SIZE_MAX, 0)); break;
		case 12: ck_assert_ptr_null(P_(rallocx)(blk, SIZE_MAX, 0));
			break;
		case 13: ck_assert_uint_eq(P_(nallocx)(SIZE_MAX, 0), 0); break;
		case 14: {   /* unaligned private heap: EINVAL, nothing moves */
			char *m = map_range(1 * MIB, true);
			ck_assert_int_eq(P_(config_private_heap)(m + 8,
			    MIB / 2), EINVAL);
			ck_assert_int_eq(P_(config_private_heap)(m, 4096),
			    EINVAL);
			ck_assert_int_eq(P_(config_private_heap)(NULL, MIB),
			    EINVAL);
			assert_zero(m, 1 * MIB);   /* nothing written */
			munmap(m, 1 * MIB);
			break;
		}
		case 15: {
			char *m = map_range(1 * MIB, true);
			assert_null_errno(ph_heap_create(m + 64, 512 * KIB, 0),
			    EINVAL);
			assert_null_errno(ph_heap_create(m, 4096, 0), EINVAL);
			assert_zero(m, 1 * MIB);
			munmap(m, 1 * MIB);
			break;
		}
		case 16: {
			char garbage[8192] __attribute__((aligned(4096)));
			memset(garbage, 0x5c, sizeof(garbage));
			errno = 0;
			ck_assert_ptr_null(ph_heap_attach(garbage));
			ck_assert_int_ne(errno, 0);
			break;
		}
		case 17: assert_null_errno(P_(calloc)(2, SIZE_MAX / 2 + 1),
			    ENOMEM); break;
		case 18: assert_null_errno(P_(malloc)(SIZE_MAX / 2 + 1),
			    ENOMEM); break;
		case 19: ck_assert_int_eq(P_(posix_memalign)(&out, 0, 8),
			    EINVAL); break;
		case 20: assert_null_errno(P_(aligned_alloc)(0, 8), EINVAL);
			break;
		default: assert_null_errno(P_(realloc)(blk, SIZE_MAX / 2 + 1),
			    ENOMEM); break;
		}
		ck_assert_ptr_eq(out, (void *)0x99);
		pat_assert(blk, 3000, 4242);
		for (int i = 0; i < N; i++)
			pat_assert(live[i], (size_t)i * 997 + 1, (uint64_t)i);
		std_heap_works();
	}
	for (int i = 0; i < N; i++)
		P_(free)(live[i]);
	P_(free)(blk);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("badinput");

	TCase *tc = tcase_create("double free");
	tcase_set_timeout(tc, 30);
	tcase_add_test_raise_signal(tc, double_free_small_immediate, SIGABRT);
	tcase_add_loop_test_raise_signal(tc, double_free_small_of_each_class,
	    SIGABRT, 0, 4);
	tcase_add_test_raise_signal(tc, double_free_calloc_block, SIGABRT);
	tcase_add_test_raise_signal(tc, double_free_large, SIGABRT);
	tcase_add_test_raise_signal(tc, double_free_medium_large, SIGABRT);
	tcase_add_test_raise_signal(tc, free_after_realloc_moved_it, SIGABRT);
	tcase_add_test_raise_signal(tc, free_after_realloc_to_zero, SIGABRT);
	tcase_add_test_raise_signal(tc, double_dallocx, SIGABRT);
	suite_add_tcase(s, tc);

	tc = tcase_create("invalid pointer");
	tcase_set_timeout(tc, 30);
	tcase_add_test_raise_signal(tc, interior_pointer_small, SIGABRT);
	tcase_add_test_raise_signal(tc, interior_pointer_large, SIGABRT);
	tcase_add_test_raise_signal(tc,
	    interior_page_of_page_aligned_large_block, SIGABRT);
	tcase_add_test_raise_signal(tc, last_page_of_large_block, SIGABRT);
	tcase_add_test_raise_signal(tc, stack_address, SIGABRT);
	tcase_add_test_raise_signal(tc, static_array_address, SIGABRT);
	if (PHMALLOC_PREFIX[0] != '\0')   /* else libc's malloc is ours */
		tcase_add_test_raise_signal(tc, libc_malloc_pointer, SIGABRT);
	tcase_add_test_raise_signal(tc, foreign_mapping_address, SIGABRT);
	tcase_add_test_raise_signal(tc, free_of_freed_large_block_interior,
	    SIGABRT);
	tcase_add_test_raise_signal(tc, realloc_of_interior_pointer_small,
	    SIGABRT);
	tcase_add_test_raise_signal(tc, realloc_of_interior_pointer_large,
	    SIGABRT);
	tcase_add_test_raise_signal(tc, realloc_of_freed_block, SIGABRT);
	tcase_add_test_raise_signal(tc, realloc_of_stack_address, SIGABRT);
	tcase_add_test_raise_signal(tc, sdallocx_with_a_size_too_big, SIGABRT);
	suite_add_tcase(s, tc);

	tc = tcase_create("report");
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, double_free_report_is_one_line);
	tcase_add_test(tc, invalid_free_report_is_one_line);
	suite_add_tcase(s, tc);

	tc = tcase_create("bad handle or range");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, bad_heap_handle_report_is_one_line);
	tcase_add_loop_test(tc, create_on_unwritable_range_is_efault, 0,
	    NRANGES);
	tcase_add_loop_test(tc, config_private_heap_on_unwritable_range_is_efault,
	    0, NRANGES);
	tcase_add_test(tc, attach_read_only_heap_is_efault);
	suite_add_tcase(s, tc);

	tc = tcase_create("after failure");
	tcase_set_timeout(tc, 20);
	tcase_add_test(tc, heap_works_after_each_failed_call);
	suite_add_tcase(s, tc);

	return run_suite(s);
}
