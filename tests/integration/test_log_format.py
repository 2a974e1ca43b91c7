"""`scalegate run --log-format json|text`: with json every line the process writes on stderr is
one JSON object ({time, level, logger, msg}), whatever bytes a message carries (quotes,
backslashes, control characters, invalid UTF-8 from a file); text stays the default."""
import json
import os
import re
import signal

from conftest import make_config, metric_value, run_cli, start_gateway, wait_until
from http_client import raw_request

RFC3339_MS_UTC = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
# A warm file line that is no URL: the gateway logs it verbatim inside quotes.
NASTY_LINE = b'not-a-url "quoted" back\\slash \x01bell\x7f bytes:\xff\xfe\xc3('


def json_lines(path):
    """Every stderr line parsed strictly (UTF-8, JSON object); fails naming the bad line."""
    with open(path, "rb") as f:
        data = f.read()
    assert data.endswith(b"\n"), data[-200:]
    objects = []
    for raw in data.split(b"\n")[:-1]:
        try:
            objects.append(json.loads(raw.decode("utf-8")))
        except (UnicodeDecodeError, json.JSONDecodeError) as error:
            raise AssertionError("not a JSON line (%s): %r" % (error, raw))
    for obj in objects:
        assert isinstance(obj, dict), obj
        assert RFC3339_MS_UTC.match(obj["time"]), obj
        assert obj["level"] in ("trace", "debug", "info", "warning", "error", "critical"), obj
        assert obj["logger"] == "scalegate", obj
        assert isinstance(obj["msg"], str), obj
    return objects


def test_json_log_lines_from_start_to_sigterm(tmp_path, upstream):
    up = upstream("u1")
    warm_file = tmp_path / "warm.txt"
    warm_file.write_bytes(NASTY_LINE + b"\n")
    route = {"name": "cached", "match": {"prefix": "/"}, "upstream": "u1",
             "cache": {"default_ttl": "300s", "warm": {"file": str(warm_file)}}}
    cfg = make_config({"u1": [up]}, routes=[route])
    gw = start_gateway(cfg, str(tmp_path / "gw"), extra_args=["--log-format", "json"])
    assert wait_until(lambda: (metric_value(gw.metrics_text(), "scalegate_cache_warm_requests_total",
                                            route="cached", result="invalid") or 0) >= 1)
    status = raw_request(gw.port, b"BREW / HTTP/1.1\r\nHost: \x00\xff\r\n\r\n").status
    assert status == 400
    # An invalid file on SIGHUP is logged (with the YAML's own text) and changes nothing.
    with open(gw.config_path, "a") as f:
        f.write('bogus_"key\\: 1\n')
    os.kill(gw.pid, signal.SIGHUP)
    assert wait_until(lambda: b"is invalid" in open(gw.stderr_path, "rb").read())
    assert gw.stop(signal.SIGTERM) == 0

    logs = json_lines(gw.stderr_path)
    messages = [o["msg"] for o in logs]
    assert any(m.startswith("listening on 127.0.0.1:%d" % gw.port) for m in messages), messages
    expected = NASTY_LINE.decode("utf-8", errors="replace")
    warm = [o for o in logs if "invalid URL" in o["msg"]]
    assert warm and warm[0]["level"] == "warning", messages
    assert '"%s"' % expected in warm[0]["msg"], (warm[0]["msg"], expected)
    assert any(o["level"] == "error" and o["msg"].startswith("reload: ") for o in logs), messages
    assert any(m.startswith("received ") for m in messages), messages
    assert messages[-1] == "stopped", messages


def test_config_errors_are_json_lines_too(tmp_path):
    config = tmp_path / "bad.yaml"
    config.write_text("listeners:\n  - name: x\n    adress: 127.0.0.1:1\n")
    result = run_cli(["run", "-c", str(config), "--log-format", "json"])
    assert result.returncode == 1
    (tmp_path / "stderr").write_text(result.stderr)
    errors = json_lines(str(tmp_path / "stderr"))
    assert errors and all(o["level"] == "error" for o in errors), errors
    assert any(o["msg"].startswith("%s:3:5: " % config) for o in errors), errors


def test_text_is_the_default(tmp_path, upstream):
    up = upstream("u1")
    gw = start_gateway(make_config({"u1": [up]}), str(tmp_path / "gw"))
    assert gw.stop(signal.SIGTERM) == 0
    with open(gw.stderr_path) as f:
        first = f.readline()
    assert "listening on" in first and not first.startswith("{"), first


def test_unknown_log_format_is_refused(tmp_path):
    config = tmp_path / "unused.yaml"
    config.write_text("listeners: []\n")
    result = run_cli(["run", "-c", str(config), "--log-format", "xml"])
    assert result.returncode != 0
    assert "--log-format" in result.stderr and "xml" in result.stderr, result.stderr
    assert "listening" not in result.stderr
