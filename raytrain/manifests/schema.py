"""Schema validation: KubeRay kinds against their CRD schema, core kinds against Kubernetes'.

A CRD's ``openAPIV3Schema`` is read the way the API server reads it: unknown fields are errors
(kubectl's default strict field validation) except under ``x-kubernetes-preserve-unknown-fields``,
``null`` values are dropped and a required field with a ``default`` counts as present (the server
defaults before it validates), ``x-kubernetes-int-or-string`` takes an integer or
a string, and the simple CEL rules KubeRay uses in ``x-kubernetes-validations`` are evaluated
(transition rules, which compare with ``oldSelf``, only apply to updates and are skipped).
Core kinds use the schemas of the ``kubernetes-validate`` package.
"""

from __future__ import annotations

import copy
import difflib
import re
from functools import lru_cache
from typing import Any, Iterator, Optional

from raytrain.errors import ManifestError
from raytrain.manifests.crds import API_VERSION, CRD_KINDS, shipped_schema
from raytrain.manifests.findings import json_path

DNS_SUBDOMAIN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
DNS_LABEL = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"

OBJECT_META = {
    "type": "object",
    "properties": {
        "name": {"type": "string", "maxLength": 253, "pattern": DNS_SUBDOMAIN},
        "generateName": {"type": "string"},
        "namespace": {"type": "string", "maxLength": 63, "pattern": DNS_LABEL},
        "labels": {"type": "object", "additionalProperties": {"type": "string"}},
        "annotations": {"type": "object", "additionalProperties": {"type": "string"}},
    },
    "anyOf": [{"required": ["name"]}, {"required": ["generateName"]}],
}


def prune_nulls(value: Any) -> Any:
    """Drop ``null`` fields the way the API server prunes them before validation."""
    if isinstance(value, dict):
        return {k: prune_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [prune_nulls(v) for v in value]
    return value


def structural(schema: dict[str, Any]) -> dict[str, Any]:
    """Turn a CRD openAPIV3Schema into a JSON schema with the API server's semantics."""
    schema = copy.deepcopy(schema)

    def walk(node: Any) -> None:
        if isinstance(node, list):
            for item in node:
                walk(item)
            return
        if not isinstance(node, dict):
            return
        if node.get("x-kubernetes-int-or-string") and "anyOf" not in node:
            node["anyOf"] = [{"type": "integer"}, {"type": "string"}]
        if (
            "properties" in node
            and "additionalProperties" not in node
            and not node.get("x-kubernetes-preserve-unknown-fields")
        ):
            node["additionalProperties"] = False
        if "required" in node and "properties" in node:
            # The API server applies defaults before it validates: a defaulted field is never missing.
            props = node["properties"]
            node["required"] = [r for r in node["required"] if "default" not in props.get(r, {})]
        for key, child in node.items():
            if key in ("properties", "patternProperties", "definitions", "$defs"):
                for sub in child.values():
                    walk(sub)
            elif key in ("items", "additionalProperties", "not", "allOf", "anyOf", "oneOf"):
                walk(child)

    walk(schema)
    props = schema.setdefault("properties", {})
    props["metadata"] = OBJECT_META
    schema["required"] = sorted(set(schema.get("required", [])) | {"apiVersion", "kind", "metadata"})
    return schema


# ---- a tiny subset of CEL: the rules KubeRay's CRDs use ----


class _Skip(Exception):
    """A rule this evaluator does not decide (transition rule or unsupported syntax)."""


_TOKEN = re.compile(r"\s*(\|\||&&|==|!=|!|\(|\)|\[|\]|,|'[^']*'|\"[^\"]*\"|[A-Za-z_][\w.]*)")


def _tokens(rule: str) -> list[str]:
    out, pos = [], 0
    while pos < len(rule):
        m = _TOKEN.match(rule, pos)
        if not m:
            if rule[pos:].strip():
                raise _Skip(rule)
            break
        out.append(m.group(1))
        pos = m.end()
    return out


_MISSING = object()


def cel_eval(rule: str, value: Any) -> bool:
    """Evaluate ``rule`` with ``self`` bound to ``value``; raise _Skip when it can't."""
    toks = _tokens(rule)
    pos = 0

    def peek() -> Optional[str]:
        return toks[pos] if pos < len(toks) else None

    def take(expected: Optional[str] = None) -> str:
        nonlocal pos
        tok = peek()
        if tok is None or (expected is not None and tok != expected):
            raise _Skip(rule)
        pos += 1
        return tok

    def select(ref: str) -> Any:
        parts = ref.split(".")
        if parts[0] != "self":
            raise _Skip(rule)  # oldSelf (a transition rule) or a function we don't know
        node = value
        for part in parts[1:]:
            if not isinstance(node, dict) or part not in node:
                return _MISSING
            node = node[part]
        return node

    def literal(tok: str) -> Any:
        if tok[:1] in "'\"":
            return tok[1:-1]
        if tok in ("true", "false"):
            return tok == "true"
        return select(tok)

    def or_expr() -> bool:
        result = and_expr()
        while peek() == "||":
            take()
            rhs = and_expr()
            result = result or rhs
        return result

    def and_expr() -> bool:
        result = unary()
        while peek() == "&&":
            take()
            rhs = unary()
            result = result and rhs
        return result

    def unary() -> bool:
        if peek() == "!":
            take()
            return not unary()
        return primary()

    def primary() -> Any:
        tok = take()
        if tok == "(":
            result = or_expr()
            take(")")
            return result
        if tok == "has":
            take("(")
            ref = take()
            take(")")
            return select(ref) is not _MISSING
        left = literal(tok)
        if peek() == "in":
            take()
            take("[")
            items = []
            while peek() != "]":
                items.append(literal(take()))
                if peek() == ",":
                    take()
            take("]")
            return left in items
        if peek() in ("==", "!="):
            op = take()
            right = literal(take())
            return (left == right) if op == "==" else (left != right)
        if isinstance(left, bool):
            return left
        raise _Skip(rule)

    result = or_expr()
    if pos != len(toks):
        raise _Skip(rule)
    return bool(result)


def _k8s_validations(validator, rules, instance, schema) -> Iterator[Any]:
    from jsonschema import ValidationError

    for rule in rules:
        try:
            ok = cel_eval(rule["rule"], instance)
        except _Skip:
            continue
        if not ok:
            yield ValidationError(rule.get("message") or f"failed rule: {rule['rule']}")


def _validator_for(schema: dict[str, Any]):
    import jsonschema

    cls = jsonschema.validators.extend(
        jsonschema.Draft202012Validator, {"x-kubernetes-validations": _k8s_validations}
    )
    return cls(structural(schema))


@lru_cache(maxsize=None)
def _crd_validator(kind: str):
    return _validator_for(shipped_schema(kind))


def validate_against_schema(data: dict[str, Any], schema: dict[str, Any]) -> list[tuple[str, str]]:
    """Problems of a KubeRay object against a given openAPIV3Schema (e.g. the one a live
    cluster's CRD serves) as (json.path, message)."""
    problems = []
    for err in _validator_for(schema).iter_errors(prune_nulls(data)):
        problems.extend(_describe(err))
    return sorted(set(problems), key=_sort_key)


# ---- core kinds through kubernetes-validate ----


def kubernetes_versions() -> list[str]:
    try:
        from kubernetes_validate.utils import all_versions
    except ImportError:
        raise ManifestError(
            "validating core Kubernetes kinds needs the kubernetes-validate package",
            "pip install 'kubernetes-validate>=1.31'",
        )
    return [".".join(v.split(".")[:2]) for v in all_versions()]


def resolve_kubernetes_version(version: Optional[str]) -> str:
    known = kubernetes_versions()
    if version is None:
        return known[-1]
    wanted = ".".join(version.lstrip("v").split(".")[:2])
    if wanted not in known:
        raise ManifestError(
            f"--kubernetes-version {version}: no schemas for that version",
            f"use one of {known[0]} … {known[-1]}",
        )
    return wanted


@lru_cache(maxsize=None)
def _core_validator(kind: str, api_version: str, k8s_version: str):
    import jsonschema
    from kubernetes_validate.utils import all_versions, schema_contents
    from referencing import Registry, Resource

    full = next(v for v in all_versions() if v.startswith(k8s_version + "."))
    group = re.sub(r"^([^./]*)(?:\.[^/]*)?/", r"\1-", api_version)
    folder = f"kubernetes-json-schema/v{full}-local-strict"
    try:
        schema = schema_contents(f"{folder}/{kind.lower()}-{group}.json", full)
    except FileNotFoundError:
        return None
    defs = schema_contents(f"{folder}/_definitions.json", full)
    registry = Resource.from_contents(defs) @ (Resource.from_contents(schema) @ Registry())
    return jsonschema.Draft202012Validator(schema, registry=registry)


# ---- the entry point ----


def is_crd_kind(kind: Optional[str], api_version: Optional[str]) -> bool:
    return kind in CRD_KINDS and api_version == API_VERSION


def validate_object(data: dict[str, Any], k8s_version: str) -> Optional[list[tuple[str, str]]]:
    """Schema problems of one object as (json.path, message); None when no schema is known."""
    kind, api_version = data.get("kind"), data.get("apiVersion")
    if not isinstance(kind, str) or not isinstance(api_version, str):
        return [("", "not a Kubernetes object: apiVersion and kind are required")]
    if kind in CRD_KINDS and api_version.startswith("ray.io/") and api_version != API_VERSION:
        return [("apiVersion", f"{api_version} is not validated; raytrain checks {API_VERSION} (v1alpha1 is deprecated)")]
    if is_crd_kind(kind, api_version):
        validator = _crd_validator(kind)
    else:
        validator = _core_validator(kind, api_version, k8s_version)
        if validator is None:
            return None
    instance = prune_nulls(data)
    problems = []
    for err in validator.iter_errors(instance):
        problems.extend(_describe(err))
    return sorted(set(problems), key=_sort_key)


def _sort_key(problem: tuple[str, str]) -> tuple:
    parts = re.split(r"(\d+)", problem[0])
    return tuple(int(p) if p.isdigit() else p for p in parts), problem[1]


def _describe(err) -> list[tuple[str, str]]:
    path = list(err.absolute_path)
    where = json_path(path)
    v = err.validator
    if v == "additionalProperties" and isinstance(err.instance, dict):
        known = list(err.schema.get("properties", {}))
        out = []
        for key in err.instance:
            if key in known:
                continue
            guess = difflib.get_close_matches(str(key), known, n=1, cutoff=0.6)
            fix = f"did you mean {guess[0]!r}?" if guess else "remove it (not in the schema)"
            out.append((json_path(path + [key]), f"unknown field; {fix}"))
        return out or [(where, err.message)]
    if v == "required":
        missing = err.message.split("'")[1] if "'" in err.message else err.message
        return [(json_path(path + [missing]), "required field is missing")]
    if v == "anyOf" and {"type": "integer"} in err.validator_value and {"type": "string"} in err.validator_value:
        return [(where, f"{err.instance!r} must be an integer or a string, e.g. 2 or \"500m\"")]
    if v == "anyOf" and path and path[-1] == "metadata":
        return [(json_path(path + ["name"]), "required field is missing")]
    if v == "pattern":
        pattern = str(err.validator_value)
        if path and path[-1] in ("name", "namespace") and len(path) == 2 and path[0] == "metadata":
            return [(where, f"{err.instance!r} is not a valid name; use lowercase letters, digits and '-'")]
        if len(pattern) > 40:
            return [(where, f"{err.instance!r} is not a valid value (e.g. a quantity like 500m, 4 or 16Gi)")]
    if v == "type" and err.validator_value == "string" and isinstance(err.instance, (int, float, bool)):
        return [(where, f"{err.instance!r} is not a string; quote it: \"{str(err.instance).lower() if isinstance(err.instance, bool) else err.instance}\"")]
    return [(where, err.message)]
