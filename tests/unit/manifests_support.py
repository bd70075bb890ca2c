"""Shared helpers of the manifests tests: where ../shared is, the repo root, a CLI harness."""

from __future__ import annotations

import argparse
import copy
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
SHARED = REPO.parent / "shared"
KUBERAY = SHARED / "kuberay"


def kuberay_dir() -> Path:
    """../shared/kuberay beside the repo; a test that needs it FAILS (never skips) without it."""
    if not (KUBERAY / "crds").is_dir() or not (KUBERAY / "samples").is_dir():
        pytest.fail(
            f"{KUBERAY} is missing: these tests need KubeRay's CRDs and samples at ../shared/kuberay "
            "beside the repository (see shared/kuberay/SOURCE.md)"
        )
    return KUBERAY


def base_cluster() -> dict:
    return copy.deepcopy(yaml.safe_load((REPO / "clusters/base/raycluster.yaml").read_text()))


def base_pvc() -> dict:
    return copy.deepcopy(yaml.safe_load((REPO / "clusters/base/pvc.yaml").read_text()))


def run_cli(argv: list[str]) -> int:
    """Parse argv with this package's commands only, and run the handler."""
    from raytrain.manifests.commands import add_commands

    debug = argparse.ArgumentParser(add_help=False)
    debug.add_argument("--debug", action="store_true")
    parser = argparse.ArgumentParser(prog="raytrain", parents=[debug])
    add_commands(parser.add_subparsers(dest="command", required=True), [debug])
    args = parser.parse_args(argv)
    return args.func(args)
