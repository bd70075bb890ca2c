"""The built-in per-worker training loop for ``train.task`` specs.

Data order is raytrain's own: each epoch is a seeded permutation of the whole training set,
cut into global batches of ``workers x batch_size``; worker r takes the r-th slice. The
position in that permutation is part of every checkpoint, so a resumed run continues with
exactly the next batch, whatever the worker count it resumes with.
"""

from __future__ import annotations

import random
import time
from typing import Any

import numpy as np
import torch
import torch.distributed as dist

from raytrain.errors import SpecError
from raytrain.runtime import checkpoint as store
from raytrain.spec import JobSpec


def _epoch_order(n: int, seed: int, epoch: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed * 1_000_003 + epoch)
    return torch.randperm(n, generator=g)


def _fetch(dataset, idx: torch.Tensor):
    tensors = getattr(dataset, "tensors", None)
    if tensors is not None:
        return tuple(t[idx] for t in tensors)
    from torch.utils.data import default_collate

    return default_collate([dataset[int(i)] for i in idx])


def _rng_state() -> dict[str, Any]:
    return {"torch": torch.get_rng_state(), "numpy": np.random.get_state(), "python": random.getstate()}


def _set_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    np.random.set_state(state["numpy"])
    random.setstate(state["python"])


def _seed_all(seed: int) -> None:
    torch.manual_seed(seed)
    np.random.seed(seed % (2**32))
    random.seed(seed)


def _all_sum(values: dict[str, torch.Tensor]) -> dict[str, float]:
    keys = sorted(values)
    packed = torch.stack([values[k].detach().double().reshape(()) for k in keys])
    if dist.is_available() and dist.is_initialized():
        dist.all_reduce(packed)
    return {k: float(v) for k, v in zip(keys, packed)}


def _evaluate(task, model, dataset, rank: int, world: int, batch_size: int) -> dict[str, float]:
    """Each worker evaluates its share of the held-out set; the sums are added across workers."""
    model.eval()
    sums: dict[str, torch.Tensor] = {}
    idx_all = torch.arange(rank, len(dataset), world)
    with torch.no_grad():
        for start in range(0, len(idx_all), batch_size):
            for key, value in task.eval_step(model, _fetch(dataset, idx_all[start : start + batch_size])).items():
                sums[key] = sums.get(key, torch.zeros((), dtype=torch.float64)) + value.double()
    if not sums:  # this worker's share was empty: still take part in the all-reduce
        probe = task.eval_step(model, _fetch(dataset, torch.arange(0, min(1, len(dataset)))))
        sums = {k: torch.zeros((), dtype=torch.float64) for k in probe}
    model.train()
    return {k: float(v) for k, v in task.eval_metrics(_all_sum(sums)).items()}


def train_task_loop(spec: JobSpec) -> None:
    import ray.train
    import ray.train.torch

    from raytrain.runtime.tasks import resolve_task

    ctx = ray.train.get_context()
    rank, world = ctx.get_world_rank(), ctx.get_world_size()
    t = spec.train
    task = resolve_task(t.task)(t.config, t.seed)

    _seed_all(t.seed)  # identical initial weights on every worker
    raw_model = task.build_model()
    model = ray.train.torch.prepare_model(raw_model)
    optimizer = task.configure_optimizer(model.parameters(), t.lr)
    train_set, eval_set = task.train_data(), task.eval_data()

    n = len(train_set)
    global_batch = world * t.batch_size
    steps_per_epoch = n // global_batch
    if steps_per_epoch == 0:
        raise SpecError(
            f"train.batch_size: {t.batch_size} per worker x {world} workers is more than the "
            f"{n} training samples",
            "lower train.batch_size or scaling.workers",
        )
    total_steps = t.max_steps if t.max_steps is not None else t.epochs * steps_per_epoch
    scheduler = task.configure_scheduler(optimizer, total_steps)

    step, epoch, pos = 0, 0, 0
    state = store.load_checkpoint()
    if state is not None:
        raw_model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        if scheduler is not None and state.get("scheduler") is not None:
            scheduler.load_state_dict(state["scheduler"])
        step, epoch, pos = state["step"], state["epoch"], state["pos"]
        rng_states = state.get("rng") or []
        if len(rng_states) == world:
            _set_rng_state(rng_states[rank])
        else:  # a different worker count: fresh, but still reproducible, per-worker streams
            _seed_all(t.seed + 7919 * rank + step)
    else:
        _seed_all(t.seed + 7919 * rank)

    store.push_progress(
        {
            "event": "start",
            "step": step,
            "epoch": epoch,
            "workers": world,
            "total_steps": total_steps,
            "resumed_from": state.get("_resumed_from") if state else None,
            # What was reported with the checkpoint: a driver that died before it read that
            # report can still record it, so the metric history has no gap at the resume.
            "checkpoint_metrics": state.get("metrics") if state else None,
            "nodes": store._CONTEXT.get("nodes"),
        }
    )

    def finished() -> bool:
        if t.max_steps is not None:
            return step >= t.max_steps
        return epoch >= t.epochs or (epoch == t.epochs - 1 and pos + global_batch > n)

    order = _epoch_order(n, t.seed, epoch)
    window_start, window_samples, last_metrics = time.perf_counter(), 0, {}
    eval_every, ckpt_every = t.eval_every_n_steps, spec.checkpoint.every_n_steps
    preemption_saved = False
    while not finished():
        if pos + global_batch > n:
            epoch, pos = epoch + 1, 0
            order = _epoch_order(n, t.seed, epoch)
            continue
        batch = _fetch(train_set, order[pos + rank * t.batch_size : pos + (rank + 1) * t.batch_size])
        loss = task.loss(model, batch)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        if scheduler is not None:
            scheduler.step()
        pos += global_batch
        step += 1
        window_samples += global_batch
        store.heartbeat(step)

        done = finished()
        do_eval = eval_set is not None and (done or (eval_every and step % eval_every == 0))
        do_ckpt = done or step % ckpt_every == 0
        do_report = done or do_ckpt or do_eval or step % t.report_every_n_steps == 0
        if not do_report:
            continue
        if not done and not preemption_saved and store.preemption_pending(step):
            preemption_saved = do_ckpt = True  # a last checkpoint before the node goes
        elapsed = time.perf_counter() - window_start
        steps_in_window = max(1, round(window_samples / global_batch))
        loss_mean = _all_sum({"loss": loss.detach()})["loss"] / world
        metrics = {
            "step": step,
            "epoch": epoch + pos / (steps_per_epoch * global_batch),
            "total_steps": total_steps,
            "loss": loss_mean,
            "samples_per_s": window_samples / elapsed,
            "samples_per_s_per_worker": window_samples / elapsed / world,
            "step_time_s": elapsed / steps_in_window,
            "lr": optimizer.param_groups[0]["lr"],
            "workers": world,
        }
        if do_eval:
            metrics.update(_evaluate(task, raw_model, eval_set, rank, world, max(t.batch_size, 256)))
        last_metrics.update(metrics)
        if do_ckpt:
            rng = [None] * world
            if dist.is_available() and dist.is_initialized():
                dist.all_gather_object(rng, _rng_state())
            else:
                rng = [_rng_state()]
            ckpt_state = {
                "model": raw_model.state_dict(),
                "optimizer": optimizer.state_dict(),
                "scheduler": scheduler.state_dict() if scheduler is not None else None,
                "step": step,
                "epoch": epoch,
                "pos": pos,
                "rng": rng,
                "world_size": world,
                "metrics": dict(last_metrics),
            }
            store.save_checkpoint(ckpt_state, last_metrics if spec.checkpoint.score_metric else metrics, step)
        else:
            store.report(metrics)
        window_start, window_samples = time.perf_counter(), 0
