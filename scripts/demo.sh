#!/usr/bin/env bash
# Installs the dependencies, builds scalegate (RelWithDebInfo, in build/) and starts its demo:
# the gateway and demo upstreams on loopback, with a list of things to try. Stop it with Ctrl-C.
#   bash scripts/demo.sh [demo options...]   (as root, or with sudo)
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

say() { echo "demo: $*"; }

bash scripts/install-deps.sh

say "configuring and building in build/ (first build takes a few minutes)"
log=$(mktemp /tmp/scalegate-demo-build.XXXXXX.log)
if ! { cmake -S . -B build -G Ninja --log-level=NOTICE -DCMAKE_BUILD_TYPE=RelWithDebInfo &&
  ninja -C build -j2; } >"$log" 2>&1; then
  tail -n 60 "$log" >&2
  echo "demo: ERROR: the build failed (full log: $log)" >&2
  exit 1
fi
rm -f "$log"
[[ -x build/src/app/scalegate ]] || {
  echo "demo: ERROR: the build did not produce build/src/app/scalegate" >&2
  exit 1
}
say "built $(build/src/app/scalegate --version 2>/dev/null || echo build/src/app/scalegate)"

exec build/src/app/scalegate demo "$@"
