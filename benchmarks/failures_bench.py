"""Checkpoint and recovery figures for raytrain's failure handling (issue 6). Not asserted.

  write     durable checkpoint write (raytrain's commit: torch.save hashed on the way out +
            fsync + manifest + rename + fsync of the directory) of a --size-gib state into --dir, against `dd ... conv=fdatasync` of the
            same size in the same directory
  blocked   seconds the training loop is blocked per checkpoint, checkpoint.mode sync vs
            async, from real runs (local Ray cluster, tests.integration.slow_task)
  recovery  a worker node of a 2-node elastic run is SIGKILLed; time from the kill to the
            first step after the restore, and steps lost (tests.integration.multinode)

Run from the repository root:
  PYTHONPATH=. python benchmarks/failures_bench.py write --size-gib 1 --dir .raytrain/bench
  PYTHONPATH=. python benchmarks/failures_bench.py blocked --width 2048
  PYTHONPATH=. python benchmarks/failures_bench.py recovery --repeat 1
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))


def bench_write(size_gib: float, directory: Path, repeat: int) -> list[dict]:
    import torch

    from raytrain.runtime import checkpoint as store

    directory.mkdir(parents=True, exist_ok=True)
    nbytes = int(size_gib * 2**30)
    state = {"w": torch.ones(nbytes // 4, dtype=torch.float32)}
    print(f"state {nbytes / 2**30:.2f} GiB into {directory} ({_fs_type(directory)})")
    results = []
    for i in range(repeat):
        run_dir = Path(tempfile.mkdtemp(prefix="ckpt-bench-", dir=directory))
        try:
            t0 = time.perf_counter()
            store.write_checkpoint_dir(state, run_dir / "staging", 1)  # what commit does before the rename
            t1 = time.perf_counter()
            os.rename(run_dir / "staging", run_dir / "checkpoint_00000001")
            store._fsync_path(run_dir)
            total = time.perf_counter() - t0
            hash_start = time.perf_counter()
            store._sha256(run_dir / "checkpoint_00000001" / "state.pt")
            hash_s = time.perf_counter() - hash_start
            _evict(run_dir / "checkpoint_00000001" / "state.pt")  # a restore reads from disk, not the page cache
            r0 = time.perf_counter()
            store.read_checkpoint_dir(run_dir / "checkpoint_00000001")  # verify + torch.load, as a resume does
            restore_s = time.perf_counter() - r0
        finally:
            shutil.rmtree(run_dir, ignore_errors=True)
        dd_target = directory / f"dd-{os.getpid()}.bin"
        try:
            d0 = time.perf_counter()
            subprocess.run(["dd", "if=/dev/zero", f"of={dd_target}", "bs=16M", f"count={max(1, nbytes // 2**24)}",
                            "conv=fdatasync", "status=none"], check=True)
            dd_s = time.perf_counter() - d0
        finally:
            dd_target.unlink(missing_ok=True)
        gib = nbytes / 2**30
        print(f"  try {i + 1}: raytrain commit {total:.2f} s = {gib / total:.2f} GiB/s "
              f"(verifying it on resume re-reads it: {hash_s:.2f} s); dd conv=fdatasync {dd_s:.2f} s = {gib / dd_s:.2f} GiB/s; "
              f"ratio {dd_s / total:.2f}; restore (verify + load) {restore_s:.2f} s = {gib / restore_s:.2f} GiB/s")
        results.append({"try": i + 1, "bytes": nbytes, "fs": _fs_type(directory), "commit_s": total, "dd_s": dd_s,
                        "hash_s": hash_s, "restore_s": restore_s, "ratio_to_dd": dd_s / total})
    return results


def _evict(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)


def _fs_type(path: Path) -> str:
    out = subprocess.run(["stat", "-f", "-c", "%T", str(path)], capture_output=True, text=True)
    return out.stdout.strip() or "?"


def _spec(path: Path, name: str, **kw) -> Path:
    import yaml

    data = {"name": name,
            "train": {"task": "tests.integration.slow_task:SlowTask", "max_steps": kw["steps"], "batch_size": 8,
                      "report_every_n_steps": 10, "config": {"step_s": kw.get("step_s", 0.05), "width": kw["width"]}},
            "scaling": {"workers": kw.get("workers", 1)},
            "checkpoint": {"every_n_steps": kw["every"], "keep": 2, "mode": kw.get("mode", "sync")},
            "failure": {"max_failures": 2}}
    data["scaling"].update(kw.get("scaling", {}))
    path.write_text(yaml.safe_dump(data))
    return path


def bench_blocked(width: int, steps: int, every: int) -> dict:
    work = Path(tempfile.mkdtemp(prefix="blocked-bench-"))
    env = {**os.environ, "PYTHONPATH": str(REPO), "PYTHONUNBUFFERED": "1"}
    env.pop("RAY_ADDRESS", None)
    results = {}
    try:
        for mode in ("sync", "async"):
            spec = _spec(work / f"{mode}.yaml", f"blocked-{mode}", width=width, steps=steps, every=every, mode=mode)
            out = subprocess.run([sys.executable, "-m", "raytrain.cli", "run", str(spec), "--storage", str(work / "s")],
                                 cwd=REPO, env=env, capture_output=True, text=True, timeout=900)
            if out.returncode != 0:
                print(out.stdout[-2000:], out.stderr[-2000:])
                raise SystemExit(f"{mode} run failed")
            result = json.loads((work / "s" / f"blocked-{mode}" / "result.json").read_text())
            ck = result["checkpoints"]
            blocked = sorted(c["blocked_s"] for c in ck)
            write = sorted(c["write_s"] for c in ck)
            mib = ck[0]["bytes"] / 2**20
            print(f"{mode:5s}: {len(ck)} checkpoints of {mib:.0f} MiB; blocked median {blocked[len(blocked) // 2]:.3f} s "
                  f"(max {blocked[-1]:.3f}); write median {write[len(write) // 2]:.3f} s; "
                  f"run wall {result['wall_time_s']:.1f} s for {steps} steps")
            results[mode] = {"checkpoints": ck, "wall_time_s": result["wall_time_s"], "steps": steps, "width": width}
        return results
    finally:
        shutil.rmtree(work, ignore_errors=True)


def bench_recovery(repeat: int) -> list[dict]:
    from tests.integration.multinode import Cluster

    work = Path(tempfile.mkdtemp(prefix="recovery-bench-"))
    cluster = Cluster()
    results = []
    try:
        for i in range(repeat):
            cluster.add_node()
            victim = cluster.add_node()
            spec = _spec(work / "rec.yaml", f"rec-{i}", width=64, steps=200, every=20, workers=[1, 2])
            env = {**cluster.env(), "PYTHONPATH": str(REPO), "PYTHONUNBUFFERED": "1"}
            proc = subprocess.Popen([sys.executable, "-m", "raytrain.run", str(spec), "--address", cluster.address,
                                     "--storage", str(work / "s")], cwd=REPO, env=env, stdout=subprocess.PIPE,
                                    stderr=subprocess.STDOUT, text=True, start_new_session=True)
            killed_at = None
            for line in proc.stdout:
                if killed_at is None and "checkpoint step 60" in line:
                    killed_at = victim.kill(signal.SIGKILL)
            proc.wait()
            result = json.loads((work / "s" / f"rec-{i}" / "result.json").read_text())
            f = result["failures"][0]
            print(f"try {i + 1}: kill -> first step after restore {f['first_step_at'] - killed_at:.2f} s "
                  f"(recorded recovery_s {f['recovery_s']:.2f} s, from the last heartbeat); "
                  f"{f['steps_lost']} steps lost (every_n_steps 20); dead node reason: "
                  f"{(f['dead_nodes'] or [{}])[0].get('reason')}")
            results.append({"try": i + 1, "kill_to_first_step_s": f["first_step_at"] - killed_at,
                            "recovery_s": f["recovery_s"], "steps_lost": f["steps_lost"], "every_n_steps": 20,
                            "dead_node_reason": (f["dead_nodes"] or [{}])[0].get("reason")})
            cluster.remove_all_nodes()
        print(f"GCS health checks: {Cluster.HEALTH_CHECK}")
        return results
    finally:
        cluster.stop()
        shutil.rmtree(work, ignore_errors=True)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="what", required=True)
    w = sub.add_parser("write")
    w.add_argument("--size-gib", type=float, default=1.0)
    w.add_argument("--dir", type=Path, default=REPO / ".raytrain" / "bench")
    w.add_argument("--repeat", type=int, default=2)
    b = sub.add_parser("blocked")
    b.add_argument("--width", type=int, default=2048)
    b.add_argument("--steps", type=int, default=60)
    b.add_argument("--every", type=int, default=10)
    r = sub.add_parser("recovery")
    r.add_argument("--repeat", type=int, default=1)
    a = p.parse_args()
    if a.what == "write":
        bench_write(a.size_gib, a.dir, a.repeat)
    elif a.what == "blocked":
        bench_blocked(a.width, a.steps, a.every)
    else:
        bench_recovery(a.repeat)


if __name__ == "__main__":
    main()
