#!/usr/bin/env bash
# Fuzzes each target in fuzz/ for a set time, one after the other (docs/fuzzing.md).
#
#   bash .ci/fuzz.sh [--install] [SECONDS] [TARGET...]
#
# SECONDS per target (default 60); targets default to all four. cargo-fuzz is installed with
# `cargo install` only under CI=true or --install; otherwise its absence is an error that says
# how to install it. Exits non-zero if any target crashed, after running the rest.
set -euo pipefail
cd "$(dirname "$0")/.."

all_targets=(webhook_form signature flow_compiler engine)
seconds=60
install=""
targets=()
for arg in "$@"; do
  case "$arg" in
    --install) install=yes ;;
    ''|*[!0-9]*) targets+=("$arg") ;;
    *) seconds="$arg" ;;
  esac
done
if [[ "${CI:-}" == "true" ]]; then
  install=yes
fi
if [[ ${#targets[@]} -eq 0 ]]; then
  targets=("${all_targets[@]}")
fi

if ! cargo fuzz --version >/dev/null 2>&1; then
  if [[ -z $install ]]; then
    echo "cargo-fuzz is not installed: run \`cargo install cargo-fuzz --locked\`," >&2
    echo "or rerun as \`bash .ci/fuzz.sh --install ...\` to have this script install it" >&2
    exit 1
  fi
  echo "== installing cargo-fuzz"
  cargo install cargo-fuzz --locked
fi

# libFuzzer's coverage instrumentation needs compiler flags that are nightly-only; this lets the
# stable compiler accept them, so no second toolchain is needed.
export RUSTC_BOOTSTRAP=1
# The code under test is safe Rust, so a sanitizer finds little that a panic would not, and
# halves the executions per second. FUZZ_SANITIZER=address turns AddressSanitizer back on.
sanitizer="${FUZZ_SANITIZER:-none}"

failed=()
for target in "${targets[@]}"; do
  # New inputs go to the first directory (fuzz/corpus, not committed); seeds and past crashes
  # start every run.
  dirs=("fuzz/corpus/$target")
  for dir in "fuzz/seeds/$target" "fuzz/regressions/$target"; do
    if [[ -d $dir ]]; then
      dirs+=("$dir")
    fi
  done
  mkdir -p "fuzz/corpus/$target"
  echo "== fuzz $target for ${seconds}s"
  if ! cargo fuzz run --sanitizer "$sanitizer" "$target" "${dirs[@]}" -- \
    -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -max_len=8192 -print_final_stats=1; then
    echo "== $target FAILED: the input is in fuzz/artifacts/$target/; replay it with" >&2
    echo "   \`cargo fuzz run $target fuzz/artifacts/$target/<file>\` and add it under" >&2
    echo "   fuzz/regressions/$target/ with the fix (docs/fuzzing.md)" >&2
    failed+=("$target")
  fi
done

if [[ ${#failed[@]} -gt 0 ]]; then
  echo "== fuzzing found failures in: ${failed[*]}" >&2
  exit 1
fi
echo "== fuzzing: no failures in ${targets[*]} (${seconds}s each)"
