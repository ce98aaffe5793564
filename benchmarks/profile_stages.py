"""Where the time of ``reproduce``'s post-training stages goes (issue 20, part 3).

Runs the evaluation, defenses, certification, sweep and feature stages of the ``paper`` reproduce
preset at its sizes divided by ``--scale`` (images only: epochs, σ's, iteration counts are the
paper preset's, so each stage's cost is its paper cost divided by about ``--scale``) on the four
finished runs of an earlier ``reproduce`` (``--runs``: its ``runs/`` folder; the models' training
does not change the cost of what runs after it), under cProfile, and prints each stage's seconds,
the paper-scale estimate, and the functions that take its time.

    python benchmarks/profile_stages.py --runs results/fmnist-quick/runs --scale 10 [--out FILE] [--top 15]
        [--stages defenses,certification] [--set defense_precision=fp32]

``--set FIELD=VALUE`` changes a field of the preset (e.g. the precisions, to time a stage as it was).
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import pstats
import shutil
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import torch

from advtrojan import presets
from advtrojan.experiments.reproduce import Reproduction, ReproduceSettings
from advtrojan.runtime import Runtime


def scaled(rp: presets.ReproducePreset, scale: float, train: str) -> presets.ReproducePreset:
    def s(n):
        return None if n is None else max(1, round(n / scale))
    return replace(rp, train=train, eval_limit=s(rp.eval_limit or 10000), pool=s(rp.pool),
                   nc_images=s(rp.nc_images or 9900), anc_images=s(rp.anc_images),
                   certify_images=s(rp.certify_images), sweep_images=s(rp.sweep_images),
                   collapse_images=s(rp.collapse_images))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", required=True, help="a reproduce's runs/ folder (vanilla, madry, atim, atim_scratch)")
    ap.add_argument("--preset", default="paper", choices=tuple(presets.REPRODUCE))
    ap.add_argument("--scale", type=float, default=10.0)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--top", type=int, default=15)
    ap.add_argument("--stages", default="", help="comma-separated stage names (default: every post-training one)")
    ap.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE",
                    help="a ReproducePreset field to change (strings and integers)")
    ap.add_argument("--out", help="write the timings here as JSON")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    runs = Path(args.runs)
    train = json.loads((runs / "atim" / "config.json").read_text()).get("preset", "quick")
    rp = scaled(presets.REPRODUCE[args.preset], args.scale, train)
    changes = dict(item.split("=", 1) for item in args.set)
    rp = replace(rp, **{k: int(v) if v.isdigit() else v for k, v in changes.items()})
    work = Path(tempfile.mkdtemp(prefix="advtrojan-profile-"))
    try:
        job = Reproduction(ReproduceSettings(dataset="fmnist", preset=args.preset, out=str(work), runs_dir=str(runs),
                                             sizes=rp), Runtime(progress=False))
        wanted = set(filter(None, args.stages.split(",")))
        timings = {}
        for stage in job.stages():
            if stage.name.startswith("train_") or (wanted and stage.name not in wanted):
                continue
            job.models  # loaded before timing
            prof = cProfile.Profile()
            t = time.perf_counter()
            prof.runcall(stage.run)
            seconds = time.perf_counter() - t
            timings[stage.name] = {"seconds": seconds, "paper_estimate_min": seconds * args.scale / 60}
            text = io.StringIO()
            stats = pstats.Stats(prof, stream=text)
            stats.sort_stats("tottime").print_stats(args.top)  # the kernels
            stats.sort_stats("cumtime").print_stats(r"advtrojan/(defenses|attacks|evaluation|experiments)/", args.top)
            body = "\n".join(line for line in text.getvalue().splitlines()
                              if line.strip() and not line.lstrip().startswith(("Ordered by", "List reduced", "function calls")))
            print(f"\n=== {stage.name}: {seconds:.1f} s (x{args.scale:g}: {seconds * args.scale / 60:.1f} min)\n{body}",
                  flush=True)
        print("\nstage                 seconds   paper-scale estimate (min)")
        for name, t in timings.items():
            print(f"{name:<20}{t['seconds']:9.1f}   {t['paper_estimate_min']:8.1f}")
        total = sum(t["paper_estimate_min"] for t in timings.values())
        print(f"{'total':<20}{sum(t['seconds'] for t in timings.values()):9.1f}   {total:8.1f}")
        if args.out:
            Path(args.out).write_text(json.dumps({"scale": args.scale, "preset": args.preset, "set": changes,
                                                  "stages": timings}, indent=1))
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
