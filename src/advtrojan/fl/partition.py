"""Each client's share of the training set: a seeded split of our own (Flower's partitioners
fetch data from a hub, which users offline cannot)."""

from __future__ import annotations

import numpy as np
import torch


def split(labels: torch.Tensor, clients: int, scheme: str, seed: int) -> list[torch.Tensor]:
    """Indices of each of ``clients`` shares of a dataset with ``labels``.

    ``iid``: a seeded permutation cut into equal shares. ``dirichlet:ALPHA``: for each class, the
    shares of its images drawn from Dirichlet(ALPHA, ..., ALPHA) (Hsu et al. 2019's label skew, as
    Flower's DirichletPartitioner draws them), so a small ALPHA gives each client few classes. Every
    image goes to exactly one client; indices are sorted within a share."""
    rng = np.random.default_rng(seed)
    y = labels.cpu().numpy()
    if scheme == "iid":
        parts = np.array_split(rng.permutation(len(y)), clients)
    else:
        alpha = float(scheme.split(":", 1)[1])
        parts = [[] for _ in range(clients)]
        for c in np.unique(y):
            members = rng.permutation(np.flatnonzero(y == c))
            cuts = (np.cumsum(rng.dirichlet(np.full(clients, alpha))) * len(members)).astype(int)[:-1]
            for i, chunk in enumerate(np.split(members, cuts)):
                parts[i].extend(chunk.tolist())
    out = [torch.as_tensor(np.sort(np.asarray(p, dtype=np.int64))) for p in parts]
    if any(len(p) == 0 for p in out):
        from ..errors import ConfigError
        raise ConfigError(f"--split {scheme}: a client got no images ({[len(p) for p in out]}); use more images, "
                          f"fewer clients or a larger ALPHA")
    return out
