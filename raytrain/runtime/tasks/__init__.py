"""Built-in tasks, and how a ``train.task`` / ``train.loop`` reference becomes an object."""

from __future__ import annotations

from raytrain.errors import SpecError
from raytrain.spec.refs import BUILTIN_TASKS, import_ref

__all__ = ["BUILTIN_TASKS", "resolve_loop", "resolve_task"]


def resolve_task(name: str, source: str = "spec"):
    """The Task class for a built-in name or a 'module:Class' reference."""
    from raytrain.runtime.tasks.base import Task

    name = BUILTIN_TASKS.get(name, name)
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
