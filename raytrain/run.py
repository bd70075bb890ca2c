"""Entrypoint on any Ray cluster: ``python -m raytrain.run SPEC [options]``.

The same as ``raytrain run``; inside a Ray job (``ray job submit ... -- python -m
raytrain.run jobs/x.yaml``) it trains on that job's cluster.
"""

import sys

from raytrain.cli import main

if __name__ == "__main__":
    sys.exit(main(["run", *sys.argv[1:]], prog="python -m raytrain.run"))
