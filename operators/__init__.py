"""FiftyOne plugin ``@fiqa/fiqa-plugin``: thin operators over ``fiqa_plugin.integrations``.

Install by linking this folder into ``fo.config.plugins_dir``; each operator lives in its own file
with its own ``register``.
"""
from . import (compute_quality, evaluate_edc, export_model, generate_pseudo_labels, quality_panel,
               select_best_per_group, select_by_quality, train_quality_model)

MODULES = (compute_quality, generate_pseudo_labels, train_quality_model, evaluate_edc, select_by_quality,
           select_best_per_group, export_model, quality_panel)


def register(p) -> None:
    """Called by FiftyOne when the plugin loads."""
    for m in MODULES:
        m.register(p)
