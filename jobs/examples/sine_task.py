"""An example of your own task: fit y = sin(x) with a small MLP.

Name it in a spec as ``train.task: jobs.examples.sine_task:SineTask`` (a ``module:Class``
importable from the directory you run or submit from). raytrain's loop does the rest:
DDP, sharding, metrics, evaluation, checkpoints and exact resume.
"""

import math

import torch
from torch import nn
from torch.utils.data import TensorDataset

import raytrain


class SineTask(raytrain.Task):
    def _points(self, n, offset):
        g = torch.Generator().manual_seed(self.seed + offset)
        x = torch.rand(n, 1, generator=g) * 2 * math.pi - math.pi
        return TensorDataset(x, torch.sin(x))

    def build_model(self):
        width = int(self.config.get("width", 64))
        return nn.Sequential(nn.Linear(1, width), nn.Tanh(), nn.Linear(width, width), nn.Tanh(), nn.Linear(width, 1))

    def train_data(self):
        return self._points(int(self.config.get("num_samples", 4096)), 0)

    def eval_data(self):
        return self._points(512, 1)

    def loss(self, model, batch):
        x, y = batch
        return nn.functional.mse_loss(model(x), y)

    def eval_metrics(self, sums):
        mse = sums["loss_sum"] / sums["count"]
        return {"val_loss": mse, "val_rmse": math.sqrt(mse)}
