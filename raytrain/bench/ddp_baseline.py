"""Plain PyTorch DDP, the baseline of ``raytrain bench parity``: run it under
``torchrun --nproc-per-node N -m raytrain.bench.ddp_baseline --config JSON``.

It trains what raytrain's built-in loop trains for a ``synthetic`` task (the same model built by
the same Task, the same seeded data order cut into the same per-worker batches, AdamW, gloo or
NCCL) and reports the same way: every ``report_every`` steps it all-reduces the loss and prints one
JSON line with the window's samples/s, timed exactly like raytrain.runtime.loop times its windows.
At the end it evaluates and rank 0 saves model and optimizer, as the built-in loop does, so the
end-to-end wall times compare like for like. ``--allreduce`` instead times an all-reduce of a
gradient-sized buffer (what DDP sends per step).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time

import torch
import torch.distributed as dist


def _threads(cfg: dict) -> None:
    n = int(cfg.get("threads") or os.environ.get("OMP_NUM_THREADS") or 1)
    torch.set_num_threads(n)


def train(cfg: dict) -> None:
    from raytrain.runtime.loop import _all_sum, _epoch_order, _evaluate, _fetch, _seed_all
    from raytrain.runtime.tasks.synthetic import SyntheticTask

    use_gpu = bool(cfg.get("use_gpu"))
    dist.init_process_group("nccl" if use_gpu else "gloo")
    rank, world = dist.get_rank(), dist.get_world_size()
    device = torch.device(f"cuda:{int(os.environ.get('LOCAL_RANK', 0))}" if use_gpu else "cpu")
    if use_gpu:
        torch.cuda.set_device(device)
    task = SyntheticTask(cfg["task_config"], cfg.get("seed", 0))
    _seed_all(cfg.get("seed", 0))
    raw_model = task.build_model().to(device)
    model = torch.nn.parallel.DistributedDataParallel(raw_model, device_ids=[device.index] if use_gpu else None)
    optimizer = task.configure_optimizer(model.parameters(), cfg.get("lr", 1e-3))
    train_set, eval_set = task.train_data(), task.eval_data()
    batch, steps, every = cfg["batch_size"], cfg["steps"], cfg["report_every"]
    n, global_batch = len(train_set), world * batch
    _seed_all(cfg.get("seed", 0) + 7919 * rank)
    step, epoch, pos = 0, 0, 0
    order = _epoch_order(n, cfg.get("seed", 0), epoch)
    if rank == 0:
        print(json.dumps({"event": "start", "time": time.time(), "workers": world,
                          "threads": torch.get_num_threads()}), flush=True)
    window_start, window_samples = time.perf_counter(), 0
    while step < steps:
        if pos + global_batch > n:
            epoch, pos = epoch + 1, 0
            order = _epoch_order(n, cfg.get("seed", 0), epoch)
            continue
        x = _fetch(train_set, order[pos + rank * batch: pos + (rank + 1) * batch])
        x = tuple(t.to(device, non_blocking=True) for t in x)
        loss = task.loss(model, x)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        pos += global_batch
        step += 1
        window_samples += global_batch
        if step % every and step < steps:
            continue
        elapsed = time.perf_counter() - window_start
        loss_mean = _all_sum({"loss": loss.detach().cpu()})["loss"] / world
        if rank == 0:
            print(json.dumps({"time": time.time(), "step": step, "loss": loss_mean,
                              "samples_per_s": window_samples / elapsed,
                              "step_time_s": elapsed / max(1, round(window_samples / global_batch))}), flush=True)
        window_start, window_samples = time.perf_counter(), 0
    if eval_set is not None and not use_gpu:
        metrics = _evaluate(task, raw_model, eval_set, rank, world, max(batch, 256))
        if rank == 0:
            print(json.dumps({"event": "eval", **metrics}), flush=True)
    if rank == 0:
        with tempfile.TemporaryDirectory() as d:
            torch.save({"model": raw_model.state_dict(), "optimizer": optimizer.state_dict()}, os.path.join(d, "s.pt"))
    dist.barrier()
    dist.destroy_process_group()


def allreduce(cfg: dict) -> None:
    """Median seconds of an all-reduce of ``numel`` float32 values (the model's gradient size)."""
    use_gpu = bool(cfg.get("use_gpu"))
    dist.init_process_group("nccl" if use_gpu else "gloo")
    device = torch.device(f"cuda:{int(os.environ.get('LOCAL_RANK', 0))}" if use_gpu else "cpu")
    buf = torch.ones(int(cfg["numel"]), dtype=torch.float32, device=device)
    times = []
    for i in range(int(cfg.get("iters", 30)) + 5):
        dist.barrier()
        t0 = time.perf_counter()
        dist.all_reduce(buf)
        if use_gpu:
            torch.cuda.synchronize()
        if i >= 5:
            times.append(time.perf_counter() - t0)
    if dist.get_rank() == 0:
        times.sort()
        print(json.dumps({"event": "allreduce", "numel": int(cfg["numel"]), "median_s": times[len(times) // 2],
                          "min_s": times[0], "max_s": times[-1]}), flush=True)
    dist.destroy_process_group()


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m raytrain.bench.ddp_baseline", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config", required=True, help="JSON: task_config, batch_size, steps, report_every, lr, seed, threads, use_gpu")
    p.add_argument("--allreduce", action="store_true", help="time an all-reduce of config numel floats instead")
    a = p.parse_args(argv)
    cfg = json.loads(a.config)
    _threads(cfg)
    (allreduce if a.allreduce else train)(cfg)
    return 0


if __name__ == "__main__":
    sys.exit(main())
