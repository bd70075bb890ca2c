"""Regenerate the spec reference between the markers in a Markdown file:
``python -m raytrain.spec.reference README.md`` (``make docs``)."""

import sys
from pathlib import Path

from raytrain.spec.loader import schema_reference

BEGIN, END = "<!-- spec-reference:begin -->\n", "<!-- spec-reference:end -->"


def update(path: Path) -> bool:
    text = path.read_text()
    head, rest = text.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    new = head + BEGIN + schema_reference() + END + tail
    path.write_text(new)
    return new != text


if __name__ == "__main__":
    for name in sys.argv[1:] or ["README.md"]:
        print(f"{name}: {'updated' if update(Path(name)) else 'up to date'}")
