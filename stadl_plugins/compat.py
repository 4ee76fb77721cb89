"""Runtime fixes that make the pinned OpenMMLab stack work on today's torch/numpy.

The PyPI releases this toolbox builds on (mmengine 0.10.7, mmcv 2.1.0, mmdet 3.3.0,
mmaction2 1.2.0) predate torch 2.6 and numpy 2. Out of the box they fail to import,
to load checkpoints and to evaluate AVA. Each fix below is small, idempotent, touches
nothing in ``site-packages`` and is applied by :func:`apply_all` when
``stadl_plugins`` is imported (directly or through a config's ``custom_imports``).

=====================  ==========================================================
fix                    what breaks without it
=====================  ==========================================================
``drn_placeholder``    The mmaction2 1.2.0 wheel lacks ``mmaction/models/
                       localizers/drn/`` (its ``__init__.py`` is missing upstream,
                       so ``find_packages`` drops it). ``import mmaction.models``
                       then raises ``ModuleNotFoundError: No module named
                       'mmaction.models.localizers.drn'`` and no STAD head gets
                       registered. We put a placeholder module in ``sys.modules``
                       whose ``DRN`` raises a clear error if anyone builds it.
``safe_checkpoints``   torch >= 2.6 loads with ``weights_only=True``; mmengine's
                       checkpoints hold a ``HistoryBuffer`` and numpy arrays in
                       ``message_hub``, so ``load_from``/``--resume`` fail with
                       ``UnpicklingError: Weights only load failed``. We keep
                       weights-only loading and allow-list exactly the globals a
                       Runner checkpoint needs (never a blanket
                       ``weights_only=False``).
``numpy_nan_alias``    numpy 2 removed ``np.NAN``; MMAction2's AVA mAP returns it
                       for a class with detections but no ground truth
                       (``AttributeError: module 'numpy' has no attribute
                       'NAN'``). We restore the alias.
``broken_torchvision`` An installed torchvision that does not match torch raises
                       ``RuntimeError`` on import; mmengine's ``collect_env`` (run
                       by every Runner) only catches ``ModuleNotFoundError``. We
                       make such a torchvision look absent, with a warning.
``cpu_distributed``    mmengine's launchers call ``torch.cuda.set_device`` and
                       wrap with ``device_ids``, so ``--launcher pytorch/slurm``
                       fails without CUDA. Without CUDA we use gloo and no device
                       ids (:mod:`stadl_plugins.engine.distributed`); with CUDA
                       nothing changes.
``checkpoint_opt_in``  A checkpoint holding objects outside the allow-list fails
                       deep in torch with advice to pass ``weights_only=False``,
                       which mmengine users cannot. mmengine's local loader now
                       stays weights-only and names the opt-in
                       (``STADL_UNSAFE_LOAD=1`` or ``--unsafe-load``) instead;
                       with the opt-in it loads with full pickle and warns.
                       Empty, truncated or bit-flipped files are reported as
                       corrupt (zip CRC-32 check), naming the file.
``safe_data_pickles``  ``mmengine.load`` of a ``.pkl`` (proposals, GT, dumps)
                       runs full pickle; it now admits only data (containers,
                       numpy arrays, tensors) unless ``STADL_UNSAFE_LOAD=1``.
``resume_fallback``    ``--resume`` uses the newest *intact* checkpoint, warning
                       about a damaged ``last_checkpoint``.
=====================  ==========================================================

Every fix records itself in :data:`APPLIED` so tests and ``tools/env_info`` can
show what was needed on this machine.
"""
from __future__ import annotations

import importlib.util
import os
import sys
import types
import warnings

#: Names of the fixes that were needed (and applied) in this process.
APPLIED: list[str] = []


def _mark(name: str) -> None:
    if name not in APPLIED:
        APPLIED.append(name)


def fix_drn_placeholder() -> bool:
    """Provide ``mmaction.models.localizers.drn`` when the installed wheel lacks it.

    Returns:
        bool: True if a placeholder was installed (the wheel is the broken one).
    """
    target = 'mmaction.models.localizers.drn'
    if target in sys.modules:
        return False
    spec = importlib.util.find_spec('mmaction')
    if spec is None or not spec.submodule_search_locations:
        return False  # mmaction2 not installed: nothing to fix
    pkg_dir = list(spec.submodule_search_locations)[0]
    if os.path.isfile(os.path.join(pkg_dir, 'models', 'localizers', 'drn',
                                   'drn.py')):
        return False  # a source install that has the real module

    class DRN:  # noqa: D401 - a placeholder, not a model
        """Placeholder: the PyPI mmaction2 1.2.0 wheel does not ship DRN."""

        def __init__(self, *args, **kwargs):
            raise ImportError(
                'mmaction2 1.2.0 from PyPI does not contain DRN '
                '(mmaction/models/localizers/drn is missing from the wheel). '
                'Install mmaction2 from a source checkout to use DRN.')

    pkg = types.ModuleType(target)
    pkg.__path__ = []  # a package, so that `drn.drn` resolves
    pkg.__doc__ = 'stadl_plugins placeholder for the module missing from the wheel'
    sub = types.ModuleType(target + '.drn')
    sub.DRN = DRN
    pkg.drn = sub
    sys.modules[target] = pkg
    sys.modules[target + '.drn'] = sub
    _mark('drn_placeholder')
    return True


def fix_safe_checkpoints() -> bool:
    """Allow-list the globals of mmengine checkpoints for weights-only loading.

    See :mod:`stadl_plugins.safe_load`: exactly the callables real checkpoints
    need, ``getattr`` only as a restricted version, and a ``HistoryBuffer`` that
    accepts only its own fields from a pickle.

    Returns:
        bool: True if torch has weights-only loading and the allow-list was added.
    """
    from .safe_load import install_checkpoint_allow_list
    if not install_checkpoint_allow_list():
        return False
    _mark('safe_checkpoints')
    return True


def fix_numpy_nan_alias() -> bool:
    """Restore ``np.NAN`` (removed in numpy 2) used by MMAction2's AVA mAP."""
    import numpy as np
    if 'NAN' in np.__dict__:
        return False
    np.NAN = np.nan
    _mark('numpy_nan_alias')
    return True


def fix_broken_torchvision() -> bool:
    """Hide an installed torchvision that cannot be imported with this torch."""
    if 'torchvision' in sys.modules:
        return False
    if importlib.util.find_spec('torchvision') is None:
        return False
    try:
        import torchvision  # noqa: F401
    except Exception as exc:  # RuntimeError: operator torchvision::nms ...
        for name in [m for m in sys.modules if m.startswith('torchvision')]:
            del sys.modules[name]
        sys.modules['torchvision'] = None  # import now raises ModuleNotFoundError
        warnings.warn(f'torchvision is installed but cannot be imported ({exc}); '
                      'stadl_plugins treats it as absent (nothing here needs it).')
        _mark('broken_torchvision')
        return True
    return False


def fix_cpu_distributed() -> bool:
    """Let mmengine's launchers run on CPU with gloo (no-op behaviour with CUDA)."""
    from stadl_plugins.engine.distributed import cuda_usable, enable_cpu_distributed
    installed = enable_cpu_distributed()
    if not cuda_usable():
        _mark('cpu_distributed')
    return installed


def fix_multisports_numpy2() -> bool:
    """Make MMAction2's stock ``MultiSportsMetric`` video-mAP run on numpy 2.

    ``multisports_utils.iou3dt_voc`` converts one-element index arrays with
    ``int(np.where(...)[0])``, which numpy 2 refuses (``TypeError: only
    0-dimensional arrays can be converted to Python scalars``). The replacement
    keeps the upstream definition unchanged (including its temporal IoU without
    the ``+1``) and only indexes safely; this toolbox's own evaluators are in
    :mod:`stadl_plugins.evaluation.functional`.
    """
    import numpy as np
    from mmaction.evaluation.functional import multisports_utils as ms

    if getattr(ms.iou3dt_voc, '_stadl_fixed', False):
        return True

    def iou3dt_voc(b1, b2, spatialonly=False, temporalonly=False):
        tmin = max(b1[0, 0], b2[0, 0])
        tmax = min(b1[-1, 0], b2[-1, 0])
        if tmax < tmin:
            return 0.0
        temporal_inter = tmax - tmin
        temporal_union = max(b1[-1, 0], b2[-1, 0]) - min(b1[0, 0], b2[0, 0])

        def _cut(b):
            start = int(np.flatnonzero(b[:, 0] == tmin)[0])
            stop = int(np.flatnonzero(b[:, 0] == tmax)[0])
            return b[start:stop + 1, :]

        if temporalonly:
            return temporal_inter / temporal_union
        spatial = ms.iou3d_voc(_cut(b1), _cut(b2))
        return spatial * (1. if spatialonly else temporal_inter / temporal_union)

    iou3dt_voc._stadl_fixed = True
    ms.iou3dt_voc = iou3dt_voc
    _mark('multisports_numpy2')
    return True


from .safe_load import (  # noqa: E402,F401
    UNSAFE_LOAD_ENV,
    CorruptCheckpointError,
    UnsafeCheckpointError,
    UnsafePickleError,
    load_checkpoint_file,
)


def load_from_local(filename, map_location=None):
    """:func:`stadl_plugins.safe_load.load_checkpoint_file` under mmengine's name.

    mmengine logs ``Loads checkpoint by <loader name minus 'load_from_'> backend``;
    with this name the log says ``local backend`` as stock does.
    """
    return load_checkpoint_file(filename, map_location)


def fix_checkpoint_opt_in() -> bool:
    """Route mmengine's local checkpoint loading through :func:`load_checkpoint_file`."""
    from mmengine.runner.checkpoint import CheckpointLoader
    if CheckpointLoader._schemes.get('') is load_from_local:
        return False
    CheckpointLoader.register_scheme(prefixes='', loader=load_from_local,
                                     force=True)
    _mark('checkpoint_opt_in')
    return True


def fix_safe_data_pickles() -> bool:
    """Route mmengine's ``.pkl`` handler through the restricted data unpickler.

    ``mmengine.load('x.pkl')`` (stock ``AVADataset`` proposals, ACT GT, dumps)
    uses full ``pickle.load``: a proposal file could run code. With this fix it
    admits only containers, scalars, numpy arrays and tensors
    (:func:`stadl_plugins.safe_load.safe_pickle_load`); ``STADL_UNSAFE_LOAD=1``
    restores full pickle for trusted files.
    """
    from mmengine.fileio.handlers.pickle_handler import PickleHandler

    from .safe_load import safe_pickle_load
    if getattr(PickleHandler.load_from_fileobj, '_stadl', False):
        return False

    def load_from_fileobj(self, file, **kwargs):
        # mmengine.load() hands us an anonymous BytesIO; name the path it read
        # (its local ``file``) in error messages.
        caller = sys._getframe(1)
        source = caller.f_locals.get('file') if caller.f_code.co_name == 'load' \
            else None
        return safe_pickle_load(file, source=str(source) if isinstance(
            source, (str, os.PathLike)) else None, **kwargs)

    load_from_fileobj._stadl = True
    PickleHandler.load_from_fileobj = load_from_fileobj
    _mark('safe_data_pickles')
    return True


def fix_resume_fallback() -> bool:
    """``resume='auto'`` skips a damaged last checkpoint for the newest intact one.

    mmengine's Runner resumes from whatever ``last_checkpoint`` names; a
    truncated or bit-flipped file then fails (or, worse, loads damaged weights).
    :func:`stadl_plugins.safe_load.find_latest_intact_checkpoint` checks the
    zip CRCs and falls back with a warning naming the bad file.
    """
    import mmengine.runner.runner as runner_mod

    from .safe_load import find_latest_intact_checkpoint
    if runner_mod.find_latest_checkpoint is find_latest_intact_checkpoint:
        return False
    runner_mod.find_latest_checkpoint = find_latest_intact_checkpoint
    _mark('resume_fallback')
    return True


def apply_all() -> list[str]:
    """Apply every fix that this environment needs. Safe to call repeatedly.

    Returns:
        list[str]: names of the fixes applied so far in this process.
    """
    fix_broken_torchvision()
    fix_numpy_nan_alias()
    fix_drn_placeholder()
    fix_multisports_numpy2()
    fix_safe_checkpoints()
    fix_cpu_distributed()
    fix_checkpoint_opt_in()
    fix_safe_data_pickles()
    fix_resume_fallback()
    return list(APPLIED)
