"""Loading checkpoints and data pickles without running code from the file.

Two loaders live here, and nothing else in the package reads a pickle directly.

**Checkpoints** (:func:`load_checkpoint_file`, installed by
:mod:`stadl_plugins.compat` as mmengine's local-file loader, so ``load_from``,
``--resume``, ``load_checkpoint`` and the demo all use it). torch's weights-only
unpickler runs, with an allow-list that holds exactly what real mmengine /
MMAction2 checkpoints contain (:func:`checkpoint_safe_globals`):

* ``HistoryBuffer`` (message hub), ``numpy.ndarray``/``dtype``, numpy's
  ``_reconstruct`` and ``scalar`` and the concrete ``numpy.dtypes.*DType`` classes;
* ``builtins.getattr`` **only as** :func:`restricted_getattr`: the pickles of
  numpy 2 and mmengine need ``getattr(numpy.dtypes, '<X>DType')`` and
  ``getattr(HistoryBuffer, '<statistic>')`` (a class-level method referenced from
  a buffer's state). Any other ``(object, attribute)`` pair is refused before it
  is fetched. The plain built-in ``getattr`` reaches ``builtins`` through
  ``getattr(getattr, '__self__')`` and from there ``eval``; stock torch refuses
  ``getattr`` altogether, so allowing the real one would make importing this
  package *less* safe than stock torch;
* ``HistoryBuffer`` gets a ``__setstate__`` that accepts only its own four
  fields, so a pickle ``BUILD`` can no longer plant an instance attribute named
  ``__setstate__`` (the second half of that attack) on an allow-listed object.

Before unpickling, the file's integrity is checked: empty files and truncated or
bit-flipped zip archives (every record of a torch checkpoint carries a CRC-32,
verified here) raise :class:`CorruptCheckpointError` naming the file and the bad
record, never advice to switch safety off. Objects outside the allow-list raise
:class:`UnsafeCheckpointError`; ``STADL_UNSAFE_LOAD=1`` (``--unsafe-load``)
loads a *trusted* file with full pickle, with a warning.
:func:`load_prefixed_weights` loads one sub-module's tensors out of such a file
(strict: every key there, every shape equal).

**Data pickles** (:func:`safe_pickle_load`; mmengine's ``.pkl`` handler is routed
here too, so ``mmengine.load`` of proposals/GT in stock MMAction2 datasets is
covered): a :class:`pickle.Unpickler` whose ``find_class`` admits builtin
containers and scalars, ``collections.OrderedDict``/``defaultdict``, numpy arrays,
scalars and dtypes, and torch tensors (whose storages are read back with
``weights_only=True``). Anything else raises :class:`UnsafePickleError`
naming the file and the global; the same ``STADL_UNSAFE_LOAD=1`` opts out.

Gaps we filled / decisions: torch's own default allow-list (tensor rebuild
functions, dtypes, ``OrderedDict``...) is kept as torch ships it; nothing is
removed from it. We never call ``torch.load(weights_only=False)`` unless the
user opted in.
"""
from __future__ import annotations

import io
import os
import pickle
import warnings
import zipfile

#: Environment variable: ``1`` allows full-pickle loading of trusted files.
UNSAFE_LOAD_ENV = 'STADL_UNSAFE_LOAD'


class UnsafeCheckpointError(RuntimeError):
    """A checkpoint needs full pickle (arbitrary code) to load; not opted in."""


class CorruptCheckpointError(RuntimeError):
    """A checkpoint file is empty, truncated or has damaged bytes."""


class UnsafePickleError(pickle.UnpicklingError):
    """A data pickle refers to a global outside the data allow-list."""


def unsafe_load_allowed() -> bool:
    return os.environ.get(UNSAFE_LOAD_ENV) == '1'


# ---------------------------------------------------------------- checkpoints
def _numpy_dtypes_module():
    import numpy as np
    return getattr(np, 'dtypes', None)


def _history_buffer_statistics() -> set[str]:
    """Method names of ``HistoryBuffer`` that a pickled buffer may reference."""
    from mmengine.logging.history_buffer import HistoryBuffer
    # the four defaults are put into the class-level dict only when the first
    # buffer is constructed, so a fresh process has an empty dict: name them
    names = {'min', 'max', 'current', 'mean'} | set(
        getattr(HistoryBuffer, '_statistics_methods', {}))
    return {n for n in names if not n.startswith('_')}


def restricted_getattr(obj, name):
    """``getattr`` for weights-only unpickling: only enumerated pairs.

    Allowed: ``(numpy.dtypes, '<Name>DType')`` for the concrete dtype classes and
    ``(HistoryBuffer, <registered statistic>)`` (``min``, ``max``, ``mean``,
    ``current`` and any statistic registered with
    ``HistoryBuffer.register_statistics``).

    Raises:
        pickle.UnpicklingError: for any other pair, before the attribute is read.
    """
    from mmengine.logging.history_buffer import HistoryBuffer
    if not isinstance(name, str):
        raise pickle.UnpicklingError(
            f'getattr with a non-string attribute name {name!r} is refused')
    dtypes = _numpy_dtypes_module()
    if dtypes is not None and obj is dtypes and name.endswith('DType') \
            and not name.startswith('_'):
        value = getattr(dtypes, name, None)
        if isinstance(value, type):
            return value
    if obj is HistoryBuffer and name in _history_buffer_statistics():
        return getattr(HistoryBuffer, name)
    raise pickle.UnpicklingError(
        f'getattr({_describe(obj)}, {name!r}) is refused: only numpy dtype '
        'classes and HistoryBuffer statistics may be fetched while loading a '
        'checkpoint (no real mmengine/MMAction2 checkpoint needs anything else; '
        'this file may be malicious)')


def _describe(obj) -> str:
    try:
        return f'<{type(obj).__module__}.{type(obj).__qualname__}>'
    except Exception:  # pragma: no cover - exotic objects
        return '<object>'


_HISTORY_FIELDS = frozenset({'max_length', '_log_history', '_count_history',
                             'statistics_methods'})


def _guard_history_buffer() -> None:
    """Give ``HistoryBuffer`` a ``__setstate__`` that accepts only its own fields.

    mmengine's own ``__setstate__`` does ``self.__dict__.update(state)`` with any
    keys, so a first ``BUILD`` can plant an *instance* attribute ``__setstate__``
    that the unpickler then calls on a second ``BUILD``. This one keeps the stock
    semantics (``statistics_methods`` are registered class-wide, the rest goes to
    the instance) for the stock fields only, and admits only HistoryBuffer's own
    statistic functions as ``statistics_methods`` values.
    """
    from mmengine.logging.history_buffer import HistoryBuffer
    if getattr(HistoryBuffer.__dict__.get('__setstate__'), '_stadl', False):
        return

    def __setstate__(self, state):
        if not isinstance(state, dict) or not all(isinstance(k, str) for k in state) \
                or not set(state) <= _HISTORY_FIELDS:
            keys = sorted(map(repr, state)) if isinstance(state, dict) else \
                type(state).__name__
            raise pickle.UnpicklingError(
                f'HistoryBuffer state with unexpected fields {keys} refused '
                f'(expected a subset of {sorted(_HISTORY_FIELDS)})')
        state = dict(state)
        methods = state.pop('statistics_methods', {})
        allowed = {getattr(HistoryBuffer, n) for n in _history_buffer_statistics()}
        if not isinstance(methods, dict) or any(
                not isinstance(k, str) or k.startswith('_') or v not in allowed
                for k, v in methods.items()):
            raise pickle.UnpicklingError(
                'HistoryBuffer state whose statistics_methods are not HistoryBuffer '
                'statistics refused (expected a subset of '
                f'{sorted(_history_buffer_statistics())})')
        self._set_default_statistics()
        self._statistics_methods.update(methods)
        self.__dict__.update(state)

    __setstate__._stadl = True
    __setstate__.__doc__ = _guard_history_buffer.__doc__
    HistoryBuffer.__setstate__ = __setstate__


def checkpoint_safe_globals() -> list:
    """The non-tensor globals of real mmengine / MMAction2 / our checkpoints.

    Returned in the form ``torch.serialization.add_safe_globals`` takes; the
    restricted getattr is registered under the name ``builtins.getattr``.
    """
    import numpy as np
    from mmengine.logging.history_buffer import HistoryBuffer

    out = [HistoryBuffer, np.ndarray, np.dtype]
    try:  # numpy 2
        from numpy._core.multiarray import _reconstruct, scalar
    except ImportError:  # numpy 1.x
        from numpy.core.multiarray import _reconstruct, scalar
    out += [_reconstruct, scalar]
    dtypes = _numpy_dtypes_module()
    if dtypes is not None:
        out += [getattr(dtypes, n) for n in dir(dtypes) if n.endswith('DType')
                and isinstance(getattr(dtypes, n), type)]
    out.append((restricted_getattr, 'builtins.getattr'))
    return out


def install_checkpoint_allow_list() -> bool:
    """Register :func:`checkpoint_safe_globals` with torch; guard HistoryBuffer.

    Returns:
        bool: False when this torch has no weights-only allow-list.
    """
    import torch
    add = getattr(torch.serialization, 'add_safe_globals', None)
    if add is None:
        return False
    _guard_history_buffer()
    add(checkpoint_safe_globals())
    return True


def check_checkpoint_integrity(filename: str) -> None:
    """Raise :class:`CorruptCheckpointError` if the file is visibly damaged.

    Checks: non-empty; a zip archive (torch >= 1.6 format) whose every record's
    CRC-32 matches (this reads the whole file once); a legacy (non-zip) file must
    start with a pickle protocol header.
    """
    size = os.path.getsize(filename)
    if size == 0:
        raise CorruptCheckpointError(
            f'{filename}: empty file (0 bytes); the write was interrupted or the '
            'disk was full. Delete it and use an earlier checkpoint.')
    if zipfile.is_zipfile(filename):
        try:
            with zipfile.ZipFile(filename) as zf:
                bad = zf.testzip()
        except (zipfile.BadZipFile, OSError, EOFError, ValueError) as exc:
            raise CorruptCheckpointError(
                f'{filename}: damaged checkpoint archive ({exc}); the file is '
                'truncated or corrupt. Use an earlier checkpoint.') from None
        if bad is not None:
            raise CorruptCheckpointError(
                f'{filename}: record {bad!r} fails its CRC-32 check: the file\'s '
                'bytes were changed after it was written (disk or copy error). '
                'Use an earlier checkpoint.')
        return
    with open(filename, 'rb') as f:
        head = f.read(2)
    if len(head) < 2 or head[0] != 0x80 or head[1] > pickle.HIGHEST_PROTOCOL:
        raise CorruptCheckpointError(
            f'{filename}: not a PyTorch checkpoint (neither a zip archive nor a '
            f'legacy pickle; first bytes {head!r}); it is truncated, corrupt or a '
            'different kind of file.')


_UNSAFE_MARKERS = ('Unsupported global', 'Trying to call reduce',
                   'Can only build', 'Can only create new object',
                   'is refused', 'refused (expected')


def load_checkpoint_file(filename: str, map_location=None):
    """mmengine's local-file checkpoint loader: integrity check, then weights-only.

    Raises:
        FileNotFoundError: no such file.
        CorruptCheckpointError: empty / truncated / damaged file (names the file
            and, for zip archives, the bad record).
        UnsafeCheckpointError: the file holds objects outside the allow-list of
            :func:`checkpoint_safe_globals` and ``STADL_UNSAFE_LOAD`` is not ``1``.
    """
    import torch
    filename = os.path.expanduser(filename)
    if not os.path.isfile(filename):
        raise FileNotFoundError(f'{filename} can not be found.')
    check_checkpoint_integrity(filename)
    if unsafe_load_allowed():
        warnings.warn(f'{UNSAFE_LOAD_ENV}=1: loading {filename} with full pickle; '
                      'this runs any code the file contains.')
        return torch.load(filename, map_location=map_location, weights_only=False)
    try:
        return torch.load(filename, map_location=map_location, weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError, ValueError,
            TypeError, AttributeError, KeyError, IndexError) as exc:
        text = str(exc)
        lines = text.split('\n')
        why = next((ln for ln in lines if any(m in ln for m in _UNSAFE_MARKERS)),
                   None)
        if why is None:
            raise CorruptCheckpointError(
                f'{filename}: could not be read as a checkpoint '
                f'({type(exc).__name__}: {lines[0][:300]}); the file is corrupt '
                'or not a PyTorch checkpoint.') from None
        if 'is refused' in why or 'refused (expected' in why:
            raise UnsafeCheckpointError(
                f'{filename} was NOT loaded: {why.strip()}. Real checkpoints never '
                'need this; do not load this file with full pickle.') from None
        raise UnsafeCheckpointError(
            f'{filename} holds Python objects outside the weights-only allow-list '
            f'({why.strip()}); it was NOT loaded, since unpickling them can run '
            'arbitrary code. If you trust the file, set the environment variable '
            f'{UNSAFE_LOAD_ENV}=1 (or pass --unsafe-load to tools/train.py / '
            'tools/test.py) to load it with full pickle.') from None


def load_prefixed_weights(module, path: str, prefix: str,
                          fix: str = 'pass the prefix its keys carry') -> dict:
    """Load the ``prefix``-ed keys of the checkpoint at ``path`` (through
    :func:`load_checkpoint_file`: integrity check, weights-only allow-list) into
    ``module`` (a ``torch.nn.Module``), the prefix stripped. Every parameter and
    buffer of ``module`` must be there and of the same shape; keys outside the
    prefix are counted, not loaded. An mmengine checkpoint's ``state_dict`` is
    unwrapped.

    Used for a sub-module's weights inside a whole-model checkpoint:
    ``FlowTwoStreamBackbone(backbone_pretrained=...)`` (``backbone.``) and
    ``RecLNet(stream_checkpoints=...)`` (``streams.<name>.``).

    Raises:
        KeyError: keys of ``module`` are not under ``prefix`` (the message names
            the first missing ones, keys the file does have, and ``fix``).
        ValueError: tensors whose shapes differ (key, checkpoint, model).

    Returns ``{'loaded': n, 'ignored': n_outside_prefix, 'path': path}``."""
    sd = load_checkpoint_file(path, map_location='cpu')
    if isinstance(sd, dict) and isinstance(sd.get('state_dict'), dict):
        sd = sd['state_dict']
    if not isinstance(sd, dict):
        raise ValueError(f'{path}: expected a state dict (or a checkpoint with one), '
                         f'got {type(sd).__name__}')
    picked = {k[len(prefix):]: v for k, v in sd.items() if k.startswith(prefix)}
    want = module.state_dict()
    missing = sorted(set(want) - set(picked))
    if missing:
        raise KeyError(f'{path}: {len(missing)} of the {len(want)} keys of '
                       f'{type(module).__name__} are not under the prefix {prefix!r} '
                       f'(first: {missing[:3]}; the file has e.g. {sorted(sd)[:3]}): '
                       f'{fix}')
    bad = [(k, tuple(picked[k].shape), tuple(v.shape)) for k, v in want.items()
           if tuple(picked[k].shape) != tuple(v.shape)]
    if bad:
        raise ValueError(f'{path}: {len(bad)} tensors under {prefix!r} differ in shape '
                         f'(key, checkpoint, model), first: {bad[:3]}')
    module.load_state_dict({k: picked[k] for k in want}, strict=True)
    return dict(loaded=len(want), ignored=len(sd) - len(want), path=path)


def is_intact_checkpoint(filename: str) -> bool:
    try:
        check_checkpoint_integrity(filename)
    except (CorruptCheckpointError, OSError):
        return False
    return True


def find_latest_intact_checkpoint(work_dir: str) -> str | None:
    """The checkpoint to resume from: ``last_checkpoint``'s, or the newest intact.

    mmengine's ``find_latest_checkpoint`` returns whatever ``last_checkpoint``
    names. Here a damaged file (see :func:`check_checkpoint_integrity`) is
    skipped with a warning naming it, and the newest intact ``*.pth`` of the
    work dir (by modification time) is used instead.
    """
    import glob
    save_file = os.path.join(work_dir, 'last_checkpoint')
    named = None
    if os.path.exists(save_file):
        with open(save_file) as f:
            named = f.read().strip() or None
    if named is not None and os.path.isfile(named) and is_intact_checkpoint(named):
        return named
    candidates = sorted(glob.glob(os.path.join(work_dir, '*.pth')),
                        key=os.path.getmtime, reverse=True)
    bad = [named] if named is not None else []
    for cand in candidates:
        if named is not None and os.path.abspath(cand) == os.path.abspath(named):
            continue
        if is_intact_checkpoint(cand):
            if bad:
                warnings.warn(
                    f'resume: {bad[0]} (named in {save_file}) is damaged or '
                    f'missing; resuming from the newest intact checkpoint {cand}'
                    + (f' (also skipped: {", ".join(bad[1:])})' if bad[1:] else ''))
            return cand
        bad.append(cand)
    if bad:
        warnings.warn(f'resume: no intact checkpoint in {work_dir} (damaged: '
                      f'{", ".join(bad)}); starting from scratch')
    return None


# ---------------------------------------------------------------- data pickles
_DATA_BUILTINS = {'set', 'frozenset', 'complex', 'slice', 'bytearray', 'range',
                  'list', 'dict', 'tuple', 'str', 'int', 'float', 'bool', 'bytes'}


def _load_storage_from_bytes(b):
    import torch
    return torch.load(io.BytesIO(b), weights_only=True)


class RestrictedUnpickler(pickle.Unpickler):
    """An unpickler for data files: containers, scalars, numpy and torch tensors."""

    def __init__(self, file, source: str = '<pickle>', **kwargs):
        super().__init__(file, **kwargs)
        self.source = source

    def find_class(self, module, name):  # noqa: C901 - one flat allow-list
        obj = self._allowed(module, name)
        if obj is None:
            raise UnsafePickleError(
                f'{self.source}: refers to {module}.{name}, which a data file '
                '(numbers, strings, lists, dicts, numpy arrays, tensors) never '
                'needs; it was NOT loaded, since unpickling it could run code. '
                f'If you trust the file, set {UNSAFE_LOAD_ENV}=1.')
        return obj

    @staticmethod
    def _allowed(module, name):
        if module in ('builtins', '__builtin__'):
            if name in _DATA_BUILTINS:
                import builtins
                return getattr(builtins, name)
            return None
        if module == '_codecs' and name == 'encode':  # bytes in protocol 2
            import _codecs
            return _codecs.encode
        if module == 'collections' and name in ('OrderedDict', 'defaultdict'):
            import collections
            return getattr(collections, name)
        if module in ('numpy', 'numpy.core.multiarray', 'numpy._core.multiarray',
                      'numpy.core.numeric', 'numpy._core.numeric', 'numpy.dtypes'):
            import numpy as np
            allowed = {('numpy', 'ndarray'), ('numpy', 'dtype'),
                       ('numpy.core.multiarray', '_reconstruct'),
                       ('numpy._core.multiarray', '_reconstruct'),
                       ('numpy.core.multiarray', 'scalar'),
                       ('numpy._core.multiarray', 'scalar'),
                       ('numpy.core.numeric', '_frombuffer'),
                       ('numpy._core.numeric', '_frombuffer')}
            if (module, name) in allowed:
                import importlib
                mod = importlib.import_module(module)
                return getattr(mod, name)
            if module == 'numpy.dtypes' and name.endswith('DType') and \
                    isinstance(getattr(getattr(np, 'dtypes', None), name, None), type):
                return getattr(np.dtypes, name)
            return None
        if module.startswith('torch'):
            import torch
            if module == 'torch.storage' and name == '_load_from_bytes':
                return _load_storage_from_bytes
            if module == 'torch._utils' and name in (
                    '_rebuild_tensor', '_rebuild_tensor_v2', '_rebuild_parameter',
                    '_rebuild_device_tensor_from_numpy'):
                return getattr(torch._utils, name)
            if module == 'torch' and name in ('Size', 'device'):
                return getattr(torch, name)
            if module == 'torch' and isinstance(getattr(torch, name, None),
                                                torch.dtype):
                return getattr(torch, name)
            return None
        return None


def safe_pickle_load(file, source: str | None = None, **kwargs):
    """Unpickle a data file (path or binary file object) with the data allow-list.

    Raises:
        UnsafePickleError: a global outside the allow-list (names file + global).
        pickle.UnpicklingError: the file is not a valid pickle (names the file).
    """
    if isinstance(file, (str, os.PathLike)):
        path = os.fspath(file)
        with open(path, 'rb') as f:
            return safe_pickle_load(f, source=source or path, **kwargs)
    source = source or getattr(file, 'name', '<pickle>')
    if unsafe_load_allowed():
        warnings.warn(f'{UNSAFE_LOAD_ENV}=1: loading {source} with full pickle')
        return pickle.load(file, **kwargs)
    try:
        return RestrictedUnpickler(file, source=str(source), **kwargs).load()
    except UnsafePickleError:
        raise
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, KeyError,
            IndexError, AttributeError, MemoryError) as exc:
        raise pickle.UnpicklingError(
            f'{source}: not a readable pickle ({type(exc).__name__}: '
            f'{str(exc)[:200]}); the file is truncated, corrupt or of another '
            'format.') from None


def safe_pickle_loads(data: bytes, source: str = '<bytes>', **kwargs):
    return safe_pickle_load(io.BytesIO(data), source=source, **kwargs)
