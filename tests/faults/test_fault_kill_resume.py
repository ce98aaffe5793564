"""kill -9 at 6 random points of a training run, each followed by ``--resume``: the final
weights equal an uninterrupted run's bit for bit and nothing stray is left
(``benchmarks/kill_resume.py``, about 20 s here; the benchmark's default is 20 kills)."""

from __future__ import annotations

import sys
from pathlib import Path

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"


def test_kills_and_resumes_give_the_uninterrupted_weights(tmp_path):
    sys.path.insert(0, str(BENCHMARKS))
    try:
        from kill_resume import kill_and_resume
    finally:
        sys.path.remove(str(BENCHMARKS))
    result = kill_and_resume(tmp_path, kills=6, seed=0)
    assert result["kills"] == 6 and not result["errors"], result
    for check in result["runs"]:
        assert check["identical_weights"], check
        assert check["stray_files"] == [], check
        assert check["metrics_epochs"] == list(range(1, 9)), check
    assert {p["outcome"] for p in result["points"]} >= {"killed"}
