"""Run the raytrain CLI in a subprocess with the laptop commands registered.

Until raytrain.cli lists raytrain.local.commands and raytrain.submit.commands in
COMMAND_MODULES, this adds them; afterwards it changes nothing.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
MODULES = ["raytrain.local.commands", "raytrain.submit.commands"]
_SNIPPET = (
    "import sys, raytrain.cli as c; "
    f"c.COMMAND_MODULES.extend(m for m in {MODULES!r} if m not in c.COMMAND_MODULES); "
    "sys.exit(c.main(sys.argv[1:]))"
)


def raytrain(*args: str, cwd: Path = REPO, env: dict | None = None, timeout: float = 600) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    return subprocess.run([sys.executable, "-c", _SNIPPET, *args], cwd=cwd, capture_output=True, text=True,
                          timeout=timeout, env=env)
