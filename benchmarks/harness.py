"""A tiny benchmark harness: registered benchmarks write one markdown report.

A benchmark is a function ``fn(quick: bool, out_dir: str) -> Section`` registered with
:func:`benchmark`. Timings are measured side by side in the same process and
reported as ratios to a reference row, never asserted in unit tests.
"""
from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from typing import Callable

import torch

REGISTRY: dict[str, Callable] = {}


def benchmark(name: str):
    """Register ``fn(quick, out_dir) -> Section`` under ``name``."""

    def deco(fn):
        REGISTRY[name] = fn
        return fn

    return deco


@dataclass
class Section:
    title: str
    description: str
    header: list[str]
    rows: list[list]
    plots: list[str] = field(default_factory=list)  # file names in the out dir
    notes: list[str] = field(default_factory=list)

    def to_markdown(self) -> str:
        out = [f'## {self.title}', '', self.description, '']
        out.append('| ' + ' | '.join(self.header) + ' |')
        out.append('|' + '---|' * len(self.header))
        for r in self.rows:
            out.append('| ' + ' | '.join(_fmt(v) for v in r) + ' |')
        out.append('')
        out += [f'![{p}]({p})' for p in self.plots]
        out += [f'* {n}' for n in self.notes]
        return '\n'.join(out) + '\n'


def _fmt(v):
    if isinstance(v, float):
        return f'{v:.4g}'
    return str(v)


def time_fn(fn, repeats: int = 5, warmup: int = 1) -> float:
    """Median wall time of ``fn()`` in seconds."""
    for _ in range(warmup):
        fn()
    ts = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t)
    ts.sort()
    return ts[len(ts) // 2]


def machine_line() -> str:
    import platform
    return (f'{platform.processor() or platform.machine()}, {os.cpu_count()} cores, '
            f'torch {torch.__version__}, {torch.get_num_threads()} threads')
