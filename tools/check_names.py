#!/usr/bin/env python3
"""check_names.py -- every function a comment or a document names exists.

Comments in src/ and include/, doc/*.md, man/*.3 and README.md point at
code as `file.c:function` and `function()` (man pages as `.Fn function`).
Such a pointer goes stale silently when the code moves on; this finds
every one that no longer holds and prints it as

    FILE:LINE: names X, which does not exist

one per line, exiting 1 if there is any.  A name exists when the source
tree (src/ include/ tools/ test/ bench/ examples/) defines or declares it:
a top-level C declaration or definition `... NAME(`, `P(NAME)(`, a
file-scope variable (`file.c:name` may point at one), a `#define NAME`,
a C++ member `... NAME(` in a .hpp/.cpp, a Python `def NAME(` or a shell
`NAME()`.  The public API (include/phmalloc.h.in: the
standard and jemalloc families under any of the prefixes "", "je_", "ph_",
and ph_*) exists by definition.  Names of other software (libc, POSIX,
glibc, jemalloc, mimalloc, ...) are listed in tools/check_names.allow, one
per line.  For `file.c:NAME` the file must exist in the tree (a bare name
anywhere in it, a path from the top) and NAME must also occur in it, so a
function moved to another file is caught too.

Usage: check_names.py [--root DIR] [--allow FILE] [FILE...]
       check_names.py --self-test [--root DIR]
With no FILE, it checks src/*.c src/*.h include/ doc/*.md man/*.3 and
README.md.
--self-test proves the check fails: it must report a made-up function and
a made-up `page.c:function`, and pass real ones.
"""
import os
import re
import sys
import tempfile

SOURCE_DIRS = ("src", "include", "tools", "test", "bench", "examples")
SOURCE_EXT = (".c", ".h", ".hpp", ".cpp", ".in", ".py", ".sh")
PREFIXES = ("je_", "ph_")

IDENT = r"[A-Za-z_][A-Za-z0-9_]*"
# file.c:function (the file may carry a path).
FILE_REF = re.compile(r"(?<![\w./-])((?:[\w.-]+/)*[\w-]+\.(?:c|h|hpp|cpp)):"
                      r"(" + IDENT + r")")
# function(), not ptr->fn(), s.fn(), *_validate(), ns::fn() or a macro $(x).
CALL = re.compile(r"(?<![\w*.>:$@%-])(" + IDENT + r")\(\)")
MAN_FN = re.compile(r"^\.F[no]\s+(" + IDENT + r")\b")
ROFF_FONT = re.compile(r"\\f(?:\[[A-Z]*\]|\(..|.)")

DEF_C = re.compile(r"^(?:" + IDENT + r"[\s*]+)*?\**(" + IDENT + r")\s*\(")
DEF_CXX = re.compile(r"^\s+(?!(?:return|else|throw|co_return|delete|new)\b)"
                     r"(?:[\w:<>,&\[\]]+[\s*&]+)+\**(" + IDENT + r")\s*\(")
# A file-scope variable: "extern struct heap heap_none;", "x[N] = {".
DEF_VAR = re.compile(r"^(?:" + IDENT + r"[\s*]+)+?\**(" + IDENT + r")\s*"
                     r"(?:\[[^\]]*\]\s*)?(?:=|;|__attribute__)")
DEF_P = re.compile(r"\bP\((" + IDENT + r")\)\s*\(")
DEF_TEMPLATE = re.compile(r"@PH_PREFIX@(" + IDENT + r")\s*\(")
DEF_MACRO = re.compile(r"^\s*#\s*define\s+(" + IDENT + r")")
DEF_PY = re.compile(r"^\s*def\s+(" + IDENT + r")\s*\(")
DEF_SH = re.compile(r"^\s*(" + IDENT + r")\s*\(\)\s*(?:\{|$)")
# __attribute__((...)) before a declaration, one level of parentheses inside.
ATTRIBUTE = re.compile(r"__attribute__\s*\(\((?:[^()]|\([^()]*\))*\)\)\s*")
WORD = re.compile(IDENT)
# Statements that look like "type name(" at the start of a line.
NOT_TYPES = {"return", "if", "while", "for", "switch", "sizeof", "else",
             "case", "goto", "do"}


def comments(text):
    """Yields (line, text) of each comment in C or C++ source, skipping
    string and character literals."""
    i, n, line = 0, len(text), 1
    while i < n:
        c = text[i]
        if c == "\n":
            line += 1
            i += 1
        elif c in "\"'":
            j = i + 1
            while j < n and text[j] != c and text[j] != "\n":
                j += 2 if text[j] == "\\" else 1
            line += text.count("\n", i, j)
            i = j + 1
        elif text.startswith("/*", i):
            j = text.find("*/", i + 2)
            j = n if j < 0 else j
            yield line, text[i + 2:j]
            line += text.count("\n", i, j)
            i = j + 2
        elif text.startswith("//", i):
            j = text.find("\n", i)
            j = n if j < 0 else j
            yield line, text[i + 2:j]
            i = j
        else:
            i += 1


def mentions(path, text):
    """Yields (line, kind, file, name): kind 'ref' for file.c:name, 'call'
    for name() and .Fn name."""
    if path.endswith((".md", ".3", ".1")):
        chunks = [(1, text)]
    else:
        chunks = comments(text)
    man = path.endswith((".3", ".1"))
    for first, chunk in chunks:
        for k, ln in enumerate(chunk.split("\n")):
            if man:
                m = MAN_FN.match(ln)
                if m and not m.group(1).endswith("_"):
                    yield first + k, "call", None, m.group(1)
                ln = ROFF_FONT.sub("", ln)
            for m in FILE_REF.finditer(ln):
                yield first + k, "ref", m.group(1), m.group(2)
            for m in CALL.finditer(ln):
                yield first + k, "call", None, m.group(1)


def read(path):
    with open(path, encoding="utf-8", errors="replace") as f:
        return f.read()


def source_files(root):
    for d in SOURCE_DIRS:
        for dirpath, dirnames, files in os.walk(os.path.join(root, d)):
            dirnames[:] = [x for x in dirnames if not x.startswith(".")]
            for f in files:
                if f.endswith(SOURCE_EXT):
                    yield os.path.join(dirpath, f)


class Tree:
    def __init__(self, root):
        self.root = root
        self.defined = set()
        self.public = set()
        self.by_name = {}   # basename -> [paths]
        for p in source_files(root):
            self.by_name.setdefault(os.path.basename(p), []).append(p)
            cxx = p.endswith((".hpp", ".cpp"))
            c = not p.endswith((".py", ".sh"))
            own = DEF_PY if p.endswith(".py") else \
                DEF_SH if p.endswith(".sh") else DEF_MACRO
            for ln in read(p).split("\n"):
                m = own.match(ln)
                if m:
                    self.defined.add(m.group(1))
                if c and "__attribute__" in ln:
                    ln = ATTRIBUTE.sub("", ln)
                for rx in (DEF_C, DEF_VAR) if c else ():
                    m = rx.match(ln)
                    if m and m.group(1) not in NOT_TYPES:
                        self.defined.add(m.group(1))
                if cxx:
                    m = DEF_CXX.match(ln)
                    if m and m.group(1) not in NOT_TYPES:
                        self.defined.add(m.group(1))
                for m in DEF_P.finditer(ln):
                    self.public.add(m.group(1))
                for m in DEF_TEMPLATE.finditer(ln):
                    self.public.add(m.group(1))
        hdr = os.path.join(root, "include", "phmalloc.h.in")
        if os.path.exists(hdr):
            for ln in read(hdr).split("\n"):
                m = DEF_C.match(ln)
                if m and m.group(1).startswith("ph_"):
                    self.public.add(m.group(1))
        self.words = {}

    def exists(self, name, allow):
        if name in self.defined or name in self.public or name in allow:
            return True
        return any(name.startswith(x) and name[len(x):] in self.public
                   for x in PREFIXES)

    def files(self, ref):
        if "/" in ref:
            p = os.path.join(self.root, ref)
            return [p] if os.path.isfile(p) else []
        return self.by_name.get(ref, [])

    def file_has(self, path, name):
        if path not in self.words:
            self.words[path] = set(WORD.findall(read(path)))
        return name in self.words[path]


def load_allow(path):
    allow = set()
    if path and os.path.exists(path):
        for ln in read(path).split("\n"):
            ln = ln.split("#", 1)[0].strip()
            if ln:
                allow.add(ln)
    return allow


def check(tree, allow, paths, show):
    """Returns the problems found in paths, as printed lines."""
    bad = []
    for path in paths:
        for line, kind, ref, name in mentions(path, read(path)):
            if kind == "ref":
                what = ref + ":" + name
                if (ref + ":" + name) in allow:
                    continue
                files = tree.files(ref)
                ok = files and tree.exists(name, allow) and any(
                    tree.file_has(f, name) for f in files)
            else:
                what = name
                ok = tree.exists(name, allow)
            if not ok:
                bad.append("%s:%d: names %s, which does not exist"
                           % (show(path), line, what))
    return bad


def default_paths(root):
    out = []
    for d, exts in (("src", (".c", ".h")), ("include", None),
                    ("doc", (".md",)), ("man", (".3",))):
        top = os.path.join(root, d)
        for dirpath, dirnames, files in os.walk(top):
            dirnames.sort()
            for f in sorted(files):
                if exts is None or f.endswith(exts):
                    out.append(os.path.join(dirpath, f))
    readme = os.path.join(root, "README.md")
    if os.path.exists(readme):
        out.append(readme)
    return out


def self_test(tree, allow):
    good_c = ("/* page.c:page_run_alloc carves, heap_repair() mends; "
              "malloc() and je_mallocx() are public. */\n")
    bad_c = ("/* first page.c:page_run_alloc, then\n"
             " * no_such_function_xyz() and page.c:no_such_fn,\n"
             " * page.c:heap_reset (it is in heap.c), nosuch.c:malloc */\n"
             "static const char *s = \"not_a_comment_xyz()\";\n")
    bad_md = "See `no_such_function_xyz()` and `page.c:no_such_fn`.\n"
    want = {"bad.c:2: names no_such_function_xyz, which does not exist",
            "bad.c:2: names page.c:no_such_fn, which does not exist",
            "bad.c:3: names page.c:heap_reset, which does not exist",
            "bad.c:3: names nosuch.c:malloc, which does not exist",
            "bad.md:1: names no_such_function_xyz, which does not exist",
            "bad.md:1: names page.c:no_such_fn, which does not exist"}
    with tempfile.TemporaryDirectory() as d:
        files = {}
        for name, text in (("good.c", good_c), ("bad.c", bad_c),
                           ("bad.md", bad_md)):
            files[name] = os.path.join(d, name)
            with open(files[name], "w") as f:
                f.write(text)
        show = os.path.basename
        got_good = check(tree, allow, [files["good.c"]], show)
        got_bad = set(check(tree, allow, [files["bad.c"], files["bad.md"]],
                            show))
    ok = True
    if got_good:
        print("self-test: real names reported:\n  " + "\n  ".join(got_good))
        ok = False
    if got_bad != want:
        print("self-test: expected\n  " + "\n  ".join(sorted(want)) +
              "\ngot\n  " + "\n  ".join(sorted(got_bad)))
        ok = False
    print("self-test: %s" % ("ok" if ok else "FAILED"))
    return ok


def main(argv):
    root = os.environ.get("srcdir") or \
        os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    allow_path = None
    selftest = False
    paths = []
    it = iter(argv)
    for a in it:
        if a == "--root":
            root = next(it)
        elif a == "--allow":
            allow_path = next(it)
        elif a == "--self-test":
            selftest = True
        elif a in ("-h", "--help"):
            print(__doc__)
            return 0
        else:
            paths.append(a)
    if allow_path is None:
        allow_path = os.path.join(root, "tools", "check_names.allow")
    if not os.path.isfile(os.path.join(root, "src", "internal.h")):
        print("check_names: %s is not the phmalloc tree" % root)
        return 2
    tree = Tree(root)
    allow = load_allow(allow_path)
    if selftest:
        return 0 if self_test(tree, allow) else 1
    if not paths:
        paths = default_paths(root)
    rootn = os.path.normpath(root)

    def show(p):
        r = os.path.relpath(p, rootn)
        return p if r.startswith("..") else r
    bad = check(tree, allow, paths, show)
    for b in bad:
        print(b)
    print("check_names: %d files, %d stale names" % (len(paths), len(bad)))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
