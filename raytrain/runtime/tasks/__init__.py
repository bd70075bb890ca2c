"""Built-in tasks, and how a ``train.task`` / ``train.loop`` reference becomes an object."""

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
    """Import 'module:attr', or raise a SpecError that names the field and the fix."""
    module_name, _, attr = ref.partition(":")
    if "" not in sys.path and "." not in sys.path:
        sys.path.insert(0, "")  # the working dir, as `python -m` would have it
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise SpecError(
            f"{source}: {field}: cannot import module {module_name!r} ({exc})",
            "run from the directory that holds it, or add it to runtime_env.pip",
        ) from None
    try:
        return getattr(module, attr)
    except AttributeError:
        names = [n for n in dir(module) if not n.startswith("_")]
        raise SpecError(
            f"{source}: {field}: module {module_name!r} has no {attr!r}",
            f"it defines: {', '.join(names[:12])}",
        ) from None


def resolve_task(name: str, source: str = "spec"):
    """The Task class for a built-in name or a 'module:Class' reference."""
    from raytrain.runtime.tasks.base import Task

    if ":" not in name:
        if name not in BUILTIN_TASKS:
            raise SpecError(
                f"{source}: train.task: unknown built-in task {name!r}",
                f"use one of {', '.join(BUILTIN_TASKS)} or 'module:Class'",
            )
        name = BUILTIN_TASKS[name]
    cls = import_ref(name, "train.task", source)
    if not (isinstance(cls, type) and issubclass(cls, Task)):
        raise SpecError(
            f"{source}: train.task: {name} is not a subclass of raytrain.Task",
            "derive your class from raytrain.Task",
        )
    return cls


def resolve_loop(ref: str, source: str = "spec"):
    fn = import_ref(ref, "train.loop", source)
    if not callable(fn):
        raise SpecError(f"{source}: train.loop: {ref} is not callable", "point it at a function")
    return fn
