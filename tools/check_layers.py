#!/usr/bin/env python3
"""check_layers.py -- no file of the engine reaches up to a higher layer.

tools/layers.txt lists the files of src/ by stem, bottom first, one a
line ('#' starts a comment).  A file may call a function of, or use data
of, only itself and the files listed before it.  From nm of the objects
(the globals each defines: T, D, B, R, ..., a __thread variable being a
B or D; and the symbols it references, U) this prints one line for each
reference up, object not in the table and table entry without an object:

    layers: slab.o calls heap_large_free_locked (alloc.c), a higher layer
    layers: foo.o is not in tools/layers.txt: place it in a layer
    layers: tools/layers.txt names thread, which has no object

and a summary, exiting 1 if there is any ("uses" for data).  What a
static inline function of a header calls counts for the file using it;
a call through a function pointer is not seen.

An object's stem is its name less --prefix and ".o" (with libtool's
prefix libphinternal_la-, src/libphinternal_la-heap.o is heap).
--self-test compiles (cc -c) a low file calling a function and reading a
__thread variable of a high one, and requires the check to fail with
that order and pass with the other.  Exit 77 (skipped) without nm, or cc
for the self-test.
"""
import argparse
import glob
import os
import shlex
import shutil
import subprocess
import sys
import tempfile

DEFINED = set("ABCDGRSTVWiu")   # nm's kinds of a defined global symbol
REFERENCED = set("Uvw")         # undefined, or weak undefined
CODE = set("TWi")


def read_table(path):
    order = []
    with open(path) as f:
        for ln in f:
            stem = ln.split("#", 1)[0].strip()
            if stem in order:
                sys.exit("layers: %s lists %s twice" % (path, stem))
            if stem:
                order.append(stem)
    return order


def symbols(nm, path):
    """({defined global: nm's kind}, {referenced symbols}) of path."""
    out = subprocess.run(nm + ["-P", path], stdout=subprocess.PIPE,
                         universal_newlines=True, check=True).stdout
    defs, refs = {}, set()
    for f in (ln.split() for ln in out.splitlines()):
        if len(f) >= 2 and f[1] in REFERENCED:
            refs.add(f[0])
        elif len(f) >= 2 and f[1] in DEFINED:
            defs[f[0]] = f[1]
    return defs, refs


def check(nm, table, order, objs, allow_missing):
    """objs: {stem: object path}.  Returns (findings, counts)."""
    pos = {s: i for i, s in enumerate(order)}
    syms = {s: symbols(nm, p) for s, p in objs.items()}
    owner = {}
    for s, (defs, _) in syms.items():
        for name, kind in defs.items():
            owner.setdefault(name, (s, kind))
    out, n = [], {"up": 0, "unplaced": 0, "missing": 0}
    for s in sorted(objs, key=lambda s: (pos.get(s, len(pos)), s)):
        if s not in pos:
            out.append("layers: %s.o is not in %s: place it in a layer"
                       % (s, table))
            n["unplaced"] += 1
            continue
        ups = [(pos[owner[x][0]], x) for x in syms[s][1]
               if x in owner and pos.get(owner[x][0], -1) > pos[s]]
        for _, x in sorted(ups):
            o, kind = owner[x]
            out.append("layers: %s.o %s %s (%s.c), a higher layer"
                       % (s, "calls" if kind in CODE else "uses", x, o))
            n["up"] += 1
    for s in order:
        if s not in objs and not allow_missing:
            out.append("layers: %s names %s, which has no object"
                       % (table, s))
            n["missing"] += 1
    return out, n


def stem_of(path, prefix):
    b = os.path.basename(path)
    b = b[len(prefix):] if prefix and b.startswith(prefix) else b
    return b[:-2] if b.endswith(".o") else b


LOW_C = ("extern __thread int high_tls;\nint high_fn(void);\n"
         "int low_fn(void) { return high_fn() + high_tls; }\n")
HIGH_C = "__thread int high_tls;\nint high_fn(void) { return 41; }\n"


def self_test(nm):
    cc = shlex.split(os.environ.get("CC") or "cc")
    if not shutil.which(cc[0]):
        print("self-test: %s is not installed: skipped" % cc[0])
        return 77
    want = {"layers: low.o calls high_fn (high.c), a higher layer",
            "layers: low.o uses high_tls (high.c), a higher layer"}
    ok = True
    with tempfile.TemporaryDirectory() as d:
        objs = {}
        for stem, text in (("low", LOW_C), ("high", HIGH_C)):
            src, objs[stem] = (os.path.join(d, stem + x) for x in (".c", ".o"))
            with open(src, "w") as f:
                f.write(text)
            subprocess.run(cc + ["-O2", "-c", "-o", objs[stem], src],
                           check=True)
        for order, expect in ((["low", "high"], want), (["high", "low"], set())):
            got, _ = check(nm, "t.txt", order, objs, False)
            print("self-test: table %s: %s" % (" < ".join(order), "fails"
                                                if got else "passes"))
            if set(got) != expect:
                print("self-test: expected\n  %s\ngot\n  %s" % (
                    "\n  ".join(sorted(expect)) or "nothing",
                    "\n  ".join(got) or "nothing"))
                ok = False
    print("self-test: %s" % ("ok" if ok else "FAILED"))
    return 0 if ok else 1


def main(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--table", help="default: layers.txt beside this")
    ap.add_argument("--objdir", help="take every OBJDIR/PREFIX*.o")
    ap.add_argument("--prefix", default="", help="libtool's object prefix")
    ap.add_argument("--allow-missing", action="store_true",
                    help="a table entry without an object is no error")
    ap.add_argument("--nm", default="nm")
    ap.add_argument("--self-test", action="store_true")
    ap.add_argument("objects", nargs="*", metavar="OBJ")
    a = ap.parse_args(argv)
    nm = shlex.split(a.nm)
    if not shutil.which(nm[0]):
        print("layers: %s is not installed: skipped" % nm[0])
        return 77
    if a.self_test:
        return self_test(nm)
    paths = list(a.objects)
    if a.objdir:
        paths += sorted(glob.glob(os.path.join(a.objdir, a.prefix + "*.o")))
    if not paths:
        print("layers: no objects to check")
        return 2
    objs = {stem_of(p, a.prefix): p for p in paths}
    table = a.table or os.path.join(os.path.dirname(__file__), "layers.txt")
    order = read_table(table)
    out, n = check(nm, a.table or "tools/layers.txt", order, objs,
                   a.allow_missing)
    print("\n".join(out + ["layers: %d objects, %d in the table: %d "
                           "references up, %d objects unplaced, %d entries "
                           "without an object" % (len(objs), len(order),
                           n["up"], n["unplaced"], n["missing"])]))
    return 1 if out else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
