"""`fiqa plugin install` links operators/ into FiftyOne's plugins folder, and FiftyOne then finds the plugin."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def test_install_links_the_plugin_and_fiftyone_lists_it(tmp_path):
    plugins = tmp_path / "plugins"
    code = ("import json, fiftyone.plugins as fop; from fiqa_plugin.cli.main import main; rc = main(['plugin', 'install']); "
            "print(json.dumps([rc, [p.name for p in fop.list_plugins(enabled='all')]]))")
    env = dict(os.environ, FIFTYONE_PLUGINS_DIR=str(plugins), FIFTYONE_DO_NOT_TRACK="true")
    r = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    rc, names = json.loads(r.stdout.strip().splitlines()[-1])
    assert rc == 0 and "@fiqa/fiqa-plugin" in names
    link = plugins / "fiqa-plugin"
    assert link.is_symlink() and link.resolve() == (REPO / "operators").resolve()


def test_install_is_idempotent_and_refuses_to_clobber(tmp_path):
    from fiqa_plugin.cli.plugin import install
    from fiqa_plugin.errors import UsageError

    link = install(tmp_path)
    assert install(tmp_path) == link  # the same link again: fine
    link.unlink()
    link.mkdir()
    with pytest.raises(UsageError, match="--force"):
        install(tmp_path)
    assert install(tmp_path, force=True).is_symlink()
