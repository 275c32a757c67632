#!/usr/bin/env bash
# Creates .ci/venv (git-ignored) with the pinned Python tools in .ci/requirements.txt: the Open311
# client the Open311 test drives (tests/open311_client.py) and Schemathesis for the API's
# OpenAPI description. Installs only into that directory, from PyPI; safe to run any number of
# times (it does nothing while the venv matches the requirements).
#
#   bash .ci/python.sh
set -euo pipefail
cd "$(dirname "$0")"

venv=venv
stamp="$venv/.requirements"
if [[ -x "$venv/bin/python" && -f "$stamp" ]] && cmp -s requirements.txt "$stamp"; then
  echo "python: .ci/venv is up to date"
  exit 0
fi
if ! python3 -c 'import sys; sys.exit(sys.version_info < (3, 10))'; then
  echo "python: Python 3.10 or newer is needed for .ci/venv" >&2
  exit 1
fi
rm -rf "$venv"
python3 -m venv "$venv"
"$venv/bin/pip" install --quiet --disable-pip-version-check --no-deps -r requirements.txt
cp requirements.txt "$stamp"
echo "python: .ci/venv ready ($("$venv/bin/python" --version); $("$venv/bin/st" --version))"
