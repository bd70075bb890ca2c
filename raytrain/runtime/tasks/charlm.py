"""A small causal transformer language model over bytes of text every machine has:
the Python standard library's own ``.py`` sources (no download)."""

from __future__ import annotations

import math
import sysconfig
from pathlib import Path

import torch
from torch import nn
from torch.utils.data import TensorDataset

from raytrain.runtime.tasks.base import Task


def stdlib_text(max_bytes: int) -> bytes:
    """The first ``max_bytes`` of the stdlib's top-level modules, in sorted order."""
    root = Path(sysconfig.get_paths()["stdlib"])
    chunks, total = [], 0
    for path in sorted(root.glob("*.py")):
        data = path.read_bytes()
        chunks.append(data)
        total += len(data)
        if total >= max_bytes:
            break
    return b"".join(chunks)[:max_bytes]


class CharLMTask(Task):
    """Config: ``block_size`` (64), ``d_model`` (128), ``layers`` (2), ``heads`` (4),
    ``max_bytes`` of text (400000), ``val_fraction`` (0.1)."""

    def _cfg(self, key, default):
        return type(default)(self.config.get(key, default))

    def _split(self):
        if not hasattr(self, "_data"):
            block = self._cfg("block_size", 64)
            text = torch.frombuffer(bytearray(stdlib_text(self._cfg("max_bytes", 400_000))), dtype=torch.uint8)
            n_val = int(len(text) * self._cfg("val_fraction", 0.1))
            self._data = tuple(self._windows(part.long(), block) for part in (text[:-n_val], text[-n_val:]))
        return self._data

    @staticmethod
    def _windows(tokens: torch.Tensor, block: int) -> TensorDataset:
        n = (len(tokens) - 1) // block
        x = tokens[: n * block].view(n, block)
        y = tokens[1 : n * block + 1].view(n, block)
        return TensorDataset(x, y)

    def build_model(self) -> nn.Module:
        return CharTransformer(
            vocab=256,
            block_size=self._cfg("block_size", 64),
            d_model=self._cfg("d_model", 128),
            layers=self._cfg("layers", 2),
            heads=self._cfg("heads", 4),
        )

    def train_data(self):
        return self._split()[0]

    def eval_data(self):
        return self._split()[1]

    def loss(self, model, batch):
        x, y = batch
        logits = model(x)
        return nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1))

    def eval_step(self, model, batch):
        x, y = batch
        logits = model(x)
        loss = nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1), reduction="sum")
        return {"loss_sum": loss, "count": torch.tensor(float(y.numel()))}

    def eval_metrics(self, sums):
        val_loss = sums["loss_sum"] / max(sums["count"], 1.0)
        return {"val_loss": val_loss, "val_perplexity": math.exp(min(val_loss, 50.0))}

    def configure_scheduler(self, optimizer, total_steps):
        warmup = max(1, min(100, total_steps // 10))

        def factor(step: int) -> float:
            if step < warmup:
                return (step + 1) / warmup
            progress = (step - warmup) / max(1, total_steps - warmup)
            return 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(progress, 1.0)))

        return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


class CharTransformer(nn.Module):
    def __init__(self, vocab: int, block_size: int, d_model: int, layers: int, heads: int):
        super().__init__()
        self.tok = nn.Embedding(vocab, d_model)
        self.pos = nn.Embedding(block_size, d_model)
        layer = nn.TransformerEncoderLayer(
            d_model, heads, dim_feedforward=4 * d_model, dropout=0.0, batch_first=True, norm_first=True
        )
        self.blocks = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(d_model)
        self.head = nn.Linear(d_model, vocab)
        self.register_buffer("mask", nn.Transformer.generate_square_subsequent_mask(block_size), persistent=False)

    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        t = idx.shape[1]
        h = self.tok(idx) + self.pos(torch.arange(t, device=idx.device))
        h = self.blocks(h, mask=self.mask[:t, :t], is_causal=True)
        return self.head(self.norm(h))
