#!/usr/bin/env bash
# Node demo: fits a linear scorer with spearmanLoss and its VJP (@rank-relax/node), printing the
# Spearman correlation of the scores rising. Builds the addon and the package first if needed.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)"
cd "$ROOT"
# shellcheck source=scripts/env.sh
source scripts/env.sh

PKG=packages/node
if [ ! -x "$PKG/node_modules/.bin/napi" ]; then
  pnpm install --frozen-lockfile --filter @rank-relax/node
fi
if ! ls "$PKG"/rank-relax.*.node >/dev/null 2>&1 || [ ! -f "$PKG/dist/index.mjs" ] || [ "${REBUILD:-1}" = 1 ]; then
  pnpm -C "$PKG" -s run build
fi
node "$PKG/examples/fit-linear-scorer.mjs"
