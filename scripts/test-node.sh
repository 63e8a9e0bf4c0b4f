#!/usr/bin/env bash
# The Node checks of @rank-relax/node: builds the napi-rs addon (crates/rank-relax-node, release,
# `napi build --platform`) and the package (tsc: CommonJS + ESM entry), type-checks a consumer of
# every op against the built .d.ts (tsc --noEmit), then runs the package's node:test suites: every
# case of the reference files (RANK_RELAX_REFERENCE, default testdata/reference/ops-v1.json from
# the repository root; RANK_RELAX_REFERENCE_WAVE2, default wave2-topk-quantile.json;
# RANK_RELAX_REFERENCE_NEURAL_SORT, default wave2-neural-sort.json; RANK_RELAX_REFERENCE_MASKS,
# default masks.json; RANK_RELAX_REFERENCE_SORT_TOPK, default soft-sort-topk.json;
# RANK_RELAX_REFERENCE_GROUPED, default soft-rank-grouped.json) in f64 and f32
# with VJPs, async and withVjp equal to sync, the bad-input matrix
# (RANK_RELAX_BAD_INPUT, default testdata/bad-input.json), masked rows against the compacted rows,
# errors, finite differences, the ABI check, and the pnpm pack tarball installed offline into a
# fresh project.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)"
cd "$ROOT"
# shellcheck source=scripts/env.sh
source scripts/env.sh

PKG=packages/node
if [ ! -x "$PKG/node_modules/.bin/napi" ] || [ ! -x "$PKG/node_modules/.bin/tsc" ]; then
  pnpm install --frozen-lockfile --filter @rank-relax/node
fi

echo "==> build the addon (napi build --platform --release)"
pnpm -C "$PKG" -s run build:native
echo "==> build the package (CommonJS + ESM)"
pnpm -C "$PKG" -s run build:ts
echo "==> type-level test: a consumer of every op under tsc --noEmit"
pnpm -C "$PKG" -s run test:types
echo "types: test/types/consumer.mts and consumer.cts compile against the built .d.ts"
echo "==> node:test suites"
cd "$PKG"
node --test test/*.test.mjs test/*.test.cjs
