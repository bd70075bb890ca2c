"""`raytrain up --local | status | down`: argument parsing and printing over raytrain.local."""

from __future__ import annotations

import argparse

from raytrain.errors import UserInputError


def _state_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--state-dir", metavar="DIR",
                   help="where the record of the started cluster lives (default: ./.raytrain/local)")


def add_commands(subparsers, parents: list) -> None:
    fmt = argparse.RawDescriptionHelpFormatter
    p = subparsers.add_parser(
        "up", parents=parents, formatter_class=fmt,
        help="start a local Ray cluster that mirrors a RayCluster manifest",
        description="Start a real local Ray cluster shaped like the RayCluster in PATH (a YAML file, a "
        "directory of them, or a kustomize directory). Ray's own autoscaler, with its fake multinode "
        "provider, adds and removes simulated worker nodes: one node type per worker group, "
        "min/max from minReplicas/maxReplicas, CPUs from the pod limits scaled to this machine, GPUs "
        "as logical GPUs (the computation runs on CPU). The head holds no training resources. A local "
        "directory stands in for the checkpoint volume.",
        epilog="examples:\n  raytrain up --local clusters/overlays/dev\n"
        "  raytrain up --local clusters/base --scale 0.25 --group gpu-1x:cpus=1,gpus=1,max=2",
    )
    p.add_argument("--local", metavar="PATH", required=True,
                   help="RayCluster manifest: YAML file, directory, or kustomize directory")
    p.add_argument("--scale", type=float, metavar="F",
                   help="multiply every group's CPU limit by F (default: fit the biggest group on this machine)")
    p.add_argument("--group", dest="groups", action="append", default=[], metavar="NAME:KEY=V,...",
                   help="override one group: cpus=, gpus=, min=, max= (repeatable)")
    p.add_argument("--volume", metavar="DIR",
                   help="local directory standing in for the checkpoint volume (default: ./.raytrain/storage)")
    p.add_argument("--cluster", metavar="NAME", help="which RayCluster, when PATH renders several")
    p.add_argument("--idle-timeout-s", type=float, metavar="S",
                   help="remove idle worker nodes after S seconds (default: the manifest's, else 60)")
    p.add_argument("--timeout-s", type=float, default=180.0, metavar="S",
                   help="how long to wait for the Jobs API and the min workers (default 180)")
    _state_arg(p)
    p.set_defaults(func=cmd_up)

    p = subparsers.add_parser(
        "status", parents=parents, help="the local cluster: nodes per group, resources, demand, jobs",
        description="Show the local mirror started by `raytrain up --local`: ready and pending nodes per "
        "worker group, resources in use, pending resource demand, and running jobs.",
    )
    _state_arg(p)
    p.set_defaults(func=cmd_status)

    p = subparsers.add_parser(
        "down", parents=parents, help="stop the local cluster started by `raytrain up --local`",
        description="Stop exactly the processes of the local cluster recorded in the state dir (and "
        "nothing else: other Ray clusters on this machine are left alone). The volume is kept.",
    )
    p.add_argument("--keep-logs", action="store_true", help="keep the cluster's temp dir with its logs")
    _state_arg(p)
    p.set_defaults(func=cmd_down)


def cmd_up(args) -> int:
    from raytrain.local.cluster import gpu_note, up

    if args.timeout_s <= 0:
        raise UserInputError(f"--timeout-s {args.timeout_s}: must be above 0", "write e.g. --timeout-s 120")
    lc = up(args.local, scale=args.scale, groups=args.groups, volume=args.volume, state_dir=args.state_dir,
            cluster=args.cluster, idle_timeout_s=args.idle_timeout_s, wait_s=args.timeout_s)
    print(f"local cluster {lc.name} is up (CPU scale {lc.scale:g})")
    print(f"  Jobs API / dashboard: {lc.dashboard_url}")
    print(f"  GCS address:          {lc.gcs_address}")
    print(f"  auth token:           {lc.token_path}")
    print(f"  checkpoint volume:    {lc.volume}  (RAYTRAIN_STORAGE_PATH for every job)")
    print(f"  logs:                 {lc.temp_dir}/session_latest/logs")
    print("  head: no training resources")
    for t in lc.node_types:
        gpus = f", {t['gpus']} logical GPU" if t["gpus"] else ""
        print(f"  group {t['group']}: {t['cpus']} CPU{gpus} per node (pod limit {t['limit_cpus']:g} CPU), "
              f"min {t['min_workers']}, max {t['max_workers']}")
    note = gpu_note(lc.node_types)
    if note:
        print(f"  note: {note}")
    print(f"  idle nodes are removed after {lc.idle_timeout_s:g}s")
    print("submit: raytrain submit jobs/digits.yaml -f      stop: raytrain down"
          + (f" --state-dir {args.state_dir}" if args.state_dir else ""))
    return 0


def cmd_status(args) -> int:
    from raytrain.local.cluster import gpu_note, status

    st = status(args.state_dir)
    lc = st.cluster
    print(f"local cluster {lc.name} at {lc.dashboard_url} (volume {lc.volume})")
    print(f"  {'GROUP':<16}{'READY':>6}{'PENDING':>8}{'MIN':>5}{'MAX':>5}  PER NODE")
    for g in st.groups:
        per = f"{g.cpus} CPU" + (f", {g.gpus} GPU (logical)" if g.gpus else "")
        print(f"  {g.group:<16}{g.ready:>6}{g.pending:>8}{g.min_workers:>5}{g.max_workers:>5}  {per}")
    used = ", ".join(f"{k} {u:g}/{t:g}" for k, (u, t) in sorted(st.usage.items())) or "-"
    print(f"  resources in use: {used}")
    if st.demand:
        print("  pending demand: " + ", ".join(f"{n} x {_res(r)}" for r, n in st.demand))
    else:
        print("  pending demand: none")
    if st.failures:
        print("  failed launches: " + ", ".join(st.failures))
    if st.jobs:
        print("  running jobs:")
        for j in st.jobs:
            print(f"    {j.submission_id}  run={j.run}  {j.state.value}")
    else:
        print("  running jobs: none")
    note = gpu_note(lc.node_types)
    if note:
        print(f"  note: {note}")
    return 0


def _res(r: dict) -> str:
    return "{" + ", ".join(f"{k}: {v:g}" for k, v in sorted(r.items())) + "}"


def cmd_down(args) -> int:
    from raytrain.local.cluster import default_state_dir, down

    if not down(args.state_dir, keep_logs=args.keep_logs):
        print(f"no local cluster recorded in {args.state_dir or default_state_dir()}; nothing to stop")
        return 0
    print("local cluster stopped")
    return 0
