#!/usr/bin/env bash
# Runs every test of the project (the README's test command; .ci/run calls it):
# sets up the toolchains, checks the generated files, lints, and runs each package's suite.
# Keeps going after a failing step and exits non-zero if any step failed.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)"
cd "$ROOT"

bash scripts/setup.sh
# shellcheck source=scripts/env.sh
source scripts/env.sh
# shellcheck source=scripts/lib/steps.sh
source scripts/lib/steps.sh

run_step "codegen: generated files up to date" pnpm -s codegen:check
run_step "versions: one version everywhere" bash -c 'node scripts/check-versions.mjs --self-test && node scripts/check-versions.mjs'
run_step "workflows: actionlint + pins" bash -c 'bash scripts/lint-workflows.sh --self-test && bash scripts/lint-workflows.sh'
run_step "codegen: typecheck + unit/golden tests" bash -c 'pnpm -C codegen -s lint && pnpm -C codegen -s test'
run_step "rust: rustfmt --check" cargo fmt --all -- --check
run_step "rust: clippy -D warnings" cargo clippy --workspace --all-targets --locked -- -D warnings
run_step "rust: cargo test (core + crates)" cargo test --workspace --locked
run_step "codegen: a new op is its spec entry and kernel file" bash scripts/test-new-op.sh
run_step "c: header + reference + errors" bash scripts/test-c.sh
run_step "node: addon + package + tests" bash scripts/test-node.sh
run_step "julia: RankRelax.jl tests" bash scripts/test-julia.sh
run_step "julia: jlrs check against the core" bash scripts/test-julia-check.sh
run_step "python: wheel + numpy/torch/jax tests" bash scripts/test-python.sh
run_step "benches: every bench script runs once" bash scripts/test-benches.sh
run_step "docs: every example runs" bash scripts/check-docs.sh
run_step "release: dist/ artifacts installed fresh" bash -c 'bash scripts/release-build.sh && bash scripts/test-release.sh'

finish_steps "suites"
