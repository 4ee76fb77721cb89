"""Shared fixtures: tiny generated datasets (helpers: tests/helpers.py).

The suite runs on pytest-xdist workers (pytest.ini: ``-n auto --dist loadfile``,
one worker per core, a test file's tests on one worker so its module fixtures
are built once); each worker gets an equal share of the cores for torch and for
the processes its tests start (``OMP_NUM_THREADS``), so that N workers do not
run N x cores threads. ``pytest -n 0`` runs in one process as before.
"""
import os

import pytest
from helpers import (  # noqa: F401
    QUICKSTART_CONFIG,
    REPO,
    SHARED_DATA,
    shared,
    tiny_runner_config,
    tiny_synthetic_config,
)

import stadl_plugins  # noqa: F401  (fixes + registration before any test)

if os.environ.get('PYTEST_XDIST_WORKER'):
    import torch
    _share = max(1, (os.cpu_count() or 1)
                 // max(1, int(os.environ.get('PYTEST_XDIST_WORKER_COUNT', '1'))))
    os.environ['OMP_NUM_THREADS'] = str(_share)
    torch.set_num_threads(_share)


@pytest.fixture(scope='session')
def tiny_synthetic(tmp_path_factory):
    """A 3-video synthetic dataset (6 s each) with flow, generated once per session."""
    from stadl_plugins.datasets.synthetic import generate_synthetic
    root = str(tmp_path_factory.mktemp('synthetic'))
    meta = generate_synthetic(root, tiny_synthetic_config(), workers=1,
                              progress=False)
    return root, meta
