#!/usr/bin/env bash
# Installs every Debian 12 package that scalegate's build, tests and benchmark need.
# Idempotent: when everything is already installed it changes nothing and needs no network.
# Runs as root (sudo bash scripts/install-deps.sh). Prints one line per phase.
# --build-only: only what building the binary needs (the Dockerfile's builder stage uses it).
set -euo pipefail

# What `cmake && ninja` needs (CMake finds GTest at configure time, so the test libraries too).
BUILD_PACKAGES=(
  build-essential g++ cmake ninja-build pkg-config ccache
  libyaml-cpp-dev libspdlog-dev libfmt-dev libcli11-dev libboost-json1.81-dev
  zlib1g-dev libbrotli-dev libhiredis-dev libssl-dev libsqlite3-dev libpg-query-dev
  libprotobuf-c-dev
  # HTTP/2 to clients (nghttp2 server sessions)
  libnghttp2-dev
  # unit tests and micro-benchmarks
  libgtest-dev libgmock-dev libbenchmark-dev
)
PACKAGES=(
  "${BUILD_PACKAGES[@]}"
  # fuzzing (libFuzzer ships in clang's runtime; llhttp's C sources are the differential
  # fuzzer's reference parser)
  clang libclang-rt-14-dev node-llhttp
  # integration tests
  curl python3 python3-pytest procps iproute2 util-linux valgrind
  # benchmark peers and load generators (h2load is in nghttp2-client)
  nginx-light haproxy wrk nghttp2-client
  # shared state (store: redis): client library, servers for tests, clock-skew test tool
  redis-server redis-tools faketime python3-redis
  # OpenSSL 3 (libssl-dev above: script digests, SCRAM, TLS); the openssl command makes the TLS
  # integration tests' certificates. SQLite (libsqlite3-dev above) is the async routes' job store.
  openssl
  # the HTTP/2 tests' client library (libnghttp2-dev is in BUILD_PACKAGES)
  python3-h2
  # PostgreSQL pooling proxy: server and PgBouncer for tests and the benchmark, drivers for the
  # driver tests (libpg_query for statement parsing and the protobuf-c headers of its parse
  # trees are in BUILD_PACKAGES)
  postgresql-15 pgbouncer python3-psycopg python3-asyncpg
  # the dashboard's browser test (headless Chromium driven by playwright-core) and the
  # Kubernetes manifest schema check (tests/kubernetes); their npm packages below
  chromium nodejs
)
if [[ "${1:-}" == --build-only ]]; then
  PACKAGES=("${BUILD_PACKAGES[@]}")
  build_only=1
elif [[ $# -gt 0 ]]; then
  echo "usage: $0 [--build-only]" >&2
  exit 2
else
  build_only=0
fi
LISTS_MAX_AGE_MIN=360 # skip `apt-get update` when the package lists are younger than 6 hours

say() { echo "install-deps: $*"; }
die() {
  echo "install-deps: ERROR: $*" >&2
  exit 1
}

is_installed() {
  [[ "$(dpkg-query -W -f='${db:Status-Status}' "$1" 2>/dev/null)" == installed ]]
}

missing=()
for p in "${PACKAGES[@]}"; do
  is_installed "$p" || missing+=("$p")
done

if ((${#missing[@]} == 0)); then
  say "all ${#PACKAGES[@]} packages already installed"
else
  [[ $(id -u) -eq 0 ]] || die "missing packages (${missing[*]}); run as root: sudo bash $0"
  say "${#missing[@]} of ${#PACKAGES[@]} packages missing: ${missing[*]}"

  log=$(mktemp /tmp/scalegate-install-deps.XXXXXX.log)
  created_policy=0
  cleanup() {
    # Remove the policy-rc.d only if this script created it (a container may ship its own).
    if ((created_policy)); then rm -f /usr/sbin/policy-rc.d; fi
    rm -f "$log"
  }
  trap cleanup EXIT

  updated=0
  apt_update() {
    say "apt-get update"
    apt-get -qq -o DPkg::Lock::Timeout=300 update >>"$log" 2>&1 ||
      {
        tail -n 30 "$log" >&2
        die "apt-get update failed"
      }
    updated=1
    # apt leaves unchanged lists with their old times, so record the update in apt's usual stamp.
    mkdir -p /var/lib/apt/periodic && touch /var/lib/apt/periodic/update-success-stamp
  }
  fresh_lists=$(find /var/lib/apt/lists /var/lib/apt/periodic -maxdepth 1 \
    \( -name '*_InRelease' -o -name update-success-stamp \) -mmin "-$LISTS_MAX_AGE_MIN" 2>/dev/null | head -n 1 || true)
  if [[ -n "$fresh_lists" ]]; then
    say "package lists are fresh (< $((LISTS_MAX_AGE_MIN / 60))h old), skipping apt-get update"
  else
    apt_update
  fi

  # Keep package scripts from starting system services (nginx's would take port 80).
  if [[ ! -e /usr/sbin/policy-rc.d ]]; then
    printf '#!/bin/sh\n# temporary, from scalegate scripts/install-deps.sh\nexit 101\n' >/usr/sbin/policy-rc.d
    chmod 755 /usr/sbin/policy-rc.d
    created_policy=1
  fi

  apt_install() {
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
      -o DPkg::Lock::Timeout=300 \
      -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold \
      "${missing[@]}" >>"$log" 2>&1
  }
  say "apt-get install ${missing[*]}"
  if ! apt_install; then
    if ((updated)); then
      tail -n 30 "$log" >&2
      die "apt-get install failed"
    fi
    say "install failed with the cached lists; refreshing them and retrying"
    apt_update
    apt_install || {
      tail -n 30 "$log" >&2
      die "apt-get install failed"
    }
  fi
fi

if ((build_only)); then
  for tool in cmake ninja g++ pkg-config; do
    command -v "$tool" >/dev/null || die "'$tool' not found after install"
  done
  say "ok (build only)"
  exit 0
fi

# The dashboard's browser test drives Chromium with playwright-core, pinned in
# tests/browser/package-lock.json and installed into tests/browser/node_modules. Debian's npm
# comes as its own package (the Kubernetes check below uses it too).
browser_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/tests/browser"
if ! command -v npm >/dev/null; then
  [[ $(id -u) -eq 0 ]] || die "npm missing; run as root: sudo bash $0"
  say "apt-get install npm"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    -o DPkg::Lock::Timeout=300 npm >/dev/null || die "apt-get install npm failed"
fi
wanted=$(node -p 'require(process.argv[1]).dependencies["playwright-core"]' "$browser_dir/package.json")
have=$(node -p 'require(process.argv[1]).version' \
  "$browser_dir/node_modules/playwright-core/package.json" 2>/dev/null || true)
if [[ "$have" == "$wanted" ]]; then
  say "playwright-core $have already installed"
else
  say "npm ci (playwright-core $wanted into tests/browser/node_modules)"
  npm ci --prefix "$browser_dir" --no-audit --no-fund --loglevel=error >/dev/null ||
    die "npm ci in $browser_dir failed"
fi

# The tools the scripts call, checked by what they run rather than by package name.
for tool in cmake ninja g++ clang++ curl taskset pgrep valgrind nginx haproxy wrk h2load psql pgbench pgbouncer chromium node; do
  command -v "$tool" >/dev/null || die "'$tool' not found after install"
done
/usr/bin/python3 -c 'import pytest' 2>/dev/null || die "/usr/bin/python3 cannot import pytest"
/usr/bin/python3 -c 'import psycopg, asyncpg' 2>/dev/null || die "/usr/bin/python3 cannot import psycopg and asyncpg"
[[ -x /usr/lib/postgresql/15/bin/initdb ]] || die "/usr/lib/postgresql/15/bin/initdb not found after install"
# The Kubernetes manifest check's npm packages (tests/kubernetes/package-lock.json), into that
# folder only; skipped when they are there already.
K8S_CHECK="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/tests/kubernetes"
if [[ ! -d "$K8S_CHECK/node_modules/@kubernetes-models/keda" ]]; then
  say "npm ci in tests/kubernetes"
  npm ci --prefix "$K8S_CHECK" --no-audit --no-fund --loglevel=error >/dev/null ||
    die "npm ci in tests/kubernetes failed"
fi
say "ok"
