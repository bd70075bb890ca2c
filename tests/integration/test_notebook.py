"""examples/notebooks/quickstart.ipynb runs top to bottom (nbclient + ipykernel) on a local mirror."""

from __future__ import annotations

import os
import re

import pytest

from .cli import REPO
from .mirror import mirror

pytestmark = pytest.mark.integration
NOTEBOOK = REPO / "examples" / "notebooks" / "quickstart.ipynb"


def test_quickstart_notebook_trains_plots_and_evaluates_the_checkpoint(tmp_path, monkeypatch):
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.read(NOTEBOOK, as_version=4)
    # The test owns the cluster (stopped even if the kernel dies); the notebook connects to it.
    with mirror(tmp_path, groups=("cpu:cpus=2,min=1",)) as lc:
        monkeypatch.setenv("RAYTRAIN_ADDRESS", lc.dashboard_url)
        monkeypatch.setenv("RAYTRAIN_STORAGE", lc.volume)
        monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]))
        NotebookClient(nb, timeout=600, kernel_name="python3",
                       resources={"metadata": {"path": str(NOTEBOOK.parent)}}).execute()

    outputs = [o for cell in nb.cells if cell.cell_type == "code" for o in cell.get("outputs", [])]
    text = "".join(o.get("text", "") for o in outputs if o.output_type == "stream")
    assert "job SUCCEEDED" in text, text[-3000:]
    assert any("image/png" in o.get("data", {}) for o in outputs), "job.plot() drew no figure"
    tables = [o["data"]["text/plain"] for o in outputs if o.output_type == "execute_result" and "text/plain" in o.get("data", {})]
    assert any("samples_per_s" in t for t in tables), "job.metrics() table missing"
    m = re.search(r"held-out accuracy of the final checkpoint: ([0-9.]+)", text)
    assert m, f"no evaluation line in:\n{text[-2000:]}"
    assert float(m.group(1)) > 0.8, f"final checkpoint evaluates to {m.group(1)}"
