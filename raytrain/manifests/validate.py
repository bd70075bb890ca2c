"""``raytrain validate``: schema and lint findings for manifests and job specs."""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import Iterable, Optional

from raytrain.errors import ManifestError, SpecError
from raytrain.manifests.documents import Document, is_job_spec, load_paths
from raytrain.manifests.findings import Finding
from raytrain.manifests.lint import RULES, lint_documents
from raytrain.manifests.schema import resolve_kubernetes_version, validate_object


def check_skip(skip: Iterable[str]) -> list[str]:
    """The skipped rule ids, or a ManifestError naming the unknown one."""
    out = []
    for rule_id in skip:
        if rule_id not in RULES:
            guess = difflib.get_close_matches(rule_id, list(RULES), n=1)
            fix = f"did you mean {guess[0]!r}?" if guess else f"known rules: {', '.join(RULES)}"
            raise ManifestError(f"--skip {rule_id}: no such rule", fix)
        out.append(rule_id)
    return out


def validate_paths(
    paths: Iterable[str | Path],
    *,
    skip: Iterable[str] = (),
    kubernetes_version: Optional[str] = None,
    overrides: Iterable[str] = (),
) -> list[Finding]:
    """Every problem in the manifests and job specs under ``paths``.

    Errors and warnings carry a rule id (``schema``, ``job-spec``, ``yaml`` or a lint rule);
    ``info`` findings name documents of a kind no schema is known for (not validated).
    """
    skipped = check_skip(skip)
    version = resolve_kubernetes_version(kubernetes_version)
    return validate_documents(load_paths(paths), skip=skipped, kubernetes_version=version, overrides=list(overrides))


def validate_documents(
    docs: list[Document], *, skip: Iterable[str] = (), kubernetes_version: str, overrides: list[str] = ()
) -> list[Finding]:
    findings: list[Finding] = []
    clean: list[Document] = []
    for doc in docs:
        if doc.error:
            findings.append(Finding(doc.source, doc.error, "yaml", index=doc.index))
            continue
        if is_job_spec(doc.data):
            problem = _spec_problem(doc, overrides)
            if problem:
                findings.append(Finding(doc.source, problem, "job-spec", index=None if doc.is_file_spec else doc.index))
            continue
        if not isinstance(doc.data, dict) or "apiVersion" not in doc.data or "kind" not in doc.data:
            findings.append(Finding(
                doc.source, "neither a Kubernetes object (apiVersion, kind) nor a job spec (train:)", "schema",
                index=doc.index, fix="add apiVersion and kind, or remove the file from the paths",
            ))
            continue
        problems = validate_object(doc.data, kubernetes_version)
        if problems is None:
            findings.append(Finding(
                doc.source, f"no schema for {doc.api_version} {doc.kind}; not validated", "no-schema",
                severity="info", index=doc.index, kind=doc.kind, name=doc.name,
            ))
            clean.append(doc)
            continue
        for path, message in problems:
            findings.append(Finding(doc.source, message, "schema", index=doc.index, kind=doc.kind, name=doc.name, path=path))
        if not problems:
            clean.append(doc)
    findings.extend(lint_documents(clean, skip=skip))
    return findings


def _spec_problem(doc: Document, overrides: list[str]) -> Optional[str]:
    from raytrain.spec import apply_overrides, check_refs, load_spec, validate_spec

    try:
        if doc.is_file_spec:
            spec = load_spec(doc.source, overrides)
        else:
            spec = validate_spec(apply_overrides(doc.data, overrides, doc.source), doc.source)
        check_refs(spec, doc.source)
    except SpecError as exc:
        text = exc.message
        prefix = f"{doc.source}: "
        return text[len(prefix):] if text.startswith(prefix) else text
    return None
