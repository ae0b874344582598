"""Face detection (SCRFD), 5-point alignment and the per-image face pipeline."""
from .align import ARCFACE_TEMPLATE, align_face, similarity_transform
from .detector import Detection, ScrfdDetector
from .pipeline import Face, FaceMode, FacePipeline, ImageFaces, grid_region

__all__ = [
    "ARCFACE_TEMPLATE", "align_face", "similarity_transform", "Detection", "ScrfdDetector",
    "Face", "FaceMode", "FacePipeline", "ImageFaces", "grid_region",
]
