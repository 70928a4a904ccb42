/*
 * vg_check.c -- misuse that memcheck must see through phmalloc's client
 * requests: a read after free, a write past the end of a block, a leak.
 * run.sh runs it under valgrind and checks the report.
 */
#include <stdio.h>
#include <string.h>

#include <phmalloc.h>

#define P_(n) PHMALLOC_FN(n)

int main(void)
{
	volatile char sink;
	char *p = P_(malloc)(32);
	memset(p, 1, 32);
	P_(free)(p);
	sink = p[5];                 /* read after free */

	char *r = P_(malloc)(24);    /* a 32-byte block; the next is unused */
	memset(r, 2, 32);
	r[32] = 3;                   /* one past the usable size */
	P_(free)(r);

	char *q = P_(malloc)(100);   /* never freed */
	q[0] = sink;
	q = NULL;

	char *big = P_(malloc)(100000);
	memset(big, 4, 100000);
	P_(free)(big);
	sink = big[4096];            /* large block, read after free */
	printf("done\n");
	return 0;
}
