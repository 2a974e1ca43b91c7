# shellcheck shell=bash disable=SC2120
# Process helpers shared by the bench scripts (sourced, not run). A script keeps the pids it
# starts in PIDS (and PID[name] when it starts them with start()); stop_started stops exactly
# those and their child processes (nginx's workers), by pid, never by name.

alive() { # pid: running (not gone, not a zombie waiting to be reaped)
  local s
  s=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
  s=${s##*) }
  [[ "${s:0:1}" != Z ]]
}

port_busy() { (: <"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
# A loopback port free now, picked by the kernel (so benchmarks run beside each other and beside
# the tests).
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

start() { # name cpu command...: runs it pinned to `cpu`, output in $RUN_DIR/name.out
  local name=$1 cpu=$2
  shift 2
  taskset -c "$cpu" "$@" >"$RUN_DIR/$name.out" 2>&1 &
  PIDS+=($!)
  PID["$name"]=$!
}

wait_ready() { # name port: until it answers GET / with $EXPECTED_BODY (10 s at most)
  local name=$1 port=$2 body
  for _ in $(seq 100); do
    if ! alive "${PID[$name]}"; then
      tail -n 20 "$RUN_DIR/$name.out" >&2 || true
      die "$name exited during start-up"
    fi
    body=$(curl -s --max-time 1 "http://127.0.0.1:$port/" 2>/dev/null || true)
    [[ "$body" == "$EXPECTED_BODY" ]] && return 0
    sleep 0.1
  done
  tail -n 20 "$RUN_DIR/$name.out" >&2 || true
  die "$name did not answer on 127.0.0.1:$port with the origin's body within 10s"
}

stop_started() { # [more pids...]: SIGTERM to PIDS and these, 5 s to exit, then SIGKILL
  local pid all=() i any
  for pid in "${PIDS[@]}" "$@"; do
    [[ -n "$pid" ]] || continue
    all+=("$pid")
    for i in $(pgrep -P "$pid" 2>/dev/null); do all+=("$i"); done
  done
  for pid in "${PIDS[@]}" "$@"; do [[ -n "$pid" ]] && kill -TERM "$pid" 2>/dev/null; done
  for _ in $(seq 50); do
    any=0
    for pid in "${all[@]}"; do alive "$pid" && any=1; done
    ((any)) || break
    sleep 0.1
  done
  for pid in "${all[@]}"; do kill -KILL "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
}

# shellcheck disable=SC2317  # (called through the EXIT trap)
cleanup_on_exit() { # EXIT trap: stop what was started (and $EXTRA_PIDS); keep $RUN_DIR only on failure
  local rc=$?
  trap - EXIT INT TERM
  # shellcheck disable=SC2086  # (EXTRA_PIDS: zero or more pids)
  stop_started ${EXTRA_PIDS:-}
  if ((rc == 0)); then
    rm -rf "$RUN_DIR"
  else
    say "logs kept in $RUN_DIR"
  fi
  exit "$rc"
}

install_cleanup() { # the traps every bench script sets once its RUN_DIR exists
  trap cleanup_on_exit EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM
}
