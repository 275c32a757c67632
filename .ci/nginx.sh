#!/usr/bin/env bash
# Installs nginx for tests/topology.rs, which runs it as an unprivileged child process with its own
# prefix and config. Idempotent. The system nginx service is never started: the package's
# post-install script would start it under systemd or sysv-init, so a policy-rc.d that refuses
# every start is put in place for the duration of the install.
set -euo pipefail

if [[ -x /usr/sbin/nginx ]]; then
  /usr/sbin/nginx -v
  exit 0
fi

if ! command -v apt-get >/dev/null; then
  echo "nginx is missing and this is not a Debian-family system: install nginx so /usr/sbin/nginx exists" >&2
  exit 1
fi

sudo=""
if [[ $(id -u) -ne 0 ]]; then
  sudo="sudo"
fi

policy=/usr/sbin/policy-rc.d
installed_policy=""
if [[ ! -e $policy ]]; then
  printf '#!/bin/sh\nexit 101\n' | $sudo tee "$policy" >/dev/null
  $sudo chmod +x "$policy"
  installed_policy=yes
fi
cleanup() {
  if [[ -n $installed_policy ]]; then
    $sudo rm -f "$policy"
  fi
}
trap cleanup EXIT

export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
# nginx-light is the small build on older releases; newer ones ship only `nginx`.
if apt-cache show nginx-light >/dev/null 2>&1; then
  $sudo apt-get install -y -qq --no-install-recommends nginx-light
else
  $sudo apt-get install -y -qq --no-install-recommends nginx
fi

/usr/sbin/nginx -v
