"""Face recognizers: ONNX embedding models with declared input normalisation."""
from .base import Embeddings, OnnxRecognizer, Recognizer

__all__ = ["Embeddings", "OnnxRecognizer", "Recognizer"]
