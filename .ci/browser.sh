#!/usr/bin/env bash
# Headless Chromium (Debian's package) and the Node modules that drive it, for the staff
# console's browser tests (tests/console_browser.rs runs .ci/browser/console.mjs).
#
# Chromium is a system package, so it is installed only under CI (CI=true) or when asked
# (CIVICTEXT_INSTALL=1, set by `.ci/test.sh --install`); otherwise this says the browser tests
# will not run, and succeeds. The Node modules (playwright-core, axe-core) come from the npm
# registry at the versions in .ci/browser/package-lock.json. Playwright never downloads a
# browser of its own: the tests launch /usr/bin/chromium. Idempotent.
set -euo pipefail
cd "$(dirname "$0")"

if [[ ! -d browser/node_modules/playwright-core || ! -d browser/node_modules/axe-core ]]; then
  npm ci --prefix browser --no-audit --no-fund
fi

if [[ -x /usr/bin/chromium ]]; then
  /usr/bin/chromium --version
  exit 0
fi

if [[ "${CI:-}" != "true" && "${CIVICTEXT_INSTALL:-}" != "1" ]]; then
  echo "chromium: /usr/bin/chromium is missing; the console's browser tests will NOT run."
  echo "chromium: to run them, rerun as \`bash .ci/test.sh --install\` (installs Debian's package)."
  exit 0
fi

if ! command -v apt-get >/dev/null; then
  echo "chromium is missing and this is not a Debian-family system: install it so /usr/bin/chromium exists" >&2
  exit 1
fi

sudo=""
if [[ $(id -u) -ne 0 ]]; then
  sudo="sudo"
fi
echo "chromium: installing Debian's package with apt"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends chromium fonts-dejavu-core
/usr/bin/chromium --version
