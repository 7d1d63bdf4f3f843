#!/bin/sh
# Removes real guests (local-azure/linuxGuest): every process in a guest's cgroup (the container, its
# systemd-nspawn and its socat relays), the guest's cgroups and its folder (overlay upper layer,
# sockets, console log). The overlay mount, the network namespace and systemd-nspawn's own state
# (/run/systemd/nspawn, a tmpfs of the guest's mount namespace: machine.ts) live in namespaces only the
# guest's processes hold, so they go with them. A guest booted before that tmpfs existed left
# systemd-nspawn's propagate folder on the host: it is removed with the guest, or swept after it.
# The shared folders (the guests' folder, the cgroup folders holding theirs) go with the last guest.
# A guest's nftables table (port 22 of its public IP sent to its SSH gate: sshRedirect.ts) goes with
# it; it is in the network namespace of the Local Azure that made it, where this script runs.
#
#   reap.sh guest ID...      these guests
#   reap.sh sweep            guests whose owner process is gone (it crashed, or was killed with -9)
#   reap.sh watch PID START  waits until its stdin closes, which happens when the owner process exits
#                            however it exits (normal exit, Ctrl-C, SIGTERM, a crash), then removes
#                            the guests that owner left
#
# Environment (set by reaper.ts): GUEST_RUNTIME_ROOT (guest folders), GUEST_CGROUPS (the folders
# holding the guests' cgroups: the cgroup2 one first, then any hierarchy systemd-nspawn mirrors into),
# NSPAWN_PROPAGATE (systemd-nspawn's folder of per-machine propagate folders on the host),
# GUEST_SHARED_FOLDERS (the folders all guests share, innermost first: removed once empty),
# GUEST_NFT_TABLE_PREFIX (a guest's nftables table is this prefix and the hex digits of its ID).
set -u
: "${GUEST_RUNTIME_ROOT:?}" "${GUEST_CGROUPS:?}" "${NSPAWN_PROPAGATE:?}" "${GUEST_SHARED_FOLDERS:?}"
: "${GUEST_NFT_TABLE_PREFIX:?}"

# A guest ID as machine.ts makes them: only such names are taken from NSPAWN_PROPAGATE, which other
# systemd-nspawn users share.
GUEST_ID_PATTERN='^vm-[0-9a-f]{10}$'

# The start time of process $1 (field 22 of /proc/PID/stat), empty when it is gone.
start_time() {
  [ -r "/proc/$1/stat" ] || return 0
  sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f20
}

# Whether guest $1's owner (the "PID START" in its owner file) still runs.
owner_alive() {
  owner_file="$GUEST_RUNTIME_ROOT/$1/owner"
  [ -r "$owner_file" ] || return 1
  read -r owner_pid owner_start < "$owner_file" || return 1
  [ -n "$owner_pid" ] && [ "$(start_time "$owner_pid")" = "$owner_start" ]
}

kill_cgroup() {
  cg="$1"
  [ -d "$cg" ] || return 0
  i=0
  while :; do
    if [ -e "$cg/cgroup.kill" ]; then
      echo 1 > "$cg/cgroup.kill" 2>/dev/null
      grep -q '^populated 1' "$cg/cgroup.events" 2>/dev/null || break
    else
      pids=$(find "$cg" -name cgroup.procs -exec cat {} + 2>/dev/null)
      [ -n "$pids" ] || break
      # shellcheck disable=SC2086
      kill -9 $pids 2>/dev/null
    fi
    i=$((i + 1))
    # A killed container takes a moment to exit; give up after about 20 s rather than hang.
    [ "$i" -lt 1000 ] || { echo "reap.sh: processes of $cg did not exit" >&2; break; }
    sleep 0.02
  done
}

reap_guest() {
  id="$1"
  case "$id" in "" | */* | . | ..) return 0 ;; esac
  for root in $GUEST_CGROUPS; do kill_cgroup "$root/$id"; done
  for root in $GUEST_CGROUPS; do
    [ -d "$root/$id" ] && find "$root/$id" -depth -type d -exec rmdir {} + 2>/dev/null
  done
  rm -rf "${GUEST_RUNTIME_ROOT:?}/$id"
  [ -d "$NSPAWN_PROPAGATE/$id" ] && rm -rf --one-file-system "${NSPAWN_PROPAGATE:?}/$id"
  remove_table "$id"
  return 0
}

# The nftables tables of this network namespace named as guests' (only such names: others are not ours).
guest_tables() {
  command -v nft >/dev/null 2>&1 || return 0
  nft list tables ip 2>/dev/null | sed -n "s/^table ip ${GUEST_NFT_TABLE_PREFIX}\([0-9a-f]\{10\}\)\$/vm-\1/p"
}

# Guest $1's table, if it has one here ("delete" of a table that is not there fails: nothing to do).
remove_table() {
  command -v nft >/dev/null 2>&1 || return 0
  nft delete table ip "${GUEST_NFT_TABLE_PREFIX}${1#vm-}" 2>/dev/null
  return 0
}

# The shared folders, once no guest is left in them (rmdir refuses a folder that is not empty, so a
# guest another Local Azure is making keeps them; machine.ts makes them again if they went meanwhile).
remove_empty_shared_folders() {
  for folder in $GUEST_SHARED_FOLDERS; do rmdir "$folder" 2>/dev/null; done
  return 0
}

# Every guest ID known here: folders (those still being made are .new-*, renamed once their owner file
# is written) and cgroups, since a crash between making one and the other leaves either alone, and
# systemd-nspawn's propagate folders and nftables tables named as guests (a guest's folder goes before
# them).
known_guests() {
  { for entry in "$GUEST_RUNTIME_ROOT"/* "$GUEST_RUNTIME_ROOT"/.new-*; do
      [ -e "$entry" ] && basename "$entry"
    done
    for root in $GUEST_CGROUPS; do
      for cg in "$root"/*/; do [ -d "$cg" ] && basename "$cg"; done
    done
    for entry in "$NSPAWN_PROPAGATE"/vm-*; do
      basename "$entry" | grep -E "$GUEST_ID_PATTERN"
    done
    guest_tables
  } | sort -u
}

case "${1:-}" in
  guest)
    shift
    for id in "$@"; do reap_guest "$id"; done
    remove_empty_shared_folders
    ;;
  sweep)
    for id in $(known_guests); do owner_alive "$id" || reap_guest "$id"; done
    remove_empty_shared_folders
    ;;
  watch)
    owner="$2 $3"
    # Returns at end of file: the owner's end of the pipe closed.
    cat > /dev/null
    for id in $(known_guests); do
      if [ -r "$GUEST_RUNTIME_ROOT/$id/owner" ] && [ "$(cat "$GUEST_RUNTIME_ROOT/$id/owner")" = "$owner" ]; then
        reap_guest "$id"
      fi
    done
    remove_empty_shared_folders
    ;;
  *)
    echo "usage: reap.sh guest ID... | sweep | watch PID START" >&2
    exit 2
    ;;
esac
