#!/usr/bin/env python3
"""bench/report.py -- turn bench/run.sh's raw figures into bench/results.md
and a ratio plot bench/results.svg.  Standard library only.

raw.tsv rows: workload alloc round proc metric value hwm_kb
notes.tsv rows: kind text          meta.txt: key=value lines
"""
import argparse
import html
import math
import os
import re
import statistics
from collections import defaultdict

PROC = ["phmalloc", "glibc", "jemalloc", "mimalloc", "tcmalloc"]
SHARED = ["phmalloc", "boost", "mm"]
# W9: the map in a shared heap; glibc is std::allocator, nothing shared.
MAPS = ["phmalloc", "boost", "glibc"]
NAMES = {
    "phmalloc": "phmalloc",
    "glibc": "glibc",
    "jemalloc": "jemalloc",
    "mimalloc": "mimalloc",
    "tcmalloc": "tcmalloc",
    "boost": "Boost.Interprocess",
    "mm": "OSSP mm",
}
COLORS = {
    "phmalloc": "#d62728",
    "glibc": "#7f7f7f",
    "jemalloc": "#1f77b4",
    "mimalloc": "#2ca02c",
    "tcmalloc": "#9467bd",
    "boost": "#ff7f0e",
    "mm": "#8c564b",
}

# metric -> (unit, better, scale applied to the stored value)
METRICS = {
    "ns_per_pair": ("ns/pair", "lower", 1),
    "ir_per_pair": ("instructions/pair", "lower", 1),
    "mops_per_s": ("M ops/s", "higher", 1),
    "mblocks_per_s": ("M blocks/s", "higher", 1),
    "ms": ("ms", "lower", 1),
    "peak_rss_mib": ("MiB", "lower", 1),
    "rss_full_mib": ("MiB", "lower", 1),
    "rss_after_free_mib": ("MiB", "lower", 1),
    "rss_after_refill_mib": ("MiB", "lower", 1),
    "rss_end_mib": ("MiB", "lower", 1),
    "ops_per_s": ("M ops/s per process", "higher", 1e-6),
    "reset_ms": ("ms", "lower", 1),
    "free_each_ms": ("ms", "lower", 1),
    "recreate_ms": ("ms", "lower", 1),
    "alloc_first_ms": ("ms", "lower", 1),
    "alloc_after_reset_ms": ("ms", "lower", 1),
    "us_per_fork": ("µs/fork", "lower", 1),
    # under strace -f -c, one run: system calls per 1,000 malloc/free calls
    "sys_per_kop": ("system calls/1,000 ops", "lower", 1),
    "sigmask_per_kop": ("rt_sigprocmask/1,000 ops", "lower", 1),
    "sysmem_per_kop": ("memory calls/1,000 ops", "lower", 1),
    "futex_per_kop": ("futex/1,000 ops", "lower", 1),
    "yield_per_kop": ("sched_yield/1,000 ops", "lower", 1),
}

# The process-mode workloads, in report order, with their labels.
PROC_WORKLOADS = [
    ("pair16", "W1 pair 16 B"),
    ("fifo256", "W1 512 live FIFO 256 B"),
    ("ring", "W1 ring 1024 live"),
    ("larson", "W2 larson"),
    ("xmalloc", "W3 producer/consumer, batches"),
    ("scratch", "W4 cache-scratch"),
    ("sizemix", "W5 size mix"),
    ("frag", "W6 fragmentation"),
    ("fork", "W10 fork"),
    ("memalign", "W11 memalign-heavy"),
    ("classes", "W12 working set per class"),
    ("handoff", "W13 producer/consumer, single blocks"),
]

# The headline figures: (workload, metric, label); also the plot's rows.
HEADLINE = [
    ("ring", "ns_per_pair", "W1 ring 1024 live, 16–512 B: ns/pair"),
    ("ring", "ir_per_pair", "W1 ring: instructions/pair (callgrind)"),
    ("pair16", "ns_per_pair", "W1 pair 16 B: ns/pair"),
    ("fifo256", "ns_per_pair", "W1 512 live FIFO 256 B: ns/pair"),
    ("larson", "mops_per_s", "W2 larson, 2 threads: M ops/s"),
    ("xmalloc", "mblocks_per_s", "W3 producer/consumer: M blocks/s"),
    ("scratch", "ms", "W4 cache-scratch, 2 threads: ms"),
    ("sizemix", "ms", "W5 size mix + reallocs + large: ms"),
    ("frag", "peak_rss_mib", "W6 peak RSS: MiB"),
    ("frag", "rss_after_free_mib", "W6 RSS after freeing 90%: MiB"),
    ("fork", "us_per_fork", "W10 fork+malloc+exit+wait: µs"),
    ("memalign", "mops_per_s", "W11 memalign-heavy, 2 threads: M ops/s"),
    ("classes", "ns_per_pair", "W12 400–1600 live per class: ns/pair"),
    ("handoff", "mblocks_per_s", "W13 producer/consumer, single blocks: M blocks/s"),
    ("shared1", "ops_per_s", "W7 shared heap, 1 process: M ops/s"),
    ("shared2", "ops_per_s", "W7 shared heap, 2 processes: M ops/s each"),
    ("map1", "ops_per_s", "W9 hash map in a shared heap, 1 process: M ops/s"),
    ("map2", "ops_per_s", "W9 hash map, 2 processes: M ops/s each"),
]


def allocs_of(w):
    """The allocators that run workload w."""
    if w.startswith("shared"):
        return SHARED
    if w.startswith("map"):
        return MAPS
    return PROC


LABELS = {
    "peak_rss_mib": "peak RSS (VmHWM)",
    "rss_full_mib": "RSS when full",
    "rss_after_free_mib": "RSS after freeing 90%",
    "rss_after_refill_mib": "RSS after refilling",
    "rss_end_mib": "RSS after freeing all",
    "ms": "time",
}


def fmt(v):
    if v is None:
        return "–"
    a = abs(v)
    if a >= 1000:
        return f"{v:,.0f}"
    if a >= 100:
        return f"{v:.0f}"
    if a >= 10:
        return f"{v:.1f}"
    if a >= 1:
        return f"{v:.2f}"
    if a == 0:
        return "0"
    return f"{v:.3g}"


def fmt_ratio(r):
    if r is None:
        return "–"
    if r >= 100:
        return f"×{r:.0f}"
    if r >= 10:
        return f"×{r:.1f}"
    return f"×{r:.2f}"


class Data:
    def __init__(self, raw_path, notes_path, meta_path):
        # (workload, metric, alloc) -> round -> [values of the processes]
        self.vals = defaultdict(lambda: defaultdict(list))
        self.hwm = defaultdict(list)  # (workload, alloc) -> [kB]
        for line in open(raw_path, encoding="utf-8"):
            f = line.rstrip("\n").split("\t")
            if len(f) < 6:
                continue
            w, a, r, _p, m, v = f[:6]
            h = f[6] if len(f) > 6 else ""
            try:
                val = float(v) * METRICS.get(m, ("", "", 1))[2]
            except ValueError:
                continue
            self.vals[(w, m, a)][r].append(val)
            if h:
                try:
                    self.hwm[(w, a)].append(float(h))
                except ValueError:
                    pass
        self.notes = []
        self.reasons = {}  # (workload, alloc) -> reason
        for line in open(notes_path, encoding="utf-8"):
            kind, _, text = line.rstrip("\n").partition("\t")
            self.notes.append((kind, text))
            m = re.match(r"(\S+) (\S+) round \d+: (.*)", text)
            if kind == "failed" and m:
                w = m.group(1)
                if w.startswith("cg_"):
                    w = "cg:" + w[3:]
                self.reasons[(w, m.group(2))] = m.group(3).strip(" ;")
            m = re.match(r"([^:]+): (.*)", text)
            if kind == "unavailable" and m:
                self.reasons[("*", m.group(1))] = m.group(2)
        self.meta = {}
        for line in open(meta_path, encoding="utf-8"):
            k, _, v = line.rstrip("\n").partition("=")
            if k in self.meta:
                self.meta[k] += "\n" + v
            else:
                self.meta[k] = v

    def samples(self, w, m, a):
        """One value per round: the mean over the processes of that round."""
        rounds = self.vals.get((w, m, a))
        if not rounds:
            return []
        return [sum(v) / len(v) for _, v in sorted(rounds.items())]

    def median(self, w, m, a):
        s = self.samples(w, m, a)
        return statistics.median(s) if s else None

    def spread(self, w, m, a):
        s = self.samples(w, m, a)
        if not s:
            return "–"
        if len(s) == 1:
            return "1 run"
        return f"{fmt(min(s))}–{fmt(max(s))}"

    def peak_mib(self, w, a):
        h = self.hwm.get((w, a))
        return statistics.median(h) / 1024 if h else None

    def base(self, w, m, allocs):
        """The allocator the ratios of a figure refer to: phmalloc when it
        has the figure, else the first peer that has it."""
        for a in ["phmalloc"] + [x for x in allocs if x != "phmalloc"]:
            if self.median(w, m, a) is not None:
                return a
        return None

    def ratio(self, w, m, a, allocs):
        b = self.base(w, m, allocs)
        v, bv = self.median(w, m, a), (self.median(w, m, b) if b else None)
        if v is None or not bv:
            return None, b
        return v / bv, b

    def why(self, w, a, shared=False):
        r = self.reasons.get((w, a))
        if r:
            return r
        if shared and a == "phmalloc":
            r = self.reasons.get(("*", "phmalloc shared"))
        else:
            r = self.reasons.get(("*", a)) or self.reasons.get(("*", NAMES[a]))
        return r or "not run"


def ratio_head(d, w, m, allocs):
    b = d.base(w, m, allocs)
    if b in (None, "phmalloc"):
        return "× phmalloc"
    return f"× {NAMES[b]} †"


def sys_cell(d, w, a):
    """System calls per 1,000 operations: "total (rt_sigprocmask N)"."""
    t = d.median(w, "sys_per_kop", a)
    if t is None:
        return "–"
    m = d.median(w, "sigmask_per_kop", a)
    return f"{fmt(t)} (rt_sigprocmask {fmt(m)})"


SYS_HEAD = "system calls / 1,000 ops (strace, 1 run)"


def table_single(d, w, metrics, allocs, extra_ir=None, show_peak=True):
    """One table for a workload: allocator x (median, spread, ratio) per
    metric, then peak RSS."""
    head = ["allocator"]
    for m in metrics:
        unit, better, _ = METRICS[m]
        head += [f"{unit} median ({better} is better)", "spread (min–max)",
                 ratio_head(d, w, m, allocs)]
    if extra_ir:
        head += ["instructions/pair (callgrind)", ratio_head(d, extra_ir, "ir_per_pair", allocs)]
    if show_peak:
        head.append("peak RSS, MiB")
    show_sys = any(d.median(w, "sys_per_kop", a) is not None for a in allocs)
    if show_sys:
        head.append(SYS_HEAD)
    rows = []
    for a in allocs:
        have = any(d.median(w, m, a) is not None for m in metrics)
        if not have:
            rows.append([NAMES[a], f"not available ({d.why(w, a, allocs is SHARED)})"]
                        + [""] * (len(head) - 2))
            continue
        row = [NAMES[a]]
        for m in metrics:
            r, _ = d.ratio(w, m, a, allocs)
            row += [fmt(d.median(w, m, a)), d.spread(w, m, a), fmt_ratio(r)]
        if extra_ir:
            r, _ = d.ratio(extra_ir, "ir_per_pair", a, allocs)
            v = d.median(extra_ir, "ir_per_pair", a)
            if v is None and ("cg:" + extra_ir, a) in d.reasons:
                cell = f"– ({d.why('cg:' + extra_ir, a)})"
            else:
                cell = fmt(v)
            row += [cell, fmt_ratio(r)]
        if show_peak:
            row.append(fmt(d.peak_mib(w, a)))
        if show_sys:
            row.append(sys_cell(d, w, a))
        rows.append(row)
    return md_table(head, rows)


def table_compact(d, w, metrics, allocs):
    """One table, one column per metric: median (min–max) ×ratio."""
    head = ["allocator"]
    for m in metrics:
        unit, better, _ = METRICS[m]
        head.append(f"{LABELS.get(m, m)}, {unit}: median (min–max) "
                    f"{ratio_head(d, w, m, allocs)}")
    show_sys = any(d.median(w, "sys_per_kop", a) is not None for a in allocs)
    if show_sys:
        head.append(SYS_HEAD)
    rows = []
    for a in allocs:
        if all(d.median(w, m, a) is None for m in metrics):
            rows.append([NAMES[a], f"not available ({d.why(w, a)})"] + [""] * (len(head) - 2))
            continue
        row = [NAMES[a]]
        for m in metrics:
            r, _ = d.ratio(w, m, a, allocs)
            row.append(f"{fmt(d.median(w, m, a))} ({d.spread(w, m, a)}) {fmt_ratio(r)}")
        if show_sys:
            row.append(sys_cell(d, w, a))
        rows.append(row)
    return md_table(head, rows)


def md_table(head, rows):
    out = ["| " + " | ".join(head) + " |",
           "|" + "|".join("---" for _ in head) + "|"]
    for r in rows:
        out.append("| " + " | ".join(str(c).replace("|", "\\|") for c in r) + " |")
    return "\n".join(out) + "\n"


def headline(d):
    cols = PROC + ["boost", "mm"]
    head = ["figure", "better"] + [NAMES[a] for a in cols]
    rows = []
    dagger = False
    for w, m, label in HEADLINE:
        allocs = allocs_of(w)
        b = d.base(w, m, allocs)
        row = [label, METRICS[m][1]]
        for a in cols:
            if a not in allocs:
                row.append("")
                continue
            v = d.median(w, m, a)
            if v is None:
                row.append("n/a")
                continue
            r, _ = d.ratio(w, m, a, allocs)
            mark = "†" if b != "phmalloc" else ""
            dagger = dagger or bool(mark)
            row.append(f"{fmt(v)} ({fmt_ratio(r)}{mark})" if a != b else f"**{fmt(v)}**")
        rows.append(row)
    t = md_table(head, rows)
    t += ("\nEach cell: median (ratio to phmalloc's median in the same run; "
          "ratio = figure ÷ phmalloc's figure, so for \"higher is better\" rows a "
          "ratio below 1 means the peer is slower). Bold: the reference.\n")
    if dagger:
        t += ("† phmalloc has no figure in that row (see Notes), so the ratios "
              "there refer to the bold allocator instead.\n")
    return t


def uncached_table(d):
    """W1u: the 16 B pair without a thread cache (tcache:false), beside each
    allocator's own cached pair."""
    s = ["\n### the pair of 16 B without a thread cache (W1u)\n",
         "The same driver with `PHMALLOC_CONF=tcache:false` (phmalloc: every "
         "malloc and free takes its arena's lock, as the jemalloc fork's "
         "`--disable-tcache` line and `MALLOCX_TCACHE_NONE` do) and "
         "`MALLOC_CONF=tcache:false` (jemalloc); each ratio is to the same "
         "allocator's cached pair above.\n"]
    rows = []
    for a in ("phmalloc", "jemalloc"):
        v, c = d.median("pair16u", "ns_per_pair", a), d.median("pair16", "ns_per_pair", a)
        iv, ic = d.median("pair16u", "ir_per_pair", a), d.median("pair16", "ir_per_pair", a)
        if v is None and iv is None:
            continue
        rows.append([a, fmt(v) if v is not None else "–", d.spread("pair16u", "ns_per_pair", a),
                     f"×{v / c:.2f}" if v is not None and c else "–",
                     fmt(iv) if iv is not None else "–",
                     f"×{iv / ic:.2f}" if iv is not None and ic else "–"])
    if not rows:
        return "\n### the pair of 16 B without a thread cache (W1u)\n\nnot run\n"
    s.append(md_table(["allocator", "ns/pair median (lower is better)", "spread (min–max)",
                       "× its cached pair", "instructions/pair (callgrind)",
                       "× its cached pair"], rows))
    return "\n".join(s)


def reset_table(d):
    methods = [
        ("phmalloc", "reset_ms", "phmalloc: ph_heap_reset"),
        ("phmalloc", "free_each_ms", "phmalloc: ph_heap_free one by one"),
        ("boost", "free_each_ms", "Boost.Interprocess: deallocate one by one"),
        ("boost", "recreate_ms", "Boost.Interprocess: destroy + remove + re-create the segment"),
    ]
    base = d.median("reset", "reset_ms", "phmalloc")
    base_name = "× ph_heap_reset"
    if base is None:
        base = d.median("reset", "recreate_ms", "boost")
        base_name = "× Boost re-create †"
    rows = []
    for a, m, label in methods:
        v = d.median("reset", m, a)
        if v is None:
            rows.append([label, f"not available ({d.why('reset', a, True)})", "", ""])
            continue
        rows.append([label, fmt(v), d.spread("reset", m, a),
                     fmt_ratio(v / base) if base else "–"])
    t = md_table(["how the heap is emptied", "ms median (lower is better)",
                  "spread (min–max)", base_name], rows)
    rows = []
    for a in ("phmalloc", "boost"):
        rows.append([NAMES[a], fmt(d.median("reset", "alloc_first_ms", a)),
                     d.spread("reset", "alloc_first_ms", a),
                     fmt(d.median("reset", "alloc_after_reset_ms", a)),
                     d.spread("reset", "alloc_after_reset_ms", a),
                     fmt(d.peak_mib("reset", a))])
    t += ("\nFor scale, the time to allocate the blocks (ms), into a fresh heap "
          "and again after emptying it:\n\n")
    t += md_table(["allocator", "first fill", "spread", "fill after reset/re-create",
                   "spread", "peak RSS, MiB"], rows)
    if base_name.endswith("†"):
        t += "\n† ph_heap_reset has no figure (see Notes); ratios refer to the Boost re-create.\n"
    return t


def map_table(d):
    head = ["allocator"]
    for np in (1, 2):
        head += [f"{np} process{'es' if np > 1 else ''}: M ops/s per process (higher is better)",
                 "spread (min–max)", ratio_head(d, f"map{np}", "ops_per_s", MAPS)]
    head += ["2 processes ÷ 1 (per process)", "peak RSS per process, MiB"]
    label = {"phmalloc": "phmalloc: std::unordered_map, ph::shared_allocator",
             "boost": "Boost.Interprocess: boost::unordered_map, bip::allocator",
             "glibc": "glibc: std::unordered_map, std::allocator (not shared)"}
    rows = []
    for a in MAPS:
        v1, v2 = d.median("map1", "ops_per_s", a), d.median("map2", "ops_per_s", a)
        if v1 is None and v2 is None:
            rows.append([label[a], f"not available ({d.why('map1', a)})"]
                        + [""] * (len(head) - 2))
            continue
        row = [label[a]]
        for np, v in ((1, v1), (2, v2)):
            r, _ = d.ratio(f"map{np}", "ops_per_s", a, MAPS)
            row += [fmt(v), d.spread(f"map{np}", "ops_per_s", a), fmt_ratio(r)]
        row.append(fmt(v2 / v1) if v1 and v2 else "–")
        row.append(fmt(d.peak_mib("map1", a)))
        rows.append(row)
    return md_table(head, rows)


def shared_table(d):
    head = ["allocator"]
    for np in (1, 2):
        head += [f"{np} process{'es' if np > 1 else ''}: M ops/s per process (higher is better)",
                 "spread (min–max)", ratio_head(d, f"shared{np}", "ops_per_s", SHARED)]
    head += ["2 processes ÷ 1 (per process)", "peak RSS per process, MiB"]
    rows = []
    for a in SHARED:
        v1, v2 = d.median("shared1", "ops_per_s", a), d.median("shared2", "ops_per_s", a)
        if v1 is None and v2 is None:
            rows.append([NAMES[a], f"not available ({d.why('shared1', a, True)})"]
                        + [""] * (len(head) - 2))
            continue
        row = [NAMES[a]]
        for np, v in ((1, v1), (2, v2)):
            r, _ = d.ratio(f"shared{np}", "ops_per_s", a, SHARED)
            row += [fmt(v), d.spread(f"shared{np}", "ops_per_s", a), fmt_ratio(r)]
        row.append(fmt(v2 / v1) if v1 and v2 else "–")
        row.append(fmt(d.peak_mib("shared1", a)))
        rows.append(row)
    return md_table(head, rows)


def sys_tables(d):
    """System calls per 1,000 operations: a workload x allocator summary
    (total, rt_sigprocmask), then every figure, then the start-up alone."""
    have = [(w, label) for w, label in PROC_WORKLOADS
            if any(d.median(w, "sys_per_kop", a) is not None for a in PROC)]
    if not have:
        return "Not measured in this run (BENCH_ONLY without `sys`, or see Notes).\n"
    head = ["workload"] + [f"{NAMES[a]}: total (rt_sigprocmask)" for a in PROC]
    rows = []
    for w, label in have:
        row = [label]
        for a in PROC:
            if d.median(w, "sys_per_kop", a) is None:
                why = d.reasons.get(("sys_" + w, a))
                row.append(f"n/a ({why})" if why else "n/a")
            else:
                row.append(f"{fmt(d.median(w, 'sys_per_kop', a))} "
                           f"({fmt(d.median(w, 'sigmask_per_kop', a))})")
        rows.append(row)
    t = md_table(head, rows)
    t += ("\nEvery system call of the process per 1,000 operations: total, and in "
          "brackets rt_sigprocmask alone. Below, the same runs by kind: memory "
          "(mmap, munmap, mremap, madvise, brk, mprotect), futex, sched_yield (W3 "
          "and W13 yield while their ring is full or empty: that is the driver "
          "waiting, not the allocator), and what the run made in all.\n\n")
    rows = []
    for w, label in have:
        for a in PROC:
            v = d.median(w, "sys_per_kop", a)
            if v is None:
                continue
            rows.append([label, NAMES[a], fmt(v),
                         fmt(d.median(w, "sigmask_per_kop", a)),
                         fmt(d.median(w, "sysmem_per_kop", a)),
                         fmt(d.median(w, "futex_per_kop", a)),
                         fmt(d.median(w, "yield_per_kop", a)),
                         f"{d.median(w, 'sys_calls', a):,.0f}",
                         f"{d.median(w, 'alloc_ops', a):,.0f}"])
    t += md_table(["workload", "allocator", "total / 1,000 ops", "rt_sigprocmask",
                   "memory", "futex", "sched_yield", "system calls in the run",
                   "operations in the run"], rows)
    rows = []
    for a in PROC:
        v = d.median("startup", "sys_calls", a)
        if v is not None:
            rows.append([NAMES[a], f"{v:,.0f}",
                         f"{d.median('startup', 'sigmask_calls', a) or 0:,.0f}"])
    if rows:
        t += ("\nStart-up alone (`phb info`: load, resolve malloc, print a line, exit), "
              "counted in every figure above:\n\n")
        t += md_table(["allocator", "system calls", "rt_sigprocmask"], rows)
    return t


# ---------------------------------------------------------------------- plot

def plot_svg(d, path):
    """Horizontal bars, log scale: each peer's cost relative to phmalloc
    (time ratio for lower-is-better figures, inverse for higher-is-better),
    so a bar right of 1 means phmalloc is better on that figure."""
    groups = []
    for w, m, label in HEADLINE:
        allocs = allocs_of(w)
        b = d.base(w, m, allocs)
        if b is None:
            continue
        bars = []
        for a in allocs:
            if a == b:
                continue
            r, _ = d.ratio(w, m, a, allocs)
            if r is None or r <= 0:
                continue
            cost = r if METRICS[m][1] == "lower" else 1 / r
            bars.append((a, cost))
        if bars:
            groups.append((label + ("" if b == "phmalloc" else f" (vs {NAMES[b]})"), bars))
    lo, hi = -7, 7  # log2 range: 1/128 .. 128
    left, width, bar_h, gap, top = 330, 620, 11, 14, 70
    height = top + sum(len(g[1]) * bar_h + gap for g in groups) + 60
    x_of = lambda c: left + (min(max(math.log2(c), lo), hi) - lo) / (hi - lo) * width
    o = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{left + width + 90}" '
         f'height="{height}" font-family="sans-serif" font-size="11">',
         '<rect width="100%" height="100%" fill="white"/>',
         '<text x="10" y="20" font-size="14" font-weight="bold">phmalloc benchmarks: '
         'each peer\'s cost relative to phmalloc (log scale)</text>',
         '<text x="10" y="38">right of 1: phmalloc is better by that factor; left of 1: '
         'the peer is better. Time ratio, or inverse throughput/memory ratio.</text>']
    if not groups:
        o.append('<text x="10" y="60">No figure to plot in this run.</text>')
    for e in range(lo, hi + 1):
        x = x_of(2.0 ** e)
        o.append(f'<line x1="{x:.1f}" y1="{top - 8}" x2="{x:.1f}" y2="{height - 45}" '
                 f'stroke="{"#000" if e == 0 else "#ddd"}" stroke-width="1"/>')
        lab = f"{2 ** e}" if e >= 0 else f"1/{2 ** -e}"
        o.append(f'<text x="{x:.1f}" y="{height - 32}" text-anchor="middle">{lab}</text>')
    y = top
    for label, bars in groups:
        gh = len(bars) * bar_h
        o.append(f'<text x="{left - 8}" y="{y + gh / 2 + 4:.1f}" text-anchor="end">'
                 f'{html.escape(label)}</text>')
        for a, c in bars:
            x0, x1 = x_of(1.0), x_of(c)
            xa, xb = min(x0, x1), max(x0, x1)
            o.append(f'<rect x="{xa:.1f}" y="{y}" width="{max(xb - xa, 1):.1f}" '
                     f'height="{bar_h - 2}" fill="{COLORS[a]}"><title>{NAMES[a]}: '
                     f'{c:.3g}</title></rect>')
            clip = "»" if math.log2(c) > hi else ("«" if math.log2(c) < lo else "")
            if c >= 1:
                tx, anchor = xb + 3, "start"
            elif xa - 40 > left:
                tx, anchor = xa - 3, "end"
            else:  # no room left of the bar: write inside it
                tx, anchor = xa + 3, "start"
            o.append(f'<text x="{tx:.1f}" y="{y + bar_h - 3}" font-size="9" '
                     f'text-anchor="{anchor}">{c:.2g}{clip}</text>')
            y += bar_h
        y += gap
    lx = 10
    for a in PROC[1:] + ["boost", "mm"]:
        o.append(f'<rect x="{lx}" y="{height - 20}" width="10" height="10" fill="{COLORS[a]}"/>')
        o.append(f'<text x="{lx + 14}" y="{height - 11}">{NAMES[a]}</text>')
        lx += 30 + 7 * len(NAMES[a])
    o.append("</svg>")
    with open(path, "w", encoding="utf-8") as f:
        f.write("\n".join(o) + "\n")


# -------------------------------------------------------------------- report

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--raw", required=True)
    ap.add_argument("--notes", required=True)
    ap.add_argument("--meta", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--svg", required=True)
    o = ap.parse_args()
    d = Data(o.raw, o.notes, o.meta)
    M = d.meta.get
    plot_svg(d, o.svg)
    svgname = os.path.relpath(o.svg, os.path.dirname(os.path.abspath(o.out)))

    s = []
    s.append("# phmalloc benchmark results\n")
    s.append("Generated by `make bench` (bench/run.sh, bench/report.py) on "
             f"{M('date', '?')}; do not edit by hand. "
             f"{'**Quick run** (BENCH_QUICK=1): ' if M('quick', '0') not in ('', '0') else ''}"
             f"{M('rounds', '?')} rounds per figure, work scale {M('scale', '?')}, "
             f"run time {M('duration_s', '?')} s.\n")
    s.append("## Machine\n")
    s.append(md_table(["", ""], [
        ["CPU", f"{M('cpu', '?')}, nproc {M('nproc', '?')}, {M('memory', '?')}"],
        ["kernel", M("kernel", "?")],
        ["compiler", M("gcc", "?")],
        ["glibc", M("glibc", "?")],
        ["peers (Debian)", ", ".join(f"{p} {M('pkg_' + p) or 'missing'}" for p in
                                     ["libjemalloc2", "libmimalloc2.0", "libtcmalloc-minimal4",
                                      "libboost-dev", "libmm-dev", "valgrind", "strace"])],
        ["phmalloc", f"{M('phmalloc_version', '?')}, commit {M('phmalloc_commit', '?')}, "
                     f"configured `{(M('phmalloc_configure') or '').strip() or 'default'}`, "
                     f"prefix '{M('phmalloc_prefix', '?')}'; process mode: the drop-in "
                     f"build .libs/libphdropin.so"],
    ]))
    s.append("\n## Headline\n")
    s.append(headline(d))
    s.append(f"\n![each peer's cost relative to phmalloc]({svgname})\n")
    s.append(f"\nPlot: [{svgname}]({svgname}) — each peer's cost relative to phmalloc, "
             "log scale; right of 1 means phmalloc is better.\n")

    notes = [t for k, t in d.notes]
    if notes:
        s.append("\n## Notes: what did not run\n")
        for k, t in d.notes:
            s.append(f"- {k}: {t}")
        s.append("")

    s.append("\n## Method\n")
    s.append(
        "Process mode: one driver binary (bench/phb.c, plain malloc/free) run under "
        "`LD_PRELOAD` of each allocator's library (none for glibc; phmalloc's drop-in "
        "build for phmalloc); before anything runs, the harness checks with `dladdr` "
        "that `malloc` really resolves into the preloaded library. Every run is a "
        "fresh process. For each figure the allocators run interleaved, A B C … A B C …, "
        "the order rotated each round; the tables give the median over the rounds, the "
        "spread (min–max) and the ratio of the median to phmalloc's median in the same "
        "run. Peak RSS is VmHWM of the driver process (median over rounds). "
        "Instruction counts come from one run under `valgrind --tool=callgrind "
        "--toggle-collect=phb_measured` (1,000,000 pairs after a warm-up; callgrind is "
        "deterministic, so one run suffices) and include about 10 instructions of loop, "
        "the PLT calls and writing one byte to each block. This machine is shared and "
        "noisy: differences under ~10% in time are not significant.\n")

    s.append("\n## W1 — single thread, small objects\n")
    s.append("Each step frees one block and allocates one; one byte of each new block "
             "is written. 20 M measured pairs after 2 M warm-up pairs (× scale).\n")
    for w, title in (("ring", "ring of 1024 live blocks, sizes 16–512 B uniformly random"),
                     ("pair16", "pair of 16 B: malloc then free at once"),
                     ("fifo256", "512 live blocks of 256 B, freed in FIFO order")):
        s.append(f"\n### {title}\n")
        s.append(table_single(d, w, ["ns_per_pair"], PROC, extra_ir=w))

    s.append(uncached_table(d))

    s.append("\n## W2 — larson-style server mix\n")
    s.append("2 threads; each owns an array of 5000 blocks of 8–1000 B and replaces a "
             "random one per step (free + malloc); after every 100,000 steps the threads "
             "swap arrays, so each frees blocks the other allocated. 100 rounds × 2 "
             "threads × 100,000 steps (× scale); M ops/s = steps per second.\n\n")
    s.append(table_single(d, "larson", ["mops_per_s"], PROC))

    s.append("\n## W3 — producer/consumer cross-thread frees (xmalloc-style)\n")
    s.append("One thread allocates 3 M blocks of 16–512 B (× scale) in batches of 1024 "
             "and hands each batch through a ring of 8 batch slots to a second thread, "
             "which reads and frees the blocks: every free is remote.\n\n")
    s.append(table_single(d, "xmalloc", ["mblocks_per_s"], PROC))

    s.append("\n## W4 — false sharing (cache-scratch)\n")
    s.append("The main thread allocates two 8 B objects back to back and hands one to "
             "each of 2 threads; each frees it, then 1000 times allocates an 8 B object, "
             "writes it 20,000 × 8 times (× scale) and frees it. An allocator that gives "
             "a thread the freed neighbour of the other thread's object makes them share "
             "a cache line.\n\n")
    s.append(table_single(d, "scratch", ["ms"], PROC))

    s.append("\n## W5 — size mix, growing reallocs, large blocks\n")
    s.append("30,000 steps (× scale) over 64 slots: 70% a small block of 16–4096 B; 25% "
             "a vector grown by realloc ×1.5 from 64 B to 4 KiB–1 MiB, filling the new "
             "part each time; 5% a large block of 64 KiB–16 MiB (about log-uniform) with "
             "every page touched.\n\n")
    s.append(table_single(d, "sizemix", ["ms"], PROC))

    s.append("\n## W6 — fragmentation and memory\n")
    s.append("Allocate 128 MiB (× scale) of 16–2048 B blocks; free 90% of them, keeping "
             "every tenth so that most pages keep a live block; refill half the allocated "
             "volume with 1–8 KiB blocks; free everything. RSS (VmRSS) is read after each "
             "phase, peak RSS is VmHWM; all lower is better.\n\n")
    s.append(table_compact(d, "frag", ["peak_rss_mib", "rss_full_mib", "rss_after_free_mib",
                                       "rss_after_refill_mib", "rss_end_mib", "ms"], PROC))

    s.append("\n## W10 — fork\n")
    s.append("A process holding 2,000 live blocks of 16–8008 B, and the caches of 3 "
             "threads that allocated and ended, forks 2,000 times (× scale); each child "
             "mallocs 100 B, writes it, frees it and exits; the parent waits for it. "
             "What the allocator's at-fork work costs both processes.\n\n")
    s.append(table_single(d, "fork", ["us_per_fork"], PROC))

    s.append("\n## W11 — memalign-heavy small blocks (rptest-like)\n")
    s.append("2 threads; each keeps a ring of 64 live blocks of 16–512 B and replaces the "
             "oldest per step (free + allocation); half the allocations are "
             "`memalign(8, 16, 32 or 64, size)`, half `malloc(size)`, and every aligned "
             "address is checked. Blocks live 64 steps: short-lived, a small working set. "
             "10 M steps per thread (× scale); M ops/s = steps per second, both threads.\n\n")
    s.append(table_single(d, "memalign", ["mops_per_s"], PROC))

    s.append("\n## W12 — a large working set in every size class (glibc-simple-like)\n")
    s.append("One thread; 14 size classes from 16 B to 2 KiB are all live at once, "
             "400–1600 blocks each (13,400 in all). Each step takes one class, "
             "frees all its blocks (in allocation order, or in reverse on odd passes) "
             "and allocates them again: far more blocks of a size than a thread cache "
             "holds. 20 M pairs (× scale) after one pass of warm-up; ns per free + "
             "malloc pair.\n\n")
    s.append(table_single(d, "classes", ["ns_per_pair"], PROC))

    s.append("\n## W13 — producer/consumer, single blocks (xmalloc-like)\n")
    s.append("One thread allocates 3 M blocks of 16–4096 B (× scale) and writes them "
             "one at a time into a ring of 4096 slots, publishing its position every 32 "
             "blocks; a second thread reads and frees each block as soon as it is "
             "published. Unlike W3's batches of 1024, the remote frees land while the "
             "producer is still carving the same pages, and fewer than 4096 blocks are "
             "in flight.\n\n")
    s.append(table_single(d, "handoff", ["mblocks_per_s"], PROC))

    s.append("\n## System calls per 1,000 operations\n")
    s.append("Each process-mode workload run once per allocator under "
             "`strace -f -c` (every thread and fork child counted), at work scale "
             f"{M('sys_scale', '?')} (strace makes each system call cost tens of "
             "microseconds), divided by the malloc, free, realloc and memalign calls "
             "the run made (the driver prints that count; set-up, warm-up and clean-up "
             "included). Not timed; a count is a count, but in the threaded workloads "
             "how often threads meet on a lock (futex) or wait on the ring "
             "(sched_yield) depends on scheduling, which strace changes. W4 makes only "
             "about 4,000 operations, so its figure is mostly start-up and thread "
             "creation; W10's includes the forks, waits and exits.\n\n")
    s.append(sys_tables(d))

    s.append("\n## W7 — shared heap, separately started processes\n")
    s.append(f"A ring of 1024 live blocks of 16–512 B per process, run for "
             f"{M('shm_ms', '?')} ms by 1 or 2 processes at once in one heap of "
             "256 MiB. phmalloc: `ph_heap_open(\"/name\", base, size, "
             "PH_HEAP_CREATE|PH_HEAP_EXCL|PH_HEAP_SHARED)` by a creator process, then "
             "each worker is exec'd separately and joins with `ph_heap_open(\"/name\", "
             "NULL, 0, PH_HEAP_SHARED)`; Boost.Interprocess: `managed_shared_memory` "
             "created, then opened `open_only` by each exec'd worker; OSSP mm can only "
             "be shared with fork children, so one parent creates the pool and forks "
             "the workers. Workers start their timed loops at the same instant.\n\n")
    s.append(shared_table(d))

    s.append(f"\n## W8 — emptying a heap with {int(float(M('reset_blocks', '1000000'))):,} "
             "live blocks\n")
    s.append("The blocks are 16–256 B, in a 512 MiB POSIX shm heap. phmalloc: "
             f"{M('reset_heap', 'ph_heap_open on POSIX shm')}.\n\n")
    s.append(reset_table(d))

    s.append("\n## W9 — a hash map in a shared heap\n")
    s.append("Each process keeps its own map of 16,384 random 64-bit keys in one "
             "256 MiB shared heap (each process's map object is in the heap too); "
             "each step erases the oldest key, inserts a new random one and looks up "
             "a random live one: M ops/s counts all three, two of which free or "
             "allocate a node. Same loop (bench/phb_map.h) and same hash for every "
             f"allocator; {M('shm_ms', '?')} ms per run, processes started separately "
             "as in W7. phmalloc: `std::unordered_map` with `ph::shared_allocator` "
             "(bench/phb_phmap.cc); Boost.Interprocess: `boost::unordered_map` with "
             "`boost::interprocess::allocator` in `managed_shared_memory` "
             "(`std::unordered_map` keeps raw pointers, which Boost's offset_ptr "
             "allocator does not give it; Boost's node pools do not build with "
             "`boost::unordered_map`); glibc: `std::unordered_map` with "
             "`std::allocator` in private memory, the speed of the same map when "
             "nothing is shared.\n\n")
    s.append(map_table(d))

    s.append("\n## How to run\n")
    s.append("```sh\n"
             "mkdir -p /tmp/bb && cd /tmp/bb\n"
             "/work/main/configure --enable-private-heap   # or any configuration\n"
             "make -j2\n"
             "make bench                  # full run, about 5–15 min on 2 cores\n"
             "BENCH_QUICK=1 make bench    # 3 rounds, a quarter of the work, < 2 min\n"
             "```\n\n"
             "`make bench` builds libphmalloc.la, the drop-in libphdropin.la and the drivers "
             "(EXTRA_PROGRAMS in bench/local.mk), installs missing peer packages with "
             "apt-get when run as root (or names them), and writes this file and "
             f"{svgname} next to it. Raw figures: BUILDDIR/bench/out/raw.tsv; every "
             "run's output: BUILDDIR/bench/out/runs/. Other knobs: BENCH_ROUNDS, "
             "BENCH_SCALE, BENCH_SYS_SCALE (the strace runs), BENCH_ONLY=\"w1 cg w2 … w13 "
             "sys\", BENCH_ALLOCS, BENCH_OUT, BENCH_NO_INSTALL=1.\n")
    with open(o.out, "w", encoding="utf-8") as f:
        f.write("\n".join(s))


if __name__ == "__main__":
    main()
