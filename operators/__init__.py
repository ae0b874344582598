"""FiftyOne plugin ``@fiqa/fiqa-plugin``: thin operators over ``fiqa_plugin.integrations.fiftyone``.

Install by linking this folder into ``fo.config.plugins_dir``; each operator lives in its own file.
"""
from .compute_quality import ComputeFaceQuality
from .export_model import ExportQualityModel
from .select_by_quality import SelectByFaceQuality

OPERATORS = (ComputeFaceQuality, SelectByFaceQuality, ExportQualityModel)


def register(p) -> None:
    """Called by FiftyOne when the plugin loads."""
    for op in OPERATORS:
        p.register(op)
