"""Exact resume of an interrupted training run: RNG states and the epoch position.

mmengine 0.10.7 resumes weights, optimizer, schedulers, epoch and iteration, but
two things make a run that was killed mid-epoch diverge from the uninterrupted one:

1. **RNG states are not saved.** On resume ``set_randomness`` reseeds python,
   numpy and torch with the config seed, so random augmentation (``Flip``,
   ``SampleAVAFrames`` temporal jitter), the RoI ``RandomSampler`` and dropout draw
   different numbers after resume than they would have. :class:`RNGStateHook`
   stores ``random``, ``numpy`` and ``torch`` (and CUDA, when present) generator
   states in the checkpoint. They are restored by the loop below right before it
   loads the first batch that was not trained yet (not at load time: the loop
   first fast-forwards the data loader, which runs the pipeline and consumes
   random numbers; not in ``before_train_iter`` either: by then the batch has
   been loaded and augmented).
2. **``EpochBasedTrainLoop`` restarts the epoch.** With iteration checkpoints
   (``CheckpointHook(by_epoch=False)``) a resumed run restarts the interrupted
   epoch from its first batch, so the batches before the checkpoint are trained
   twice. :class:`ExactResumeEpochBasedTrainLoop` skips the batches of the
   current epoch that were already trained (the sampler's order is reproduced by
   ``DistSamplerSeedHook`` from the seed and the epoch), like mmengine's
   ``IterBasedTrainLoop`` already does.

Usage (both are needed for a mid-epoch resume; the hook alone for epoch/iter
loops that resume at a boundary)::

    train_cfg = dict(type='ExactResumeEpochBasedTrainLoop', max_epochs=12)
    custom_hooks = [dict(type='RNGStateHook')]
    default_hooks = dict(checkpoint=dict(type='CheckpointHook', interval=500,
                                         by_epoch=False))
    randomness = dict(seed=0, deterministic=True)

Data loader workers: mmengine seeds a worker once, when it starts, so with
``persistent_workers=True`` an uninterrupted run and a resumed one would augment
differently from the first resumed step. The loop therefore switches a
``DefaultSampler`` to :class:`~stadl_plugins.engine.sample_seeding.EpochSeededSampler`:
every sample is loaded with generators seeded from ``(seed, epoch, index)``
alone (:mod:`stadl_plugins.engine.sample_seeding`), whatever worker loads it,
with any ``num_workers`` and ``persistent_workers``. The skipped batches are
still drawn from the loader (their order comes from the sampler) and discarded.
"""
from __future__ import annotations

import random

import numpy as np
import torch
from mmaction.registry import LOOPS
from mmengine.hooks import Hook
from mmengine.runner import EpochBasedTrainLoop

from stadl_plugins.registry import HOOKS

#: Checkpoint key under which :class:`RNGStateHook` stores the generator states.
RNG_KEY = 'stadl_rng_state'


def capture_rng_state() -> dict:
    """The current states of python's, numpy's and torch's global generators."""
    state = dict(python=random.getstate(), numpy=np.random.get_state(),
                 torch=torch.get_rng_state())
    if torch.cuda.is_available():
        state['cuda'] = torch.cuda.get_rng_state_all()
    return state


def restore_rng_state(state: dict) -> None:
    """Set the global generators to a state from :func:`capture_rng_state`."""
    random.setstate(_as_python_state(state['python']))
    np.random.set_state(state['numpy'])
    torch.set_rng_state(state['torch'])
    if 'cuda' in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state['cuda'])


def _as_python_state(state):
    # random.setstate needs (int, tuple-of-ints, None|float); a checkpoint
    # round trip may have turned the inner tuple into a list.
    version, internal, gauss = state
    return version, tuple(internal), gauss


@HOOKS.register_module()
class RNGStateHook(Hook):
    """Save the RNG states in every checkpoint; restore them on resume.

    The states are taken when the checkpoint is written (after the iteration that
    triggered it) and put back right before the next training iteration of the
    resumed run, so that iteration draws exactly the numbers it would have drawn
    without the interruption.
    """

    priority = 'VERY_LOW'  # restore after every other hook's before_train_iter

    def __init__(self):
        self._pending: dict | None = None

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        checkpoint[RNG_KEY] = capture_rng_state()

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        if RNG_KEY in checkpoint and runner._resume:
            self._pending = checkpoint[RNG_KEY]

    def restore_pending(self) -> bool:
        """Restore the states loaded from a resumed checkpoint, once.

        Returns:
            bool: True if there were states to restore.
        """
        if self._pending is None:
            return False
        restore_rng_state(self._pending)
        self._pending = None
        return True

    def before_train_iter(self, runner, batch_idx: int, data_batch=None) -> None:
        # Fallback for loops that do not call restore_pending themselves (e.g.
        # IterBasedTrainLoop): later iterations are exact, the first batch after
        # the resume was already loaded with the reseeded generators.
        self.restore_pending()


@LOOPS.register_module()
class ExactResumeEpochBasedTrainLoop(EpochBasedTrainLoop):
    """``EpochBasedTrainLoop`` that continues a resumed epoch where it stopped.

    Batches of the current epoch that the checkpoint already covers
    (``iter - epoch * len(dataloader)``) are drawn from the loader and skipped
    instead of being trained again. Otherwise identical to the stock loop.
    """

    def __init__(self, runner, dataloader, *args, **kwargs):
        super().__init__(runner, dataloader, *args, **kwargs)
        from mmengine.logging import print_log

        from .sample_seeding import use_epoch_seeded_sampler
        if not use_epoch_seeded_sampler(self.dataloader):
            print_log(f'ExactResumeEpochBasedTrainLoop: the sampler '
                      f'{type(self.dataloader.sampler).__name__} is not a '
                      'DefaultSampler; data augmentation is exact on resume only '
                      'with num_workers=0 (use EpochSeededSampler)',
                      logger='current', level=30)

    def run_epoch(self) -> None:
        self.runner.call_hook('before_train_epoch')
        self.runner.model.train()
        already_trained = self._iter - self._epoch * len(self.dataloader)
        batches = iter(self.dataloader)
        for idx in range(len(self.dataloader)):
            if idx == max(already_trained, 0):
                for hook in self.runner.hooks:
                    if isinstance(hook, RNGStateHook):
                        hook.restore_pending()
            data_batch = next(batches)
            if idx < already_trained:
                continue  # trained before the interruption
            self.run_iter(idx, data_batch)
        self.runner.call_hook('after_train_epoch')
        self._epoch += 1
