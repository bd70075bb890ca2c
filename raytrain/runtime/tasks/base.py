"""The interface a training task implements; raytrain's built-in loop does the rest
(DDP, data sharding, metrics, evaluation, checkpoints, exact resume)."""

from __future__ import annotations

from typing import Any, Optional

import torch
from torch import nn
from torch.utils.data import Dataset


class Task:
    """Subclass this and name it in a job spec as ``train.task: mypkg.module:MyTask``.

    ``config`` is the spec's ``train.config`` mapping. Datasets are map-style (``len`` and
    indexing); a ``TensorDataset`` is fastest. The loop decides the order of samples itself,
    so that a resumed run sees exactly the batches an uninterrupted run would.
    """

    def __init__(self, config: dict[str, Any], seed: int = 0):
        self.config = dict(config)
        self.seed = seed

    def build_model(self) -> nn.Module:
        raise NotImplementedError

    def train_data(self) -> Dataset:
        raise NotImplementedError

    def eval_data(self) -> Optional[Dataset]:
        return None

    def loss(self, model: nn.Module, batch: Any) -> torch.Tensor:
        """Mean loss of one batch (a tuple of tensors for a TensorDataset)."""
        raise NotImplementedError

    def eval_step(self, model: nn.Module, batch: Any) -> dict[str, torch.Tensor]:
        """Sums over one held-out batch; they are added up across batches and workers."""
        first = batch[0] if isinstance(batch, (tuple, list)) else batch
        n = first.shape[0]
        return {"loss_sum": self.loss(model, batch).detach() * n, "count": torch.tensor(float(n))}

    def eval_metrics(self, sums: dict[str, float]) -> dict[str, float]:
        """Turn the summed eval_step values into reported metrics (prefixed ``val_``)."""
        return {"val_loss": sums["loss_sum"] / max(sums["count"], 1.0)}

    def configure_optimizer(self, params, lr: float) -> torch.optim.Optimizer:
        return torch.optim.AdamW(params, lr=lr)

    def configure_scheduler(self, optimizer: torch.optim.Optimizer, total_steps: int):
        """A step-wise LR scheduler, or None for a constant learning rate."""
        return None
