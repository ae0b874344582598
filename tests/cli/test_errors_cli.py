"""The CLI prints user errors (FiqaError) as one line with exit code 2 and lets bugs raise."""
from __future__ import annotations

import pytest

from fiqa_plugin.cli import main as cli_main
from fiqa_plugin.errors import FiqaError, InputError, MissingAssetError, UnknownNameError, UsageError


def test_user_error_is_one_line_with_its_hint(tmp_path, capsys):
    assert cli_main.main(["score", str(tmp_path), "--method", "blurr", "--out", str(tmp_path / "s.csv")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert err.startswith("fiqa score: error: unknown quality method 'blurr'") and "Did you mean 'blur'" in err


def test_a_bug_keeps_its_traceback(monkeypatch, tmp_path):
    def broken(args):
        raise ValueError("a plain ValueError is a bug, not a user error")

    parser = cli_main.build_parser()
    args = parser.parse_args(["methods"])
    monkeypatch.setattr(cli_main, "build_parser", lambda: type("P", (), {"parse_args": lambda self, argv: args})())
    args.func = broken
    with pytest.raises(ValueError, match="plain ValueError"):
        cli_main.main(["methods"])


@pytest.mark.parametrize("cls, builtin", [(UsageError, ValueError), (UnknownNameError, KeyError),
                                          (MissingAssetError, FileNotFoundError), (InputError, ValueError)])
def test_errors_keep_their_builtin_bases_and_show_the_hint(cls, builtin):
    err = cls("it went wrong", hint="do this")
    assert isinstance(err, FiqaError) and isinstance(err, builtin)
    assert str(err) == "it went wrong (do this)"
