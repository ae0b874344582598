"""Quality-label generators (pseudo-labelers): embeddings + identities → quality labels.

* ``center``: cosine to the identity centre (tinyFQnet, Peng et al.) — :mod:`.center`
* ``sdd``: Wasserstein distance between genuine and impostor similarity distributions
  (SDD-FIQA, Ou et al. 2021) — :mod:`.sdd`
* ``optimize``: refinement of any method's scores (Babnik, Damer, Štruc 2023) — :mod:`.optimize`

Create them by name through ``fiqa_plugin.plugins.LABELERS.create(name, **options)``.
"""
from .base import Labeler, check_inputs, minmax_to_100
from .center import CenterLabeler, center_labels, cosine_to_unit
from .optimize import OptimizeLabeler, kmeans, optimize_scores, ordinal_positions, position_update
from .sdd import SDDLabeler, sdd_labels, wasserstein_1d_batched

__all__ = [
    "Labeler", "check_inputs", "minmax_to_100",
    "CenterLabeler", "center_labels", "cosine_to_unit",
    "SDDLabeler", "sdd_labels", "wasserstein_1d_batched",
    "OptimizeLabeler", "optimize_scores", "kmeans", "ordinal_positions", "position_update",
]
