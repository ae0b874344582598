"""Training quality regressors (tinyFQnet, MobileNetV2 variants): data, sampling, training, export.

This sub-package imports torch; the core ``fiqa_plugin`` never imports it.
"""
