import csv

from fiqa_plugin.cli.main import main


def test_methods_lists_one_per_line(capsys):
    assert main(["methods"]) == 0
    lines = capsys.readouterr().out.split()
    assert "blur" in lines and "lightqnet" in lines and lines == sorted(lines)


def test_score_writes_csv_and_resumes(tmp_path, lfw_images, capsys):
    lst = tmp_path / "list.txt"
    lst.write_text("\n".join(lfw_images[:2] + [str(tmp_path / "gone.jpg")]) + "\n")
    out = tmp_path / "scores.csv"
    assert main(["score", str(lst), "--method", "blur", "--out", str(out)]) == 0
    rows = list(csv.DictReader(open(out)))
    assert [r["status"] for r in rows] == ["ok", "ok", "missing"]
    assert float(rows[0]["quality"]) > 0 and rows[2]["quality"] == ""
    # resume: a longer list only scores the new paths
    lst.write_text("\n".join(lfw_images[:3] + [str(tmp_path / "gone.jpg")]) + "\n")
    assert main(["score", str(lst), "--method", "blur", "--out", str(out), "--resume"]) == 0
    rows = list(csv.DictReader(open(out)))
    assert len(rows) == 4 and rows[3]["path"] == lfw_images[2]
    assert "scored 1 images" in capsys.readouterr().out


def test_unknown_method_is_a_clean_error(tmp_path, lfw_images, capsys):
    assert main(["score", lfw_images[0], "--method", "blurr", "--out", str(tmp_path / "x.csv")]) == 2
    assert "Did you mean 'blur'" in capsys.readouterr().err
