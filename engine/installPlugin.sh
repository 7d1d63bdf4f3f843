#!/usr/bin/env bash
# engine/installPlugin.sh NAME VERSION PATH [KIND]
#
# Installs a resource plugin where the engine tier's Pulumi CLI finds it, exactly as `pulumi plugin
# install` lays it out (read in github.com/pulumi/pulumi/sdk/v3 go/common/workspace/plugins.go):
#
#   $PULUMI_HOME/plugins/resource-NAME-vVERSION/pulumi-resource-NAME    (an executable)
#
# PATH is either an executable file (copied in as pulumi-resource-NAME, mode 755; a wrapper script
# must use absolute paths, since it runs from the plugin folder's copy) or a folder (copied in whole:
# it must hold pulumi-resource-NAME, or a PulumiPlugin.yaml with `runtime: nodejs` that the language
# host runs). Installs of one plugin take turns (flock on PULUMI_HOME/.install-locks/KIND-NAME-vVERSION, outside plugins/ where the engine lists plugins): the
# engine-tier files run two at a time, each installing the stand-ins, and two installs interleaving
# their remove and rename broke each other ("rm: cannot remove …: Is a directory"). An install
# identical to PATH is left as it is, since engines running beside this one may be using it.
# Otherwise the copy is made beside the folder and renamed into place, a sibling
# `resource-NAME-vVERSION.partial` file marking the install as unfinished meanwhile, as `pulumi plugin
# install` marks it, so a concurrent engine skips it; it is removed last.
#
# PULUMI_HOME defaults to .engine/pulumi-home in this repository (the folder local/engineEnv.ts sets).
# KIND defaults to resource (analyzer for a policy pack).
set -euo pipefail

if [[ $# -lt 3 || $# -gt 4 ]]; then
  echo "usage: engine/installPlugin.sh NAME VERSION PATH_TO_EXECUTABLE_OR_FOLDER [resource|analyzer]" >&2
  exit 2
fi
name=$1
version=${2#v}
src=$3
kind=${4:-resource}

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
home=${PULUMI_HOME:-$root/.engine/pulumi-home}

if [[ ! $name =~ ^[a-zA-Z0-9-][a-zA-Z0-9._-]*[a-zA-Z0-9]$ ]]; then
  echo "installPlugin: $name is not a plugin name the engine recognises" >&2
  exit 2
fi
if [[ ! $version =~ ^[0-9]+\.[0-9]+\.[0-9]+([-+].*)?$ ]]; then
  echo "installPlugin: $version is not a semantic version (e.g. 3.28.0)" >&2
  exit 2
fi
if [[ $kind != resource && $kind != analyzer ]]; then
  echo "installPlugin: kind must be resource or analyzer, not $kind" >&2
  exit 2
fi
if [[ ! -e $src ]]; then
  echo "installPlugin: $src does not exist" >&2
  exit 2
fi

exe="pulumi-$kind-$name"
dir="$home/plugins/$kind-$name-v$version"
mkdir -p "$home/plugins" "$home/.install-locks"
exec 9>"$home/.install-locks/$kind-$name-v$version"
flock 9

# holds_src: true when the folder holds exactly what PATH would put there.
holds_src() {
  [[ -d $dir ]] || return 1
  if [[ -d $src ]]; then diff -rq "$src" "$dir" >/dev/null 2>&1; else cmp -s "$src" "$dir/$exe" && [[ -x $dir/$exe ]]; fi
}
if [[ ! -e $dir.partial ]] && holds_src; then
  echo "installed $kind plugin $name v$version at $dir (unchanged)"
  exit 0
fi

staged="$(mktemp -d "$home/plugins/.$kind-$name-v$version.XXXXXX")"
trap 'rm -rf "$staged"' EXIT
chmod 755 "$staged"
if [[ -d $src ]]; then
  cp -R "$src/." "$staged/"
  if [[ ! -x $staged/$exe && ! -f $staged/PulumiPlugin.yaml && ! -f $staged/PulumiPolicy.yaml ]]; then
    echo "installPlugin: $src has neither an executable $exe nor a PulumiPlugin.yaml" >&2
    exit 1
  fi
else
  if [[ ! -x $src ]]; then
    echo "installPlugin: $src is not executable (chmod +x it)" >&2
    exit 1
  fi
  install -m 755 "$src" "$staged/$exe"
fi
: >"$dir.partial"
rm -rf "$dir"
# -T: the staged folder becomes $dir itself, never a folder nested inside it.
mv -T "$staged" "$dir"
rm -f "$dir.partial" "$dir.lock"
echo "installed $kind plugin $name v$version at $dir"
