#!/usr/bin/env bash
# The whole test suite, from a clean checkout: installs what the tests need, then checks
# formatting, lints, and runs every test. The README's test command; CI runs exactly this.
set -euo pipefail
cd "$(dirname "$0")/.."

# A clean build of every test binary needs a few GiB; say so plainly rather than die mid-compile.
echo "== disk: $(df -h --output=avail . | tail -1 | tr -d ' ') free"
if [[ "${CI:-}" == "true" ]]; then
  # Incremental caches only help repeated local builds; on a one-shot run they only take space.
  export CARGO_INCREMENTAL=0
fi

echo "== test tools"
# Prism serves Twilio's OpenAPI contract locally for the REST sender's tests.
if [[ ! -x .ci/prism/node_modules/.bin/prism ]]; then
  npm ci --prefix .ci/prism --no-audit --no-fund
fi
# PostgreSQL for the second backend, nginx for the two-replica topology test.
bash .ci/postgres.sh
bash .ci/nginx.sh

echo "== format and lints"
cargo fmt --all -- --check
cargo clippy --locked --all-targets -- -D warnings

echo "== tests"
cargo test --locked --no-fail-fast --lib --bins --tests
# The black-box suite again on PostgreSQL: the gateway must behave the same on either database.
CIVICTEXT_TEST_BACKEND=postgres cargo test --locked --no-fail-fast \
  --test compliance --test conversations --test export --test hostile_input \
  --test idempotency --test restart_and_reload --test webhook_security
cargo test --locked --doc

echo "== shipped flows"
cargo run --locked --quiet -- flows check conversation-flows --no-costs
cargo run --locked --quiet -- flows test conversation-flows
