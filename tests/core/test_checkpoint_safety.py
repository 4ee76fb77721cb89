"""Checkpoint loading never runs pickled code unless the user opts in.

mmengine's local loader (used by ``load_from``, ``--resume`` and
``mmengine.runner.load_checkpoint``) stays weights-only with the allow-list of a
Runner checkpoint; a file needing more is refused with a message naming
``STADL_UNSAFE_LOAD=1`` / ``--unsafe-load``.
"""
import os
import subprocess
import sys
import textwrap

import pytest
import torch
from helpers import TESTS_DIR
from mmengine.runner.checkpoint import _load_checkpoint, load_checkpoint

from stadl_plugins import compat


class _WritesAFile:
    """A pickle payload that creates a file when unpickled."""

    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        return (open, (self.path, 'w'))


@pytest.fixture
def malicious(tmp_path):
    marker = tmp_path / 'pwned.txt'
    path = tmp_path / 'evil.pth'
    torch.save({'state_dict': {'w': torch.ones(1)}, 'x': _WritesAFile(str(marker))},
               str(path))
    assert not marker.exists()
    return str(path), marker


def test_mmengine_loader_is_the_weights_only_one():
    assert 'checkpoint_opt_in' in compat.APPLIED
    from mmengine.runner.checkpoint import CheckpointLoader
    loader = CheckpointLoader._get_checkpoint_loader('x.pth')
    assert loader is compat.load_from_local
    # mmengine logs 'Loads checkpoint by <name[10:]> backend': 'local', as stock
    assert loader.__name__[10:] == 'local'


def test_malicious_checkpoint_is_refused_and_not_executed(malicious, monkeypatch):
    monkeypatch.delenv(compat.UNSAFE_LOAD_ENV, raising=False)
    path, marker = malicious
    with pytest.raises(compat.UnsafeCheckpointError) as err:
        _load_checkpoint(path, map_location='cpu')
    msg = str(err.value)
    assert path in msg and 'STADL_UNSAFE_LOAD=1' in msg and '--unsafe-load' in msg
    assert 'open' in msg  # names the offending global
    assert not marker.exists()


def test_model_load_from_is_refused_too(malicious, monkeypatch):
    monkeypatch.delenv(compat.UNSAFE_LOAD_ENV, raising=False)
    path, marker = malicious
    with pytest.raises(compat.UnsafeCheckpointError):
        load_checkpoint(torch.nn.Linear(1, 1), path, map_location='cpu')
    assert not marker.exists()


def test_normal_checkpoint_loads(tmp_path):
    model = torch.nn.Linear(3, 2)
    import numpy as np
    from mmengine.logging.history_buffer import HistoryBuffer
    buf = HistoryBuffer()
    buf.update(1.0)
    path = str(tmp_path / 'ok.pth')
    torch.save(dict(meta=dict(epoch=1, seed=np.int64(0)),
                    state_dict=model.state_dict(),
                    message_hub=dict(log_scalars={'loss': buf})), path)
    other = torch.nn.Linear(3, 2)
    load_checkpoint(other, path, map_location='cpu')
    torch.testing.assert_close(other.weight, model.weight)


def test_opt_in_loads_a_trusted_file_with_full_pickle(malicious):
    # In a subprocess, so the env var and the unpickled side effect stay there.
    path, marker = malicious
    code = textwrap.dedent(f"""
        import warnings
        import stadl_plugins
        from mmengine.runner.checkpoint import _load_checkpoint
        with warnings.catch_warnings(record=True) as w:
            warnings.simplefilter('always')
            ckpt = _load_checkpoint({path!r}, map_location='cpu')
        assert any('STADL_UNSAFE_LOAD=1' in str(x.message) for x in w)
        print(sorted(ckpt))
        """)
    env = dict(os.environ, STADL_UNSAFE_LOAD='1', PYTHONWARNINGS='ignore',
               PYTHONPATH=TESTS_DIR)
    res = subprocess.run([sys.executable, '-c', code], capture_output=True,
                         text=True, env=env, timeout=300)
    assert res.returncode == 0, res.stderr[-3000:]
    assert "['state_dict', 'x']" in res.stdout
    assert marker.exists()  # full pickle ran the payload: that is what opt-in means
