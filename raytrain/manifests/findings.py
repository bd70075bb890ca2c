"""What validation reports: one finding per problem, printable as one line plus its fix."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Literal, Optional

Severity = Literal["error", "warning"]


@dataclass(frozen=True)
class Finding:
    """One problem in one document: ``file[doc] Kind/name: json.path: message``."""

    source: str
    message: str
    rule: str
    severity: Severity = "error"
    index: Optional[int] = None
    kind: Optional[str] = None
    name: Optional[str] = None
    path: str = ""
    fix: Optional[str] = None

    def where(self) -> str:
        out = self.source if self.index is None else f"{self.source}[{self.index}]"
        if self.kind:
            out += f" {self.kind}/{self.name or '?'}"
        return out

    def format(self) -> str:
        """``file[doc] Kind/name: json.path: what is wrong`` (the rule id follows for lint)."""
        head = self.where()
        body = f"{self.path}: {self.message}" if self.path else self.message
        line = f"{head}: {body}"
        if self.rule not in ("schema", "job-spec"):
            line += f" [{self.rule}]"
        return line

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def json_path(parts: Any) -> str:
    """``['spec', 'workerGroupSpecs', 1, 'maxReplicas']`` -> ``spec.workerGroupSpecs[1].maxReplicas``."""
    out = ""
    for p in parts:
        out += f"[{p}]" if isinstance(p, int) else (f".{p}" if out else str(p))
    return out
