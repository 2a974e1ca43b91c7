# Shared by the overhead benchmarks (lb_overhead.sh, protection_overhead.sh): nginx origins
# on CPU 1, one-worker scalegates on CPU 0, h2load on CPU 1, and CPU time per request read
# from /proc. Source it after setting ROOT; it sets N, ROUNDS, BIN, DIR and an EXIT trap that
# stops only the processes started here, by pid.
N=${N:-200000}
ROUNDS=${ROUNDS:-3}
BIN=${SCALEGATE_BIN:-$ROOT/build/src/app/scalegate}
DIR=$(mktemp -d /tmp/scalegate-overhead.XXXXXX)
PIDS=()
trap 'kill "${PIDS[@]}" 2>/dev/null; wait 2>/dev/null; rm -rf "$DIR"' EXIT
TCK=$(getconf CLK_TCK)
declare -A SG_PID SG_PORT

start_origin() { # port
  cat >"$DIR/origin-$1.conf" <<CONF
worker_processes 1; daemon off; pid $DIR/origin-$1.pid; error_log $DIR/origin-$1.err warn;
events { worker_connections 4096; }
http { access_log off; keepalive_requests 1000000;
  server { listen 127.0.0.1:$1 reuseport backlog=4096; location / { return 200 "hello from upstream\n"; } } }
CONF
  taskset -c 1 nginx -c "$DIR/origin-$1.conf" &
  PIDS+=($!)
}

start_scalegate() { # name port config-file
  taskset -c 0 "$BIN" run -c "$3" 2>"$DIR/$1.log" &
  PIDS+=($!)
  SG_PID[$1]=$!
  SG_PORT[$1]=$2
}

ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

measure() { # name [uri-suffix...] -> "cpu_us rps"
  local name=$1 before after out uris=() suffix
  shift
  for suffix in "${@:-/}"; do uris+=("http://127.0.0.1:${SG_PORT[$name]}$suffix"); done
  before=$(ticks "${SG_PID[$name]}")
  out=$(taskset -c 1 h2load --h1 -n "$N" -c 64 -t 1 "${uris[@]}" 2>&1)
  after=$(ticks "${SG_PID[$name]}")
  echo "$out" | grep -q "status codes: $N 2xx" || {
    echo "bench: $name did not answer all with 2xx" >&2
    exit 1
  }
  awk -v a="$before" -v b="$after" -v t="$TCK" -v n="$N" -v r="$(echo "$out" | awk '/^finished in/{print $4}')" \
    'BEGIN { printf "%.2f %s\n", (b - a) / t * 1e6 / n, r }'
}

median() { tr ' ' '\n' <<<"$1" | grep . | sort -g | awk '{v[NR]=$1} END {print v[int((NR+1)/2)]}'; }

# Runs ROUNDS rounds over the named scalegates (interleaved, so drift hits all alike) and
# prints the medians and their ratio to the first name. URI suffixes go to every run.
compare() { # "name..." [uri-suffix...]
  local names=($1) name round cpu rps base m
  shift
  declare -A cpus
  for round in $(seq "$ROUNDS"); do
    for name in "${names[@]}"; do
      read -r cpu rps < <(measure "$name" "$@")
      cpus[$name]+="$cpu "
      echo "round $round  $name  cpu_us_per_req=$cpu rps=$rps"
    done
  done
  base=$(median "${cpus[${names[0]}]}")
  for name in "${names[@]}"; do
    m=$(median "${cpus[$name]}")
    awk -v b="$name" -v m="$m" -v base="$base" -v first="${names[0]}" \
      'BEGIN { printf "%-14s median cpu_us_per_req=%s  ratio_to_%s=%.3f\n", b, m, first, m / base }'
  done
}
