"""A small real training set: a few CelebA identities through detection, alignment and buffalo_sc."""
from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def small_trainset(shared):
    import os

    from fiqa_plugin.training.data import build_training_set

    root = shared / "data" / "celeba"
    assert root.is_dir(), f"{root} missing: the CelebA identity folders are needed (see shared/README.md)"
    names = sorted(os.listdir(root))[:4]
    return build_training_set(root, size=64, degrade_copies=1, seed=0, identities=names,
                              limit_per_identity=8, cache=False)


@pytest.fixture()
def celeba_subset(shared, tmp_path):
    """Make ``tmp_path/faces``: links to the first ``identities`` CelebA identity folders, ``per_identity`` images each."""
    import os

    def make(identities: int, per_identity: int):
        root = shared / "data" / "celeba"
        assert root.is_dir(), f"{root} missing: the CelebA identity folders are needed (see shared/README.md)"
        out = tmp_path / "faces"
        for name in sorted(os.listdir(root))[:identities]:
            (out / name).mkdir(parents=True)
            for f in sorted(os.listdir(root / name))[:per_identity]:
                os.symlink(root / name / f, out / name / f)
        return out

    return make


@pytest.fixture(scope="module")
def torch_one_thread():
    """torch limited to one thread for a module: the machine's cores are shared, and more torch
    threads than free cores makes every op crawl."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
