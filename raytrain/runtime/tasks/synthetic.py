"""Generated tensors for benchmarks: an MLP (or a transformer block) of configurable size."""

from __future__ import annotations

import torch
from torch import nn
from torch.utils.data import TensorDataset

from raytrain.runtime.tasks.base import Task


class SyntheticTask(Task):
    """Config: ``model`` (mlp | transformer), ``input_size`` (784), ``width`` (512),
    ``depth`` (2 hidden layers), ``num_classes`` (10), ``num_samples`` (8192),
    ``seq_len`` (64, transformer only)."""

    def _cfg(self, key, default):
        return type(default)(self.config.get(key, default))

    def build_model(self) -> nn.Module:
        width, depth = self._cfg("width", 512), self._cfg("depth", 2)
        classes = self._cfg("num_classes", 10)
        if self._cfg("model", "mlp") == "transformer":
            return _TransformerClassifier(self._cfg("input_size", 64), width, classes)
        layers, prev = [], self._cfg("input_size", 784)
        for _ in range(depth):
            layers += [nn.Linear(prev, width), nn.ReLU()]
            prev = width
        layers.append(nn.Linear(prev, classes))
        return nn.Sequential(*layers)

    def _make(self, n, offset):
        g = torch.Generator().manual_seed(self.seed * 7919 + offset)
        classes = self._cfg("num_classes", 10)
        if self._cfg("model", "mlp") == "transformer":
            x = torch.randn(n, self._cfg("seq_len", 64), self._cfg("input_size", 64), generator=g)
        else:
            x = torch.randn(n, self._cfg("input_size", 784), generator=g)
        y = torch.randint(0, classes, (n,), generator=g)
        return TensorDataset(x, y)

    def train_data(self):
        return self._make(self._cfg("num_samples", 8192), 0)

    def eval_data(self):
        return self._make(max(self._cfg("num_samples", 8192) // 8, 1), 1)

    def loss(self, model, batch):
        x, y = batch
        return nn.functional.cross_entropy(model(x), y)


class _TransformerClassifier(nn.Module):
    def __init__(self, d_in: int, width: int, classes: int):
        super().__init__()
        self.proj = nn.Linear(d_in, width)
        self.block = nn.TransformerEncoderLayer(width, nhead=8, dim_feedforward=4 * width, batch_first=True)
        self.head = nn.Linear(width, classes)

    def forward(self, x):
        return self.head(self.block(self.proj(x)).mean(dim=1))
