"""Built-in labelers, registered through the same hook as third-party plugins."""
from __future__ import annotations

from ..hookspecs import hookimpl
from .center import CenterLabeler
from .certainty import CertaintyRatioLabeler
from .optimize import OptimizeLabeler
from .sdd import SDDLabeler


@hookimpl(tryfirst=True)  # built-ins first: a broken third-party plugin cannot hide them
def fiqa_register_labelers(registry) -> None:
    registry.add("center", CenterLabeler, "cosine to the identity centre (tinyFQnet, Peng et al. Eq. 1)",
                 kind="pseudo-label", needs_initial_scores=False, centres=True,
                 training_options={"mapping": "none"})  # training regresses the raw cosine
    registry.add("certainty-ratio", CertaintyRatioLabeler,
                 "cosine to the own identity centre over that to the nearest other centre (CR-FIQA, Boutros et al. 2023)",
                 kind="pseudo-label", needs_initial_scores=False, centres=True)
    registry.add("sdd", SDDLabeler, "Wasserstein distance of genuine vs impostor similarities (SDD-FIQA, Ou et al. 2021)",
                 kind="pseudo-label", needs_initial_scores=False, training_options={"mode": "sampled"}, label_scale=100.0)
    registry.add("optimize", OptimizeLabeler,
                 "refine any method's scores with mated-pair similarities (Babnik, Damer, Štruc 2023)",
                 kind="refinement", needs_initial_scores=True)
