"""Operator and library inputs are checked before anything is written: a bad field name or type,
k or threshold is a UsageError naming the input, and the dataset is left exactly as it was."""
from __future__ import annotations

import math

import pytest

from fiqa_plugin.errors import UsageError


def _schema(ds) -> dict:
    return {k: type(v).__name__ for k, v in ds.get_field_schema().items()}


COMPUTE_CASES = [
    ({"quality_field": "filepath"}, "built-in"),
    ({"quality_field": "label"}, "already holds StringField"),
    ({"quality_field": "a.b"}, "plain field name"),
    ({"quality_field": ""}, "give a field name"),
    ({"quality_field": "q", "faces_field": "q"}, "different names"),
    ({"quality_field": "q", "faces_field": "label"}, "already holds"),
    ({"quality_field": "q", "batch_size": 0}, "batch_size"),
]
SELECT_CASES = [

    ({"lowest_k": 0}, "lowest_k"), ({"lowest_k": 1.5}, "lowest_k"), ({"lowest_k": -2}, "lowest_k"),
    ({"best_k_per": 0, "group_field": "label"}, "best_k_per"),
    ({"threshold": math.nan}, "finite"), ({"threshold": 150, "calibrated": True}, "0-100"),
    ({"threshold": "low"}, "number"), ({"threshold": 1, "quality_field": "nope"}, "no field 'nope'"),
]


def test_compute_quality_refuses_before_writing(make_dataset, lfw20):
    from fiqa_plugin.integrations.fiftyone import compute_quality

    ds = make_dataset(lfw20[:2], label=["a", "b"])
    before = _schema(ds)
    for kw, match in COMPUTE_CASES:
        with pytest.raises(UsageError, match=match):
            compute_quality(ds, "blur", **kw)
        assert _schema(ds) == before, kw
    assert ds.values("label") == ["a", "b"]


def test_select_by_quality_checks_inputs(make_dataset, lfw20):
    from fiqa_plugin.integrations.fiftyone import select_by_quality

    ds = make_dataset(lfw20[:3], label=["a", "a", "b"], quality=[0.1, 0.5, 0.9], quality_score=[10.0, 50.0, 90.0])
    for kw, match in SELECT_CASES:
        with pytest.raises(UsageError, match=match):
            select_by_quality(ds, **kw)
    assert len(select_by_quality(ds, lowest_k=2.0)) == 2


def test_bad_view_name_tags_nothing(make_dataset, lfw20):
    from fiqa_plugin.integrations.fiftyone import select_by_quality, tag_or_save

    ds = make_dataset(lfw20[:3], quality=[0.1, 0.5, 0.9])
    view = select_by_quality(ds, lowest_k=2)
    with pytest.raises(UsageError, match="view_name"):
        tag_or_save(view, tag="worst", view_name="  ")
    assert ds.count_sample_tags() == {}
    assert tag_or_save(view, tag="worst")["count"] == 2


def test_pseudo_labels_refuse_a_bad_label_field_before_embedding(make_dataset, lfw20):
    from fiqa_plugin.integrations.fiftyone_labels import generate_pseudo_labels

    ds = make_dataset(lfw20[:2], label=["a", "b"])
    before = _schema(ds)
    for kw, match in [({"label_field": "label"}, "already holds StringField"), ({"label_field": "tags"}, "built-in"),
                      ({"label_field": "x", "embeddings_field": "x"}, "different names"), ({"batch_size": 0}, "batch_size")]:
        with pytest.raises(UsageError, match=match):
            generate_pseudo_labels(ds, identity_field="label", **kw)
        assert _schema(ds) == before, kw
