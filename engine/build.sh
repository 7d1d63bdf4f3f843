#!/usr/bin/env bash
# npm run engine:build — builds the engine tier into .engine/bin/ (git-ignored):
#   pulumi                          the Pulumi CLI, github.com/pulumi/pulumi/pkg/v3/cmd/pulumi at the
#                                   version engine/go.mod pins (>= the locked @pulumi/pulumi)
#   pulumi-language-nodejs          this project's Node.js language host (engine/langhost: Pulumi's
#                                   own is not served by the Go module proxy here, see engine/README.md)
#   pulumi-resource-pulumi-nodejs   the scripts Pulumi's distribution ships beside the CLI, copied from
#                                   sdk/nodejs/dist of the pinned github.com/pulumi/pulumi/sdk/v3 module
#   pulumi-resource-command         this project's stand-in for @pulumi/command's provider (engine/commandhost:
#                                   the real one is not served by the Go module proxy here, see engine/README.md),
#                                   installed as plugin resource-command-v<its version> in .engine/pulumi-home
#   pulumi-language-yaml            Pulumi's YAML language host, github.com/pulumi/pulumi-yaml at the version
#                                   engine/yaml/go.mod pins, built with that release's own dependencies (a
#                                   module of its own, so they do not mix with the CLI's)
#
# Idempotent: a stamp of the inputs (go.mod and go.sum, engine/yaml/go.mod and go.sum, the stand-ins'
# source, this script, the Go version) in .engine/stamp makes a second run with nothing changed a no-op;
# otherwise Go's build cache makes a rebuild fast. Set ENGINE_REBUILD=1 to build even when the stamp matches.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
engine_dir="$root/.engine"
bin="$engine_dir/bin"
version_var="github.com/pulumi/pulumi/sdk/v3/go/common/version.Version"

if ! command -v go >/dev/null 2>&1; then
  echo "engine:build needs Go (1.25.11 or newer) on the PATH; npm test does not." >&2
  exit 1
fi

mkdir -p "$bin"
# One build at a time per work tree.
exec 9>"$engine_dir/build.lock"
flock 9

cd "$root/engine"
# The pins must agree with package-lock.json before anything is built (clear message otherwise).
"$root/node_modules/.bin/tsx" "$root/engine/checkVersions.ts"

stamp_of_inputs() {
  local sources=() source
  # Tests are not inputs of what is built.
  for source in langhost/*.go commandhost/*.go; do
    [[ $source == *_test.go ]] || sources+=("$source")
  done
  {
    go version
    sha256sum go.mod go.sum yaml/go.mod yaml/go.sum "${sources[@]}" build.sh installPlugin.sh
  } | sha256sum | cut -d' ' -f1
}
stamp="$(stamp_of_inputs)"
outputs=(pulumi pulumi-language-nodejs pulumi-resource-pulumi-nodejs pulumi-resource-command pulumi-language-yaml)
all_built=1
for f in "${outputs[@]}"; do
  [[ -x $bin/$f ]] || all_built=0
done
# The command provider the engine loads as resource-command at the stand-in's version (the locked
# @pulumi/command's, checked by checkVersions.ts): the stand-in engine/commandhost, since the Go module
# proxy here refuses the real one; or, where a real release binary of that version is at hand,
# COMMAND_PROVIDER_BIN names it.
command_provider() {
  if [[ -n ${COMMAND_PROVIDER_BIN:-} ]]; then echo "$COMMAND_PROVIDER_BIN"; else echo "$bin/pulumi-resource-command"; fi
}
install_command_provider() {
  local v
  v="$("$bin/pulumi-resource-command" --version)"
  PULUMI_HOME="${PULUMI_HOME:-$engine_dir/pulumi-home}" bash "$root/engine/installPlugin.sh" command "$v" "$(command_provider)"
}
command_installed() {
  local home="${PULUMI_HOME:-$engine_dir/pulumi-home}" v
  v="$("$bin/pulumi-resource-command" --version 2>/dev/null)" || return 1
  cmp -s "$(command_provider)" "$home/plugins/resource-command-v$v/pulumi-resource-command"
}
if [[ ${ENGINE_REBUILD:-0} != 1 && $all_built == 1 && -f $engine_dir/stamp && "$(cat "$engine_dir/stamp")" == "$stamp" ]]; then
  command_installed || install_command_provider
  echo "engine:build: up to date ($("$bin/pulumi" version 2>/dev/null), stamp $engine_dir/stamp)"
  exit 0
fi
rm -f "$engine_dir/stamp"

cli_version="$(go list -m -f '{{.Version}}' github.com/pulumi/pulumi/pkg/v3)"
sdk_version="$(go list -m -f '{{.Version}}' github.com/pulumi/pulumi/sdk/v3)"

# -buildvcs=false: the binaries must not depend on this work tree's git state (CI builds a fresh clone).
build() { # OUTPUT PACKAGE VERSION
  echo "engine:build: go build $2 -> $bin/$1"
  go build -buildvcs=false -ldflags "-X $version_var=$3" -o "$bin/$1.tmp" "$2"
  mv -f "$bin/$1.tmp" "$bin/$1"
}
build pulumi github.com/pulumi/pulumi/pkg/v3/cmd/pulumi "$cli_version"
build pulumi-language-nodejs ./langhost "$sdk_version"
# The YAML host from its own module (engine/yaml/go.mod): the build list is the release's go.mod, as
# checkVersions.ts checks; -X sets the version its GetPluginInfo reports, as pulumi-yaml's Makefile does.
yaml_version="$(cd yaml && go list -m -f '{{.Version}}' github.com/pulumi/pulumi-yaml)"
echo "engine:build: go build github.com/pulumi/pulumi-yaml/cmd/pulumi-language-yaml ($yaml_version) -> $bin/pulumi-language-yaml"
(cd yaml && go build -buildvcs=false -ldflags "-X github.com/pulumi/pulumi-yaml/pkg/version.Version=$yaml_version" \
  -o "$bin/pulumi-language-yaml.tmp" github.com/pulumi/pulumi-yaml/cmd/pulumi-language-yaml)
mv -f "$bin/pulumi-language-yaml.tmp" "$bin/pulumi-language-yaml"
# Its version is the @pulumi/command release it stands in for, declared in engine/commandhost/main.go
# (checkVersions.ts compares it with the lock file); nothing to set with -X.
echo "engine:build: go build ./commandhost -> $bin/pulumi-resource-command"
go build -buildvcs=false -o "$bin/pulumi-resource-command.tmp" ./commandhost
mv -f "$bin/pulumi-resource-command.tmp" "$bin/pulumi-resource-command"
install_command_provider

# The Node.js scripts Pulumi's distribution ships beside the CLI (the module cache is read-only: install
# them with mode 755). Windows .cmd twins are left out.
go mod download github.com/pulumi/pulumi/sdk/v3
sdk_dir="$(go list -m -f '{{.Dir}}' github.com/pulumi/pulumi/sdk/v3)"
for script in "$sdk_dir"/nodejs/dist/*; do
  case "$script" in *.cmd) continue ;; esac
  install -m 755 "$script" "$bin/$(basename "$script")"
  echo "engine:build: $(basename "$script") from $sdk_dir/nodejs/dist"
done

"$root/node_modules/.bin/tsx" "$root/engine/checkVersions.ts" --built
if [[ $(command_provider) == "$bin/pulumi-resource-command" ]]; then
  echo "engine:build: resource-command is engine/commandhost, a stand-in: the real provider's module is not served by the Go module proxy here (engine/README.md)"
else
  echo "engine:build: resource-command is $(command_provider) (COMMAND_PROVIDER_BIN); the stand-in is in $bin"
fi
echo "$stamp" >"$engine_dir/stamp"
echo "engine:build: done ($("$bin/pulumi" version)) in $bin"
