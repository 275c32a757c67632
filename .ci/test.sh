#!/usr/bin/env bash
# The whole test suite, from a clean checkout: checks formatting, lints, and runs every test. The
# README's test command; CI runs exactly this.
#
#   bash .ci/test.sh [--install]
#
# It changes nothing outside the checkout unless asked: system packages (nginx) and rustup
# components are installed only under CI (CI=true) or with --install. Without nginx the topology
# test says it did not run.
set -euo pipefail
cd "$(dirname "$0")/.."

for arg in "$@"; do
  case "$arg" in
    --install) export CIVICTEXT_INSTALL=1 ;;
    *) echo "usage: bash .ci/test.sh [--install]" >&2; exit 2 ;;
  esac
done

# A clean build of every test binary needs a few GiB; say so plainly rather than die mid-compile.
echo "== disk: $(df -h --output=avail . | tail -1 | tr -d ' ') free"
if [[ "${CI:-}" == "true" ]]; then
  # Incremental caches only help repeated local builds; on a one-shot run they only take space.
  export CARGO_INCREMENTAL=0
fi

echo "== test tools"
bash .ci/rust-tools.sh
# Every locked crate, for every platform: tests/rust_version.rs reads their manifests offline, and
# a Linux build alone never downloads the Windows-only ones.
cargo fetch --locked
# Prism serves Twilio's OpenAPI contract locally for the REST sender's tests.
if [[ ! -x .ci/prism/node_modules/.bin/prism ]]; then
  npm ci --prefix .ci/prism --no-audit --no-fund
fi
# PostgreSQL for the second backend, nginx for the two-replica topology test (installed only
# under CI or --install).
bash .ci/postgres.sh
bash .ci/nginx.sh
# Headless Chromium (Debian's package, only under CI or --install) and playwright-core + axe-core
# from npm for the staff console's browser test.
bash .ci/browser.sh
# Pinned Python tools in .ci/venv: a real Open311 client and Schemathesis.
bash .ci/python.sh

echo "== format and lints"
cargo fmt --all -- --check
cargo clippy --locked --all-targets -- -D warnings
# The console's editor is a committed esbuild bundle: it must be what its sources build.
bash console-editor/build.sh --check

echo "== tests"
cargo test --locked --no-fail-fast --lib --bins --tests
# The black-box suite again on PostgreSQL: the gateway must behave the same on either database.
CIVICTEXT_TEST_BACKEND=postgres cargo test --locked --no-fail-fast \
  --test api_results --test api_tokens --test console_accounts --test console_results \
  --test console_requests --test console_simulator --test console_flows --test console_invitations \
  --test console_browser --test privacy --test token_logs \
  --test compliance --test conversations --test export --test hostile_input \
  --test idempotency --test restart_and_reload --test webhook_security --test database_faults \
  --test metrics --test outbound_sending --test broadcast_cli --test quiet_hours \
  --test service_requests --test flow_publishing --test api_schemathesis --test open311 \
  --test outbound_replicas --test reminders --test outbound_prism
cargo test --locked --doc

echo "== shipped flows"
cargo run --locked --quiet -- flows check conversation-flows --no-costs
cargo run --locked --quiet -- flows test conversation-flows

if [[ ! -x /usr/sbin/nginx ]]; then
  echo "== NOT RUN: the topology test (tests/topology.rs) needs nginx; see above"
fi
if [[ ! -x /usr/bin/chromium ]]; then
  echo "== NOT RUN: the console's browser test (tests/console_browser.rs) needs Chromium; see above"
fi
