"""The CLI commands of the Kubernetes layer: ``cluster apply/status/delete/scale``, ``connect``,
and ``job apply/status/delete`` (added to the one ``job`` group that ``job render`` lives in).

``raytrain.cli`` calls :func:`add_commands`; handlers return exit codes and raise RaytrainErrors.
Nothing here imports kr8s until a handler runs.
"""

from __future__ import annotations

import argparse
import json
import sys


def _connection(parents: list[argparse.ArgumentParser]) -> list[argparse.ArgumentParser]:
    conn = argparse.ArgumentParser(add_help=False)
    conn.add_argument("--kubeconfig", metavar="FILE", help="kubeconfig file (default: $KUBECONFIG or ~/.kube/config)")
    conn.add_argument("--context", metavar="NAME", help="kubeconfig context (default: the current one)")
    conn.add_argument("-n", "--namespace", metavar="NS", help="namespace (default: the manifests' or the context's)")
    return [*parents, conn]


def add_commands(subparsers, parents: list[argparse.ArgumentParser]) -> None:
    from raytrain.manifests.commands import job_group

    conn = _connection(parents)
    cluster = subparsers.add_parser("cluster", parents=parents, help="apply, watch, scale and delete RayClusters on Kubernetes")
    sub = cluster.add_subparsers(dest="cluster_command", metavar="COMMAND", required=True)

    a = sub.add_parser(
        "apply", parents=conn, help="server-side apply manifests and wait for the RayCluster to be ready",
        description="Server-side apply (field manager raytrain) of manifests: namespaces and claims first, the "
        "RayCluster last; then wait for HeadPodReady and RayClusterProvisioned. If the new spec fails "
        "(ReplicaFailure) or is not ready in time, the last spec that became ready is applied again.",
    )
    a.add_argument("paths", nargs="+", metavar="PATH", help="kustomize dir, dir or files, e.g. clusters/overlays/dev")
    a.add_argument("--dry-run", action="store_true", help="show the diff against the live objects and change nothing")
    a.add_argument("--timeout-s", type=float, default=600.0, metavar="S", help="how long to wait for ready (default 600)")
    a.add_argument("--no-rollback", action="store_true", help="keep a spec that fails instead of rolling back")
    a.add_argument("--no-wait", action="store_true", help="apply and return without waiting")
    a.add_argument("--poll-s", type=float, default=2.0, help=argparse.SUPPRESS)
    a.set_defaults(func=cmd_cluster_apply)

    s = sub.add_parser("status", parents=conn, help="state, conditions and ready workers of a RayCluster")
    s.add_argument("name", metavar="NAME")
    s.add_argument("--json", action="store_true", help="print the status as JSON")
    s.set_defaults(func=cmd_cluster_status)

    d = sub.add_parser("delete", parents=conn, help="delete a RayCluster (its checkpoint claim is kept)")
    d.add_argument("name", metavar="NAME")
    d.add_argument("--delete-volume", action="store_true", help="also delete the checkpoint claim (and every checkpoint on it)")
    d.set_defaults(func=cmd_cluster_delete)

    sc = sub.add_parser("scale", parents=conn, help="set a worker group's min and max replicas")
    sc.add_argument("name", metavar="NAME")
    sc.add_argument("--group", required=True, metavar="G", help="worker group name, e.g. gpu-1x")
    sc.add_argument("--min", type=int, dest="min_replicas", metavar="N", help="minReplicas")
    sc.add_argument("--max", type=int, dest="max_replicas", metavar="M", help="maxReplicas")
    sc.set_defaults(func=cmd_cluster_scale)

    c = subparsers.add_parser(
        "connect", parents=conn, help="port-forward to a RayCluster's Jobs API until Ctrl-C",
        description="Open a port-forward to the head's dashboard port (8265) and print RAY_ADDRESS and how to "
        "set the auth token, so `ray job submit` and notebooks reach the cluster.",
    )
    c.add_argument("--cluster", required=True, metavar="NAME", help="RayCluster name")
    c.add_argument("--port", type=int, default=8265, help="local port (default 8265; 0 picks a free one)")
    c.set_defaults(func=cmd_connect)

    jobs = job_group(subparsers, parents)
    ja = jobs.add_parser("apply", parents=conn, help="create the RayJob of a job spec and follow it to the end",
                         description="Create the RayJob that `job render --cluster-selector` writes, on a running "
                         "RayCluster, and follow jobDeploymentStatus/jobStatus until it succeeds or fails.")
    ja.add_argument("spec", metavar="SPEC", help="job spec, e.g. jobs/digits.yaml")
    ja.add_argument("--cluster-selector", required=True, metavar="NAME", help="name of the running RayCluster")
    ja.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE", help="override a job spec field")
    ja.add_argument("--submission-mode", default="K8sJobMode", choices=["K8sJobMode", "HTTPMode", "SidecarMode"])
    ja.add_argument("--working-dir", metavar="URI", help="remote zip or a path in the image")
    ja.add_argument("--no-wait", action="store_true", help="create it and return")
    ja.add_argument("--timeout-s", type=float, default=0.0, metavar="S", help="stop following after S seconds (default: until it ends)")
    ja.add_argument("--poll-s", type=float, default=2.0, help=argparse.SUPPRESS)
    ja.set_defaults(func=cmd_job_apply)

    js = jobs.add_parser("status", parents=conn, help="state of a RayJob")
    js.add_argument("name", metavar="NAME")
    js.add_argument("--json", action="store_true")
    js.set_defaults(func=cmd_job_status)

    jd = jobs.add_parser("delete", parents=conn, help="delete a RayJob")
    jd.add_argument("name", metavar="NAME")
    jd.set_defaults(func=cmd_job_delete)


def target_of(args: argparse.Namespace):
    from raytrain.kube.client import Target

    return Target(kubeconfig=args.kubeconfig, context=args.context, namespace=args.namespace)


def _echo(line: str) -> None:
    print(line, flush=True)


def cmd_cluster_apply(args: argparse.Namespace) -> int:
    from raytrain.kube.clusters import run

    result = run(target_of(args), lambda c: c.apply(
        args.paths, dry_run=args.dry_run, wait=not args.no_wait, timeout_s=args.timeout_s, rollback=not args.no_rollback,
    ), echo=_echo, poll_s=args.poll_s)
    if result.cluster and result.state:
        print(f"RayCluster {result.cluster} in {result.namespace} is {result.state}")
    return 0


def cmd_cluster_status(args: argparse.Namespace) -> int:
    from raytrain.kube.clusters import run

    status = run(target_of(args), lambda c: c.status(args.name), echo=_echo)
    if args.json:
        print(json.dumps(status, indent=2))
    else:
        print(status["line"])
        print(f"  {status['detail']}")
        print("  conditions: " + (", ".join(f"{k}={v}" for k, v in status["conditions"].items()) or "none yet"))
        print(f"  last ready spec recorded: {'yes' if status['last_good_recorded'] else 'no'}")
    return 0 if status["state"] == "ready" else 1


def cmd_cluster_delete(args: argparse.Namespace) -> int:
    from raytrain.kube.clusters import run

    for line in run(target_of(args), lambda c: c.delete(args.name, delete_volume=args.delete_volume), echo=_echo):
        print(line)
    return 0


def cmd_cluster_scale(args: argparse.Namespace) -> int:
    from raytrain.kube.clusters import run

    done = run(target_of(args), lambda c: c.scale(args.name, args.group, args.min_replicas, args.max_replicas), echo=_echo)
    print(f"RayCluster {args.name}: group {done['group']} min {done['minReplicas']} max {done['maxReplicas']}")
    return 0


def cmd_connect(args: argparse.Namespace) -> int:
    from raytrain.kube.forward import connect

    return connect(args.cluster, args.namespace, target=target_of(args), echo=_echo, local_port=args.port)


def cmd_job_apply(args: argparse.Namespace) -> int:
    from raytrain.kube.jobs import run

    result = run(target_of(args), lambda j: j.apply(
        args.spec, args.cluster_selector, overrides=args.overrides, wait=not args.no_wait, timeout_s=args.timeout_s,
        submission_mode=args.submission_mode, working_dir=args.working_dir,
    ), echo=_echo, poll_s=args.poll_s)
    print(f"RayJob {result['name']}: {result['state']}")
    return 0


def cmd_job_status(args: argparse.Namespace) -> int:
    from raytrain.kube.jobs import run

    status = run(target_of(args), lambda j: j.status(args.name), echo=_echo)
    if args.json:
        print(json.dumps(status, indent=2))
    else:
        print(f"{status['name']}: {status['state']} ({status['detail']})")
    return 1 if status["state"] == "failed" else 0


def cmd_job_delete(args: argparse.Namespace) -> int:
    from raytrain.kube.jobs import run

    gone = run(target_of(args), lambda j: j.delete(args.name), echo=_echo)
    print(f"RayJob/{args.name} {'deleted' if gone else 'was not there'}", file=sys.stdout)
    return 0
