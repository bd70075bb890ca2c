"""The real-cluster suite: opt-in, on kind + the KubeRay Helm chart (see README.md here)."""

from __future__ import annotations

import os

import pytest

HOW = ("real-cluster suite: set RAYTRAIN_E2E_K8S=1 with kubectl pointing at a kind cluster that runs "
       "the KubeRay operator (steps in tests/e2e_k8s/README.md)")


def pytest_configure(config):
    config.addinivalue_line("markers", "e2e_k8s: needs a real Kubernetes cluster with KubeRay (opt-in: RAYTRAIN_E2E_K8S=1)")


def pytest_collection_modifyitems(config, items):
    if os.environ.get("RAYTRAIN_E2E_K8S") == "1":
        return
    for item in items:
        if "e2e_k8s" in item.keywords:
            item.add_marker(pytest.mark.skip(reason=HOW))
