/*
 * gen_seeds.c -- writes seed corpora for the fuzz targets from real heaps:
 *   DIR/image/    images of clean heaps and of heaps left by a process
 *                 killed with blocks in its thread cache (image_lib.h),
 *                 trimmed of their zero tail;
 *   DIR/snapshot/ the same images, with the leading byte fuzz_snapshot
 *                 reads (pad the file to the heap's size);
 *   DIR/ops/      a few operation streams.
 * Usage: gen_seeds DIR (the subdirectories must exist).
 */
#include "image_lib.h"

static unsigned char img[IMAGE_SIZE];

static void put(const char *dir, const char *name, const void *lead,
                size_t nlead, const void *p, size_t n)
{
	char path[4096];
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	FILE *f = fopen(path, "wb");
	if (f == NULL || fwrite(lead, 1, nlead, f) != nlead ||
	    fwrite(p, 1, n, f) != n || fclose(f) != 0) {
		perror(path);
		exit(1);
	}
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: gen_seeds DIR\n");
		return 2;
	}
	char dimg[4096], dsnap[4096], dops[4096];
	snprintf(dimg, sizeof(dimg), "%s/image", argv[1]);
	snprintf(dsnap, sizeof(dsnap), "%s/snapshot", argv[1]);
	snprintf(dops, sizeof(dops), "%s/ops", argv[1]);
	const unsigned char pad = 1;
	for (unsigned seed = 1; seed <= 3; seed++) {
		char name[64];
		for (int killed = 0; killed < 2; killed++) {
			if ((killed ? image_make_killed(img, seed) :
			    image_make_clean(img, seed)) != 0) {
				fprintf(stderr, "gen_seeds: cannot make a heap\n");
				return 1;
			}
			snprintf(name, sizeof(name), "%s-%u", killed ? "killed" :
			    "clean", seed);
			put(dimg, name, "", 0, img, image_trimmed(img));
			put(dsnap, name, &pad, 1, img, image_trimmed(img));
		}
	}
	/* op streams: allocate a spread of sizes, free half, realloc some */
	unsigned char ops[4 * 96];
	for (unsigned i = 0; i < 96; i++) {
		unsigned char *o = &ops[4 * i];
		o[0] = (unsigned char)((i < 32 ? 0 : i < 64 ? 4 : 2) |
		    (i % 5 == 0 ? 0x80 : 0));
		o[1] = (unsigned char)(i % 32);
		o[2] = (unsigned char)(i * 37);
		o[3] = (unsigned char)(i % 7 == 0 ? 0x81 : i % 3);
	}
	put(dops, "mix", "", 0, ops, sizeof(ops));
	return 0;
}
