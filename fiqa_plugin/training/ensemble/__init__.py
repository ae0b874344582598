"""Lightweight FIQA ensemble (Hamidi et al.): MobileNetV3-Small + ShuffleNetV2 x1.0 regressors,
MSE + Pearson loss, test-time augmentation, exported as one ONNX graph.

The backbones are plain-torch re-implementations with torchvision's state_dict keys and shapes,
so a local torchvision ImageNet ``.pth`` loads with ``--backbone-weights`` (torchvision itself is
not needed). Imports torch; the core ``fiqa_plugin`` never imports this package.
"""
