/*
 * svg.c -- phstat --svg: a map of a heap's pages.
 *
 * Pages are drawn as small square cells in rows of SVG_COLS, in address
 * order, coloured by what they hold; a heap with more pages than
 * SVG_COLS * SVG_MAX_ROWS gives each cell several pages and colours it by
 * the use of most of them (slabs by the average fill of theirs).  A title
 * says what the heap is, the row labels give the offset of each row's
 * first byte, and the legend on the right names every colour with its
 * page count.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "phstat.h"

#define SVG_COLS      128
#define SVG_MAX_ROWS  128
#define SVG_CELL      7       /* px, a cell's side */
#define SVG_PITCH     8       /* px, cell and gap */
#define SVG_LEFT      76      /* px, room for the row labels */
#define SVG_TOP       92      /* px, room for the title */
#define SVG_LEGEND_W  380
#define SVG_FILLS     4       /* slab fill shades: up to 25, 50, 75, 100% */

/* Colour keys: the uses, with slabs split by fill. */
enum key {
	KEY_META, KEY_FREE_CLEAN, KEY_FREE_DIRTY, KEY_UNBACKED,
	KEY_SLAB0, KEY_SLAB1, KEY_SLAB2, KEY_SLAB3, KEY_LARGE, KEY_LARGE_ALT,
	KEY_TCACHE, KEY_COUNT
};

static const struct {
	const char *fill, *stroke, *label;
} keys[KEY_COUNT] = {
	[KEY_META]       = { "#5f6368", NULL, "metadata (header, page map)" },
	[KEY_FREE_CLEAN] = { "#e3e6ea", NULL, "free, clean (reads as zero)" },
	[KEY_FREE_DIRTY] = { "#f5b942", NULL, "free, dirty (not purged)" },
	[KEY_UNBACKED]   = { "#ffffff", "#c4c8cc", "free, file not grown yet" },
	[KEY_SLAB0]      = { "#cdebc9", NULL, "slab, up to 25% used" },
	[KEY_SLAB1]      = { "#8ccf8f", NULL, "slab, 25-50% used" },
	[KEY_SLAB2]      = { "#3d9f55", NULL, "slab, 50-75% used" },
	[KEY_SLAB3]      = { "#17612f", NULL, "slab, 75-100% used" },
	[KEY_LARGE]      = { "#5b8bd9", NULL, "large block" },
	[KEY_LARGE_ALT]  = { "#2c5499", NULL, "large block (alternate shade)" },
	[KEY_TCACHE]     = { "#b455c9", NULL, "thread cache" },
};

struct cell {
	float n[USE_COUNT];   /* pages of each use */
	float fill;           /* sum of slab pages x their fill */
	float alt;            /* pages of every other large block */
};

struct map {
	struct cell *cells;
	uint64_t ncells, per;       /* cells, pages per cell */
	uint64_t keypages[KEY_COUNT];
	uint64_t nlarge;            /* large blocks so far: shades alternate */
};

static unsigned fill_bucket(double fill)
{
	unsigned b = fill <= 0.25 ? 0 : fill <= 0.5 ? 1 : fill <= 0.75 ? 2 : 3;
	return b;
}

static void map_run(void *arg, uint64_t first, uint64_t n, enum snap_use use,
                    double fill)
{
	struct map *m = arg;
	if (n == 0)
		return;
	static const enum key plain[USE_COUNT] = {
		[USE_META] = KEY_META, [USE_FREE_CLEAN] = KEY_FREE_CLEAN,
		[USE_FREE_DIRTY] = KEY_FREE_DIRTY, [USE_UNBACKED] = KEY_UNBACKED,
		[USE_LARGE] = KEY_LARGE, [USE_TCACHE] = KEY_TCACHE,
	};
	bool alt = use == USE_LARGE && (m->nlarge++ & 1);
	m->keypages[use == USE_SLAB ? KEY_SLAB0 + fill_bucket(fill) :
	    alt ? KEY_LARGE_ALT : plain[use]] += n;
	uint64_t end = first + n;
	for (uint64_t c = first / m->per; c < m->ncells && c * m->per < end;
	    c++) {
		uint64_t lo = c * m->per > first ? c * m->per : first;
		uint64_t hi = (c + 1) * m->per < end ? (c + 1) * m->per : end;
		m->cells[c].n[use] += (float)(hi - lo);
		if (use == USE_SLAB)
			m->cells[c].fill += (float)((double)(hi - lo) * fill);
		if (alt)
			m->cells[c].alt += (float)(hi - lo);
	}
}

/* A cell shows the main use of its used pages if it has any (so that a
 * small block in a mostly free stretch stays visible), else the main use
 * of all its pages. */
static enum key cell_key(const struct cell *c)
{
	static const enum snap_use used[] = { USE_SLAB, USE_LARGE, USE_TCACHE };
	unsigned best = USE_FREE_CLEAN;
	for (unsigned u = 0; u < USE_COUNT; u++)
		if (c->n[u] > c->n[best])
			best = u;
	unsigned main_used = USE_COUNT;
	for (unsigned i = 0; i < sizeof(used) / sizeof(used[0]); i++)
		if (c->n[used[i]] > 0 && (main_used == USE_COUNT ||
		    c->n[used[i]] > c->n[main_used]))
			main_used = used[i];
	if (main_used != USE_COUNT)
		best = main_used;
	switch (best) {
	case USE_META: return KEY_META;
	case USE_FREE_DIRTY: return KEY_FREE_DIRTY;
	case USE_UNBACKED: return KEY_UNBACKED;
	case USE_SLAB: return KEY_SLAB0 + fill_bucket(c->fill / c->n[USE_SLAB]);
	case USE_LARGE:
		return 2 * c->alt > c->n[USE_LARGE] ? KEY_LARGE_ALT : KEY_LARGE;
	case USE_TCACHE: return KEY_TCACHE;
	default: return KEY_FREE_CLEAN;
	}
}

static void xml_text(FILE *f, const char *s)
{
	for (; *s; s++) {
		switch (*s) {
		case '&': fputs("&amp;", f); break;
		case '<': fputs("&lt;", f); break;
		case '>': fputs("&gt;", f); break;
		case '"': fputs("&quot;", f); break;
		default:
			if ((unsigned char)*s >= 0x20)
				fputc(*s, f);
		}
	}
}

static void draw_title(FILE *f, const struct phstat *p, const struct map *m,
                       unsigned width)
{
	const struct snap *s = p->snap;
	const struct stats_snapshot *st = &p->stats;
	char a[32], b[32], c[32], d[32], e[32];
	fprintf(f, "<text x=\"16\" y=\"26\" class=\"title\">phmalloc heap ");
	xml_text(f, s->name);
	fprintf(f, "</text>\n");
	fprintf(f, "<text x=\"16\" y=\"46\">%s in %u pages of 4 KiB; each "
	    "cell is %" PRIu64 " page%s%s, each row %s; epoch %" PRIu64
	    ", %zu thread cache%s, %zu process%s</text>\n",
	    human(st->size, a), s->h->npages, m->per, m->per == 1 ? "" : "s",
	    m->per == 1 ? "" : " (shown by the main use of its used pages)",
	    human(m->per * SVG_COLS * PAGE, b), st->epoch, s->ntcaches,
	    s->ntcaches == 1 ? "" : "s", s->nprocs, s->nprocs == 1 ? "" : "es");
	fprintf(f, "<text x=\"16\" y=\"64\">allocated %s, free %s (largest run "
	    "%s), dirty %s, metadata %s</text>\n", human(st->allocated, a),
	    human(st->free, b), human(st->largest_free, c), human(st->dirty, d),
	    human(st->metadata, e));
	const char *warn = !s->consistent ? "snapshot inconsistent: the heap "
	    "changed while it was read" : p->checked && !p->check_ok ?
	    "check FAILED: " : NULL;
	if (warn != NULL) {
		fprintf(f, "<text x=\"16\" y=\"82\" class=\"warn\">%s", warn);
		if (s->consistent)
			xml_text(f, p->why);
		fprintf(f, "</text>\n");
	} else if (p->checked) {
		fprintf(f, "<text x=\"16\" y=\"82\" class=\"ok\">check: every "
		    "invariant holds</text>\n");
	}
	(void)width;
}

static void draw_legend(FILE *f, const struct map *m, unsigned x)
{
	char a[32];
	fprintf(f, "<text x=\"%u\" y=\"%u\" class=\"head\">legend (pages)"
	    "</text>\n", x, SVG_TOP + 8);
	for (unsigned k = 0; k < KEY_COUNT; k++) {
		unsigned y = SVG_TOP + 22 + k * 20;
		fprintf(f, "<rect x=\"%u\" y=\"%u\" width=\"14\" height=\"14\" "
		    "fill=\"%s\" stroke=\"%s\"/>\n", x, y, keys[k].fill,
		    keys[k].stroke ? keys[k].stroke : "#9aa0a6");
		fprintf(f, "<text x=\"%u\" y=\"%u\">%s: %" PRIu64 " (%s)</text>\n",
		    x + 22, y + 11, keys[k].label, m->keypages[k],
		    human(m->keypages[k] * PAGE, a));
	}
}

static int draw(FILE *f, const struct phstat *p, struct map *m)
{
	uint64_t rows = (m->ncells + SVG_COLS - 1) / SVG_COLS;
	unsigned gridw = SVG_COLS * SVG_PITCH;
	unsigned width = SVG_LEFT + gridw + 24 + SVG_LEGEND_W;
	unsigned legend_h = SVG_TOP + 40 + KEY_COUNT * 20;
	unsigned grid_h = SVG_TOP + 10 + (unsigned)rows * SVG_PITCH + 20;
	unsigned height = grid_h > legend_h ? grid_h : legend_h;
	char a[32];

	fprintf(f, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
	    "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%u\" "
	    "height=\"%u\" viewBox=\"0 0 %u %u\">\n", width, height, width,
	    height);
	fprintf(f, "<style>text { font-family: sans-serif; font-size: 12px; "
	    "fill: #202124; } .title { font-size: 17px; font-weight: bold; } "
	    ".head { font-weight: bold; } .lab { font-family: monospace; "
	    "font-size: 10px; fill: #5f6368; } .warn { fill: #c5221f; "
	    "font-weight: bold; } .ok { fill: #188038; }</style>\n");
	fprintf(f, "<rect width=\"100%%\" height=\"100%%\" fill=\"#ffffff\"/>\n");
	draw_title(f, p, m, width);

	unsigned y0 = SVG_TOP + 10;
	unsigned label_every = rows <= 32 ? 4 : 8;
	for (uint64_t r = 0; r < rows; r += label_every)
		fprintf(f, "<text x=\"%u\" y=\"%" PRIu64 "\" class=\"lab\" "
		    "text-anchor=\"end\">%s</text>\n", SVG_LEFT - 6,
		    y0 + r * SVG_PITCH + SVG_CELL, human(r * SVG_COLS * m->per *
		    PAGE, a));
	for (uint64_t c = 0; c < m->ncells; c++) {
		enum key k = cell_key(&m->cells[c]);
		fprintf(f, "<rect x=\"%" PRIu64 "\" y=\"%" PRIu64 "\" width=\"%u\" "
		    "height=\"%u\" fill=\"%s\"%s%s%s/>\n",
		    SVG_LEFT + (c % SVG_COLS) * SVG_PITCH,
		    y0 + (c / SVG_COLS) * SVG_PITCH, SVG_CELL, SVG_CELL,
		    keys[k].fill, keys[k].stroke ? " stroke=\"" : "",
		    keys[k].stroke ? keys[k].stroke : "",
		    keys[k].stroke ? "\"" : "");
	}
	draw_legend(f, m, SVG_LEFT + gridw + 24);
	fprintf(f, "</svg>\n");
	return 0;
}

int svg_write(const struct phstat *p, const char *path)
{
	const struct snap *s = p->snap;
	uint64_t npages = s->h->npages, max = SVG_COLS * SVG_MAX_ROWS;
	struct map m = { .per = (npages + max - 1) / max };
	m.ncells = (npages + m.per - 1) / m.per;
	m.cells = calloc(m.ncells, sizeof(*m.cells));
	if (m.cells == NULL)
		return -1;
	snap_walk(s, map_run, &m);
	FILE *f = fopen(path, "w");
	if (f == NULL) {
		free(m.cells);
		return -1;
	}
	draw(f, p, &m);
	free(m.cells);
	int bad = ferror(f);
	if (fclose(f) != 0 || bad) {
		if (errno == 0)
			errno = EIO;
		return -1;
	}
	return 0;
}
