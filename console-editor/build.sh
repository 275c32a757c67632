#!/usr/bin/env bash
# Rebuilds src/console/assets/editor.js, the staff console's flow editor (CodeMirror 6), from
# console-editor/src/editor.js and the exact module versions in package-lock.json. The built
# file is committed and embedded in the binary, so running the console needs no Node; run this
# after changing editor.js or the lockfile, and commit both. The same inputs give the same file.
#
#   bash console-editor/build.sh           rebuild the committed bundle
#   bash console-editor/build.sh --check   fail if the committed bundle is not what its sources build
set -euo pipefail
cd "$(dirname "$0")"
committed=../src/console/assets/editor.js
npm ci --no-audit --no-fund --loglevel=error
case "${1:-}" in
  "")
    npm run --silent build -- --outfile="$committed"
    ;;
  --check)
    built="$(mktemp --suffix=.js)"
    trap 'rm -f "$built"' EXIT
    npm run --silent build -- --outfile="$built"
    if ! cmp -s "$built" "$committed"; then
      echo "src/console/assets/editor.js is not what console-editor/ builds:" >&2
      echo "run bash console-editor/build.sh and commit the result" >&2
      exit 1
    fi
    echo "the committed editor bundle is what its sources build"
    ;;
  *)
    echo "usage: bash console-editor/build.sh [--check]" >&2
    exit 2
    ;;
esac
