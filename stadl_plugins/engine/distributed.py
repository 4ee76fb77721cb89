"""Multi-process training and testing without CUDA (gloo on CPU) through mmengine.

mmengine 0.10.7 assumes a GPU per process as soon as a launcher is used:

* ``mmengine.dist.utils._init_dist_pytorch`` / ``_init_dist_slurm`` /
  ``_init_dist_mpi`` call ``torch.cuda.set_device(local_rank)`` before
  ``init_process_group`` (on a CPU-only torch: ``AttributeError: module
  'torch._C' has no attribute '_cuda_setDevice'``), and configs ask for the
  ``nccl`` backend, which needs CUDA;
* ``Runner.wrap_model`` builds ``MMDistributedDataParallel(module, device_ids=
  [LOCAL_RANK])``; torch refuses ``device_ids`` for a module on the CPU
  (``ValueError: DistributedDataParallel device_ids and output_device arguments
  only work with single-device/multiple-device GPU modules or CPU modules``).

:func:`enable_cpu_distributed` (applied by :func:`stadl_plugins.compat.apply_all`,
i.e. whenever ``stadl_plugins`` is imported, also from a config's
``custom_imports``) installs two wrappers, both of which pass straight through when
CUDA is available, so GPU runs with nccl are unchanged:

1. the three ``_init_dist_*`` launch functions: without CUDA the backend becomes
   ``gloo`` (``nccl`` cannot work; ``gloo``/``mpi`` asked for explicitly are kept)
   and ``torch.cuda.set_device`` is skipped for the duration of the call;
2. ``MMDistributedDataParallel.__init__``: ``device_ids``/``output_device`` are
   dropped when every parameter of the module is on the CPU (the one case in which
   torch would raise), whether the wrapper is built by ``Runner.wrap_model`` or from
   a ``model_wrapper_cfg``.

Nothing in ``site-packages`` is edited. So ``tools/dist_train.sh CONFIG 2``,
``torchrun --nproc_per_node 2 tools/train.py CONFIG --launcher pytorch`` and
``mim train stadl_plugins CONFIG --launcher pytorch --gpus 2`` run on a CPU-only
machine.

A dead rank: a collective whose peer is gone fails in gloo with ``Connection
closed by peer``, and torchrun stops the other workers when one exits with an
error. A rank that hangs (rather than dies) is bounded by the process-group timeout
``env_cfg.dist_cfg.timeout`` (seconds, mmengine's own option; ``configs/_base_/
default_runtime.py`` sets 900). :data:`DEFAULT_TIMEOUT_ENV` (``STADL_DIST_TIMEOUT``,
seconds), when set, overrides the config's value at launch (and supplies one to
configs without any).
"""
from __future__ import annotations

import contextlib
import functools
import os

import torch

#: Environment variable: process-group timeout (s); overrides the config's value.
DEFAULT_TIMEOUT_ENV = 'STADL_DIST_TIMEOUT'

_LAUNCH_FUNCTIONS = ('_init_dist_pytorch', '_init_dist_slurm', '_init_dist_mpi')
_MARK = '_stadl_cpu_distributed'


def cuda_usable() -> bool:
    """True when this process can use a CUDA device (then nothing is changed)."""
    return torch.cuda.is_available() and torch.cuda.device_count() > 0


def cpu_backend(backend: str | None) -> str:
    """The process-group backend to use without CUDA for a configured ``backend``.

    ``nccl`` (every OpenMMLab config's default) needs CUDA, so it becomes ``gloo``;
    an explicit ``gloo`` or ``mpi`` is kept.
    """
    if backend in (None, 'nccl'):
        return 'gloo'
    return backend


@contextlib.contextmanager
def _without_cuda_set_device():
    """Make ``torch.cuda.set_device`` a no-op while mmengine initialises the group."""
    original = torch.cuda.set_device
    torch.cuda.set_device = lambda device: None
    try:
        yield
    finally:
        torch.cuda.set_device = original


def _timeout_from_env(kwargs: dict) -> dict:
    """Set ``timeout`` (a timedelta) from ``STADL_DIST_TIMEOUT`` when it is set (it
    overrides the config's ``env_cfg.dist_cfg.timeout``)."""
    if os.environ.get(DEFAULT_TIMEOUT_ENV):
        import datetime
        seconds = float(os.environ[DEFAULT_TIMEOUT_ENV])
        kwargs = dict(kwargs, timeout=datetime.timedelta(seconds=seconds))
    return kwargs


def _cpu_launch(launch_fn):
    """Wrap one of mmengine's ``_init_dist_*(backend, **kwargs)`` functions."""

    @functools.wraps(launch_fn)
    def launch(backend='nccl', *args, **kwargs):
        kwargs = _timeout_from_env(kwargs)
        if cuda_usable():
            return launch_fn(backend, *args, **kwargs)
        with _without_cuda_set_device():
            return launch_fn(cpu_backend(backend), *args, **kwargs)

    setattr(launch, _MARK, True)
    return launch


def _module_on_cpu(module: torch.nn.Module) -> bool:
    devices = {p.device.type for p in module.parameters()}
    devices |= {b.device.type for b in module.buffers()}
    return devices <= {'cpu'}


def _cpu_ddp_init(init):
    """Wrap ``MMDistributedDataParallel.__init__`` to drop GPU ids for a CPU module."""

    @functools.wraps(init)
    def __init__(self, module, *args, **kwargs):
        if _module_on_cpu(module):
            if kwargs.get('device_ids') is not None:
                kwargs['device_ids'] = None
            kwargs.pop('output_device', None)
        init(self, module, *args, **kwargs)

    setattr(__init__, _MARK, True)
    return __init__


def enable_cpu_distributed() -> bool:
    """Install the wrappers described in the module docstring. Idempotent.

    Returns:
        bool: True if they were installed by this call, False if already present.
    """
    import mmengine.dist.utils as dist_utils
    from mmengine.model import MMDistributedDataParallel

    installed = False
    for name in _LAUNCH_FUNCTIONS:
        fn = getattr(dist_utils, name, None)
        if fn is not None and not getattr(fn, _MARK, False):
            setattr(dist_utils, name, _cpu_launch(fn))
            installed = True
    init = MMDistributedDataParallel.__init__
    if not getattr(init, _MARK, False):
        MMDistributedDataParallel.__init__ = _cpu_ddp_init(init)
        installed = True
    return installed


def is_cpu_distributed_enabled() -> bool:
    """True when :func:`enable_cpu_distributed` has been applied in this process."""
    import mmengine.dist.utils as dist_utils
    from mmengine.model import MMDistributedDataParallel
    return (all(getattr(getattr(dist_utils, n), _MARK, False)
                for n in _LAUNCH_FUNCTIONS if hasattr(dist_utils, n))
            and getattr(MMDistributedDataParallel.__init__, _MARK, False))
