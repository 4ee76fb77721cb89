"""Hostile and real checkpoint corpora for the weights-only loader.

Every hostile file is refused before anything runs (a payload would create a
marker file), both by stock torch (a subprocess without ``stadl_plugins``) and
with ``stadl_plugins`` imported: importing the package must never make loading
less safe than stock torch. Every real layout (Runner checkpoint with message
hub / history buffers, optimizer and scheduler state, our converters' outputs,
stock MMAction2 layout) loads. Damaged files name the file and never suggest
switching safety off; ``--resume`` falls back to the newest intact checkpoint.
"""
import json
import os
import os.path as osp
import pickle
import struct
import subprocess
import sys
import textwrap
import warnings
import zipfile

import numpy as np
import pytest
import torch

from stadl_plugins import safe_load
from stadl_plugins.safe_load import (
    CorruptCheckpointError,
    UnsafeCheckpointError,
    load_checkpoint_file,
)


# ------------------------------------------------------------- a tiny assembler
def G(module, name):  # GLOBAL
    return b'c' + module.encode() + b'\n' + name.encode() + b'\n'


def S(text):  # BINUNICODE
    data = text.encode()
    return b'X' + struct.pack('<I', len(data)) + data


PROTO, STOP, REDUCE, BUILD, TUPLE1, TUPLE2 = b'\x80\x02', b'.', b'R', b'b', b'\x85', b'\x86'
EMPTY_DICT, EMPTY_TUPLE, SETITEM = b'}', b')', b's'
HB = ('mmengine.logging.history_buffer', 'HistoryBuffer')


def payload_code(marker):
    return f"open({str(marker)!r}, 'w').write('pwned')"


def as_checkpoint(path, data_pkl: bytes, extra: dict | None = None):
    """A torch zip checkpoint whose ``data.pkl`` is ``data_pkl``."""
    with zipfile.ZipFile(path, 'w', zipfile.ZIP_STORED) as zf:
        zf.writestr('archive/data.pkl', data_pkl)
        zf.writestr('archive/byteorder', 'little')
        zf.writestr('archive/version', '3\n')
        for k, v in (extra or {}).items():
            zf.writestr(f'archive/{k}', v)
    return str(path)


def hostile_pickles(marker):
    """name -> data.pkl bytes; each would write ``marker`` if it got to run."""
    code = payload_code(marker)
    getattr_eval = (G('builtins', 'getattr') + G('builtins', 'getattr')
                    + G('builtins', 'getattr') + S('__self__') + TUPLE2 + REDUCE
                    + S('eval') + TUPLE2 + REDUCE)
    return {
        # the reported attack: getattr(getattr, '__self__') -> builtins -> eval,
        # then BUILD plants eval as an instance __setstate__ of a HistoryBuffer
        'getattr_chain_setstate_eval': (
            PROTO + G(*HB) + EMPTY_TUPLE + REDUCE
            + EMPTY_DICT + S('__setstate__') + getattr_eval + SETITEM + BUILD
            + S(code) + BUILD + STOP),
        # the same BUILD injection with an allow-listed callable (no getattr)
        'setstate_injection_allowed_callable': (
            PROTO + G(*HB) + EMPTY_TUPLE + REDUCE
            + EMPTY_DICT + S('__setstate__') + G(*HB) + SETITEM + BUILD
            + S(code) + BUILD + STOP),
        # getattr to a function's globals (reaches builtins/os)
        'getattr_function_globals': (
            PROTO + G('builtins', 'getattr') + G('builtins', 'getattr') + G(*HB)
            + S('update') + TUPLE2 + REDUCE + S('__globals__') + TUPLE2 + REDUCE
            + STOP),
        'getattr_numpy_dtypes_dunder': (
            PROTO + G('builtins', 'getattr') + G('numpy', 'dtypes')
            + S('__builtins__') + TUPLE2 + REDUCE + STOP),
        'getattr_history_buffer_init': (
            PROTO + G('builtins', 'getattr') + G(*HB) + S('__init__') + TUPLE2
            + REDUCE + STOP),
        # classic __reduce__: os.system / builtins.eval / exec
        'reduce_os_system': (
            PROTO + G('os', 'system') + S(f'touch {marker}') + TUPLE1 + REDUCE + STOP),
        'reduce_builtins_eval': (
            PROTO + G('builtins', 'eval') + S(code) + TUPLE1 + REDUCE + STOP),
        'reduce_builtins_exec': (
            PROTO + G('builtins', 'exec') + S(code) + TUPLE1 + REDUCE + STOP),
        # nested global names (dotted qualname) and a subprocess module
        'nested_global': (
            PROTO + G('mmengine.logging.history_buffer',
                      'HistoryBuffer.update.__globals__') + STOP),
        'subprocess_popen': (
            PROTO + G('subprocess', 'Popen') + S('true') + TUPLE1 + REDUCE + STOP),
        # torch._utils rebuild tricks: a function-typed backward hook, a
        # parameter whose state names a callable
        'rebuild_tensor_hook_eval': (
            PROTO + G('torch._utils', '_rebuild_tensor_v2') + b'(' + b'N'
            + b'K\x00' + EMPTY_TUPLE + EMPTY_TUPLE + b'\x89'
            + G('collections', 'OrderedDict') + EMPTY_TUPLE + REDUCE
            + b't' + REDUCE + STOP),
        'numpy_reconstruct_eval': (
            PROTO + G('numpy._core.multiarray', '_reconstruct') + G('builtins', 'eval')
            + b'K\x00' + TUPLE1 + S('b') + b'\x87' + REDUCE + STOP),
    }


def oversized_storage_pickle():
    """A tensor whose storage claims 2**40 elements while the record holds 4 bytes."""
    pid = (b'(' + S('storage') + G('torch', 'FloatStorage') + S('0') + S('cpu')
           + b'\x8a\x06' + (2 ** 40).to_bytes(6, 'little') + b't' + b'Q')
    return (PROTO + G('torch._utils', '_rebuild_tensor_v2') + b'(' + pid
            + b'K\x00' + b'\x8a\x06' + (2 ** 40).to_bytes(6, 'little') + TUPLE1
            + b'K\x01' + TUPLE1 + b'\x89' + G('collections', 'OrderedDict')
            + EMPTY_TUPLE + REDUCE + b't' + REDUCE + STOP)


@pytest.fixture
def corpus(tmp_path):
    marker = tmp_path / 'pwned.txt'
    files = {name: as_checkpoint(tmp_path / f'{name}.pth', data)
             for name, data in hostile_pickles(marker).items()}
    files['oversized_storage'] = as_checkpoint(
        tmp_path / 'oversized.pth', oversized_storage_pickle(), {'data/0': b'\0' * 4})
    return files, marker


def test_the_reported_attack_runs_with_the_plain_getattr_allow_list(tmp_path):
    """Control: the corpus entry is a real exploit, not a malformed file.

    With the real ``builtins.getattr`` allow-listed (what the package did
    before) and no HistoryBuffer guard, the payload runs; this proves the test
    below would catch a regression to that allow-list.
    """
    marker = tmp_path / 'pwned.txt'
    path = as_checkpoint(tmp_path / 'x.pth',
                         hostile_pickles(marker)['getattr_chain_setstate_eval'])
    code = textwrap.dedent(f"""
        import torch
        from mmengine.logging.history_buffer import HistoryBuffer
        torch.serialization.add_safe_globals([getattr, HistoryBuffer])
        try:
            torch.load({path!r}, weights_only=True)
        except Exception as exc:
            print('raised', type(exc).__name__)
        """)
    res = subprocess.run([sys.executable, '-c', code], capture_output=True,
                         text=True, timeout=300,
                         env=dict(os.environ, PYTHONWARNINGS='ignore'))
    assert res.returncode == 0, res.stderr[-2000:]
    assert marker.exists(), res.stdout + res.stderr[-2000:]


def test_stock_torch_refuses_every_hostile_file(corpus):
    files, marker = corpus
    code = textwrap.dedent(f"""
        import json, resource, torch
        resource.setrlimit(resource.RLIMIT_AS, (6 << 30, 6 << 30))
        out = {{}}
        for name, path in json.loads({json.dumps(json.dumps(files))}).items():
            try:
                torch.load(path, weights_only=True)
                out[name] = 'loaded'
            except BaseException as exc:
                out[name] = type(exc).__name__
        print(json.dumps(out))
        """)
    res = subprocess.run([sys.executable, '-c', code], capture_output=True,
                         text=True, timeout=300,
                         env=dict(os.environ, PYTHONWARNINGS='ignore'))
    assert res.returncode == 0, res.stderr[-3000:]
    out = json.loads(res.stdout.strip().splitlines()[-1])
    assert 'loaded' not in out.values(), out
    assert not marker.exists()


@pytest.mark.parametrize('name', sorted(hostile_pickles('m')) + ['oversized_storage'])
def test_hostile_file_is_refused_with_stadl_plugins_imported(corpus, name,
                                                             monkeypatch):
    monkeypatch.delenv(safe_load.UNSAFE_LOAD_ENV, raising=False)
    files, marker = corpus
    for load in (lambda p: load_checkpoint_file(p, map_location='cpu'),
                 lambda p: torch.load(p, weights_only=True)):
        with pytest.raises(Exception) as err:
            load(files[name])
        assert not isinstance(err.value, (SystemExit, KeyboardInterrupt))
        assert not marker.exists(), f'{name}: the payload ran'
    with pytest.raises((UnsafeCheckpointError, CorruptCheckpointError)) as err:
        load_checkpoint_file(files[name])
    assert files[name] in str(err.value)


def test_getattr_attack_message_does_not_suggest_the_opt_in(corpus):
    files, _ = corpus
    with pytest.raises(UnsafeCheckpointError) as err:
        load_checkpoint_file(files['getattr_chain_setstate_eval'])
    msg = str(err.value)
    assert "'__self__') is refused" in msg and 'may be malicious' in msg
    assert 'STADL_UNSAFE_LOAD=1' not in msg


def test_restricted_getattr_allows_exactly_the_enumerated_pairs():
    from mmengine.logging.history_buffer import HistoryBuffer
    for name in ('min', 'max', 'mean', 'current'):
        assert safe_load.restricted_getattr(HistoryBuffer, name) is \
            getattr(HistoryBuffer, name)
    assert safe_load.restricted_getattr(np.dtypes, 'Float64DType') is \
        np.dtypes.Float64DType
    for obj, name in [(getattr, '__self__'), (HistoryBuffer, '__init__'),
                      (HistoryBuffer, '__dict__'), (np.dtypes, '__builtins__'),
                      (np, 'dtypes'), (np.dtypes, '_DTypeMeta'), (torch, 'load'),
                      (HistoryBuffer, 'update'), (np.dtypes, 0)]:
        with pytest.raises(pickle.UnpicklingError):
            safe_load.restricted_getattr(obj, name)


# ------------------------------------------------------------ the real corpus
def _runner_like_checkpoint():
    """The layout ``Runner.save_checkpoint`` writes (mmengine 0.10.7)."""
    from mmengine.logging import MessageHub
    from mmengine.logging.history_buffer import HistoryBuffer
    model = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.BatchNorm2d(4))
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    model(torch.randn(2, 3, 8, 8)).sum().backward()
    opt.step()
    sched = torch.optim.lr_scheduler.StepLR(opt, 2)
    hub = MessageHub.get_instance('stadl_corpus')
    for i in range(3):
        hub.update_scalar('train/loss', float(i), 1)
        hub.update_scalar('train/lr', np.float64(1e-3))
    hub.update_info('epoch', 1)
    hub.update_info('seed', np.int64(0))
    buf = HistoryBuffer()
    buf.update(2.5)
    return dict(meta=dict(mmengine='0.10.7', epoch=1, iter=5, seed=np.int64(7),
                          dataset_meta=dict(classes=('a', 'b')),
                          exp_name='x', time='20261201'),
                state_dict=model.state_dict(), optimizer=opt.state_dict(),
                param_schedulers=[sched.state_dict()],
                message_hub=hub.state_dict(), extra=dict(buf=buf,
                                                         arr=np.arange(3.0)),
                stadl_rng_state=dict(numpy=np.random.get_state(),
                                     torch=torch.get_rng_state()))


def test_runner_layout_loads_and_round_trips(tmp_path):
    ckpt = _runner_like_checkpoint()
    path = str(tmp_path / 'epoch_1.pth')
    torch.save(ckpt, path)
    got = load_checkpoint_file(path, map_location='cpu')
    assert got['meta']['seed'] == 7
    torch.testing.assert_close(got['state_dict']['0.weight'],
                               ckpt['state_dict']['0.weight'])
    hist = got['message_hub']['log_scalars']['train/loss']
    assert hist.mean() == pytest.approx(1.0) and hist.current() == 2.0
    assert got['extra']['buf'].current() == pytest.approx(2.5)
    assert got['param_schedulers'][0]['step_size'] == 2


@pytest.mark.slow
def test_a_trained_runner_checkpoint_loads(tiny_synthetic, tmp_path):
    """A checkpoint written by a real mmengine Runner (tools/train.py)."""
    from helpers import tiny_runner_config
    root, meta = tiny_synthetic
    cfg = tiny_runner_config(root, meta, tmp_path / 'work', max_epochs=1,
                             batch_size=4)
    cfg.val_cfg = cfg.val_dataloader = cfg.val_evaluator = None
    cfg.custom_hooks = [dict(type='RNGStateHook')]
    from mmengine.runner import Runner
    runner = Runner.from_cfg(cfg)
    runner.train()
    path = str(tmp_path / 'work' / 'epoch_1.pth')
    unsafe = torch.serialization.get_unsafe_globals_in_checkpoint(path)
    got = load_checkpoint_file(path, map_location='cpu')
    assert {'meta', 'state_dict', 'optimizer', 'message_hub'} <= set(got)
    # the globals beyond torch's defaults are exactly what the allow-list covers
    assert set(unsafe) <= {'builtins.getattr', 'numpy.dtype', 'numpy.ndarray',
                           'numpy._core.multiarray._reconstruct',
                           'numpy._core.multiarray.scalar',
                           'mmengine.logging.history_buffer.HistoryBuffer'} | {
        f'numpy.dtypes.{n}' for n in dir(np.dtypes) if n.endswith('DType')}, unsafe


def test_runner_layout_loads_in_a_fresh_process(tmp_path):
    """No HistoryBuffer exists yet there, so its class-level statistics are empty."""
    path = str(tmp_path / 'epoch_1.pth')
    torch.save(_runner_like_checkpoint(), path)
    code = textwrap.dedent(f"""
        import stadl_plugins
        from stadl_plugins.safe_load import load_checkpoint_file
        ckpt = load_checkpoint_file({path!r})
        print(ckpt['message_hub']['log_scalars']['train/loss'].mean())
        """)
    res = subprocess.run([sys.executable, '-c', code], capture_output=True,
                         text=True, timeout=300,
                         env=dict(os.environ, PYTHONWARNINGS='ignore'))
    assert res.returncode == 0, res.stderr[-3000:]
    assert res.stdout.strip().splitlines()[-1] == '1.0'


def test_converter_outputs_load(tmp_path):
    from stadl_plugins.models.flow.pwcnet import PWCNet
    path = str(tmp_path / 'pwc.pth')
    torch.save(dict(state_dict=PWCNet().state_dict(), meta=dict(source='test')), path)
    assert 'state_dict' in load_checkpoint_file(path)


# -------------------------------------------------------------- damaged files
def _saved(tmp_path, name='epoch_1.pth'):
    path = str(tmp_path / name)
    torch.save(dict(state_dict=dict(w=torch.arange(4096, dtype=torch.float32))), path)
    return path


def test_zero_byte_file_names_the_file(tmp_path):
    path = str(tmp_path / 'empty.pth')
    open(path, 'wb').close()
    with pytest.raises(CorruptCheckpointError, match='empty file .0 bytes.') as err:
        load_checkpoint_file(path)
    assert path in str(err.value)


def test_flipped_tensor_bytes_fail_the_crc(tmp_path):
    path = _saved(tmp_path)
    raw = bytearray(open(path, 'rb').read())
    off = raw.index(struct.pack('<f', 1000.0))
    for i in range(64):
        raw[off + i] ^= 0xFF
    open(path, 'wb').write(bytes(raw))
    with pytest.raises(CorruptCheckpointError) as err:
        load_checkpoint_file(path)
    msg = str(err.value)
    assert path in msg and 'CRC-32' in msg and 'data/0' in msg
    assert 'STADL_UNSAFE_LOAD' not in msg


@pytest.mark.parametrize('kind', ['random', 'truncated'])
def test_random_or_truncated_bytes_are_corrupt_not_unsafe(tmp_path, kind):
    path = _saved(tmp_path)
    raw = open(path, 'rb').read()
    data = np.random.RandomState(0).bytes(len(raw)) if kind == 'random' \
        else raw[:len(raw) // 2]
    open(path, 'wb').write(data)
    with pytest.raises(CorruptCheckpointError) as err:
        load_checkpoint_file(path)
    assert path in str(err.value) and 'STADL_UNSAFE_LOAD' not in str(err.value)


def test_resume_falls_back_to_the_newest_intact_checkpoint(tmp_path):
    import mmengine.runner.runner as runner_mod
    good = _saved(tmp_path, 'iter_4.pth')
    os.utime(good, (1, 1))
    bad = _saved(tmp_path, 'iter_8.pth')
    with open(bad, 'r+b') as f:
        f.truncate(os.path.getsize(bad) // 2)
    with open(tmp_path / 'last_checkpoint', 'w') as f:
        f.write(bad)
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter('always')
        got = runner_mod.find_latest_checkpoint(str(tmp_path))
    assert got == good
    assert any(bad in str(x.message) and good in str(x.message) for x in w)
    # intact last checkpoint: used as named, no warning
    with open(tmp_path / 'last_checkpoint', 'w') as f:
        f.write(good)
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter('always')
        assert runner_mod.find_latest_checkpoint(str(tmp_path)) == good
    assert not [x for x in w if 'resume' in str(x.message)]


# ---------------------------------------------------------------- data pickles
class _Payload:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, 'w'))


def test_data_pickles_refuse_code_and_load_data(tmp_path):
    import mmengine
    marker = str(tmp_path / 'pwned')
    evil = str(tmp_path / 'proposals.pkl')
    with open(evil, 'wb') as f:
        pickle.dump({'v,0902': np.zeros((1, 5)), 'x': _Payload(marker)}, f)
    for load in (safe_load.safe_pickle_load, mmengine.load):
        with pytest.raises(safe_load.UnsafePickleError) as err:
            load(evil)
        assert evil in str(err.value) and 'io.open' in str(err.value)
        assert not osp.exists(marker)
    ok = str(tmp_path / 'ok.pkl')
    data = {'v,0902': np.random.rand(3, 5).astype(np.float32), 's': {1, 2},
            'n': np.float64(1.5), 't': torch.arange(3), 'l': [('a', 1)],
            'od': __import__('collections').OrderedDict(a=1)}
    for proto in (2, 4, 5):
        with open(ok, 'wb') as f:
            pickle.dump(data, f, protocol=proto)
        got = mmengine.load(ok)
        np.testing.assert_array_equal(got['v,0902'], data['v,0902'])
        assert got['s'] == {1, 2} and got['n'] == 1.5 and got['l'] == [('a', 1)]
        torch.testing.assert_close(got['t'], data['t'])


def test_data_pickle_garbage_names_the_file(tmp_path):
    path = str(tmp_path / 'gt.pkl')
    open(path, 'wb').write(b'\x80\x04not a pickle at all')
    with pytest.raises(pickle.UnpicklingError, match='not a readable pickle') as err:
        safe_load.safe_pickle_load(path)
    assert path in str(err.value)


# ----------------------------------------------------- every loading path
def _attack_file(tmp_path, attack='getattr_chain_setstate_eval'):
    marker = tmp_path / 'pwned.txt'
    return as_checkpoint(tmp_path / 'attack.pth', hostile_pickles(marker)[attack]), marker


# two attacks: the getattr chain targets our allow-list (its second half, the
# HistoryBuffer ``__setstate__`` plant, is also stopped by the class guard that
# importing the package installs, so a loader that bypassed the safe loader
# with full pickle would still stay green on it); the plain ``__reduce__`` eval
# needs nothing but full pickle, so it turns red for any path that calls
# ``torch.load(weights_only=False)`` or ``pickle.load`` behind our back
@pytest.mark.parametrize('attack', ['getattr_chain_setstate_eval', 'reduce_builtins_eval'])
@pytest.mark.parametrize('path_name', ['mmengine_load_checkpoint', '_load_checkpoint',
                                       'torch_load', 'load_pwcnet_weights',
                                       'load_i3d_checkpoint', 'runner_load_from',
                                       'load_prefixed_weights'])
def test_every_in_process_loading_path_refuses_the_attack(tmp_path, path_name, attack,
                                                          monkeypatch):
    monkeypatch.delenv(safe_load.UNSAFE_LOAD_ENV, raising=False)
    from mmengine.runner.checkpoint import _load_checkpoint, load_checkpoint
    path, marker = _attack_file(tmp_path, attack)

    def runner_load_from(p):  # what Runner.load_or_resume does for load_from
        from mmengine.model import BaseModel

        class M(BaseModel):
            def __init__(self):
                super().__init__()
                self.w = torch.nn.Linear(1, 1)

            def forward(self, *a, **k):
                return {}
        from mmengine.runner import Runner
        Runner.load_checkpoint(type('R', (), {'model': M(), 'logger':
                                              __import__('logging').getLogger()})(),
                               p, map_location='cpu')

    def i3d(p):
        from stadl_plugins.models.backbones.i3d_weights import load_i3d_checkpoint
        from stadl_plugins.models.backbones.inception_i3d import InceptionI3D
        load_i3d_checkpoint(InceptionI3D(), p)

    def pwc(p):
        from stadl_plugins.models.flow.pwcnet import PWCNet
        from stadl_plugins.models.flow.weight_converters import load_pwcnet_weights
        load_pwcnet_weights(PWCNet(), p)

    def prefixed(p):  # FlowTwoStreamBackbone(backbone_pretrained=...)
        from stadl_plugins.safe_load import load_prefixed_weights
        load_prefixed_weights(torch.nn.Linear(1, 1), p, 'backbone.')

    load = dict(mmengine_load_checkpoint=lambda p: load_checkpoint(
        torch.nn.Linear(1, 1), p, map_location='cpu'),
        _load_checkpoint=lambda p: _load_checkpoint(p, map_location='cpu'),
        torch_load=lambda p: torch.load(p),  # weights_only is torch's default
        load_pwcnet_weights=pwc, load_i3d_checkpoint=i3d,
        runner_load_from=runner_load_from, load_prefixed_weights=prefixed)[path_name]
    with pytest.raises(Exception) as err:
        load(path)
    # refused by our allow-list (the getattr chain: 'refused'; a global outside
    # it: UnsafeCheckpointError) or by stock torch's weights-only unpickler (the
    # PWC-Net / I3D converters and torch.load itself call it directly) -- never
    # some later error after the payload ran
    msg = str(err.value)
    assert (isinstance(err.value, safe_load.UnsafeCheckpointError)
            or 'refused' in msg or msg.startswith('Weights only load failed')), msg[:500]
    assert not marker.exists()


@pytest.mark.parametrize('tool', ['convert/pwcnet_weights.py', 'convert/i3d_weights.py'])
def test_converter_clis_refuse_the_attack(tmp_path, tool):
    from helpers import REPO
    path, marker = _attack_file(tmp_path)
    res = subprocess.run([sys.executable, osp.join(REPO, 'tools', tool), path,
                          str(tmp_path / 'out.pth')], capture_output=True, text=True,
                         timeout=300, env=dict(os.environ, PYTHONWARNINGS='ignore'))
    assert res.returncode != 0
    assert 'refused' in res.stderr + res.stdout
    assert not marker.exists() and not (tmp_path / 'out.pth').exists()
