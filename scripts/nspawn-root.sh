#!/bin/sh
# Builds, once per machine, the minimal Debian root that test/e2e/real-systemd.test.ts boots with
# systemd-nspawn. Needs root and a network route to the Debian mirror.
#
#   sh scripts/nspawn-root.sh RELEASE ROOT MIRROR
#
# RELEASE is a Debian codename (bookworm, trixie), ROOT the directory to create, MIRROR the Debian
# archive URI (the one in apt's sources).
#
# The tests call it themselves (test/support/nspawn.ts picks ROOT and the mirror apt already uses);
# run it by hand to build the root ahead of a test run. A flock on ROOT.lock makes a second build
# wait for the first; the root is built in ROOT.partial and renamed only when complete, so an
# interrupted build never leaves a half-made root behind. Installs debootstrap and
# systemd-container with apt-get when they are missing.
set -eu

if [ $# -ne 3 ]; then
  echo "usage: sh scripts/nspawn-root.sh RELEASE ROOT MIRROR" >&2
  exit 2
fi
release=$1 root=$2 mirror=$3
marker=.reuse-run-root-complete
packages=systemd,systemd-sysv,dbus,curl,python3,iproute2,procps

if [ "$(id -u)" != 0 ]; then
  echo "nspawn-root: needs root (debootstrap, systemd-nspawn)" >&2
  exit 1
fi

mkdir -p "$(dirname "$root")"
exec 9>"$root.lock"
if ! flock -w 1200 9; then
  echo "nspawn-root: another build still holds $root.lock after 20 min" >&2
  exit 1
fi
missing=""
command -v debootstrap >/dev/null 2>&1 || missing="$missing debootstrap"
command -v systemd-nspawn >/dev/null 2>&1 || missing="$missing systemd-container"
if [ -n "$missing" ]; then
  echo "nspawn-root: installing$missing" >&2
  apt-get -o DPkg::Lock::Timeout=300 update -qq >&2
  # shellcheck disable=SC2086 # one word per package
  DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 install -y -qq $missing >&2
fi

[ -e "$root/$marker" ] && exit 0

partial="$root.partial"
rm -rf "$partial"
echo "nspawn-root: debootstrap $release from $mirror into $root (once per machine, about a minute)" >&2
if ! debootstrap --variant=minbase --include="$packages" "$release" "$partial" "$mirror" > "$root.log" 2>&1; then
  tail -n 20 "$root.log" >&2
  echo "nspawn-root: debootstrap failed; full log in $root.log" >&2
  rm -rf "$partial"
  exit 1
fi

# A container with nothing to log in on: no getty on the console, and no timers that would run
# apt or fsck jobs in the middle of a test.
for unit in console-getty.service getty@.service apt-daily.timer apt-daily-upgrade.timer \
  dpkg-db-backup.timer e2scrub_all.timer fstrim.timer; do
  ln -sf /dev/null "$partial/etc/systemd/system/$unit"
done
# Boots get a fresh machine id each time (the root is only ever mounted read-only under an overlay).
: > "$partial/etc/machine-id"
date -u +%Y-%m-%dT%H:%M:%SZ > "$partial/$marker"
rm -rf "$root"
mv "$partial" "$root"
echo "nspawn-root: $root is ready" >&2
