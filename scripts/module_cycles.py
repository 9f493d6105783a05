#!/usr/bin/env python3
"""Finds import cycles inside a Rust crate: between its top-level modules and between files.

    scripts/module_cycles.py [--known FILE] ingest/src processing/src

A cycle makes two parts of a crate one part in disguise: neither can be read, tested or
moved without the other. This reports, per crate source directory,

- cycles between top-level modules (`decode` uses `pipeline` and `pipeline` uses `decode`);
- cycles between files: two files that import each other, or a ring of files. A child that
  imports its parent's own items while the parent imports (or re-exports) the child's
  counts too — put what both need in a file of its own.

What counts as an import: every path in a `use` (also `pub use`) and every path written in
code that starts with `crate::`, `super::`, `self::` or the name of a module the file
declares. A path leads to the file that defines the item: the longest module prefix, then
through that module's `pub use` re-exports. Comments (so intra-doc links) and string
literals are ignored; an inline `mod tests { use super::*; }` stays within its file.

Prints every cycle with one import per edge as evidence and exits 1 if there is any —
except file cycles listed in the `--known` file (one per line: the crate directory, then
the cycle's files; `#` starts a comment), which are printed as known. A listed cycle that
is gone fails too, so the list only shrinks. Cycles between top-level modules cannot be
listed.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

IDENT = r"[A-Za-z_][A-Za-z0-9_]*"


def strip(src: str) -> str:
    """Blanks comments, string and char literals (keeping line breaks and lengths)."""
    out = []
    i, n = 0, len(src)
    char_lit = re.compile(r"'(?:\\(?:x[0-9a-fA-F]{2}|u\{[0-9a-fA-F]+\}|.)|[^\\'\n])'")
    raw_str = re.compile(r'b?r(#*)"')

    def blank(text: str) -> str:
        return re.sub(r"[^\n]", " ", text)

    while i < n:
        c = src[i]
        if src.startswith("//", i):
            j = src.find("\n", i)
            j = n if j < 0 else j
            out.append(blank(src[i:j]))
            i = j
        elif src.startswith("/*", i):
            depth, j = 1, i + 2
            while j < n and depth:
                if src.startswith("/*", j):
                    depth, j = depth + 1, j + 2
                elif src.startswith("*/", j):
                    depth, j = depth - 1, j + 2
                else:
                    j += 1
            out.append(blank(src[i:j]))
            i = j
        elif (m := raw_str.match(src, i)) and (i == 0 or not re.match(r"\w", src[i - 1])):
            end = src.find('"' + m.group(1), m.end())
            j = n if end < 0 else end + 1 + len(m.group(1))
            out.append(blank(src[i:j]))
            i = j
        elif c == '"':
            j = i + 1
            while j < n and src[j] != '"':
                j += 2 if src[j] == "\\" else 1
            out.append(blank(src[i : j + 1]))
            i = j + 1
        elif c == "'" and (m := char_lit.match(src, i)):
            out.append(blank(m.group(0)))
            i = m.end()
        else:
            out.append(c)
            i += 1
    return "".join(out)


def expand_use(tree: str) -> list[tuple[list[str], str | None]]:
    """`a::{b, c::{d as e}, f::*}` → [(path, alias)], `*` kept as a last segment."""
    tree = re.sub(r"\s+as\s+", "@", tree)
    tree = re.sub(r"\s+", "", tree)
    results: list[tuple[list[str], str | None]] = []

    def parse(s: str, prefix: list[str]) -> None:
        # split top-level commas
        parts, depth, cur = [], 0, ""
        for ch in s:
            if ch == "{":
                depth += 1
            elif ch == "}":
                depth -= 1
            if ch == "," and depth == 0:
                parts.append(cur)
                cur = ""
            else:
                cur += ch
        parts.append(cur)
        for part in parts:
            if not part:
                continue
            brace = part.find("{")
            if brace >= 0:
                head = part[:brace].rstrip(":")
                segs = [x for x in head.split("::") if x] if head else []
                parse(part[brace + 1 : part.rfind("}")], prefix + segs)
            else:
                alias = None
                if "@" in part:
                    part, alias = part.split("@", 1)
                segs = [x for x in part.split("::") if x]
                if segs == ["self"]:
                    results.append((prefix, alias))
                else:
                    results.append((prefix + segs, alias))

    parse(tree, [])
    return results


class Crate:
    def __init__(self, root: Path):
        self.root = root
        self.files: dict[tuple[str, ...], Path] = {}  # module path -> file
        self.inline: dict[tuple[str, ...], Path] = {}  # inline module path -> file
        self.exports: dict[tuple[str, ...], dict[str, list[str]]] = {}
        self.globs: dict[tuple[str, ...], list[list[str]]] = {}
        self.text: dict[Path, str] = {}
        for f in sorted(root.rglob("*.rs")):
            rel = f.relative_to(root).with_suffix("")
            parts = list(rel.parts)
            if parts in (["lib"], ["main"]):
                parts = []
            elif parts[-1] == "mod":
                parts = parts[:-1]
            self.files[tuple(parts)] = f
            self.text[f] = strip(f.read_text())

    def module_of(self, path: tuple[str, ...]) -> Path | None:
        return self.files.get(path) or self.inline.get(path)

    def rel(self, f: Path) -> str:
        return str(f.relative_to(self.root))

    def scan(self):
        """Yields (file, module path at that point, line, absolute path segments, is_reexport)."""
        uses = []
        for mod, f in self.files.items():
            text = self.text[f]
            # inline modules: track `mod name {` by brace depth
            stack: list[tuple[str, int]] = []
            depth = 0
            children = {m.group(1) for m in re.finditer(rf"\bmod\s+({IDENT})\s*;", text)}
            pos = 0
            token = re.compile(
                rf"(?P<mod>\bmod\s+(?P<name>{IDENT})\s*\{{)|(?P<open>\{{)|(?P<close>\}})|"
                rf"(?P<use>\b(?P<vis>pub(?:\s*\([^)]*\))?\s+)?use\s+(?P<tree>[^;]*);)|"
                rf"(?P<path>(?<![\w:$])(?:{IDENT})(?:\s*::\s*{IDENT})+)"
            )
            for m in token.finditer(text):
                here = tuple(mod) + tuple(name for name, _ in stack)
                line = text.count("\n", 0, m.start()) + 1
                if m.group("mod"):
                    stack.append((m.group("name"), depth))
                    depth += 1
                    self.inline[tuple(mod) + tuple(n for n, _ in stack)] = f
                elif m.group("open"):
                    depth += 1
                elif m.group("close"):
                    depth -= 1
                    if stack and stack[-1][1] == depth:
                        stack.pop()
                elif m.group("use"):
                    for segs, alias in expand_use(m.group("tree")):
                        uses.append((f, here, line, segs, alias, bool(m.group("vis")), children, True))
                elif m.group("path"):
                    segs = [s.strip() for s in m.group("path").split("::")]
                    uses.append((f, here, line, segs, None, False, children, False))
        for f, here, line, segs, alias, vis, children, is_use in uses:
            absolute = self.absolute(here, segs, children if len(here) == len(self.mod_of_file(f)) else set())
            if absolute is None:
                continue
            if is_use and vis and absolute[-1:] != ["*"]:
                name = alias or absolute[-1]
                if name != "self":
                    self.exports.setdefault(here, {})[name] = absolute
            if is_use and vis and absolute[-1:] == ["*"]:
                self.globs.setdefault(here, []).append(absolute[:-1])
            yield f, here, line, absolute, vis and is_use

    def mod_of_file(self, f: Path) -> tuple[str, ...]:
        for mod, g in self.files.items():
            if g == f:
                return mod
        raise KeyError(f)

    def absolute(self, here: tuple[str, ...], segs: list[str], children: set[str]) -> list[str] | None:
        first = segs[0]
        if first == "crate":
            return segs[1:]
        if first in ("super", "self"):
            cur = list(here)
            rest = list(segs)
            while rest and rest[0] in ("super", "self"):
                if rest[0] == "super":
                    if not cur:
                        return None
                    cur.pop()
                rest.pop(0)
            return cur + rest
        # a child module of this one, by name (uniform paths)
        if first in children or (tuple(here) + (first,)) in self.inline:
            return list(here) + segs
        return None

    def resolve(self, segs: list[str], seen: frozenset = frozenset()) -> Path | None:
        """The file that defines the item `segs` names (absolute from the crate root)."""
        if segs and segs[-1] == "*":
            segs = segs[:-1]
        for k in range(len(segs), -1, -1):
            mod = tuple(segs[:k])
            f = self.module_of(mod)
            if f is None:
                continue
            if k < len(segs):
                item = segs[k]
                key = (mod, item)
                target = self.exports.get(mod, {}).get(item)
                if target is not None and key not in seen:
                    return self.resolve(target + segs[k + 1 :], seen | {key}) or f
                for glob in self.globs.get(mod, []):
                    if (mod, "*", tuple(glob)) in seen:
                        continue
                    inner = self.resolve(glob + segs[k:], seen | {(mod, "*", tuple(glob))})
                    if inner is not None and inner != self.module_of(tuple(glob)):
                        return inner
            return f
        return None


def sccs(nodes, edges):
    """Tarjan's strongly connected components with more than one node."""
    index, low, on, stack, out = {}, {}, set(), [], []
    counter = [0]
    sys.setrecursionlimit(10000)

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in sorted(edges.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(nodes):
        if v not in index:
            visit(v)
    return out


def check(root: Path, known: set[tuple[str, frozenset[str]]], seen_known: set) -> int:
    crate = Crate(root)
    # two passes: the first collects re-exports, the second resolves through them
    list(crate.scan())
    file_edges: dict[str, dict[str, str]] = {}
    mod_edges: dict[str, dict[str, str]] = {}
    for f, _here, line, absolute, _reexport in crate.scan():
        target = crate.resolve(absolute)
        if target is None or target == f:
            continue
        src, dst = crate.rel(f), crate.rel(target)
        evidence = f"{src}:{line} {'::'.join(absolute)}"
        file_edges.setdefault(src, {}).setdefault(dst, evidence)
        top_src, top_dst = top(crate, f), top(crate, target)
        if top_src and top_dst and top_src != top_dst:
            mod_edges.setdefault(top_src, {}).setdefault(top_dst, evidence)
    found = 0
    name = str(root)
    for kind, edges in (("top-level modules", mod_edges), ("files", file_edges)):
        nodes = set(edges) | {d for e in edges.values() for d in e}
        comps = sccs(nodes, edges)
        if not comps:
            print(f"{name}: no cycle between {kind}")
        for comp in comps:
            members = set(comp)
            entry = (name.rstrip("/"), frozenset(comp))
            if kind == "files" and entry in known:
                seen_known.add(entry)
                print(f"{name}: known cycle between files (listed, to be removed): {' ⇄ '.join(comp)}")
                continue
            found += 1
            print(f"{name}: cycle between {kind}: {' ⇄ '.join(comp)}")
            for a in comp:
                for b, evidence in sorted(edges.get(a, {}).items()):
                    if b in members:
                        print(f"    {a} → {b}   ({evidence})")
    return found


def top(crate: Crate, f: Path) -> str | None:
    """The top-level module a file belongs to; None for the crate root."""
    parts = f.relative_to(crate.root).with_suffix("").parts
    if parts in (("lib",), ("main",)):
        return None
    return parts[0]


def read_known(path: Path) -> set[tuple[str, frozenset[str]]]:
    known = set()
    for line in path.read_text().splitlines():
        words = line.split("#", 1)[0].split()
        if len(words) >= 3:
            known.add((words[0].rstrip("/"), frozenset(words[1:])))
    return known


def main(argv: list[str]) -> int:
    known: set[tuple[str, frozenset[str]]] = set()
    if argv[:1] == ["--known"] and len(argv) >= 2:
        known = read_known(Path(argv[1]))
        argv = argv[2:]
    if not argv:
        print(__doc__)
        return 2
    seen_known: set = set()
    found = sum(check(Path(arg), known, seen_known) for arg in argv)
    checked = {str(Path(arg)).rstrip("/") for arg in argv}
    for root, files in sorted(known - seen_known, key=lambda e: (e[0], sorted(e[1]))):
        if root in checked:
            found += 1
            print(f"{root}: listed cycle {' ⇄ '.join(sorted(files))} is gone: remove it from the list")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
