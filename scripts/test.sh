#!/usr/bin/env bash
# THE test command: installs the dependencies, builds, and runs every test.
#   bash scripts/test.sh   (as root, or with sudo)
# Steps, in order, stopping at the first failure:
#   build             install deps, RelWithDebInfo build in build/
#   unit              ctest in build/
#   integration       pytest tests/integration against build/src/app/scalegate
#   asan-unit         Debug ASan+UBSan build in build-asan/, then ctest there
#   asan-integration  pytest tests/integration against build-asan/src/app/scalegate
#   fuzz              clang libFuzzer build in build-fuzz/, 60 s on a copy of the corpus
#   bench-smoke       bench/run.sh with N=20000 ROUNDS=1 (checks it runs; asserts no timings)
# The last line is always `scalegate: N passed, M failed` (N and M count steps); the exit status
# is non-zero when any step failed.
# Developers may set SKIP_ASAN=1, SKIP_FUZZ=1, SKIP_BENCH=1 (CI sets none of them), and
# FUZZ_SECONDS (60).
set -uo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT" || exit 1

JOBS=2 # the machines have 2 cores
FUZZ_SECONDS=${FUZZ_SECONDS:-60}
PYTHON=/usr/bin/python3 # Debian's, which has pytest (the pyenv python3 first on PATH does not)
export PYTHONDONTWRITEBYTECODE=1

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
pass() {
  PASSED=$((PASSED + 1))
  REPORT+=("ok       $STEP ($((SECONDS - STEP_START))s)")
  say "step '$STEP' passed in $((SECONDS - STEP_START))s"
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
# shellcheck disable=SC2317  # (called through the traps)
interrupted() {
  if [[ -n "$CHILD" ]]; then
    kill -TERM "$CHILD" 2>/dev/null
    wait "$CHILD" 2>/dev/null
  fi
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

# ---- ASan + UBSan ----------------------------------------------------------------------------
if [[ "${SKIP_ASAN:-0}" == 1 ]]; then
  skip asan-unit "SKIP_ASAN=1"
  skip asan-integration "SKIP_ASAN=1"
else
  export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
  export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1

  begin asan-unit "Debug ASan+UBSan build in build-asan/, then ctest there"
  configure build-asan -DCMAKE_BUILD_TYPE=Debug -DSCALEGATE_SANITIZE=ON || fail "cmake configure of build-asan/ failed"
  limit 1800 ninja -C build-asan -j"$JOBS" || fail "ninja -C build-asan failed"
  run_ctest build-asan || fail "unit tests under ASan+UBSan failed (ctest exit $?)"
  pass

  begin asan-integration "pytest tests/integration against build-asan/src/app/scalegate"
  # Reports of the gateway processes the tests start go to files, so none is lost in a
  # captured stderr; any report fails the step even if the tests passed.
  san_logs=$ROOT/build-asan/sanitizer-logs
  rm -rf "$san_logs" && mkdir -p "$san_logs"
  SCALEGATE_TEST_SLOW=${SCALEGATE_TEST_SLOW:-3} \
    ASAN_OPTIONS=$ASAN_OPTIONS:log_path=$san_logs/asan UBSAN_OPTIONS=$UBSAN_OPTIONS:log_path=$san_logs/ubsan \
    run_pytest "$ROOT/build-asan/src/app/scalegate"
  rc=$?
  reports=$(find "$san_logs" -type f -size +0 2>/dev/null)
  if [[ -n "$reports" ]]; then
    for f in $reports; do
      echo "---- $f"
      head -n 60 "$f"
    done
    fail "sanitizer reports from the gateway (kept in build-asan/sanitizer-logs/)"
  fi
  ((rc == 0)) || fail "$(pytest_failure "$rc") (under ASan+UBSan)"
  pass
  unset ASAN_OPTIONS UBSAN_OPTIONS
fi

# ---- fuzz ------------------------------------------------------------------------------------
if [[ "${SKIP_FUZZ:-0}" == 1 ]]; then
  skip fuzz "SKIP_FUZZ=1"
else
  begin fuzz "clang libFuzzer build in build-fuzz/, ${FUZZ_SECONDS}s of request_parser_fuzz"
  configure build-fuzz -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_C_COMPILER=clang \
    -DCMAKE_CXX_COMPILER=clang++ -DSCALEGATE_FUZZ=ON || fail "cmake configure of build-fuzz/ failed"
  limit 1200 ninja -C build-fuzz -j"$JOBS" request_parser_fuzz || fail "ninja -C build-fuzz request_parser_fuzz failed"
  fuzzer=build-fuzz/src/http/request_parser_fuzz
  [[ -x $fuzzer ]] || fail "$fuzzer was not built"
  [[ -d src/http/fuzz_corpus ]] || fail "no seed corpus at src/http/fuzz_corpus/"
  work=$(mktemp -d /tmp/scalegate-fuzz.XXXXXX)
  TEMP_DIRS+=("$work")
  cp -R src/http/fuzz_corpus/. "$work/"
  mkdir -p build-fuzz/artifacts
  say "fuzzing for ${FUZZ_SECONDS}s (log: build-fuzz/fuzz.log; crashes go to build-fuzz/artifacts/)"
  dict=()
  [[ -f src/http/request_parser_fuzz.dict ]] && dict=(-dict=src/http/request_parser_fuzz.dict)
  limit $((FUZZ_SECONDS + 120)) "$fuzzer" -max_total_time="$FUZZ_SECONDS" -timeout=10 -rss_limit_mb=2048 \
    "${dict[@]}" -print_final_stats=1 -artifact_prefix="$ROOT/build-fuzz/artifacts/" "$work" \
    >build-fuzz/fuzz.log 2>&1
  rc=$?
  if ((rc != 0)); then
    tail -n 80 build-fuzz/fuzz.log
    fail "the fuzzer exited with $rc (see build-fuzz/fuzz.log and build-fuzz/artifacts/)"
  fi
  grep -E '^(Done|stat::number_of_executed_units|stat::peak_rss_mb)' build-fuzz/fuzz.log
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
