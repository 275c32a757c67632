#!/usr/bin/env bash
# nginx for tests/topology.rs, which runs it as an unprivileged child process with its own prefix
# and config. Installing a system package changes the machine, so this installs Debian's package
# only under CI (CI=true) or when asked (CIVICTEXT_INSTALL=1, set by `.ci/test.sh --install`);
# otherwise it says the topology test will not run, and succeeds.
#
# The package's system service is never started and is left disabled: a policy-rc.d that refuses
# every start is in place for the duration of the install, and the service the package enables at
# boot is disabled again afterwards. Idempotent.
set -euo pipefail

if [[ -x /usr/sbin/nginx ]]; then
  /usr/sbin/nginx -v
  exit 0
fi

if [[ "${CI:-}" != "true" && "${CIVICTEXT_INSTALL:-}" != "1" ]]; then
  echo "nginx: /usr/sbin/nginx is missing; the topology test will NOT run."
  echo "nginx: to run it, install nginx, or rerun as \`bash .ci/test.sh --install\` (installs"
  echo "nginx: Debian's package with apt, leaving its service stopped and disabled)."
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

echo "nginx: installing Debian's package with apt (its service will be left stopped and disabled)"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
# nginx-light is the small build on older releases; newer ones ship only `nginx`.
if apt-cache show nginx-light >/dev/null 2>&1; then
  $sudo apt-get install -y -qq --no-install-recommends nginx-light
else
  $sudo apt-get install -y -qq --no-install-recommends nginx
fi

# The package enables nginx.service (and its SysV script) at boot; the tests need only the binary.
if command -v deb-systemd-helper >/dev/null; then
  # It acts only for a maintainer script, which it recognises by this variable.
  $sudo env DPKG_MAINTSCRIPT_PACKAGE=nginx deb-systemd-helper disable nginx.service
fi
if command -v update-rc.d >/dev/null && [[ -e /etc/init.d/nginx ]]; then
  $sudo update-rc.d nginx disable >/dev/null
fi
if command -v systemctl >/dev/null && systemctl is-enabled nginx.service >/dev/null 2>&1; then
  echo "nginx: nginx.service is still enabled at boot after disabling it" >&2
  exit 1
fi

/usr/sbin/nginx -v
