/*
 * valgrind.c -- the one question phmalloc asks valgrind: is memcheck
 * watching this process?  Only memcheck answers VALGRIND_GET_VBITS.  Asked
 * by sizeclass_init (valgrind.h: vg_on), before any block is handed out,
 * and never again: the answer cannot change.  Threads that ask at
 * once store the same answer.
 */
#include "base.h"
#include "valgrind.h"

#ifdef PH_HAVE_VALGRIND
int vg_state = -1;

bool vg_probe(void)
{
	uint64_t probe = 0, vbits;
	int on = RUNNING_ON_VALGRIND &&
	    VALGRIND_GET_VBITS(&probe, &vbits, sizeof(probe)) == 1;
	__atomic_store_n(&vg_state, on, __ATOMIC_RELAXED);
	return on;
}

void vg_alloc_now(const void *p, size_t n, bool zero)
{
	VALGRIND_MALLOCLIKE_BLOCK(p, n, 0, zero);
}
void vg_free_now(const void *p)
{
	VALGRIND_FREELIKE_BLOCK(p, 0);
}
void vg_resize_now(const void *p, size_t old, size_t n)
{
	VALGRIND_RESIZEINPLACE_BLOCK(p, old, n, 0);
}
void vg_open_now(const void *p, size_t n)
{
	VALGRIND_MAKE_MEM_DEFINED(p, n);
}
void vg_close_now(const void *p, size_t n)
{
	VALGRIND_MAKE_MEM_NOACCESS(p, n);
}
#endif
