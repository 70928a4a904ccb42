/*
 * phstat.h -- what phstat.c hands to its outputs (the text and JSON
 * printers in phstat.c, the map in svg.c).
 */
#ifndef PHSTAT_H
#define PHSTAT_H

#include "snapshot.h"

struct phstat {
	struct snap *snap;              /* the copy and what its walk found */
	struct stats_snapshot stats;    /* as ph_heap_stats would give them */
	bool checked;                   /* --check ran */
	bool check_ok;
	char why[256];                  /* the broken invariant */
};

/* "16.0 MiB": bytes for a person to read (phstat.c). */
const char *human(uint64_t bytes, char buf[32]);

/* Draws the map of the heap's pages into path; 0, or -1 with errno set. */
int svg_write(const struct phstat *p, const char *path);

#endif /* PHSTAT_H */
