/* test_heap.c -- formatting, header checks, reset, the registry, and the
 * metadata budget of small heaps. */
#define _GNU_SOURCE   /* unshare */
#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/wait.h>
#include <unistd.h>

#include "unit.h"

#define MIB ((size_t)1 << 20)

START_TEST(formatted_header_verifies)
{
	struct heap *h = unit_heap(4 * MIB, 0);
	ck_assert_int_eq(heap_verify_header(h, 0), 0);
	ck_assert_int_eq(heap_verify_header(h, 4 * MIB), 0);
	ck_assert_int_eq(heap_verify_header(h, 8 * MIB), EINVAL);
	unit_validate(h);
	unit_heap_free(h);
}
END_TEST

START_TEST(bad_headers_are_refused)
{
	struct heap *h = unit_heap(4 * MIB, 0);
	struct heap saved = *h;

	h->magic = 0x1234;
	ck_assert_int_eq(heap_verify_header(h, 0), EINVAL);
	*h = saved;
	h->version = HEAP_VERSION + 1;
	ck_assert_int_eq(heap_verify_header(h, 0), EPROTO);
	*h = saved;
	h->class_sig ^= 1;
	ck_assert_int_eq(heap_verify_header(h, 0), EPROTO);
	*h = saved;
	h->first_page = 1;
	ck_assert_int_eq(heap_verify_header(h, 0), EINVAL);
	*h = saved;
	h->npages = h->npages * 2;
	ck_assert_int_eq(heap_verify_header(h, 0), EINVAL);
	*h = saved;
	h->init = HEAP_INIT_FORMATTING;
	ck_assert_int_eq(heap_verify_header(h, 0), EAGAIN);
	*h = saved;
	/* free's fast path trusts cache_limit as the heap's end. */
	h->cache_limit = h->size + PAGE;
	ck_assert_int_eq(heap_verify_header(h, 0), EINVAL);
	*h = saved;
	h->cache_limit = 0;   /* a heap keeping tags */
	ck_assert_int_eq(heap_verify_header(h, 0), 0);
	*h = saved;
	/* Its caches' layout is the one its size gives (sizeclass.c). */
	h->tcache_scale = tcache_scale_for(h->size) + 1;
	ck_assert_int_eq(heap_verify_header(h, 0), EINVAL);
	*h = saved;
	h->tcache_scale = TCACHE_SCALES;
	ck_assert_int_eq(heap_verify_header(h, 0), EINVAL);
	*h = saved;
	ck_assert_int_eq(heap_verify_header(h, 0), 0);
	unit_heap_free(h);
}
END_TEST

/* Who formats a range that processes configure at once (heapapi.c's
 * config_private_heap): the one whose exchange takes the init word from
 * what it read to FORMATTING; a heap, or one being formatted, is joined.
 * Each epoch starts anew at random, never 0 (a retired slot's). */
START_TEST(claim_decides_who_formats)
{
	static struct heap h;
	memset(&h, 0, sizeof(h));            /* zeroes */
	ck_assert(heap_claim(&h));
	ck_assert_uint_eq(h.init, HEAP_INIT_FORMATTING);
	ck_assert(!heap_claim(&h));          /* another is formatting */
	h.init = HEAP_INIT_READY;
	h.magic = HEAP_MAGIC;                /* a heap */
	ck_assert(!heap_claim(&h));
	ck_assert_uint_eq(h.init, HEAP_INIT_READY);
	h.init = HEAP_INIT_FRESH;            /* magic first: a heap all the same */
	ck_assert(!heap_claim(&h));
	h.magic = 0x1234;                    /* neither a heap nor zeroes */
	h.init = 7;
	ck_assert(heap_claim(&h));
	ck_assert_uint_eq(h.init, HEAP_INIT_FORMATTING);
	h.init = HEAP_INIT_READY;            /* ready, but no heap's magic */
	ck_assert(heap_claim(&h));
	struct heap *a = unit_heap(1 * MIB, 0), *b = unit_heap(1 * MIB, 0);
	ck_assert_uint_ne(a->epoch, b->epoch);
	ck_assert_uint_ne(a->epoch, 0);
	ck_assert_int_eq(heap_verify_header(a, 0), 0);
	unit_heap_free(a);
	unit_heap_free(b);
}
END_TEST

/* Whose thread holds a robust lock (os_thread_process, for
 * heap_lock_gone): a thread /proc does not show is gone only if kill(2)
 * does not find it either.  With /proc mounted hidepid=2 another user's
 * live thread is hidden: "cannot tell" (wait), never "gone" (take the
 * lock from a live holder).  That part needs root and a mount namespace
 * (else it says so and is skipped). */
START_TEST(a_thread_proc_hides_is_not_gone)
{
	uint32_t me = os_tid();
	ck_assert_uint_eq(os_thread_process(me), (uint32_t)getpid());
	ck_assert_uint_eq(os_thread_process(0x3ffffffe), 0);   /* > pid_max */
	pid_t pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		if (geteuid() != 0 || unshare(CLONE_NEWNS) != 0 ||
		    mount("none", "/", "none", MS_REC | MS_PRIVATE, NULL) != 0 ||
		    mount("proc", "/proc", "proc", 0, "hidepid=2") != 0 ||
		    setgid(65534) != 0 || setuid(65534) != 0)
			_exit(77);
		uint32_t r = os_thread_process(me);   /* hidden, alive */
		_exit(r == UINT32_MAX ? 0 : r == 0 ? 1 : 2);
	}
	int st;
	ck_assert_int_eq(waitpid(pid, &st, 0), pid);
	ck_assert(WIFEXITED(st));
	if (WEXITSTATUS(st) == 77) {
		fprintf(stderr, "a_thread_proc_hides_is_not_gone: no mount "
		    "namespace here, hidepid part skipped\n");
		return;
	}
	ck_assert_msg(WEXITSTATUS(st) == 0, "hidden live thread: %s",
	    WEXITSTATUS(st) == 1 ? "taken for gone" : "misread");
}
END_TEST

START_TEST(reset_frees_everything_without_touching_data)
{
	struct heap *h = unit_heap(64 * MIB, 0);
	char *big = heap_malloc(h, 1 * MIB, false);
	memset(big, 0x5c, 1 * MIB);
	for (int i = 0; i < 50000; i++)
		ck_assert_ptr_nonnull(heap_malloc(h, 1 + i % 700, false));
	h->roots[3] = 4096;
	uint64_t epoch = h->epoch;
	heap_reset(h);
	unit_validate(h);
	ck_assert_uint_eq(h->epoch, epoch + 1);
	ck_assert_uint_eq(h->roots[3], 0);
	unit_assert_allocated(h, 0);
	ck_assert_uint_eq(h->stats.active_pages, 0);
	/* O(metadata): the data pages were not written.  (Reading a block
	 * after reset is what memcheck is right to flag: skip it there.) */
	if (!vg_on())
		ck_assert_uint_eq((unsigned char)big[12345], 0x5c);
	/* The whole capacity is there again, and calloc still zeroes. */
	char *again = heap_malloc(h, 1 * MIB, true);
	ck_assert_ptr_nonnull(again);
	for (size_t i = 0; i < 1 * MIB; i += 512)
		ck_assert_uint_eq((unsigned char)again[i], 0);
	unit_validate(h);
	unit_heap_free(h);
}
END_TEST

/* A reset must not leave the head of the run that started at hwm behind:
 * carving after the reset would leave it inside a new run. */
START_TEST(reset_clears_the_entry_at_hwm)
{
	struct heap *h = unit_heap(16 * MIB, 0);
	for (int round = 0; round < 3; round++) {
		for (int i = 0; i < 300; i++)
			heap_malloc(h, 16 + (size_t)(i * 977) % 40000, false);
		heap_reset(h);
		unit_validate(h);
		for (int i = 0; i < 300; i++)
			heap_malloc(h, 32 + (size_t)(i * 331) % 50000, false);
		unit_validate(h);
	}
	unit_heap_free(h);
}
END_TEST

START_TEST(small_heaps_keep_metadata_small)
{
	/* 1 MiB holds at least 800 blocks of 1000 bytes. */
	struct heap *h = unit_heap(1 * MIB, 0);
	int n = 0;
	while (heap_malloc(h, 1000, false) != NULL)
		n++;
	ck_assert_int_ge(n, 800);
	unit_validate(h);
	unit_heap_free(h);
	/* 64 MiB hands out at least 90% of its bytes in 64 KiB blocks. */
	h = unit_heap(64 * MIB, 0);
	size_t bytes = 0;
	while (heap_malloc(h, 64 * 1024, false) != NULL)
		bytes += 64 * 1024;
	ck_assert_uint_ge(bytes * 10, 64 * MIB * 9);
	unit_heap_free(h);
}
END_TEST

START_TEST(registry_routes_pointers)
{
	struct heap *a = unit_heap(4 * MIB, 0), *b = unit_heap(4 * MIB, 0);
	ck_assert_int_eq(registry_add(a), 0);
	ck_assert_int_eq(registry_add(b), 0);
	char *p = heap_malloc(b, 100, false);
	ck_assert_ptr_eq(registry_lookup(p), b);
	ck_assert_ptr_eq(registry_lookup((char *)a + 4 * MIB - 1), a);
	ck_assert(registry_overlaps((char *)a + MIB, 8 * MIB));
	registry_remove(b);
	ck_assert_ptr_null(registry_lookup(p));
	ck_assert(!registry_overlaps(b, 4 * MIB));
	registry_remove(a);
	unit_heap_free(a);
	unit_heap_free(b);
}
END_TEST

START_TEST(process_heap_is_valid_after_use)
{
	struct heap *h = heap_process();
	void *p[1000];
	for (int i = 0; i < 1000; i++)
		p[i] = heap_malloc(h, (size_t)i * 37, false);
	for (int i = 0; i < 1000; i += 2)
		heap_free(h, p[i]);
	unit_validate(h);
	ck_assert(h->flags & HEAP_F_OSMEM);
}
END_TEST

/* Freed pages stay (decay_ms: churn must not thrash) until a purge, which
 * gives every one of them back: asserted on the block's own pages, after
 * an explicit purge, so that neither the clock nor the rest of the
 * process's memory decides the outcome. */
START_TEST(freed_memory_goes_back_to_the_os)
{
	struct heap *h = heap_process();
	size_t pages = 64 * MIB / (size_t)sysconf(_SC_PAGESIZE);
	char *p = heap_malloc(h, 64 * MIB, false);
	memset(p, 1, 64 * MIB);
	ck_assert_uint_eq(unit_resident_pages(p, 64 * MIB), pages);
	uint64_t dirty = h->stats.dirty_pages;
	heap_free(h, p);
	ck_assert_uint_ge(h->stats.dirty_pages, dirty + pages);
	ck_assert_uint_eq(unit_resident_pages(p, 64 * MIB), pages);
	heap_purge(h, true);
	ck_assert_uint_eq(h->stats.dirty_pages, 0);
	ck_assert_uint_eq(unit_resident_pages(p, 64 * MIB), 0);
	/* Purged pages are known to be zero: calloc need not clear them. */
	char *q = heap_malloc(h, 64 * MIB, true);
	for (size_t i = 0; i < 64 * MIB; i += 4096)
		ck_assert_int_eq(q[i], 0);
	heap_free(h, q);
	unit_validate(h);
}
END_TEST

/* ---- the arena policy, fed synthetic waits ---------------------------------
 * Whether threads contend depends on the scheduler; the policy does not:
 * it is a function of which acquisitions waited. */

/* Acquisitions until the policy says move when `waited` of every `of`
 * acquisitions waited, or 0 if it never does in `limit`. */
static unsigned acquisitions_to_move(unsigned waited, unsigned of,
                                     unsigned limit)
{
	uint32_t w = 0;
	for (unsigned i = 1; i <= limit; i++) {
		w = arena_waits_note(w, i % of < waited);
		if (arena_waits_say_move(w))
			return i;
	}
	return 0;
}

START_TEST(arena_policy_moves_threads_that_keep_waiting)
{
	/* Every acquisition waits: a move within a few. */
	unsigned n = acquisitions_to_move(1, 1, 100000);
	ck_assert_uint_gt(n, 1);
	ck_assert_uint_le(n, 16);
	/* Two of three wait: a move, later. */
	ck_assert_uint_ge(acquisitions_to_move(2, 3, 100000), n);
	ck_assert_uint_ne(acquisitions_to_move(2, 3, 100000), 0);
	/* A third or a quarter wait (threads trading blocks), or none: the
	 * thread stays, however long it runs. */
	ck_assert_uint_eq(acquisitions_to_move(1, 3, 100000), 0);
	ck_assert_uint_eq(acquisitions_to_move(1, 4, 100000), 0);
	ck_assert_uint_eq(acquisitions_to_move(0, 1, 100000), 0);
	/* Waits decay: a burst long ago does not move a thread now. */
	uint32_t w = 0;
	for (int i = 0; i < 6; i++)
		w = arena_waits_note(w, true);
	ck_assert(!arena_waits_say_move(w));
	for (int i = 0; i < 200; i++)
		w = arena_waits_note(w, false);
	ck_assert_uint_lt(w, ARENA_WAIT);
	/* and long calm brings it to 0, which heap_lock's uncontended path
	 * then leaves alone */
	for (int i = 0; i < 200 && w != 0; i++)
		w = arena_waits_note(w, false);
	ck_assert_uint_eq(w, 0);
	ck_assert_uint_eq(arena_waits_note(0, false), 0);
	ck_assert(!arena_waits_say_move(arena_waits_note(w, true)));
}
END_TEST

/* The thread's own counter drives the move: after waits noted on its
 * arena's lock, its next malloc comes from another arena, and its cached
 * blocks of the old one still free correctly. */
START_TEST(a_thread_that_keeps_waiting_moves_at_its_next_malloc)
{
	struct heap *first = heap_for_malloc();
	ck_assert_ptr_eq(first, heap_arena());
	ck_assert_uint_eq(heap_arena_index(), 0);
	void *old = heap_malloc(first, 100, false);
	for (int i = 0; i < 64; i++)
		tthread.arena_waits = arena_waits_note(tthread.arena_waits, true);   /* heap_lock */
	struct heap *next = heap_for_malloc();
	if (heap_narenas() == 1) {
		ck_assert_ptr_eq(next, first);   /* nowhere to go */
	} else {
		ck_assert_ptr_ne(next, first);
		ck_assert_uint_ne(heap_arena_index(), 0);
		ck_assert_ptr_eq(heap_arena(), next);
		/* Settled: no waits, no further move. */
		ck_assert_ptr_eq(heap_for_malloc(), next);
	}
	heap_free(first, old);
	unit_validate(first);
	/* mallctl's thread.arena path: an explicit move, and back. */
	ck_assert_int_eq(heap_arena_set(heap_narenas()), EINVAL);
	ck_assert_int_eq(heap_arena_set(heap_narenas() - 1), 0);
	ck_assert_uint_eq(heap_arena_index(), heap_narenas() - 1);
	ck_assert_int_eq(heap_arena_set(0), 0);
	ck_assert_ptr_eq(heap_for_malloc(), first);
}
END_TEST

/* ---- thp.c: which chunks a fork's walk collapses ---------------------------- */

#define CHUNK (2 * MIB)
#define CHUNK_PAGES ((unsigned)(CHUNK / PAGE))

/* Page i of a chunk with `holes` holes: pages 16k + 7 for k < holes. */
static bool thp_hole(unsigned i, unsigned holes)
{
	return i % 16 == 7 && i / 16 < holes;
}

/* Writes every page of the chunk, then gives the holes back: where the
 * system's THP setting is "always" the first write maps the whole chunk,
 * and the holes must be made. */
static void thp_fill(char *chunk, unsigned holes, unsigned tag)
{
	for (unsigned i = 0; i < CHUNK_PAGES; i++)
		memset(chunk + (size_t)i * PAGE, (int)(tag + i) & 0xff, PAGE);
	for (unsigned i = 0; i < CHUNK_PAGES; i++)
		if (thp_hole(i, holes))
			ck_assert_int_eq(madvise(chunk + (size_t)i * PAGE, PAGE,
			    MADV_DONTNEED), 0);
}


static void thp_assert_contents(const char *chunk, unsigned holes,
                                unsigned tag)
{
	for (unsigned i = 0; i < CHUNK_PAGES; i++) {
		const unsigned char *pg = (const unsigned char *)chunk +
		    (size_t)i * PAGE;
		if (thp_hole(i, holes) && vg_on())
			continue;   /* never written: memcheck says undefined */
		unsigned want = thp_hole(i, holes) ? 0 : (tag + i) & 0xff;
		ck_assert_uint_eq(pg[0], want);
		ck_assert_uint_eq(pg[PAGE - 1], want);
	}
}

/* A heap of 14 MiB on a 2 MiB-aligned mapping of its own, with an 8 MiB
 * block on a chunk boundary: chunks b to b + 3 of the walk, and hwm inside
 * the chunk after them. */
struct thp_fixture {
	char *raw;
	struct heap *h;
	char *blk;
	uint32_t b;
	uintptr_t lo;
};

static struct thp_fixture thp_fixture(void)
{
	struct thp_fixture f;
	f.raw = mmap(NULL, 18 * MIB, PROT_READ | PROT_WRITE,
	    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ck_assert_ptr_ne(f.raw, MAP_FAILED);
	char *base = (char *)ALIGN_UP((uintptr_t)f.raw, CHUNK);
	f.h = heap_format(base, 14 * MIB, 0, true);
	f.blk = heap_malloc_aligned(f.h, 8 * MIB, CHUNK, false);
	ck_assert_ptr_nonnull(f.blk);
	f.lo = ALIGN_UP((uintptr_t)f.h + ((uintptr_t)f.h->first_page <<
	    LG_PAGE), CHUNK);
	ck_assert_uint_eq((uintptr_t)f.blk % CHUNK, 0);
	f.b = (uint32_t)(((uintptr_t)f.blk - f.lo) / CHUNK);
	uintptr_t top = (uintptr_t)f.h + ((uintptr_t)f.h->hwm << LG_PAGE);
	ck_assert_uint_ge(top, (uintptr_t)f.blk + 8 * MIB);
	ck_assert_uint_lt(top, (uintptr_t)f.blk + 8 * MIB + CHUNK);
	return f;
}

static void thp_fixture_done(struct thp_fixture *f)
{
	unit_validate(f->h);
	heap_free(f->h, f->blk);
	unit_validate(f->h);
	if (vg_on())
		slab_vg_forget(f->h);
	munmap(f->raw, 18 * MIB);
}

/* A collapse's answer: 0, or why the kernel would not. */
static void thp_assert_answer(int r)
{
	ck_assert_msg(r == 0 || r == EINVAL || r == ENOMEM || r == EAGAIN ||
	    r == EBUSY || r == EPERM, "collapse: %d", r);
}

/* The walk, on a heap of our own (thp_step is what the fork's prepare
 * handler runs on each arena).  Kernel-independent: which chunk it tries,
 * where it stops, what it leaves alone, what it remembers; where the
 * kernel collapses, also that the holes of a collapsed chunk fill with
 * zeros and no byte moves. */
START_TEST(thp_walk_collapses_dense_chunks_below_hwm_only)
{
	struct thp_fixture f = thp_fixture();
	char *blk = f.blk;
	uint32_t b = f.b;
	/* chunks b and b+1 dense but for THP_HOLES pages, b+2 one hole more,
	 * b+3 one page.  b+2 and b+3 refuse huge pages, so that khugepaged
	 * (THP "always") cannot fill their holes behind the test's back; the
	 * walk never asks to collapse them. */
	ck_assert_int_eq(madvise(blk + 2 * CHUNK, 2 * CHUNK, MADV_NOHUGEPAGE),
	    0);
	thp_fill(blk, THP_HOLES, 1);
	thp_fill(blk + CHUNK, THP_HOLES, 2);
	thp_fill(blk + 2 * CHUNK, THP_HOLES + 1, 3);
	blk[3 * CHUNK] = 9;
	ck_assert_int_eq(madvise(blk + 3 * CHUNK + PAGE, CHUNK - PAGE,
	    MADV_DONTNEED), 0);
	ck_assert_uint_eq(unit_resident_pages(blk + 2 * CHUNK, CHUNK),
	    CHUNK_PAGES - THP_HOLES - 1);
	if (!vg_on()) {
		/* Bait the walk: the header's chunk, and the chunk that
		 * holds hwm (free pages: zeros keep them as they were),
		 * made resident.  Neither is the walk's to take. */
		for (char *p = (char *)f.h; p < (char *)f.lo; p += PAGE)
			(void)*(volatile char *)p;
		memset(blk + 8 * MIB, 0, CHUNK);
	}
	static struct thp_track t;   /* zero: nothing done */
	uint32_t next = 0;
	unsigned scan = 64;
	int r = thp_step(f.h, &t, &next, &scan);   /* the first dense: b */
	thp_assert_answer(r);
	ck_assert_uint_eq(next, b + 1);
	if (r == 0)   /* collapsed: its holes now read as resident zeros */
		ck_assert_uint_eq(unit_resident_pages(blk, CHUNK),
		    CHUNK_PAGES);
	int r1 = thp_step(f.h, &t, &next, &scan);   /* then b + 1 */
	thp_assert_answer(r1);
	ck_assert_uint_eq(next, b + 2);
	/* b + 2 and b + 3 are not dense; above hwm is not the walk's */
	ck_assert_int_eq(thp_step(f.h, &t, &next, &scan), THP_END);
	ck_assert_uint_eq(next, b + 4);
	ck_assert_uint_eq(t.seen, b + 4);
	ck_assert_int_eq(thp_step(f.h, &t, &next, &scan), THP_END);
	ck_assert_uint_eq(unit_resident_pages(blk + 2 * CHUNK, CHUNK),
	    CHUNK_PAGES - THP_HOLES - 1);
	ck_assert_uint_eq(unit_resident_pages(blk + 3 * CHUNK, CHUNK), 1);
	/* The next walk skips what it collapsed, and tries again what the
	 * kernel refused. */
	next = 0;
	scan = 64;
	int again = thp_step(f.h, &t, &next, &scan);
	if (r == 0 && r1 == 0)
		ck_assert_int_eq(again, THP_END);
	else
		thp_assert_answer(again);
	/* A chunk hwm has gone below is forgotten. */
	t.done[(b + 6) / 8] |= (uint8_t)(1u << ((b + 6) % 8));
	t.seen = b + 7;
	next = b + 4;
	scan = 64;
	ck_assert_int_eq(thp_step(f.h, &t, &next, &scan), THP_END);
	ck_assert_uint_eq(t.seen, b + 4);
	ck_assert_uint_eq(t.done[(b + 6) / 8] >> ((b + 6) % 8) & 1, 0);
	/* The scan budget: one chunk looked at, and a pause. */
	next = b + 2;
	scan = 1;
	ck_assert_int_eq(thp_step(f.h, &t, &next, &scan), THP_PAUSE);
	ck_assert_uint_eq(next, b + 3);
	ck_assert_uint_eq(scan, 0);
	ck_assert_int_eq(thp_step(f.h, &t, &next, &scan), THP_PAUSE);
	ck_assert_uint_eq(next, b + 3);
	/* No byte moved; the heap is whole. */
	thp_assert_contents(blk, THP_HOLES, 1);
	thp_assert_contents(blk + CHUNK, THP_HOLES, 2);
	thp_assert_contents(blk + 2 * CHUNK, THP_HOLES + 1, 3);
	ck_assert_int_eq(blk[3 * CHUNK], 9);
	thp_fixture_done(&f);
}
END_TEST

/* A dense chunk whose pages a live child still shares is left alone (a
 * collapse would copy them: 2 MiB more for a prefork server), and taken
 * once the child is gone. */
START_TEST(thp_walk_leaves_chunks_a_child_shares)
{
	struct thp_fixture f = thp_fixture();
	thp_fill(f.blk, 0, 4);
	int go[2];
	ck_assert_int_eq(pipe(go), 0);
	pid_t pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		char c;
		_exit(read(go[0], &c, 1) == 1 ? 0 : 1);
	}
	static struct thp_track t;
	uint32_t next = 0;
	unsigned scan = 64;
	ck_assert_int_eq(thp_step(f.h, &t, &next, &scan), THP_END);
	ck_assert_int_eq(write(go[1], "x", 1), 1);
	int status = 0;
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	close(go[0]);
	close(go[1]);
	next = 0;
	scan = 64;
	int r = thp_step(f.h, &t, &next, &scan);
	thp_assert_answer(r);
	ck_assert_uint_eq(next, f.b + 1);
	thp_assert_contents(f.blk, 0, 4);
	thp_fixture_done(&f);
}
END_TEST

/* A page read after it was given back maps the kernel's zero page, which
 * pagemap does not call this process's own: a hole, not a page shared with
 * a child.  Chunk b has THP_HOLES holes, two of them read: taken.  Chunk
 * b + 1 has THP_HOLES read and one more missing: left alone. */
START_TEST(thp_walk_counts_zero_pages_as_holes)
{
	struct thp_fixture f = thp_fixture();
	char *blk = f.blk;
	ck_assert_int_eq(madvise(blk + CHUNK, CHUNK, MADV_NOHUGEPAGE), 0);
	thp_fill(blk, THP_HOLES, 5);
	thp_fill(blk + CHUNK, THP_HOLES, 6);
	for (unsigned i = 0, read = 0; i < CHUNK_PAGES; i++)
		if (thp_hole(i, THP_HOLES) && read++ < 2)
			(void)*(volatile char *)(blk + (size_t)i * PAGE);
	for (unsigned i = 0; i < CHUNK_PAGES; i++)
		if (thp_hole(i, THP_HOLES))
			(void)*(volatile char *)(blk + CHUNK + (size_t)i * PAGE);
	ck_assert_int_eq(madvise(blk + CHUNK + 8 * PAGE, PAGE, MADV_DONTNEED),
	    0);
	/* (Under memcheck those reads map no page: the walk sees holes, and
	 * answers the same.) */
	if (!vg_on())
		ck_assert_uint_eq(unit_resident_pages(blk + CHUNK, CHUNK),
		    CHUNK_PAGES - 1);
	static struct thp_track t;
	uint32_t next = 0;
	unsigned scan = 64;
	int r = thp_step(f.h, &t, &next, &scan);
	thp_assert_answer(r);
	ck_assert_uint_eq(next, f.b + 1);
	ck_assert_int_eq(thp_step(f.h, &t, &next, &scan), THP_END);
	ck_assert_uint_eq(next, f.b + 4);
	if (!vg_on())   /* b + 1 left alone */
		ck_assert_uint_eq(unit_resident_pages(blk + CHUNK, CHUNK),
		    CHUNK_PAGES - 1);
	thp_assert_contents(blk, THP_HOLES, 5);
	for (unsigned i = 0; i < CHUNK_PAGES; i++) {
		const unsigned char *pg = (const unsigned char *)blk + CHUNK +
		    (size_t)i * PAGE;
		if (!vg_on() || (!thp_hole(i, THP_HOLES) && i != 8))
			ck_assert_uint_eq(pg[0], thp_hole(i, THP_HOLES) ||
			    i == 8 ? 0 : (6 + i) & 0xff);
	}
	thp_fixture_done(&f);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("heap");
	TCase *tc = tcase_create("heap");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, formatted_header_verifies);
	tcase_add_test(tc, bad_headers_are_refused);
	tcase_add_test(tc, claim_decides_who_formats);
	tcase_add_test(tc, a_thread_proc_hides_is_not_gone);
	tcase_add_test(tc, reset_frees_everything_without_touching_data);
	tcase_add_test(tc, reset_clears_the_entry_at_hwm);
	tcase_add_test(tc, small_heaps_keep_metadata_small);
	tcase_add_test(tc, registry_routes_pointers);
	tcase_add_test(tc, process_heap_is_valid_after_use);
	tcase_add_test(tc, freed_memory_goes_back_to_the_os);
	tcase_add_test(tc, arena_policy_moves_threads_that_keep_waiting);
	tcase_add_test(tc, a_thread_that_keeps_waiting_moves_at_its_next_malloc);
	tcase_add_test(tc, thp_walk_collapses_dense_chunks_below_hwm_only);
	tcase_add_test(tc, thp_walk_leaves_chunks_a_child_shares);
	tcase_add_test(tc, thp_walk_counts_zero_pages_as_holes);
	suite_add_tcase(s, tc);
	return unit_run(s);
}
