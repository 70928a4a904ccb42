/*
 * mmalloc_demo.c -- a word index that survives between runs, written the
 * way a GNU mmalloc program is: the index lives in a heap mapped from a
 * file, key 0 finds it again, and its pointers stay valid because the heap
 * comes back at the address it was made at.
 *
 *   mmalloc_demo FILE      first run: builds the index in FILE
 *                          later runs: finds it, checks it, counts the run
 *
 * Scratch work goes to an anonymous heap (fd -1), the report to the
 * default heap (descriptor NULL).
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <phmalloc/mmalloc.h>

#define NBUCKETS 64

struct word {
	struct word *next;
	unsigned     count;
	char         text[];
};

struct index {
	unsigned     runs;
	unsigned     nwords;
	struct word *bucket[NBUCKETS];
};

static const char *const text[] = {
	"the", "heap", "lives", "in", "a", "file", "and", "the", "index",
	"lives", "in", "the", "heap", "so", "a", "later", "run", "finds",
	"every", "word", "where", "the", "first", "run", "left", "it",
};
#define NTEXT (sizeof(text) / sizeof(text[0]))

static unsigned hash(const char *s)
{
	unsigned h = 5381;
	while (*s)
		h = h * 33 + (unsigned char)*s++;
	return h % NBUCKETS;
}

static struct word *lookup(struct index *ix, const char *s)
{
	for (struct word *w = ix->bucket[hash(s)]; w != NULL; w = w->next)
		if (strcmp(w->text, s) == 0)
			return w;
	return NULL;
}

static int build(void *md, struct index *ix)
{
	for (size_t i = 0; i < NTEXT; i++) {
		struct word *w = lookup(ix, text[i]);
		if (w == NULL) {
			size_t len = strlen(text[i]) + 1;
			w = mmalloc(md, sizeof(*w) + len);
			if (w == NULL)
				return -1;
			memcpy(w->text, text[i], len);
			w->count = 0;
			w->next = ix->bucket[hash(text[i])];
			ix->bucket[hash(text[i])] = w;
			ix->nwords++;
		}
		w->count++;
	}
	return 0;
}

/* Counts the words again in an anonymous scratch heap and compares. */
static int verify(struct index *ix)
{
	void *scratch = mmalloc_attach(-1, NULL);
	if (scratch == NULL)
		return -1;
	struct index *again = mcalloc(scratch, 1, sizeof(*again));
	int bad = again == NULL || build(scratch, again) != 0 ||
	    again->nwords != ix->nwords;
	for (size_t i = 0; !bad && i < NTEXT; i++) {
		struct word *w = lookup(ix, text[i]);
		bad = w == NULL || w->count != lookup(again, text[i])->count;
	}
	if (mmalloc_detach(scratch) != NULL)
		bad = 1;
	return bad ? -1 : 0;
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: %s FILE\n", argv[0]);
		return 2;
	}
	int fd = open(argv[1], O_RDWR | O_CREAT, 0600);
	if (fd < 0) {
		perror(argv[1]);
		return 1;
	}
	void *md = mmalloc_attach(fd, NULL);
	if (md == NULL) {
		perror("mmalloc_attach");
		return 1;
	}
	struct index *ix = mmalloc_getkey(md, 0);
	const char *what = "found";
	if (ix == NULL) {
		what = "built";
		ix = mcalloc(md, 1, sizeof(*ix));
		if (ix == NULL || build(md, ix) != 0 ||
		    mmalloc_setkey(md, 0, ix) != 1) {
			fprintf(stderr, "cannot build the index: error %d\n",
			    mmalloc_errno(md));
			return 1;
		}
	}
	if (verify(ix) != 0) {
		fprintf(stderr, "the index does not match the text\n");
		return 1;
	}
	ix->runs++;
	struct word *the = lookup(ix, "the");
	char *line = mmalloc(NULL, 200);   /* the process's own heap */
	if (line == NULL || the == NULL)
		return 1;
	snprintf(line, 200, "%s %u words at %p, \"the\" %u times, run %u",
	    what, ix->nwords, (void *)ix, the->count, ix->runs);
	puts(line);
	mfree(NULL, line);
	if (mmalloc_detach(md) != NULL) {
		perror("mmalloc_detach");
		return 1;
	}
	close(fd);
	return 0;
}
