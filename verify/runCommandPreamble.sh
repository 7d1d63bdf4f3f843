#!/bin/bash
# verify/runCommandPreamble.sh: what runs verify/probe.sh through Azure's managed Run Command.
#
# The program sends this file, then `vmia_run_probe <<'<delimiter>'`, the probe's source and the
# delimiter, as the run command's source.script (components/runCommandPlan.ts builds it).
#
# The probe's settings arrive in one named parameter, PROBE_SETTINGS (`NAME=value&NAME=value`, each
# value percent-encoded), never as parameters of their own. Azure's Linux handler makes each named
# parameter an environment variable with os.Setenv in its own process, which outlives one run command,
# and skips an empty value (Azure/run-command-handler-linux, internal/exec SetEnvironmentVariables): a
# variable an earlier run command set may still be here, and the probe reads an absent one as meaningful
# (no MI_* is the system identity, no PROBE_EXPECT is "access expected"). So before the probe starts,
# every variable it takes as a setting is removed (every MI_* and PROBE_*, ARM_ENDPOINT,
# SUBSCRIPTION_ID, RESOURCE_GROUP), and exactly those PROBE_SETTINGS names are set. What the VM gives
# every process is the VM's and stays: AZURE_POD_IDENTITY_AUTHORITY_HOST unless PROBE_SETTINGS names one
# (MSAL reads it so too; no run of this program sets it as a parameter), curl's own variables.
#
# Azure's Linux agent starts run commands as root. The probe needs no privilege (IMDS answers any
# local user), so before its first request it runs as nobody: setpriv (util-linux, on every Azure
# Linux image) drops the user, the group and every supplementary group, and forbids regaining them.
# The probe reaches that shell on stdin, never as a file: the script the agent wrote may be readable
# by root alone. Where the script does not start as root (Local Azure's portable guest runs it as
# whoever runs Local Azure), the probe runs as it is.
#
# stdout is the probe's one JSON object (probe contract v1) with two more members: "runAs", the user
# the probe ran as, {"user": "nobody", "uid": 65534}; and "run", the run this was, its three parameters
# as they arrived, {"probeRun": "2", "triggers": "<digest>", "settings": "<PROBE_SETTINGS>"}: ARM keeps
# the last body requested and the instance view of the last run executed, and a PUT that was taken and
# never ran leaves the two apart, so the program takes only evidence that names the run it sent.
# Nothing else goes to stdout: Azure keeps only
# its last 4,096 bytes. The probe's progress goes to stderr. The exit status is the probe's; 3 when
# the probe was not started: its settings missing or malformed, or no way to start it unprivileged.

# The names PROBE_SETTINGS may set: the probe's settings (probe contract v1, and PROBE_EXPECT,
# PROBE_MAX_TEXT_BYTES).
readonly VMIA_PROBE_SETTING_NAMES=" AZURE_POD_IDENTITY_AUTHORITY_HOST ARM_ENDPOINT MI_CLIENT_ID MI_OBJECT_ID MI_RESOURCE_ID SUBSCRIPTION_ID RESOURCE_GROUP PROBE_DEADLINE_SECONDS PROBE_EXPECT PROBE_MAX_TEXT_BYTES "

# Sets the probe's settings from PROBE_SETTINGS alone (see the top of this file); 3 when it is not one.
vmia_probe_settings() {
  local settings=${PROBE_SETTINGS-} name pair value
  local -a pairs
  local pair_form='[A-Za-z_][A-Za-z0-9_]*=[A-Za-z0-9%._~-]*'
  if ! [[ $settings =~ ^$pair_form(\&$pair_form)*$ ]]; then
    echo "run command: the parameter PROBE_SETTINGS is missing or not NAME=value&NAME=value (values percent-encoded): the probe's settings come only from it" >&2
    return 3
  fi
  while read -r name; do
    case $name in
      MI_* | PROBE_* | ARM_ENDPOINT | SUBSCRIPTION_ID | RESOURCE_GROUP) unset "$name" ;;
    esac
  done < <(compgen -e)
  IFS='&' read -r -a pairs <<<"$settings"
  for pair in "${pairs[@]}"; do
    name=${pair%%=*}
    if [[ $VMIA_PROBE_SETTING_NAMES != *" $name "* ]]; then
      echo "run command: PROBE_SETTINGS names $name, which is not one of the probe's settings (${VMIA_PROBE_SETTING_NAMES:1:-1})" >&2
      return 3
    fi
    value=${pair#*=}
    # %XX to \xXX, which printf's %b turns into the byte (the value holds no backslash of its own).
    printf -v value '%b' "${value//%/\\x}"
    export "$name=$value"
  done
}

vmia_run_probe() {
  local uid gid out rc first user run
  # The agent's working folder may be root's alone; the unprivileged shell must not start in it.
  cd / || return 3
  # The run, as this run command's parameters name it (read before vmia_probe_settings removes them).
  if ! [[ ${PROBE_RUN-} =~ ^[0-9]{1,9}$ && ${PROBE_TRIGGERS-} =~ ^[A-Za-z0-9]{1,64}$ ]]; then
    echo "run command: the parameters PROBE_RUN (a number) and PROBE_TRIGGERS (a digest, or none) are missing or malformed: the evidence could not name its run" >&2
    return 3
  fi
  run=$(printf '{"probeRun":"%s","triggers":"%s","settings":"%s"}' "$PROBE_RUN" "$PROBE_TRIGGERS" "${PROBE_SETTINGS-}")
  vmia_probe_settings || return 3
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
      # One JSON object on one line: "runAs" and "run" join it as its last members (PROBE_SETTINGS
      # holds only A-Z a-z 0-9 % . _ ~ - = &: vmia_probe_settings checked it, nothing to escape).
      printf '%s,"runAs":{"user":%s,"uid":%s},"run":%s}\n' "${out%\}}" "$([ -n "$user" ] && printf '"%s"' "$user" || printf null)" "$uid" "$run"
      return "$rc"
    fi
  fi
  [ -n "$out" ] && printf '%s\n' "$out"
  return "$rc"
}
