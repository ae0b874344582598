"""`make test` first runs .ci/ensure-chromium.sh: Chromium installed from apt when missing (root or sudo),
else one message with the command. Run here with fake id/sudo/apt-get/chromium on an isolated PATH."""
import subprocess
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[1] / ".ci" / "ensure-chromium.sh"


def _bin(tmp_path, **tools):
    d = tmp_path / "bin"
    d.mkdir(exist_ok=True)
    tools.setdefault("env", 'exec /usr/bin/env "$@"')
    for name, body in tools.items():
        f = d / name.replace("_", "-")
        f.write_text("#!/bin/sh\n" + body + "\n")
        f.chmod(0o755)
    return d


def _run(bindir):
    return subprocess.run(["/bin/sh", str(SCRIPT)], env={"PATH": str(bindir)}, capture_output=True, text=True, timeout=30)


def test_present_chromium_is_left_alone(tmp_path):
    r = _run(_bin(tmp_path, chromium="exit 0", apt_get=f"echo called >> {tmp_path}/log"))
    assert r.returncode == 0 and not (tmp_path / "log").exists()


def test_root_installs_it_with_apt(tmp_path):
    r = _run(_bin(tmp_path, id="echo 0", apt_get=f'echo "$@" >> {tmp_path}/log'))
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "log").read_text().splitlines() == ["update -q", "install -y -q chromium"]


def test_sudo_is_used_when_not_root(tmp_path):
    r = _run(_bin(tmp_path, id="echo 1000", sudo=f'echo "sudo $@" >> {tmp_path}/log', apt_get="exit 0"))
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "log").read_text().splitlines() == ["sudo apt-get update -q", "sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium"]


def test_without_root_or_sudo_one_message_with_the_command(tmp_path):
    r = _run(_bin(tmp_path, id="echo 1000", apt_get=f"echo called >> {tmp_path}/log"))
    assert r.returncode == 1 and not (tmp_path / "log").exists()
    assert r.stderr.count("\n") == 1 and "apt-get install -y chromium" in r.stderr and "FIQA_CHROMIUM" in r.stderr
