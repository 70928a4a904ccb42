/*
 * valgrind.h -- tells memcheck about phmalloc's blocks.
 *
 * A block is announced when handed out (vg_alloc) and withdrawn when freed
 * (vg_free), so memcheck sees leaks, reads after free and overruns.  The
 * allocator's own words inside free blocks are made readable around each
 * access (vg_open) and hidden again (vg_close).  A reset or an unmapping
 * withdraws every live block first (slab.c:slab_vg_forget, which walks the
 * heap only when running under memcheck: reset stays O(metadata) outside).
 * vg_on() is a load and a branch: valgrind is asked once whether memcheck
 * watches this process (valgrind.c:vg_probe), by sizeclass_init, which
 * runs before any heap is made or joined and so before any block is
 * handed out (until then vg_on() says no, and nothing needs telling).
 * Under other tools
 * (callgrind) the annotations are skipped too, so instruction counts are
 * the real paths'.  vg_any() is any valgrind tool (which runs threads one
 * at a time, and pays for reserved pages at each fork).  Nothing at all in
 * a build without valgrind's headers.
 */
#ifndef PH_VALGRIND_H
#define PH_VALGRIND_H

#include "types.h"

#ifdef PH_HAVE_VALGRIND
#include <valgrind/memcheck.h>
extern int vg_state;   /* memcheck watching: 1, not: 0, not asked yet: -1 */
bool vg_probe(void);
#define vg_on()  __builtin_expect(vg_state > 0, 0)
#define vg_any()             __builtin_expect(RUNNING_ON_VALGRIND, 0)
/* The requests themselves are calls (valgrind.c): inline, each one's
 * argument block on the stack made every caller keep a frame for it. */
void vg_alloc_now(const void *p, size_t n, bool zero);
void vg_free_now(const void *p);
void vg_resize_now(const void *p, size_t old, size_t n);
void vg_open_now(const void *p, size_t n);
void vg_close_now(const void *p, size_t n);
#define vg_alloc(h, p, n, zero) do { if (vg_on()) \
	vg_alloc_now((p), (n), (zero)); } while (0)
#define vg_free(h, p)        do { if (vg_on()) vg_free_now(p); } while (0)
#define vg_resize(h, p, o, n) do { if (vg_on()) \
	vg_resize_now((p), (o), (n)); } while (0)
#define vg_open(p, n)        do { if (vg_on()) vg_open_now((p), (n)); } \
	while (0)
#define vg_close(p, n)       do { if (vg_on()) vg_close_now((p), (n)); } \
	while (0)
#else
#define vg_on()                 0
#define vg_any()                0
#define vg_alloc(h, p, n, zero) do { } while (0)
#define vg_free(h, p)           do { } while (0)
#define vg_resize(h, p, o, n)   do { } while (0)
#define vg_open(p, n)           do { } while (0)
#define vg_close(p, n)          do { } while (0)
#endif

#endif /* PH_VALGRIND_H */
