"""The CLI commands of this package: ``validate``, ``job render`` and ``check``.

``raytrain.cli`` calls :func:`add_commands`; each handler takes the parsed arguments, prints,
and returns the exit code (user errors are raised as RaytrainError for the CLI to print).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def add_commands(subparsers, parents: list[argparse.ArgumentParser]) -> None:
    p = subparsers.add_parser(
        "validate", parents=parents,
        help="check manifests (files, dirs, kustomize dirs) and job specs against their schemas and lint rules",
        description="Validate KubeRay manifests against the CRD schemas shipped with raytrain, core kinds "
        "against Kubernetes' schemas, and raytrain's lint rules; job specs against the spec schema. "
        "Exit code 1 when there is an error.",
    )
    p.add_argument("paths", nargs="+", metavar="PATH", help="manifest file, directory, kustomize directory or job spec")
    p.add_argument("--skip", action="append", default=[], metavar="ID", help="turn off a lint rule (repeat, or comma-separate)")
    p.add_argument("--kubernetes-version", metavar="V", help="Kubernetes version of the core schemas, e.g. 1.32 (default: newest known)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE", help="override a job spec field")
    p.add_argument("--json", action="store_true", help="print the findings as JSON")
    p.set_defaults(func=cmd_validate)

    job_sub = job_group(subparsers, parents)
    r = job_sub.add_parser(
        "render", parents=parents, help="write the RayJob of a job spec",
        description="Render a RayJob that runs `python -m raytrain.run SPEC` on a running cluster "
        "(--cluster-selector) or on a cluster made for the job (--cluster).",
    )
    r.add_argument("spec", metavar="SPEC", help="job spec, e.g. jobs/digits.yaml")
    target = r.add_mutually_exclusive_group(required=True)
    target.add_argument("--cluster-selector", metavar="NAME", help="name of a running RayCluster to submit to")
    target.add_argument("--cluster", metavar="PATH", help="RayCluster manifest (or kustomize dir) to create for the job")
    r.add_argument("-o", "--output", metavar="FILE", help="write here instead of stdout")
    r.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a job spec field (carried into the RayJob's entrypoint)")
    r.add_argument("--submission-mode", default="K8sJobMode", choices=["K8sJobMode", "HTTPMode", "SidecarMode"])
    r.add_argument("--working-dir", metavar="URI", help="remote zip (https://…, s3://…, gs://…) or a path in the image")
    r.add_argument("--namespace", metavar="NS", help="namespace of the RayJob (default: the cluster's)")
    r.add_argument("--backoff-limit", type=int, default=2, metavar="N", help="resubmissions after a failure; each resumes the run (default 2)")
    r.add_argument("--deadline-s", type=int, default=86400, metavar="S", help="activeDeadlineSeconds (default 86400)")
    r.add_argument("--ttl-s", type=int, default=600, metavar="S", help="ttlSecondsAfterFinished of a cluster made for the job (default 600)")
    r.set_defaults(func=cmd_job_render)

    c = subparsers.add_parser(
        "check", parents=parents, help="preflight: does a job fit a cluster?",
        description="Check a job spec against a cluster manifest: placement, GPUs, checkpoint volume, "
        "upload size, Ray version. Exit code 1 on any FAIL.",
    )
    c.add_argument("spec", metavar="SPEC", help="job spec, e.g. jobs/digits.yaml")
    c.add_argument("--cluster", required=True, metavar="PATH", help="RayCluster manifest or kustomize dir, e.g. clusters/overlays/prod")
    c.add_argument("--working-dir", default=".", metavar="DIR", help="directory uploaded as the job's working_dir (default .)")
    c.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE", help="override a job spec field")
    c.add_argument("--json", action="store_true", help="print the checks as JSON")
    c.set_defaults(func=cmd_check)


def job_group(subparsers, parents: list[argparse.ArgumentParser]):
    """The one ``job`` command group of a parser, made on first use, for every module that adds
    job subcommands (``job render`` here, ``job apply/status/delete`` in raytrain.kube)."""
    group = getattr(subparsers, "raytrain_job_group", None)
    if group is None:
        job = subparsers.add_parser("job", parents=parents, help="render, apply and follow RayJobs made from job specs")
        group = job.add_subparsers(dest="job_command", metavar="COMMAND", required=True)
        subparsers.raytrain_job_group = group
    return group


def cmd_validate(args: argparse.Namespace) -> int:
    from raytrain.manifests.validate import validate_paths

    skip = [s.strip() for item in args.skip for s in item.split(",") if s.strip()]
    findings = validate_paths(args.paths, skip=skip, kubernetes_version=args.kubernetes_version, overrides=args.overrides)
    errors = [f for f in findings if f.severity == "error"]
    warnings = [f for f in findings if f.severity == "warning"]
    unchecked = [f for f in findings if f.severity == "info"]
    if args.json:
        print(json.dumps([f.to_dict() for f in findings], indent=2))
        return 2 if errors else 0
    for f in errors + warnings:
        label = "" if f.severity == "error" else "warning: "
        print(f"{label}{f.format()}")
        if f.fix:
            print(f"  fix: {f.fix}")
    if unchecked:
        kinds = sorted({f"{f.kind}" for f in unchecked})
        print(f"not schema-checked (no schema known): {len(unchecked)} document(s) of {', '.join(kinds)}")
    print(f"{len(errors)} error(s), {len(warnings)} warning(s)")
    return 2 if errors else 0


def cmd_job_render(args: argparse.Namespace) -> int:
    from raytrain.manifests.render import render_text

    text = render_text(
        args.spec,
        cluster_selector=args.cluster_selector,
        cluster_path=args.cluster,
        submission_mode=args.submission_mode,
        working_dir=args.working_dir,
        namespace=args.namespace,
        backoff_limit=args.backoff_limit,
        active_deadline_s=args.deadline_s,
        ttl_after_finished_s=args.ttl_s,
        overrides=args.overrides,
    )
    if args.output:
        Path(args.output).parent.mkdir(parents=True, exist_ok=True)
        Path(args.output).write_text(text)
        print(f"wrote {args.output}", file=sys.stderr)
    else:
        sys.stdout.write(text)
    return 0


def cmd_check(args: argparse.Namespace) -> int:
    from raytrain.manifests.preflight import preflight
    from raytrain.spec import load_spec

    spec = load_spec(args.spec, args.overrides)
    checks = preflight(spec, args.cluster, working_dir=args.working_dir)
    failed = any(c.status == "FAIL" for c in checks)
    if args.json:
        print(json.dumps([c.to_dict() for c in checks], indent=2))
        return 1 if failed else 0
    print(format_table(checks))
    return 1 if failed else 0


def format_table(checks) -> str:
    width = max(len(c.id) for c in checks)
    lines = [f"{'CHECK'.ljust(width)}  STATUS  DETAIL"]
    for c in checks:
        lines.append(f"{c.id.ljust(width)}  {c.status.ljust(6)}  {c.message}")
        if c.fix and c.status != "PASS":
            lines.append(f"{''.ljust(width)}          fix: {c.fix}")
    return "\n".join(lines)
