"""Built-in trainable architectures, registered through the ``fiqa`` entry point like any plugin.

Registering imports no torch (each factory imports its family on call), so ``fiqa methods`` and the
registry work on a core-only install. ``trainer`` says which training loop fits the family:

* ``crop``: a regressor on aligned crops (``fiqa train --arch NAME``, :func:`.train.train`);
* ``recognizer-head``: a head on a recognizer's features, composed with it at load time
  (:mod:`.regressors`).

A new crop family is one file with a ``torch.nn.Module`` plus one ``registry.register`` line here
(or in a third-party package's own hook module: see docs/extending.md).
"""
from __future__ import annotations

from ..hookspecs import hookimpl


@hookimpl(tryfirst=True)
def fiqa_register_architectures(registry) -> None:
    @registry.register("tinyfqnet", "tinyFQnet (Peng et al. Table 1): 13k parameters, 64 px", trainer="crop")
    def tinyfqnet(**kw):
        from .tinyfqnet import TinyFQNet

        return TinyFQNet(**kw)

    @registry.register("mobilenetv2", "MobileNetV2 variants of tinyFQnet Table 6 (t, w, head)", trainer="crop")
    def mobilenetv2(**kw):
        from .mobilenetv2 import MobileNetV2Quality

        return MobileNetV2Quality(**kw)

    @registry.register("sdd-regressor", "SDD-FIQA: the recognizer's last stage fine-tuned on SDD labels",
                       trainer="recognizer-head")
    def sdd_regressor(**kw):
        from .sdd_regressor import SDDRegressor

        return SDDRegressor(**kw)

    @registry.register("embedding-head", "Babnik et al.: an MLP on the recognizer's raw embedding",
                       trainer="recognizer-head")
    def embedding_head(**kw):
        from .embedding_head import EmbeddingHead

        return EmbeddingHead(**kw)


def names(trainer: str | None = None) -> list:
    """Registered architecture names, optionally only those of one ``trainer`` kind."""
    from ..plugins import ARCHITECTURES

    return [e.name for e in ARCHITECTURES.entries() if trainer is None or e.tags.get("trainer") == trainer]
