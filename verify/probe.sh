#!/usr/bin/env bash
# verify/probe.sh: probe contract v1 (see DESIGN.md "Probe contract").
#
# Runs ON the VM: asks IMDS for a managed-identity token for ARM, reads the resource group with it,
# then reads the caller's effective permissions there. Prints exactly one JSON object on stdout;
# diagnostics (one line per attempt) go to stderr. Exit 0 verified, 1 not verified or final error,
# 2 bad input (no request sent).
#
# PROBE_EXPECT=denied (optional; unset or "granted" is the behaviour above, unchanged) waits for a
# refusal instead: a resource group read that ARM still allows is asked again until the deadline (a
# revoked grant takes minutes to stop working), 403 AuthorizationFailed ends the run at once, and the
# exit status says whether the refusal was proven: 0 proven, 1 not by the deadline or a final error.
#
# PROBE_MAX_TEXT_BYTES (optional, 64-4096; unset: 4096, as above) bounds what is carried of a body that
# is not JSON. Azure's Run Command keeps only the last 4,096 bytes of a script's output, so the program
# sets it low there: an HTML error page must not push the report past what comes back.
#
# Needs only bash, curl, coreutils, sed/grep and a POSIX awk (mawk is enough): a stock image has no
# jq or python. It is fed to `bash -s` on stdin, so nothing below may read the shell's stdin: the body
# lives in functions and the last line runs main with stdin from /dev/null.
#
# The access token never leaves this shell's memory: not on stdout/stderr, not in any argv (curl gets
# the Authorization header on its stdin from the printf builtin), never on disk (no temp files, no
# here-strings, which older bash writes to /tmp).

readonly PROBE_DEFAULT_IMDS="http://169.254.169.254"
readonly PROBE_DEFAULT_ARM="https://management.azure.com"
readonly PROBE_DEFAULT_DEADLINE=600
# Bounds on what is read from a server and what is echoed back of a body that is not JSON.
readonly PROBE_MAX_BODY_BYTES=65536
readonly PROBE_MAX_CARRIED_TEXT_BYTES=4096
# Backoff grows from 1 s and stays at most 3 s, so access is noticed within ~5 s of being granted.
readonly PROBE_FIRST_BACKOFF_MS=1000
readonly PROBE_MAX_BACKOFF_MS=3000
# No attempt is started with less time than this left: it could not finish anyway.
readonly PROBE_MIN_ATTEMPT_MS=250

# A small JSON validator/extractor in POSIX awk (mawk-compatible, byte-oriented under LC_ALL=C).
# Input: the body on stdin. Variables: want (space-separated dotted paths), carry (1: print the body
# in carried form), endnl (1: the body ended with a newline), maxtext (bytes kept of a non-JSON body),
# total (bytes the caller saw), over (1: the caller cut the body short).
# Output: line 1 "json" or "text"; then per wanted path "type<TAB>raw<TAB>decoded" (type "missing"
# when absent; decoded only for strings, control characters shown as "?"); then, with carry=1, the
# body as compact JSON (when valid) or as a JSON string (every byte outside 0x20-0x7E as \u00XX).
# With mode=quote it prints only the input as a JSON string.
# shellcheck disable=SC2016 # awk source: its $ fields are awk's, not the shell's
PROBE_JSON_AWK='
function fail(why) { if (!FAILED) { FAILED = 1; WHY = why } return 0 }
function ws(   c) {
  while (P <= N) { c = substr(T, P, 1); if (c == " " || c == "\t" || c == "\n" || c == "\r") P++; else break }
}
function value(path, depth,   c, ok, start, type) {
  if (depth > 64) return fail("nesting deeper than 64")
  ws()
  if (P > N) return fail("unexpected end")
  c = substr(T, P, 1); start = P
  if (c == "{") { ok = object(path, depth); type = "object" }
  else if (c == "[") { ok = array(path, depth); type = "array" }
  else if (c == "\"") { ok = string(); type = "string" }
  else if (c == "-" || (c >= "0" && c <= "9")) { ok = number(); type = "number" }
  else if (substr(T, P, 4) == "true") { P += 4; ok = 1; type = "boolean" }
  else if (substr(T, P, 5) == "false") { P += 5; ok = 1; type = "boolean" }
  else if (substr(T, P, 4) == "null") { P += 4; ok = 1; type = "null" }
  else return fail("unexpected character")
  if (ok && (path in WANT)) {
    GOT_TYPE[path] = type
    GOT_RAW[path] = (type == "object" || type == "array") ? "" : substr(T, start, P - start)
    GOT_DEC[path] = (type == "string") ? SDEC : ""
  }
  return ok
}
function object(path, depth,   c, key) {
  P++; ws()
  if (substr(T, P, 1) == "}") { P++; return 1 }
  for (;;) {
    ws()
    if (substr(T, P, 1) != "\"") return fail("expected a member name")
    if (!string()) return 0
    key = SDEC; ws()
    if (substr(T, P, 1) != ":") return fail("expected :")
    P++
    if (!value(path == "" ? key : path "." key, depth + 1)) return 0
    ws(); c = substr(T, P, 1); P++
    if (c == ",") continue
    if (c == "}") return 1
    return fail("expected , or }")
  }
}
function array(path, depth,   c, i) {
  P++; ws()
  if (substr(T, P, 1) == "]") { P++; return 1 }
  for (i = 0; ; i++) {
    if (!value(path == "" ? i : path "." i, depth + 1)) return 0
    ws(); c = substr(T, P, 1); P++
    if (c == ",") continue
    if (c == "]") return 1
    return fail("expected , or ]")
  }
}
function number() {
  if (!match(substr(T, P, 400), /^-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?/)) return fail("bad number")
  P += RLENGTH
  return 1
}
function hex4(s,   i, v, d) {
  v = 0
  for (i = 1; i <= 4; i++) { d = substr(s, i, 1); if (!(d in HEXV)) return -1; v = v * 16 + HEXV[d] }
  return v
}
function utf8(cp) {
  if (cp < 32) return "?"
  if (cp < 128) return CHR[cp]
  if (cp < 2048) return CHR[192 + int(cp / 64)] CHR[128 + cp % 64]
  if (cp < 65536) return CHR[224 + int(cp / 4096)] CHR[128 + int(cp / 64) % 64] CHR[128 + cp % 64]
  return CHR[240 + int(cp / 262144)] CHR[128 + int(cp / 4096) % 64] CHR[128 + int(cp / 64) % 64] CHR[128 + cp % 64]
}
# Reads the string at P (on its opening quote), validating escapes and UTF-8; leaves it decoded in SDEC.
function string(   c, o, e, cp, lo, need, lower, upper, i) {
  P++; SDEC = ""
  for (;;) {
    if (!match(substr(T, P, 256), /["\\]|[^ -~]/)) {
      if (P + 256 > N + 1) return fail("unterminated string")
      SDEC = SDEC substr(T, P, 256); P += 256; continue
    }
    if (RSTART > 1) { SDEC = SDEC substr(T, P, RSTART - 1); P += RSTART - 1 }
    c = substr(T, P, 1); o = ORD[c]
    if (c == "\"") { P++; return 1 }
    if (c == "\\") {
      e = substr(T, P + 1, 1); P += 2
      if (e == "\"" || e == "\\" || e == "/") SDEC = SDEC e
      else if (e == "b" || e == "f" || e == "n" || e == "r" || e == "t") SDEC = SDEC "?"
      else if (e == "u") {
        cp = hex4(substr(T, P, 4)); if (cp < 0) return fail("bad \\u escape"); P += 4
        if (cp >= 55296 && cp < 56320 && substr(T, P, 2) == "\\u") {
          lo = hex4(substr(T, P + 2, 4))
          if (lo >= 56320 && lo < 57344) { cp = 65536 + (cp - 55296) * 1024 + (lo - 56320); P += 6 }
        }
        SDEC = SDEC ((cp >= 55296 && cp < 57344) ? "?" : utf8(cp))
      }
      else return fail("bad escape")
      continue
    }
    if (o < 32) return fail("control character in string")
    if (o < 128) { SDEC = SDEC c; P++; continue }
    # A UTF-8 sequence: lead byte, then the continuation bytes it announces.
    lower = 128; upper = 191
    if (o >= 194 && o <= 223) need = 1
    else if (o >= 224 && o <= 239) { need = 2; if (o == 224) lower = 160; if (o == 237) upper = 159 }
    else if (o >= 240 && o <= 244) { need = 3; if (o == 240) lower = 144; if (o == 244) upper = 143 }
    else return fail("invalid UTF-8")
    for (i = 1; i <= need; i++) {
      cp = ORD[substr(T, P + i, 1)]
      if (cp < lower || cp > upper) return fail("invalid UTF-8")
      lower = 128; upper = 191
    }
    SDEC = SDEC substr(T, P, need + 1); P += need + 1
  }
}
function compact(   i, c, s, instr, esc) {
  s = 1; instr = 0; esc = 0
  for (i = 1; i <= N; i++) {
    c = substr(T, i, 1)
    if (instr) { if (esc) esc = 0; else if (c == "\\") esc = 1; else if (c == "\"") instr = 0; continue }
    if (c == "\"") { instr = 1; continue }
    if (c == " " || c == "\t" || c == "\n" || c == "\r") { if (i > s) printf "%s", substr(T, s, i - s); s = i + 1 }
  }
  if (N >= s) printf "%s", substr(T, s)
  printf "\n"
}
# True when s is well-formed UTF-8 (what JSON text must be).
function utf8_ok(s,   i, n, o, need, lower, upper, k, b) {
  n = length(s)
  for (i = 1; i <= n; i++) {
    o = ORD[substr(s, i, 1)]
    if (o < 128) continue
    lower = 128; upper = 191
    if (o >= 194 && o <= 223) need = 1
    else if (o >= 224 && o <= 239) { need = 2; if (o == 224) lower = 160; if (o == 237) upper = 159 }
    else if (o >= 240 && o <= 244) { need = 3; if (o == 240) lower = 144; if (o == 244) upper = 143 }
    else return 0
    for (k = 1; k <= need; k++) {
      b = ORD[substr(s, i + k, 1)]
      if (b < lower || b > upper) return 0
      lower = 128; upper = 191
    }
    i += need
  }
  return 1
}
# Prints s as a JSON string. Bytes outside 0x20-0x7E become \u00XX, except that with keeputf8 a
# well-formed UTF-8 string keeps its non-ASCII characters as they are.
function quote(s, limit, note, keeputf8,   i, n, c, o, raw8) {
  n = length(s); if (n > limit) n = limit
  raw8 = keeputf8 && utf8_ok(s)
  printf "\""
  for (i = 1; i <= n; i++) {
    c = substr(s, i, 1); o = ORD[c]
    if (c == "\"") printf "\\\""
    else if (c == "\\") printf "\\\\"
    else if ((o >= 32 && o < 127) || (raw8 && o >= 128)) printf "%s", c
    else printf "\\u%04x", o
  }
  printf "%s\"\n", note
}
BEGIN {
  for (i = 1; i < 256; i++) { c = sprintf("%c", i); ORD[c] = i; CHR[i] = c }
  for (i = 0; i < 10; i++) HEXV[i ""] = i
  split("a b c d e f", hx, " ")
  for (i = 1; i <= 6; i++) { HEXV[hx[i]] = 9 + i; HEXV[toupper(hx[i])] = 9 + i }
  nwant = split(want, WANTED, " ")
  for (i = 1; i <= nwant; i++) WANT[WANTED[i]] = 1
}
{ T = (NR == 1) ? $0 : T "\n" $0 }
END {
  if (endnl == 1) T = T "\n"
  N = length(T)
  if (mode == "quote") { quote(T, N + 1, "", 1); exit }
  P = 1
  valid = 0
  if (N > 0 && value("", 0)) { ws(); valid = (P > N) }
  print (valid ? "json" : "text")
  for (i = 1; i <= nwant; i++) {
    w = WANTED[i]
    if (valid && (w in GOT_TYPE)) print GOT_TYPE[w] "\t" GOT_RAW[w] "\t" GOT_DEC[w]
    else print "missing\t\t"
  }
  if (carry != 1) exit
  if (valid) { compact(); exit }
  note = ""
  if (N > maxtext || over == 1) note = "...[truncated: first " maxtext " of " (over == 1 ? "more than " : "") total " bytes]"
  quote(T, maxtext, note, 0)
}
'

# ---------------------------------------------------------------------------------------------------
# Small helpers

log_line() { printf 'probe: %s\n' "$*" >&2; }

now_ms() {
  local t=${EPOCHREALTIME:-}
  if [[ $t =~ ^([0-9]+)[.,]([0-9]{3}) ]]; then
    NOW_MS=$((10#${BASH_REMATCH[1]} * 1000 + 10#${BASH_REMATCH[2]}))
  else
    NOW_MS=$(date +%s%3N)
  fi
}

remaining_ms() {
  now_ms
  REMAINING_MS=$((DEADLINE_MS - NOW_MS))
}

# Milliseconds as seconds with three decimals (curl --max-time and sleep take fractions).
ms_to_seconds() { printf -v REPLY '%d.%03d' $(($1 / 1000)) $(($1 % 1000)); }

# Sets REPLY to the JSON string for $1.
json_string() {
  local s=$1
  if [[ $s == *[!\ -~]* ]]; then
    local nl=0
    [[ $s == *$'\n' ]] && nl=1
    REPLY=$(printf '%s' "$s" | awk -v mode=quote -v endnl="$nl" "$PROBE_JSON_AWK")
  else
    s=${s//\\/\\\\}
    REPLY="\"${s//\"/\\\"}\""
  fi
}

# Sets REPLY to $1 percent-encoded (everything but RFC 3986 unreserved characters).
url_encode() {
  local s=$1 out="" c hex i
  for ((i = 0; i < ${#s}; i++)); do
    c=${s:i:1}
    case $c in
    [A-Za-z0-9._~-]) out+=$c ;;
    *)
      printf -v hex '%%%02X' "'$c"
      out+=$hex
      ;;
    esac
  done
  REPLY=$out
}

# Moves the first line of inspect_body's `out` into its `line` (the last line has no newline after it).
next_output_line() {
  if [[ $out == *$'\n'* ]]; then
    line=${out%%$'\n'*}
    out=${out#*$'\n'}
  else
    line=$out
    out=""
  fi
}

# Runs the JSON awk over $1 asking for the paths in $2; sets BODY_IS_JSON (0/1), BODY_CARRIED (when
# $3 is 1) and, per wanted path in order, FIELD_TYPE[i], FIELD_RAW[i], FIELD_DEC[i].
inspect_body() {
  local body=$1 want=$2 carry=${3:-1} over=${4:-0} nl=0 out line i
  [[ $body == *$'\n' ]] && nl=1
  out=$(printf '%s' "$body" | awk -v want="$want" -v carry="$carry" -v endnl="$nl" \
    -v maxtext="${MAX_TEXT_BYTES:-$PROBE_MAX_CARRIED_TEXT_BYTES}" -v total="${#body}" -v over="$over" "$PROBE_JSON_AWK")
  FIELD_TYPE=() FIELD_RAW=() FIELD_DEC=()
  next_output_line
  BODY_IS_JSON=0
  [[ $line == json ]] && BODY_IS_JSON=1
  local -a wanted
  read -r -a wanted <<<"$want" # the path list only: never a body
  for ((i = 0; i < ${#wanted[@]}; i++)); do
    next_output_line
    FIELD_TYPE[i]=${line%%$'\t'*}
    line=${line#*$'\t'}
    FIELD_RAW[i]=${line%%$'\t'*}
    FIELD_DEC[i]=${line#*$'\t'}
  done
  BODY_CARRIED=$out
  [[ $carry == 1 && -z $BODY_CARRIED ]] && BODY_CARRIED='""'
  return 0
}

# ---------------------------------------------------------------------------------------------------
# HTTP

# http_get <imds|arm> <url> [token]
# Sets HTTP_STATUS (number, or empty when no HTTP answer came), HTTP_BODY, HTTP_BODY_CUT (1 when the
# body was longer than PROBE_MAX_BODY_BYTES), HTTP_RETRY_AFTER (seconds or empty), HTTP_CURL_EXIT.
http_get() {
  local kind=$1 url=$2 token=${3-} raw rc max_time connect_time limit status_line block rest
  remaining_ms
  local budget=$REMAINING_MS
  # A stage that starts at the deadline (permissions after a late read) still gets a short try.
  ((budget < PROBE_MIN_ATTEMPT_MS)) && budget=$PROBE_MIN_ATTEMPT_MS
  ((budget > 60000)) && budget=60000
  ms_to_seconds "$budget"
  max_time=$REPLY
  ((budget > 5000)) && budget=5000
  ms_to_seconds "$budget"
  connect_time=$REPLY
  limit=$((PROBE_MAX_BODY_BYTES + 16384 + 1))
  local -a args=(--silent --include --max-time "$max_time" --connect-timeout "$connect_time"
    --user-agent "vm-identity-access-probe/1")
  if [[ $kind == imds ]]; then
    # IMDS: SSRF guard header; never through a proxy.
    args+=(--noproxy '*' --header 'Metadata: true' --proto '=http,https')
  else
    args+=(--proto '=https')
  fi
  if [[ -n $token ]]; then
    raw=$(printf 'Authorization: Bearer %s\n' "$token" | curl "${args[@]}" --header @- "$url" | head -c "$limit" | tr '\000' '\032'
      printf '\n%d' "${PIPESTATUS[1]}")
  else
    raw=$(curl "${args[@]}" "$url" </dev/null | head -c "$limit" | tr '\000' '\032'
      printf '\n%d' "${PIPESTATUS[0]}")
  fi
  rc=${raw##*$'\n'}
  raw=${raw%$'\n'*}
  HTTP_CURL_EXIT=$rc
  HTTP_STATUS="" HTTP_BODY="" HTTP_BODY_CUT=0 HTTP_RETRY_AFTER=""
  # Header blocks: skip interim (1xx) answers and a proxy's CONNECT answer, keep the final one.
  while [[ $raw == HTTP/* ]]; do
    if [[ $raw == *$'\r\n\r\n'* ]]; then
      block=${raw%%$'\r\n\r\n'*}
      rest=${raw#*$'\r\n\r\n'}
    elif [[ $raw == *$'\n\n'* ]]; then
      block=${raw%%$'\n\n'*}
      rest=${raw#*$'\n\n'}
    else
      block=$raw
      rest=""
    fi
    status_line=${block%%$'\n'*}
    [[ $status_line =~ ^HTTP/[0-9.]+\ +([0-9]{3}) ]] || break
    HTTP_STATUS=$((10#${BASH_REMATCH[1]}))
    raw=$rest
    if [[ $rest == HTTP/* ]] && { ((HTTP_STATUS < 200)) || [[ ${block,,} != *content-type:* ]]; }; then
      continue
    fi
    local header
    while IFS= read -r header; do
      header=${header%$'\r'}
      if [[ ${header,,} =~ ^retry-after:\ *([0-9]+)\ *$ ]]; then
        HTTP_RETRY_AFTER=$((10#${BASH_REMATCH[1]}))
      fi
    done < <(printf '%s\n' "$block")
    break
  done
  if [[ -n $HTTP_STATUS ]]; then
    if ((${#raw} > PROBE_MAX_BODY_BYTES)); then
      raw=${raw:0:PROBE_MAX_BODY_BYTES}
      HTTP_BODY_CUT=1
    fi
    HTTP_BODY=$raw
  fi
}

# A one-line description of a transport failure (no HTTP answer), from curl's exit code.
transport_failure() {
  case $1 in
  6) REPLY="could not resolve the host" ;;
  7) REPLY="connection refused or host unreachable" ;;
  28) REPLY="timed out" ;;
  35) REPLY="TLS handshake failed" ;;
  51 | 58 | 60 | 77 | 83 | 90 | 91) REPLY="TLS certificate not trusted" ;;
  52) REPLY="empty reply from server" ;;
  56) REPLY="connection reset while receiving" ;;
  *) REPLY="transfer failed" ;;
  esac
  REPLY="$REPLY (curl exit $1)"
}

# Transport failures worth retrying: all but a certificate that will not be trusted next time either.
transport_retryable() {
  case $1 in
  1 | 2 | 3 | 51 | 58 | 60 | 77 | 83 | 90 | 91) return 1 ;;
  *) return 0 ;;
  esac
}

# ---------------------------------------------------------------------------------------------------
# Retry pacing

backoff_reset() { BACKOFF_MS=$PROBE_FIRST_BACKOFF_MS; }

# wait_before_retry <what> [retry-after seconds]: sleeps the backoff (or Retry-After), never past the
# deadline; returns 1 when no further attempt fits before the deadline.
wait_before_retry() {
  local what=$1 retry_after=${2-} wait_ms
  if [[ -n $retry_after ]]; then
    wait_ms=$((retry_after * 1000))
  else
    wait_ms=$BACKOFF_MS
    BACKOFF_MS=$((BACKOFF_MS * 3 / 2))
    ((BACKOFF_MS > PROBE_MAX_BACKOFF_MS)) && BACKOFF_MS=$PROBE_MAX_BACKOFF_MS
  fi
  remaining_ms
  if ((REMAINING_MS - wait_ms < PROBE_MIN_ATTEMPT_MS)); then
    wait_ms=$((REMAINING_MS - PROBE_MIN_ATTEMPT_MS))
  fi
  if ((wait_ms < 0 || REMAINING_MS <= PROBE_MIN_ATTEMPT_MS)); then
    log_line "$what: deadline of ${DEADLINE_SECONDS}s reached; giving up"
    return 1
  fi
  ms_to_seconds "$wait_ms"
  log_line "$what: retrying in ${REPLY}s"
  sleep "$REPLY"
  return 0
}

# Records the final error (JSON fragments: status number or null, code and message JSON strings or null).
set_error() {
  ERROR_JSON="{\"stage\":\"$1\",\"status\":$2,\"code\":$3,\"message\":$4}"
}

# From an IMDS or ARM error body (in HTTP_BODY) sets ERR_CODE_RAW / ERR_CODE / ERR_MESSAGE_RAW /
# ERR_MESSAGE_DEC: IMDS errors are {"error","error_description"}, ARM's {"error":{"code","message"}}.
read_error_body() {
  local kind=$1
  ERR_CODE_RAW=null ERR_CODE="" ERR_MESSAGE_RAW="" ERR_MESSAGE_DEC=""
  if [[ $kind == imds ]]; then
    inspect_body "$HTTP_BODY" "error error_description" 1 "$HTTP_BODY_CUT"
  else
    inspect_body "$HTTP_BODY" "error.code error.message" 1 "$HTTP_BODY_CUT"
  fi
  if [[ ${FIELD_TYPE[0]} == string ]]; then
    ERR_CODE_RAW=${FIELD_RAW[0]}
    ERR_CODE=${FIELD_DEC[0]}
  fi
  if [[ ${FIELD_TYPE[1]} == string ]]; then
    ERR_MESSAGE_RAW=${FIELD_RAW[1]}
    ERR_MESSAGE_DEC=${FIELD_DEC[1]}
  else
    local what="IMDS"
    [[ $kind == arm ]] && what="ARM"
    if ((BODY_IS_JSON)); then
      json_string "$what answered HTTP $HTTP_STATUS without an error message"
    else
      json_string "$what answered HTTP $HTTP_STATUS with a body that is not JSON"
    fi
    ERR_MESSAGE_RAW=$REPLY
  fi
}

# ---------------------------------------------------------------------------------------------------
# Stages

# Reads subscriptionId and resourceGroupName from instance metadata. Returns 1 on a final failure.
read_instance_metadata() {
  local url="$IMDS_BASE/metadata/instance/compute?api-version=2021-02-01" attempt=0
  backoff_reset
  while :; do
    attempt=$((attempt + 1))
    http_get imds "$url"
    if [[ -z $HTTP_STATUS ]]; then
      transport_failure "$HTTP_CURL_EXIT"
      log_line "imds metadata attempt $attempt: $REPLY"
      json_string "instance metadata request failed: $REPLY"
      set_error imds null null "$REPLY"
      transport_retryable "$HTTP_CURL_EXIT" || return 1
      wait_before_retry "imds metadata" || return 1
      continue
    fi
    log_line "imds metadata attempt $attempt: HTTP $HTTP_STATUS"
    if ((HTTP_STATUS == 200)); then
      inspect_body "$HTTP_BODY" "subscriptionId resourceGroupName" 0
      if [[ ${FIELD_TYPE[0]} == string && -n ${FIELD_DEC[0]} && ${FIELD_TYPE[1]} == string && -n ${FIELD_DEC[1]} ]]; then
        SUBSCRIPTION=${FIELD_DEC[0]}
        RESOURCE_GROUP_NAME=${FIELD_DEC[1]}
        return 0
      fi
      json_string "instance metadata has no subscriptionId and resourceGroupName strings"
      set_error imds 200 null "$REPLY"
      return 1
    fi
    read_error_body imds
    set_error imds "$HTTP_STATUS" "$ERR_CODE_RAW" "$ERR_MESSAGE_RAW"
    case $HTTP_STATUS in
    404 | 410 | 429 | 5??) ;;
    *) return 1 ;;
    esac
    wait_before_retry "imds metadata" "$([[ $HTTP_STATUS == 429 ]] && printf '%s' "$HTTP_RETRY_AFTER")" || return 1
  done
}

# Decodes the JWT payload (never the signature) and keeps the non-secret claims in TOKEN_CLAIMS.
decode_claims() {
  local token=$1 payload padded json
  payload=${token#*.}
  payload=${payload%%.*}
  padded=$payload
  case $((${#payload} % 4)) in
  2) padded+="==" ;;
  3) padded+="=" ;;
  esac
  json=$(printf '%s' "$padded" | tr '_-' '/+' | base64 -d 2>/dev/null)
  local names="aud iss oid sub tid appid idtyp xms_mirid iat nbf exp" i out="" sep=""
  inspect_body "$json" "$names" 0
  if ((!BODY_IS_JSON)); then
    TOKEN_CLAIMS=null
    log_line "token payload is not JSON; claims not reported"
    return
  fi
  local -a claim_names
  read -r -a claim_names <<<"$names" # the claim names only
  for ((i = 0; i < ${#claim_names[@]}; i++)); do
    case ${claim_names[i]} in
    iat | nbf | exp) [[ ${FIELD_TYPE[i]} == number ]] || continue ;;
    *) [[ ${FIELD_TYPE[i]} == string ]] || continue ;;
    esac
    out+="$sep\"${claim_names[i]}\":${FIELD_RAW[i]}"
    sep=","
  done
  TOKEN_CLAIMS="{$out}"
}

# Fetches a token into ACCESS_TOKEN (retrying per IMDS guidance). Returns 1 on a final failure.
fetch_token() {
  local attempt_note
  backoff_reset
  TOKEN_STARTED=1
  while :; do
    TOKEN_ATTEMPTS=$((TOKEN_ATTEMPTS + 1))
    attempt_note="imds token attempt $TOKEN_ATTEMPTS"
    http_get imds "$TOKEN_URL"
    if [[ -z $HTTP_STATUS ]]; then
      TOKEN_STATUS=null
      transport_failure "$HTTP_CURL_EXIT"
      log_line "$attempt_note: $REPLY"
      json_string "token request failed: $REPLY"
      set_error imds null null "$REPLY"
      transport_retryable "$HTTP_CURL_EXIT" || return 1
      wait_before_retry "imds token" || return 1
      continue
    fi
    TOKEN_STATUS=$HTTP_STATUS
    if ((HTTP_STATUS == 200)); then
      # carry=0: this body holds the token and must never be echoed.
      inspect_body "$HTTP_BODY" "access_token expires_on" 0
      HTTP_BODY=""
      if [[ ${FIELD_TYPE[0]} == string && ${FIELD_DEC[0]} =~ ^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$ ]]; then
        ACCESS_TOKEN=${FIELD_DEC[0]}
        FIELD_DEC[0]="" FIELD_RAW[0]=""
        TOKEN_EXPIRES_ON=null
        [[ ${FIELD_TYPE[1]} == string ]] && TOKEN_EXPIRES_ON=${FIELD_RAW[1]}
        log_line "$attempt_note: HTTP 200"
        decode_claims "$ACCESS_TOKEN"
        return 0
      fi
      FIELD_DEC[0]="" FIELD_RAW[0]=""
      log_line "$attempt_note: HTTP 200 without a usable access_token"
      json_string "IMDS answered 200 without a JWT access_token"
      set_error imds 200 null "$REPLY"
      return 1
    fi
    read_error_body imds
    log_line "$attempt_note: HTTP $HTTP_STATUS${ERR_CODE:+ $ERR_CODE}${ERR_MESSAGE_DEC:+: $ERR_MESSAGE_DEC}"
    set_error imds "$HTTP_STATUS" "$ERR_CODE_RAW" "$ERR_MESSAGE_RAW"
    case $HTTP_STATUS in
    404 | 410 | 429 | 5??) ;;
    400)
      # The documented transient window right after an identity is attached to the VM.
      [[ $ERR_MESSAGE_DEC == *"Identity not found"* ]] || return 1
      ;;
    *) return 1 ;;
    esac
    wait_before_retry "imds token" "$([[ $HTTP_STATUS == 429 ]] && printf '%s' "$HTTP_RETRY_AFTER")" || return 1
  done
}

# arm_read <resourceGroup|permissions> <url>: GETs url with the token, retrying per the contract.
# Sets <stage>_STATUS, <stage>_ATTEMPTS, <stage>_BODY. Returns 0 on HTTP 200, else 1.
arm_read() {
  local stage=$1 url=$2 attempts=0 status=null body=null retry_after refusal=0
  # Waiting for a refusal (PROBE_EXPECT=denied): a 200 means "not yet", a 403 is the answer.
  [[ $stage == resourceGroup && $EXPECT == denied ]] && refusal=1
  backoff_reset
  while :; do
    attempts=$((attempts + 1))
    http_get arm "$url" "$ACCESS_TOKEN"
    if [[ -z $HTTP_STATUS ]]; then
      transport_failure "$HTTP_CURL_EXIT"
      log_line "arm $stage attempt $attempts: $REPLY"
      # ARM's last answer stays the stage's evidence: a try that got no answer (most often the last,
      # short one that the deadline cuts off) says nothing new about access.
      if [[ $status == null ]]; then
        json_string "ARM request failed: $REPLY"
        set_error arm null null "$REPLY"
      fi
      transport_retryable "$HTTP_CURL_EXIT" || break
      wait_before_retry "arm $stage" || break
      continue
    fi
    status=$HTTP_STATUS
    if ((HTTP_STATUS == 200 && refusal)); then
      inspect_body "$HTTP_BODY" "" 1 "$HTTP_BODY_CUT"
      body=$BODY_CARRIED
      log_line "arm $stage attempt $attempts: HTTP 200, still allowed: waiting for the refusal"
      json_string "ARM still allowed the read when the deadline of ${DEADLINE_SECONDS}s passed: access was not refused"
      set_error arm 200 null "$REPLY"
      wait_before_retry "arm $stage" || break
      continue
    fi
    if ((HTTP_STATUS == 200)); then
      inspect_body "$HTTP_BODY" "" 1 "$HTTP_BODY_CUT"
      body=$BODY_CARRIED
      log_line "arm $stage attempt $attempts: HTTP 200"
      ERROR_JSON=null
      printf -v "${stage}_STATUS" '%s' "$status"
      printf -v "${stage}_ATTEMPTS" '%s' "$attempts"
      printf -v "${stage}_BODY" '%s' "$body"
      return 0
    fi
    read_error_body arm
    body=$BODY_CARRIED
    log_line "arm $stage attempt $attempts: HTTP $HTTP_STATUS${ERR_CODE:+ $ERR_CODE}"
    set_error arm "$HTTP_STATUS" "$ERR_CODE_RAW" "$ERR_MESSAGE_RAW"
    retry_after=""
    case $HTTP_STATUS in
    401)
      # The token was rejected (revoked, expired, not yet valid): a new one first, after the pause.
      wait_before_retry "arm $stage" || break
      local arm_backoff=$BACKOFF_MS
      fetch_token || {
        printf -v "${stage}_STATUS" '%s' "$status"
        printf -v "${stage}_ATTEMPTS" '%s' "$attempts"
        printf -v "${stage}_BODY" '%s' "$body"
        return 1
      }
      BACKOFF_MS=$arm_backoff
      continue
      ;;
    403)
      # Waiting for a refusal, a 403 is the answer; otherwise AuthorizationFailed is RBAC propagating.
      ((refusal)) && break
      [[ $ERR_CODE == AuthorizationFailed ]] || break
      ;;
    429) retry_after=$HTTP_RETRY_AFTER ;;
    5??) ;;
    *) break ;;
    esac
    wait_before_retry "arm $stage" "$retry_after" || break
  done
  printf -v "${stage}_STATUS" '%s' "$status"
  printf -v "${stage}_ATTEMPTS" '%s' "$attempts"
  printf -v "${stage}_BODY" '%s' "$body"
  return 1
}

# ---------------------------------------------------------------------------------------------------
# Output

emit_result() {
  local ok=$1 elapsed token_json rg_json perm_json identity_value sub_json rg_name_json arm_json resource_json
  now_ms
  elapsed=$((NOW_MS - START_MS))
  printf -v elapsed '%d.%d' $((elapsed / 1000)) $((elapsed % 1000 / 100))
  identity_value=null
  if [[ -n $SELECTOR_VALUE ]]; then
    json_string "$SELECTOR_VALUE"
    identity_value=$REPLY
  fi
  sub_json=null rg_name_json=null
  if [[ -n $SUBSCRIPTION ]]; then
    json_string "$SUBSCRIPTION"
    sub_json=$REPLY
  fi
  if [[ -n $RESOURCE_GROUP_NAME ]]; then
    json_string "$RESOURCE_GROUP_NAME"
    rg_name_json=$REPLY
  fi
  json_string "$ARM_BASE"
  arm_json=$REPLY
  json_string "$ARM_BASE/"
  resource_json=$REPLY
  token_json=null rg_json=null perm_json=null
  if ((TOKEN_STARTED)); then
    token_json="{\"status\":$TOKEN_STATUS,\"attempts\":$TOKEN_ATTEMPTS,\"expiresOn\":$TOKEN_EXPIRES_ON,\"claims\":$TOKEN_CLAIMS}"
  fi
  if [[ -n $resourceGroup_ATTEMPTS ]]; then
    rg_json="{\"status\":$resourceGroup_STATUS,\"attempts\":$resourceGroup_ATTEMPTS,\"body\":$resourceGroup_BODY}"
  fi
  if [[ -n $permissions_ATTEMPTS ]]; then
    perm_json="{\"status\":$permissions_STATUS,\"attempts\":$permissions_ATTEMPTS,\"body\":$permissions_BODY}"
  fi
  printf '{"probeVersion":1,"ok":%s,"identity":{"selector":"%s","value":%s},"target":{"subscriptionId":%s,"resourceGroup":%s,"armEndpoint":%s,"resource":%s},"token":%s,"resourceGroup":%s,"permissions":%s,"elapsedSeconds":%s,"error":%s}\n' \
    "$ok" "$SELECTOR" "$identity_value" "$sub_json" "$rg_name_json" "$arm_json" "$resource_json" \
    "$token_json" "$rg_json" "$perm_json" "$elapsed" "$ERROR_JSON"
}

input_error() {
  json_string "$1"
  set_error input null null "$REPLY"
  log_line "bad input: $1"
  emit_result false
  return 2
}

# ---------------------------------------------------------------------------------------------------

main() {
  export LC_ALL=C
  now_ms
  START_MS=$NOW_MS
  TOKEN_STARTED=0 TOKEN_ATTEMPTS=0 TOKEN_STATUS=null TOKEN_EXPIRES_ON=null TOKEN_CLAIMS=null ACCESS_TOKEN=""
  # Per ARM stage: status, attempts (empty: stage never ran) and carried body, set by arm_read.
  resourceGroup_STATUS=null resourceGroup_ATTEMPTS="" resourceGroup_BODY=null
  permissions_STATUS=null permissions_ATTEMPTS="" permissions_BODY=null
  ERROR_JSON=null
  SELECTOR=system SELECTOR_VALUE=""
  SUBSCRIPTION=${SUBSCRIPTION_ID:-} RESOURCE_GROUP_NAME=${RESOURCE_GROUP:-}
  DEADLINE_SECONDS=${PROBE_DEADLINE_SECONDS:-$PROBE_DEFAULT_DEADLINE}
  EXPECT=${PROBE_EXPECT:-granted}
  MAX_TEXT_BYTES=${PROBE_MAX_TEXT_BYTES:-$PROBE_MAX_CARRIED_TEXT_BYTES}

  ARM_BASE=${ARM_ENDPOINT:-$PROBE_DEFAULT_ARM}
  while [[ $ARM_BASE == */ ]]; do ARM_BASE=${ARM_BASE%/}; done
  IMDS_BASE=${AZURE_POD_IDENTITY_AUTHORITY_HOST:-$PROBE_DEFAULT_IMDS}
  while [[ $IMDS_BASE == */ ]]; do IMDS_BASE=${IMDS_BASE%/}; done

  local selectors=0
  if [[ -n ${MI_CLIENT_ID:-} ]]; then
    selectors=$((selectors + 1)) SELECTOR=client_id SELECTOR_VALUE=$MI_CLIENT_ID
  fi
  if [[ -n ${MI_OBJECT_ID:-} ]]; then
    selectors=$((selectors + 1)) SELECTOR=object_id SELECTOR_VALUE=$MI_OBJECT_ID
  fi
  if [[ -n ${MI_RESOURCE_ID:-} ]]; then
    selectors=$((selectors + 1)) SELECTOR=msi_res_id SELECTOR_VALUE=$MI_RESOURCE_ID
  fi

  local host_re='(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+)(:[0-9]{1,5})?'
  if ((selectors > 1)); then
    SELECTOR=system SELECTOR_VALUE=""
    input_error "at most one of MI_CLIENT_ID, MI_OBJECT_ID, MI_RESOURCE_ID may be set (none selects the system-assigned identity)"
    return
  fi
  if [[ -n $SUBSCRIPTION && -z $RESOURCE_GROUP_NAME ]] || [[ -z $SUBSCRIPTION && -n $RESOURCE_GROUP_NAME ]]; then
    input_error "SUBSCRIPTION_ID and RESOURCE_GROUP go together: set both, or neither to read them from instance metadata"
    return
  fi
  if ! [[ $DEADLINE_SECONDS =~ ^[0-9]{1,5}$ ]] || ((10#$DEADLINE_SECONDS < 1 || 10#$DEADLINE_SECONDS > 86400)); then
    input_error "PROBE_DEADLINE_SECONDS must be a whole number of seconds from 1 to 86400; got '$DEADLINE_SECONDS'"
    return
  fi
  DEADLINE_SECONDS=$((10#$DEADLINE_SECONDS))
  if [[ $EXPECT != granted && $EXPECT != denied ]]; then
    input_error "PROBE_EXPECT must be granted or denied (unset: granted); got '$EXPECT'"
    return
  fi
  if ! [[ $MAX_TEXT_BYTES =~ ^[0-9]{1,4}$ ]] || ((10#$MAX_TEXT_BYTES < 64 || 10#$MAX_TEXT_BYTES > PROBE_MAX_CARRIED_TEXT_BYTES)); then
    input_error "PROBE_MAX_TEXT_BYTES must be a whole number from 64 to $PROBE_MAX_CARRIED_TEXT_BYTES (unset: $PROBE_MAX_CARRIED_TEXT_BYTES); got '$MAX_TEXT_BYTES'"
    return
  fi
  MAX_TEXT_BYTES=$((10#$MAX_TEXT_BYTES))
  if ! [[ $ARM_BASE =~ ^https://${host_re}(/[^[:space:]?#]*)?$ ]]; then
    input_error "ARM_ENDPOINT must be an https:// URL (a token must not travel in clear text); got '${ARM_ENDPOINT:-}'"
    return
  fi
  if ! [[ $IMDS_BASE =~ ^https?://${host_re}(/[^[:space:]?#]*)?$ ]]; then
    input_error "AZURE_POD_IDENTITY_AUTHORITY_HOST must be an http:// or https:// base URL; got '${AZURE_POD_IDENTITY_AUTHORITY_HOST:-}'"
    return
  fi
  DEADLINE_MS=$((START_MS + DEADLINE_SECONDS * 1000))

  url_encode "$ARM_BASE/"
  TOKEN_URL="$IMDS_BASE/metadata/identity/oauth2/token?api-version=2018-02-01&resource=$REPLY"
  if [[ $SELECTOR != system ]]; then
    url_encode "$SELECTOR_VALUE"
    TOKEN_URL+="&$SELECTOR=$REPLY"
  fi

  if [[ -z $SUBSCRIPTION ]]; then
    read_instance_metadata || {
      emit_result false
      return 1
    }
  fi
  fetch_token || {
    emit_result false
    return 1
  }
  local sub_path rg_path
  url_encode "$SUBSCRIPTION"
  sub_path=$REPLY
  url_encode "$RESOURCE_GROUP_NAME"
  rg_path="$ARM_BASE/subscriptions/$sub_path/resourceGroups/$REPLY"
  arm_read resourceGroup "$rg_path?api-version=2021-04-01" || {
    ACCESS_TOKEN=""
    if [[ $EXPECT == denied && $resourceGroup_STATUS == 200 ]]; then
      emit_result true
      return 1
    fi
    emit_result false
    [[ $EXPECT == denied && $resourceGroup_STATUS == 403 && $ERR_CODE == AuthorizationFailed ]] && return 0
    return 1
  }
  # The resource group was read: verified. The permissions list is evidence for the judge.
  arm_read permissions "$rg_path/providers/Microsoft.Authorization/permissions?api-version=2022-04-01" || true
  ACCESS_TOKEN=""
  ERROR_JSON=null
  emit_result true
  return 0
}

main "$@" </dev/null
