"""Benchmark drivers shared by ``raytrain bench`` and ``benchmarks/``: parity with plain
PyTorch DDP under torchrun, scaling sweeps, and checkpoint/recovery figures."""
