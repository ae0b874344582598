"""SCRFD face detection (with 5 landmarks) from an InsightFace pack's detector ONNX.

A numpy re-implementation of InsightFace's SCRFD post-processing, so the core
library runs the detector with onnxruntime alone.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import List, Optional, Tuple

import cv2
import numpy as np

from ..onnx_session import make_session
from ..errors import UsageError


@dataclass
class Detection:
    """One detected face: box (x1, y1, x2, y2), confidence and 5 landmarks (5×2), image pixels."""

    bbox: np.ndarray
    score: float
    landmarks: np.ndarray

    @property
    def area(self) -> float:
        return float(max(0.0, self.bbox[2] - self.bbox[0]) * max(0.0, self.bbox[3] - self.bbox[1]))


def _nms(dets: np.ndarray, thresh: float) -> List[int]:
    x1, y1, x2, y2, scores = dets.T
    areas = (x2 - x1 + 1) * (y2 - y1 + 1)
    order = np.argsort(-scores, kind="stable")
    keep = []
    while order.size:
        i = order[0]
        keep.append(int(i))
        xx1 = np.maximum(x1[i], x1[order[1:]])
        yy1 = np.maximum(y1[i], y1[order[1:]])
        xx2 = np.minimum(x2[i], x2[order[1:]])
        yy2 = np.minimum(y2[i], y2[order[1:]])
        inter = np.maximum(0.0, xx2 - xx1 + 1) * np.maximum(0.0, yy2 - yy1 + 1)
        ovr = inter / (areas[i] + areas[order[1:]] - inter)
        order = order[np.where(ovr <= thresh)[0] + 1]
    return keep


class ScrfdDetector:
    """SCRFD detector (e.g. ``det_500m.onnx`` / ``det_10g.onnx`` of InsightFace packs)."""

    def __init__(
        self,
        model_path: os.PathLike | str,
        det_size: Tuple[int, int] = (640, 640),
        score_threshold: float = 0.5,
        nms_threshold: float = 0.4,
        threads: Optional[int] = None,
        retry_size: Optional[Tuple[int, int]] = (320, 320),
        fit_input: bool = True,
    ) -> None:
        self.model_path = str(model_path)
        self.session = make_session(self.model_path, threads=threads)
        self.input_name = self.session.get_inputs()[0].name
        outs = self.session.get_outputs()
        self.output_names = [o.name for o in outs]
        n = len(outs)
        if n not in (9, 15):
            raise UsageError(
                f"{model_path}: expected an SCRFD detector with landmarks (9 or 15 outputs), got {n} outputs"
            )
        self.fmc = 3 if n == 9 else 5
        self.strides = [8, 16, 32] if n == 9 else [8, 16, 32, 64, 128]
        self.num_anchors = 2 if n == 9 else 1
        self.batched = len(outs[0].shape) == 3
        fixed = self.session.get_inputs()[0].shape[2:]
        self.det_size = tuple(det_size) if not all(isinstance(v, int) for v in fixed) else (fixed[1], fixed[0])
        self.score_threshold = score_threshold
        self.nms_threshold = nms_threshold
        # A small photo letterboxed up to 640 px can lose its face (SCRFD's anchors then see one
        # blurry giant face); LFW's 250 px images are found again at 320. Only retried when the
        # first pass finds nothing and the input size is not fixed by the model.
        self.retry_size = None if all(isinstance(v, int) for v in fixed) else retry_size
        # Input sized to the image (sides rounded up to a multiple of 32, never enlarged, at most
        # det_size) rather than a det_size letterbox: a 250 px photo is 256×256 input, not 640×640
        # mostly black padding. Models with a fixed input size keep the letterbox.
        self.fit_input = fit_input and not all(isinstance(v, int) for v in fixed)
        self._centers: dict = {}

    def _anchor_centers(self, h: int, w: int, stride: int) -> np.ndarray:
        key = (h, w, stride)
        if key not in self._centers:
            if len(self._centers) > 192:  # many image sizes: keep the cache bounded
                self._centers.clear()
            c = np.stack(np.mgrid[:h, :w][::-1], axis=-1).astype(np.float32)
            c = (c * stride).reshape(-1, 2)
            if self.num_anchors > 1:
                c = np.repeat(c, self.num_anchors, axis=0)
            self._centers[key] = c
        return self._centers[key]

    def detect(self, image_bgr: np.ndarray, max_faces: int = 0) -> List[Detection]:
        """Detect faces in a BGR image; sorted by confidence, at most ``max_faces`` (0 = all)."""
        h, w = image_bgr.shape[:2]
        if self.fit_input:
            first = self._fitted(h, w)
            # Nothing found at the image's own scale: the letterbox passes that were the only ones before.
            retries = [self.det_size, self.retry_size]
        else:
            first = (self.det_size, self._letterbox(h, w, self.det_size))
            retries = [self.retry_size]
        result = self._detect_at(image_bgr, *first)
        if max(h, w) < min(self.det_size):
            for size in dict.fromkeys(r for r in retries if r and r != first[0]):
                if result:
                    break
                result = self._detect_at(image_bgr, size, self._letterbox(h, w, size))
        if max_faces > 0:
            result = result[:max_faces]
        return result

    @staticmethod
    def _letterbox(h: int, w: int, det_size: Tuple[int, int]) -> Tuple[int, int]:
        """Image size (w, h) filling ``det_size`` with the aspect ratio kept (as InsightFace does)."""
        w_in, h_in = det_size
        if h / w > h_in / w_in:
            return max(1, int(h_in * w / h)), h_in
        return w_in, max(1, int(w_in * h / w))

    def _fitted(self, h: int, w: int) -> Tuple[Tuple[int, int], Tuple[int, int]]:
        """(input (w, h), image (w, h)): the image shrunk only to fit ``det_size``, sides padded to a multiple of 32."""
        s = min(1.0, self.det_size[0] / w, self.det_size[1] / h)
        nw, nh = (w, h) if s == 1.0 else (max(1, round(w * s)), max(1, round(h * s)))
        return (-(-nw // 32) * 32, -(-nh // 32) * 32), (nw, nh)

    def _detect_at(self, image_bgr: np.ndarray, det_size: Tuple[int, int], image_size: Tuple[int, int]) -> List[Detection]:
        """Detections with ``image_bgr`` resized to ``image_size`` (w, h) at the top left of a ``det_size`` input."""
        (w_in, h_in), (nw, nh) = det_size, image_size
        h, w = image_bgr.shape[:2]
        scale = nh / h
        canvas = np.zeros((h_in, w_in, 3), dtype=np.uint8)
        canvas[:nh, :nw] = image_bgr if (nw, nh) == (w, h) else cv2.resize(image_bgr, (nw, nh))
        blob = cv2.dnn.blobFromImage(canvas, 1.0 / 128.0, (w_in, h_in), (127.5, 127.5, 127.5), swapRB=True)
        outs = self.session.run(self.output_names, {self.input_name: blob})
        boxes_l, scores_l, kps_l = [], [], []
        for i, stride in enumerate(self.strides):
            take = (lambda a: a[0]) if self.batched else (lambda a: a)
            scores = take(outs[i]).reshape(-1)
            keep = np.where(scores >= self.score_threshold)[0]
            if keep.size == 0:
                continue
            centers = self._anchor_centers(h_in // stride, w_in // stride, stride)[keep]
            d = take(outs[i + self.fmc])[keep] * stride
            k = take(outs[i + 2 * self.fmc])[keep] * stride
            boxes_l.append(np.concatenate([centers - d[:, :2], centers + d[:, 2:4]], axis=1))
            kps_l.append(centers[:, None, :] + k.reshape(-1, 5, 2))
            scores_l.append(scores[keep])
        if not scores_l:
            return []
        boxes = np.concatenate(boxes_l) / scale
        kps = np.concatenate(kps_l) / scale
        scores = np.concatenate(scores_l)
        dets = np.hstack([boxes, scores[:, None]]).astype(np.float32)
        keep = _nms(dets, self.nms_threshold)
        return [Detection(dets[i, :4].copy(), float(dets[i, 4]), kps[i].astype(np.float32)) for i in keep]
