"""benchmarks/label_optimization.py --protocol validation: the training faces are scored as the validation
faces are (crops as they are; landmarks and detector confidence read from ``index.csv``)."""
from __future__ import annotations

import csv

import numpy as np
import label_optimization as L


def test_training_faces_cache_reads_index(shared):
    import cv2

    from fiqa_plugin.faces.dataset import FaceSet

    root = shared / "data" / "celeba_aligned"
    with open(root / "index.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))[::4000][:3]
    paths = [str(root / r["path"]) for r in rows]
    crops = np.stack([cv2.imread(p) for p in paths])
    faces = FaceSet(crops, np.zeros((3, 0), np.float32), np.arange(3, dtype=np.int32), np.array(["a", "b", "c"]),
                    np.array(paths), np.zeros(0, dtype=str))
    fc = L.training_faces_cache(faces)
    assert fc.rel == [r["path"] for r in rows]
    assert fc.ok.all() and fc.crops is crops
    for i, r in enumerate(rows):  # the index's own numbers, parsed here independently
        want = np.array([float(v) for v in r["landmarks_in_source"].split()]).reshape(5, 2)
        np.testing.assert_allclose(fc.landmarks[i], want, atol=1e-4)
        assert abs(float(fc.det_score[i]) - float(r["det_score"])) < 1e-6
