"""Reading manifests: files, directories, kustomize directories, multi-document YAML.

A kustomize directory (one holding ``kustomization.yaml``) is rendered with ``kubectl
kustomize`` (or ``kustomize build``); its documents are reported as ``DIR[index]``.
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Optional

import yaml

from raytrain.errors import ManifestError

KUSTOMIZATION_FILES = ("kustomization.yaml", "kustomization.yml", "Kustomization")
YAML_SUFFIXES = (".yaml", ".yml")


@dataclass
class Document:
    """One YAML document: where it came from and what it holds."""

    source: str
    index: int
    data: Any
    error: Optional[str] = None
    is_file_spec: bool = False

    @property
    def kind(self) -> Optional[str]:
        return self.data.get("kind") if isinstance(self.data, dict) else None

    @property
    def api_version(self) -> Optional[str]:
        return self.data.get("apiVersion") if isinstance(self.data, dict) else None

    @property
    def name(self) -> Optional[str]:
        meta = self.data.get("metadata") if isinstance(self.data, dict) else None
        return meta.get("name") if isinstance(meta, dict) else None

    @property
    def namespace(self) -> Optional[str]:
        meta = self.data.get("metadata") if isinstance(self.data, dict) else None
        return meta.get("namespace") if isinstance(meta, dict) else None


def is_job_spec(data: Any) -> bool:
    """A raytrain job spec: a mapping with ``train:`` or ``name:`` and no ``apiVersion``/``kind``."""
    return (isinstance(data, dict) and ("train" in data or "name" in data)
            and "apiVersion" not in data and "kind" not in data)


def is_kustomize_dir(path: Path) -> bool:
    return path.is_dir() and any((path / f).is_file() for f in KUSTOMIZATION_FILES)


def load_paths(paths: Iterable[str | Path]) -> list[Document]:
    """Every document under the given paths, in order; a YAML error becomes a Document with ``error``."""
    docs: list[Document] = []
    for raw in paths:
        path = Path(raw)
        if not path.exists():
            raise ManifestError(f"{raw}: no such file or directory", "give a manifest file, a directory or a kustomize directory")
        docs.extend(_load_path(path, str(raw)))
    return docs


def _load_path(path: Path, shown: str) -> list[Document]:
    if is_kustomize_dir(path):
        return parse_documents(kustomize_build(path), shown)
    if path.is_dir():
        out: list[Document] = []
        for child in sorted(path.iterdir()):
            if child.name.startswith("."):
                continue
            if child.is_dir() or child.suffix in YAML_SUFFIXES:
                out.extend(_load_path(child, str(Path(shown) / child.name)))
        return out
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as exc:
        raise ManifestError(f"{shown}: cannot read ({exc})", "check the path and its permissions")
    docs = parse_documents(text, shown)
    if len(docs) == 1 and is_job_spec(docs[0].data):
        docs[0].is_file_spec = True
    return docs


def parse_documents(text: str, source: str) -> list[Document]:
    docs: list[Document] = []
    index = 0
    try:
        for data in yaml.safe_load_all(text):
            if data is not None:
                docs.append(Document(source, index, data))
            index += 1
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        docs.append(Document(source, index, None, error=f"{where}not valid YAML: {problem}"))
    return docs


def kustomize_build(path: Path) -> str:
    """Render a kustomize directory offline; a clear error when no tool is installed."""
    if shutil.which("kubectl"):
        cmd = ["kubectl", "kustomize", str(path)]
    elif shutil.which("kustomize"):
        cmd = ["kustomize", "build", str(path)]
    else:
        raise ManifestError(
            f"{path}: is a kustomize directory but neither kubectl nor kustomize is installed",
            "install kubectl (https://kubernetes.io/docs/tasks/tools/), or render it elsewhere "
            "with `kubectl kustomize DIR > out.yaml` and validate out.yaml",
        )
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    except subprocess.TimeoutExpired:
        raise ManifestError(f"{path}: `{' '.join(cmd)}` took over 120 s", "check the kustomization for remote bases")
    if proc.returncode != 0:
        first = (proc.stderr.strip().splitlines() or ["(no output)"])[0]
        raise ManifestError(f"{path}: `{' '.join(cmd)}` failed: {first}", "fix the kustomization it names")
    return proc.stdout
