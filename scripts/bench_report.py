#!/usr/bin/env python3
"""Gathers the results of scripts/bench.sh into docs/benchmarks.md and docs/benchmarks.png.

    python scripts/bench_report.py [--results DIR] [--markdown FILE] [--plot FILE]

DIR (default $BENCH_OUT, else target/bench) holds what scripts/bench.sh left there:

- ``<suite>.jsonl``: JSON lines written by the benchmarks that support ``BENCH_OUT`` (core, threads,
  memory, node), one object per result row;
- ``<suite>.log``: each suite's printed output; the Julia and Python tables are parsed from it
  (they are other engineers' benchmarks, so the report reads what they print), and an output it
  cannot parse is shown as printed;
- ``suites.jsonl``: the outcome of each suite (ok, failed, not run, with the reason) and the load
  average before and after it; ``machine.jsonl``: nproc and the load at the start and the end.

The Markdown gets a description of the machine (nproc, CPU model, memory, versions), the issue-8
targets with the measured values, one table per suite with ratios, and the list of suites that did
not run. The plot has four panels: core vs argsort, binding overhead, thread speedup, memory.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import importlib.metadata
import json
import os
import platform
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
Row = dict[str, Any]


# ---------------------------------------------------------------------------------------------
# Inputs


def read_jsonl(path: Path) -> list[Row]:
    if not path.is_file():
        return []
    rows = []
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if line:
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError:
                pass
    return rows


def read_text(path: Path) -> str:
    return path.read_text(encoding="utf-8", errors="replace") if path.is_file() else ""


def command_version(*cmd: str) -> str | None:
    try:
        out = subprocess.run(
            cmd, capture_output=True, text=True, timeout=60, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    text = (out.stdout or out.stderr).strip().splitlines()
    return text[0].strip() if out.returncode == 0 and text else None


def package_version(name: str) -> str | None:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None


def cpu_model() -> str:
    text = read_text(Path("/proc/cpuinfo"))
    m = re.search(r"^model name\s*:\s*(.+)$", text, re.MULTILINE)
    return m.group(1).strip() if m else platform.processor() or "unknown"


def memory_total() -> str:
    m = re.search(
        r"^MemTotal:\s*(\d+) kB", read_text(Path("/proc/meminfo")), re.MULTILINE
    )
    return f"{int(m.group(1)) / 1024 / 1024:.1f} GiB" if m else "unknown"


def machine(results: Path) -> list[tuple[str, str]]:
    info: Row = {}
    for row in read_jsonl(results / "machine.jsonl"):
        info.update(row)
    suites = read_jsonl(results / "suites.jsonl")
    loads = [
        r[k]
        for r in suites
        for k in ("load_before", "load_after")
        if isinstance(r.get(k), (int, float))
    ]
    commit = (
        command_version("git", "-C", str(ROOT), "rev-parse", "--short", "HEAD")
        or "unknown"
    )
    # The report's own outputs (the PNG is written before the table) do not count.
    dirty = command_version(
        "git",
        "-C",
        str(ROOT),
        "status",
        "--porcelain",
        "--untracked-files=no",
        "--",
        ".",
        ":!docs/benchmarks.md",
        ":!docs/benchmarks.png",
    )
    rows = [
        ("nproc", str(info.get("nproc", os.cpu_count()))),
        ("CPU", cpu_model()),
        ("memory", memory_total()),
        ("OS", f"{platform.system()} {platform.release()} ({platform.machine()})"),
        (
            "load average (1 min)",
            f"{info.get('load_start', '?')} at the start, {info.get('load_end', '?')} at the end "
            "of the last run"
            + (
                f"; {min(loads):.2f}–{max(loads):.2f} around the suites"
                if loads
                else ""
            ),
        ),
        ("rustc", command_version("rustc", "--version") or "not found"),
        ("node", command_version("node", "--version") or "not found"),
        ("python", platform.python_version()),
        ("torch", package_version("torch") or "not installed"),
        ("torchsort", package_version("torchsort") or "not installed"),
        ("jax", package_version("jax") or "not installed"),
        ("julia", command_version("julia", "--version") or "not found"),
        ("commit", commit + (" (with uncommitted changes)" if dirty else "")),
        ("date", _dt.datetime.now(_dt.UTC).strftime("%Y-%m-%d %H:%M UTC")),
    ]
    return rows


# ---------------------------------------------------------------------------------------------
# The Julia benchmark prints a table; parse its rows: "  label   median   min".

JULIA_ROW = re.compile(r"^\s{2}(\S.*?)\s{2,}(-?[\d.]+)(?:\s+(-?[\d.]+))?\s*$")


def parse_julia(text: str) -> tuple[str, list[Row], list[str]]:
    """(title line, rows {phase, label, median_us, min_us}, the overhead lines)."""
    title = ""
    phase = ""
    rows: list[Row] = []
    overhead: list[str] = []
    in_overhead = False
    for line in text.splitlines():
        if line.startswith("soft_rank") and not title:
            title = line.strip()
        elif line.startswith((" phase", " overhead")):
            phase = line.strip()
            in_overhead = line.startswith(" overhead")
        elif in_overhead and line.startswith("  "):
            overhead.append(line.strip())
        elif phase and (m := JULIA_ROW.match(line)):
            rows.append(
                {
                    "phase": phase,
                    "label": m.group(1),
                    "median_us": float(m.group(2)),
                    "min_us": float(m.group(3)) if m.group(3) else None,
                }
            )
    return title, rows, overhead


# ---------------------------------------------------------------------------------------------
# A benchmark that prints Markdown tables (the Python one): its tables as rows keyed by header.


def parse_markdown_tables(text: str) -> list[tuple[str, list[Row]]]:
    """The tables in a printed output, each with the prose lines just before it (its title)
    and its rows as {header: cell}."""
    tables: list[tuple[str, list[Row]]] = []
    prose: list[str] = []
    header: list[str] | None = None
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith("|") and stripped.endswith("|"):
            cells = [c.strip() for c in stripped[1:-1].split("|")]
            if header is None:
                header = cells
                tables.append((" ".join(prose), []))
                prose = []
            elif all(re.fullmatch(r":?-{3,}:?", c) for c in cells):
                continue
            else:
                tables[-1][1].append(dict(zip(header, cells)))
        else:
            header = None
            if stripped and not stripped.startswith("---"):
                prose.append(stripped)
    return [t for t in tables if t[1]]


def number(cell: Any) -> float | None:
    """`1.234`, `+2.5%`, `3.10×` → the number (a percentage as given), else None."""
    m = re.search(r"[-+]?\d+(?:\.\d+)?", str(cell or ""))
    return float(m.group(0)) if m else None


def known(pairs: list[tuple[str, float | None]]) -> list[tuple[str, float]]:
    """The pairs whose number was found."""
    return [(k, v) for k, v in pairs if v is not None]


def column(row: Row, *words: str) -> Any:
    """The cell whose header contains every word (case-insensitive)."""
    for k, v in row.items():
        if all(w.lower() in k.lower() for w in words):
            return v
    return None


# ---------------------------------------------------------------------------------------------
# Markdown


def table(header: list[str], rows: list[list[Any]], align: str | None = None) -> str:
    align = align or "l" + "r" * (len(header) - 1)
    marks = {"l": "---", "r": "---:", "c": ":---:"}
    lines = [
        "| " + " | ".join(header) + " |",
        "|" + "|".join(marks[a] for a in align) + "|",
    ]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def shape(row: Row) -> str:
    s = row.get("shape") or []
    return "×".join(str(x) for x in s)


def f3(x: Any) -> str:
    return f"{x:.3f}" if isinstance(x, (int, float)) else "–"


def f2(x: Any) -> str:
    return f"{x:.2f}" if isinstance(x, (int, float)) else "–"


def pct(ratio: Any) -> str:
    return f"{(ratio - 1) * 100:+.1f} %" if isinstance(ratio, (int, float)) else "–"


def find(rows: list[Row], **want: Any) -> Row | None:
    for r in rows:
        if all(r.get(k) == v for k, v in want.items()):
            return r
    return None


class Report:
    def __init__(self, results: Path) -> None:
        self.results = results
        self.suites = read_jsonl(results / "suites.jsonl")
        self.core = read_jsonl(results / "core.jsonl")
        self.threads = read_jsonl(results / "threads.jsonl")
        self.memory = read_jsonl(results / "memory.jsonl")
        self.node = read_jsonl(results / "node.jsonl")
        self.jlrs = read_jsonl(results / "jlrs.jsonl")
        self.julia_title, self.julia, self.julia_overhead = parse_julia(
            read_text(results / "julia.log")
        )
        # The core bench's printed tables after its first (the one core.jsonl holds): JVP and HVP
        # against the VJP, soft_topk, neural_sort_apply, masked rows.
        self.core_tables = parse_markdown_tables(read_text(results / "core.log"))[1:]
        self.python_tables = parse_markdown_tables(read_text(results / "python.log"))
        self.python_table = self.python_table_with("torchsort")
        self.jax_table = self.python_table_with("FFI")
        self.sigmoid_table = next(
            (
                rows
                for title, rows in self.python_tables
                if title.startswith("sigmoid_rank")
            ),
            [],
        )

    def python_table_with(self, word: str) -> list[Row]:
        """The Python benchmark's table with a column whose header holds `word`."""
        return next(
            (
                rows
                for _, rows in self.python_tables
                if column(rows[0], word) is not None
            ),
            [],
        )

    def python_rows(self, shape_text: str, rows: list[Row] | None = None) -> list[Row]:
        """Rows of a table of the Python benchmark for one shape (`128×1000`)."""
        return [
            r
            for r in (self.python_table if rows is None else rows)
            if (column(r, "shape") or "").replace("x", "×") == shape_text
        ]

    # -- status of each suite

    def status(self, suite: str) -> str:
        rows = [r for r in self.suites if r.get("suite") == suite]
        if not rows:
            return "not run (not selected)"
        parts = []
        for r in rows:
            s = r.get("status", "?")
            detail = r.get("detail") or ""
            parts.append(f"{s}: {detail}" if detail and s != "ok" else s)
        return "; ".join(parts)

    def ran(self, suite: str) -> bool:
        return any(
            r.get("suite") == suite and r.get("status") == "ok" for r in self.suites
        )

    def not_run_note(self, suite: str) -> str:
        return f"_{self.status(suite)}._"

    # -- targets

    def targets(self) -> str:
        rows: list[list[str]] = []
        core = find(
            self.core,
            op="soft_rank",
            dtype="f64",
            shape=[128, 1000],
            threads=1,
            regularization="l2",
        )
        rows.append(
            [
                "core: soft_rank fwd+bwd, 128×1000 f64, 1 thread ≤ 1.2× a bare argsort",
                f"{f2(core['vs_argsort'])}×" if core else self.status("core"),
                ("met" if core["vs_argsort"] <= 1.2 else "not met") if core else "–",
            ]
        )
        big = find(self.threads, shape=[128, 1000])
        rows.append(
            [
                "threads: near-linear 1 → 2 threads at 128×1000 (speedup ≥ 1.8)",
                f"{f2(big['speedup'])}× ({f3(big['ms_1_thread'])} → "
                f"{f3(big['ms_threads'])} ms, best of {big.get('rounds', '?')} rounds)"
                if big
                else self.status("threads"),
                ("met" if big["speedup"] >= 1.8 else "not met") if big else "–",
            ]
        )
        if self.threads:
            worst = min(self.threads, key=lambda r: r["speedup"])
            rows.append(
                [
                    "threads: no batch slower on 2 threads than on 1 (within 3 %)",
                    f"slowest: {shape(worst)} at {f2(worst['speedup'])}×",
                    "met" if worst["speedup"] >= 0.97 else "not met",
                ]
            )
        tiny = find(self.threads, shape=[1, 100])
        rows.append(
            [
                "threads: no slowdown at 1×100 (2 threads within 3 % of 1)",
                f"2 threads / 1 thread = {f3(1 / tiny['speedup'])}"
                if tiny
                else self.status("threads"),
                ("met" if 1 / tiny["speedup"] <= 1.03 else "not met") if tiny else "–",
            ]
        )
        out = find(self.node, path="public API, out (reused arrays)")
        fresh = find(self.node, path="public API, fresh output arrays")
        rows.append(
            [
                "Node: softRank + softRankVjp at 128×1000 within 3 % of the core",
                (
                    f"{pct(out['vs_core'])} with `out`; {pct(fresh['vs_core'])} with fresh arrays"
                    if out and fresh
                    else self.status("node")
                ),
                ("met (with `out`)" if out["vs_core"] <= 1.03 else "not met")
                if out
                else "–",
            ]
        )
        jl_in = self.julia_ratio("Julia API in place", "raw ccall")
        rows.append(
            [
                "Julia: soft_rank forward! + pullback! at 128×1000 within 3 % of raw ccall",
                f"{pct(jl_in)} (median)" if jl_in is not None else self.status("julia"),
                ("met" if jl_in <= 1.03 else "not met") if jl_in is not None else "–",
            ]
        )
        for shape_ in ([1, 1000], [128, 1000]):
            jr = find(self.jlrs, shape=shape_)
            rows.append(
                [
                    (
                        f"Julia via jlrs (issue 19): soft_rank forward! + pullback! at "
                        f"{shape_[0]}×{shape_[1]} within 3 % of the core (the C ABI of the same "
                        "library, called from Rust)"
                    ),
                    f"{pct(jr['inplace_vs_cabi'])} (median of {jr['rounds']} rounds)"
                    if jr
                    else self.status("jlrs"),
                    ("met" if jr["inplace_vs_cabi"] <= 1.03 else "not met")
                    if jr
                    else "–",
                ]
            )
        overheads = known(
            [
                (
                    f"{column(r, 'dtype')} {column(r, 'threads')}t",
                    number(column(r, "torch", "overhead")),
                )
                for r in self.python_rows("128×1000")
            ]
        )
        # The floor any torch.autograd.Function over these kernels pays on this machine.
        floors = [
            v
            for r in self.python_rows("128×1000")
            if (v := number(column(r, "bare Function over"))) is not None
        ]
        floor = (
            f"; a bare autograd.Function over the same kernels: {min(floors):+.1f} to "
            f"{max(floors):+.1f} %"
            if floors
            else ""
        )
        rows.append(
            [
                "PyTorch: rank_relax.torch fwd+bwd at 128×1000 within 3 % of the kernels",
                ", ".join(f"{v:+.1f} % ({k})" for k, v in overheads) + floor
                if overheads
                else self.status("python"),
                ("met" if all(v <= 3 for _, v in overheads) else "not met")
                if overheads
                else "–",
            ]
        )
        speedups = known(
            [
                (
                    f"{column(r, 'dtype')} {column(r, 'threads')}t",
                    number(column(r, "speedup")),
                )
                for r in self.python_rows("1×1000")
            ]
        )
        rows.append(
            [
                "PyTorch: a 1×1000 call no slower than torchsort's",
                ", ".join(f"{v:.2f}× faster ({k})" for k, v in speedups)
                if speedups
                else self.status("python"),
                ("met" if all(v >= 1 for _, v in speedups) else "not met")
                if speedups
                else "–",
            ]
        )
        jax = known(
            [
                (
                    f"{column(r, 'dtype')} {column(r, 'threads')}t",
                    number(column(r, "FFI over")),
                )
                for r in self.python_rows("128×1000", self.jax_table)
            ]
        )
        rows.append(
            [
                "JAX: forward + VJP under jit (XLA FFI) at 128×1000 within 3 % of the kernels",
                ", ".join(f"{v:+.1f} % ({k})" for k, v in jax)
                if jax
                else self.status("python"),
                ("met" if all(v <= 3 for _, v in jax) else "not met") if jax else "–",
            ]
        )
        sig = known(
            [
                (
                    f"{column(r, 'shape')} {column(r, 'dtype')} {column(r, 'threads')}t",
                    number(column(r, "PyTorch / rank_relax")),
                )
                for r in self.sigmoid_table
            ]
        )
        rows.append(
            [
                "sigmoid_rank fwd+bwd against the same formula in plain PyTorch",
                (
                    "PyTorch's time / rank_relax's: "
                    f"{min(v for _, v in sig):.2f} to {max(v for _, v in sig):.2f} over "
                    "the shapes"
                    if sig
                    else self.status("python")
                ),
                "see Python" if sig else "–",
            ]
        )
        mem = self.memory[-1] if self.memory else None
        in_place = mem.get("in_place_ratio_op_owned") if mem else None
        rows.append(
            [
                "memory: peak RSS of soft_rank fwd+bwd, 4096×4096 f32, < 3× the input",
                (
                    (
                        f"{f2(in_place)}× with backward_in_place, {f2(mem['ratio_op_owned'])}× with backward, "
                        "for what soft_rank adds beyond the caller's input and cotangent; "
                        if in_place is not None
                        else f"{f2(mem['ratio_op_owned'])}× for what soft_rank adds beyond the caller's input "
                        "and cotangent; "
                    )
                    + f"{f2(mem.get('in_place_ratio_total', mem['ratio_total']))}× counting those too"
                    if mem
                    else self.status("memory")
                ),
                (
                    (
                        "met (backward_in_place)"
                        if in_place is not None and in_place < 3
                        else "not met"
                    )
                    if mem
                    else "–"
                ),
            ]
        )
        return table(["target (issue 8)", "measured", ""], rows, "llc")

    def julia_ratio(self, label_prefix: str, base_prefix: str) -> float | None:
        phase_rows: dict[str, list[Row]] = {}
        for r in self.julia:
            phase_rows.setdefault(r["phase"], []).append(r)
        for rows in phase_rows.values():
            a = next((r for r in rows if r["label"].startswith(label_prefix)), None)
            b = next((r for r in rows if r["label"].startswith(base_prefix)), None)
            if a and b and b["median_us"] > 0:
                return a["median_us"] / b["median_us"]
        return None

    # -- sections

    def core_section(self) -> str:
        if not self.core:
            return self.not_run_note("core")
        rows = [
            [
                r["op"],
                r["dtype"],
                shape(r),
                r["threads"],
                f3(r["forward_ms"]),
                f3(r["backward_ms"]),
                f3(r["argsort_ms"]),
                f2(r["vs_argsort"]),
            ]
            for r in self.core
        ]
        reg = self.core[0].get("regularization", "l2")
        more = "".join(
            f"\n\n{title}:\n\n" + table(list(rows[0]), [list(r.values()) for r in rows])
            for title, rows in self.core_tables
        )
        return (
            f"`cargo bench -p rank-relax --bench ops` ({reg}, ε = 0.1, values uniform in [-1, 1)): forward and backward "
            "against a bare argsort of the same batch on the same threads; each time the best of nine samples of ≥ 20 ms.\n\n"
            + table(
                [
                    "op",
                    "dtype",
                    "B×n",
                    "threads",
                    "forward ms",
                    "backward ms",
                    "argsort ms",
                    "(fwd+bwd)/argsort",
                ],
                rows,
                "llllrrrr",
            )
            + more
        )

    def threads_section(self) -> str:
        if not self.threads:
            return self.not_run_note("threads")
        k = self.threads[0].get("threads", 2)
        rows = [
            [
                shape(r),
                f"{r['ms_1_thread']:.4f}",
                f"{r['ms_threads']:.4f}",
                f2(r["speedup"]),
                f"{r.get('quiet_rounds', '?')}/{r.get('rounds', '?')}",
                f2(r.get("speedup_quiet_rounds")),
            ]
            for r in self.threads
        ]
        return (
            "`cargo bench -p rank-relax --bench threads`: soft_rank forward + backward, "
            f"f64, l2, ε = 0.1, on 1 thread against {k}. It runs in rounds, each timing "
            f"every shape once on 1 and once on {k} threads (samples of ≥ 15 ms); each "
            "time is the best over all rounds. It also counts the rounds during which the "
            "machine's other processes used < 10 % of the CPU (from /proc/stat) and gives "
            "the speedup over those alone. Calls below the core's parallel threshold "
            "(≈ 32k element operations: 1×100, 4×100, 16×100, 1×1000) stay on the calling "
            "thread.\n\n"
            + table(
                [
                    "B×n",
                    "1 thread ms",
                    f"{k} threads ms",
                    "speedup",
                    "quiet rounds",
                    "speedup, quiet rounds",
                ],
                rows,
            )
        )

    def memory_section(self) -> str:
        if not self.memory:
            return self.not_run_note("memory")
        m = self.memory[-1]

        def cells(key: str) -> list[str]:
            # Records from before backward_in_place have no in-place column.
            return [
                f2(m[key]),
                f2(m[f"in_place_{key}"]) if f"in_place_{key}" in m else "–",
            ]

        rows = [
            [
                "everything from before the input: input, ranks, permutation, cotangent, gradient",
                *cells("ratio_total"),
            ],
            [
                "everything but the input: ranks, permutation, cotangent, gradient",
                *cells("ratio_without_input"),
            ],
            [
                "what soft_rank adds beyond the caller's input and cotangent: ranks, permutation, gradient",
                *cells("ratio_op_owned"),
            ],
            [
                "the forward alone: ranks, permutation",
                f2(m["ratio_forward"]),
                f2(m["ratio_forward"]),
            ],
            ["the backward alone: gradient", *cells("ratio_backward")],
            [
                "the core's own memory beyond those arrays (scratch, thread stacks)",
                f"{m['core_overhead_mib']:.1f} MiB",
                f"{m['in_place_core_overhead_mib']:.1f} MiB"
                if "in_place_core_overhead_mib" in m
                else "–",
            ],
        ]
        return (
            f"`cargo bench -p rank-relax --bench memory`: soft_rank forward + backward at {shape(m)} {m['dtype']} "
            f"({m['regularization']}, {m['threads']} threads) through the core API as a user calls it, the input being "
            f"{m['input_mib']:.0f} MiB, once with `backward` (a separate gradient) and once with `backward_in_place` "
            "(the gradient written over the cotangent). Peak RSS growth of the process (VmHWM, reset between steps), "
            "as a multiple of the input's size:\n\n"
            + table(["what is counted", "backward", "backward_in_place"], rows)
            + "\n\nEvery array of the call is as large as the input (f32 values and i32 permutation alike). With "
            "`backward`, what soft_rank needs at its peak is the output, the one packed residual (ADR 0001) and the "
            "gradient: 3 arrays, plus well under 1 % of scratch. `backward_in_place` reuses the caller's cotangent for "
            "the gradient (bit for bit the same result), so soft_rank adds 2 arrays: under 3× the input. Counting the "
            "caller's own input and cotangent too it is 4 arrays; no design with an output and a residual as large "
            "as the input can be under 3× on that reading, since the forward alone already holds 3."
        )

    def node_section(self) -> str:
        if not self.node:
            return self.not_run_note("node")
        r0 = self.node[0]
        rows = [
            [r["path"], f3(r["ms"]), f"{r['vs_core']:.3f}", pct(r["vs_core"])]
            for r in self.node
        ]
        return (
            f"`node packages/node/bench/soft-rank.mjs`: `softRank` + `softRankVjp` at {shape(r0)} {r0['dtype']} "
            f"(ε = 0.1, {r0['threads']} threads), median of {r0['rounds']} rounds × {r0['reps']} repetitions, the paths "
            "rotating within each round; each ratio to the core is the median of the per-round ratios. The core "
            "runs the same calls inside the addon, allocating its outputs per call as a Rust caller would.\n\n"
            + table(
                ["path", "ms per softRank + softRankVjp", "vs core", "overhead"], rows
            )
        )

    def python_section(self) -> str:
        if self.python_tables and self.ran("python"):
            intro = (
                "The scripts of `packages/python/bench/` (`bench.py`, `neural_sort.py`, "
                "`jax_sharding.py`), their tables as they print them:"
            )
            parts = [intro]
            for title, rows in self.python_tables:
                keys = list(rows[0])
                parts.append(title)
                parts.append(
                    table(
                        keys,
                        [[r.get(k, "") for k in keys] for r in rows],
                        "lll" + "r" * (len(keys) - 3),
                    )
                )
            return "\n\n".join(p for p in parts if p)
        text = read_text(self.results / "python.log").strip()
        if text and self.ran("python"):
            return "As printed:\n\n```text\n" + text + "\n```"
        return self.not_run_note("python")

    def julia_section(self) -> str:
        if not self.julia:
            text = read_text(self.results / "julia.log").strip()
            if text and self.ran("julia"):
                return "As printed:\n\n```text\n" + text + "\n```"
            return self.not_run_note("julia")
        rows = []
        phase_base: dict[str, float] = {}
        for r in self.julia:
            if r["label"].startswith("raw ccall") and r["phase"] not in phase_base:
                phase_base[r["phase"]] = r["median_us"]
        for r in self.julia:
            base = phase_base.get(r["phase"])
            is_time = r["min_us"] is not None
            ratio = r["median_us"] / base if base and is_time else None
            rows.append(
                [
                    r["phase"].split(":")[0],
                    r["label"],
                    f"{r['median_us']:.1f}" if is_time else f"{r['median_us']:.3f}",
                    f"{r['min_us']:.1f}" if is_time else "",
                    f"{ratio:.3f}" if ratio is not None else "",
                ]
            )
        notes = "\n".join(f"- {line}" for line in self.julia_overhead)
        return (
            f"`julia --project=packages/julia/RankRelax packages/julia/RankRelax/bench/soft_rank.jl` ({self.julia_title}), "
            "parsed from its output; µs per forward + backward, ratios against the raw `ccall` of the same phase. "
            "Phase 0 is the binding's own time with the kernels replaced by no-ops.\n\n"
            + table(
                ["phase", "path", "median µs", "min µs", "median vs raw ccall"],
                rows,
                "llrrr",
            )
            + ("\n\nAs it prints them:\n\n" + notes if notes else "")
        )

    def jlrs_section(self) -> str:
        if not self.jlrs:
            return self.not_run_note("jlrs")
        rows = [
            [
                shape(r),
                r["dtype"],
                r["threads"],
                r["calls"],
                f2(r["cabi_us"]),
                f2(r["core_us"]),
                f2(r["inplace_us"]),
                pct(r["inplace_vs_cabi"]),
                pct(r["inplace_vs_core"]),
                f2(r["alloc_us"]),
                pct(r["alloc_vs_cabi"]),
            ]
            for r in self.jlrs
        ]
        return (
            "`cargo bench -p rank-relax-julia-check --features julia --bench overhead`: RankRelax.jl "
            "driven from Rust through jlrs in one process (Julia 1.5.3 embedded), soft_rank forward + "
            "pullback (ε = 1, l2) on Rust-owned buffers lent to Julia, against the C ABI of the "
            "library it calls (the same compiled core, called from Rust) and against the core crate "
            "linked into the bench (the same source, another build); one thread everywhere; µs per "
            "forward + pullback (medians over the rounds) and medians of the per-round ratios.\n\n"
            + table(
                [
                    "shape",
                    "dtype",
                    "threads",
                    "calls/round",
                    "C ABI µs",
                    "core (Rust) µs",
                    "Julia in place µs",
                    "in place vs C ABI",
                    "in place vs core (Rust)",
                    "Julia allocating µs",
                    "allocating vs C ABI",
                ],
                rows,
                "llrrrrrrrrr",
            )
        )

    def suites_section(self) -> str:
        rows = [
            [
                r.get("suite", "?"),
                r.get("status", "?"),
                r.get("detail") or "",
                _cell(r.get("load_before")),
                _cell(r.get("load_after")),
                _cell(r.get("seconds")),
                r.get("ended") or "",
            ]
            for r in self.suites
        ]
        return table(
            [
                "suite",
                "status",
                "detail",
                "load before",
                "load after",
                "seconds",
                "ended",
            ],
            rows,
            "lllrrrl",
        )

    def markdown(self, plot_name: str | None) -> str:
        parts = [
            "# Benchmarks",
            "",
            (
                "<!-- Written by scripts/bench_report.py from the results of scripts/bench.sh "
                "(`pnpm bench`); rerun it rather than editing by hand. -->"
            ),
            "",
            (
                "All numbers as printed by `pnpm bench` (`scripts/bench.sh`: the latest run of "
                "each suite) on the machine below. It has few cores and is shared with other "
                "work, so timings move by several percent between runs, and by much more when "
                "other jobs hold the cores; every benchmark interleaves what it compares so that "
                "load hits both sides alike, and reports medians or best-of samples as it says. "
                "The load average around each suite, and when it ran, are in the last table."
            ),
            "",
            "## Machine",
            "",
            table(["", ""], [[k, v] for k, v in machine(self.results)], "ll"),
            "",
            "## Targets",
            "",
            self.targets(),
            "",
        ]
        if plot_name:
            parts += [f"![benchmarks]({plot_name})", ""]
        parts += [
            "## Core",
            "",
            self.core_section(),
            "",
            "## Threads",
            "",
            self.threads_section(),
            "",
            "## Memory",
            "",
            self.memory_section(),
            "",
            "## Node",
            "",
            self.node_section(),
            "",
            "## Python (PyTorch, JAX)",
            "",
            self.python_section(),
            "",
            "## Julia",
            "",
            self.julia_section(),
            "",
            "## Julia from Rust (jlrs)",
            "",
            self.jlrs_section(),
            "",
            "## Suites",
            "",
            self.suites_section(),
            "",
        ]
        return "\n".join(parts)

    # -- plot

    def plot(self, path: Path) -> None:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, axes = plt.subplots(2, 2, figsize=(13, 9))
        (ax_core, ax_bind), (ax_thr, ax_mem) = axes

        # Core: (fwd+bwd)/argsort per shape, per op/dtype/threads.
        if self.core:
            shapes = list(dict.fromkeys(shape(r) for r in self.core))
            series = list(
                dict.fromkeys((r["op"], r["dtype"], r["threads"]) for r in self.core)
            )
            width = 0.8 / max(len(series), 1)
            for i, key in enumerate(series):
                ys = [
                    next(
                        (
                            r["vs_argsort"]
                            for r in self.core
                            if (r["op"], r["dtype"], r["threads"]) == key
                            and shape(r) == s
                        ),
                        0,
                    )
                    for s in shapes
                ]
                ax_core.bar(
                    [j + i * width for j in range(len(shapes))],
                    ys,
                    width,
                    label=f"{key[0]} {key[1]} {key[2]}t",
                )
            ax_core.set_xticks(
                [j + 0.4 - width / 2 for j in range(len(shapes))], shapes
            )
            ax_core.axhline(
                1.2, color="red", linestyle="--", linewidth=1, label="target 1.2"
            )
            ax_core.set_ylabel("(forward + backward) / argsort")
            ax_core.set_title("core vs a bare argsort (lower is better)")
            ax_core.legend(fontsize=6, ncol=2)
        else:
            _empty(ax_core, "core: " + self.status("core"))

        # Binding overhead: ratio to the core, per binding path.
        bars: list[tuple[str, float]] = []
        for r in self.node:
            if r["path"].startswith("core"):
                continue
            bars.append((f"Node: {r['path']}", r["vs_core"]))
        for label, prefix in (
            ("Julia: API in place", "Julia API in place"),
            ("Julia: API allocating", "Julia API allocating"),
        ):
            ratio = self.julia_ratio(prefix, "raw ccall")
            if ratio is not None:
                bars.append((label, ratio))
        for r in self.python_rows("128×1000", self.jax_table):
            v = number(column(r, "FFI over"))
            if v is not None:
                bars.append(
                    (
                        f"JAX FFI: {column(r, 'dtype')}, {column(r, 'threads')} thread(s)",
                        1 + v / 100,
                    )
                )
        for r in self.python_rows("128×1000"):
            v = number(column(r, "torch", "overhead"))
            if v is not None:
                bars.append(
                    (
                        f"PyTorch: {column(r, 'dtype')}, {column(r, 'threads')} thread(s)",
                        1 + v / 100,
                    )
                )
        if bars:
            ax_bind.barh([b[0] for b in bars], [b[1] for b in bars], color="tab:blue")
            ax_bind.axvline(1.0, color="black", linewidth=0.8)
            ax_bind.axvline(
                1.03, color="red", linestyle="--", linewidth=1, label="target 1.03"
            )
            lo = min(0.85, min(b[1] for b in bars) - 0.02)
            ax_bind.set_xlim(lo, max(1.2, max(b[1] for b in bars) + 0.02))
            ax_bind.set_xlabel("time / the core's time at 128×1000")
            ax_bind.set_title("binding overhead (lower is better)")
            ax_bind.tick_params(axis="y", labelsize=7)
            ax_bind.legend(fontsize=7)
        else:
            _empty(ax_bind, "no binding results")

        # Threads: speedup per shape.
        if self.threads:
            xs = [shape(r) for r in self.threads]
            k = self.threads[0].get("threads", 2)
            ax_thr.bar(xs, [r["speedup"] for r in self.threads], color="tab:green")
            ax_thr.axhline(
                k, color="gray", linestyle="--", linewidth=1, label=f"ideal {k}×"
            )
            ax_thr.axhline(1, color="black", linewidth=0.8)
            ax_thr.set_ylabel(f"speedup, 1 → {k} threads")
            ax_thr.set_title("thread scaling, soft_rank fwd+bwd f64")
            ax_thr.tick_params(axis="x", labelrotation=45, labelsize=7)
            ax_thr.legend(fontsize=7)
        else:
            _empty(ax_thr, "threads: " + self.status("threads"))

        # Memory.
        if self.memory:
            m = self.memory[-1]
            items = [
                ("everything\n(input … gradient)", m["ratio_total"]),
                ("all but the input", m["ratio_without_input"]),
                ("soft_rank's own\n(output, residual, gradient)", m["ratio_op_owned"]),
                ("forward\n(output, residual)", m["ratio_forward"]),
            ]
            ax_mem.barh(
                [i[0] for i in items], [i[1] for i in items], color="tab:purple"
            )
            ax_mem.axvline(
                3, color="red", linestyle="--", linewidth=1, label="target 3×"
            )
            ax_mem.set_xlabel("peak RSS growth / input size")
            ax_mem.set_title(f"memory, soft_rank fwd+bwd {shape(m)} {m['dtype']}")
            ax_mem.tick_params(axis="y", labelsize=7)
            ax_mem.legend(fontsize=7)
        else:
            _empty(ax_mem, "memory: " + self.status("memory"))

        fig.suptitle(
            f"rank-relax benchmarks — {os.cpu_count()} cores, {cpu_model()}",
            fontsize=10,
        )
        fig.tight_layout()
        path.parent.mkdir(parents=True, exist_ok=True)
        # No timestamp in the metadata: the same results give the same file.
        fig.savefig(path, dpi=110, metadata={"Software": None})
        plt.close(fig)


def _cell(x: Any) -> str:
    if isinstance(x, float):
        return f"{x:.4g}"
    if isinstance(x, list):
        return "×".join(str(v) for v in x)
    return "" if x is None else str(x)


def _empty(ax: Any, text: str) -> None:
    ax.text(0.5, 0.5, text, ha="center", va="center", wrap=True, fontsize=8)
    ax.set_axis_off()


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    default = os.environ.get("BENCH_OUT") or str(ROOT / "target" / "bench")
    parser.add_argument(
        "--results",
        type=Path,
        default=Path(default),
        help="the results folder (default: $BENCH_OUT or target/bench)",
    )
    parser.add_argument(
        "--markdown", type=Path, default=ROOT / "docs" / "benchmarks.md"
    )
    parser.add_argument("--plot", type=Path, default=ROOT / "docs" / "benchmarks.png")
    args = parser.parse_args(argv)
    if not args.results.is_dir():
        print(
            f"bench_report: no results folder {args.results}; run scripts/bench.sh first",
            file=sys.stderr,
        )
        return 1
    report = Report(args.results)
    plot_name = None
    try:
        report.plot(args.plot)
        plot_name = os.path.relpath(args.plot, args.markdown.parent)
        print(f"bench_report: wrote {args.plot}")
    except ImportError as e:
        print(f"bench_report: no plot ({e}); install matplotlib", file=sys.stderr)
    args.markdown.parent.mkdir(parents=True, exist_ok=True)
    args.markdown.write_text(report.markdown(plot_name), encoding="utf-8")
    print(f"bench_report: wrote {args.markdown}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
