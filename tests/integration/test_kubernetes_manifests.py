"""deploy/kubernetes/ passes the Kubernetes and KEDA schema check (tests/kubernetes/validate.mjs,
with the npm packages scripts/install-deps.sh installs there), and the check refuses a broken
manifest and a ScaledObject that disagrees with the gateway config it reads."""
import os
import shutil
import subprocess

import pytest

from conftest import REPO

DEPLOY = os.path.join(REPO, "deploy", "kubernetes")
CHECK = os.path.join(REPO, "tests", "kubernetes")


def validate(folder):
    if not os.path.isdir(os.path.join(CHECK, "node_modules", "kubernetes-models")):
        pytest.fail("tests/kubernetes/node_modules is missing: run scripts/install-deps.sh", pytrace=False)
    return subprocess.run(["node", os.path.join(CHECK, "validate.mjs"), folder], capture_output=True,
                          text=True, timeout=60, stdin=subprocess.DEVNULL)


def edited_copy(tmp_path, file, old, new):
    folder = tmp_path / "manifests"
    shutil.copytree(DEPLOY, folder)
    text = (folder / file).read_text()
    assert old in text, (file, old)
    (folder / file).write_text(text.replace(old, new, 1))
    return str(folder)


def test_shipped_manifests_pass_the_schema_check():
    result = validate(DEPLOY)
    assert result.returncode == 0, result.stdout + result.stderr
    for line in ("ok gateway.yaml Deployment scalegate", "ok gateway.yaml Service scalegate",
                 "ok configmap.yaml ConfigMap scalegate-config", "ok app.yaml Deployment app",
                 "ok keda.yaml ScaledObject app", "ok keda.yaml TriggerAuthentication scalegate-admin"):
        assert line in result.stdout, result.stdout


def test_a_field_of_the_wrong_type_is_refused(tmp_path):
    result = validate(edited_copy(tmp_path, "app.yaml", "  replicas: 2", "  replicas: two"))
    assert result.returncode == 1, result.stdout
    assert "error: app.yaml: Deployment app: data/spec/replicas must be integer" in result.stderr, result.stderr


def test_a_scaled_object_must_match_the_gateway_config(tmp_path):
    result = validate(edited_copy(tmp_path, "keda.yaml", 'targetValue: "500"', 'targetValue: "50"'))
    assert result.returncode == 1, result.stdout
    assert "targetValue 50 differs from rps_per_server 500" in result.stderr, result.stderr
    result = validate(edited_copy(tmp_path / "b", "keda.yaml", "9901/admin/autoscale/app", "9901/admin/autoscale/web"))
    assert result.returncode == 1
    assert "names no autoscaled upstream" in result.stderr, result.stderr


def test_an_unknown_kind_is_refused(tmp_path):
    folder = tmp_path / "manifests"
    folder.mkdir()
    (folder / "hpa.yaml").write_text("apiVersion: autoscaling/v1\nkind: Scaler\nmetadata: {name: x}\n")
    result = validate(str(folder))
    assert result.returncode == 1
    assert "no schema for autoscaling/v1/Scaler" in result.stderr, result.stderr
