#!/usr/bin/env bash
# rustfmt and clippy, which the test command runs. With rustup, a missing one is added only under
# CI (CI=true) or when asked (CIVICTEXT_INSTALL=1, set by `.ci/test.sh --install`); otherwise
# this stops with the command that adds it.
set -euo pipefail

missing=()
cargo fmt --version >/dev/null 2>&1 || missing+=(rustfmt)
cargo clippy --version >/dev/null 2>&1 || missing+=(clippy)
if [[ ${#missing[@]} -eq 0 ]]; then
  echo "rust tools: $(cargo fmt --version), $(cargo clippy --version)"
  exit 0
fi

if [[ "${CI:-}" == "true" || "${CIVICTEXT_INSTALL:-}" == "1" ]] && command -v rustup >/dev/null; then
  echo "rust tools: adding ${missing[*]} with rustup"
  rustup component add "${missing[@]}"
  exit 0
fi

echo "rust tools: ${missing[*]} missing; the tests check formatting and lints with them." >&2
if command -v rustup >/dev/null; then
  echo "rust tools: run \`rustup component add ${missing[*]}\`, or rerun as \`bash .ci/test.sh --install\`" >&2
else
  echo "rust tools: install them with your Rust toolchain (your distribution's rustfmt and" >&2
  echo "rust tools: rust-clippy packages, or rustup: https://rustup.rs)" >&2
fi
exit 1
