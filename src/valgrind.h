/*
 * valgrind.h -- tells memcheck about phmalloc's blocks.
 *
 * Each macro costs one branch when not running under valgrind, and nothing
 * in a build without valgrind's headers.  A block is announced when handed
 * out (vg_alloc) and withdrawn when freed (vg_free); the allocator's own
 * words inside free blocks are made readable around each access (vg_open)
 * and hidden again (vg_close), so memcheck still sees use-after-free.
 */
#ifndef PH_VALGRIND_H
#define PH_VALGRIND_H

#include "types.h"

#ifdef PH_HAVE_VALGRIND
#include <valgrind/memcheck.h>
#define vg_on()              unlikely(RUNNING_ON_VALGRIND)
#define vg_alloc(p, n, zero) do { if (vg_on()) \
	VALGRIND_MALLOCLIKE_BLOCK((p), (n), 0, (zero)); } while (0)
#define vg_free(p)           do { if (vg_on()) \
	VALGRIND_FREELIKE_BLOCK((p), 0); } while (0)
#define vg_open(p, n)        do { if (vg_on()) \
	VALGRIND_MAKE_MEM_DEFINED((p), (n)); } while (0)
#define vg_close(p, n)       do { if (vg_on()) \
	VALGRIND_MAKE_MEM_NOACCESS((p), (n)); } while (0)
#define vg_resize(p, o, n)   do { if (vg_on()) \
	VALGRIND_RESIZEINPLACE_BLOCK((p), (o), (n), 0); } while (0)
#else
#define vg_alloc(p, n, zero) do { } while (0)
#define vg_free(p)           do { } while (0)
#define vg_open(p, n)        do { } while (0)
#define vg_close(p, n)       do { } while (0)
#define vg_resize(p, o, n)   do { } while (0)
#endif

#endif /* PH_VALGRIND_H */
