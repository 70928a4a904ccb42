/*
 * mmalloc.c -- GNU mmalloc's interface (<phmalloc/mmalloc.h>) on heap
 * handles.
 *
 * A descriptor is the heap itself, its base address, much as mmalloc's
 * points at the header at the start of its region: allocation goes through
 * the ph_heap_* calls and their fast paths unchanged, and a descriptor is
 * checked the way a handle is (the registry knows every attached heap).
 * mmalloc's keys are the heap's roots.  What mmalloc keeps per descriptor
 * and a heap does not hold is the last error, which is process-local: the
 * registry keeps it (registry.c:registry_error_note).
 *
 * Errors: NULL + errno (setkey: 0 + errno), noted for mmalloc_errno in one
 * place, mm_fail.  Bad descriptors go to report_fatal.
 */
#include <errno.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "internal.h"
#include "phmalloc.h"
#include "phmalloc/mmalloc.h"

_Static_assert(MMALLOC_KEYS == NROOTS, "mmalloc keys are the heap's roots");
_Static_assert(MMALLOC_HEAP_SIZE % PAGE == 0, "a heap is whole pages");

/* The heap a descriptor names: NULL is the process's malloc heap. */
static ph_heap_t *mm_handle(void *md)
{
	return md != NULL ? (ph_heap_t *)md : ph_heap_default();
}

/* For the calls that do not go through a ph_heap_* call's own check. */
static struct heap *mm_check(ph_heap_t *hp)
{
	struct heap *h = (struct heap *)hp;
	if (unlikely(registry_lookup(h) != h))
		report_fatal("bad mmalloc descriptor %p (not an attached heap)",
		    (void *)hp);
	return h;
}

/* The one place a failing call goes: errno, and what mmalloc_errno tells. */
static void *mm_fail(ph_heap_t *hp, int err)
{
	registry_error_note((struct heap *)hp, err, false);
	errno = err;
	return NULL;
}

/* An allocation gave NULL (errno ENOMEM or EINVAL).  If the heap's file
 * could not grow, mmalloc_errno tells that cause; errno stays. */
static void *mm_fail_alloc(ph_heap_t *hp)
{
	int err = errno;
	int cause = registry_error_take((struct heap *)hp);
	mm_fail(hp, cause ? cause : err);
	errno = err;
	return NULL;
}

/* ---- attaching ---------------------------------------------------------------- */

/* A private heap on fresh anonymous memory; ph_heap_close unmaps it. */
static struct heap *mm_attach_anon(void *base)
{
	size_t size = MMALLOC_HEAP_SIZE;
	if (base == NULL) {
		base = os_reserve(size);
		if (base == NULL) {
			errno = ENOMEM;
			return NULL;
		}
	} else {
		int err = os_reserve_at(base, size);
		if (err) {
			errno = err;
			return NULL;
		}
	}
	ph_heap_t *hp = ph_heap_create(base, size, PH_HEAP_ZEROED);
	if (hp == NULL) {
		int err = errno;
		os_unmap(base, size);
		errno = err;
		return NULL;
	}
	registry_set_owned((struct heap *)hp, -1);
	return (struct heap *)hp;
}

/* A heap in the file fd: a new one if the file is empty.  The file lock
 * keeps two processes attaching one empty file from both formatting it. */
static struct heap *mm_attach_file(int fd, void *base)
{
	if (flock(fd, LOCK_EX) != 0)
		return NULL;
	struct stat st;
	struct heap *h = NULL;
	if (fstat(fd, &st) != 0) {
		h = NULL;
	} else if (st.st_size == 0) {
		h = heap_open_new(fd, base, MMALLOC_HEAP_SIZE, PH_HEAP_GROW);
		if (h == NULL) {
			/* Leave the file as empty as we found it. */
			int err = errno;
			if (ftruncate(fd, 0) != 0)
				err = errno;
			errno = err;
		}
	} else {
		h = heap_open_existing(fd, NULL, 0);   /* where it was made */
	}
	int err = errno;
	flock(fd, LOCK_UN);
	errno = err;
	return h;
}

PH_EXPORT void *mmalloc_attach(int fd, void *baseaddr)
{
	if (((uintptr_t)baseaddr & PAGE_MASK) != 0) {
		errno = EINVAL;
		return NULL;
	}
	int saved = errno;
	struct heap *h = fd < 0 ? mm_attach_anon(baseaddr) :
	    mm_attach_file(fd, baseaddr);
	if (h != NULL)
		errno = saved;
	return h;
}

PH_EXPORT void *mmalloc_detach(void *md)
{
	if (md == NULL)
		return NULL;   /* the process heap stays */
	int err = ph_heap_close((ph_heap_t *)md);
	if (err) {
		errno = err;
		return md;
	}
	return NULL;
}

/* ---- keys --------------------------------------------------------------------- */

static bool mm_key_ok(int keynum)
{
	return keynum >= 0 && keynum < MMALLOC_KEYS;
}

PH_EXPORT int mmalloc_setkey(void *md, int keynum, void *key)
{
	ph_heap_t *hp = mm_handle(md);
	struct heap *h = mm_check(hp);
	/* A key must be in the heap's blocks (data pages or refuge): only
	 * those mean the same thing to the next process that attaches. */
	uintptr_t off = (uintptr_t)key - (uintptr_t)h;
	if (!mm_key_ok(keynum) || (key != NULL &&
	    (off < ((uintptr_t)h->refuge_page << LG_PAGE) || off >= h->size))) {
		mm_fail(hp, EINVAL);
		return 0;
	}
	int err = ph_heap_set_root(hp, (unsigned)keynum, key);
	if (err) {
		mm_fail(hp, err);
		return 0;
	}
	return 1;
}

PH_EXPORT void *mmalloc_getkey(void *md, int keynum)
{
	ph_heap_t *hp = mm_handle(md);
	mm_check(hp);
	if (!mm_key_ok(keynum))
		return mm_fail(hp, EINVAL);
	void *key = ph_heap_get_root(hp, (unsigned)keynum);
	if (key == NULL && errno != ENOENT)
		return mm_fail(hp, errno);   /* EUCLEAN: a damaged header */
	return key;   /* NULL + ENOENT: never set, as in mmalloc */
}

/* ---- allocation ----------------------------------------------------------------- */

PH_EXPORT void *mmalloc(void *md, size_t size)
{
	ph_heap_t *hp = mm_handle(md);
	void *p = ph_heap_malloc(hp, size);
	return likely(p != NULL) ? p : mm_fail_alloc(hp);
}

PH_EXPORT void *mcalloc(void *md, size_t nmemb, size_t size)
{
	ph_heap_t *hp = mm_handle(md);
	void *p = ph_heap_calloc(hp, nmemb, size);
	return p != NULL ? p : mm_fail_alloc(hp);
}

PH_EXPORT void *mrealloc(void *md, void *ptr, size_t size)
{
	ph_heap_t *hp = mm_handle(md);
	if (ptr != NULL && size == 0) {
		/* mmalloc hands back a minimal block, not NULL. */
		ph_heap_free(hp, ptr);
		return mmalloc(md, 0);
	}
	void *p = ph_heap_realloc(hp, ptr, size);
	return p != NULL ? p : mm_fail_alloc(hp);
}

PH_EXPORT void mfree(void *md, void *ptr)
{
	ph_heap_free(mm_handle(md), ptr);
}

PH_EXPORT void *mmemalign(void *md, size_t alignment, size_t size)
{
	if (alignment == 0)
		return mmalloc(md, size);
	ph_heap_t *hp = mm_handle(md);
	void *p = ph_heap_aligned_alloc(hp, alignment, size);
	return p != NULL ? p : mm_fail_alloc(hp);
}

PH_EXPORT void *mvalloc(void *md, size_t size)
{
	return mmemalign(md, PAGE, size);
}

/* ---- the rest ------------------------------------------------------------------- */

PH_EXPORT int mmalloc_errno(void *md)
{
	return registry_error_last(mm_check(mm_handle(md)));
}

PH_EXPORT void *mmalloc_findbase(size_t size)
{
	if (size == 0 || size > HEAP_ALLOC_MAX) {
		errno = EINVAL;
		return NULL;
	}
	size = ALIGN_UP(size, PAGE);
	void *p = os_reserve(size);
	if (p == NULL) {
		errno = ENOMEM;
		return NULL;
	}
	os_unmap(p, size);
	return p;
}

PH_EXPORT int mmcheckf(void *md, void (*func)(void), int force)
{
	ph_heap_t *hp = mm_handle(md);
	struct heap *h = mm_check(hp);
	char why[256];
	if (heap_validate(h, why, sizeof(why)) == 0)
		return 1;
	if (func == NULL)
		report_fatal("mmcheck: heap %p is inconsistent: %s", (void *)h,
		    why);
	report_warn("mmcheck: heap %p is inconsistent: %s", (void *)h, why);
	mm_fail(hp, EUCLEAN);
	func();
	return 0;
}

PH_EXPORT int mmcheck(void *md, void (*func)(void))
{
	return mmcheckf(md, func, 0);
}
