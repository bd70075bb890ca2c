"""Fixtures of the Kubernetes layer's tests: an emulated API server per test."""

from __future__ import annotations

import pytest

from tests.kube.support import ApiServer


@pytest.fixture
def server(tmp_path):
    srv = ApiServer(tmp_path)
    try:
        yield srv
    finally:
        srv.stop()


@pytest.fixture
def bare_server(tmp_path):
    """An API server without KubeRay: ray.io/v1 is not served."""
    srv = ApiServer(tmp_path, kuberay=False)
    try:
        yield srv
    finally:
        srv.stop()
