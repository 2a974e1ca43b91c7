"""Packaging: deploy/systemd/scalegate.service passes systemd-analyze and keeps its hardening;
the Dockerfile's runtime stage installs exactly the Debian packages of the libraries the built
binary links; the image's default configuration passes `scalegate check` and its HEALTHCHECK
command tells a serving admin listener from a missing one. (No docker here: the image itself is
not built by these tests.)"""
import json
import os
import re
import shlex
import shutil
import subprocess

import pytest

from conftest import _register, free_port, require_binary, run_cli, stop_process, wait_until

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
UNIT = os.path.join(ROOT, "deploy", "systemd", "scalegate.service")
DOCKERFILE = os.path.join(ROOT, "Dockerfile")
DOCKER_CONFIG = os.path.join(ROOT, "deploy", "docker", "scalegate.yaml")
# Installed in the image on purpose although the binary does not link it: the CA bundle that
# upstream TLS verifies against.
DOCKER_EXTRA_PACKAGES = {"ca-certificates"}


def unit_settings():
    """{(section, key): [values]} of the unit file (comments and blank lines skipped)."""
    settings, section = {}, None
    with open(UNIT) as f:
        for line in f:
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            if line.startswith("["):
                section = line.strip("[]")
                continue
            key, value = line.split("=", 1)
            settings.setdefault((section, key), []).append(value)
    return settings


def test_systemd_unit_verifies(tmp_path):
    if shutil.which("systemd-analyze") is None:
        pytest.skip("systemd-analyze not installed")
    # verify checks that ExecStart's program exists: point it at the built binary.
    with open(UNIT) as f:
        text = f.read().replace("/usr/local/bin/scalegate", require_binary())
    unit = tmp_path / "scalegate.service"
    unit.write_text(text)
    result = subprocess.run(["systemd-analyze", "verify", str(unit)], capture_output=True,
                            text=True, timeout=60, cwd=str(tmp_path))
    # Unknown keys and bad values are only warnings (exit 0): any output is a failure.
    assert result.returncode == 0 and result.stdout + result.stderr == "", result.stderr


def test_systemd_unit_runs_scalegate_hardened():
    s = unit_settings()
    one = lambda key: s[("Service", key)][-1]
    assert shlex.split(one("ExecStart")) == [
        "/usr/local/bin/scalegate", "run", "--config", "/etc/scalegate/scalegate.yaml",
        "--log-format", "json"]
    assert one("ExecReload") == "/bin/kill -HUP $MAINPID"
    assert (one("Type"), one("NotifyAccess")) == ("notify", "all")
    assert one("KillSignal") == "SIGTERM" and one("Restart") == "on-failure"
    assert one("CapabilityBoundingSet") == one("AmbientCapabilities") == "CAP_NET_BIND_SERVICE"
    assert set(one("RestrictAddressFamilies").split()) == {"AF_INET", "AF_INET6", "AF_UNIX"}
    assert one("ProtectSystem") == "strict" and one("SystemCallFilter") != ""
    assert "@system-service" in s[("Service", "SystemCallFilter")]
    for key in ("NoNewPrivileges", "ProtectHome", "PrivateTmp", "PrivateDevices",
                "ProtectKernelTunables", "ProtectKernelModules", "ProtectKernelLogs",
                "ProtectControlGroups", "DynamicUser"):
        assert one(key) == "yes", key
    assert "/var/lib/scalegate" in one("ReadWritePaths").split()
    assert int(one("LimitNOFILE")) >= 65536
    assert ("Install", "WantedBy") in s


def runtime_stage():
    """The Dockerfile's lines after its last FROM (continuation lines joined)."""
    with open(DOCKERFILE) as f:
        text = f.read().replace("\\\n", " ")
    stages = re.split(r"^FROM ", text, flags=re.M)
    assert len(stages) >= 3, "expected a builder and a runtime stage"
    return stages[-1]


def dockerfile_runtime_packages():
    install = re.search(r"apt-get install -y --no-install-recommends ([^&]*)&&", runtime_stage())
    assert install, "no apt-get install in the runtime stage"
    return set(install.group(1).split())


def linked_packages(binary):
    ldd = subprocess.run(["ldd", binary], capture_output=True, text=True, timeout=60, check=True)
    libraries = [m.group(1) for m in re.finditer(r"=> (/\S+)", ldd.stdout)]
    assert libraries, ldd.stdout
    packages = set()
    for library in libraries:
        for path in (os.path.realpath(library), library):
            owner = subprocess.run(["dpkg", "-S", path], capture_output=True, text=True, timeout=60)
            if owner.returncode == 0:
                packages.add(owner.stdout.split(":", 1)[0])
                break
        else:
            pytest.fail("no Debian package owns %s" % library)
    return packages


SANITIZER_RUNTIME = re.compile(r"^lib(asan|ubsan|tsan|lsan)\d+$")


def test_docker_runtime_packages_are_what_the_binary_links():
    linked = linked_packages(require_binary())
    if any(SANITIZER_RUNTIME.match(package) for package in linked):
        # A Debug sanitizer build links other libraries (its runtime, out-of-line Boost parts)
        # than the release build the image holds; the run against the release build checks it.
        pytest.skip("a sanitizer build is not what the image ships")
    listed = dockerfile_runtime_packages()
    assert linked - listed == set(), "linked but not installed in the image"
    assert listed - linked - DOCKER_EXTRA_PACKAGES == set(), "installed but not linked"


def test_dockerfile_builds_with_install_deps_and_runs_unprivileged():
    with open(DOCKERFILE) as f:
        text = f.read()
    assert "scripts/install-deps.sh --build-only" in text
    assert re.search(r"^FROM debian:12 AS build$", text, re.M)
    stage = runtime_stage()
    assert stage.startswith("debian:12")
    assert re.search(r"useradd .*--uid 10001 ", stage) and re.search(r"^USER scalegate$", stage, re.M)
    assert re.search(r'^ENTRYPOINT \["scalegate"\]$', stage, re.M)
    cmd = json.loads(re.search(r"^CMD (\[.*\])$", stage, re.M).group(1))
    assert cmd == ["run", "--config", "/etc/scalegate/scalegate.yaml", "--log-format", "json"]
    assert "COPY deploy/docker/scalegate.yaml /etc/scalegate/scalegate.yaml" in stage
    build_only = subprocess.run(["bash", os.path.join(ROOT, "scripts", "install-deps.sh"), "--bad"],
                                capture_output=True, text=True, timeout=60)
    assert build_only.returncode == 2 and "--build-only" in build_only.stderr


def test_docker_default_config_passes_check():
    result = run_cli(["check", "--config", DOCKER_CONFIG])
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "%s: ok" % DOCKER_CONFIG


def healthcheck_command(admin_port):
    match = re.search(r"^HEALTHCHECK .*? CMD (\[.*\])$", runtime_stage(), re.M)
    assert match, "no HEALTHCHECK CMD [...] in the runtime stage"
    command = json.loads(match.group(1))
    assert "/dev/tcp/127.0.0.1/9901" in command[-1]
    command[-1] = command[-1].replace("/9901", "/%d" % admin_port)
    return command


def test_docker_healthcheck_passes_only_when_admin_serves(tmp_path):
    # The image's default configuration, on ports free here (the data plane on loopback).
    with open(DOCKER_CONFIG) as f:
        text = f.read()
    port, admin_port = free_port(), free_port()
    text = text.replace("0.0.0.0:8080", "127.0.0.1:%d" % port)
    text = text.replace("127.0.0.1:9901", "127.0.0.1:%d" % admin_port)
    config = tmp_path / "scalegate.yaml"
    config.write_text(text)
    command = healthcheck_command(admin_port)
    gw = subprocess.Popen([require_binary(), "run", "-c", str(config)], stdin=subprocess.DEVNULL,
                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=str(tmp_path))
    _register(gw)
    try:
        assert wait_until(lambda: gw.poll() is not None or subprocess.run(
            command, capture_output=True, timeout=10).returncode == 0, timeout=15), \
            "healthcheck never passed against a serving gateway"
        assert gw.poll() is None
    finally:
        assert stop_process(gw) == 0
    assert subprocess.run(command, capture_output=True, timeout=10).returncode != 0
