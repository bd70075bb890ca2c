"""The facade that the CLI and notebooks call. Heavy imports happen inside the functions."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Iterable, Optional

from raytrain.spec import JobSpec, json_schema, load_spec

__all__ = ["load", "validate", "schema", "run", "connect", "local_cluster"]


def connect(*args, **kwargs):
    """A client of a running Ray cluster (see raytrain.client.connect)."""
    from raytrain.client import connect as _connect

    return _connect(*args, **kwargs)


def local_cluster(*args, **kwargs):
    """A local mirror cluster for a ``with`` block (see raytrain.client.local_cluster)."""
    from raytrain.client import local_cluster as _local_cluster

    return _local_cluster(*args, **kwargs)


def load(spec_path: str | Path, overrides: Iterable[str] = ()) -> JobSpec:
    """Read and validate a job spec (``overrides`` are ``a.b=value`` strings)."""
    return load_spec(spec_path, overrides)


def validate(spec_path: str | Path, overrides: Iterable[str] = ()) -> JobSpec:
    """Validate a spec, including that its task or loop imports."""
    from raytrain.spec import check_refs

    spec = load_spec(spec_path, overrides)
    check_refs(spec, str(spec_path))
    return spec


def schema() -> dict[str, Any]:
    """The JSON schema of the job spec."""
    return json_schema()


def run(
    spec_path: str | Path,
    *,
    storage: Optional[str] = None,
    address: Optional[str] = None,
    overrides: Iterable[str] = (),
    new_run: bool = False,
    verbose: bool = False,
    echo: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Train a job spec to the end; return its result record (also in result.json).

    Without ``address`` (and outside a Ray job) a local Ray cluster is started for the run
    and stopped afterwards.
    """
    from raytrain.runtime.trainer import resolve_storage, run_training

    spec = load_spec(spec_path, overrides)
    return run_training(
        spec,
        source=str(spec_path),
        storage=resolve_storage(spec, storage),
        address=address,
        new_run=new_run,
        verbose=verbose,
        echo=echo,
    )
