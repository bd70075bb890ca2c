"""An example of a raw Ray Train per-worker function that uses raytrain's checkpoint helpers.

Name it in a spec as ``train.loop: jobs.examples.raw_loop:train_loop``. It gets the resolved
job spec as a dict; ``raytrain.load_checkpoint()`` returns the state to resume from (or None)
and ``raytrain.save_checkpoint(state, metrics, step)`` must be called by every worker.
"""

import torch
import ray.train
import ray.train.torch

import raytrain


def train_loop(spec: dict) -> None:
    train = spec["train"]
    torch.manual_seed(train["seed"])
    model = ray.train.torch.prepare_model(torch.nn.Linear(4, 1))
    opt = torch.optim.SGD(model.parameters(), lr=train["lr"])
    start = 0
    state = raytrain.load_checkpoint()
    if state is not None:
        model.module.load_state_dict(state["model"]) if hasattr(model, "module") else model.load_state_dict(state["model"])
        opt.load_state_dict(state["optimizer"])
        start = state["step"]
    w_true = torch.tensor([[1.0, -2.0, 3.0, 0.5]])
    world = ray.train.get_context().get_world_size()
    for step in range(start + 1, train["max_steps"] + 1):
        x = torch.randn(train["batch_size"], 4)
        loss = torch.nn.functional.mse_loss(model(x), x @ w_true.T)
        opt.zero_grad()
        loss.backward()
        opt.step()
        metrics = {"step": step, "loss": loss.item(), "workers": world, "total_steps": train["max_steps"]}
        if step % spec["checkpoint"]["every_n_steps"] == 0 or step == train["max_steps"]:
            raw = model.module if hasattr(model, "module") else model
            raytrain.save_checkpoint({"model": raw.state_dict(), "optimizer": opt.state_dict(), "step": step},
                                     metrics, step)
        elif step % train["report_every_n_steps"] == 0:
            raytrain.report(metrics)
