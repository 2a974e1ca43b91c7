"""A process hand-over (binary upgrade, SIGUSR2; the same path as a reload that changes
`workers`) cut short by a process that dies: the successor killed before it
is ready (the running process keeps serving and can hand over later), the successor killed
after it took over while the old process drains (the old one still finishes what it holds and
exits), and the old process killed during the hand-over (the successor serves on, with the very
listening sockets it was passed). Killed successors are stand-ins (a script installed as the
binary, SIGUSR2 runs it) so that they die at a known step; killed predecessors are real or a
stand-in driving the link."""
import os
import re
import signal
import socket
import sys
import time

import pytest

from conftest import Conn, http_get, make_config, wait_s, wait_until
from test_reload_link import linked, send  # noqa: F401 (fixture)
from test_reload_upgrade import (KeepAliveLoad, gateway_from_copy, process_alive,  # noqa: F401
                                 replace_binary, successors, wait_for_successor)

# A successor that takes what the running process passes on the link (fd 3), then dies by
# SIGKILL at STAGE: "on start" (before reading anything), "with the sockets" (after every
# listening socket and the running state), or "after taking over" (it says ready, takes one
# idle connection from the draining process, and dies with it).
STAND_IN = """#!%s
import os, signal, socket
STAGE = %r
def die():
    os.kill(os.getpid(), signal.SIGKILL)
if STAGE == "on start":
    die()
link = socket.socket(fileno=3)
while True:
    message, fds, _, _ = socket.recv_fds(link, 4096, 16)
    for fd in fds:
        os.close(fd)
    if message in (b"listened", b""):
        break
if STAGE == "after taking over":
    link.send(b"ready %%d" %% os.getpid())
    socket.recv_fds(link, 4096, 1)
die()
"""

FAILED = re.compile(r"binary upgrade: the new process failed: (.*); this one keeps running")


def stand_in(stage):
    return STAND_IN % (sys.executable, stage)


@pytest.mark.parametrize("stage", ["on start", "with the sockets"])
def test_a_successor_killed_before_it_is_ready_leaves_the_process_serving(
        gateway, upstream, successors, tmp_path, stage):
    gw, binary = gateway_from_copy(gateway, make_config({"u1": [upstream("u1")]}, workers=2),
                                   tmp_path)
    successors.watch(gw)
    with KeepAliveLoad(gw.port, clients=4) as load:
        time.sleep(0.3)
        replace_binary(binary, text=stand_in(stage))
        os.kill(gw.pid, signal.SIGUSR2)
        assert wait_until(lambda: FAILED.search(gw.logs), timeout=wait_s(20)), gw.logs[-2000:]
        time.sleep(0.3)
    assert FAILED.search(gw.logs).group(1) == "it exited before it was ready (see its log lines)"
    assert load.failures == [], load.failures[:5]
    assert load.ok > 20
    assert gw.metric("scalegate_reloads_total", result="failed") == 1
    # Nothing of the attempt is left behind: the same process hands over to a real successor.
    replace_binary(binary)
    os.kill(gw.pid, signal.SIGUSR2)
    successors.append(wait_for_successor(gw, 1))
    assert gw.proc.wait(timeout=wait_s(20)) == 0, gw.logs[-2000:]
    assert http_get(gw.port, "/").status == 200


def test_a_successor_killed_after_taking_over_lets_the_old_process_finish_and_exit(
        gateway, upstream, successors, tmp_path):
    gw, binary = gateway_from_copy(gateway, make_config({"u1": [upstream("u1")]}), tmp_path)
    successors.watch(gw)
    idle, busy = Conn(gw.port), [Conn(gw.port) for _ in range(3)]
    assert idle.get("/").status == 200
    # In flight on the old process through the whole hand-over.
    for conn in busy:
        conn.send(b"GET /slow?ms=%d HTTP/1.1\r\nHost: x\r\n\r\n" % int(wait_s(1.5) * 1000))
    time.sleep(0.2)
    replace_binary(binary, text=stand_in("after taking over"))
    os.kill(gw.pid, signal.SIGUSR2)
    for conn in busy:
        resp = conn.read_response()
        assert resp.status == 200 and b"/slow" in resp.body, resp
    # The idle connection went to the successor and died with it: the client sees a close (its
    # next request goes out on a new connection), never a connection left hanging.
    assert idle.wait_closed(10) and idle.buf == b""
    # The busy ones, idle once answered, could not be passed: closed, with one warning.
    for conn in busy:
        assert conn.wait_closed(10)
    assert gw.proc.wait(timeout=wait_s(20)) == 0, gw.logs[-2000:]
    assert gw.logs.count("could not pass a connection to the successor") == 1, gw.logs[-2000:]
    assert re.search(r"the new process \d+ ended \(signal 9, Killed\) while this one drained: "
                     r"nothing listens any more", gw.logs), gw.logs[-2000:]
    idle.close()
    for conn in busy:
        conn.close()


def test_a_predecessor_gone_after_passing_its_sockets_leaves_the_successor_serving(linked):
    gw = linked()
    # The predecessor's listening socket, with a client already waiting in its accept queue.
    listening = socket.socket()
    listening.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listening.bind(("127.0.0.1", gw.port))
    listening.listen(16)
    waiting = socket.create_connection(("127.0.0.1", gw.port), timeout=wait_s(10))
    send(gw.link, b"listen 127.0.0.1:%d" % gw.port, listening.fileno())
    listening.close()
    send(gw.link, b"listened")
    gw.link.close()  # gone before the successor says ready
    gw.wait_ready()
    waiting.sendall(b"GET /queued HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    answer = b""
    while chunk := waiting.recv(65536):
        answer += chunk
    assert answer.startswith(b"HTTP/1.1 200"), answer[:200]
    waiting.close()
    assert http_get(gw.port, "/x").status == 200
    assert wait_until(lambda: "took over 0 idle connection(s)" in gw.logs, timeout=wait_s(10)), \
        gw.logs[-2000:]
    assert "could not tell the process being replaced that this one is ready" in gw.logs
    gw.proc.send_signal(signal.SIGTERM)
    assert gw.proc.wait(timeout=wait_s(15)) == 0, gw.logs[-2000:]


def test_the_old_process_killed_as_it_hands_over_loses_only_its_requests_in_flight(
        gateway, upstream, successors):
    clients = 4
    gw = successors.watch(gateway(make_config({"u1": [upstream("u1")]}, workers=2)))
    with KeepAliveLoad(gw.port, clients=clients) as load:
        time.sleep(0.3)
        os.kill(gw.pid, signal.SIGUSR2)  # a reload (SIGHUP) stays in this process
        pid = wait_for_successor(gw, 1)
        successors.append(pid)
        gw.proc.kill()  # as it starts draining
        gw.proc.wait()
        with load.lock:
            ok_at_kill = load.ok
        assert wait_until(lambda: load.ok > ok_at_kill + 100, timeout=wait_s(20))
    # Each client had at most one request on the killed process; its next connection is the
    # successor's.
    assert len(load.failures) <= clients, load.failures
    assert process_alive(pid)
    assert wait_until(lambda: re.search(r"took over \d+ idle connection", gw.logs),
                      timeout=wait_s(10)), gw.logs[-2000:]
    assert http_get(gw.port, "/").status == 200
    os.kill(pid, signal.SIGTERM)
    assert wait_until(lambda: not process_alive(pid), timeout=wait_s(15)), gw.logs[-2000:]
    assert "stopped" in gw.logs.rsplit("took over", 1)[1], gw.logs[-2000:]
