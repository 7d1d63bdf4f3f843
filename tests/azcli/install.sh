#!/usr/bin/env bash
# Installs Microsoft's Azure CLI (azure-cli from PyPI, the version pinned below) into a virtual
# environment outside the clone, cached per machine and stamped by its inputs:
#   ${XDG_CACHE_HOME:-$HOME/.cache}/vm-identity-access/azure-cli-<version>/
# The first run on a machine downloads and installs it (minutes); later runs find the stamp and
# return at once. Prints the path of the venv's `az` on stdout (nothing else), progress on stderr.
# Needs Python 3.10+ with venv and pip (python3 -m venv); npm test never needs it.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
version="$(sed -n 's/^azure-cli==//p' "$here/requirements.txt")"
cache="${XDG_CACHE_HOME:-$HOME/.cache}/vm-identity-access"
venv="$cache/azure-cli-$version"

python="${AZCLI_PYTHON:-python3}"
can_make_venv() {
  command -v "$python" >/dev/null 2>&1 &&
    "$python" -c 'import sys, venv, ensurepip; sys.exit(sys.version_info < (3, 10))' 2>/dev/null
}
if ! can_make_venv; then
  # Debian's python3 makes venvs only with python3-venv. Installed as scripts/systemTools.sh installs
  # the test tools: with apt-get, when that needs no password (root, or CI with password-less sudo).
  sudo=""
  if [ "$(id -u)" -ne 0 ] && [ "${CI:-}" = "true" ] && sudo -n true 2>/dev/null; then sudo="sudo -n"; fi
  if command -v apt-get >/dev/null 2>&1 && { [ "$(id -u)" -eq 0 ] || [ -n "$sudo" ]; }; then
    echo "installing python3 and python3-venv with apt-get (the Azure CLI tier makes a venv)..." >&2
    $sudo apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends python3 python3-venv >&2
  fi
  if ! can_make_venv; then
    echo "the Azure CLI tier needs Python 3.10 or newer that can make a venv (apt-get install python3 python3-venv); npm test does not." >&2
    exit 1
  fi
fi

stamp_of_inputs() {
  {
    "$python" --version
    # Relative names: the stamp is of the contents, the same from every clone sharing the cache
    # (with the clone's path in it, each clone would install the venv again under the others' feet).
    cd "$here" && sha256sum requirements.txt constraints.txt install.sh
  } 2>&1 | sha256sum | cut -d' ' -f1
}
stamp="$(stamp_of_inputs)"

mkdir -p "$cache"
# One install at a time per machine (work trees share the cache).
exec 9>"$cache/azure-cli-$version.lock"
flock 9

if [[ -x $venv/bin/az && -f $venv/stamp && "$(cat "$venv/stamp")" == "$stamp" ]]; then
  echo "$venv/bin/az"
  exit 0
fi

echo "installing azure-cli $version into $venv (once per machine)..." >&2
# A venv cannot be moved (its scripts name its path), so a half-built one is removed and built again.
rm -rf "$venv"
"$python" -m venv "$venv"
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check --no-input \
  -r "$here/requirements.txt" -c "$here/constraints.txt" >&2
# Not `az version`: it asks Microsoft's storage for the newest version. Importing az's core is offline.
"$venv/bin/python" -c "import sys; from azure.cli.core import __version__ as v; sys.exit(v != '$version' and f'azure-cli-core is {v}, not $version')" || {
  echo "azure-cli $version was installed into $venv, but its core does not load" >&2
  exit 1
}
echo "$stamp" >"$venv/stamp"
echo "$venv/bin/az"
