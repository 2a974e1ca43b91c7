"""CLI (`--version`, `--help`, `check`, `run` with bad config, `demo`) and config validation."""
import re
import signal
import subprocess

import pytest

from conftest import (free_port, http_get, require_binary, run_cli, stop_process, wait_s,
                      wait_until, _register)

FULL_CONFIG = """\
workers: 2
shutdown_timeout: 30s
access_log: {{ enabled: true, path: {tmp}/access.log }}
listeners:
  - name: public
    address: 127.0.0.1:{port}
    request_head_timeout: 10s
    idle_timeout: 60s
    max_header_size: 16KiB
    max_headers: 100
    max_body_size: 1MiB
    routes:
      - name: users
        match: {{ prefix: /api/users, host: api.example.com, methods: [GET, POST] }}
        upstream: users
        strip_prefix: true
      - match: {{ prefix: /, host: "*.example.com" }}
        upstream: users
      - match: {{ prefix: / }}
        upstream: other
  - name: second
    address: 127.0.0.1:{port2}
    routes:
      - match: {{ prefix: / }}
        upstream: other
upstreams:
  users:
    balance: weighted_round_robin
    connect_timeout: 5s
    response_timeout: 60s
    keepalive: 128
    keepalive_timeout: 60s
    max_fails: 1
    fail_timeout: 10s
    servers:
      - {{ address: 127.0.0.1:3001, weight: 5 }}
      - {{ address: 127.0.0.1:3002, backup: true }}
  other:
    balance: round_robin
    servers:
      - {{ address: 127.0.0.1:3003 }}
admin:
  address: 127.0.0.1:{admin}
"""

BASE = """\
workers: 1
listeners:
  - name: public
    address: 127.0.0.1:{port}
    idle_timeout: 60s
    max_header_size: 16KiB
    routes:
      - match: {{ prefix: / }}
        upstream: app
upstreams:
  app:
    servers:
      - {{ address: 127.0.0.1:3001 }}
admin:
  address: 127.0.0.1:{admin}
"""


def write(tmp_path, text, name="cfg.yaml"):
    p = tmp_path / name
    p.write_bytes(text.encode("utf-8") if isinstance(text, str) else text)
    return str(p)


def base_text(**over):
    return BASE.format(port=over.get("port", free_port()), admin=over.get("admin", free_port()))


def marked_lines(text):
    """1-based numbers of the lines carrying the '#ERR' marker."""
    return [i + 1 for i, line in enumerate(text.split("\n")) if "#ERR" in line]


def error_lines(output, path):
    """[(line, col, message)] for every 'PATH:LINE:COL: message' line."""
    out = []
    for line in output.splitlines():
        m = re.match(r"^%s:(\d+):(\d+): (.+)$" % re.escape(path), line.strip())
        if m:
            out.append((int(m.group(1)), int(m.group(2)), m.group(3)))
    return out


def check(path):
    return run_cli(["check", "-c", path])


def test_version():
    r = run_cli(["--version"])
    assert r.returncode == 0, r
    assert "scalegate 0.1.0" in r.stdout + r.stderr


def test_help_lists_commands():
    r = run_cli(["--help"])
    assert r.returncode == 0, r
    text = r.stdout + r.stderr
    for cmd in ("run", "check", "demo"):
        assert re.search(r"\b%s\b" % cmd, text), "--help does not mention %r:\n%s" % (cmd, text)


def test_check_accepts_valid_minimal_config(tmp_path):
    path = write(tmp_path, base_text())
    r = check(path)
    assert r.returncode == 0, "check rejected a valid config:\n%s%s" % (r.stdout, r.stderr)
    assert not error_lines(r.stdout + r.stderr, path)


def test_check_accepts_every_documented_key(tmp_path):
    text = FULL_CONFIG.format(tmp=str(tmp_path), port=free_port(), port2=free_port(), admin=free_port())
    path = write(tmp_path, text)
    r = check(path)
    assert r.returncode == 0, "check rejected the full documented schema:\n%s%s" % (r.stdout, r.stderr)


def _replace(text, old, new):
    assert old in text
    return text.replace(old, new, 1)


def _case_unknown_key(t):
    return _replace(t, "    idle_timeout: 60s\n", "    idle_timeout: 60s\n    bogus_option: 1   #ERR\n"), ["bogus_option"]


def _case_bad_duration(t):
    return _replace(t, "    idle_timeout: 60s\n", "    idle_timeout: 5 seconds   #ERR\n"), ["idle_timeout"]


def _case_bad_size(t):
    return _replace(t, "    max_header_size: 16KiB\n", "    max_header_size: 16 kilobytes   #ERR\n"), ["max_header_size"]


def _case_bad_address_port(t):
    return re.sub(r"    address: 127\.0\.0\.1:\d+\n", "    address: 127.0.0.1:99999   #ERR\n", t, count=1), ["address"]


def _case_bad_address_text(t):
    return re.sub(r"    address: 127\.0\.0\.1:\d+\n", "    address: not-an-address   #ERR\n", t, count=1), ["address"]


def _case_unknown_upstream(t):
    return (_replace(t, "        upstream: app\n", "        upstream: nope   #ERR\n"),
            ["listeners[0].routes[0].upstream", "unknown upstream 'nope'"])


def _case_bad_balance(t):
    return _replace(t, "  app:\n", "  app:\n    balance: fastest_possible   #ERR\n"), ["balance"]


def _case_bad_server_address(t):
    return (_replace(t, "      - { address: 127.0.0.1:3001 }\n", "      - { address: 127.0.0.1:port }   #ERR\n"),
            ["address"])


CASES = {
    "unknown_key": _case_unknown_key,
    "bad_duration": _case_bad_duration,
    "bad_size": _case_bad_size,
    "bad_address_port": _case_bad_address_port,
    "bad_address_text": _case_bad_address_text,
    "unknown_upstream": _case_unknown_upstream,
    "bad_balance": _case_bad_balance,
    "bad_server_address": _case_bad_server_address,
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_check_reports_error_with_location(tmp_path, case):
    text, words = CASES[case](base_text())
    path = write(tmp_path, text)
    expected_line = marked_lines(text)
    r = check(path)
    assert r.returncode == 1, "exit %s (want 1) for %s:\n%s\n%s" % (r.returncode, case, r.stdout, r.stderr)
    errs = error_lines(r.stderr, path)
    assert errs, "no 'FILE:LINE:COL: message' line on stderr:\nstdout: %s\nstderr: %s" % (r.stdout, r.stderr)
    hits = [e for e in errs if e[0] in expected_line]
    assert hits, "no error points at line %s; got %s\n--- file ---\n%s" % (expected_line, errs, text)
    msg = " ".join(e[2] for e in hits)
    for w in words:
        assert w in msg, "error message %r does not mention %r" % (msg, w)
    assert all(e[1] >= 1 for e in hits), "column must be 1-based: %s" % hits


def test_check_reports_duplicate_listener_address(tmp_path):
    port = free_port()
    text = base_text(port=port)
    text = _replace(text, "upstreams:\n",
                    "  - name: again   #ERR\n"
                    "    address: 127.0.0.1:%d   #ERR\n"
                    "    routes:\n"
                    "      - match: { prefix: / }\n"
                    "        upstream: app\n"
                    "upstreams:\n" % port)
    path = write(tmp_path, text)
    r = check(path)
    assert r.returncode == 1, (r.stdout, r.stderr)
    errs = error_lines(r.stderr, path)
    assert any(e[0] in marked_lines(text) for e in errs), \
        "duplicate address error should point at the second listener (lines %s); got %s" % (marked_lines(text), errs)


def test_check_reports_every_error(tmp_path):
    text, _ = _case_unknown_key(base_text())
    text, _ = _case_unknown_upstream(text)
    path = write(tmp_path, text)
    r = check(path)
    assert r.returncode == 1
    errs = error_lines(r.stderr, path)
    got = {e[0] for e in errs}
    for line in marked_lines(text):
        assert line in got, "error at line %d not reported; got %s\n%s" % (line, errs, r.stderr)


def test_check_malformed_yaml_tab(tmp_path):
    text = base_text()
    text = _replace(text, "    idle_timeout: 60s\n", "\tidle_timeout: 60s   #ERR\n")
    path = write(tmp_path, text)
    r = check(path)
    assert r.returncode == 1, "exit %s (want 1):\n%s%s" % (r.returncode, r.stdout, r.stderr)
    errs = error_lines(r.stderr, path)
    assert errs, "no FILE:LINE:COL error: %s" % r.stderr
    line = marked_lines(text)[0]
    assert any(abs(e[0] - line) <= 1 for e in errs), "tab is on line %d; errors: %s" % (line, errs)


def test_check_malformed_yaml_unclosed_bracket(tmp_path):
    text = base_text()
    text = _replace(text, "      - match: { prefix: / }\n", "      - match: { prefix: /   #ERR\n")
    path = write(tmp_path, text)
    r = check(path)
    assert r.returncode == 1, "exit %s (want 1):\n%s%s" % (r.returncode, r.stdout, r.stderr)
    errs = error_lines(r.stderr, path)
    assert errs, "no FILE:LINE:COL error: %s" % r.stderr
    nlines = text.count("\n") + 1
    assert all(1 <= e[0] <= nlines + 1 for e in errs), errs


def test_check_missing_file(tmp_path):
    r = check(str(tmp_path / "does-not-exist.yaml"))
    assert r.returncode == 1, (r.returncode, r.stdout, r.stderr)
    assert r.stderr.strip(), "should say why"


GARBAGE = {
    "empty": "",
    "only_bracket": "[",
    "braces": "{{{{",
    "binary": b"\x00\xff\xfe\x01listeners:\x00\n\xc3\x28",
    "scalar_listeners": "listeners: 5\n",
    "wrong_types": "listeners: [ {name: 1, address: [1, 2], routes: {a: b}} ]\nupstreams: []\n",
    "deep_nesting": "[" * 5000 + "]" * 5000 + "\n",
    "deep_maps": "a: " * 3000 + "b\n",
    "undefined_alias": "listeners: *nothing\n",
    "huge_numbers": "workers: 99999999999999999999999\nshutdown_timeout: 99999999999999999h\n",
    "negative": "workers: -1\n",
    "duplicate_keys": "workers: 1\nworkers: 2\n",
}


@pytest.mark.parametrize("name", sorted(GARBAGE))
def test_check_never_crashes_on_garbage(tmp_path, name):
    path = write(tmp_path, GARBAGE[name])
    r = check(path)
    assert r.returncode >= 0, "check died from signal %d on %s:\n%s" % (-r.returncode, name, r.stderr[-2000:])
    assert r.returncode in (0, 1), "exit %d on %s:\n%s" % (r.returncode, name, r.stderr[-2000:])
    if name not in ("empty", "duplicate_keys"):
        assert r.returncode == 1, "%s should be rejected:\n%s%s" % (name, r.stdout, r.stderr)


def test_run_with_invalid_config_exits_with_errors(tmp_path):
    text, words = _case_unknown_upstream(base_text())
    path = write(tmp_path, text)
    r = run_cli(["run", "-c", path], timeout=30)
    assert r.returncode != 0, "run accepted an invalid config"
    assert r.returncode > 0, "run died from a signal: %s" % r.stderr
    errs = error_lines(r.stderr, path)
    assert any(e[0] in marked_lines(text) and "unknown upstream 'nope'" in e[2] for e in errs), r.stderr


@pytest.mark.timeout_s(90)
def test_demo_serves_and_stops(tmp_path):
    binpath = require_binary()
    port, admin = free_port(), free_port()
    out_path, err_path = tmp_path / "demo.out", tmp_path / "demo.err"
    proc = subprocess.Popen([binpath, "demo", "--port", str(port), "--admin-port", str(admin)],
                            stdout=open(out_path, "wb"), stderr=open(err_path, "wb"),
                            stdin=subprocess.DEVNULL, cwd=str(tmp_path))
    _register(proc)
    try:
        def serves():
            if proc.poll() is not None:
                return "exited"
            try:
                return http_get(port, "/", host="127.0.0.1:%d" % port, timeout=3).status == 200
            except OSError:
                return False
            except Exception:
                return False
        state = wait_until(serves, timeout=20, interval=0.1)
        logs = lambda: out_path.read_text(errors="replace") + err_path.read_text(errors="replace")
        assert state is True, "demo did not serve GET / with 200 (state=%r)\n%s" % (state, logs()[-3000:])
        m = http_get(admin, "/metrics", host="127.0.0.1", timeout=10)
        assert m.status == 200 and b"scalegate_" in m.body
    finally:
        rc = stop_process(proc, signal.SIGTERM, timeout=wait_s(20))
    text = out_path.read_text(errors="replace") + err_path.read_text(errors="replace")
    assert rc == 0, "demo exited %s after SIGTERM\n%s" % (rc, text[-3000:])
    assert "curl" in text, "demo should print curl lines:\n%s" % text[-3000:]
    assert re.search(r"https?://(127\.0\.0\.1|localhost):%d/metrics" % admin, text), \
        "demo should print the metrics URL:\n%s" % text[-3000:]
