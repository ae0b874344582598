"""The main trainer killed with a real SIGKILL (no clean-up runs) resumes from its last checkpoint
and ends with exactly the weights and history of a run that was never killed."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import torch

from fiqa_plugin.paths import REPO_DIR
from fiqa_plugin.training.train import TrainConfig, train

CFG = dict(epochs=3, batch_size=16, lr=0.05, lr_step=1, min_images=2, val_fraction=0.25, seed=3)
SCRIPT = """
import sys, time
from fiqa_plugin.training.data import TrainingSet
from fiqa_plugin.training.train import TrainConfig, train
# the pause after each epoch's checkpoint only gives the test a moment to kill it mid-run
train(TrainingSet.load(sys.argv[1]), TrainConfig(**eval(sys.argv[3])), sys.argv[2],
      on_epoch_end=lambda epoch, rec: time.sleep(30 if epoch == 1 else 0))
"""


def test_train_sigkill_then_resume_is_bit_identical(small_trainset, tmp_path):
    small_trainset.save(tmp_path / "ts.npz")
    run = tmp_path / "killed"
    proc = subprocess.Popen([sys.executable, "-c", SCRIPT, str(tmp_path / "ts.npz"), str(run), repr(CFG)],
                            cwd=str(REPO_DIR), stderr=subprocess.PIPE)
    t = time.monotonic()
    while proc.poll() is None and not (run / "last.pt").exists() and time.monotonic() - t < 300:
        time.sleep(0.05)
    assert proc.poll() is None, proc.stderr.read().decode()[-2000:]
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert torch.load(run / "last.pt", weights_only=True)["epoch"] == 0  # killed after epoch 1 of 3
    assert not (run / "model.pt").exists()
    resumed = train(small_trainset, TrainConfig(**CFG), run)
    full = train(small_trainset, TrainConfig(**CFG), tmp_path / "full")
    a, b = full.model.state_dict(), resumed.model.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert resumed.history == full.history
