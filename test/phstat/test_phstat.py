#!/usr/bin/env python3
"""test_phstat.py -- phstat against real heaps.

Run by `make check` from the top build directory.  For a heap in a file
and one in POSIX shm, each made by one ph_holder process and joined by
another started separately, it checks that phstat --json gives exactly the
creator's ph_heap_stats, the blocks each process keeps live, the roots,
the thread caches and both processes; that a killed process shows as dead
and is gone after ph_heap_recover; that --check passes on the heap and
fails, naming the invariant, on damaged copies (and never crashes on
random damage); that a heap changing under phstat is reported as such and
never judged broken; that --svg writes well-formed SVG; and every
bad-argument and bad-file case with its exit code.
"""
import json
import os
import random
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET

BUILD = os.getcwd()
PHSTAT = os.path.join(BUILD, "tools", "phstat")
HOLDER = os.path.join(BUILD, "test", "phstat", "ph_holder")
HEAP_SIZE = 16 << 20
STATS_KEYS = ("size", "metadata", "allocated", "active", "free",
              "largest_free", "dirty", "backed")

# phstat's exit codes (phstat(1)).
GOOD, BROKEN, USAGE, OPEN, NOTHEAP, VERSION, TRUNCATED, BUSY, OUTPUT = range(9)

failed = 0
passed = 0


def check(cond, what):
    global failed, passed
    if cond:
        passed += 1
    else:
        failed += 1
        print("FAIL: " + what)


def phstat(*args):
    r = subprocess.run([PHSTAT] + list(args), capture_output=True, text=True,
                       timeout=60)
    return r.returncode, r.stdout, r.stderr


def phstat_json(*args):
    rc, out, err = phstat("--json", *args)
    try:
        return rc, json.loads(out), err
    except ValueError:
        check(False, "phstat --json %s printed no JSON (rc %d): %s"
              % (" ".join(args), rc, err.strip()))
        return rc, None, err


class Holder:
    """A ph_holder process, driven one command line at a time."""

    def __init__(self, *args):
        self.p = subprocess.Popen([HOLDER] + list(args), stdin=subprocess.PIPE,
                                  stdout=subprocess.PIPE, text=True)
        ready = json.loads(self.p.stdout.readline())
        self.pid = ready["ready"]

    def cmd(self, line):
        self.p.stdin.write(line + "\n")
        self.p.stdin.flush()
        return json.loads(self.p.stdout.readline())

    def kill(self):
        self.p.kill()
        self.p.wait()

    def close(self):
        r = self.cmd("close")
        self.p.wait()
        return r


def by_size(out):
    return {c["size"]: c for c in out["classes"]}


def class_of(out, size):
    """The class that a block of usable size `size` is in."""
    return by_size(out).get(size)


def compare_stats(out, st, label):
    for k in STATS_KEYS:
        check(out["stats"][k] == st[k], "%s: stats.%s is %s, ph_heap_stats "
              "says %s" % (label, k, out["stats"][k], st[k]))
    check(out["epoch"] == st["epoch"], label + ": epoch")
    check(out["repairs"] == st["repairs"], label + ": repairs")


def expect_live(out, lives, label):
    """lives: usable size -> blocks the holders keep live."""
    for size, n in lives.items():
        if size > 14336:
            continue
        c = class_of(out, size)
        check(c is not None and c["live"] == n, "%s: class %d live %s, "
              "expected %d" % (label, size, c and c["live"], n))
    large = [(s, n) for s, n in lives.items() if s > 14336]
    check(out["large"]["blocks"] == sum(n for _, n in large),
          label + ": large blocks")
    check(out["large"]["bytes"] == sum(s * n for s, n in large),
          label + ": large bytes")


def add_live(a, b):
    r = dict((int(k), v) for k, v in a.items())
    for k, v in b.items():
        r[int(k)] = r.get(int(k), 0) + v
    return r


def svg_ok(path, label, npages):
    try:
        root = ET.parse(path).getroot()
    except ET.ParseError as e:
        check(False, "%s: SVG does not parse: %s" % (label, e))
        return
    ns = "{http://www.w3.org/2000/svg}"
    check(root.tag == ns + "svg", label + ": root element is not svg")
    rects = root.findall(ns + "rect")
    check(len(rects) >= npages, "%s: %d cells for %d pages"
          % (label, len(rects), npages))
    texts = " ".join(t.text or "" for t in root.iter(ns + "text"))
    for word in ("legend", "metadata", "slab", "large block",
                 "thread cache", "free, dirty", "free, clean"):
        check(word in texts, "%s: legend lacks %r" % (label, word))
    if shutil.which("rsvg-convert"):
        png = path + ".png"
        r = subprocess.run(["rsvg-convert", "-o", png, path],
                           capture_output=True)
        check(r.returncode == 0 and os.path.getsize(png) > 1000,
              label + ": rsvg-convert cannot render the SVG")


def live_heap(name, tmp, label):
    """The main scenario on heap `name`; returns a copy of the heap's bytes
    taken while it was idle, for the damage tests (files only)."""
    creator = Holder("create", name, str(HEAP_SIZE))
    joiner = Holder("join", name)
    st = creator.cmd("stats")
    jst = joiner.cmd("stats")
    rc, out, err = phstat_json(name)
    check(rc == GOOD, "%s: phstat --json exit %d: %s" % (label, rc, err))
    if out is None:
        creator.kill()
        joiner.kill()
        return None
    check(out["snapshot"]["consistent"], label + ": idle heap, "
          "inconsistent snapshot")
    check(out["lock"]["held"] is False, label + ": lock held")
    compare_stats(out, st, label)
    check(out["base"] == st["base"], label + ": base")
    check(out["pages"] * out["page_size"] == HEAP_SIZE, label + ": pages")
    roots = dict((int(k), v) for k, v in st["roots"].items())
    check({r["key"]: r["offset"] for r in out["roots"]} == roots,
          "%s: roots %s, expected %s" % (label, out["roots"], roots))
    check(sorted(roots) == [0, 3, 5], label + ": roots 0, 3, 5 set")
    expect_live(out, add_live(st["live"], jst["live"]), label)
    caches = 1 if st["tcache"] else 0   # --disable-tcache: none
    procs = {p["pid"]: p for p in out["processes"]}
    for h in (creator, joiner):
        p = procs.get(h.pid)
        check(p is not None and p["alive"] and p["attached"] and
              p["tcaches"] == caches, "%s: process %d: %s"
              % (label, h.pid, p))
    check(len(out["tcaches"]) == 2 * caches and all(t["alive"] for t in
          out["tcaches"]), label + ": a live thread cache each")
    cached = sum(t["bytes"] for t in out["tcaches"])
    check(cached == sum(c["cached"] * c["size"] for c in out["classes"]),
          label + ": cached bytes by cache and by class differ")

    rc, out2, err = phstat_json("--check", name)
    check(rc == GOOD and out2 and out2["check"]["ok"] is True and
          out2["check"]["invariant"] is None,
          "%s: --check on a good heap: exit %d %s" % (label, rc, err))
    rc, text, err = phstat(name)
    check(rc == GOOD and "snapshot: consistent" in text and
          "pid %d" % joiner.pid in text, label + ": text output")
    svg = os.path.join(tmp, "map.svg")
    rc, _, err = phstat("--svg", svg, "--check", name)
    check(rc == GOOD, "%s: --svg exit %d: %s" % (label, rc, err))
    svg_ok(svg, label, out["pages"])

    # A heap that keeps changing is never judged broken (whether a copy
    # settles depends on the scheduler: see lock_tests for the verdict).
    creator.cmd("churn 1000")
    for _ in range(4):
        rc, busy, err = phstat_json("--check", name)
        check(rc in (GOOD, BUSY), "%s: --check on a busy heap: exit %d: %s"
              % (label, rc, err))
    check(creator.cmd("wait")["churned"] > 0, label + ": churn ran")

    # The joiner dies: dead, then reclaimed by ph_heap_recover.
    joiner.kill()
    rc, out, err = phstat_json(name)
    procs = {p["pid"]: p for p in out["processes"]}
    j = procs.get(joiner.pid)
    check(rc == GOOD and j is not None and not j["alive"] and j["attached"],
          "%s: killed process shows %s" % (label, j))
    check(caches == 0 or any(t["pid"] == joiner.pid and not t["alive"]
                             for t in out["tcaches"]),
          label + ": its cache is dead")
    check(procs[creator.pid]["alive"], label + ": creator still alive")
    check(creator.cmd("recover")["recovered"] == caches,
          label + ": recover")
    st = creator.cmd("stats")
    rc, out, err = phstat_json("--check", name)
    check(rc == GOOD and out["check"]["ok"], label + ": check after recover")
    check([p["pid"] for p in out["processes"]] == [creator.pid],
          "%s: after recover, processes %s" % (label, out["processes"]))
    check([t["pid"] for t in out["tcaches"]] == [creator.pid] * caches,
          label + ": after recover, only the creator's cache")
    compare_stats(out, st, label + " after recover")
    expect_live(out, add_live(st["live"], jst["live"]), label +
                " after recover")

    image = None
    if not name.startswith("/") or name.count("/") > 1:
        with open(name, "rb") as f:
            image = f.read()
    check(creator.close()["closed"] == 0, label + ": close")
    rc, out, err = phstat_json(name)
    check(rc == GOOD and out["processes"] == [] and out["tcaches"] == [],
          "%s: after close: %s %s" % (label, out and out["processes"], err))
    return image


def lock_tests(tmp):
    """The lock seen from outside: held by a live thread (the copy never
    settles), then by a process that died (the next locker repairs)."""
    name = os.path.join(tmp, "locked.heap")
    a = Holder("create", name, str(HEAP_SIZE))
    b = Holder("join", name)
    tid = a.cmd("lock")["locked"]
    rc, out, err = phstat_json("--check", name)
    check(rc == GOOD and out["lock"]["held"] and
          out["lock"]["owner_tid"] == tid and not out["lock"]["owner_died"],
          "locked heap: exit %d, lock %s" % (rc, out and out["lock"]))
    check(out["snapshot"] == {"consistent": False, "attempts": 8},
          "locked heap: snapshot %s" % out["snapshot"])
    check(out["check"]["ok"], "locked heap: a quiet heap checks clean")
    rc, text, err = phstat(name)
    check("INCONSISTENT" in text and "held by thread %d" % tid in text,
          "locked heap: the text says so")
    check(a.cmd("unlock") == {"unlocked": 1}, "unlock")
    rc, out, err = phstat_json(name)
    check(not out["lock"]["held"] and out["snapshot"]["consistent"],
          "unlocked heap: lock %s" % out["lock"])

    a.cmd("lock")
    a.kill()
    rc, out, err = phstat_json(name)
    check(rc == GOOD and out["lock"]["held"] and out["lock"]["owner_died"],
          "owner died: lock %s" % (out and out["lock"]))
    rc, text, err = phstat(name)
    check("held by a process that died" in text, "owner died: text")
    check(b.cmd("check") == {"check": 0}, "the next locker repairs")
    st = b.cmd("stats")
    rc, out, err = phstat_json("--check", name)
    check(rc == GOOD and not out["lock"]["held"] and out["repairs"] == 1 and
          out["check"]["ok"], "after repair: exit %d, repairs %s, lock %s"
          % (rc, out["repairs"], out["lock"]))
    check([p["pid"] for p in out["processes"]] == [b.pid],
          "after repair, processes %s" % out["processes"])
    compare_stats(out, st, "after repair")
    b.close()


def tag_tests(tmp):
    """A heap holding malloc tags (a tag table in a large run): phstat
    --check and ph_heap_check must agree that it is sound, while it is
    held open and after it is closed."""
    name = os.path.join(tmp, "tagged.heap")
    a = Holder("create", name, str(HEAP_SIZE))
    check(a.cmd("tag") == {"tagged": 1}, "tagged heap: tags set")
    check(a.cmd("check") == {"check": 0}, "tagged heap: ph_heap_check")
    rc, out, err = phstat_json("--check", name)
    check(rc == GOOD and out and out["check"]["ok"] is True,
          "tagged heap: phstat --check exit %d, check %s %s"
          % (rc, out and out["check"], err.strip()))
    check(a.close()["closed"] == 0, "tagged heap: close")
    rc, out, err = phstat_json("--check", name)
    check(rc == GOOD and out and out["check"]["ok"] is True,
          "tagged heap, closed: phstat --check exit %d, check %s %s"
          % (rc, out and out["check"], err.strip()))


def damaged(tmp, image, fn, label):
    path = os.path.join(tmp, "damaged.heap")
    b = bytearray(image)
    fn(b)
    with open(path, "wb") as f:
        f.write(b)
    return path


def layout(image, tmp):
    path = os.path.join(tmp, "good.heap")
    with open(path, "wb") as f:
        f.write(image)
    rc, out, err = phstat_json(path)
    return out


def damage_tests(tmp, image):
    lay = layout(image, tmp)
    pm, es = lay["layout"]["pagemap_offset"], lay["layout"]["page_entry_size"]
    sm, first = lay["layout"]["slabmap_offset"], lay["layout"]["first_page"]
    hwm = lay["layout"]["hwm"]
    words = struct.unpack_from("<%dI" % hwm, image, sm)
    slab = next(i for i, w in enumerate(words)
                if w & 0x80000000 and (w >> 8) & 0x7fffff == 0)

    def set_kind(b):
        b[pm + first * es] = 7

    def bump_nfree(b):
        n = struct.unpack_from("<H", b, pm + slab * es + 2)[0]
        struct.pack_into("<H", b, pm + slab * es + 2, n + 1)

    def clear_slabmap(b):
        struct.pack_into("<I", b, sm + slab * 4, 0)

    def huge_span(b):
        struct.pack_into("<I", b, pm + first * es + 4, 0xffffffff)

    cases = ((set_kind, "kind 7 where a run should start"),
             (bump_nfree, "slab %d: nfree" % slab),
             (clear_slabmap, "page %d: slab map says 0" % slab),
             (huge_span, "run length 4294967295 out of range"))
    for fn, invariant in cases:
        path = damaged(tmp, image, fn, fn.__name__)
        rc, out, err = phstat_json("--check", path)
        check(rc == BROKEN and invariant in err and len(err.splitlines())
              == 1, "%s: exit %d, stderr %r, want %r" % (fn.__name__, rc,
                                                        err, invariant))
        check(out is not None and out["check"]["ok"] is False and
              invariant in out["check"]["invariant"],
              fn.__name__ + ": JSON names the invariant")
        rc, _, err = phstat(path)
        check(rc == GOOD, "%s: without --check exit %d %s"
              % (fn.__name__, rc, err))

    # Random damage to the header's lock-protected part and the page map:
    # any verdict, but an exit code of ours, never a crash or a hang.
    rng = random.Random(6)
    # struct heap: the lock and what it guards start on the second cache
    # line (the first holds the format fields, checked as a whole).
    hdr_lo, hdr_hi = 128, sm
    for i in range(40):
        b = bytearray(image)
        lo, hi = (hdr_lo, hdr_hi) if i % 2 else (sm, pm + (hwm + 1) * es)
        for _ in range(rng.choice((1, 8, 200))):
            b[rng.randrange(lo, hi)] = rng.randrange(256)
        path = os.path.join(tmp, "fuzz.heap")
        with open(path, "wb") as f:
            f.write(b)
        svg = os.path.join(tmp, "fuzz.svg")
        rc, _, err = phstat("--check", "--json", "--svg", svg, path)
        # BUSY: a damaged lock word looks held, so the copy never settles;
        # NOTHEAP: a damaged backed size (limit) is judged with the header.
        check(rc in (GOOD, BROKEN, NOTHEAP, BUSY), "fuzz %d: exit %d %s"
              % (i, rc, err))


def bad_arguments(tmp, image):
    heap = os.path.join(tmp, "good.heap")
    with open(heap, "wb") as f:
        f.write(image)
    empty = os.path.join(tmp, "empty")
    open(empty, "wb").close()
    junk = os.path.join(tmp, "junk")
    with open(junk, "wb") as f:
        f.write(random.Random(1).randbytes(200 << 10))
    other = os.path.join(tmp, "other-version.heap")
    b = bytearray(image)
    struct.pack_into("<I", b, 12, 99)       # struct heap.version
    with open(other, "wb") as f:
        f.write(b)
    half = os.path.join(tmp, "half.heap")
    with open(half, "wb") as f:
        f.write(image[:len(image) // 2])
    formatting = os.path.join(tmp, "formatting.heap")
    b = bytearray(len(image))
    struct.pack_into("<I", b, 8, 1)         # init: HEAP_INIT_FORMATTING
    with open(formatting, "wb") as f:
        f.write(b)
    stub = os.path.join(tmp, "stub.heap")
    with open(stub, "wb") as f:
        f.write(image[:100])
    cases = (
        ((), USAGE, "missing heap NAME"),
        (("--bogus", heap), USAGE, "unknown option"),
        (("-x", heap), USAGE, "unknown option"),
        (("-xc", heap), USAGE, "unknown option -x"),
        (("-c", "-jx", heap), USAGE, "unknown option -x"),
        (("--svg",), USAGE, "needs an argument"),
        (("--svg", "", heap), USAGE, "needs a file name"),
        ((heap, heap), USAGE, "one NAME only"),
        (("",), USAGE, "empty heap NAME"),
        ((os.path.join(tmp, "absent"),), OPEN, "No such file"),
        (("/phstat-absent-%d" % os.getpid(),), OPEN, "No such file"),
        ((tmp,), NOTHEAP, "not a heap"),
        ((empty,), NOTHEAP, "not a heap"),
        ((junk,), NOTHEAP, "not a heap"),
        ((other,), VERSION, "another format"),
        ((half,), TRUNCATED, "truncated"),
        ((formatting,), BUSY, "being formatted"),
        ((stub,), TRUNCATED, "truncated"),
        (("--svg", "/nonexistent-dir/map.svg", heap), OUTPUT,
         "cannot write"),
    )
    for args, code, msg in cases:
        rc, out, err = phstat(*args)
        check(rc == code and msg in err and len(err.splitlines()) == 1 and
              out == "", "phstat %s: exit %d (want %d), stderr %r"
              % (" ".join(args), rc, code, err))
    for args in (("--help",), ("-h",), ("--version",)):
        rc, out, err = phstat(*args)
        check(rc == GOOD and out and not err, "phstat %s" % args[0])


def main():
    for path in (PHSTAT, HOLDER):
        if not os.access(path, os.X_OK):
            print("test_phstat: %s is not built" % path)
            return 99
    tmp = tempfile.mkdtemp(prefix="phstat-test.")
    shm = "/phstat-test-%d" % os.getpid()
    try:
        image = live_heap(os.path.join(tmp, "live.heap"), tmp, "file heap")
        live_heap(shm, tmp, "shm heap")
        lock_tests(tmp)
        tag_tests(tmp)
        if image is not None:
            damage_tests(tmp, image)
            bad_arguments(tmp, image)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        try:
            os.unlink("/dev/shm" + shm)
        except OSError:
            pass
    print("test_phstat: %d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
