"""The successor's side of the hand-over link (SCALEGATE_UPGRADE_FD), driven by a fake
predecessor: a message this version does not know is skipped (so a binary upgrade to an older
version works when a newer one sends more), and a running state that cannot be read leaves the
successor serving, fresh, with a warning."""
import os
import socket
import subprocess

import pytest

from conftest import (Gateway, _assign_ports, _register, http_get, make_config, require_binary,
                      stop_gateways, wait_s)


class LinkedGateway(Gateway):
    """A gateway started as the successor of this test: the child's end of a SOCK_SEQPACKET
    pair is its hand-over link."""

    def __init__(self, cfg, tmpdir):
        super().__init__(cfg, tmpdir)
        self.link, self.child_end = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)

    def start(self, wait=True):
        self.write_config()
        env = dict(os.environ, SCALEGATE_UPGRADE_FD=str(self.child_end.fileno()))
        self.proc = subprocess.Popen(
            [require_binary(), "run", "-c", self.config_path], env=env,
            pass_fds=[self.child_end.fileno()], stdout=open(self.stdout_path, "wb"),
            stderr=open(self.stderr_path, "wb"), stdin=subprocess.DEVNULL, cwd=self.tmpdir)
        _register(self.proc)
        self.child_end.close()
        return self


@pytest.fixture
def linked(tmp_path, upstream):
    started = []

    def make():
        cfg = make_config({"u1": [upstream("u1")]})
        _assign_ports(cfg)
        d = os.path.join(str(tmp_path), "gw%d" % len(started))
        os.makedirs(d)
        gw = LinkedGateway(cfg, d)
        started.append(gw)
        return gw.start()

    yield make
    for gw in started:
        gw.link.close()
    stop_gateways(started)


def send(link, payload, fd=None):
    socket.send_fds(link, [payload], [fd] if fd is not None else [])


def memory_file(content):
    fd = os.memfd_create("state")
    os.write(fd, content)
    return fd


def test_unknown_messages_and_an_unreadable_state_are_skipped(linked):
    gw = linked()
    with open(os.devnull, "rb") as devnull:
        send(gw.link, b"future-feature with a descriptor", devnull.fileno())
    send(gw.link, b"future-feature without one")
    state = memory_file(b"SGRS\x01" + b"\xff" * 8 + b"not json")
    send(gw.link, b"state", state)
    os.close(state)
    send(gw.link, b"listened")
    gw.link.settimeout(wait_s(15))
    ready = gw.link.recv(4096)
    assert ready == b"ready %d" % gw.pid, (ready, gw.logs[-2000:])
    gw.wait_ready()
    assert http_get(gw.port, "/x").status == 200
    logs = gw.logs
    assert "ignored 'future-feature with a descriptor'" in logs, logs[-2000:]
    assert "ignored 'future-feature without one'" in logs, logs[-2000:]
    assert "running state of the process replaced is cut short: truncated" in logs, logs[-2000:]
    assert "took over the state of 0 upstream(s)" in logs


def test_a_predecessor_that_breaks_off_stops_the_successor(linked):
    gw = linked()
    send(gw.link, b"listen 127.0.0.1:1")  # no descriptor, then the link closes
    gw.link.close()
    assert gw.proc.wait(timeout=wait_s(10)) == 1
    assert "broke off while passing its listening sockets" in gw.logs, gw.logs[-2000:]
