"""Argument parsing and printing only; the work is done by raytrain.api."""

from __future__ import annotations

import argparse
import importlib
import json
import sys
import traceback
from typing import Optional, Sequence

from raytrain.errors import RaytrainError

# Modules that add their own subcommands with add_commands(subparsers, parents).
COMMAND_MODULES: list[str] = [
    "raytrain.manifests.commands",
    "raytrain.kube.commands",
    "raytrain.local.commands",
    "raytrain.submit.commands",
    "raytrain.bench.commands",
]

EPILOG = """\
examples:
  raytrain run jobs/digits.yaml                  train on a local Ray cluster started for the run
  raytrain run jobs/digits.yaml --set train.epochs=5 --json
  raytrain validate jobs/charlm.yaml clusters/overlays/prod   check specs and manifests
  raytrain check jobs/digits.yaml --cluster clusters/overlays/prod   does the job fit?
  raytrain job render jobs/digits.yaml --cluster-selector raytrain   a RayJob for KubeRay
  raytrain cluster apply clusters/overlays/dev   server-side apply, wait for ready, roll back on failure
  raytrain connect --cluster raytrain -n raytrain-dev   port-forward the Jobs API until Ctrl-C
  raytrain job apply jobs/digits.yaml --cluster-selector raytrain -n raytrain-dev
  raytrain bench parity --workers 2                 raytrain vs torchrun DDP throughput
  raytrain schema --markdown                     the spec reference

On any Ray cluster, with Ray's CLI alone:
  ray job submit --working-dir . -- python -m raytrain.run jobs/digits.yaml
"""


def _common(top: bool = False) -> argparse.ArgumentParser:
    """--debug works before or after the command; a subcommand's copy must not reset it."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--debug", action="store_true", default=False if top else argparse.SUPPRESS,
                        help="show tracebacks for errors")
    return common


def _add_spec_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("spec", help="a job spec YAML file, e.g. jobs/digits.yaml")
    p.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a spec field, e.g. --set train.max_steps=200 (repeatable; values are YAML)",
    )


def _add_run_args(p: argparse.ArgumentParser) -> None:
    _add_spec_args(p)
    p.add_argument("--address", help="a running Ray cluster (default: start a local one, or the job's)")
    p.add_argument("--storage", help="storage path for runs (overrides the spec and $RAYTRAIN_STORAGE_PATH)")
    p.add_argument("--new-run", action="store_true", help="start a fresh run under a new, timestamped name")
    p.add_argument("--json", action="store_true", help="print the result record as the last line of stdout")
    p.add_argument("--verbose", action="store_true", help="show the workers' own log output")
    p.set_defaults(func=cmd_run)


def cmd_run(args: argparse.Namespace) -> int:
    from raytrain import api

    result = api.run(
        args.spec,
        storage=args.storage,
        address=args.address,
        overrides=args.overrides,
        new_run=args.new_run,
        verbose=args.verbose,
        echo=lambda line: print(line, flush=True),
    )
    _print_summary(result)
    if args.json:
        print(json.dumps(result, default=str), flush=True)
    return 0 if result["status"] == "succeeded" else 130


def _print_summary(result: dict) -> None:
    final = result["final_metrics"]
    head = "finished" if result["status"] == "succeeded" else result["status"]
    print(f"\n{result['name']} {head}: {result['steps']} steps in {result['wall_time_s']:.1f} s "
          f"(workers: {' -> '.join(str(w['workers']) for w in result['worker_count_history']) or '?'})")
    shown = {k: v for k, v in final.items() if k.startswith("val_") or k == "loss"}
    if shown:
        print("  " + "  ".join(f"{k} {v:.4f}" for k, v in sorted(shown.items())))
    if result["failures_survived"]:
        print(f"  failures survived: {result['failures_survived']}")
    print(f"  last checkpoint: {result['last_checkpoint']}")
    if result.get("best_checkpoint") and result["best_checkpoint"] != result["last_checkpoint"]:
        print(f"  best checkpoint: {result['best_checkpoint']}")
    print(f"  result: {result['run_dir']}/result.json")
    if result["status"] == "interrupted":
        print("  interrupted: run the same command again to resume from the last checkpoint")


def cmd_schema(args: argparse.Namespace) -> int:
    from raytrain import api
    from raytrain.spec import schema_reference

    print(schema_reference(api.schema()) if args.markdown else json.dumps(api.schema(), indent=2))
    return 0


def build_parser(prog: Optional[str] = None) -> argparse.ArgumentParser:
    common = _common()
    parser = argparse.ArgumentParser(
        prog=prog or "raytrain",
        description="Distributed PyTorch training on Ray: one job spec for a laptop and a KubeRay cluster.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        parents=[_common(top=True)],
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    p = sub.add_parser("run", parents=[common], help="train a job spec to the end",
                       description="Train a job spec. Without --address (and outside a Ray job) a "
                       "local Ray cluster is started on free ports and stopped afterwards. A run "
                       "whose directory has checkpoints resumes from the newest one (resume: auto).")
    _add_run_args(p)
    p = sub.add_parser("schema", parents=[common], help="print the job spec's JSON schema")
    p.add_argument("--markdown", action="store_true", help="print the reference table instead")
    p.set_defaults(func=cmd_schema)
    for name in COMMAND_MODULES:
        importlib.import_module(name).add_commands(sub, [common])
    return parser


def build_run_parser(prog: str) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=prog, parents=[_common(top=True)],
                                description="Train a job spec on the Ray cluster this runs on.")
    _add_run_args(p)
    return p


def main(argv: Optional[Sequence[str]] = None, prog: Optional[str] = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if prog is not None and argv[:1] == ["run"]:
        args = build_run_parser(prog).parse_args(argv[1:])
    else:
        args = build_parser(prog).parse_args(argv)
    try:
        return args.func(args)
    except RaytrainError as exc:
        if args.debug:
            traceback.print_exc()
        print(f"error: {exc.message}", file=sys.stderr)
        if exc.hint:
            print(f"  fix: {exc.hint}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
