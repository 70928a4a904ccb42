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
 *
 * [DESIGN] "PHMALLOC_CONF=paranoid:true (opt.paranoid) catches every
 * double free, including those that pass through thread caches": in
 * processes this program execs with that option (see "paranoid mode").
 */
#include <poll.h>
#include <pthread.h>

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

/* A thread that moves to another arena leaves its old arena's cache in
 * slot 0, retired, until its next slow path: a block freed into it is
 * free, and a free around the caches must say so. */
START_TEST(double_dallocx_after_arena_move)
{
	void *p = P_(malloc)(16);
	P_(free)(p);
	unsigned one = 1;
	ck_assert_int_eq(P_(mallctl)("thread.arena", NULL, NULL, &one,
	    sizeof(one)), 0);
	P_(dallocx)(p, MALLOCX_TCACHE_NONE);
	ck_abort_msg("the second free of %p went unreported", p);
}
END_TEST

/* A thread of arena 1 that reallocates a block of arena 0 makes no cache
 * of arena 0 (it would sit in a slot the double-free checks never look
 * at): p freed twice is reported, not kept twice. */
START_TEST(double_free_after_a_realloc_in_another_arena)
{
	void *p = P_(malloc)(16), *r = P_(malloc)(64);
	unsigned one = 1;
	ck_assert_int_eq(P_(mallctl)("thread.arena", NULL, NULL, &one,
	    sizeof(one)), 0);
	P_(free)(P_(malloc)(16));   /* arena 1's cache */
	void *q = P_(realloc)(r, 48);
	ck_assert_ptr_nonnull(q);
	P_(free)(p);
	P_(free)(p);
	ck_abort_msg("the second free of %p went unreported", p);
}
END_TEST

/* Blocks of arena 0 that a thread of arena 1 frees go home through its
 * outbox onto their slabs' remote lists, where they wait for arena 0's
 * next drain: a second free of one of them, plain or around the caches,
 * must find it there. */
static void **blocks_on_remote_lists(void)
{
	enum { N = 300 };   /* more than the outbox holds */
	static void *p[N];
	for (int i = 0; i < N; i++)
		p[i] = P_(malloc)(16);
	unsigned one = 1;
	ck_assert_int_eq(P_(mallctl)("thread.arena", NULL, NULL, &one,
	    sizeof(one)), 0);
	P_(free)(P_(malloc)(16));   /* arena 1's cache */
	for (int i = 0; i < N; i++)
		P_(free)(p[i]);
	return p;
}

START_TEST(double_dallocx_of_block_on_remote_list)
{
	void **p = blocks_on_remote_lists();
	P_(dallocx)(p[0], MALLOCX_TCACHE_NONE);
	ck_abort_msg("the second free of %p went unreported", p[0]);
}
END_TEST

START_TEST(double_free_of_block_on_remote_list_from_its_arena)
{
	void **p = blocks_on_remote_lists();
	unsigned zero = 0;   /* back home: p[0] is a block of this arena */
	ck_assert_int_eq(P_(mallctl)("thread.arena", NULL, NULL, &zero,
	    sizeof(zero)), 0);
	P_(free)(p[0]);
	ck_abort_msg("the second free of %p went unreported", p[0]);
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

/* ---- paranoid mode: every double free (issue 14, item 5) -----------------
 * [DESIGN] "PHMALLOC_CONF=paranoid:true (opt.paranoid) catches every
 * double free, including those that pass through thread caches."  Options
 * are read once per process, so each case runs in a process this program
 * execs with PHMALLOC_CONF set (run_exec): argv[1] PARANOID_ARG, argv[2]
 * the case, argv[3] its parameter.  A case prints the pointer it frees
 * twice on stdout, then frees it twice with another free of its class in
 * between (A-B-A), which the default mode's caches let through; it must
 * die of SIGABRT with the one-line report.  A case that comes back exits
 * with a code saying what went wrong instead.  No case depends on timing.
 */
#define PARANOID_ARG   "--paranoid"
#define HELPER_ARG     "--helper"   /* a process that is not paranoid */
#define PARANOID_CONF  "paranoid:true,narenas:4"
#define SHARED_BYTES   (8 * MIB)

enum { EXIT_MISSED = 3,      /* the double free went through */
       EXIT_NO_OPTION,       /* opt.paranoid is not true */
       EXIT_SETUP,           /* a call the case needs failed */
       EXIT_TWICE,           /* the next mallocs gave the block twice */
       EXIT_CORRUPT };       /* a block lost its contents */

struct exec_out {
	int status;
	char out[256];    /* stdout */
	char err[1024];   /* stderr */
};

static void read_all(int fd, char *buf, size_t cap)
{
	size_t n = 0;
	for (;;) {
		ssize_t r = read(fd, buf + n, cap - 1 - n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		n += (size_t)r;
		if (n == cap - 1) {
			char sink[256];
			while (read(fd, sink, sizeof(sink)) > 0)
				;
			break;
		}
	}
	buf[n] = '\0';
	close(fd);
}

/* Runs this program again with argv and PHMALLOC_CONF=conf (unset if
 * NULL); waits for it and keeps what it wrote. */
static void run_exec(const char *conf, char *const argv[],
                     struct exec_out *r)
{
	int o[2], e[2];
	ck_assert_int_eq(pipe(o), 0);
	ck_assert_int_eq(pipe(e), 0);
	fflush(NULL);
	pid_t pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		dup2(o[1], 1);
		dup2(e[1], 2);
		close(o[0]), close(o[1]), close(e[0]), close(e[1]);
		if (conf != NULL)
			setenv("PHMALLOC_CONF", conf, 1);
		else
			unsetenv("PHMALLOC_CONF");
		execv("/proc/self/exe", argv);
		_exit(127);
	}
	close(o[1]);
	close(e[1]);
	read_all(o[0], r->out, sizeof(r->out));
	read_all(e[0], r->err, sizeof(r->err));
	while (waitpid(pid, &r->status, 0) < 0)
		ck_assert_int_eq(errno, EINTR);
}

/* The case's process must have died of SIGABRT saying, in one line,
 * "phmalloc: double free of <the pointer it printed> in heap 0x...".
 * A large block whose run merged with a neighbour's is reported as an
 * "invalid free ... (not an allocated block; double free?)". */
static void assert_paranoid_abort(const char *which, const char *param,
                                  bool exact)
{
	char *argv[] = { "test_badinput", PARANOID_ARG, (char *)which,
	    (char *)param, NULL };
	struct exec_out r;
	run_exec(PARANOID_CONF, argv, &r);
	ck_assert_msg(WIFSIGNALED(r.status) && WTERMSIG(r.status) == SIGABRT,
	    "%s %s: %s %d (3 missed, 4 no option, 5 setup, 6 given twice, "
	    "7 corrupt), said \"%s\"", which, param, WIFSIGNALED(r.status) ?
	    "signal" : "exit", WIFSIGNALED(r.status) ? WTERMSIG(r.status) :
	    WEXITSTATUS(r.status), r.err);
	char *nl = strchr(r.out, '\n');
	ck_assert_msg(nl != NULL, "%s: printed no pointer", which);
	*nl = '\0';
	char want[96];
	snprintf(want, sizeof(want), "phmalloc: double free of %s in heap ",
	    r.out);
	if (exact)
		ck_assert_msg(strncmp(r.err, want, strlen(want)) == 0,
		    "%s %s reported \"%s\", want \"%s0x...\"", which, param,
		    r.err, want);
	nl = strchr(r.err, '\n');
	ck_assert_msg(nl != NULL && nl[1] == '\0' && strncmp(r.err,
	    "phmalloc: ", 10) == 0 && strstr(r.err, r.out) != NULL &&
	    strstr(r.err, "double free") != NULL, "%s %s: report \"%s\" is "
	    "not one line about double free of %s", which, param, r.err,
	    r.out);
}

static void say_ptr(const void *p)
{
	char buf[32];
	int n = snprintf(buf, sizeof(buf), "%p\n", p);
	if (write(1, buf, (size_t)n) != n)
		_exit(EXIT_SETUP);
}

static bool paranoid_on(void)
{
	bool on = false;
	size_t len = sizeof(on);
	return P_(mallctl)("opt.paranoid", &on, &len, NULL, 0) == 0 && on;
}

/* A-B-A of small blocks of `size` through free. */
static int case_aba_small(size_t size)
{
	void *p = P_(malloc)(size), *q = P_(malloc)(size);
	say_ptr(p);
	P_(free)(p);
	P_(free)(q);
	P_(free)(p);
	void *a = P_(malloc)(size), *b = P_(malloc)(size),
	    *c = P_(malloc)(size);
	return a == b || a == c || b == c ? EXIT_TWICE : EXIT_MISSED;
}

/* A write after the first free overwrites the word that marks p free
 * (slab.c: the key, bytes 8-15 of a free block; the chain link in bytes
 * 0-1 is left alone).  The default mode trusts the key and puts p on its
 * slab's chain twice; paranoid mode walks the chain for every free. */
static int case_clobbered(size_t size)
{
	void *p = P_(malloc)(size), *q = P_(malloc)(size);
	say_ptr(p);
	P_(free)(p);
	P_(free)(q);
	((volatile uint64_t *)p)[1] = 0;   /* the write after free */
	P_(free)(p);
	return EXIT_MISSED;
}

/* The same with large blocks (the run below p is freed in between, so
 * p's run may merge into it). */
static int case_aba_large(size_t size)
{
	void *q = P_(malloc)(size), *p = P_(malloc)(size);
	say_ptr(p);
	P_(free)(p);
	P_(free)(q);
	P_(free)(p);
	return EXIT_MISSED;
}

/* Thread 1 (this one) frees p; thread 2 frees q, then p.  p stays in
 * thread 1's cache in the default mode, so thread 2's cache takes it too
 * and both threads' next mallocs get it. */
struct two_frees {
	void *p, *q, *got;
	size_t size;
};

static void *thread2_frees(void *arg)
{
	struct two_frees *t = arg;
	P_(free)(t->q);
	P_(free)(t->p);
	t->got = P_(malloc)(t->size);
	return NULL;
}

static int case_threads(size_t size)
{
	struct two_frees t = { P_(malloc)(size), P_(malloc)(size), NULL, size };
	say_ptr(t.p);
	P_(free)(t.p);
	pthread_t th;
	if (pthread_create(&th, NULL, thread2_frees, &t) != 0 ||
	    pthread_join(th, NULL) != 0)
		return EXIT_SETUP;
	/* _exit: thread 1's cache is not given back at exit */
	_exit(P_(malloc)(size) == t.got ? EXIT_TWICE : EXIT_MISSED);
}

/* Blocks of arena 0 freed by a thread of arena 1: in the default mode
 * they go through that thread's outbox (tcache.c), p twice. */
static void *outbox_frees(void *arg)
{
	struct two_frees *t = arg;
	unsigned one = 1;
	if (P_(mallctl)("thread.arena", NULL, NULL, &one, sizeof(one)) != 0)
		_exit(EXIT_SETUP);
	P_(free)(t->p);
	P_(free)(t->q);
	P_(free)(t->p);
	return NULL;
}

static int case_outbox(size_t size)
{
	unsigned zero = 0;
	if (P_(mallctl)("thread.arena", NULL, NULL, &zero, sizeof(zero)) != 0)
		return EXIT_SETUP;
	struct two_frees t = { P_(malloc)(size), P_(malloc)(size), NULL, size };
	say_ptr(t.p);
	pthread_t th;
	if (pthread_create(&th, NULL, outbox_frees, &t) != 0 ||
	    pthread_join(th, NULL) != 0)
		return EXIT_SETUP;
	return EXIT_MISSED;
}

/* A-B-A through a heap handle: a heap made with ph_heap_create on a
 * private range, or opened by name (shared). */
static int aba_handle(ph_heap_t *h, size_t size)
{
	if (h == NULL)
		return EXIT_SETUP;
	void *p = ph_heap_malloc(h, size), *q = ph_heap_malloc(h, size);
	say_ptr(p);
	ph_heap_free(h, p);
	ph_heap_free(h, q);
	ph_heap_free(h, p);
	void *a = ph_heap_malloc(h, size), *b = ph_heap_malloc(h, size),
	    *c = ph_heap_malloc(h, size);
	return a == b || a == c || b == c ? EXIT_TWICE : EXIT_MISSED;
}

static int case_created(size_t size)
{
	void *m = mmap(NULL, SHARED_BYTES, PROT_READ | PROT_WRITE,
	    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	return aba_handle(m == MAP_FAILED ? NULL : ph_heap_create(m,
	    SHARED_BYTES, 0), size);
}

static void shm_name(char *buf, size_t cap, const char *what)
{
	snprintf(buf, cap, "/phmalloc-badinput-%s-%ld", what, (long)getpid());
}

/* Removes a heap's name at once: the mapping stays, and an abort leaves
 * nothing behind in /dev/shm. */
static void shm_forget(const char *name)
{
	char path[128];
	snprintf(path, sizeof(path), "/dev/shm%s", name);
	unlink(path);
}

static ph_heap_t *shared_create(const char *what, char *name, size_t cap)
{
	shm_name(name, cap, what);
	ph_heap_t *h = ph_heap_open(name, NULL, SHARED_BYTES,
	    PH_HEAP_CREATE | PH_HEAP_EXCL);
	return h;
}

static int case_shared(size_t size)
{
	char name[96];
	ph_heap_t *h = shared_create("shared", name, sizeof(name));
	shm_forget(name);
	return aba_handle(h, size);
}

/* A helper process that is not paranoid joins the heap; the helper's
 * pipes are its stdin (EOF: exit) and stdout. */
struct helper {
	pid_t pid;
	int to, from;
};

static bool helper_start(struct helper *hp, const char *what,
                         const char *name, size_t size)
{
	int in[2], out[2];
	char sz[32];
	snprintf(sz, sizeof(sz), "%zu", size);
	if (pipe(in) != 0 || pipe(out) != 0)
		return false;
	fflush(NULL);
	hp->pid = fork();
	if (hp->pid < 0)
		return false;
	if (hp->pid == 0) {
		dup2(in[0], 0);
		dup2(out[1], 1);
		close(in[0]), close(in[1]), close(out[0]), close(out[1]);
		unsetenv("PHMALLOC_CONF");
		execl("/proc/self/exe", "test_badinput", HELPER_ARG, what,
		    name, sz, (char *)NULL);
		_exit(127);
	}
	close(in[0]);
	close(out[1]);
	hp->to = in[1];
	hp->from = out[0];
	return true;
}

/* One line from the helper, or "" if it said nothing. */
static void helper_line(struct helper *hp, char *buf, size_t cap)
{
	size_t n = 0;
	while (n + 1 < cap && read(hp->from, buf + n, 1) == 1 &&
	    buf[n] != '\n')
		n++;
	buf[n] = '\0';
}

/* Closes the helper's stdin and returns its exit status (0 if fine). */
static int helper_stop(struct helper *hp)
{
	int st;
	if (hp->to >= 0)
		close(hp->to);
	close(hp->from);
	while (waitpid(hp->pid, &st, 0) < 0)
		if (errno != EINTR)
			return -1;
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

/* p, then r, are freed once by this (paranoid) process: back to their
 * slab.  The helper, not paranoid, then mallocs a block of p's class: its
 * cache takes half a bin (at least 4) of blocks from the slabs, r and p
 * first, and hands out the last.  A second free of p here finds p in no
 * slab's chain but in the helper's cache, in the heap.  (Without paranoid
 * mode p and r stay in this process's cache, and p goes in again.) */
static int case_other_cache(size_t size)
{
	char name[96], line[64];
	ph_heap_t *h = shared_create("cache", name, sizeof(name));
	if (h == NULL)
		return EXIT_SETUP;
	void *p = ph_heap_malloc(h, size), *r = ph_heap_malloc(h, size);
	say_ptr(p);
	ph_heap_free(h, p);
	ph_heap_free(h, r);
	struct helper hp;
	if (!helper_start(&hp, "cache", name, size))
		return EXIT_SETUP;
	helper_line(&hp, line, sizeof(line));
	shm_forget(name);
	void *got = NULL;
	if (sscanf(line, "%p", &got) != 1 || got == p)
		return EXIT_SETUP;   /* the helper did not take p's slab */
	ph_heap_free(h, p);
	helper_stop(&hp);
	return EXIT_MISSED;
}

/* Helper for case_other_cache: one malloc from the heap, its address on
 * stdout, then waits for EOF with the block still cached. */
static int helper_cache(const char *name, size_t size)
{
	ph_heap_t *h = ph_heap_open(name, NULL, 0, 0);
	if (h == NULL || paranoid_on())
		return EXIT_SETUP;
	say_ptr(ph_heap_malloc(h, size));
	char c;
	while (read(0, &c, 1) > 0)
		;
	return 0;
}

/* ---- the workload that must raise no false report ------------------------
 * Threads in different arenas malloc, fill, check and free blocks of the
 * process heap and of a shared heap, and free each other's blocks through
 * a shared table; a helper process that is not paranoid keeps caching
 * blocks of the shared heap meanwhile, so the paranoid frees look through
 * its caches as they change.  Operation counts bound it, not time. */
#define WL_THREADS  4
#define WL_OPS      60000
#define WL_LIVE     64
#define WL_SWAP     256
#define WL_BURST    1024   /* the helper's blocks at once: bins overflow */
#define WL_HELPER_MAX 96   /* ... of the classes up to this size */

struct wl_block {
	unsigned char *p;
	size_t size;
	uint64_t seed;
	bool shared;   /* of the shared heap */
};

static ph_heap_t *wl_heap;
static pthread_mutex_t wl_lock = PTHREAD_MUTEX_INITIALIZER;
static struct wl_block wl_swap[WL_SWAP];
static _Atomic int wl_bad;

static void wl_free(struct wl_block *b)
{
	if (b->p == NULL)
		return;
	if (pat_find_bad_range(b->p, 0, b->size, b->seed) != SIZE_MAX)
		wl_bad = 1;
	if (b->shared)
		ph_heap_free(wl_heap, b->p);
	else
		P_(free)(b->p);
	b->p = NULL;
}

static void wl_new(struct wl_block *b, uint64_t *rng, uint64_t seed)
{
	uint64_t r = rng_next(rng);
	b->size = r % 16 == 0 ? 14337 + rng_below(rng, 60000) :
	    1 + rng_below(rng, r % 4 == 0 ? 14336 : 256);
	b->shared = (r >> 8) % 3 == 0;
	if (b->shared && (r >> 16) % 4 != 0)
		b->size = 1 + rng_below(rng, WL_HELPER_MAX);   /* its classes */
	b->p = b->shared ? ph_heap_malloc(wl_heap, b->size) :
	    P_(malloc)(b->size);
	b->seed = seed;
	if (b->p == NULL)
		wl_bad = 1;
	else
		pat_fill(b->p, b->size, seed);
}

static void *wl_thread(void *arg)
{
	unsigned i = (unsigned)(uintptr_t)arg, narenas = 1;
	size_t len = sizeof(narenas);
	P_(mallctl)("arenas.narenas", &narenas, &len, NULL, 0);
	unsigned arena = i % narenas;
	P_(mallctl)("thread.arena", NULL, NULL, &arena, sizeof(arena));
	uint64_t rng = 0x9e3779b97f4a7c15u * (i + 1);
	struct wl_block live[WL_LIVE] = { { 0 } };
	for (uint64_t op = 0; op < WL_OPS; op++) {
		struct wl_block *b = &live[rng_below(&rng, WL_LIVE)];
		if (rng_next(&rng) % 4 == 0) {
			/* swap with the table: the block we take was made,
			 * most likely, by another thread */
			pthread_mutex_lock(&wl_lock);
			struct wl_block *s = &wl_swap[rng_below(&rng, WL_SWAP)];
			struct wl_block t = *s;
			*s = *b;
			*b = t;
			pthread_mutex_unlock(&wl_lock);
		}
		wl_free(b);
		wl_new(b, &rng, (uint64_t)i << 32 | op);
	}
	for (unsigned k = 0; k < WL_LIVE; k++)
		wl_free(&live[k]);
	return NULL;
}

/* Frees the blocks the helper sends until it exits. */
static void *wl_receiver(void *arg)
{
	int fd = *(int *)arg;
	struct wl_block b;
	for (;;) {
		size_t got = 0;
		while (got < sizeof(b)) {
			ssize_t r = read(fd, (char *)&b + got, sizeof(b) - got);
			if (r < 0 && errno == EINTR)
				continue;
			if (r <= 0)
				return NULL;
			got += (size_t)r;
		}
		b.shared = true;
		wl_free(&b);
	}
}

static int case_workload(void)
{
	char name[96], line[64];
	if (!paranoid_on())
		return EXIT_NO_OPTION;
	wl_heap = shared_create("workload", name, sizeof(name));
	if (wl_heap == NULL)
		return EXIT_SETUP;
	struct helper hp;
	if (!helper_start(&hp, "churn", name, 0))
		return EXIT_SETUP;
	helper_line(&hp, line, sizeof(line));   /* it has a cache now */
	shm_forget(name);
	pthread_t th[WL_THREADS], rx;
	if (pthread_create(&rx, NULL, wl_receiver, &hp.from) != 0)
		return EXIT_SETUP;
	for (unsigned i = 0; i < WL_THREADS; i++)
		if (pthread_create(&th[i], NULL, wl_thread,
		    (void *)(uintptr_t)i) != 0)
			return EXIT_SETUP;
	for (unsigned i = 0; i < WL_THREADS; i++)
		pthread_join(th[i], NULL);
	for (unsigned k = 0; k < WL_SWAP; k++)
		wl_free(&wl_swap[k]);
	close(hp.to);   /* the helper ends its round, then its output */
	pthread_join(rx, NULL);
	hp.to = -1;   /* closed */
	if (helper_stop(&hp) != 0)
		return EXIT_SETUP;
	if (wl_bad || ph_heap_check(wl_heap) != 0 ||
	    ph_heap_check(ph_heap_default()) != 0)
		return EXIT_CORRUPT;
	return 0;
}

/* Helper for case_workload: bursts of small blocks of the shared heap
 * through its cache until its stdin ends (at least one round); every
 * eighth block goes to the paranoid process (on stdout, as a struct
 * wl_block: the heap is at the same address there), which frees it while
 * the helper's slot that it was popped from, now above top, still names
 * it: a paranoid free that read past top would report it. */
static int helper_churn(const char *name)
{
	ph_heap_t *h = ph_heap_open(name, NULL, 0, 0);
	if (h == NULL || paranoid_on())
		return EXIT_SETUP;
	uint64_t rng = 12345;
	static struct wl_block live[WL_BURST];
	bool said = false;
	for (uint64_t round = 0;; round++) {
		uint32_t n = WL_BURST / 2 + (uint32_t)rng_below(&rng,
		    WL_BURST / 2);
		for (uint32_t k = 0; k < n; k++) {
			struct wl_block *b = &live[k];
			b->size = 1 + rng_below(&rng, WL_HELPER_MAX);
			b->seed = round << 16 | k;
			if ((b->p = ph_heap_malloc(h, b->size)) == NULL)
				return EXIT_SETUP;
			pat_fill(b->p, b->size, b->seed);
		}
		if (!said) {
			say_ptr(h);
			said = true;
		}
		for (uint32_t k = n; k-- > 0;) {   /* in a shuffled order */
			uint32_t j = (uint32_t)rng_below(&rng, k + 1);
			struct wl_block t = live[j];
			live[j] = live[k];
			if (pat_find_bad_range(t.p, 0, t.size, t.seed) !=
			    SIZE_MAX)
				return EXIT_CORRUPT;
			if (k % 8 != 0) {
				ph_heap_free(h, t.p);
				continue;
			}
			/* the paranoid process frees this one, while the
			 * slot it was popped from still names it */
			if (write(1, &t, sizeof(t)) != (ssize_t)sizeof(t))
				return EXIT_SETUP;
		}
		struct pollfd pfd = { .fd = 0, .events = POLLIN };
		char c;
		if (poll(&pfd, 1, 0) == 1 && read(0, &c, 1) <= 0)
			return 0;   /* EOF */
	}
}

static int paranoid_case(const char *which, const char *param)
{
	size_t size = param != NULL ? (size_t)strtoull(param, NULL, 10) : 0;
	/* The abort cases do not ask opt.paranoid first: run without it
	 * (or with a library that lacks it) they show what the default
	 * mode lets through. */
	if (strcmp(which, "workload") == 0)
		return case_workload();
	if (strcmp(which, "clobbered") == 0)
		return case_clobbered(size);
	if (strcmp(which, "small") == 0)
		return case_aba_small(size);
	if (strcmp(which, "large") == 0)
		return case_aba_large(size);
	if (strcmp(which, "threads") == 0)
		return case_threads(size);
	if (strcmp(which, "outbox") == 0)
		return case_outbox(size);
	if (strcmp(which, "created") == 0)
		return case_created(size);
	if (strcmp(which, "shared") == 0)
		return case_shared(size);
	if (strcmp(which, "other_cache") == 0)
		return case_other_cache(size);
	return EXIT_SETUP;
}

static const char *const aba_sizes[] = { "16", "48", "128", "1000", "3072",
    "14336" };
#define N_ABA_SIZES ((int)(sizeof(aba_sizes) / sizeof(aba_sizes[0])))

START_TEST(paranoid_aba_small)
{
	assert_paranoid_abort("small", aba_sizes[_i], true);
}
END_TEST

START_TEST(paranoid_aba_large)
{
	assert_paranoid_abort("large", "65536", false);
	assert_paranoid_abort("large", "3145728", false);
}
END_TEST

START_TEST(paranoid_free_mark_overwritten)
{
	assert_paranoid_abort("clobbered", _i == 0 ? "16" : "640", true);
}
END_TEST

START_TEST(paranoid_across_threads)
{
	assert_paranoid_abort("threads", "64", true);
}
END_TEST

START_TEST(paranoid_through_the_outbox)
{
	assert_paranoid_abort("outbox", "96", true);
}
END_TEST

START_TEST(paranoid_created_heap)
{
	assert_paranoid_abort("created", _i == 0 ? "32" : "2048", true);
}
END_TEST

START_TEST(paranoid_shared_heap)
{
	assert_paranoid_abort("shared", _i == 0 ? "32" : "2048", true);
}
END_TEST

/* The block sits in another process's cache of a shared heap. */
START_TEST(paranoid_block_in_another_process_cache)
{
	assert_paranoid_abort("other_cache", "80", true);
}
END_TEST

START_TEST(paranoid_workload_raises_no_false_report)
{
	char *argv[] = { "test_badinput", PARANOID_ARG, "workload", NULL };
	struct exec_out r;
	run_exec(PARANOID_CONF, argv, &r);
	ck_assert_msg(WIFEXITED(r.status) && WEXITSTATUS(r.status) == 0,
	    "paranoid workload: %s %d (4 no option, 5 setup, 7 corrupt), "
	    "said \"%s\"", WIFSIGNALED(r.status) ? "signal" : "exit",
	    WIFSIGNALED(r.status) ? WTERMSIG(r.status) :
	    WEXITSTATUS(r.status), r.err);
	ck_assert_str_eq(r.err, "");
}
END_TEST

/* [jemalloc] opt.* are read-only; opt.paranoid says what PHMALLOC_CONF
 * asked: false here (this process has no PHMALLOC_CONF of it). */
START_TEST(opt_paranoid_is_read_only)
{
	bool on = true, set = true;
	size_t len = sizeof(on);
	ck_assert_int_eq(P_(mallctl)("opt.paranoid", &on, &len, NULL, 0), 0);
	ck_assert_uint_eq(len, sizeof(on));
	const char *conf = getenv("PHMALLOC_CONF");
	if (conf == NULL || strstr(conf, "paranoid") == NULL)
		ck_assert(!on);
	ck_assert_int_eq(P_(mallctl)("opt.paranoid", NULL, NULL, &set,
	    sizeof(set)), EPERM);
}
END_TEST

int main(int argc, char **argv)
{
	if (argc >= 3 && strcmp(argv[1], PARANOID_ARG) == 0)
		return paranoid_case(argv[2], argc > 3 ? argv[3] : NULL);
	if (argc == 5 && strcmp(argv[1], HELPER_ARG) == 0)
		return strcmp(argv[2], "cache") == 0 ? helper_cache(argv[3],
		    (size_t)strtoull(argv[4], NULL, 10)) :
		    helper_churn(argv[3]);
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
	tcase_add_test_raise_signal(tc, double_dallocx_after_arena_move,
	    SIGABRT);
	tcase_add_test_raise_signal(tc,
	    double_free_after_a_realloc_in_another_arena, SIGABRT);
	tcase_add_test_raise_signal(tc, double_dallocx_of_block_on_remote_list,
	    SIGABRT);
	tcase_add_test_raise_signal(tc,
	    double_free_of_block_on_remote_list_from_its_arena, SIGABRT);
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

	tc = tcase_create("paranoid");
	tcase_set_timeout(tc, 60);
	tcase_add_loop_test(tc, paranoid_aba_small, 0, N_ABA_SIZES);
	tcase_add_test(tc, paranoid_aba_large);
	tcase_add_loop_test(tc, paranoid_free_mark_overwritten, 0, 2);
	tcase_add_test(tc, paranoid_across_threads);
	tcase_add_test(tc, paranoid_through_the_outbox);
	tcase_add_loop_test(tc, paranoid_created_heap, 0, 2);
	tcase_add_loop_test(tc, paranoid_shared_heap, 0, 2);
	tcase_add_test(tc, paranoid_block_in_another_process_cache);
	tcase_add_test(tc, paranoid_workload_raises_no_false_report);
	tcase_add_test(tc, opt_paranoid_is_read_only);
	suite_add_tcase(s, tc);

	tc = tcase_create("after failure");
	tcase_set_timeout(tc, 20);
	tcase_add_test(tc, heap_works_after_each_failed_call);
	suite_add_tcase(s, tc);

	return run_suite(s);
}
