"""Unfreeze an integrated flow subnet after N training iterations.

Zhang et al. (PR 2020) "first freeze the weights of the integrated optical flow
network and then unfreeze weights after the loss [is] stable" (at 75k of 150k
iterations in their fusion study). The model keeps the flow subnet frozen from the
start (``freeze_flow=True`` of ``FlowTwoStreamBackbone``); this hook calls
``set_flow_trainable(True)`` on every module of the model that has it, once
``runner.iter`` reaches ``unfreeze_iter`` (also right at the start of a resumed run
that is already past it). The optimizer built by mmengine's default constructor
already holds the frozen parameters (they get no gradient while frozen), so they
start moving at the next step.
"""
from __future__ import annotations

from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper

from ..registry import HOOKS

__all__ = ['FlowUnfreezeHook']


@HOOKS.register_module()
class FlowUnfreezeHook(Hook):
    """Args:
        unfreeze_iter: the 0-based training iteration from which the flow subnet
            is trained (``0`` trains it from the start).
    """

    priority = 'NORMAL'

    def __init__(self, unfreeze_iter: int):
        if unfreeze_iter < 0:
            raise ValueError(f'unfreeze_iter must be >= 0, got {unfreeze_iter}')
        self.unfreeze_iter = int(unfreeze_iter)
        self.unfrozen_at: int | None = None

    @staticmethod
    def _targets(runner):
        model = runner.model.module if is_model_wrapper(runner.model) else runner.model
        found = [m for m in model.modules() if hasattr(m, 'set_flow_trainable')]
        if not found:
            raise RuntimeError('FlowUnfreezeHook: no module with set_flow_trainable() in the '
                               f'model ({type(model).__name__}); use FlowTwoStreamBackbone')
        return found

    def _maybe_unfreeze(self, runner) -> None:
        if self.unfrozen_at is None and runner.iter >= self.unfreeze_iter:
            for m in self._targets(runner):
                m.set_flow_trainable(True)
            self.unfrozen_at = runner.iter
            runner.logger.info(f'FlowUnfreezeHook: flow subnet trainable from iteration '
                               f'{runner.iter}')

    def before_train(self, runner) -> None:
        self._targets(runner)            # fail early on a model without a flow subnet
        self._maybe_unfreeze(runner)

    def before_train_iter(self, runner, batch_idx: int, data_batch=None) -> None:
        self._maybe_unfreeze(runner)
