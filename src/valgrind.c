/*
 * valgrind.c -- the one question phmalloc asks valgrind: is memcheck
 * watching this process?  Only memcheck answers VALGRIND_GET_VBITS.  Asked
 * at the first annotation (valgrind.h: vg_on), before any block is handed
 * out, and never again: the answer cannot change.  Threads that ask at
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
#endif
