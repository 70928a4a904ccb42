/*
 * snapshot.h -- a private, checked copy of a heap that other processes may
 * be using right now, for phstat.
 *
 * The heap's file or shm object is opened O_RDONLY and mapped PROT_READ
 * wherever the kernel likes (metadata is offsets, so the base does not
 * matter); no lock is taken and nothing in it is written.  Nothing read
 * from it is trusted either (DESIGN.md: a heap header read from a file is
 * input, not truth): the copy takes the metadata (header, slab map and page
 * map up to the high-water mark), the pages of slabs (their free chains),
 * the tag table and the thread caches into an anonymous reservation laid
 * out like the heap, so that the library's own validators and statistics
 * run on it unchanged and no racing writer can change what they walk.
 * Every read of the live mapping is clamped to the file's size and guarded
 * against SIGBUS and SIGSEGV (a file truncated under us).
 *
 * A copy is consistent when the heap's lock was free and the metadata and
 * caches read the same after the copy as during it; otherwise it is taken
 * again, up to SNAP_ATTEMPTS times, and the last one is kept and marked.
 *
 * Error convention: snap_open returns 0 or one of the SNAP_E* values, with
 * a one-line reason in snap->why.  Walks of the copy are bounded by the
 * number of pages; they stop at the first entry that makes no sense.
 */
#ifndef PHSTAT_SNAPSHOT_H
#define PHSTAT_SNAPSHOT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "internal.h"

#define SNAP_ATTEMPTS 8

enum snap_err {
	SNAP_OK = 0,
	SNAP_EOPEN,      /* cannot open, stat or map the name */
	SNAP_ENOTHEAP,   /* holds no heap */
	SNAP_EVERSION,   /* a heap of another format version */
	SNAP_ETRUNC,     /* a heap whose file is shorter than its header says */
	SNAP_EBUSY,      /* being formatted, or changed shape while read */
	SNAP_ESYS,       /* out of memory or address space */
};

/* What a stretch of pages is used for, as the map draws it. */
enum snap_use {
	USE_META,        /* header, slab map, page map */
	USE_FREE_CLEAN,  /* free, known to read as zero */
	USE_FREE_DIRTY,  /* free, may still hold memory */
	USE_UNBACKED,    /* free and beyond the end of a growable heap's file */
	USE_SLAB,        /* a slab; fill tells how many of its blocks are used */
	USE_LARGE,       /* a large block */
	USE_TCACHE,      /* a thread cache */
	USE_COUNT
};

struct snap_tcache {
	uint64_t off;          /* offset in the heap */
	uint32_t pid, tid;
	uint64_t start;        /* owner process start time */
	bool     alive;
	uint64_t blocks;       /* blocks cached */
	uint64_t bytes;
	uint32_t cached[NBINS];
};

struct snap_proc {
	uint32_t pid;
	uint64_t start;
	bool     alive;
	bool     recorded;     /* in the heap's table of attached processes */
	unsigned tcaches;      /* thread caches it owns */
};

struct snap_class {
	uint32_t slabs;
	uint64_t blocks;       /* slabs x blocks per slab */
	uint64_t used;         /* not free in their slabs */
	uint64_t cached;       /* of those, sitting in thread caches */
};

/* What the page walk of the copy found. */
struct snap_census {
	bool     walk_ok;      /* the runs tile the data pages */
	uint64_t pages[USE_COUNT];
	struct snap_class classes[NBINS];
	uint64_t large_blocks, large_bytes;
	uint64_t free_runs;
	uint64_t largest_free_pages;
};

struct snap {
	const char   *name;
	int           fd;
	const struct heap *live;   /* the read-only mapping of the heap */
	size_t        readable;    /* bytes of it backed by the file */
	struct heap  *h;           /* the private copy, laid out like the heap */
	size_t        size;        /* h->size */
	bool          consistent;
	unsigned      attempts;
	bool          lock_held;   /* when last looked at */
	uint32_t      lock_owner;  /* its TID, if held */
	bool          lock_owner_died;  /* the next locker will repair */
	struct snap_tcache *tcaches;
	size_t        ntcaches, tcaches_cap;
	bool          tcache_list_ok;   /* the list ended cleanly */
	struct snap_proc procs[HEAP_NPROCS + 64];
	size_t        nprocs;
	struct snap_census census;
	char          why[256];
};

int  snap_open(struct snap *s, const char *name);
void snap_close(struct snap *s);

/* Calls fn for every stretch [first, first + n) of pages of the copy in
 * address order, with its use and, for slabs, the fraction of blocks used.
 * Returns false if the walk stopped at a run that makes no sense. */
bool snap_walk(const struct snap *s,
               void (*fn)(void *arg, uint64_t first, uint64_t n,
                          enum snap_use use, double fill),
               void *arg);

const char *snap_use_name(enum snap_use use);

#endif /* PHSTAT_SNAPSHOT_H */
