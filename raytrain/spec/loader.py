"""Loading a job spec from YAML, applying ``--set`` overrides, and turning every
validation failure into one line: the file, the field path and the fix."""

from __future__ import annotations

import copy
import difflib
import hashlib
import json
from pathlib import Path
from typing import Any, Iterable, Optional

import yaml
from pydantic import BaseModel, ValidationError

from raytrain.errors import SpecError
from raytrain.spec.models import JobSpec


def load_spec(path: str | Path, overrides: Iterable[str] = ()) -> JobSpec:
    """Read, override and validate a job spec; raise SpecError with one clear line."""
    path = Path(path)
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise SpecError(f"{path}: no such file", "give the path of a job spec, e.g. jobs/digits.yaml")
    except IsADirectoryError:
        raise SpecError(f"{path}: is a directory", "give the path of a job spec YAML file")
    except OSError as exc:
        raise SpecError(f"{path}: cannot read ({exc.strerror})", "check the path and its permissions")
    return parse_spec(text, source=str(path), overrides=overrides)


def parse_spec(text: str, source: str = "<spec>", overrides: Iterable[str] = ()) -> JobSpec:
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise SpecError(f"{source}:{where}: not valid YAML: {problem}", "fix the YAML syntax there")
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise SpecError(
            f"{source}: the top level is a {type(data).__name__}, not a mapping",
            "a job spec starts with keys such as name: and train:",
        )
    data = apply_overrides(data, overrides, source)
    return validate_spec(data, source)


def validate_spec(data: dict[str, Any], source: str = "<spec>") -> JobSpec:
    try:
        return JobSpec.model_validate(data)
    except ValidationError as exc:
        raise SpecError(format_validation_error(exc, source, data)) from None


def apply_overrides(data: dict[str, Any], overrides: Iterable[str], source: str) -> dict[str, Any]:
    """Apply ``a.b=c`` overrides; the value is parsed as YAML (so 3, [1, 2], true work)."""
    data = copy.deepcopy(data)
    for item in overrides:
        key, sep, raw = item.partition("=")
        if not sep or not key.strip():
            raise SpecError(f"--set {item!r}: not KEY=VALUE", "write e.g. --set train.max_steps=200")
        try:
            value = yaml.safe_load(raw) if raw.strip() else ""
        except yaml.YAMLError:
            value = raw
        parts = key.strip().split(".")
        node = data
        for i, part in enumerate(parts[:-1]):
            child = node.get(part)
            if child is None:
                child = node[part] = {}
            if not isinstance(child, dict):
                where = ".".join(parts[: i + 1])
                raise SpecError(f"--set {item!r}: {where} is not a mapping", f"set {where} itself")
            node = child
        node[parts[-1]] = value
    return data


def format_validation_error(exc: ValidationError, source: str, data: Any = None) -> str:
    """The first error of a pydantic ValidationError as 'source: field.path: problem'."""
    errors = exc.errors(include_url=False)
    # An unknown key usually explains the "missing" one next to it (a typo): report it first.
    err = min(errors, key=lambda e: e["type"] != "extra_forbidden")
    loc = [p for p in err["loc"] if not (isinstance(p, str) and p.startswith("function-"))]
    # Union members add their type name to the location; keep only the user's keys.
    loc = [p for p in loc if p not in ("int", "tuple[int,int]", "list[int]")]
    path = _loc_to_path(loc)
    kind = err["type"]
    msg = err["msg"]
    if kind == "extra_forbidden":
        field = str(loc[-1]) if loc else ""
        known = _fields_at(JobSpec, loc[:-1])
        guess = difflib.get_close_matches(field, known, n=1, cutoff=0.6)
        fix = f"did you mean {guess[0]!r}?" if guess else f"known keys: {', '.join(known)}"
        return f"{source}: {path}: unknown key; {fix}"
    if kind == "missing":
        return f"{source}: {path}: required but missing; add it (see `raytrain schema`)"
    if kind == "value_error":
        msg = msg.removeprefix("Value error, ")
    elif kind == "literal_error":
        msg = f"{_value_at(data, loc)!r} is not allowed; {_lc(msg)}"
    elif kind.endswith("_type") or kind.endswith("_parsing"):
        got = _value_at(data, loc)
        msg = f"{got!r} is not valid: {_lc(msg)}"
    elif kind in ("greater_than_equal", "greater_than", "less_than_equal", "string_too_long"):
        msg = f"{_value_at(data, loc)!r}: {_lc(msg)}"
    return f"{source}: {path or '(top level)'}: {msg}"


def _lc(msg: str) -> str:
    msg = msg.replace("Input should be", "should be")
    return msg[:1].lower() + msg[1:]


def _loc_to_path(loc: list[Any]) -> str:
    out = ""
    for p in loc:
        out += f"[{p}]" if isinstance(p, int) else (f".{p}" if out else str(p))
    return out


def _fields_at(model: type[BaseModel], loc: list[Any]) -> list[str]:
    for part in loc:
        field = model.model_fields.get(str(part))
        ann = getattr(field, "annotation", None) if field else None
        if not (isinstance(ann, type) and issubclass(ann, BaseModel)):
            return []
        model = ann
    return list(model.model_fields)


def _value_at(data: Any, loc: list[Any]) -> Any:
    node = data
    for part in loc:
        try:
            node = node[part]
        except (KeyError, IndexError, TypeError):
            return None
    return node


def spec_hash(spec: JobSpec) -> str:
    """A short, stable digest of the resolved spec (for submission metadata and records)."""
    blob = json.dumps(spec.model_dump(mode="json"), sort_keys=True).encode()
    return hashlib.sha256(blob).hexdigest()[:12]


def json_schema() -> dict[str, Any]:
    return JobSpec.model_json_schema()


def schema_reference(schema: Optional[dict[str, Any]] = None) -> str:
    """The Markdown reference table of every spec field, generated from the schema."""
    schema = schema or json_schema()
    defs = schema.get("$defs", {})
    rows = ["| field | type | default | description |", "|---|---|---|---|"]

    def type_of(prop: dict[str, Any]) -> str:
        if "$ref" in prop:
            return "mapping"
        if "enum" in prop:
            return " \\| ".join(json.dumps(v) for v in prop["enum"])
        if "anyOf" in prop:
            return " or ".join(type_of(p) for p in prop["anyOf"] if p.get("type") != "null")
        t = prop.get("type", "any")
        if t == "array" and "prefixItems" in prop:
            return "[" + ", ".join(type_of(p) for p in prop["prefixItems"]) + "]"
        if t == "array":
            return f"list of {type_of(prop.get('items', {}))}"
        if t == "object":
            return "mapping"
        return t

    def walk(props: dict[str, Any], prefix: str, required: list[str]) -> None:
        for name, prop in props.items():
            full = f"{prefix}{name}"
            sub = defs[prop["$ref"].split("/")[-1]] if "$ref" in prop else None
            if name in required:
                default = "required"
            else:
                default = "" if sub else json.dumps(prop.get("default", None))
            desc = prop.get("description") or (sub or {}).get("description", "")
            desc = desc.replace("|", "\\|").replace("\n", " ")
            rows.append(f"| `{full}` | {type_of(prop)} | {default} | {desc} |")
            if sub:
                walk(sub.get("properties", {}), f"{full}.", sub.get("required", []))

    walk(schema["properties"], "", schema.get("required", []))
    return "\n".join(rows) + "\n"
