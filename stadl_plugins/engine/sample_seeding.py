"""Data augmentation randomness as a function of (seed, epoch, sample index).

Why: exact resume with data loader workers. mmengine seeds each worker once,
from ``seed + num_workers * rank + worker_id``, when the worker starts. With
``persistent_workers=True`` (what the configs ship) a worker starts once per
*run*, so in an uninterrupted run epoch 3's augmentation continues the random
stream of epochs 0-2, while a run resumed at epoch 3 starts fresh workers with
the seed: the two runs augment differently from the first resumed step (measured:
102 of 122 tensors differ after two epochs). Without persistent workers the
stream is the same every epoch instead. Either way, which random numbers a
sample gets depends on which worker loads it and what that worker loaded
before.

Here each sample is loaded inside a generator context seeded from
``(seed, epoch, index)`` alone:

* :class:`EpochSeededSampler` (a ``DefaultSampler``) yields
  :class:`EpochIndex` values: ``int`` subclasses that carry the epoch and seed
  through the data loader's index queues to whichever worker (or the main
  process) loads the sample;
* :func:`install_sample_seeding` wraps ``mmengine.dataset.BaseDataset.__getitem__``
  (and so every MMAction2 dataset): for an :class:`EpochIndex` it seeds
  python's ``random``, numpy's global generator and torch's CPU generator from
  :func:`sample_seed`, loads the sample, and puts the previous generator states
  back (so with ``num_workers=0`` the main process's stream is untouched). A
  plain ``int`` index takes the stock path, unchanged.

So a sample's augmentation no longer depends on ``num_workers``,
``persistent_workers``, prefetching or on where a run was resumed.
:class:`~stadl_plugins.engine.exact_resume_hook.ExactResumeEpochBasedTrainLoop`
switches a ``DefaultSampler`` to this one by itself.

Gaps: dataset wrappers that compute a new index (``RepeatDataset`` uses
``idx % len``) drop the tag, and those samples take the stock path; an
``IterableDataset`` has no indices at all.
"""
from __future__ import annotations

import random
from contextlib import contextmanager

import numpy as np
import torch
from mmengine.dataset import DefaultSampler

from stadl_plugins.registry import DATA_SAMPLERS


class EpochIndex(int):
    """A dataset index that also carries the epoch and the run's seed."""

    def __new__(cls, index: int, epoch: int, seed: int):
        obj = super().__new__(cls, index)
        obj.epoch = int(epoch)
        obj.seed = int(seed)
        return obj

    def __reduce__(self):
        return EpochIndex, (int(self), self.epoch, self.seed)

    def __repr__(self):
        return f'EpochIndex({int(self)}, epoch={self.epoch}, seed={self.seed})'


def sample_seed(seed: int, epoch: int, index: int) -> int:
    """A 32-bit seed from ``(seed, epoch, index)`` (numpy's SeedSequence hash)."""
    ss = np.random.SeedSequence([seed & 0xFFFFFFFF, epoch, index])
    return int(ss.generate_state(1, dtype=np.uint32)[0])


@contextmanager
def seeded_generators(seed: int):
    """Seed python/numpy/torch-CPU global generators; restore them afterwards."""
    py, nps, ts = random.getstate(), np.random.get_state(), torch.get_rng_state()
    random.seed(seed)
    np.random.seed(seed)
    torch.default_generator.manual_seed(seed)
    try:
        yield
    finally:
        random.setstate(py)
        np.random.set_state(nps)
        torch.set_rng_state(ts)


@DATA_SAMPLERS.register_module()
class EpochSeededSampler(DefaultSampler):
    """``DefaultSampler`` whose indices carry ``(epoch, seed)``.

    Same order, same arguments (``shuffle``, ``seed``, ``round_up``) and the same
    ``set_epoch`` protocol as the stock sampler; only the yielded type differs.
    """

    def __iter__(self):
        for idx in super().__iter__():
            yield EpochIndex(idx, self.epoch, self.seed)


def install_sample_seeding() -> bool:
    """Wrap ``BaseDataset.__getitem__`` so tagged indices load seeded. Idempotent."""
    from mmengine.dataset import BaseDataset
    original = BaseDataset.__getitem__
    if getattr(original, '_stadl_seeded', False):
        return False

    def __getitem__(self, idx):
        if isinstance(idx, EpochIndex):
            with seeded_generators(sample_seed(idx.seed, idx.epoch, int(idx))):
                return original(self, int(idx))
        return original(self, idx)

    __getitem__._stadl_seeded = True
    __getitem__.__wrapped__ = original
    __getitem__.__doc__ = original.__doc__
    BaseDataset.__getitem__ = __getitem__
    return True


def use_epoch_seeded_sampler(dataloader) -> bool:
    """Make a built loader's ``DefaultSampler`` an :class:`EpochSeededSampler`.

    The subclass adds no state, so the swap keeps the sampler's order and
    settings. Returns False if the sampler is of another type (left as is).
    """
    sampler = getattr(dataloader, 'sampler', None)
    if isinstance(sampler, EpochSeededSampler):
        return True
    if type(sampler) is DefaultSampler:
        sampler.__class__ = EpochSeededSampler
        return True
    return False
