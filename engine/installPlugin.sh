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
# host runs). While copying, a sibling `resource-NAME-vVERSION.partial` file marks the install as
# unfinished, so a concurrent engine skips it; it is removed last. Reinstalling replaces the folder.
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
mkdir -p "$home/plugins"
: >"$dir.partial"
rm -rf "$dir"
mkdir -p "$dir"
if [[ -d $src ]]; then
  cp -R "$src/." "$dir/"
  if [[ ! -x $dir/$exe && ! -f $dir/PulumiPlugin.yaml && ! -f $dir/PulumiPolicy.yaml ]]; then
    echo "installPlugin: $src has neither an executable $exe nor a PulumiPlugin.yaml" >&2
    rm -rf "$dir" "$dir.partial"
    exit 1
  fi
else
  if [[ ! -x $src ]]; then
    echo "installPlugin: $src is not executable (chmod +x it)" >&2
    rm -rf "$dir" "$dir.partial"
    exit 1
  fi
  install -m 755 "$src" "$dir/$exe"
fi
rm -f "$dir.partial" "$dir.lock"
echo "installed $kind plugin $name v$version at $dir"
