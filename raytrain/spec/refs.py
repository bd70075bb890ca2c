"""What ``train.task`` and ``train.loop`` may name: the built-in tasks, and importing a
user's ``module:attr`` with an error that names the field and the fix."""

from __future__ import annotations

import importlib
import sys
from typing import Any

from raytrain.errors import SpecError

BUILTIN_TASKS = {
    "digits": "raytrain.runtime.tasks.digits:DigitsTask",
    "charlm": "raytrain.runtime.tasks.charlm:CharLMTask",
    "synthetic": "raytrain.runtime.tasks.synthetic:SyntheticTask",
}


def import_ref(ref: str, field: str, source: str = "spec") -> Any:
    """Import 'module:attr' from the working dir or the environment, or raise SpecError."""
    module_name, _, attr = ref.partition(":")
    if "" not in sys.path and "." not in sys.path:
        sys.path.insert(0, "")  # the working dir, as `python -m` would have it
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise SpecError(
            f"{source}: {field}: cannot import module {module_name!r} ({exc})",
            "run from the directory that holds it, or add its package to runtime_env.pip",
        ) from None
    try:
        return getattr(module, attr)
    except AttributeError:
        names = [n for n in dir(module) if not n.startswith("_")]
        raise SpecError(
            f"{source}: {field}: module {module_name!r} has no {attr!r}",
            f"it defines: {', '.join(names[:12])}",
        ) from None


def check_refs(spec, source: str = "spec") -> None:
    """Import what the spec names (built-in tasks need no import here)."""
    if spec.train.task is not None and ":" in spec.train.task:
        import_ref(spec.train.task, "train.task", source)
    if spec.train.loop is not None:
        if not callable(import_ref(spec.train.loop, "train.loop", source)):
            raise SpecError(f"{source}: train.loop: {spec.train.loop} is not callable", "point it at a function")
