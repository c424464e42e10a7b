#!/usr/bin/env python3
"""check_tree.py - measure graft's architecture from the built objects and the sources.

    python3 tools/check_tree.py [--build build] [--report]      (after make -j2 all)

Checks floors, cycles, include floors, include cycles, sizes and kind docs
(tools/README.md), prints each as PASS or FAIL with its findings, ends with
"N passed, N failed" and exits 1 when one fails. Needs only Python 3's standard
library and binutils' nm.
"""
import argparse
import glob
import os
import re
import subprocess
import sys
from collections import defaultdict

# ---- the rules: edit these, not the code below -----------------------------

# Floors, lowest first: a file may use its own floor and the ones below it.
FLOORS = ["core", "layers", "data", "model", "onnx", "cli"]
# Folders that must reach the library only as its users do: through the
# symbols src/libgraft.map exports and the header include/graft.h.
PUBLIC_ONLY = {"cli"}
PUBLIC_MAP = "src/libgraft.map"

# Cycles tolerated for now. Each entry: (set of files, "reason"); a reason is
# required so that no cycle is waved through silently. The project wants none.
ALLOWED_CYCLES = [
    # ({"src/model/a.c", "src/model/b.c"}, "why, and the issue that removes it"),
]
ALLOWED_INCLUDE_CYCLES = []

MAX_LINES = 1500
SIZE_ROOTS = ["src", "tests", "include"]
SIZE_EXEMPT = [
    "tests/data/",  # fixtures and reference outputs, not code
    # The one public header is the manual: every declaration with its
    # documentation, read top to bottom (as sqlite3.h, zstd.h and kann.h
    # are). Splitting it would make users include several files or follow
    # includes to read it; its sections follow the floors instead.
    "include/graft.h",
]

# Every layer kind (the one list) must have a row in each of these tables:
# (document, the table's header row). A row's first cell names its kinds in
# backquotes (`relu`, `sigmoid`).
KINDS_LIST = "src/layers/kinds.h"
KIND_TABLES = [
    ("docs/FORMAT.md", "| kind | inputs | attributes, in order | parameters, in order |"),
    ("docs/ONNX.md", "| graft layer | ONNX |"),
]

# Quoted includes: the including file's folder first, then the Makefile's -I order.
INCLUDE_PATH = ["include", "src"]

# Global definitions: T/D/B/R, and the same things marked G/S (small data), C (common),
# W/V (weak) or i (an ifunc, which target_clones makes of a global function).
DEF_TYPES = set("TDBRGSCWVi")

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
INCLUDE_RE = re.compile(r'^[ \t]*#[ \t]*include[ \t]*"([^"]+)"', re.M)
COMMENT_RE = re.compile(r"/\*.*?\*/", re.S)


def folder_of(path):
    """'src/core/tensor.c' -> 'core'; None for files outside src/<folder>/."""
    parts = path.split("/")
    return parts[1] if len(parts) >= 3 and parts[0] == "src" else None


def floor_of(path):
    return FLOORS.index(folder_of(path)) if folder_of(path) in FLOORS else None


# ---- the object graph -------------------------------------------------------

def find_objects(build):
    """Map each source file to its object. The cli objects live in build/cli/
    (the Makefile compiles them apart, against include/ only)."""
    objects, stale = {}, []
    for base, prefix in ((os.path.join(build, "obj"), "src/"), (os.path.join(build, "cli"), "src/cli/")):
        for obj in sorted(glob.glob(os.path.join(base, "**", "*.o"), recursive=True)):
            src = prefix + os.path.relpath(obj, base)[:-2].replace(os.sep, "/") + ".c"
            # Objects of the flat layout before the split, or of a source since
            # removed, would define every symbol a second time: leave them out.
            if floor_of(src) is None or not os.path.exists(os.path.join(ROOT, src)):
                stale.append(os.path.relpath(obj, ROOT))
            else:
                objects[src] = obj
    return objects, stale


def run_nm(flags, objects):
    """{source: [(type, symbol)]} from one nm run over every object (-A names the file)."""
    by_obj = {obj: src for src, obj in objects.items()}
    out = subprocess.run(["nm", "-A"] + flags + sorted(by_obj), capture_output=True,
                         text=True, check=True).stdout
    syms = defaultdict(list)
    for line in out.splitlines():
        obj, _, rest = line.partition(":")
        fields = rest.split()
        if obj in by_obj and len(fields) >= 2:
            syms[by_obj[obj]].append((fields[-2], fields[-1]))
    return syms


def object_graph(objects):
    """{(user, definer): set(symbols)}; undefined symbols no object defines
    (libc, OpenBLAS, libpng...) are external and make no edge."""
    definers = defaultdict(list)
    for src, syms in run_nm(["-g", "--defined-only"], objects).items():
        for kind, name in syms:
            if kind in DEF_TYPES:
                definers[name].append(src)
    edges = defaultdict(set)
    for src, syms in run_nm(["-u"], objects).items():
        for _, name in syms:
            for target in definers.get(name, ()):
                if target != src:
                    edges[(src, target)].add(name)
    dups = {n: d for n, d in definers.items() if len(d) > 1}
    return edges, dups


def public_symbols():  # the names the version script exports
    with open(os.path.join(ROOT, PUBLIC_MAP)) as f:
        text = COMMENT_RE.sub("", f.read())
    return set(re.findall(r"^\s*([A-Za-z_]\w*)\s*;", text, re.M))


# ---- the include graph ------------------------------------------------------

def source_files(root):
    """Every file under ROOT/root as a path from ROOT, in a stable order."""
    for dirpath, dirs, names in os.walk(os.path.join(ROOT, root)):
        dirs[:] = sorted(d for d in dirs if not d.startswith(".") and d != "__pycache__")
        for name in sorted(names):
            yield os.path.relpath(os.path.join(dirpath, name), ROOT).replace(os.sep, "/")


def include_graph():
    """{(includer, included): {spelling}} between files under src/, and the unresolved."""
    edges, unresolved = defaultdict(set), []
    for path in source_files("src"):
        if not path.endswith((".c", ".h")):
            continue
        with open(os.path.join(ROOT, path), errors="replace") as f:
            text = COMMENT_RE.sub("", f.read())
        for name in INCLUDE_RE.findall(text):
            for d in [os.path.dirname(path)] + INCLUDE_PATH:
                cand = os.path.normpath(os.path.join(d, name)).replace(os.sep, "/")
                if os.path.isfile(os.path.join(ROOT, cand)):
                    if cand.startswith("src/"):  # include/graft.h is everyone's
                        edges[(path, cand)].add(name)
                    break
            else:
                unresolved.append((path, name))
    return edges, unresolved


# ---- the checks -------------------------------------------------------------

def floor_violations(edges, public, use):
    """Messages for edges going up a floor or out of a public-only folder.
    use(name) words one use: a symbol, or an include as it is spelled."""
    bad = []
    for (a, b), names in sorted(edges.items()):
        fa, fb, da, db = floor_of(a), floor_of(b), folder_of(a), folder_of(b)
        for name in sorted(names):
            if fa is None or fb is None:
                why = f"outside the floors {FLOORS}"
            elif da in PUBLIC_ONLY and da != db and (public is None or name not in public):
                why = f"{da} may use only the public API: {PUBLIC_MAP if public else 'include/graft.h'}"
            elif fb > fa:
                why = f"{da} -> {db}, upward"
            else:
                continue
            bad.append(f"{a}: {use(name)} -> {b} ({why})")
    return bad


def sccs(edges):
    """Strongly connected components with more than one file. The graphs have
    a hundred nodes or so: mutual reachability is fast enough and plain to read."""
    succ = defaultdict(set)
    for a, b in edges:
        succ[a].add(b)
    reach = {}
    for start in {n for e in edges for n in e}:
        seen, todo = set(), [start]
        while todo:
            new = succ[todo.pop()] - seen
            seen |= new
            todo += new
        reach[start] = seen
    comps = {frozenset([n] + [m for m in reach[n] if n in reach[m]]) for n in reach if n in reach[n]}
    return sorted(sorted(c) for c in comps if len(c) > 1)


def cycle_messages(edges, allowed, what):
    """(cycles, lines to print, failures): every cycle is printed with the
    edges inside it (those close it); only cycles not in `allowed` fail."""
    # An entry without a reason fails the check and excuses nothing.
    bad = [f"allowed {what} cycle {sorted(files)} has no reason" for files, why in allowed
           if not str(why).strip()]
    allowed_sets = [frozenset(files) for files, why in allowed if str(why).strip()]
    comps, lines = sccs(edges), []
    for comp in comps:
        head = f"{what} cycle of {len(comp)} files: {', '.join(comp)}"
        if frozenset(comp) in allowed_sets:
            head = "allowed " + head
        else:
            bad.append(head)
        lines.append(head)
        for (a, b), names in sorted(edges.items()):
            if a in comp and b in comp:  # at most four names an edge, for short lines
                more = f" (+{len(names) - 4} more)" if len(names) > 4 else ""
                lines.append(f"    {a} -> {b}: {', '.join(sorted(names)[:4])}{more}")
    return comps, lines, bad


def line_counts():
    """[(path, lines)] of the text files the size rule covers (a binary seed has no lines)."""
    counts = []
    for root in SIZE_ROOTS:
        for path in source_files(root):
            if any(path.startswith(p) for p in SIZE_EXEMPT):
                continue
            with open(os.path.join(ROOT, path), "rb") as f:
                data = f.read()
            if b"\0" not in data[:8192]:
                counts.append((path, len(data.splitlines())))
    return counts


def registered_kinds():
    """The kind names of kinds.h's GRAFT_LAYER_KIND(ENUM, name, vtable) lines, in order."""
    with open(os.path.join(ROOT, KINDS_LIST)) as f:
        text = COMMENT_RE.sub("", f.read())
    return re.findall(r"^\s*GRAFT_LAYER_KIND\(\s*\w+\s*,\s*(\w+)\s*,", text, re.M)


def table_kinds(path, header):
    """The backquoted names in the first column of the table under header in
    path, or None when the file has no such header row."""
    with open(os.path.join(ROOT, path)) as f:
        lines = [l.strip() for l in f]
    if header not in lines:
        return None
    names = set()
    for line in lines[lines.index(header) + 1:]:
        if not line.startswith("|"):
            break  # the table ends at its first line that is not a row
        first = line.strip("|").split("|")[0]
        names.update(re.findall(r"`([^`]+)`", first))
    return names


def kind_doc_check():
    """Messages for the kinds of kinds.h a documentation table has no row for."""
    kinds = registered_kinds()
    if not kinds:
        return [f"{KINDS_LIST}: no GRAFT_LAYER_KIND lines found"]
    bad = []
    for path, header in KIND_TABLES:
        have = table_kinds(path, header)
        if have is None:
            bad.append(f"{path}: no table with the header {header}")
            continue
        missing = [k for k in kinds if k not in have]
        if missing:
            bad.append(f"{path}: the table \"{header}\" has no row for the kind(s) "
                       f"{', '.join(missing)} of {KINDS_LIST}")
    print(f"kind docs: {len(kinds)} kinds in {KINDS_LIST}, checked against {len(KIND_TABLES)} tables")
    return bad


# ---- the run ----------------------------------------------------------------

def object_checks(build, shown_build):
    """The floors and cycles checks on the objects: (results, edges, cycles)."""
    objects, stale = find_objects(build)
    if stale:
        print(f"note: ignored {len(stale)} objects whose source is gone "
              f"(the flat layout before the split, or a removed file; e.g. {stale[0]})")
    for src in [s for s, o in objects.items() if os.path.getmtime(o) < os.path.getmtime(os.path.join(ROOT, s))]:
        print(f"note: the object of {src} is older than it (mid-edit?): run make -j2 all")
    try:
        if not objects:
            raise RuntimeError(f"no objects under {shown_build}/obj: run make -j2 all")
        edges, dups = object_graph(objects)
    except (OSError, RuntimeError, subprocess.CalledProcessError) as e:
        return [("floors", [str(e)]), ("cycles", [str(e)])], {}, []
    for src in source_files("src"):  # a new file, or one the build skipped: its edges are unseen
        if src.endswith(".c") and floor_of(src) is not None and src not in objects:
            print(f"note: {src} is not built, so not in the object graph")
    for name, files in sorted(dups.items()):
        print(f"note: {name} is defined in {len(files)} files: {', '.join(files)}")
    comps, lines, bad = cycle_messages(edges, ALLOWED_CYCLES, "object")
    print("\n".join(lines + [f"object graph: {len(comps)} cycles (SCCs of more than one file)"]))
    return [("floors", floor_violations(edges, public_symbols(), lambda n: f"uses {n}")),
            ("cycles", bad)], edges, comps


def include_checks():
    """The include floors and include cycles checks: (results, edges, cycles)."""
    edges, unresolved = include_graph()
    for path, name in unresolved:
        print(f'note: {path}: #include "{name}" found nowhere (a system header?)')
    outside = [f"{s}: not in any floor {FLOORS}" for s in source_files("src")
               if s.endswith((".c", ".h")) and floor_of(s) is None]
    comps, lines, bad = cycle_messages(edges, ALLOWED_INCLUDE_CYCLES, "include")
    print("\n".join(lines + [f"include graph: {len(comps)} cycles"]))
    return [("include floors", outside + floor_violations(edges, None, lambda n: f'#include "{n}"')),
            ("include cycles", bad)], edges, comps


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--build", default="build", help="the build folder, from the tree's root (default: build)")
    ap.add_argument("--report", action="store_true", help="print a summary of the measured graphs")
    args = ap.parse_args()
    results, edges, comps = object_checks(os.path.join(ROOT, args.build), args.build)
    inc_results, inc_edges, inc_comps = include_checks()
    sizes = line_counts()
    results += inc_results + [("sizes", [f"{p}: {n} lines (limit {MAX_LINES})" for p, n in
                                         sorted(sizes, key=lambda x: -x[1]) if n > MAX_LINES]),
                                ("kind docs", kind_doc_check())]
    if args.report:
        report(sizes, edges, comps, inc_edges, inc_comps)
    print()
    for name, bad in results:
        print(f"{'FAIL' if bad else 'PASS'} {name}" + (f": {len(bad)}" if bad else ""))
        for msg in bad:
            print(f"    {msg}")
    failed = sum(1 for _, bad in results if bad)
    print(f"{len(results) - failed} passed, {failed} failed")
    return 1 if failed else 0


def report(sizes, edges, comps, inc_edges, inc_comps):
    src = [(p, n) for p, n in sizes if p.startswith("src/") and p.endswith((".c", ".h"))]
    rank = {f: i for i, f in enumerate(FLOORS)}
    folders = sorted({folder_of(p) for p, _ in src if folder_of(p)}, key=lambda f: rank.get(f, 99))
    big = max(sizes, key=lambda x: x[1], default=("-", 0))
    between = defaultdict(int)  # (folder, folder) -> file edges
    for a, b in edges:
        if folder_of(a) != folder_of(b):
            between[(folder_of(a), folder_of(b))] += 1
    print("\nreport")
    print(f"  source files (src/, .c and .h): {len(src)}, {sum(n for _, n in src)} lines, "
          f"in {len(folders)} folders ({' '.join(folders)})")
    print(f"  largest file (src/, tests/, include/): {big[0]}, {big[1]} lines")
    print(f"  file-level edges (objects): {len(edges)}; include edges: {len(inc_edges)}")
    print(f"  edges between folders: {sum(between.values())} file edges in {len(between)} folder pairs")
    print(f"  SCCs of more than one file: {len(comps)} (objects), {len(inc_comps)} (includes)")
    print("  folder graph (file edges; UP marks an upward pair):")
    for (a, b), n in sorted(between.items(), key=lambda x: (rank.get(x[0][0], 99), rank.get(x[0][1], 99))):
        print(f"    {a:>7} -> {b:<7} {n:4}" + ("  UP" if rank.get(b, 99) > rank.get(a, 99) else ""))


if __name__ == "__main__":
    sys.exit(main())
