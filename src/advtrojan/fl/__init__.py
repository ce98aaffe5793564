"""Federated AdvTrojan (Appendix A, case 2) on Flower: a malicious participant sends the update
θ* − θ of Eq. 9 on its own data, and the server aggregates it with the honest ones.

    from advtrojan.fl import FLSettings, run_federated, rounds
    out = run_federated(FLSettings(clients=10, attackers=1, rounds=10, aggregator="fedmedian"), "runs/fl")
    for line in rounds(out): print(line["round"], line["madry"], line["advtrojan"])
"""

from .run import rounds, run_federated
from .settings import AGGREGATORS, FLSettings

__all__ = ["AGGREGATORS", "FLSettings", "rounds", "run_federated"]
