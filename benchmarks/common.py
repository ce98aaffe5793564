"""Timing helpers: interleaved repeats, median, ratios measured in one run."""

from __future__ import annotations

import argparse
import statistics
import time

import torch


def interleaved(fns: dict, repeats: int = 5, warmup: int = 1) -> dict[str, float]:
    """Median seconds per call of each function, calling them in turn so load hits all alike."""
    for fn in fns.values():
        for _ in range(warmup):
            fn()
    times = {k: [] for k in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            t = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t)
    return {k: statistics.median(v) for k, v in times.items()}


def report(title: str, times: dict[str, float], reference: str, items: int, unit: str = "img") -> None:
    print(f"\n{title}  (threads={torch.get_num_threads()})")
    for name, sec in times.items():
        print(f"  {name:<44} {sec * 1000:9.1f} ms  {items / sec:9.0f} {unit}/s  "
              f"x{times[reference] / sec:5.2f} vs {reference}")


def bench_args(batch: int, repeats: int, add=None) -> argparse.Namespace:
    """The options every benchmark takes (--batch, --repeats, --threads), threads applied; ``add(parser)``
    adds a benchmark's own."""
    ap = argparse.ArgumentParser()
    if add is not None:
        add(ap)
    ap.add_argument("--batch", type=int, default=batch)
    ap.add_argument("--repeats", type=int, default=repeats)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    return args
