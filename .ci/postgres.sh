#!/usr/bin/env bash
# Makes sure the local PostgreSQL cluster is running and accepting connections on 127.0.0.1, for
# the store tests (tests/store_contract.rs). Safe to run any number of times: a running cluster
# is left alone.
#
#   .ci/postgres.sh            # start if needed, wait until ready
#
# PGPORT (default 5432) and PG_WAIT_SECONDS (default 30) can be set in the environment. The
# tests read the admin URL from CIVICTEXT_TEST_POSTGRES
# (default postgres://postgres@127.0.0.1:5432/postgres).
set -euo pipefail

port="${PGPORT:-5432}"
wait_seconds="${PG_WAIT_SECONDS:-30}"

ready() {
    pg_isready -q -h 127.0.0.1 -p "$port"
}

if ready; then
    echo "postgres: ready on 127.0.0.1:$port"
    exit 0
fi

if ! command -v pg_lsclusters >/dev/null || ! command -v pg_ctlcluster >/dev/null; then
    echo "postgres: not reachable on 127.0.0.1:$port and no pg_ctlcluster to start it" >&2
    echo "postgres: install postgresql (Debian/Ubuntu) or point CIVICTEXT_TEST_POSTGRES at a server" >&2
    exit 1
fi

# The cluster serving $port (pg_lsclusters: version, name, port, status, ...).
read -r version name status < <(pg_lsclusters --no-header | awk -v p="$port" '$3 == p { print $1, $2, $4; exit }') || true
if [[ -z "${version:-}" ]]; then
    echo "postgres: no local cluster is configured for port $port" >&2
    pg_lsclusters >&2 || true
    exit 1
fi

if [[ "$status" != online* ]]; then
    echo "postgres: starting cluster $version/$name"
    # --skip-systemctl-redirect: works in containers without systemd; a cluster that came up in
    # the meantime is not an error.
    pg_ctlcluster --skip-systemctl-redirect "$version" "$name" start ||
        pg_lsclusters --no-header | awk -v v="$version" -v n="$name" '$1 == v && $2 == n' | grep -q online
fi

for _ in $(seq "$wait_seconds"); do
    if ready; then
        echo "postgres: ready on 127.0.0.1:$port"
        exit 0
    fi
    sleep 1
done
echo "postgres: cluster $version/$name did not accept connections on 127.0.0.1:$port within ${wait_seconds}s" >&2
tail -n 20 "/var/log/postgresql/postgresql-$version-$name.log" >&2 || true
exit 1
