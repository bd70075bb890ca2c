"""KubeRay's CRD schemas, shipped inside the package so validation works offline.

The files under ``schemas/`` are the ``openAPIV3Schema`` of the served ``v1`` version of each
CRD, extracted unmodified from KubeRay (see ``schemas/ATTRIBUTION.md``). ``extract`` rebuilds
them from a CRD file: ``python -m raytrain.manifests.crds ../shared/kuberay/crds``.
"""

from __future__ import annotations

import gzip
import json
import sys
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

# kind -> (shipped file, CRD file name upstream)
CRD_KINDS = {
    "RayCluster": ("raycluster.v1.json.gz", "ray.io_rayclusters.yaml"),
    "RayJob": ("rayjob.v1.json.gz", "ray.io_rayjobs.yaml"),
    "RayService": ("rayservice.v1.json.gz", "ray.io_rayservices.yaml"),
}
API_VERSION = "ray.io/v1"


def extract(crd_path: str | Path, version: str = "v1") -> dict[str, Any]:
    """The openAPIV3Schema of one served version of a CustomResourceDefinition file."""
    crd = yaml.safe_load(Path(crd_path).read_text())
    for entry in crd["spec"]["versions"]:
        if entry["name"] == version:
            return entry["schema"]["openAPIV3Schema"]
    raise KeyError(f"{crd_path}: no version {version}")


def encode(schema: dict[str, Any]) -> bytes:
    """Deterministic gzip of the schema (same input, same bytes)."""
    blob = json.dumps(schema, sort_keys=True, separators=(",", ":")).encode()
    return gzip.compress(blob, compresslevel=9, mtime=0)


@lru_cache(maxsize=None)
def shipped_schema(kind: str) -> dict[str, Any]:
    filename = CRD_KINDS[kind][0]
    data = resources.files("raytrain.manifests").joinpath("schemas", filename).read_bytes()
    return json.loads(gzip.decompress(data))


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m raytrain.manifests.crds CRD_DIR", file=sys.stderr)
        return 2
    out = Path(__file__).parent / "schemas"
    for kind, (filename, crd_name) in CRD_KINDS.items():
        (out / filename).write_bytes(encode(extract(Path(argv[0]) / crd_name)))
        print(f"wrote {out / filename} ({kind})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
