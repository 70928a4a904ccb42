/*
 * image_lib.h -- heap images for the damaged-image fuzz target, its seed
 * generator and the mutation sweep (test/integration/test_image.c).
 *
 * An image is the bytes of a small shared heap (IMAGE_SIZE) made at
 * IMAGE_ADDR: a clean one with blocks, free blocks and roots, or one left
 * by a process killed with blocks in its thread cache.  image_exercise
 * copies an image there and joins it as a process would: attach, then
 * check, mallocs and frees of every kind, check, detach.  A damaged image
 * must be refused with an errno or work; it must never crash or hang.
 *
 * Only the public API (<phmalloc.h>) and libc; every function is static.
 */
#ifndef PH_TEST_FUZZ_IMAGE_LIB_H
#define PH_TEST_FUZZ_IMAGE_LIB_H

#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <phmalloc.h>

#define IMAGE_SIZE  ((size_t)640 << 10)
/* Far from the kernel's default mmap area, ASan's shadow and the range
 * ph_heap_open picks for new heaps (16-80 TiB). */
#define IMAGE_ADDR  ((void *)(uintptr_t)0x6f0000000000)
#define IMAGE_PAGE  ((size_t)4096)

/* What image_exercise found. */
enum image_verdict {
	IMAGE_REFUSED = 0,   /* attach failed with an errno */
	IMAGE_WORKS = 10,    /* attached, checked, allocated, freed, detached */
	IMAGE_BROKEN = 11,   /* attached, then a check or an allocation failed */
	IMAGE_NOERRNO = 12,  /* attach failed without an errno */
};

/* The fixed range, shared (as a heap other processes map), or NULL. */
static inline void *image_map(void)
{
	void *p = mmap(IMAGE_ADDR, IMAGE_SIZE, PROT_READ | PROT_WRITE,
	    MAP_SHARED | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
	if (p == MAP_FAILED)
		return NULL;
	if (p != IMAGE_ADDR) {
		munmap(p, IMAGE_SIZE);
		return NULL;
	}
	return p;
}

/* Bytes of an image worth keeping: up to its last nonzero byte, whole
 * pages (the rest of a heap image reads as zero). */
static inline size_t image_trimmed(const unsigned char *img)
{
	size_t n = IMAGE_SIZE;
	while (n > 0 && img[n - 1] == 0)
		n--;
	return (n + IMAGE_PAGE - 1) / IMAGE_PAGE * IMAGE_PAGE;
}

/* A workload that leaves slabs of several classes, free blocks on their
 * chains, large blocks and roots. */
static inline void image_populate(ph_heap_t *h, unsigned seed)
{
	void *keep[48];
	for (unsigned i = 0; i < 48; i++) {
		size_t n = 1 + (i * 97 + seed * 13) % 900;
		if (i % 16 == 7)
			n = 20000 + i * 10;   /* large */
		keep[i] = ph_heap_malloc(h, n);
		if (keep[i] != NULL)
			memset(keep[i], (int)i, n < 64 ? n : 64);
	}
	for (unsigned i = 0; i < 48; i += 3)
		ph_heap_free(h, keep[i]);
	for (unsigned k = 0; k < 4; k++)
		ph_heap_set_root(h, k, keep[1 + 3 * k]);
}

/* A shared heap made at IMAGE_ADDR, populated and detached: its range,
 * or NULL. */
static inline void *image_populated(unsigned seed)
{
	void *m = image_map();
	if (m == NULL)
		return NULL;
	ph_heap_t *h = ph_heap_create(m, IMAGE_SIZE, PH_HEAP_SHARED);
	if (h == NULL) {
		munmap(m, IMAGE_SIZE);
		return NULL;
	}
	image_populate(h, seed);
	ph_heap_detach(h);
	return m;
}

/* A clean heap's image into img (IMAGE_SIZE bytes); 0 or -1. */
static inline int image_make_clean(unsigned char *img, unsigned seed)
{
	void *m = image_populated(seed);
	if (m == NULL)
		return -1;
	memcpy(img, m, IMAGE_SIZE);
	munmap(m, IMAGE_SIZE);
	return 0;
}

/* The image of a heap whose last user was killed with blocks in its
 * thread cache (and blocks allocated, a root set); 0 or -1. */
static inline int image_make_killed(unsigned char *img, unsigned seed)
{
	void *m = image_populated(seed);
	if (m == NULL)
		return -1;
	pid_t pid = fork();
	if (pid < 0) {
		munmap(m, IMAGE_SIZE);
		return -1;
	}
	if (pid == 0) {
		ph_heap_t *g = ph_heap_attach(m);
		if (g == NULL)
			_exit(1);
		void *p[40];
		for (unsigned i = 0; i < 40; i++)
			p[i] = ph_heap_malloc(g, 16 + (i % 5) * 48);
		for (unsigned i = 0; i < 40; i += 2)
			ph_heap_free(g, p[i]);   /* into the thread cache */
		ph_heap_set_root(g, 5, p[1]);
		raise(SIGKILL);
		_exit(2);
	}
	int st;
	waitpid(pid, &st, 0);
	memcpy(img, m, IMAGE_SIZE);
	munmap(m, IMAGE_SIZE);
	return WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL ? 0 : -1;
}

/* A block of n bytes through every allocation call, written and read
 * back; false if anything fails. */
static inline bool image_block_works(ph_heap_t *h, size_t n, unsigned kind)
{
	unsigned char *p;
	switch (kind % 3) {
	case 0:
		p = ph_heap_malloc(h, n);
		break;
	case 1:
		p = ph_heap_calloc(h, 1, n);
		for (size_t i = 0; p != NULL && i < n; i++)
			if (p[i] != 0)
				return false;
		break;
	default:
		p = ph_heap_aligned_alloc(h, 256, n);
		if (p != NULL && ((uintptr_t)p & 255) != 0)
			return false;
		break;
	}
	if (p == NULL)
		return false;
	memset(p, 0x5a, n);
	unsigned char *q = ph_heap_realloc(h, p, n + n / 2 + 1);
	if (q == NULL) {
		ph_heap_free(h, p);
		return false;
	}
	bool same = true;
	for (size_t i = 0; i < n; i++)
		same &= q[i] == 0x5a;
	ph_heap_free(h, q);
	return same;
}

/* Copies the n bytes of data to IMAGE_ADDR (mapped, IMAGE_SIZE), pads
 * with zeroes, and joins the heap there. */
static inline enum image_verdict image_exercise(const uint8_t *data, size_t n)
{
	unsigned char *m = IMAGE_ADDR;
	if (n > IMAGE_SIZE)
		n = IMAGE_SIZE;
	memcpy(m, data, n);
	memset(m + n, 0, IMAGE_SIZE - n);
	errno = 0;
	ph_heap_t *h = ph_heap_attach(m);
	if (h == NULL)
		return errno != 0 ? IMAGE_REFUSED : IMAGE_NOERRNO;
	bool ok = ph_heap_check(h) == 0;
	for (unsigned k = 0; k < PH_HEAP_ROOTS; k++)
		(void)ph_heap_get_root(h, k);
	static const size_t sizes[] = { 8, 24, 100, 512, 3000, 14336, 20000 };
	void *held[8] = { NULL };
	for (unsigned i = 0; ok && i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		ok = image_block_works(h, sizes[i], i);
		held[i] = ph_heap_malloc(h, sizes[i] / 2 + 1);
	}
	for (unsigned i = 0; i < 8; i++)
		ph_heap_free(h, held[i]);
	ok = ok && ph_heap_check(h) == 0;
	ok = ph_heap_detach(h) == 0 && ok;
	return ok ? IMAGE_WORKS : IMAGE_BROKEN;
}

#endif /* PH_TEST_FUZZ_IMAGE_LIB_H */
