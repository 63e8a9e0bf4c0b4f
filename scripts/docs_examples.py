#!/usr/bin/env python3
"""Runs the code examples of the documentation against the built packages.

Every fenced code block tagged python, sh (or bash), julia, js, ts or c in the given Markdown files
(default: docs/index.md, docs/guides/*.md, docs/api/*.md) is an example, and runs:

  python  in this interpreter (the project's .venv), compiled with the Markdown file as its file
          name, so a traceback points at the Markdown line
  julia   julia --project=packages/julia/RankRelax (include_string with the Markdown file's name)
  js      node, as an ES module; `@rank-relax/node` resolves to packages/node
  ts      type-checked by tsc (strict) against packages/node's .d.ts, all blocks in one run, then
          run by node
  c       compiled with cc -std=c99 -Wall -Wextra -Werror against crates/rank-relax-ffi/include and
          target/release/librank_relax_c.a, then run
  sh      bash -euo pipefail

Each Markdown file gets a scratch folder; its blocks run there, in the file's order, so a later
block can use what an earlier one wrote. RANK_RELAX_ROOT is the repository root.

Conventions in the Markdown:

  <!-- no-run -->        on the line before a fence: show the block, don't run it (a signature, a
                         command that installs something)
  ```c file=example.c    write the block to example.c in the scratch folder instead of running it
                         (any language; a later sh block builds or runs it)
  <!-- output -->        on the line before a ```text block: the exact standard output of the
                         runnable block just above it (lines compared with trailing spaces removed)

Blocks tagged anything else (text, console, yaml, …) are not run. A failure prints file:line of the
block and its output. The last line is `docs: N passed, M failed`; the exit status is 1 if any
failed. Usage:

  python scripts/docs_examples.py [--lang LANG[,LANG…]] [--list] [-j JOBS] [FILE.md …]
"""

from __future__ import annotations

import argparse
import concurrent.futures
import dataclasses
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RUNNABLE = {"python": "python", "py": "python", "sh": "sh", "bash": "sh", "julia": "julia", "js": "js",
            "javascript": "js", "ts": "ts", "typescript": "ts", "c": "c"}
NO_RUN = "<!-- no-run -->"
OUTPUT = "<!-- output -->"
TIMEOUT = int(os.environ.get("DOCS_EXAMPLE_TIMEOUT", "600"))
FENCE = re.compile(r"^(?P<indent> {0,3})(?P<fence>`{3,}|~{3,})(?P<info>.*)$")


@dataclasses.dataclass
class Block:
    path: str  # relative to ROOT
    line: int  # 1-based line of the opening fence
    lang: str  # runnable language, or the tag as written
    info: str
    code: str
    run: bool
    file: str | None = None  # file=NAME
    expected: str | None = None  # the <!-- output --> block after it

    @property
    def where(self) -> str:
        return f"{self.path}:{self.line}"

    def padded(self) -> str:
        """The code preceded by blank lines, so that its line k is the Markdown's line k."""
        return "\n" * self.line + self.code


def parse(path: Path) -> list[Block]:
    rel = str(path.resolve().relative_to(ROOT))
    lines = path.read_text(encoding="utf-8").split("\n")
    blocks: list[Block] = []
    i = 0
    while i < len(lines):
        m = FENCE.match(lines[i])
        if not m:
            i += 1
            continue
        fence, info = m.group("fence"), m.group("info").strip()
        start = i
        body: list[str] = []
        i += 1
        while i < len(lines):
            close = FENCE.match(lines[i])
            if close and close.group("fence")[0] == fence[0] and len(close.group("fence")) >= len(fence) \
                    and close.group("info").strip() == "":
                break
            body.append(lines[i].removeprefix(m.group("indent")))
            i += 1
        else:
            raise SystemExit(f"{rel}:{start + 1}: unclosed code fence")
        i += 1
        words = info.split()
        tag = words[0].lower() if words else ""
        attrs = dict(w.split("=", 1) for w in words[1:] if "=" in w)
        prev = next((lines[k].strip() for k in range(start - 1, -1, -1) if lines[k].strip() != ""), "")
        code = "\n".join(body) + "\n"
        if prev == OUTPUT:
            runnable = [b for b in blocks if b.run and b.file is None]
            if not runnable:
                raise SystemExit(f"{rel}:{start + 1}: an output block with no runnable block before it")
            runnable[-1].expected = code
            continue
        lang = RUNNABLE.get(tag, tag)
        blocks.append(Block(rel, start + 1, lang, info, code, lang in RUNNABLE.values() and prev != NO_RUN,
                            attrs.get("file")))
    return blocks


def default_files() -> list[Path]:
    docs = ROOT / "docs"
    return [p for p in [docs / "index.md"] if p.exists()] + sorted((docs / "guides").glob("*.md")) \
        + sorted((docs / "api").glob("*.md"))


@dataclasses.dataclass
class Result:
    block: Block
    ok: bool
    seconds: float
    detail: str = ""


def c_link_flags() -> list[str]:
    lib = Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target")) / "release" / "librank_relax_c.a"
    system = ["-framework", "CoreFoundation", "-lSystem"] if platform.system() == "Darwin" else ["-lpthread", "-ldl", "-lm"]
    return [str(lib), *system]


def slug(block: Block) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "_", block.path) + f"_L{block.line}"


class Runner:
    def __init__(self, scratch: Path) -> None:
        self.scratch = scratch
        self.env = dict(os.environ, RANK_RELAX_ROOT=str(ROOT), PYTHONDONTWRITEBYTECODE="1")
        self.julia = os.environ.get("JULIA", "julia")
        self.cc = os.environ.get("CC", "cc")
        self.ts_errors: dict[str, str] = {}  # slug → tsc's messages for that block

    def folder(self, path: str) -> Path:
        d = self.scratch / re.sub(r"[^A-Za-z0-9]+", "_", path)
        if not d.exists():
            d.mkdir(parents=True)
            modules = d / "node_modules" / "@rank-relax"
            modules.mkdir(parents=True)
            (modules / "node").symlink_to(ROOT / "packages" / "node")
        return d

    def run(self, cmd: list[str], cwd: Path) -> tuple[bool, str, str]:
        try:
            p = subprocess.run(cmd, check=False, cwd=cwd, env=self.env, capture_output=True, text=True, timeout=TIMEOUT,
                               stdin=subprocess.DEVNULL)
        except subprocess.TimeoutExpired as e:
            out = e.stdout.decode() if isinstance(e.stdout, bytes) else (e.stdout or "")
            return False, out, f"timed out after {TIMEOUT} s"
        return p.returncode == 0, p.stdout, p.stderr + ("" if p.returncode == 0 else f"\n(exit status {p.returncode})")

    def block(self, b: Block) -> tuple[bool, str, str]:
        d = self.folder(b.path)
        if b.file is not None:
            (d / b.file).write_text(b.code, encoding="utf-8")
            return True, "", ""
        name = slug(b)
        if b.lang == "python":
            src = d / f"{name}.py"
            src.write_text(b.padded(), encoding="utf-8")
            boot = ("import sys; p = sys.argv.pop(1); f = sys.argv.pop(1); sys.argv[0] = f; "
                    "exec(compile(open(p, encoding='utf-8').read(), f, 'exec'), {'__name__': '__main__'})")
            return self.run([sys.executable, "-c", boot, str(src), b.path], d)
        if b.lang == "julia":
            src = d / f"{name}.jl"
            src.write_text(b.padded(), encoding="utf-8")
            return self.run([self.julia, "--startup-file=no", "--history-file=no",
                             f"--project={ROOT / 'packages' / 'julia' / 'RankRelax'}", "-e",
                             "include_string(Main, read(ARGS[1], String), ARGS[2])", str(src), b.path], d)
        if b.lang == "js":
            src = d / f"{name}.mjs"
            src.write_text(b.padded(), encoding="utf-8")
            return self.run(["node", str(src)], d)
        if b.lang == "ts":
            if name in self.ts_errors:
                return False, "", self.ts_errors[name]
            return self.run(["node", str(self.scratch / "ts" / "out" / f"{name}.mjs")], d)
        if b.lang == "c":
            src = d / f"{name}.c"
            src.write_text(f'#line {b.line + 1} "{b.path}"\n{b.code}', encoding="utf-8")
            exe = d / name
            include = ROOT / "crates" / "rank-relax-ffi" / "include"
            ok, out, err = self.run([self.cc, "-std=c99", "-Wall", "-Wextra", "-Werror", "-I", str(include), "-I", str(d),
                                     str(src), *c_link_flags(), "-o", str(exe)], d)
            if not ok:
                return ok, out, err
            return self.run([str(exe)], d)
        if b.lang == "sh":
            src = d / f"{name}.sh"
            # The trap takes the first (blank) line of the padding: line numbers still match.
            trap = f"trap 'echo \"{b.path}:$LINENO: failed: $BASH_COMMAND\" >&2' ERR"
            src.write_text(trap + b.padded(), encoding="utf-8")
            return self.run(["bash", "-euo", "pipefail", str(src)], d)
        return False, "", f"no runner for {b.lang}"

    def compile_ts(self, blocks: list[Block]) -> None:
        """Type-checks and compiles every ts block in one tsc run; errors are kept per block."""
        ts = [b for b in blocks if b.lang == "ts" and b.run and b.file is None]
        if not ts:
            return
        d = self.scratch / "ts"
        (d / "node_modules" / "@rank-relax").mkdir(parents=True, exist_ok=True)
        (d / "node_modules" / "@rank-relax" / "node").symlink_to(ROOT / "packages" / "node")
        node_types = ROOT / "packages" / "node" / "node_modules" / "@types"
        for b in ts:
            (d / f"{slug(b)}.mts").write_text(b.padded(), encoding="utf-8")
        (d / "tsconfig.json").write_text(
            '{"compilerOptions": {"target": "ES2022", "lib": ["ES2023"], "module": "NodeNext",'
            ' "moduleResolution": "NodeNext", "strict": true, "exactOptionalPropertyTypes": true,'
            ' "noUncheckedIndexedAccess": true, "skipLibCheck": true, "types": ["node"],'
            f' "typeRoots": ["{node_types}"], "rootDir": ".", "outDir": "out"}}, "include": ["*.mts"]}}\n',
            encoding="utf-8",
        )
        tsc = ROOT / "packages" / "node" / "node_modules" / ".bin" / "tsc"
        ok, out, err = self.run([str(tsc), "-p", "tsconfig.json", "--pretty", "false"], d)
        if ok:
            return
        names = {slug(b): b for b in ts}
        for line in (out + err).splitlines():
            m = re.match(r"^(\S+)\.mts\((\d+),(\d+)\): (.*)$", line)
            if m and m.group(1) in names:
                b = names[m.group(1)]
                self.ts_errors[m.group(1)] = self.ts_errors.get(m.group(1), "") + \
                    f"{b.path}:{m.group(2)}:{m.group(3)}: {m.group(4)}\n"
        if not self.ts_errors:
            for b in ts:
                self.ts_errors[slug(b)] = f"tsc failed:\n{out}{err}"


def normalise(text: str) -> str:
    return "\n".join(line.rstrip() for line in text.strip("\n").split("\n"))


def run_file(runner: Runner, blocks: list[Block]) -> list[Result]:
    results = []
    for b in blocks:
        start = time.monotonic()
        ok, out, err = runner.block(b)
        detail = ""
        if ok and b.expected is not None and normalise(out) != normalise(b.expected):
            ok = False
            detail = f"output differs from the block after it\n--- expected\n{b.expected}--- got\n{out}"
        elif not ok:
            detail = (out[-3000:] + err[-6000:]).strip()
        results.append(Result(b, ok, time.monotonic() - start, detail))
    return results


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("files", nargs="*", type=Path)
    ap.add_argument("--lang", help="only these languages (comma-separated): python,julia,js,ts,c,sh")
    ap.add_argument("--list", action="store_true", help="list the examples, run nothing")
    ap.add_argument("-j", "--jobs", type=int, default=int(os.environ.get("DOCS_JOBS", "2")))
    ap.add_argument("--keep", action="store_true", help="keep the scratch folder")
    args = ap.parse_args()

    files = args.files or default_files()
    langs = set(args.lang.split(",")) if args.lang else set(RUNNABLE.values())
    by_file = []
    for f in files:
        blocks = [b for b in parse(f) if b.run and (b.lang in langs or b.file is not None)]
        if blocks:
            by_file.append(blocks)
    if args.list:
        for blocks in by_file:
            for b in blocks:
                print(f"{b.where}\t{b.lang}{'' if b.file is None else ' file=' + b.file}"
                      f"{'' if b.expected is None else ' (output checked)'}")
        return 0

    scratch = Path(tempfile.mkdtemp(prefix="rank-relax-docs-"))
    runner = Runner(scratch)
    runner.compile_ts([b for blocks in by_file for b in blocks])
    results: list[Result] = []
    with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
        for rs in pool.map(lambda bs: run_file(runner, bs), by_file):
            for r in rs:
                if r.block.file is not None:
                    continue
                results.append(r)
                status = "ok  " if r.ok else "FAIL"
                print(f"{status} {r.block.where} ({r.block.lang}{', output checked' if r.block.expected else ''}, "
                      f"{r.seconds:.1f} s)", flush=True)
                if not r.ok:
                    print("\n".join(f"     | {line}" for line in r.detail.splitlines()), flush=True)
    if args.keep:
        print(f"scratch folder: {scratch}")
    else:
        shutil.rmtree(scratch, ignore_errors=True)

    print()
    for lang in sorted({r.block.lang for r in results}):
        rs = [r for r in results if r.block.lang == lang]
        print(f"  {lang:<7} {sum(r.ok for r in rs):>3} passed, {sum(not r.ok for r in rs)} failed")
    failed = [r for r in results if not r.ok]
    for r in failed:
        print(f"broken example: {r.block.where} ({r.block.lang})")
    print(f"docs: {len(results) - len(failed)} passed, {len(failed)} failed")
    return 1 if failed or not results else 0


if __name__ == "__main__":
    sys.exit(main())
