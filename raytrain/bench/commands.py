"""The ``raytrain bench`` command group: ``parity``, ``scaling``, ``checkpoint``, ``recovery``.

``raytrain.cli`` calls :func:`add_commands`; each handler runs its benchmark, writes JSON, a
Markdown table and (where it has one) a PNG plot under ``benchmarks/results/<date>-<machine>/``,
prints the table, and returns the exit code.
"""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path

from raytrain.errors import UserInputError


def add_commands(subparsers, parents: list[argparse.ArgumentParser]) -> None:
    bench = subparsers.add_parser("bench", parents=parents, help="benchmarks: parity with torchrun DDP, scaling, checkpoint, recovery",
                                  description="Benchmarks whose figures land in benchmarks/results/<date>-<machine>/ "
                                  "(JSON with every sample, a Markdown table, PNG plots). See benchmarks/README.md.")
    sub = bench.add_subparsers(dest="bench_command", metavar="BENCHMARK", required=True)

    def common(p: argparse.ArgumentParser) -> None:
        p.add_argument("--output-dir", type=Path, metavar="DIR",
                       help="where results go (default benchmarks/results/<date>-<machine>)")
        p.add_argument("--machine", metavar="NAME", help="machine name in the results path (default <hostname>-<cpus>cpu)")

    def training(p: argparse.ArgumentParser, steps: int) -> None:
        p.add_argument("--repeat", type=int, default=2, metavar="K", help="repetitions (default 2)")
        p.add_argument("--steps", type=int, default=steps, metavar="N", help=f"training steps per run (default {steps})")
        p.add_argument("--warmup-steps", type=int, default=50, metavar="N", help="steps left out of steady state (default 50)")
        p.add_argument("--batch-size", type=int, metavar="B", help="per-worker batch (default: 64 mlp, 16 transformer)")
        p.add_argument("--threads", type=int, default=1, metavar="T", help="OMP_NUM_THREADS / torch threads per worker, both sides (default 1)")
        p.add_argument("--niceness", type=_niceness, default=0, metavar="N|default",
                       help="run both sides' workers at this niceness (RAY_worker_niceness for Ray's local cluster, "
                       "`nice` for torchrun); 'default' leaves Ray's 15 and torchrun's 0 (default 0)")
        p.add_argument("--address", metavar="ADDR", help="an existing Ray cluster (default: a local one per run)")
        common(p)

    p = sub.add_parser("parity", parents=parents, help="raytrain vs torchrun DDP: steady samples/s ratio and setup overhead",
                       description="Train the same synthetic model with raytrain (N workers) and with torchrun "
                       "--nproc-per-node N plain DDP, alternated, K times; report steady-state samples/s of each, their "
                       "paired ratio and the end-to-end wall-time difference. Targets: ratio >= 0.98, overhead <= 10 s.")
    p.add_argument("--workers", type=int, default=2, metavar="N", help="workers on each side (default 2)")
    p.add_argument("--model", choices=["mlp", "transformer", "both"], default="both", help="model (default both)")
    training(p, 200)
    p.set_defaults(func=cmd_parity)

    s = sub.add_parser("scaling", parents=parents, help="throughput, weak/strong efficiency, first step, all-reduce per worker count",
                       description="raytrain runs at each worker count: weak scaling (fixed per-worker batch) and strong "
                       "scaling (fixed global batch), time to first step, and the all-reduce time of the gradient.")
    s.add_argument("--workers", default="1,2", metavar="LIST", help="worker counts, e.g. 1,2,4 (default 1,2)")
    s.add_argument("--model", choices=["mlp", "transformer"], default="mlp", help="model (default mlp)")
    training(s, 200)
    s.set_defaults(func=cmd_scaling, repeat=1)

    c = sub.add_parser("checkpoint", parents=parents, help="durable write bandwidth vs dd, restore bandwidth, blocked time async vs sync",
                       description="Checkpoint figures from benchmarks/failures_bench.py's measurements.")
    c.add_argument("--size", default="1GiB", help="checkpoint size, e.g. 1GiB, 256MiB (default 1GiB)")
    c.add_argument("--dir", type=Path, default=Path(".raytrain/bench"), help="directory written to (default .raytrain/bench)")
    c.add_argument("--repeat", type=int, default=2, metavar="K", help="write repetitions (default 2)")
    c.add_argument("--blocked-width", type=int, default=2048, metavar="W", help="model width of the sync/async runs (default 2048)")
    c.add_argument("--skip-blocked", action="store_true", help="only the write/restore figures (no Ray runs)")
    common(c)
    c.set_defaults(func=cmd_checkpoint)

    r = sub.add_parser("recovery", parents=parents, help="time to recover after a worker node is killed; steps lost",
                       description="Recovery figures from benchmarks/failures_bench.py's measurements (a 2-node local cluster).")
    r.add_argument("--repeat", type=int, default=1, metavar="K", help="repetitions (default 1)")
    common(r)
    r.set_defaults(func=cmd_recovery)


def _niceness(text: str):
    if text == "default":
        return None
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: expected an integer or 'default'") from None


def _command_line() -> str:
    return "raytrain " + " ".join(shlex.quote(a) for a in sys.argv[1:]) if sys.argv[1:] else "raytrain bench"


def _outdir(args) -> Path:
    from raytrain.bench import report

    return args.output_dir or report.results_dir(machine=args.machine)


def _write(args, name: str, result: dict, md_title: str, md_body: str) -> Path:
    from raytrain.bench import report

    out = _outdir(args)
    result = {**result, "command": _command_line()}
    report.write_json(out / f"{name}.json", result)
    report.write_markdown(out / f"{name}.md", md_title, md_body, result["command"])
    print(md_body)
    print(f"wrote {out / name}.json, .md", file=sys.stderr)
    return out


def cmd_parity(args) -> int:
    from raytrain.bench import parity, report

    models = ["mlp", "transformer"] if args.model == "both" else [args.model]
    result = parity.run_parity(models, args.workers, args.repeat, args.steps, args.warmup_steps, args.threads,
                               args.address, args.batch_size, args.niceness)
    out = _write(args, "parity", result, "Parity: raytrain vs torchrun DDP", parity.markdown(result))
    report.plot_parity(out / "parity.png", result["samples"])
    return 0


def cmd_scaling(args) -> int:
    from raytrain.bench import report, scaling, stats

    try:
        workers = stats.parse_workers(args.workers)
    except ValueError as exc:
        raise UserInputError(str(exc), "e.g. --workers 1,2,4") from None
    result = scaling.run_scaling(args.model, workers, args.repeat, args.steps, args.warmup_steps, args.threads,
                                 args.address, args.batch_size, args.niceness)
    out = _write(args, "scaling", result, "Scaling", scaling.markdown(result))
    report.plot_scaling(out / "scaling.png", result["rows"])
    return 0


def cmd_checkpoint(args) -> int:
    from raytrain.bench import failures, stats

    try:
        nbytes = stats.parse_size(args.size)
    except ValueError as exc:
        raise UserInputError(str(exc), "e.g. --size 1GiB or --size 256MiB") from None
    result = failures.run_checkpoint(nbytes, args.dir, args.repeat, None if args.skip_blocked else args.blocked_width)
    _write(args, "checkpoint", result, "Checkpoint", failures.checkpoint_markdown(result))
    return 0


def cmd_recovery(args) -> int:
    from raytrain.bench import failures

    result = failures.run_recovery(args.repeat)
    _write(args, "recovery", result, "Recovery", failures.recovery_markdown(result))
    return 0
