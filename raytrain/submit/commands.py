"""`raytrain submit | logs | jobs | stop`: argument parsing and printing over raytrain.client."""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Optional

EPILOG_ADDRESS = (
    "The cluster is --address, else $RAY_API_SERVER_ADDRESS or an http $RAY_ADDRESS, else the local "
    "mirror started by `raytrain up --local` in this directory. The auth token comes from "
    "$RAY_AUTH_TOKEN, --token-file, $RAY_AUTH_TOKEN_PATH, ~/.ray/auth_token, in that order."
)


def _connection_args(p: argparse.ArgumentParser) -> None:
    where = p.add_mutually_exclusive_group()
    where.add_argument("--address", metavar="URL", help="Jobs API (dashboard) address, e.g. http://127.0.0.1:8265")
    where.add_argument("--cluster", metavar="NAME",
                       help="a RayCluster on Kubernetes: port-forward to its Jobs API and use its token Secret")
    p.add_argument("-n", "--namespace", metavar="NS", help="namespace of --cluster (default: the context's)")
    p.add_argument("--context", metavar="NAME", help="kubeconfig context for --cluster")
    p.add_argument("--kubeconfig", metavar="PATH", help="kubeconfig file for --cluster")
    p.add_argument("--token-file", metavar="PATH", help="file holding the cluster's auth token")
    p.add_argument("--state-dir", metavar="DIR", help=argparse.SUPPRESS)


def _through_cluster(handler):
    """With --cluster NAME: open a port-forward to the head's Jobs API, take the token from the
    cluster's Secret, run the command against it, and close the forward."""

    def run(args) -> int:
        if not getattr(args, "cluster", None):
            return handler(args)
        import os

        from raytrain.kube.client import Target
        from raytrain.kube.forward import port_forward

        target = Target(kubeconfig=args.kubeconfig, context=args.context, namespace=args.namespace)
        if getattr(args, "spec", None):
            from raytrain.errors import UserInputError
            from raytrain.kube.forward import cluster_endpoint
            from raytrain.manifests.cluster import CHECKPOINT_MOUNT
            from raytrain.manifests.preflight import preflight_live
            from raytrain.spec import load_spec

            spec = load_spec(args.spec, args.overrides)
            if getattr(args, "storage", "unset") is None:
                # On the cluster, runs live on the checkpoint claim unless the spec says otherwise.
                args.storage = spec.checkpoint.storage_path or CHECKPOINT_MOUNT
            live, _ = cluster_endpoint(args.cluster, target)
            for check in preflight_live(spec, live):
                if check.status == "FAIL":
                    raise UserInputError(f"{args.spec}: preflight against RayCluster {args.cluster}: {check.message}",
                                         check.fix or "change scaling in the spec or the cluster's worker groups")
                if check.status == "WARN":
                    print(f"preflight: {check.message}", file=sys.stderr)
        with port_forward(args.cluster, target=target) as (url, token):
            print(f"port-forward to RayCluster {args.cluster}: {url}", file=sys.stderr)
            args.address = url
            if token:
                os.environ["RAY_AUTH_TOKEN"] = token
            return handler(args)

    run.__name__ = handler.__name__
    return run


def add_commands(subparsers, parents: list) -> None:
    fmt = argparse.RawDescriptionHelpFormatter
    p = subparsers.add_parser(
        "submit", parents=parents, formatter_class=fmt,
        help="submit a job spec to a Ray cluster (Ray Jobs API)",
        description="Submit SPEC as `python -m raytrain.run SPEC` with the project directory as "
        "working_dir (without .git, .venv, .raytrain, __pycache__ and the spec's "
        "runtime_env.working_dir_excludes; refused above 100 MiB).\n\nA run that already has "
        "checkpoints needs --resume or --new-run (--resume is the default when its last attempt "
        "failed); a new run never silently mixes into an old one.",
        epilog=EPILOG_ADDRESS,
    )
    p.add_argument("spec", metavar="SPEC", help="job spec YAML, e.g. jobs/digits.yaml")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a spec field, e.g. --set train.max_steps=200 (repeatable)")
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--resume", action="store_true", help="continue the run from its newest checkpoint")
    mode.add_argument("--new-run", action="store_true", help="start the run over, leaving its old checkpoints")
    p.add_argument("--storage", metavar="PATH",
                   help="storage path as the job sees it (default: the local mirror's volume, else the spec's)")
    p.add_argument("--working-dir", metavar="DIR", help="project directory to ship (default: the spec's git root)")
    p.add_argument("-f", "--follow", action="store_true",
                   help="follow the logs until the job ends; exit with its outcome")
    p.add_argument("--json", action="store_true", help="print the submission as JSON")
    _connection_args(p)
    p.set_defaults(func=_through_cluster(cmd_submit))

    p = subparsers.add_parser(
        "logs", parents=parents, help="print or follow a job's logs",
        description="Print a job's logs; with -f follow them until the job ends, reconnecting when the "
        "stream drops, and exit with the job's outcome (0 succeeded, 1 failed, 3 stopped).",
        epilog=EPILOG_ADDRESS,
    )
    p.add_argument("job", metavar="JOB", help="submission id (see `raytrain jobs`)")
    p.add_argument("-f", "--follow", action="store_true", help="follow until the job is terminal")
    _connection_args(p)
    p.set_defaults(func=_through_cluster(cmd_logs))

    p = subparsers.add_parser(
        "jobs", parents=parents, help="list jobs: id, run, status, start, duration, last metrics",
        description="List the cluster's submitted jobs, oldest first. Last metrics are read from the "
        "run's metrics.jsonl when its storage is visible from this machine.",
        epilog=EPILOG_ADDRESS,
    )
    p.add_argument("--json", action="store_true", help="print JSON lines instead of a table")
    _connection_args(p)
    p.set_defaults(func=_through_cluster(cmd_jobs))

    p = subparsers.add_parser("stop", parents=parents, help="stop a running job",
                              description="Ask Ray to stop JOB; exit 0 once it is stopped.",
                              epilog=EPILOG_ADDRESS)
    p.add_argument("job", metavar="JOB", help="submission id")
    p.add_argument("--no-wait", action="store_true", help="return without waiting for the job to stop")
    _connection_args(p)
    p.set_defaults(func=_through_cluster(cmd_stop))


def _client(args):
    from raytrain.client import Client

    return Client(args.address, token_file=args.token_file, state_dir=args.state_dir)


def cmd_submit(args) -> int:
    from raytrain.client import Client

    c: Client = _client(args)
    sub = c.submit_spec(args.spec, args.overrides, resume=args.resume, new_run=args.new_run,
                        storage=args.storage, working_dir=args.working_dir)
    if args.json:
        print(json.dumps({"submission_id": sub.submission_id, "run": sub.run, "address": c.address,
                          "entrypoint": sub.entrypoint, "start": sub.decision.mode,
                          "storage": sub.storage, "metadata": sub.metadata}))
    else:
        print(f"submitted {sub.submission_id} to {c.address}")
        print(f"  run {sub.run}: {sub.decision.note}")
        print(f"  entrypoint: {sub.entrypoint}")
        print(f"  working_dir: {sub.working_dir.root} ({sub.working_dir.total_bytes / 1024 / 1024:.1f} MiB)")
        if not sub.storage:
            print("  note: no storage path known (no --storage, no spec checkpoint.storage_path): "
                  "checkpoints land in the job's temporary working_dir on the cluster", file=sys.stderr)
        if not args.follow:
            print(f"follow: raytrain logs {sub.submission_id} -f")
    if not args.follow:
        return 0
    return _follow(c, sub.submission_id)


def _follow(c, job_id: str) -> int:
    def write(text: str) -> None:
        sys.stdout.write(text)
        sys.stdout.flush()

    try:
        state = c.jobs_api.follow(job_id, write=write)
    except KeyboardInterrupt:
        print(f"\nstopped following; the job keeps running (raytrain stop {job_id})", file=sys.stderr)
        return 130
    print(f"job {job_id} {state.value}", file=sys.stderr)
    return state.exit_code


def cmd_logs(args) -> int:
    c = _client(args)
    if args.follow:
        return _follow(c, args.job)
    sys.stdout.write(c.jobs_api.logs(args.job))
    return 0


def cmd_jobs(args) -> int:
    c = _client(args)
    rows = c.jobs_api.list()
    if args.json:
        for r in rows:
            print(json.dumps({"id": r.submission_id, "run": r.run, "status": r.state.value,
                              "start": r.start_time, "duration_s": r.duration_s,
                              "last_metrics": r.last_metrics(), "message": r.message}))
        return 0
    if not rows:
        print(f"no jobs on {c.address}")
        return 0
    table = [("ID", "RUN", "STATUS", "START", "DURATION", "LAST METRICS")]
    for r in rows:
        table.append((r.submission_id, r.run, r.state.value, _clock(r.start_time), _duration(r.duration_s),
                      _metrics_text(r.last_metrics())))
    widths = [max(len(row[i]) for row in table) for i in range(5)]
    for row in table:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths)) + "  " + row[5])
    return 0


def cmd_stop(args) -> int:
    c = _client(args)
    state = c.jobs_api.state(args.job)
    if state.terminal:
        print(f"job {args.job} already {state.value}")
        return 0
    c.jobs_api.stop(args.job)
    if args.no_wait:
        print(f"stop requested for {args.job}")
        return 0
    state = c.jobs_api.wait(args.job, timeout_s=60)
    print(f"job {args.job} {state.value}")
    return 0 if state.terminal else 1


def _clock(t: Optional[float]) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(t)) if t else "-"


def _duration(s: Optional[float]) -> str:
    if s is None:
        return "-"
    s = int(s)
    return f"{s // 3600}h{s % 3600 // 60:02d}m" if s >= 3600 else f"{s // 60}m{s % 60:02d}s"


def _metrics_text(m: Optional[dict]) -> str:
    if not m:
        return "-"
    parts = []
    for key in ("step", "epoch", "loss", "val_loss", "val_accuracy", "samples_per_s", "workers"):
        v = m.get(key)
        if isinstance(v, float):
            parts.append(f"{key}={v:.4g}")
        elif v is not None:
            parts.append(f"{key}={v}")
    return " ".join(parts) or "-"

