"""On a real cluster: apply clusters/overlays/dev, submit digits through a port-forward with the
cluster's token, see a checkpoint on the claim, delete (the claim stays)."""

from __future__ import annotations

import os
import subprocess

import pytest

from raytrain.kube import clusters, forward
from raytrain.kube.client import Target
from tests.conftest import BIN, REPO

pytestmark = pytest.mark.e2e_k8s
NS = "raytrain-dev"


def kubectl(*args: str) -> str:
    return subprocess.run(["kubectl", *args], check=True, capture_output=True, text=True, timeout=300).stdout


def test_apply_submit_checkpoint_delete():
    target = Target(context=os.environ.get("RAYTRAIN_E2E_CONTEXT"))
    result = clusters.run(target, lambda c: c.apply([str(REPO / "clusters/overlays/dev")], timeout_s=900), poll_s=5)
    assert result.state == "ready"
    with forward.port_forward("raytrain", NS, target=Target(context=target.context)) as (url, token):
        assert url.startswith("http://127.0.0.1:")
        assert token, "clusters/base uses token auth: the Secret must hold a token"
        env = {**os.environ, "RAY_ADDRESS": url, "RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": token}
        proc = subprocess.run([str(BIN / "ray"), "job", "submit", "--address", url, "--working-dir", ".", "--",
                               "python", "-m", "raytrain.run", "jobs/digits.yaml", "--set", "train.max_steps=50"],
                              cwd=REPO, env=env, capture_output=True, text=True, timeout=1800)
        assert proc.returncode == 0, proc.stderr[-2000:]
    head = kubectl("get", "pods", "-n", NS, "-l", "ray.io/cluster=raytrain,ray.io/node-type=head", "-o", "name").split()[0]
    listing = kubectl("exec", "-n", NS, head, "--", "sh", "-c", "ls -R /mnt/checkpoints | grep -c checkpoint_")
    assert int(listing.strip() or 0) > 0, "no checkpoint on the claim"
    done = clusters.run(target, lambda c: c.delete("raytrain"))
    assert any("kept" in line for line in done)
    assert "raytrain-checkpoints" in kubectl("get", "pvc", "-n", NS, "-o", "name")
