"""Each runtime fix of stadl_plugins.compat: needed on this stack, and working."""
import io
import os
import pickle
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch

from stadl_plugins import compat


def run_py(code, env=None):
    return subprocess.run([sys.executable, '-c', textwrap.dedent(code)],
                          capture_output=True, text=True, env=env, timeout=300)


def test_drn_fix_is_needed_and_applied():
    # Without the fix the PyPI wheel cannot import its models at all.
    res = run_py('import mmaction.models')
    assert res.returncode != 0
    assert "No module named 'mmaction.models.localizers.drn'" in res.stderr
    assert 'drn_placeholder' in compat.APPLIED
    import mmaction.models  # noqa: F401  works once stadl_plugins is imported
    from mmdet.registry import MODELS
    assert MODELS.get('AVARoIHead') is not None


def test_drn_placeholder_raises_clear_error():
    from mmaction.models.localizers.drn.drn import DRN
    with pytest.raises(ImportError, match='does not contain DRN'):
        DRN()


def _runner_like_checkpoint():
    from mmengine.logging.history_buffer import HistoryBuffer
    buf = HistoryBuffer()
    buf.update(0.5)
    return dict(meta=dict(epoch=1, seed=np.int64(3), hist=np.arange(3.0)),
                state_dict={'w': torch.ones(2)},
                message_hub=dict(log_scalars={'loss': buf},
                                 runtime_info={'dtype': np.dtype('float32'),
                                               'iter': np.float64(2.0)}))


def test_weights_only_load_of_runner_checkpoint():
    f = io.BytesIO()
    torch.save(_runner_like_checkpoint(), f)
    f.seek(0)
    ckpt = torch.load(f, weights_only=True)
    assert ckpt['message_hub']['log_scalars']['loss'].current() == 0.5
    assert ckpt['meta']['hist'].tolist() == [0.0, 1.0, 2.0]


def test_weights_only_load_needs_the_fix():
    # In a fresh interpreter without stadl_plugins the same file is refused.
    import tempfile
    with tempfile.NamedTemporaryFile(suffix='.pth', delete=False) as f:
        torch.save(_runner_like_checkpoint(), f.name)
        path = f.name
    try:
        res = run_py(f'import torch; torch.load({path!r})')
        assert res.returncode != 0 and 'Weights only load failed' in res.stderr
        res = run_py(f'import stadl_plugins, torch; torch.load({path!r})')
        assert res.returncode == 0, res.stderr[-2000:]
    finally:
        os.remove(path)


class _Evil:

    def __reduce__(self):
        return (os.system, ('echo pwned',))


def test_malicious_pickle_still_refused():
    f = io.BytesIO()
    torch.save({'x': _Evil()}, f)
    f.seek(0)
    with pytest.raises(pickle.UnpicklingError):
        torch.load(f, weights_only=True)


def test_numpy_nan_alias():
    assert np.NAN is np.nan or np.isnan(np.NAN)
    assert compat.fix_numpy_nan_alias() is False  # idempotent: already there


def test_numpy_nan_fix_is_needed():
    res = run_py('import numpy as np; np.NAN')
    assert res.returncode != 0 and "has no attribute 'NAN'" in res.stderr


def test_broken_torchvision_is_hidden(tmp_path):
    fake = tmp_path / 'torchvision'
    fake.mkdir()
    (fake / '__init__.py').write_text(
        "raise RuntimeError('operator torchvision::nms does not exist')\n")
    env = dict(os.environ, PYTHONPATH=f'{tmp_path}{os.pathsep}'
               + os.environ.get('PYTHONPATH', ''))
    res = run_py("""
        import warnings
        warnings.simplefilter('ignore')
        import stadl_plugins
        from mmengine.utils.dl_utils import collect_env
        env = collect_env()
        assert 'broken_torchvision' in stadl_plugins.compat.APPLIED
        try:
            import torchvision
        except ModuleNotFoundError:
            print('hidden')
        """, env=env)
    assert res.returncode == 0, res.stderr[-2000:]
    assert 'hidden' in res.stdout


def test_apply_all_is_idempotent():
    before = list(compat.APPLIED)
    assert compat.apply_all() == before
