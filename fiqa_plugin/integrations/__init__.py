"""Adapters to third-party tools (FiftyOne, InsightFace); imported only on demand."""
