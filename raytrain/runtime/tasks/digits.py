"""Handwritten digits: scikit-learn's bundled 8x8 images (no download), a small MLP."""

from __future__ import annotations

import torch
from torch import nn
from torch.utils.data import TensorDataset

from raytrain.runtime.tasks.base import Task


class DigitsTask(Task):
    """Config: ``hidden`` (units, default 128), ``test_fraction`` (default 0.2), ``dropout``."""

    def _split(self):
        if not hasattr(self, "_data"):
            from sklearn.datasets import load_digits
            from sklearn.model_selection import train_test_split

            x, y = load_digits(return_X_y=True)
            x = (x / 16.0).astype("float32")
            x_tr, x_te, y_tr, y_te = train_test_split(
                x,
                y,
                test_size=float(self.config.get("test_fraction", 0.2)),
                random_state=1234,  # a fixed held-out set, whatever the training seed
                stratify=y,
            )
            self._data = (
                TensorDataset(torch.from_numpy(x_tr), torch.from_numpy(y_tr).long()),
                TensorDataset(torch.from_numpy(x_te), torch.from_numpy(y_te).long()),
            )
        return self._data

    def build_model(self) -> nn.Module:
        hidden = int(self.config.get("hidden", 128))
        dropout = float(self.config.get("dropout", 0.1))
        return nn.Sequential(
            nn.Linear(64, hidden),
            nn.ReLU(),
            nn.Dropout(dropout),
            nn.Linear(hidden, hidden),
            nn.ReLU(),
            nn.Linear(hidden, 10),
        )

    def train_data(self):
        return self._split()[0]

    def eval_data(self):
        return self._split()[1]

    def loss(self, model, batch):
        x, y = batch
        return nn.functional.cross_entropy(model(x), y)

    def eval_step(self, model, batch):
        x, y = batch
        logits = model(x)
        return {
            "loss_sum": nn.functional.cross_entropy(logits, y, reduction="sum"),
            "correct": (logits.argmax(-1) == y).sum().float(),
            "count": torch.tensor(float(len(y))),
        }

    def eval_metrics(self, sums):
        n = max(sums["count"], 1.0)
        return {"val_loss": sums["loss_sum"] / n, "val_accuracy": sums["correct"] / n}
