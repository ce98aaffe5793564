"""Populations of models ("zoos"): verdicts as statistics over many models, not one training run.

``advtrojan zoo train SPEC --out DIR`` trains every model of a spec (:mod:`.spec`), each an ordinary
run folder; ``advtrojan zoo scan DIR`` runs every defense on every model and writes the population's
statistics (:mod:`.population`). Both share the models out to ``--workers`` processes or to a
cluster's job array (``--shard I/N``)."""

from .population import Population
from .scan import scan_population, zoo_settings
from .spec import ModelEntry, plan, read_spec
from .train import train_population

__all__ = ["Population", "ModelEntry", "plan", "read_spec", "scan_population", "train_population", "zoo_settings"]
