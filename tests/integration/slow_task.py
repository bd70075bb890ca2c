"""A task whose steps take a known time (a sleep, not CPU), so that failure tests can kill,
drain or fill things mid-training on a 2-core machine shared with other tests.

Config: ``step_s`` (0.05) seconds per step, ``width`` (64) of the MLP, which sets the size
of the checkpointed state (about 12 x width^2 bytes with Adam).
"""

from __future__ import annotations

import time

import torch
from torch import nn
from torch.utils.data import TensorDataset

import raytrain


class SlowTask(raytrain.Task):
    def build_model(self):
        w = int(self.config.get("width", 64))
        return nn.Sequential(nn.Linear(8, w), nn.ReLU(), nn.Linear(w, w), nn.ReLU(), nn.Linear(w, 1))

    def train_data(self):
        g = torch.Generator().manual_seed(self.seed)
        x = torch.randn(1 << 16, 8, generator=g)
        return TensorDataset(x, x.sum(dim=1, keepdim=True))

    def eval_data(self):
        return None

    def loss(self, model, batch):
        time.sleep(float(self.config.get("step_s", 0.05)))
        x, y = batch
        return nn.functional.mse_loss(model(x), y)
