#!/bin/bash
# verify/runCommandPreamble.sh: what runs verify/probe.sh through Azure's managed Run Command.
#
# The program sends this file, then `vmia_run_probe <<'<delimiter>'`, the probe's source and the
# delimiter, as the run command's source.script (components/runCommandPlan.ts builds it). The probe's
# settings arrive as named parameters, which the agent turns into environment variables; they pass
# through to the probe unchanged.
#
# Azure's Linux agent starts run commands as root. The probe needs no privilege (IMDS answers any
# local user), so before its first request it runs as nobody: setpriv (util-linux, on every Azure
# Linux image) drops the user, the group and every supplementary group, and forbids regaining them.
# The probe reaches that shell on stdin, never as a file: the script the agent wrote may be readable
# by root alone. Where the script does not start as root (Local Azure's portable guest runs it as
# whoever runs Local Azure), the probe runs as it is.
#
# stdout is the probe's one JSON object (probe contract v1) with one more member, "runAs": the user
# the probe ran as, {"user": "nobody", "uid": 65534}. Nothing else goes to stdout: Azure keeps only
# its last 4,096 bytes. The probe's progress goes to stderr. The exit status is the probe's; 3 when
# the probe could not be started unprivileged.

vmia_run_probe() {
  local uid gid out rc first user
  # The agent's working folder may be root's alone; the unprivileged shell must not start in it.
  cd / || return 3
  # The unprivileged shell's first line says who it is; the probe follows it on stdin.
  # shellcheck disable=SC2016 # the line is run by that shell: its $(id …) must expand there, not here
  local whoami_line='printf "vmia-run-as %s %s\n" "$(id -u)" "$(id -un 2>/dev/null)"'
  if [ "$(id -u)" = 0 ]; then
    if ! command -v setpriv >/dev/null 2>&1; then
      echo "run command: setpriv (util-linux) is not installed: the probe does not run as root" >&2
      return 3
    fi
    uid=$(id -u nobody 2>/dev/null) || uid=65534
    gid=$(id -g nobody 2>/dev/null) || gid=65534
    # A private CA reaches curl through CURL_CA_BUNDLE, and that file may sit where nobody cannot go
    # (a folder of root's): it is opened here, while still root, and the probe reads it through the
    # inherited descriptor (/dev/fd/9 opens the file itself, whatever the folders above it allow).
    if [ -n "${CURL_CA_BUNDLE:-}" ] && [ -r "$CURL_CA_BUNDLE" ] && exec 9<"$CURL_CA_BUNDLE"; then
      export CURL_CA_BUNDLE=/dev/fd/9
    fi
    out=$({
      printf '%s\n' "$whoami_line"
      cat
    } | setpriv --reuid="$uid" --regid="$gid" --clear-groups --no-new-privs -- /bin/bash -s)
    rc=$?
  else
    out=$({
      printf '%s\n' "$whoami_line"
      cat
    } | /bin/bash -s)
    rc=$?
  fi
  first=${out%%$'\n'*}
  if [[ $first =~ ^vmia-run-as\ ([0-9]+)\ ([A-Za-z0-9._-]*)$ ]]; then
    uid=${BASH_REMATCH[1]}
    user=${BASH_REMATCH[2]}
    out=${out#*$'\n'}
    [[ $out == "$first" ]] && out=""
    if [[ $out == \{*\} ]]; then
      # One JSON object on one line: "runAs" joins it as its last member.
      printf '%s,"runAs":{"user":%s,"uid":%s}}\n' "${out%\}}" "$([ -n "$user" ] && printf '"%s"' "$user" || printf null)" "$uid"
      return "$rc"
    fi
  fi
  [ -n "$out" ] && printf '%s\n' "$out"
  return "$rc"
}
