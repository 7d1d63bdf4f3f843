#!/usr/bin/env bash
# Runs the README's two commands on a fresh Debian machine, as a newcomer's (and CI's) is: a Debian 12
# root filesystem from debootstrap with only Node 20, curl, OpenSSH's client, git and CA certificates,
# nothing of this project's system tools (no cloud-init, no Python), entered as root by systemd-nspawn.
# In it, a clean clone of this repository's HEAD runs `npm ci && npm run local`, then `npm test`.
#
#   sudo bash scripts/freshDebian.sh            # keeps nothing: the root filesystem is removed at the end
#
# Needs root, debootstrap and systemd-nspawn (npm run guest:build installs both), and npm ci done here. The Debian mirror is
# this machine's apt's own (read from /etc/apt/sources.list*, never written into a file of the
# project); Node 20 is this machine's, copied in. The container shares the host's network, as a
# machine would: npm ci reaches the npm registry and apt the Debian mirror, nothing else is contacted.
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"

[ "$(id -u)" -eq 0 ] || { echo "freshDebian.sh: needs root (debootstrap, systemd-nspawn)" >&2; exit 2; }
for tool in debootstrap systemd-nspawn unshare node git; do
  command -v "$tool" >/dev/null || { echo "freshDebian.sh: $tool not found (npm run guest:build installs debootstrap and systemd-container)" >&2; exit 2; }
done

# The Debian mirror apt uses here, read as the guest image's build reads it (local-azure/linuxGuest/image.ts).
mirror=$(cd "$repo" && node --import tsx -e \
  'const { aptSources, debianMirror } = require("./local-azure/linuxGuest/image"); console.log(debianMirror(aptSources()) ?? "")')
[ -n "$mirror" ] || { echo "freshDebian.sh: no Debian mirror in /etc/apt/sources.list*: add one for apt first" >&2; exit 2; }

root=$(mktemp -d /var/tmp/vmia-fresh-debian.XXXXXX)
# systemd-nspawn runs in the foreground and its mounts live in its own namespace: when it has exited,
# removing the folder removes everything.
trap 'rm -rf --one-file-system "$root" "$root.debootstrap.log"' EXIT

echo "freshDebian.sh: debootstrap bookworm (minbase + curl, openssh-client, git, ca-certificates) into $root" >&2
debootstrap --variant=minbase --include=ca-certificates,curl,openssh-client,git \
  bookworm "$root" "$mirror" >"$root.debootstrap.log" 2>&1 ||
  { tail -20 "$root.debootstrap.log" >&2; exit 1; }

# What Debian's installer writes and debootstrap does not: /etc/hosts naming localhost (vitest resolves it).
printf '127.0.0.1\tlocalhost\n::1\t\tlocalhost ip6-localhost ip6-loopback\n' >"$root/etc/hosts"

# apt inside reads the host's sources (so systemTools.sh can install cloud-init there) and its resolver.
cp -a /etc/apt/sources.list.d/. "$root/etc/apt/sources.list.d/"
[ -f /etc/apt/sources.list ] && cp /etc/apt/sources.list "$root/etc/apt/sources.list"
cp -L /etc/resolv.conf "$root/etc/resolv.conf"

# This machine's network trust, which any machine on its network needs to reach the npm registry: its
# CA bundle (with the CAs under /usr/local/share/ca-certificates) and npm's global config (its cafile).
cp -a /usr/local/share/ca-certificates/. "$root/usr/local/share/ca-certificates/"
cp /etc/ssl/certs/ca-certificates.crt "$root/etc/ssl/certs/ca-certificates.crt"
[ -f /etc/npmrc ] && cp /etc/npmrc "$root/etc/npmrc"

# Node 20 as this machine has it: the binary and npm.
node_bin=$(readlink -f "$(command -v node)")
npm_dir=$(dirname "$(dirname "$(readlink -f "$(command -v npm)")")")
cp "$node_bin" "$root/usr/bin/node"
mkdir -p "$root/usr/lib/node_modules"
cp -a "$npm_dir" "$root/usr/lib/node_modules/npm"
ln -s ../lib/node_modules/npm/bin/npm-cli.js "$root/usr/bin/npm"
ln -s ../lib/node_modules/npm/bin/npx-cli.js "$root/usr/bin/npx"

git clone -q "$repo" "$root/root/vm-identity-access"

echo "freshDebian.sh: in the fresh machine, as root: npm ci && npm run local; npm test" >&2
# As the real guests do (local-azure/linuxGuest/machine.ts): no machined or system bus needed
# (--register=no --keep-unit), and systemd-nspawn's runtime state on a tmpfs of a private mount
# namespace, so nothing of it stays on the host.
# The script in single quotes is the fresh machine's: it expands there, not here.
# shellcheck disable=SC2016
unshare --mount --propagation private -- sh -c \
  'mkdir -p /run/systemd/nspawn && mount -t tmpfs -o mode=0755,size=1m nspawn-runtime /run/systemd/nspawn && exec "$@"' sh \
  systemd-nspawn --quiet --register=no --keep-unit -D "$root" --chdir=/root/vm-identity-access \
  --setenv=HOME=/root --setenv=PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
  ${NODE_EXTRA_CA_CERTS:+--setenv=NODE_EXTRA_CA_CERTS=$NODE_EXTRA_CA_CERTS} \
  bash -c 'set -e
    echo "+ node $(node --version), npm $(npm --version); cloud-init: $(command -v cloud-init || echo absent); python3: $(command -v python3 || echo absent)"
    echo "+ npm ci && npm run local"
    npm ci --no-audit --no-fund
    npm run local
    echo "+ npm test"
    npm test'
