#!/usr/bin/env bash
# Every benchmark script outside the Rust core runs once at its smallest setting and exits 0, so a
# change to a kernel's arguments cannot leave `pnpm bench` broken until someone runs it (clippy
# --all-targets already compiles the core's cargo benches). Nothing here is timed or compared:
# the numbers are `pnpm bench`'s (docs/benchmarks.md).
#
#   bash scripts/test-benches.sh
#
# Needs what the test command builds before it: the Node package (scripts/test-node.sh), the
# installed wheel with torch, JAX and torchsort (scripts/test-python.sh), Julia (scripts/setup.sh).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)"
cd "$ROOT"
# shellcheck source=scripts/env.sh
source scripts/env.sh

echo "==> node: packages/node/bench/soft-rank.mjs (1 round)"
(cd packages/node && node bench/soft-rank.mjs --rounds 1 --reps 1)

for f in packages/python/bench/*.py; do
  case "$(basename "$f")" in _*) continue ;; esac
  echo "==> python: $f (--quick)"
  case "$(basename "$f")" in
    bench.py) python "$f" --quick --threads 1 --shapes 4x10 ;;
    *) python "$f" --quick ;;
  esac
done

for f in packages/julia/RankRelax/bench/*.jl; do
  echo "==> julia: $f (1 round)"
  julia --project=packages/julia/RankRelax "$f" 1
done
echo "benches: every script ran"
