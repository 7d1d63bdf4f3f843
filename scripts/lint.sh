#!/usr/bin/env bash
# npm run lint's linters beside biome: ShellCheck on every shell script git knows (by its .sh name or a
# sh/bash first line), and actionlint on the GitHub workflows.
#
#   bash scripts/lint.sh [--require]
#
# ShellCheck is installed from Debian's packages as the tests' system tools are (scripts/systemTools.sh:
# with apt-get as root, or in CI with password-less sudo). actionlint is built from the Go module proxy
# at the version scripts/actionlint/go.mod pins (its `tool` line), as engine/build.sh builds the engine's
# tools, into .lint/ (git-ignored), once per version. A linter that cannot be had here is skipped,
# saying why and how to have it; with --require, or in CI (CI=true), that is an error: .ci/run's lint
# tier and the GitHub workflow run both.
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

# ShellCheck: installed when missing and possible; its --check mode only reports (exit 1 when missing).
bash scripts/systemTools.sh shellcheck || true
if command -v shellcheck >/dev/null 2>&1; then
  mapfile -t scripts < <(shell_scripts)
  if shellcheck "${scripts[@]}"; then
    echo "lint: ShellCheck: ${#scripts[@]} shell scripts clean"
  else
    status=1
  fi
else
  unavailable ShellCheck "not installed; to install it (Debian, as root): apt-get install -y --no-install-recommends shellcheck"
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
  # It runs ShellCheck on each step's script too, when ShellCheck is on the PATH.
  if "$actionlint" .github/workflows/*.yml; then
    echo "lint: actionlint $version: .github/workflows clean"
  else
    status=1
  fi
else
  unavailable actionlint "it is built with Go (1.25.11 or newer on the PATH, as npm run engine:build needs), which is not here"
fi
exit "$status"
