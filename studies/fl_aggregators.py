"""Federated AdvTrojan across Flower's aggregators (Appendix A, case 2, measured).

N clients on an iid split of a training subset, one attacker (client 0) training with Eq. 9 in the
rounds of the attack window and honestly after it, honest clients with Madry-Adv (the `fast`
preset's single-step attack); for each aggregator, with and without boosting, and a run with no
attacker for reference. Each run's rounds are in OUT/NAME/rounds.jsonl; the table (the global
model's benign, Madry and AdvTrojan accuracy at the end of the attack window and at the last round,
the attackers' share of the aggregate, wall time) in OUT/fl_aggregators.json and printed.

    python studies/fl_aggregators.py --out results/study-fl
    python studies/fl_aggregators.py --init runs/madry --local-epochs 2 --out results/study-fl-converged

``--init`` starts the global model from a trained (converged) Madry-Adv run, the setting the paper's
argument assumes: a robust global model that the attacker's Eq. 9 update turns into an ATIM.
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import replace
from pathlib import Path

from advtrojan.fl import FLSettings, rounds, run_federated
from advtrojan.utils.io import write_json

RUNS = {  # name: (aggregator, boost, attackers)
    "clean-fedavg": ("fedavg", 1.0, 0),
    "fedavg": ("fedavg", 1.0, 1),
    "fedavg-boost": ("fedavg", 5.0, 1),
    "fedmedian-boost": ("fedmedian", 5.0, 1),
    "fedtrimmedavg-boost": ("fedtrimmedavg", 5.0, 1),
    "krum-boost": ("krum", 5.0, 1),
    "multikrum-boost": ("multikrum", 5.0, 1),
    "bulyan-boost": ("bulyan", 5.0, 1),
    "clip-boost": ("clip", 5.0, 1),
    "dp-boost": ("dp", 5.0, 1),
}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", default="results/study-fl")
    p.add_argument("--clients", type=int, default=10)
    p.add_argument("--rounds", type=int, default=8)
    p.add_argument("--window", default="1:4")
    p.add_argument("--limit", type=int, default=10000)
    p.add_argument("--test-limit", type=int, default=1000)
    p.add_argument("--runs", nargs="+", default=list(RUNS), choices=list(RUNS))
    p.add_argument("--init", help="the initial global model (a finished run); default: random weights")
    p.add_argument("--local-epochs", type=int, default=1)
    args = p.parse_args()
    root = Path(args.out)
    table_path = root / "fl_aggregators.json"
    table = json.loads(table_path.read_text()) if table_path.is_file() else {}
    base = FLSettings(clients=args.clients, rounds=args.rounds, attack_window=args.window, limit=args.limit,
                      test_limit=args.test_limit, local_objective="madry", init=args.init,
                      local_epochs=args.local_epochs)
    end = base.window()[1]
    for name in args.runs:
        if name in table:
            continue
        aggregator, boost, attackers = RUNS[name]
        t = time.perf_counter()
        out = run_federated(replace(base, aggregator=aggregator, boost=boost, attackers=attackers), root / name,
                            force=True)
        lines = rounds(out)
        pick = lambda r, k: lines[r][k]  # noqa: E731
        table[name] = {"aggregator": aggregator, "boost": boost, "attackers": attackers,
                       **{f"{k}_window_end": pick(end, k) for k in ("benign", "madry", "advtrojan")},
                       **{f"{k}_last": pick(-1, k) for k in ("benign", "madry", "advtrojan")},
                       "attacker_share": [line.get("attacker_share") for line in lines[1:end + 1]],
                       "advtrojan_by_round": [line["advtrojan"] for line in lines],
                       "madry_by_round": [line["madry"] for line in lines],
                       "seconds": time.perf_counter() - t}
        write_json(table_path, table)
        print(name, {k: (round(v, 4) if isinstance(v, float) else v) for k, v in table[name].items()}, flush=True)
    print(json.dumps(table, indent=1))


if __name__ == "__main__":
    main()
