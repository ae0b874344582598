"""`fiqa label --method optimize` without initial scores: exit 2, the hint names the default policy's model."""
import pytest

from fiqa_plugin.plugins import QUALITY_METHODS
from fiqa_plugin.scoring import ACCURATE_METHOD, DEFAULT_METHOD


@pytest.mark.parametrize("recognizer, want", [("buffalo_sc", ACCURATE_METHOD), ("mobilefacenet-128d", DEFAULT_METHOD)])
def test_optimize_without_initial_scores_names_the_policys_model(recognizer, want, tmp_path, capsys):
    from fiqa_plugin.cli import main

    # the accurate tier is a head on buffalo_sc's tensors (its config says so); other recognizers get the default
    assert QUALITY_METHODS.entry(ACCURATE_METHOD).tags["config"].compose["recognizer"] == "buffalo_sc"
    (tmp_path / "person").mkdir()
    rc = main.main(["label", str(tmp_path), "--method", "optimize", "--recognizer", recognizer,
                    "--out", str(tmp_path / "labels.csv")])
    assert rc == 2 and not (tmp_path / "labels.csv").exists()
    assert f"--initial-method {want}," in capsys.readouterr().err
