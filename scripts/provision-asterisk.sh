#!/usr/bin/env bash
# Provision the real-Asterisk test sandbox: a Debian sid tree holding Debian's
# `asterisk` package, cached outside the repository and reused across runs.
#
#   scripts/provision-asterisk.sh [ROOT]
#
# ROOT defaults to $CALLSHIELD_ASTERISK_ROOT or /var/cache/callshield/asterisk-sid.
# Needs root (debootstrap, chroot). Idempotent: a complete tree is left alone.
set -euo pipefail

root="${1:-${CALLSHIELD_ASTERISK_ROOT:-/var/cache/callshield/asterisk-sid}}"
stamp="$root/.callshield-ready"

if [ -f "$stamp" ] && [ -x "$root/usr/sbin/asterisk" ]; then
    echo "asterisk sandbox ready at $root"
    exit 0
fi

if [ "$(id -u)" != 0 ]; then
    echo "provision-asterisk: must run as root (debootstrap and chroot); run: sudo $0" >&2
    exit 1
fi

# Never touch a tree that still has /proc or /dev bound into it.
if grep -q " $root/" /proc/mounts; then
    echo "provision-asterisk: $root has live mounts (see /proc/mounts); stop Asterisk first" >&2
    exit 1
fi

if ! command -v debootstrap >/dev/null; then
    apt-get -o Acquire::Check-Valid-Until=false update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends debootstrap >/dev/null
fi

if [ ! -x "$root/usr/bin/apt-get" ]; then
    tmp="$root.partial"
    if [ -d "$tmp" ]; then
        grep -q " $tmp/" /proc/mounts && { echo "provision-asterisk: $tmp has live mounts" >&2; exit 1; }
        rm -rf --one-file-system "$tmp"
    fi
    mkdir -p "$(dirname "$root")"
    debootstrap --variant=minbase sid "$tmp"
    rm -rf --one-file-system "$root"
    mv "$tmp" "$root"
fi

cp /etc/resolv.conf "$root/etc/resolv.conf" 2>/dev/null || true
unshare -m bash -euo pipefail -c '
    root="$1"
    mount --bind /proc "$root/proc"
    mount --bind /dev "$root/dev"
    chroot "$root" env DEBIAN_FRONTEND=noninteractive apt-get -o Acquire::Check-Valid-Until=false update -qq
    chroot "$root" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends asterisk asterisk-modules >/dev/null
' _ "$root"

"$root/usr/sbin/asterisk" -V >/dev/null 2>&1 || chroot "$root" /usr/sbin/asterisk -V
touch "$stamp"
echo "asterisk sandbox ready at $root: $(chroot "$root" /usr/sbin/asterisk -V)"
