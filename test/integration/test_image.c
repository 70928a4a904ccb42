/*
 * test_image.c -- damaged heap images are refused or work: never a crash,
 * never a hang (DESIGN.md, "a heap read from a file or segment is input").
 *
 * Two real images (test/fuzz/image_lib.h): a clean heap, and one left by
 * a process killed with blocks in its thread cache.  Each mutation -- a
 * byte or an 8-byte word changed -- is joined in a forked child
 * (image_exercise: attach, check, allocations of every kind, check,
 * detach).  The parent sorts the children: refused with an errno, or
 * accepted and working; a crash, an accepted heap that then fails, or a
 * refusal without errno fails the test, and a hang hangs it (Check's
 * timeout names it: no clock judges a child).
 *
 * make check runs every byte and every word of the header and a sample of
 * the slab map, the page map, the dead process's cache and the data pages;
 * PH_IMAGE_FULL=1 (make stress) runs every offset of those regions with
 * every value.
 *
 * This test reads the heap's layout from internal.h (links libphinternal)
 * only to know where the regions are; what it calls is the public API.
 */
#define _GNU_SOURCE   /* memfd_create */
#include <check.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/mman.h>

#include "internal.h"
#include "../fuzz/image_lib.h"
#include "../run_suite.h"

#define SWEEP_PAR 4   /* children at a time */

struct sweep {
	const char *name;
	const unsigned char *img;
	unsigned refused, works, crashed, broken, noerrno;
	char first_bad[160];
	struct { pid_t pid; size_t off, len; uint64_t val; }
	    run[SWEEP_PAR];
	unsigned nrun;
};

static void sweep_judge(struct sweep *s, unsigned k, int st)
{
	const char *bad = NULL;
	if (WIFSIGNALED(st)) {
		s->crashed++;
		bad = "crashed";
	} else if (WEXITSTATUS(st) == IMAGE_REFUSED) {
		s->refused++;
	} else if (WEXITSTATUS(st) == IMAGE_WORKS) {
		s->works++;
	} else if (WEXITSTATUS(st) == IMAGE_NOERRNO) {
		s->noerrno++;
		bad = "refused without errno";
	} else {
		s->broken++;
		bad = "accepted, then failed";
	}
	if (bad != NULL) {
		char line[160];
		snprintf(line, sizeof(line), "%s image: %zu bytes at offset "
		    "%zu = %#llx: %s (status %#x)", s->name, s->run[k].len,
		    s->run[k].off, (unsigned long long)s->run[k].val, bad, st);
		if (s->crashed + s->broken + s->noerrno <= 20)
			printf("%s\n", line);
		if (s->first_bad[0] == '\0')
			snprintf(s->first_bad, sizeof(s->first_bad), "%s", line);
	}
	s->run[k] = s->run[--s->nrun];
}

/* Waits until fewer than `most` children run.  No clock decides: a child
 * that never ends hangs the test, and Check's timeout names it. */
static void sweep_reap(struct sweep *s, unsigned most)
{
	while (s->nrun >= most && s->nrun > 0) {
		int st;
		pid_t w = waitpid(-1, &st, 0);
		ck_assert_int_gt(w, 0);
		for (unsigned k = 0; k < s->nrun; k++)
			if (s->run[k].pid == w) {
				sweep_judge(s, k, st);
				break;
			}
	}
}

/* Runs one mutated image in a child: `len` bytes of `val` at `off` of
 * the pristine image, in the child's own copy. */
static void sweep_one(struct sweep *s, size_t off, uint64_t val, size_t len)
{
	sweep_reap(s, SWEEP_PAR);
	pid_t pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		static unsigned char copy[IMAGE_SIZE];
		memcpy(copy, s->img, IMAGE_SIZE);
		memcpy(copy + off, &val, len);
		int devnull = open("/dev/null", O_WRONLY);
		dup2(devnull, 2);   /* ph_heap_check says why, at length */
		/* a range of its own: children run side by side */
		munmap(IMAGE_ADDR, IMAGE_SIZE);
		if (image_map() == NULL)
			_exit(99);
		_exit(image_exercise(copy, IMAGE_SIZE));
	}
	s->run[s->nrun++] = (typeof(s->run[0])){ pid, off, len, val };
}

static uint64_t word_at(const unsigned char *img, size_t off)
{
	uint64_t v;
	memcpy(&v, img + off, 8);
	return v;
}

/* Byte values tried at each offset (one of them in make check). */
static const uint8_t byte_vals[] = { 0xff, 0x00, 0x01, 0x80, 0x7f };

/* The word values tried: the extremes, a page-sized offset, and the
 * original nudged (off by one, a high bit, a low bit). */
static uint64_t word_val(const unsigned char *img, size_t off, unsigned k)
{
	uint64_t o = word_at(img, off);
	switch (k % 7) {
	case 0: return UINT64_MAX;
	case 1: return 0;
	case 2: return UINT64_C(0x00000000fffff000);
	case 3: return o + 1;
	case 4: return o - 1;
	case 5: return o ^ UINT64_C(0x100000000);
	default: return o ^ 0x10;
	}
}

static bool sweep_full(void)
{
	const char *e = getenv("PH_IMAGE_FULL");
	return e != NULL && e[0] == '1';
}

/* Mutates [lo, hi): each byte (every `bstep`-th in a sample) and each
 * aligned word (every `wstep`-th). */
static void sweep_region(struct sweep *s, size_t lo, size_t hi, size_t bstep,
                         size_t wstep)
{
	bool full = sweep_full();
	if (full)
		bstep = wstep = 1;
	size_t nb = sizeof(byte_vals);
	for (size_t off = lo, i = 0; off < hi; off += bstep, i++) {
		if (full) {
			for (size_t k = 0; k < nb; k++)
				if (s->img[off] != byte_vals[k])
					sweep_one(s, off, byte_vals[k], 1);
		} else {
			uint8_t v = byte_vals[i % nb];
			sweep_one(s, off, s->img[off] == v ? v ^ 0x55 : v, 1);
		}
	}
	for (size_t off = ALIGN_UP(lo, 8), i = 0; off + 8 <= hi;
	    off += 8 * wstep, i++) {
		if (full) {
			for (unsigned k = 0; k < 7; k++)
				if (word_val(s->img, off, k) != word_at(s->img,
				    off))
					sweep_one(s, off, word_val(s->img, off,
					    k), 8);
		} else {
			uint64_t v = word_val(s->img, off, (unsigned)i);
			if (v == word_at(s->img, off))
				v = ~v;
			sweep_one(s, off, v, 8);
		}
	}
}

static void sweep_image(struct sweep *s)
{
	struct heap *h = (struct heap *)(uintptr_t)s->img;
	size_t slabmap = (size_t)((char *)heap_slabmap(h) - (char *)h);
	size_t pagemap = (size_t)((char *)heap_pages(h) - (char *)h);
	size_t meta_end = pagemap + (size_t)h->npages * sizeof(struct page);
	/* the header: every byte and every word */
	sweep_region(s, 0, slabmap, 1, 1);
	/* the slab map and the page map: a sample */
	sweep_region(s, slabmap, pagemap, 3, 2);
	sweep_region(s, pagemap, meta_end, 5, 3);
	/* the thread caches' headers and first slots, the first data pages */
	for (uint64_t off = h->tcaches, n = 0; off != 0 && off < IMAGE_SIZE &&
	    n < 4; n++) {
		sweep_region(s, off, off + 2048, 23, 7);
		off = ((const struct tcache *)(s->img + off))->next;
	}
	size_t data = (size_t)h->first_page * IMAGE_PAGE;
	sweep_region(s, data, data + 4 * IMAGE_PAGE, 61, 29);
	sweep_reap(s, 1);
}

static void sweep_report(const struct sweep *s)
{
	printf("image sweep, %s heap: %u refused, %u accepted and working, "
	    "%u crashed, %u accepted then failed, %u refused without "
	    "errno\n", s->name, s->refused, s->works, s->crashed, s->broken,
	    s->noerrno);
	fflush(stdout);
	ck_assert_msg(s->crashed + s->broken + s->noerrno == 0,
	    "%s", s->first_bad);
	ck_assert_uint_gt(s->refused, 0);
	ck_assert_uint_gt(s->works, 0);
}

static unsigned char clean_img[IMAGE_SIZE] __attribute__((aligned(4096)));
static unsigned char killed_img[IMAGE_SIZE] __attribute__((aligned(4096)));

START_TEST(clean_heap_mutations_are_refused_or_work)
{
	ck_assert_int_eq(image_make_clean(clean_img, 1), 0);
	ck_assert_ptr_nonnull(image_map());
	ck_assert_int_eq(image_exercise(clean_img, IMAGE_SIZE), IMAGE_WORKS);
	struct sweep s = { .name = "clean", .img = clean_img };
	sweep_image(&s);
	sweep_report(&s);
}
END_TEST

START_TEST(killed_heap_mutations_are_refused_or_work)
{
	ck_assert_int_eq(image_make_killed(killed_img, 2), 0);
	struct heap *h = (struct heap *)(uintptr_t)killed_img;
	/* the dead process's cache (none in a --disable-tcache build) */
	ck_assert(!config_tcache || h->tcaches != 0);
	ck_assert_ptr_nonnull(image_map());
	ck_assert_int_eq(image_exercise(killed_img, IMAGE_SIZE), IMAGE_WORKS);
	struct sweep s = { .name = "killed", .img = killed_img };
	sweep_image(&s);
	sweep_report(&s);
}
END_TEST

/* The shapes of damage the issue found, one by one, each refused with
 * EUCLEAN (and ENODATA for a truncated backing). */
static int attach_errno(const unsigned char *img)
{
	memcpy(IMAGE_ADDR, img, IMAGE_SIZE);
	errno = 0;
	ph_heap_t *h = ph_heap_attach(IMAGE_ADDR);
	if (h != NULL) {
		ph_heap_detach(h);
		return 0;
	}
	return errno;
}

/* A robust lock word that nobody will release -- naming a thread that does
 * not exist (a copied file, a reboot), a live thread of a process that
 * never attached (TID 1), or waiters and no owner -- is taken over by the
 * joiner as the kernel would have marked it, and the heap repaired
 * (lock.c, heap.c:heap_lock_gone): the join neither hangs nor refuses. */
START_TEST(abandoned_lock_is_taken_over)
{
#ifdef __GLIBC__
	static unsigned char img[IMAGE_SIZE] __attribute__((aligned(4096)));
	ck_assert_int_eq(image_make_killed(killed_img, 3), 0);
	ck_assert_ptr_nonnull(image_map());
	static const int words[] = { 0x3ffffffe, 1, (int)0x80000000,
	    (int)0x80000001 };
	for (unsigned i = 0; i < sizeof(words) / sizeof(words[0]); i++) {
		memcpy(img, killed_img, IMAGE_SIZE);
		struct heap *h = (struct heap *)(uintptr_t)img;
		ck_assert(h->flags & HEAP_F_SHARED);
		h->lock.mtx.__data.__lock = words[i];
		memcpy(IMAGE_ADDR, img, IMAGE_SIZE);
		ph_heap_t *ph = ph_heap_attach(IMAGE_ADDR);
		ck_assert_msg(ph != NULL, "word %#x: errno %d", words[i], errno);
		ck_assert_int_eq(ph_heap_check(ph), 0);
		void *p = ph_heap_malloc(ph, 100);
		ck_assert_ptr_nonnull(p);
		ph_heap_free(ph, p);
		struct heap *live = (struct heap *)(uintptr_t)IMAGE_ADDR;
		ck_assert_uint_ge(live->stats.nrepairs, 1);
		ck_assert_int_eq(ph_heap_detach(ph), 0);
	}
#endif
}
END_TEST

START_TEST(known_damage_is_refused)
{
	static unsigned char img[IMAGE_SIZE] __attribute__((aligned(4096)));
	ck_assert_int_eq(image_make_killed(killed_img, 3), 0);
	ck_assert_ptr_nonnull(image_map());
	struct heap *h = (struct heap *)(uintptr_t)img;
	memcpy(img, killed_img, IMAGE_SIZE);
	struct page *pm = heap_pages(h);   /* where npages puts it */
	int err;
#define DAMAGE(what) do { memcpy(img, killed_img, IMAGE_SIZE); what; \
	err = attach_errno(img); \
	ck_assert_msg(err == EUCLEAN, "%s: errno %d", #what, err); } while (0)
	unsigned slab = 0, large = 0, c = 0, top = 0;
	for (uint32_t i = h->first_page; i < h->npages; i += pm[i].span) {
		if (pm[i].kind == PAGE_SLAB && slab == 0)
			slab = i;
		if (pm[i].kind == PAGE_LARGE && large == 0 &&
		    ((uint64_t)i << LG_PAGE) != h->tcaches)
			large = i;
	}
	ck_assert_uint_ne(slab, 0);
	ck_assert_uint_ne(large, 0);
	while (c < NBINS && h->bins[c].nonfull == 0)
		c++;
	ck_assert_uint_lt(c, NBINS);
	while (top < NRUNCLASSES && h->runs[top] == 0)
		top++;
	ck_assert_uint_lt(top, NRUNCLASSES);
	struct tcache *tc = (struct tcache *)(img + h->tcaches);
	DAMAGE(h->runs[top] = 0x7fff);
	DAMAGE(h->bins[c].nonfull = 0xfffff);
	DAMAGE(pm[large].span = 0xffffffe0u);
	DAMAGE(pm[slab].s.free = 0x7ff0);
	DAMAGE(pm[slab].s.carved = 0xffff);
	DAMAGE(h->remote = 0x12345);
	DAMAGE(h->remote_slabs = slab);
	DAMAGE(h->roots[3] = h->size - 16);
	DAMAGE(h->free_key ^= 0xff);
	DAMAGE(h->tcaches = (uint64_t)(h->npages - 1) << LG_PAGE);
	/* With thread caches off, the killed process most likely died inside
	 * the lock: the image is repaired on join, which takes a dead cache
	 * back checked block by block instead of refusing it. */
	if (config_tcache) {
		DAMAGE(tc->bins[1 + 3].top = 0xffff);
		DAMAGE(tc->slots[tc->bins[1].lo] = h->size - 8;
		    tc->bins[1].top = tc->bins[1].lo + 1);
	}
	DAMAGE(h->procs[0].pid = UINT32_MAX);
	DAMAGE(h->tags = (uint64_t)large << LG_PAGE | 8);
	/* limit lowered below the pages in use, the file cut to it */
	DAMAGE(h->flags |= 0x8; h->limit = h->first_page + 1);
	/* a file shorter than the heap says is backed: ENODATA, no SIGBUS */
	int fd = memfd_create("image", 0);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(pwrite(fd, killed_img, IMAGE_SIZE, 0),
	    (ssize_t)IMAGE_SIZE);
	ck_assert_int_eq(ftruncate(fd, (off_t)(IMAGE_SIZE - IMAGE_PAGE)), 0);
	munmap(IMAGE_ADDR, IMAGE_SIZE);
	ck_assert_ptr_eq(mmap(IMAGE_ADDR, IMAGE_SIZE, PROT_READ | PROT_WRITE,
	    MAP_SHARED | MAP_FIXED_NOREPLACE, fd, 0), IMAGE_ADDR);
	errno = 0;
	ck_assert_ptr_null(ph_heap_attach(IMAGE_ADDR));
	ck_assert_int_eq(errno, ENODATA);
	munmap(IMAGE_ADDR, IMAGE_SIZE);
	close(fd);
	/* the pristine image still works */
	ck_assert_ptr_nonnull(image_map());
	ck_assert_int_eq(image_exercise(killed_img, IMAGE_SIZE), IMAGE_WORKS);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("image");
	TCase *tc = tcase_create("sweep");
	tcase_set_timeout(tc, 600);
	tcase_add_test(tc, known_damage_is_refused);
	tcase_add_test(tc, abandoned_lock_is_taken_over);
	tcase_add_test(tc, clean_heap_mutations_are_refused_or_work);
	tcase_add_test(tc, killed_heap_mutations_are_refused_or_work);
	suite_add_tcase(s, tc);
	return run_suite(s);
}
