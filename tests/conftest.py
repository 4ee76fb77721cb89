"""Shared fixtures: tiny generated datasets (helpers: tests/helpers.py)."""
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


@pytest.fixture(scope='session')
def tiny_synthetic(tmp_path_factory):
    """A 3-video synthetic dataset (6 s each) with flow, generated once per session."""
    from stadl_plugins.datasets.synthetic import generate_synthetic
    root = str(tmp_path_factory.mktemp('synthetic'))
    meta = generate_synthetic(root, tiny_synthetic_config(), workers=1,
                              progress=False)
    return root, meta
