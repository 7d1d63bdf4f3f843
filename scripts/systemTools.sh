#!/usr/bin/env bash
# Makes sure the system tools listed in scripts/systemTools.tsv are installed (all of them, or the
# commands given), because tests and npm run local run them for real. npm runs this before `npm test`
# (pretest) and `npm run local` (prelocal), so the README's two commands need no set-up by hand.
#
#   bash scripts/systemTools.sh [--check] [--require] [COMMAND...]
#
# What is missing is installed with apt-get when that can be done without asking: as root, or in CI
# (CI=true) with password-less sudo. Otherwise it prints the command that installs it and exits 0:
# the tests that need a missing tool then skip, naming it (tests/support/systemTools.ts); --require
# (npm run local, which cannot do without curl) exits 1 instead, and so does CI, where a skipped
# conformance test would hide a regression. --check only reports: exit 1 when anything is missing.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"

check=false require=false
while [ $# -gt 0 ]; do
  case "$1" in
    --check) check=true ;;
    --require) require=true ;;
    -*) echo "systemTools.sh: unknown option $1 (allowed: --check, --require)" >&2; exit 2 ;;
    *) break ;;
  esac
  shift
done

declare -A package_of=()
listed=()
while IFS=$'\t' read -r command package _; do
  case "$command" in '#'* | '') continue ;; esac
  package_of[$command]=$package
  listed+=("$command")
done <"$here/systemTools.tsv"

wanted=("${@:-${listed[@]}}")
packages=() missing=()
for command in "${wanted[@]}"; do
  package=${package_of[$command]:-}
  if [ -z "$package" ]; then
    echo "systemTools.sh: $command is not listed in scripts/systemTools.tsv (listed: ${listed[*]})" >&2
    exit 2
  fi
  command -v "$command" >/dev/null 2>&1 && continue
  missing+=("$command")
  [[ " ${packages[*]} " == *" $package "* ]] || packages+=("$package")
done
[ "${#missing[@]}" -eq 0 ] && exit 0

# cloud-init is wanted for its code only: disabled, it never configures this machine (network, SSH
# host keys) at boot, and its package starts no service when installed.
prepare=""
if [[ " ${packages[*]} " == *" cloud-init "* ]]; then
  prepare="mkdir -p /etc/cloud && touch /etc/cloud/cloud-init.disabled && "
fi
install="${prepare}apt-get install -y --no-install-recommends ${packages[*]}"

sudo=""
if [ "$(id -u)" -ne 0 ] && [ "${CI:-}" = "true" ] && sudo -n true 2>/dev/null; then sudo="sudo -n"; fi
if ! $check && command -v apt-get >/dev/null 2>&1 && { [ "$(id -u)" -eq 0 ] || [ -n "$sudo" ]; }; then
  echo "systemTools.sh: installing ${packages[*]} (for ${missing[*]}) with apt-get" >&2
  $sudo bash -c "${prepare}apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
    apt-get install -y -qq --no-install-recommends ${packages[*]} >/dev/null"
  exit 0
fi

echo "systemTools.sh: not installed: ${missing[*]}. To install (Debian, as root): $install" >&2
if $check || $require || [ "${CI:-}" = "true" ]; then exit 1; fi
echo "systemTools.sh: the tests that run them will be skipped, each naming what it needs." >&2
