#!/usr/bin/env bash
# THE test command: installs the dependencies, builds, and runs every test.
#   bash scripts/test.sh   (as root, or with sudo)
# Steps, in order, stopping at the first failure:
#   build             install deps, RelWithDebInfo build in build/
#   unit              ctest in build/
#   integration       pytest tests/integration against build/src/app/scalegate
#   asan-unit         Debug ASan+UBSan build in build-asan/, then ctest there
#   tsan-build        ThreadSanitizer build of scalegate in build-tsan/
#   asan-integration  pytest tests/integration against build-asan/src/app/scalegate  } side by
#   tsan-integration  pytest tests/integration against build-tsan/src/app/scalegate  } side
#                     any sanitizer report fails the step
#   fuzz              clang libFuzzer build in build-fuzz/; 45 s of each fuzz target (request,
#                     request vs llhttp, response, chunked, PostgreSQL frontend, statement
#                     classifier, HTTP/2 frames into a session on a real worker) on a copy of
#                     its seed corpus
#   bench-smoke       bench/run.sh with N=20000 ROUNDS=1 (checks it runs; asserts no timings)
# The last line is always `scalegate: N passed, M failed` (N and M count steps); the exit status
# is non-zero when any step failed.
# Developers may set SKIP_ASAN=1, SKIP_TSAN=1, SKIP_FUZZ=1, SKIP_BENCH=1 (CI sets none of them), and
# FUZZ_SECONDS (45, per fuzz target).
set -uo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT" || exit 1

JOBS=2 # the machines have 2 cores
FUZZ_SECONDS=${FUZZ_SECONDS:-45}
PYTHON=/usr/bin/python3 # Debian's, which has pytest (the pyenv python3 first on PATH does not)
export PYTHONDONTWRITEBYTECODE=1
# ccache (CMakeLists.txt uses it when installed): paths relative to the checkout, so a fresh
# clone in another folder reuses what an earlier run compiled.
export CCACHE_BASEDIR=$ROOT CCACHE_NOHASHDIR=1

PASSED=0
FAILED=0
REPORT=()
TEMP_DIRS=()
exec 3>&1 4>&2 # the real stdout/stderr, for the summary even when a step's output is redirected
STEP=""
STEP_START=0

say() { echo "scalegate test: $*"; }

finish() {
  trap - INT TERM
  exec 1>&3 2>&4
  if ((${#TEMP_DIRS[@]})); then rm -rf "${TEMP_DIRS[@]}"; fi
  echo
  echo "---- scalegate test summary"
  local line
  for line in "${REPORT[@]}"; do echo "  $line"; done
  echo "scalegate: $PASSED passed, $FAILED failed"
  if ((FAILED > 0)); then exit 1; fi
  exit 0
}

begin() { # step-name description
  STEP=$1
  STEP_START=$SECONDS
  echo
  echo "==== [$1] $2"
}
STEP_END="" # set when a step ended before it is reported (a suite that ran in the background)
pass() {
  local took=$((${STEP_END:-$SECONDS} - STEP_START))
  STEP_END=""
  PASSED=$((PASSED + 1))
  REPORT+=("ok       $STEP (${took}s)")
  say "step '$STEP' passed in ${took}s"
}
fail() { # message; stops the run (fail fast)
  FAILED=$((FAILED + 1))
  REPORT+=("FAILED   $STEP: $1")
  echo "scalegate test: step '$STEP' FAILED: $1" >&2
  finish
}
skip() { # step-name reason
  REPORT+=("skipped  $1 ($2)")
  echo
  say "skipping $1 ($2)"
}
# Runs a command with a time limit. On timeout, `timeout` signals its whole process group (the
# command and whatever it started). It runs in the background and is waited for, so that an
# interrupt of this script is handled at once (by passing SIGTERM on to `timeout`).
CHILD=""
limit() { # seconds command...
  local secs=$1 rc
  shift
  timeout -k 30 "$secs" "$@" &
  CHILD=$!
  wait "$CHILD"
  rc=$?
  CHILD=""
  if ((rc == 124 || rc == 137)); then echo "scalegate test: timed out after ${secs}s: $*" >&2; fi
  return "$rc"
}
# Integration suites that run side by side: each in the background under its own time limit; its
# exit status and end time (in $SECONDS) go to LOG.rc when it ends.
SUITE_PIDS=()
start_suite() { # log-file seconds [wrapper...]  (SCALEGATE_BIN etc. come from the environment)
  local log=$1 secs=$2
  shift 2
  rm -f "$log.rc"
  (
    timeout -k 30 "$secs" "$@" "$PYTHON" -m pytest -q -p no:cacheprovider tests/integration >"$log" 2>&1 &
    pid=$!
    trap 'kill -TERM "$pid" 2>/dev/null' TERM # `timeout` passes it on to pytest
    wait "$pid"
    rc=$?
    while ((rc > 128)) && kill -0 "$pid" 2>/dev/null; do # woken by the trap: wait for its end
      wait "$pid"
      rc=$?
    done
    if ((rc == 124 || rc == 137)); then echo "scalegate test: timed out after ${secs}s" >>"$log"; fi
    echo "$rc $SECONDS" >"$log.rc"
  ) &
  SUITE_PIDS+=($!)
}
wait_suites() {
  local pid
  for pid in "${SUITE_PIDS[@]}"; do wait "$pid"; done
  SUITE_PIDS=()
}
# shellcheck disable=SC2317  # (called through the traps)
interrupted() {
  local pid
  for pid in $CHILD "${SUITE_PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null; done
  for pid in $CHILD "${SUITE_PIDS[@]}"; do wait "$pid" 2>/dev/null; done
  SUITE_PIDS=()
  fail "interrupted"
}
trap interrupted INT TERM

configure() { # build-dir cmake-args...
  local dir=$1
  shift
  if [[ -f "$dir/CMakeCache.txt" ]] && ! grep -q '^CMAKE_GENERATOR:INTERNAL=Ninja$' "$dir/CMakeCache.txt"; then
    say "$dir was configured with another generator; starting it afresh"
    rm -rf "$dir"
  fi
  limit 300 cmake -S . -B "$dir" -G Ninja --log-level=NOTICE "$@"
}

run_ctest() { # build-dir
  limit 900 ctest --test-dir "$1" --output-on-failure -j"$JOBS" --no-tests=error --timeout 300
}

run_pytest() { # binary
  [[ -d tests/integration ]] || {
    echo "scalegate test: tests/integration does not exist" >&2
    return 5
  }
  SCALEGATE_BIN=$1 limit 900 "$PYTHON" -m pytest -q -p no:cacheprovider tests/integration
}

pytest_failure() { # exit-code -> message
  case $1 in
    5) echo "no integration tests were collected under tests/integration (tests are expected)" ;;
    124 | 137) echo "pytest timed out" ;;
    *) echo "pytest exited with $1" ;;
  esac
}

say "$(nproc) cores; $(g++ --version | head -n 1); $(cmake --version | head -n 1)${CI:+; CI=$CI}"

# ---- build -----------------------------------------------------------------------------------
begin build "install dependencies; RelWithDebInfo build in build/"
bash scripts/install-deps.sh || fail "scripts/install-deps.sh failed"
configure build -DCMAKE_BUILD_TYPE=RelWithDebInfo || fail "cmake configure of build/ failed"
limit 1800 ninja -C build -j"$JOBS" || fail "ninja -C build failed"
[[ -x build/src/app/scalegate ]] || fail "the build did not produce build/src/app/scalegate"
pass

# ---- unit ------------------------------------------------------------------------------------
begin unit "ctest --test-dir build"
run_ctest build || fail "unit tests failed (ctest exit $?)"
pass

# ---- integration -----------------------------------------------------------------------------
begin integration "pytest tests/integration against build/src/app/scalegate"
run_pytest "$ROOT/build/src/app/scalegate"
rc=$?
((rc == 0)) || fail "$(pytest_failure "$rc")"
pass

# ---- ASan + UBSan, ThreadSanitizer -------------------------------------------------------------
# Workers share the rate limiter, the cache and its fill locks, breakers, health state and the
# metrics; the admin and health threads read them. The integration suite mostly waits (timers,
# health intervals, real servers), so the ASan and TSan runs of it go side by side: the two
# binaries are built first, then both suites run at once, each in its own pytest process with its
# own ports (free_port binds port 0), and each is reported as its own step.
sanitizer_reports() { # folder kind -> fails the step when the folder holds any report
  local reports f
  reports=$(find "$1" -type f -size +0 2>/dev/null)
  [[ -z "$reports" ]] && return 0
  for f in $reports; do
    echo "---- $f"
    head -n 80 "$f"
  done
  fail "$2 reports from the gateway (kept in $1/)"
}
suite_result() { # step-name log-file rc-file kind
  local rc end
  read -r rc end <"$3"
  begin "$1" "$4 integration suite (ran beside the other sanitizer's; output follows)"
  STEP_START=$SUITES_START
  cat "$2"
  STEP_END=$end
  ((rc == 0)) || fail "$(pytest_failure "$rc") (under $4)"
}

if [[ "${SKIP_ASAN:-0}" == 1 ]]; then
  skip asan-unit "SKIP_ASAN=1"
  skip asan-integration "SKIP_ASAN=1"
else
  begin asan-unit "Debug ASan+UBSan build in build-asan/, then ctest there"
  configure build-asan -DCMAKE_BUILD_TYPE=Debug -DSCALEGATE_SANITIZE=ON || fail "cmake configure of build-asan/ failed"
  limit 1800 ninja -C build-asan -j"$JOBS" || fail "ninja -C build-asan failed"
  UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
    run_ctest build-asan || fail "unit tests under ASan+UBSan failed (ctest exit $?)"
  pass
fi
if [[ "${SKIP_TSAN:-0}" == 1 ]]; then
  skip tsan-integration "SKIP_TSAN=1"
else
  begin tsan-build "ThreadSanitizer build of scalegate in build-tsan/"
  configure build-tsan -DCMAKE_BUILD_TYPE=Debug -DSCALEGATE_TSAN=ON || fail "cmake configure of build-tsan/ failed"
  # route_classify, route_shard_keys, scatter_merge: test_pg_route_classifier.py,
  # test_pg_shard_key.py and test_pg_scatter_merge.py run the ones beside the gateway binary.
  limit 1800 ninja -C build-tsan -j"$JOBS" scalegate route_classify route_shard_keys scatter_merge ||
    fail "ninja -C build-tsan scalegate route_classify route_shard_keys scatter_merge failed"
  pass
fi

SUITES_START=$SECONDS
if [[ "${SKIP_ASAN:-0}" != 1 ]]; then
  # Reports of the gateway processes go to files, so none is lost in a captured stderr; any
  # report fails the step even if the tests passed.
  asan_logs=$ROOT/build-asan/sanitizer-logs
  rm -rf "$asan_logs" && mkdir -p "$asan_logs"
  say "asan-integration started (output: build-asan/integration.log)"
  SCALEGATE_TEST_SLOW=${SCALEGATE_TEST_SLOW:-3} \
    ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:log_path=$asan_logs/asan \
    UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1:log_path=$asan_logs/ubsan \
    SCALEGATE_BIN="$ROOT/build-asan/src/app/scalegate" \
    start_suite build-asan/integration.log 1800
fi
if [[ "${SKIP_TSAN:-0}" != 1 ]]; then
  # halt_on_error=0: one run collects every race, not just the first. setarch -R: with more mmap
  # randomisation than the usual 28 bits (vm.mmap_rnd_bits, 32 on some kernels) gcc 12's TSan can
  # abort at start ("unexpected memory mapping"); without address randomisation it always starts.
  tsan_logs=$ROOT/build-tsan/sanitizer-logs
  rm -rf "$tsan_logs" && mkdir -p "$tsan_logs"
  say "tsan-integration started (output: build-tsan/integration.log)"
  SCALEGATE_TEST_SLOW=${SCALEGATE_TEST_SLOW:-3} \
    TSAN_OPTIONS="log_path=$tsan_logs/tsan halt_on_error=0 second_deadlock_stack=1 history_size=4" \
    SCALEGATE_BIN="$ROOT/build-tsan/src/app/scalegate" \
    start_suite build-tsan/integration.log 1800 setarch "$(uname -m)" -R
fi
wait_suites
if [[ "${SKIP_ASAN:-0}" != 1 ]]; then
  suite_result asan-integration build-asan/integration.log build-asan/integration.log.rc "ASan+UBSan"
  sanitizer_reports "$asan_logs" "sanitizer"
  pass
fi
if [[ "${SKIP_TSAN:-0}" != 1 ]]; then
  suite_result tsan-integration build-tsan/integration.log build-tsan/integration.log.rc "ThreadSanitizer"
  sanitizer_reports "$tsan_logs" "ThreadSanitizer"
  pass
fi

# ---- fuzz ------------------------------------------------------------------------------------
if [[ "${SKIP_FUZZ:-0}" == 1 ]]; then
  skip fuzz "SKIP_FUZZ=1"
else
  # name  folder (under src/, and build-fuzz/src/ for the binary)  seed corpus  dictionary (both
  # in the folder). Each runs FUZZ_SECONDS on a copy of its corpus; a crash, a failed invariant
  # or a parser disagreement fails the step.
  fuzz_targets=(
    "request_parser_fuzz http fuzz_corpus request_parser_fuzz.dict"
    "request_differential_fuzz http request_heads_corpus request_differential_fuzz.dict"
    "response_parser_fuzz http response_heads_corpus response_parser_fuzz.dict"
    "chunked_decoder_fuzz http chunked_bodies_corpus chunked_decoder_fuzz.dict"
    "pg_frontend_fuzz pg fuzz_corpus pg_frontend_fuzz.dict"
    "route_classify_fuzz pg/route classify_corpus route_classify_fuzz.dict"
    "http2_frame_fuzz proxy http2_frames_corpus http2_frame_fuzz.dict"
  )
  fuzz_names=()
  for spec in "${fuzz_targets[@]}"; do fuzz_names+=("${spec%% *}"); done
  begin fuzz "clang libFuzzer build in build-fuzz/, ${FUZZ_SECONDS}s of each of ${fuzz_names[*]}"
  configure build-fuzz -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_C_COMPILER=clang \
    -DCMAKE_CXX_COMPILER=clang++ -DSCALEGATE_FUZZ=ON || fail "cmake configure of build-fuzz/ failed"
  # http2_frame_fuzz links the whole request path, so this builds most libraries (as build/ does)
  limit 1800 ninja -C build-fuzz -j"$JOBS" "${fuzz_names[@]}" || fail "ninja -C build-fuzz ${fuzz_names[*]} failed"
  mkdir -p build-fuzz/artifacts
  # The fuzzers are single-threaded: JOBS of them run side by side, each for FUZZ_SECONDS.
  fuzz_started=()
  start_fuzzer() { # spec
    local name folder corpus dict fuzzer work
    read -r name folder corpus dict <<<"$1"
    fuzzer=build-fuzz/src/$folder/$name
    [[ -x $fuzzer ]] || fail "$fuzzer was not built"
    [[ -d src/$folder/$corpus ]] || fail "no seed corpus at src/$folder/$corpus/"
    [[ -f src/$folder/$dict ]] || fail "no dictionary at src/$folder/$dict"
    work=$(mktemp -d "/tmp/scalegate-fuzz-$name.XXXXXX")
    TEMP_DIRS+=("$work")
    cp -R "src/$folder/$corpus/." "$work/"
    say "$name for ${FUZZ_SECONDS}s (log: build-fuzz/$name.log; crashes go to build-fuzz/artifacts/$name-*)"
    # SG_DIFF_SURVEY would make the differential target report instead of fail.
    timeout -k 30 $((FUZZ_SECONDS + 120)) env -u SG_DIFF_SURVEY "$fuzzer" \
      -max_total_time="$FUZZ_SECONDS" -timeout=10 -rss_limit_mb=2048 -dict="src/$folder/$dict" \
      -print_final_stats=1 -artifact_prefix="$ROOT/build-fuzz/artifacts/$name-" "$work" \
      >"build-fuzz/$name.log" 2>&1 &
    SUITE_PIDS+=($!)
    fuzz_started+=("$name $!")
  }
  await_fuzzers() {
    local entry name pid rc log
    for entry in "${fuzz_started[@]}"; do
      read -r name pid <<<"$entry"
      wait "$pid"
      rc=$?
      log=build-fuzz/$name.log
      if ((rc != 0)); then
        wait_suites # the other fuzzers of the batch
        grep -E -A3 '^(DISAGREEMENT|invariant failed)' "$log" | head -n 20
        tail -n 60 "$log"
        fail "$name exited with $rc (see $log and build-fuzz/artifacts/)"
      fi
      grep -E '^(Done|stat::peak_rss_mb)' "$log"
    done
    fuzz_started=()
    SUITE_PIDS=()
  }
  for spec in "${fuzz_targets[@]}"; do
    start_fuzzer "$spec"
    ((${#fuzz_started[@]} < JOBS)) || await_fuzzers
  done
  await_fuzzers
  pass
fi

# ---- bench smoke -----------------------------------------------------------------------------
if [[ "${SKIP_BENCH:-0}" == 1 ]]; then
  skip bench-smoke "SKIP_BENCH=1"
else
  begin bench-smoke "bench/run.sh with N=20000 ROUNDS=1 (no timing assertions)"
  log=build/bench-smoke.log
  N=20000 ROUNDS=1 WRK_DURATION=2s REQUIRE_SCALEGATE=1 SCALEGATE_BIN="$ROOT/build/src/app/scalegate" \
    limit 300 bash bench/run.sh >"$log" 2>&1
  rc=$?
  cat "$log"
  ((rc == 0)) || fail "bench/run.sh exited with $rc"
  for p in nginx haproxy scalegate; do
    grep -qE "^$p +[0-9.]+ +[0-9.]+ +[0-9.]+ +[0-9.]+$" "$log" || fail "bench/run.sh printed no figures for $p"
  done
  pass
fi

finish
