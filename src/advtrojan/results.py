"""The schema of ``results.json``, defined once: ``reproduce`` writes it, the report reads it.

docs/results-schema.md describes every key. :func:`check_results` is what both sides agree on:
the schema version, the top-level sections, the meta fields and the paper's defenses that the
report's tables need. A file that falls short gets one error naming what is missing.
"""

from __future__ import annotations

import json
from pathlib import Path

from .errors import AdvTrojanError

SCHEMA = "advtrojan.results/2"
SECTIONS = ("schema", "meta", "figure4", "table5", "table5_both", "table2", "table3", "table4", "figure5", "figure6",
            "figure7", "figure8", "figure9", "defenses", "certification", "paper")
META = ("dataset", "dataset_title", "preset", "train_images", "test_images", "seed", "device", "versions", "started",
        "wall_time_s", "reused_runs", "atim", "budget", "trigger", "classes")
PAPER_DEFENSES = ("neural_cleanse", "strip", "e_strip", "adaptive_neural_cleanse")


def check_results(res, source: str) -> dict:
    """``res`` if it follows the schema, else an error naming the first missing pieces."""
    if not isinstance(res, dict):
        raise AdvTrojanError(f"{source}: not an advtrojan results file (a JSON object of schema {SCHEMA} is needed)")
    if res.get("schema") != SCHEMA:
        raise AdvTrojanError(f"{source}: schema {res.get('schema')!r}, this advtrojan reads {SCHEMA}")
    missing = [k for k in SECTIONS if k not in res]
    meta = res.get("meta") if isinstance(res.get("meta"), dict) else {}
    missing += [f"meta.{k}" for k in META if k not in meta]
    defenses = res.get("defenses") if isinstance(res.get("defenses"), dict) else {}
    missing += [f"defenses.{k}" for k in PAPER_DEFENSES if k not in defenses]
    if missing:
        raise AdvTrojanError(f"{source}: results file of schema {SCHEMA} is missing {', '.join(missing[:8])}"
                             + (f" and {len(missing) - 8} more" if len(missing) > 8 else ""))
    return res


def load_results(root) -> dict:
    """``ROOT/results.json``, checked against the schema."""
    path = Path(root) / "results.json"
    if not path.is_file():
        raise AdvTrojanError(f"{root}: no results.json (run `advtrojan reproduce` first)")
    try:
        res = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise AdvTrojanError(f"{path}: not valid JSON ({exc})") from None
    except OSError as exc:
        raise AdvTrojanError(f"{path}: cannot be read ({exc.strerror or exc})") from None
    return check_results(res, str(path))
