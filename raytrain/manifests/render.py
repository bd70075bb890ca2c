"""Rendering a RayJob from a job spec, for an existing cluster or a cluster made for the job."""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path, PurePosixPath
from typing import Any, Optional

import yaml

from raytrain.errors import ManifestError
from raytrain.manifests.cluster import CHECKPOINT_MOUNT, cluster_spec, load_cluster
from raytrain.manifests.lint import checkpoint_claims

SUBMISSION_MODES = ("K8sJobMode", "HTTPMode", "SidecarMode")
DEFAULT_EXCLUDES = (".git", ".venv", ".raytrain")
STORAGE_ENV = "RAYTRAIN_STORAGE_PATH"
SPEC_HASH_ENV = "RAYTRAIN_SPEC_HASH"
ANNOTATION_PREFIX = "raytrain.dev"
_URI = re.compile(r"^[a-z][a-z0-9+.-]*://")


def storage_path_for(spec, cluster_mount: Optional[str] = None) -> str:
    """Where the run's checkpoints go on the cluster: the spec's path if it is absolute or a
    URI, else the checkpoint volume's mount."""
    configured = spec.checkpoint.storage_path
    if configured and (configured.startswith("/") or _URI.match(configured)):
        return configured
    return cluster_mount or CHECKPOINT_MOUNT


def render_rayjob(
    spec,
    spec_path: str | Path,
    *,
    cluster_selector: Optional[str] = None,
    cluster_path: Optional[str | Path] = None,
    submission_mode: str = "K8sJobMode",
    working_dir: Optional[str] = None,
    namespace: Optional[str] = None,
    backoff_limit: int = 2,
    active_deadline_s: Optional[int] = 86400,
    ttl_after_finished_s: int = 600,
) -> dict[str, Any]:
    """A RayJob that runs ``python -m raytrain.run <spec_path>`` with the spec's runtime env.

    Exactly one of ``cluster_selector`` (the name of a running RayCluster) and ``cluster_path``
    (a RayCluster manifest whose spec becomes the job's own cluster, deleted when it ends).
    """
    from raytrain.spec import spec_hash

    if (cluster_selector is None) == (cluster_path is None):
        raise ManifestError(
            "give exactly one of --cluster-selector NAME and --cluster PATH",
            "--cluster-selector runs on a running RayCluster, --cluster makes one for the job",
        )
    if submission_mode not in SUBMISSION_MODES:
        raise ManifestError(f"--submission-mode {submission_mode}: unknown", f"use one of {', '.join(SUBMISSION_MODES)}")
    if working_dir is not None and not (_URI.match(working_dir) or working_dir.startswith("/")):
        raise ManifestError(
            f"--working-dir {working_dir}: a RayJob cannot upload a local directory",
            "give a remote zip (https://…/archive/<commit>.zip, s3://…, gs://…) or a path inside the "
            "image, or leave it out and use the image from clusters/image/Dockerfile",
        )
    if backoff_limit < 0:
        raise ManifestError(f"--backoff-limit {backoff_limit}: negative", "use 0 or more")

    entry_path = PurePosixPath(Path(spec_path).as_posix())
    cluster_mount = None
    cluster_spec_data = None
    if cluster_path is not None:
        cluster, docs = load_cluster(cluster_path)
        doc = next(d for d in docs if d.kind == "RayCluster")
        cluster_spec_data = copy.deepcopy(cluster_spec(doc.data)[0])
        namespace = namespace or cluster.namespace
        mounts = checkpoint_claims(cluster)
        cluster_mount = next(iter(mounts.values()), None)

    env_vars = dict(spec.runtime_env.env_vars)
    env_vars[STORAGE_ENV] = storage_path_for(spec, cluster_mount)
    # Lets the runtime tell whether the spec file it reads is the one rendered here.
    env_vars[SPEC_HASH_ENV] = spec_hash(spec)
    runtime_env: dict[str, Any] = {}
    if working_dir is not None:
        runtime_env["working_dir"] = working_dir
        runtime_env["excludes"] = [*DEFAULT_EXCLUDES, *spec.runtime_env.working_dir_excludes]
    if spec.runtime_env.pip:
        runtime_env["pip"] = list(spec.runtime_env.pip)
    runtime_env["env_vars"] = env_vars

    resolved = spec.model_dump(mode="json")
    metadata: dict[str, Any] = {
        "name": spec.name,
        "labels": {"app.kubernetes.io/managed-by": "raytrain", f"{ANNOTATION_PREFIX}/run": spec.name},
        "annotations": {
            f"{ANNOTATION_PREFIX}/spec-path": str(entry_path),
            f"{ANNOTATION_PREFIX}/spec-hash": spec_hash(spec),
            f"{ANNOTATION_PREFIX}/resolved-spec": json.dumps(resolved, sort_keys=True, separators=(",", ":")),
        },
    }
    if namespace:
        metadata["namespace"] = namespace

    body: dict[str, Any] = {
        "entrypoint": f"python -m raytrain.run {entry_path}",
        "runtimeEnvYAML": yaml.safe_dump(runtime_env, sort_keys=False, default_flow_style=False),
        "submissionMode": submission_mode,
        # Each retry resubmits the same run name, so it resumes from the newest checkpoint on the volume.
        "backoffLimit": backoff_limit,
    }
    if active_deadline_s is not None:
        body["activeDeadlineSeconds"] = int(active_deadline_s)
    if cluster_selector is not None:
        body["clusterSelector"] = {"ray.io/cluster": cluster_selector}
    else:
        body["shutdownAfterJobFinishes"] = True
        body["ttlSecondsAfterFinished"] = int(ttl_after_finished_s)
        body["rayClusterSpec"] = cluster_spec_data
    return {"apiVersion": "ray.io/v1", "kind": "RayJob", "metadata": metadata, "spec": body}


class _Literal(str):
    pass


def _literal(dumper: yaml.SafeDumper, value: _Literal) -> yaml.Node:
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style="|")


def to_yaml(obj: dict[str, Any], header: Optional[str] = None) -> str:
    """YAML of a rendered object; multi-line strings (runtimeEnvYAML) as readable blocks."""

    class Dumper(yaml.SafeDumper):
        pass

    Dumper.add_representer(_Literal, _literal)

    def mark(node: Any) -> Any:
        if isinstance(node, dict):
            return {k: mark(v) for k, v in node.items()}
        if isinstance(node, list):
            return [mark(v) for v in node]
        if isinstance(node, str) and "\n" in node:
            return _Literal(node)
        return node

    text = yaml.dump(mark(obj), Dumper=Dumper, sort_keys=False, default_flow_style=False, width=100)
    if header:
        text = "".join(f"# {line}\n" if line else "#\n" for line in header.splitlines()) + text
    return text


def render_text(spec_path: str | Path, **options: Any) -> str:
    """The YAML ``raytrain job render`` writes (and the golden files under jobs/rendered hold)."""
    from raytrain.spec import load_spec

    spec = load_spec(spec_path)
    obj = render_rayjob(spec, spec_path, **options)
    flags = []
    if options.get("cluster_selector") is not None:
        flags.append(f"--cluster-selector {options['cluster_selector']}")
    if options.get("cluster_path") is not None:
        flags.append(f"--cluster {Path(options['cluster_path']).as_posix()}")
    for key, flag in (("submission_mode", "--submission-mode"), ("working_dir", "--working-dir"), ("namespace", "--namespace")):
        value = options.get(key)
        if value is not None and not (key == "submission_mode" and value == "K8sJobMode"):
            flags.append(f"{flag} {value}")
    header = f"Rendered by: raytrain job render {Path(spec_path).as_posix()} {' '.join(flags)}\nDo not edit: change the job spec and render again."
    return to_yaml(obj, header=header)
