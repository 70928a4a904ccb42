/*
 * mm_reader.c -- exec'd by test_mmalloc: attaches the heap file argv[1]
 * with mmalloc_attach, expects it at address argv[2], finds the writer's
 * index through key 0 and checks every record; then frees the odd records,
 * leaves a note under key 1 and detaches.  Prints one line; exit 0 when
 * everything was found where it should be.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <phmalloc/mmalloc.h>

#include "compat.h"

static int fail(const char *what)
{
	fprintf(stderr, "mm_reader: %s\n", what);
	return 1;
}

int main(int argc, char **argv)
{
	if (argc != 3)
		return fail("usage: mm_reader FILE ADDRESS");
	void *want = (void *)(uintptr_t)strtoull(argv[2], NULL, 16);
	int fd = open(argv[1], O_RDWR);
	if (fd < 0)
		return fail("cannot open the heap file");
	void *md = mmalloc_attach(fd, NULL);
	close(fd);   /* the heap keeps what it needs */
	if (md == NULL)
		return fail("mmalloc_attach failed");
	if (md != want)
		return fail("heap attached at another address");
	struct idx *ix = mmalloc_getkey(md, KEY_INDEX);
	if (ix == NULL || ix->magic != IDX_MAGIC || ix->self != ix ||
	    ix->n != IDX_RECS)
		return fail("no index under key 0, or not at its address");
	for (unsigned i = 0; i < ix->n; i++) {
		struct rec *r = ix->recs[i];
		if (r == NULL || r->len != rec_len(i) || r->seed != 1000 + i ||
		    rec_find_bad(r) != SIZE_MAX)
			return fail("a record lost its contents");
	}
	for (unsigned i = 1; i < ix->n; i += 2) {
		mfree(md, ix->recs[i]);
		ix->recs[i] = NULL;
	}
	char *note = mmalloc(md, 64);
	if (note == NULL)
		return fail("mmalloc in the reader failed");
	snprintf(note, 64, "reader %ld was here", (long)getpid());
	if (mmalloc_setkey(md, KEY_READER, note) != 1)
		return fail("mmalloc_setkey failed");
	if (mmalloc_detach(md) != NULL)
		return fail("mmalloc_detach failed");
	printf("mm_reader: %u records checked at %p\n", IDX_RECS, md);
	return 0;
}
