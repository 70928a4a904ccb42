/*
 * phmalloc/mmalloc.h -- GNU mmalloc's interface on phmalloc heaps.
 *
 * A program written for mmalloc builds unchanged against this header (and
 * links with -lphmalloc).  A descriptor is a phmalloc heap handle: the
 * value mmalloc_attach returns may also be passed to the ph_heap_* calls of
 * <phmalloc.h>, and a handle from ph_heap_open may be passed here.
 *
 * mmalloc_attach(fd, baseaddr):
 *   fd < 0      a new anonymous heap, private to this process (fork children
 *               get a copy), at baseaddr or, if NULL, anywhere.
 *   empty file  a new heap in that file, mapped shared at baseaddr or, if
 *               NULL, at an address picked so that other processes can map
 *               it there too.  It may grow to MMALLOC_HEAP_SIZE; the file
 *               starts at 100 MiB, sparse (tens of KiB on disk; what it
 *               holds at first is the page map for all 4 GiB and one
 *               growth step), and grows in steps as the heap is used.
 *   heap file   the heap is mapped again at the address it was created at
 *               (baseaddr is ignored, as in mmalloc), with its blocks and
 *               keys; any heap file made by ph_heap_open works too, of any
 *               size.  (Files written by GNU mmalloc itself are not heaps
 *               here: another format.)
 *   anything else fails: NULL, errno EINVAL (not a heap, or an unaligned
 *               baseaddr), EPROTO (another format version), ENODATA
 *               (truncated), EEXIST (its address is taken in this process),
 *               EBADF (fd not open), EACCES or EINVAL (fd not open for
 *               reading and writing).  The file is left as it was.
 * fd must be open O_RDWR and stays the caller's: it may be closed right
 * after attaching.  Two processes attaching one empty file at once end
 * with one heap (the attach holds flock(fd) while it formats).
 *
 * A NULL descriptor means the process's malloc heap (ph_heap_default()).
 *
 * Errors: calls returning a pointer give NULL and set errno; mmalloc_errno
 * tells the last error this process met on a heap, including the system
 * error behind a failed allocation (ENOSPC or EFBIG when the heap's file
 * cannot grow; ENOMEM when the heap is full).  A descriptor that is not an
 * attached heap, a pointer outside the heap named, and one its metadata
 * shows is not a live block (a double free, an interior pointer) get one
 * line on stderr and abort(), never silent corruption.
 *
 * Signals: mmalloc, mcalloc, mrealloc, mfree, mvalloc and mmemalign may be
 * called from a signal handler, like the ph_heap_* allocation calls; the
 * other calls may not.
 */
#ifndef PHMALLOC_MMALLOC_H
#define PHMALLOC_MMALLOC_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

#define MMALLOC_KEYS        16                  /* keys 0..MMALLOC_KEYS-1 */
#define MMALLOC_HEAP_SIZE   ((size_t)4 << 30)   /* a new heap's maximum */

/* Maps a heap (see above); returns its descriptor, or NULL + errno. */
void   *mmalloc_attach(int fd, void *baseaddr);
/* Unmaps the heap; a file heap's contents stay for a later attach.  Returns
 * NULL on success, md on failure (errno says why).  md NULL: nothing to do. */
void   *mmalloc_detach(void *md);

/* Keys: pointers into the heap that a later attach finds again.  setkey
 * returns 1, or 0 + errno EINVAL for a bad key number or a key outside the
 * heap; key NULL clears.  getkey returns NULL for a key never set (ENOENT)
 * or a bad key number (EINVAL). */
int     mmalloc_setkey(void *md, int keynum, void *key);
void   *mmalloc_getkey(void *md, int keynum);

void   *mmalloc(void *md, size_t size);
/* mrealloc(md, NULL, n) is mmalloc; mrealloc(md, p, 0) frees p and returns
 * mmalloc(md, 0), as mmalloc does. */
void   *mrealloc(void *md, void *ptr, size_t size);
void   *mcalloc(void *md, size_t nmemb, size_t size);
void    mfree(void *md, void *ptr);
/* Page-aligned; and aligned to `alignment`, a power of two (else EINVAL;
 * 0 means no particular alignment). */
void   *mvalloc(void *md, size_t size);
void   *mmemalign(void *md, size_t alignment, size_t size);

/* The last error this process met on the heap, 0 if none. */
int     mmalloc_errno(void *md);

/* An address where `size` bytes are unmapped in this process now: a
 * baseaddr for mmalloc_attach.  NULL + errno if there is none. */
void   *mmalloc_findbase(size_t size);

/* phmalloc's checks are always on, so installing them cannot come too late
 * and `force` changes nothing: these check the whole heap now and return 1,
 * or report what is broken on stderr in one line and call func and return 0
 * (func NULL: the line, then abort()). */
int     mmcheck(void *md, void (*func)(void));
int     mmcheckf(void *md, void (*func)(void), int force);

#ifdef __cplusplus
}
#endif
#endif /* PHMALLOC_MMALLOC_H */
