"""Defenses: batched vs one-by-one, ratios measured in one run.

- Neural Cleanse: all classes as one batched problem vs the same optimisation class by class
  (same settings, same data order); also checks that both give the same verdict (goal >= 5x).
- STRIP: all blends of a batch in one forward pass vs a loop over inputs (goal >= 10x).
- Certification: noise samples of many inputs in one batch vs a loop over inputs (goal >= 10x).

    python benchmarks/bench_defenses.py [--run RUN]   (default: a BadNets model trained here)
"""

from __future__ import annotations

import argparse
import time

import torch

from advtrojan.data import load_dataset
from advtrojan.defenses import NCSettings, StripSettings, anomaly_index, flagged, neural_cleanse, strip_entropy
from advtrojan.defenses.certify import noise_counts
from advtrojan.training import fit, make_config
from advtrojan.training.runs import Run
from advtrojan.utils.device import configure_threads
from common import interleaved, report


def timed(fn):
    t = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--run", help="a finished run folder (default: train a small BadNets model)")
    ap.add_argument("--nc-images", type=int, default=500)
    ap.add_argument("--nc-epochs", type=int, default=5)
    args = ap.parse_args()
    configure_threads()
    test = load_dataset("fmnist", "test")
    if args.run:
        model = Run(args.run).load_model()
    else:
        train = load_dataset("fmnist", "train", limit=10000)
        run = fit(make_config("fmnist", "badnets", epochs=3, limit=10000, target=3), "/tmp/advtrojan-bench-badnets",
                  force=True, train_data=train, test_data=test.balanced_subset(500), progress=False)
        model = run.load_model()
    data = test.balanced_subset(args.nc_images, seed=3)
    settings = NCSettings(epochs=args.nc_epochs)

    batched, t_batched = timed(lambda: neural_cleanse(model, data, settings, progress=False))
    per_class, t_loop = timed(lambda: [neural_cleanse(model, data, settings, classes=[k], progress=False)
                                       for k in range(10)])
    loop_norms = torch.cat([r.l1 for r in per_class])
    print(f"\nNeural Cleanse, {args.nc_images} images x {args.nc_epochs} epochs, 10 classes")
    print(f"  class by class   {t_loop:8.1f} s")
    print(f"  batched          {t_batched:8.1f} s   x{t_loop / t_batched:.2f}")
    print(f"  flagged: batched {flagged(batched.l1).nonzero().flatten().tolist()}, "
          f"class by class {flagged(loop_norms).nonzero().flatten().tolist()}")
    print(f"  anomaly index batched       {[round(v, 2) for v in anomaly_index(batched.l1).tolist()]}")
    print(f"  anomaly index class by class {[round(v, 2) for v in anomaly_index(loop_norms).tolist()]}")

    x, _ = test.balanced_subset(200, seed=4).tensors()
    reserved, _ = test.balanced_subset(100, seed=5).tensors()
    st = StripSettings()

    def strip_naive():
        """One input at a time, one blend at a time."""
        out = []
        with torch.no_grad():
            for xi in x:
                ents = []
                for r in reserved:
                    p = model((xi + r)[None]).softmax(1)[0]  # Gao et al.: x + r, entropy in bits
                    ents.append(-(p * p.clamp_min(1e-30).log2()).sum())
                out.append(torch.stack(ents).mean())
        return torch.stack(out)

    def strip_per_input():
        """ART's shape: a loop over inputs, each input's blends as one batch."""
        out = []
        with torch.no_grad():
            for xi in x:
                p = model(xi[None] + reserved).softmax(1)
                out.append((-(p * p.clamp_min(1e-30).log2()).sum(1)).mean())
        return torch.stack(out)

    bf16 = StripSettings(precision="bf16")
    times = interleaved({"STRIP naive loop (input x blend)": strip_naive,
                         "STRIP per-input loop (ART-style)": strip_per_input,
                         "STRIP batched fp32 (default)": lambda: strip_entropy(model, x, reserved, st),
                         "STRIP batched bf16": lambda: strip_entropy(model, x, reserved, bf16)}, repeats=2)
    report("STRIP, 200 inputs x 100 blends", times, "STRIP naive loop (input x blend)", 200)
    print(f"  batched fp32 vs per-input loop: x{times['STRIP per-input loop (ART-style)'] / times['STRIP batched fp32 (default)']:.2f}")
    assert torch.allclose(strip_per_input(), strip_entropy(model, x, reserved, st), atol=1e-4)

    def cert_naive():
        with torch.no_grad():
            return [torch.bincount(torch.cat([model(xi[None] + 0.5 * torch.randn_like(xi[None])).argmax(1)
                                              for _ in range(100)]), minlength=10) for xi in x]

    def cert_per_input():
        with torch.no_grad():
            return [torch.bincount(model(xi[None] + 0.5 * torch.randn(100, *xi.shape)).argmax(1), minlength=10)
                    for xi in x]

    times = interleaved({"certification naive loop (input x sample)": cert_naive,
                         "certification per-input loop": cert_per_input,
                         "certification batched fp32 (default)": lambda: noise_counts(model, x, 0.5, 100),
                         "certification batched bf16": lambda: noise_counts(model, x, 0.5, 100, precision="bf16")},
                        repeats=2)
    report("Certification, 200 inputs x 100 noise samples", times, "certification naive loop (input x sample)", 200)
    print(f"  batched fp32 vs per-input loop: x{times['certification per-input loop'] / times['certification batched fp32 (default)']:.2f}")


if __name__ == "__main__":
    main()
