"""`fiqa methods --long / --json`: kind, input, cost, licence, calibration per method."""
import json

from fiqa_plugin.cli.main import main
from fiqa_plugin.scoring import DEFAULT_METHOD


def test_methods_json(capsys):
    assert main(["methods", "--json"]) == 0
    rows = {r["name"]: r for r in json.loads(capsys.readouterr().out)}
    t = rows["tinyfqnet.celeba-r2"]
    assert t["kind"] == "shipped" and t["input"] == "64px RGB" and t["licence"].startswith("non-commercial")
    assert t["macs_per_face"] == 1_331_456 and t["calibrated"]  # the card's count
    assert rows[DEFAULT_METHOD]["relative_cost"] == 1.0 and rows[DEFAULT_METHOD]["default"]
    assert rows["blur"]["macs_per_face"] == 0 and rows["blur"]["licence"].startswith("MIT")
    assert rows["pose"]["input"] == "detector landmarks"
    assert all(r["calibrated"] for n, r in rows.items() if n != "onnx")


def test_methods_long_table(capsys):
    assert main(["methods", "--long"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split("\t")[:4] == ["name", "kind", "input", "M MACs/face"]
    assert any(line.startswith("sdd-regressor.celeba-r2\tshipped\t112px RGB + buffalo_sc") for line in lines)
