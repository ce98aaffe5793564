"""``advtrojan fl run``: federated AdvTrojan (Appendix A, case 2) on Flower."""

from __future__ import annotations

import argparse

from ..settings import add_options, from_args

HELP = "federated AdvTrojan on Flower: does the fake robustness survive aggregation?"
DESCRIPTION = """\
Federated learning with a malicious participant (Appendix A, case 2): N clients on a seeded split of
the training set; clients 0..K-1 train with Eq. 9 (or BadNets) during the attack window and send
their update, optionally boosted (model replacement); the server aggregates with one of Flower's
strategies and measures the global model every round (Table 5's rows: benign, madry, trigger,
advtrojan). One JSON line per round in OUT/rounds.jsonl, the settings in OUT/fl.json, the final
global model in OUT/global.safetensors.

  advtrojan fl run --clients 10 --attackers 1 --rounds 10 --aggregator fedavg --out runs/fl-fedavg
  advtrojan fl run --clients 10 --attackers 1 --aggregator fedmedian --boost 10 --out runs/fl-median

Offline: Flower's telemetry and Ray's usage statistics are off; every process started is ended.
"""


def add_parser(sub) -> None:
    from ..fl.settings import FLSettings
    p = sub.add_parser("fl", help=HELP, description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter)
    fsub = p.add_subparsers(dest="fl_command", metavar="run", required=True)
    r = fsub.add_parser("run", help="one federated run", description=DESCRIPTION,
                        formatter_class=argparse.RawDescriptionHelpFormatter)
    add_options(r, FLSettings, title="the federation")
    r.add_argument("--out", required=True, metavar="DIR", help="the run folder")
    r.add_argument("--superlink", metavar="HOST:PORT", help="--engine deployment: submit to this running SuperLink "
                   "(its SuperNodes started by you, each with --node-config 'partition-id=I num-partitions=N'); "
                   "default: start a SuperLink and one SuperNode per client here, and end them after the run")
    r.add_argument("--force", action="store_true", help="replace a federated run already in DIR")
    r.add_argument("--verbose", action="store_true", help="Flower's and Ray's logs")
    r.set_defaults(func=run)


def run(args) -> int:
    from ..fl import rounds, run_federated
    from ..fl.settings import FLSettings
    out = run_federated(from_args(FLSettings, args), args.out, force=args.force, verbose=args.verbose,
                        superlink=args.superlink)
    lines = rounds(out)
    print(f"{'round':>5} {'benign':>7} {'madry':>7} {'trigger':>7} {'advtrojan':>9}  attacked")
    for line in lines:
        print(f"{line['round']:>5} {line['benign']:>7.2%} {line['madry']:>7.2%} {line['trigger']:>7.2%} "
              f"{line['advtrojan']:>9.2%}  {'yes' if line['attacked'] else ''}")
    print(f"finished: {out} ({len(lines) - 1} rounds)")
    return 0
