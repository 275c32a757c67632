#!/usr/bin/env bash
# Rebuilds src/console/assets/editor.js, the staff console's flow editor (CodeMirror 6), from
# console-editor/src/editor.js and the exact module versions in package-lock.json. The built
# file is committed and embedded in the binary, so running the console needs no Node; run this
# after changing editor.js or the lockfile, and commit both. The same inputs give the same file.
set -euo pipefail
cd "$(dirname "$0")"
npm ci --no-audit --no-fund
npm run build
