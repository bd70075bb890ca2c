"""Progress of a benchmark's runs: a tqdm bar when tqdm is installed and stderr is a terminal,
else one line per run."""

from __future__ import annotations

import sys
import time
from typing import Iterable, Iterator, TypeVar

T = TypeVar("T")


def steps(items: Iterable[T], total: int, desc: str) -> Iterator[T]:
    try:
        from tqdm import tqdm
    except ImportError:
        tqdm = None
    if tqdm is not None and sys.stderr.isatty():
        yield from tqdm(items, total=total, desc=desc, unit="run")
        return
    start = time.time()
    for i, item in enumerate(items):
        print(f"[{desc}] run {i + 1}/{total}: {item} (elapsed {time.time() - start:.0f} s)", file=sys.stderr, flush=True)
        yield item
    print(f"[{desc}] {total} runs in {time.time() - start:.0f} s", file=sys.stderr, flush=True)
