#!/usr/bin/env bash
# Large inputs in release: crates/rank-relax/tests/large.rs (ignored by default). Times forward +
# backward of soft_rank, soft_sort, spearman_loss and ndcg_loss (l2 and kl, five input patterns)
# at n = 10^5 vs 10^6 in one row and 10^4 vs 10^5 rows of n = 16 — the ratio must stay near 10
# (n log n), far from 100 (n²) — and sigmoid_rank's cost per pair. Prints Markdown tables.
#
#   bash scripts/large-inputs.sh [TEST FILTER]
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)"
cd "$ROOT"
cargo test --release -p rank-relax --test large -- --ignored --nocapture --test-threads=1 "$@"
