/*
 * ao_malloc.c -- libatomic_ops' AO_malloc (<phmalloc/ao_malloc.h>): the
 * process's malloc and free, which are already safe in signal handlers
 * (the header says exactly when, and why AO_MALLOC_IS_LOCK_FREE is not
 * defined).
 */
#include "internal.h"
#include "phmalloc/ao_malloc.h"

/* The configured prefix's calls (malloc.c); the generated public header
 * is not for the drop-in variant, so they are declared here. */
PH_EXPORT void *P(malloc)(size_t size);
PH_EXPORT void  P(free)(void *p);

PH_EXPORT void *AO_malloc(size_t size)
{
	return P(malloc)(size);
}

PH_EXPORT void AO_free(void *p)
{
	P(free)(p);
}

/* Makes the process heap (a no-op once it exists), so that no handler's
 * AO_malloc is the first allocation. */
PH_EXPORT void AO_malloc_enable_mmap(void)
{
	heap_process();
}
