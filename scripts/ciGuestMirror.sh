#!/usr/bin/env bash
# The guest job's first step (.github/workflows/ci.yml): whether the real-guest tiers can run. Their
# image is built from Debian's packages, and a hosted Ubuntu runner's apt has no Debian source, so the
# job needs the repository variable DEBIAN_MIRROR (a Debian mirror's URL, …/debian).
#
#   DEBIAN_MIRROR=… FROM_FORK=true|false bash scripts/ciGuestMirror.sh
#
# Set: the tiers run (run=true in $GITHUB_OUTPUT). Unset in a fork's own runs, or a pull request from a
# fork (GitHub passes no repository variables to those): the job skips them, saying why and how to run
# them, and stays green (run=false). Unset anywhere else (this repository's pushes and its own pull
# requests, where the guest tier must run): an error, and the job fails.
set -euo pipefail

output="${GITHUB_OUTPUT:-/dev/stdout}"
if [ -n "${DEBIAN_MIRROR:-}" ]; then
  echo "run=true" >>"$output"
  exit 0
fi
how="set the repository variable DEBIAN_MIRROR to a Debian mirror's URL (…/debian), as docs/ci.md says"
if [ "${FROM_FORK:-false}" = "true" ]; then
  echo "::notice title=guest tier skipped::no DEBIAN_MIRROR in a fork or a pull request from one (GitHub passes no repository variables to those), so the real guests' image cannot be built here; to run the guest tier in a fork, $how"
  echo "run=false" >>"$output"
  exit 0
fi
echo "::error title=guest tier cannot run::DEBIAN_MIRROR is not set: $how"
exit 1
