"""Readers and writers of the project's files: pairs lists, score/label CSVs, identity lists.

Core layer: used by the CLI, the integrations and training alike, so each format is parsed once.
"""
from .readers import read_identity_list, read_pairs, read_scores, read_target_csv, scores_for

__all__ = ["read_identity_list", "read_pairs", "read_scores", "read_target_csv", "scores_for"]
