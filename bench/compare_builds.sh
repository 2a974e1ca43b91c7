#!/usr/bin/env bash
# CPU per request of two scalegate builds, an old commit and a new binary, in ONE run of the
# shared reference harness (../shared/bench/cpu_per_req.sh): only ratios inside one run mean
# much on these small shared machines, so both builds must be measured beside each other.
#
# Usage: bash bench/compare_builds.sh BASE_COMMIT [NEW_BIN]
#   BASE_COMMIT is built in a git worktree at ../compare-<short-hash> (next to the checkout;
#   reused, and only rebuilt where out of date, when it is already there), RelWithDebInfo with
#   Ninja, through ccache when installed. NEW_BIN defaults to build/src/app/scalegate.
# Four one-worker scalegates are started pinned to CPU 0 and measured beside the harness's
# nginx and HAProxy: base and new (bench/scalegate-ref.yaml), base_protected and
# new_protected (bench/scalegate-ref-protected.yaml), each on its own ports (listeners
# 18084-18087, admin 18094-18097). Then the harness output, and the medians over rounds with
# the ratios new/base (bare and protected) and new/haproxy.
# Env: N, CONN, ROUNDS (passed to the harness), REFERENCE (../shared/bench/cpu_per_req.sh),
#      COMPARE_DIR (where to build the base, ../compare-<short-hash>).
set -euo pipefail

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$BENCH_DIR/.." && pwd)
REFERENCE=${REFERENCE:-$ROOT/../shared/bench/cpu_per_req.sh}

die() {
  echo "bench/compare_builds: ERROR: $*" >&2
  exit 1
}
say() { echo "bench/compare_builds: $*"; }

(($# >= 1 && $# <= 2)) || die "usage: bash bench/compare_builds.sh BASE_COMMIT [NEW_BIN]"
BASE_REV=$(git -C "$ROOT" rev-parse --verify --quiet "$1^{commit}") || die "$1 is not a commit of $ROOT"
SHORT=$(git -C "$ROOT" rev-parse --short=7 "$BASE_REV")
NEW_BIN=${2:-$ROOT/build/src/app/scalegate}
[[ -x "$NEW_BIN" ]] || die "no scalegate binary at $NEW_BIN (build it first, or pass NEW_BIN)"
NEW_BIN=$(realpath "$NEW_BIN")
[[ -f "$REFERENCE" ]] || die "reference harness not found at $REFERENCE"
for tool in cmake ninja nginx haproxy h2load taskset; do
  command -v "$tool" >/dev/null || die "$tool is not installed (bash scripts/install-deps.sh)"
done

# --- the base build: a detached worktree, so the checkout (possibly mid-edit) is not touched
BASE_DIR=${COMPARE_DIR:-$(realpath -m "$ROOT/../compare-$SHORT")}
if [[ -e "$BASE_DIR" ]]; then
  # reuse it only if it really is that commit, so an old folder never passes for another build
  have=$(git -C "$BASE_DIR" rev-parse --verify --quiet HEAD 2>/dev/null) || die "$BASE_DIR exists and is not a git worktree"
  [[ "$have" == "$BASE_REV" ]] || die "$BASE_DIR is at ${have:0:7}, not $SHORT: remove it (git worktree remove $BASE_DIR)"
  [[ -z "$(git -C "$BASE_DIR" status --porcelain --untracked-files=no)" ]] || die "$BASE_DIR has local changes"
else
  say "adding worktree $BASE_DIR at $SHORT"
  git -C "$ROOT" worktree add --detach "$BASE_DIR" "$BASE_REV" >/dev/null
fi
# paths relative to the worktree in ccache's hash, so a build of the same sources in another
# folder (the checkout, another worktree) hits the cache; CMakeLists.txt picks ccache up itself
export CCACHE_BASEDIR=$BASE_DIR CCACHE_NOHASHDIR=1
if [[ ! -f "$BASE_DIR/build/build.ninja" ]]; then
  say "configuring $BASE_DIR/build"
  cmake -S "$BASE_DIR" -B "$BASE_DIR/build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >"$BASE_DIR/build-configure.log" 2>&1 ||
    die "cmake failed, see $BASE_DIR/build-configure.log"
fi
say "building scalegate at $SHORT (a no-op when up to date)"
# only the binary: the tests and fuzzers would take several times as long on 2 cores
ninja -C "$BASE_DIR/build" scalegate >"$BASE_DIR/build-ninja.log" 2>&1 || die "build failed, see $BASE_DIR/build-ninja.log"
BASE_BIN=$BASE_DIR/build/src/app/scalegate
[[ -x "$BASE_BIN" ]] || die "the build left no $BASE_BIN"
[[ "$BASE_BIN" != "$NEW_BIN" ]] || die "NEW_BIN is the base binary itself"

# --- the harness's own ports must be free, or it would measure someone else's nginx/HAProxy
# shellcheck source=bench/proc_lib.sh
source "$BENCH_DIR/proc_lib.sh"
for port in 18080 18081 18082; do
  port_busy "$port" && die "127.0.0.1:$port (the harness's) is already in use: is another benchmark running?"
done

WORK=$(mktemp -d /tmp/scalegate-compare.XXXXXX)
PIDS=()
# shellcheck disable=SC2317  # (called through the EXIT trap)
stop() {
  local rc=$?
  # shellcheck disable=SC2119  # (no pids beyond PIDS)
  stop_started
  if ((rc == 0)); then rm -rf "$WORK"; else echo "bench/compare_builds: logs kept in $WORK" >&2; fi
}
trap stop EXIT

# A copy of a reference config with the listener's and the admin's ports replaced (the
# upstream's 127.0.0.1:18080 is left alone): awk tracks the top-level section it is in.
retarget() { # src dst listen-port admin-port
  awk -v lp="$3" -v ap="$4" '
    /^[a-z_]+:/ { section = $1 }
    section == "listeners:" && /address: 127\.0\.0\.1:[0-9]+/ { sub(/127\.0\.0\.1:[0-9]+/, "127.0.0.1:" lp) }
    section == "admin:" && /address: 127\.0\.0\.1:[0-9]+/ { sub(/127\.0\.0\.1:[0-9]+/, "127.0.0.1:" ap) }
    { print }' "$1" >"$2"
  if ! grep -q "127.0.0.1:$3\$" "$2" || ! grep -q "127.0.0.1:$4\$" "$2"; then
    die "could not set ports $3/$4 in a copy of $1"
  fi
}

ARGS=()
start() { # name binary listen-port admin-port config
  local name=$1 bin=$2 port=$3 admin=$4 config=$WORK/$1.yaml pid
  port_busy "$port" && die "127.0.0.1:$port is already in use"
  port_busy "$admin" && die "127.0.0.1:$admin is already in use"
  retarget "$5" "$config" "$port" "$admin"
  "$bin" check -c "$config" >/dev/null || die "$bin rejects $config"
  taskset -c 0 "$bin" run -c "$config" >"$WORK/$name.log" 2>&1 &
  pid=$!
  PIDS+=("$pid")
  echo "$pid" >"$WORK/$name.pid"
  say "$name: pid $pid on 127.0.0.1:$port (CPU 0), $bin"
  ARGS+=("$name=$port:$WORK/$name.pid")
}

say "base $SHORT: $BASE_BIN"
say "new: $NEW_BIN"
start base "$BASE_BIN" 18084 18094 "$BENCH_DIR/scalegate-ref.yaml"
start new "$NEW_BIN" 18085 18095 "$BENCH_DIR/scalegate-ref.yaml"
start base_protected "$BASE_BIN" 18086 18096 "$BENCH_DIR/scalegate-ref-protected.yaml"
start new_protected "$NEW_BIN" 18087 18097 "$BENCH_DIR/scalegate-ref-protected.yaml"
sleep 1
for pid in "${PIDS[@]}"; do
  alive "$pid" || { tail -n 20 "$WORK"/*.log >&2; die "a scalegate exited during start-up"; }
done

# the harness has no set -e and reports failures only in its lines: judged below
bash "$REFERENCE" "${ARGS[@]}" | tee "$WORK/harness.out"

# --- medians over rounds and the ratios
N_REQ=${N:-200000}
awk -v n="$N_REQ" '
  function median(name,   k, i, j, t, v) {
    k = cnt[name]; for (i = 1; i <= k; i++) v[i] = val[name, i]
    for (i = 2; i <= k; i++) for (j = i; j > 1 && v[j - 1] > v[j]; j--) { t = v[j]; v[j] = v[j - 1]; v[j - 1] = t }
    return k % 2 ? v[(k + 1) / 2] : (v[k / 2] + v[k / 2 + 1]) / 2
  }
  function ratio(a, b) { return (cnt[a] && cnt[b] && median(b) > 0) ? sprintf("%.3f", median(a) / median(b)) : "n/a" }
  function byround(a, b,   i, s) {
    for (i = 1; i <= cnt[a] && i <= cnt[b]; i++) s = s sprintf(" %.2f", val[b, i] > 0 ? val[a, i] / val[b, i] : 0)
    return s
  }
  $2 ~ /^cpu_us_per_req=/ {
    name = $1; split($2, c, "="); split($4, ok, "=")
    if (!(name in cnt)) order[++names] = name
    val[name, ++cnt[name]] = c[2]
    if (ok[2] != n) bad = bad sprintf("  %s round %d: 2xx=%s of %s\n", name, cnt[name], ok[2], n)
  }
  END {
    print ""
    printf "%-16s %16s   %s\n", "proxy", "median cpu_us", "rounds"
    for (i = 1; i <= names; i++) {
      s = ""; for (j = 1; j <= cnt[order[i]]; j++) s = s " " val[order[i], j]
      printf "%-16s %16.2f  %s\n", order[i], median(order[i]), s
    }
    print ""
    printf "new/base CPU per request, bare:            %s (by round:%s)\n", ratio("new", "base"), byround("new", "base")
    printf "new/base CPU per request, protected:       %s (by round:%s)\n", ratio("new_protected", "base_protected"), byround("new_protected", "base_protected")
    printf "new/haproxy CPU per request, bare:         %s\n", ratio("new", "haproxy")
    printf "new/haproxy CPU per request, protected:    %s\n", ratio("new_protected", "haproxy")
    printf "protected/bare, base: %s, new: %s\n", ratio("base_protected", "base"), ratio("new_protected", "new")
    if (bad != "") { printf "\nNOT every request got a 2xx answer:\n%s", bad; exit 1 }
    if (!cnt["new"] || !cnt["base"]) { print "no scalegate lines in the harness output"; exit 1 }
  }' "$WORK/harness.out" || die "the run is not usable (see above)"
