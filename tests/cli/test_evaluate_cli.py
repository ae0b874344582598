"""``fiqa evaluate``: a hand-computed EDC from a CSV with similarities, and a real LFW run end to end."""
import csv
import json

import numpy as np
import pytest

from fiqa_plugin.cli.main import main


def _write_csv(path, header, rows):
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(header)
        w.writerows(rows)


def test_hand_computed_edc_from_similarity_csv(tmp_path, capsys):
    # 4 genuine pairs (similarities 0.9, 0.8, 0.2, 0.7) and 4 impostor pairs (0.1, 0.3, 0.05, 0.25).
    # FMR 0.25 allows one impostor match: the threshold is the smallest t with at most one impostor >= t,
    # i.e. just above 0.25, so only the 0.2 genuine pair fails: FNMR(0) = 1/4.
    # Its pair quality (min of its images' 0.1 and 1.0) is the lowest, so discarding 1/4 of the genuine
    # pairs removes the error: pAUC over [0, 0.5] = (0.25 * 0.25) / 0.5 = 0.125.
    gen_sim, imp_sim = [0.9, 0.8, 0.2, 0.7], [0.1, 0.3, 0.05, 0.25]
    gen_q, imp_q = [0.9, 0.8, 0.1, 0.7], [0.5, 0.5, 0.5, 0.5]
    rows, scores = [], []
    for i, (s, q) in enumerate(zip(gen_sim + imp_sim, gen_q + imp_q)):
        rows.append([f"p{i}a.jpg", f"p{i}b.jpg", int(i < 4), s])
        scores += [[str(tmp_path / f"p{i}a.jpg"), q, "ok", 0, ""], [str(tmp_path / f"p{i}b.jpg"), 1.0, "ok", 0, ""]]
    _write_csv(tmp_path / "pairs.csv", ["a", "b", "genuine", "similarity"], rows)
    _write_csv(tmp_path / "scores.csv", ["path", "quality", "status", "face", "error"], scores)
    argv = ["evaluate", str(tmp_path / "pairs.csv"), "--scores", str(tmp_path / "scores.csv"),
            "--fmr", "0.25", "--discard-limit", "0.5", "--json"]
    assert main(argv) == 0
    rep = json.loads(capsys.readouterr().out)
    e = rep["edc"]["0.25"]
    assert rep["genuine"] == 4 and rep["impostor"] == 4
    assert 0.25 < e["threshold"] <= 0.25 + 1e-9
    assert e["fnmr_at_0_discard"] == pytest.approx(0.25)
    assert e["pauc"]["0.5"] == pytest.approx(0.125)
    # theoretical best: FNMR max(0, (0.25 - f) / (1 - f)), the same area here to within the 1/4 step
    assert e["theoretical_best_pauc"]["0.5"] <= e["pauc"]["0.5"]
    # markdown view of the same report
    assert main(argv[:-1]) == 0
    assert "| 0.25 | 0.2500 | 0.2500 | 0.1250 |" in capsys.readouterr().out


def test_lfw_pairs_end_to_end(tmp_path, shared, capsys):
    """score + evaluate on 4 same and 4 different LFW pairs, one of whose images is removed from the scores."""
    lines = (shared / "data" / "lfw" / "pairs.txt").read_text().splitlines()
    body = lines[1:5] + lines[301:305]  # fold 1: the first 4 same pairs, then the first 4 different pairs
    (tmp_path / "pairs.txt").write_text("4\n" + "\n".join(body) + "\n")
    images = shared / "data" / "lfw" / "images"
    from fiqa_plugin.evaluation import parse_lfw_pairs

    pairs = parse_lfw_pairs(tmp_path / "pairs.txt", images)
    paths = sorted({p for pr in pairs for p in (pr.path_a, pr.path_b)})
    (tmp_path / "list.txt").write_text("\n".join(paths[1:]) + "\n")  # paths[0] left unscored
    scores = tmp_path / "scores.csv"
    assert main(["score", str(tmp_path / "list.txt"), "--method", "blur", "--out", str(scores)]) == 0
    capsys.readouterr()
    plot = tmp_path / "edc.png"
    assert main(["evaluate", str(tmp_path / "pairs.txt"), "--images", str(images), "--scores", str(scores),
                 "--fmr", "0.25", "--plot", str(plot), "--json"]) == 0
    rep = json.loads(capsys.readouterr().out)
    assert rep["pairs"] == 8 and rep["genuine"] == 4 and rep["unscored_images"] == 1
    e = rep["edc"]["0.25"]
    assert 0.0 <= e["fnmr_at_0_discard"] <= 1.0 and -1.0 < e["threshold"] < 1.0
    fn = np.asarray(e["curve"]["fnmr"])
    assert fn[-1] == 0.0 and len(fn) == len(e["curve"]["discard_fractions"])
    assert plot.stat().st_size > 1000


def test_pairs_without_scores_is_a_clean_error(tmp_path, capsys):
    _write_csv(tmp_path / "pairs.csv", ["a", "b", "genuine", "similarity"], [["x.jpg", "y.jpg", 1, 0.5]])
    _write_csv(tmp_path / "scores.csv", ["path", "quality", "status", "face", "error"], [["z.jpg", 1, "ok", 0, ""]])
    assert main(["evaluate", str(tmp_path / "pairs.csv"), "--scores", str(tmp_path / "scores.csv")]) == 2
    assert "score them first" in capsys.readouterr().err
