"""Stop training on NaN/inf inputs or losses, before any weight is updated.

mmengine trains on a NaN loss without complaint (the weights become NaN and every
later metric is meaningless). :class:`NonFiniteCheckHook` checks

* each batch's float inputs in ``before_train_iter`` (pipelines that produce
  float frames),
* the normalised float inputs that the model's data preprocessor returns, in
  training (a forward hook on ``model.data_preprocessor``): the shipped pipelines
  produce uint8 frames, which cannot hold NaN, so this is where NaN/inf appear
  (a zero ``std``, a corrupt float input, a preprocessor bug), and
* the total loss right before the optimizer wrapper runs backward/step (it wraps
  ``runner.optim_wrapper.update_params`` of this runner only),

and raises ``FloatingPointError`` naming the iteration and the batch's sample keys
(``img_key`` for AVA-style data, else ``filename``/``frame_dir``), so the bad
samples can be found. Usage: ``custom_hooks = [dict(type='NonFiniteCheckHook')]``.
"""
from __future__ import annotations

import torch
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper

from stadl_plugins.registry import HOOKS


def batch_keys(data_batch) -> list:
    """Identify the samples of a batch (``img_key``, else file name/dir)."""
    keys = []
    for s in (data_batch or {}).get('data_samples', []) or []:
        meta = getattr(s, 'metainfo', {})
        keys.append(meta.get('img_key') or meta.get('filename')
                    or meta.get('frame_dir') or '?')
    return keys


def _non_finite(x) -> bool:
    if isinstance(x, torch.Tensor):
        return x.is_floating_point() and not bool(torch.isfinite(x).all())
    if isinstance(x, (list, tuple)):
        return any(_non_finite(v) for v in x)
    if isinstance(x, dict):
        return any(_non_finite(v) for v in x.values())
    return False


@HOOKS.register_module()
class NonFiniteCheckHook(Hook):
    """Raise on NaN/inf inputs or loss; the bad step never updates the weights.

    Args:
        check_inputs (bool): check the batch inputs before each iteration.
        check_loss (bool): check the total loss before backward/step.
    """

    priority = 'VERY_HIGH'

    def __init__(self, check_inputs: bool = True, check_loss: bool = True):
        self.check_inputs = check_inputs
        self.check_loss = check_loss
        self._keys: list = []
        self._handle = None

    def before_train(self, runner) -> None:
        if self.check_inputs:
            self._hook_data_preprocessor(runner)
        if not self.check_loss:
            return
        wrapper = runner.optim_wrapper
        update = getattr(wrapper, 'update_params', None)
        if update is None or getattr(update, '_stadl_non_finite', False):
            return
        hook = self

        def update_params(loss, *args, **kwargs):
            if _non_finite(loss):
                raise FloatingPointError(
                    f'non-finite loss ({float(loss.detach())}) at iteration '
                    f'{runner.iter + 1} (batch: {hook._keys}); stopped before '
                    'backward/step, the weights are those of the previous '
                    'iteration. Lower the learning rate, enable clip_grad, or '
                    'check these samples.')
            return update(loss, *args, **kwargs)

        update_params._stadl_non_finite = True
        wrapper.update_params = update_params

    def before_train_iter(self, runner, batch_idx: int, data_batch=None) -> None:
        self._keys = batch_keys(data_batch)
        if self.check_inputs and data_batch is not None and \
                _non_finite(data_batch.get('inputs')):
            raise FloatingPointError(
                f'non-finite values (NaN/inf) in the inputs at iteration '
                f'{runner.iter + 1} (batch: {self._keys}); check these samples '
                'and the pipeline that produced them.')

    def _hook_data_preprocessor(self, runner) -> None:
        model = runner.model.module if is_model_wrapper(runner.model) else runner.model
        pre = getattr(model, 'data_preprocessor', None)
        if not isinstance(pre, torch.nn.Module) or self._handle is not None:
            return
        hook = self

        def check_output(module, args, output):
            training = args[1] if len(args) > 1 else module.training
            if not training:
                return
            inputs = output.get('inputs') if isinstance(output, dict) else \
                (output[0] if isinstance(output, (list, tuple)) and output else None)
            if _non_finite(inputs):
                raise FloatingPointError(
                    'non-finite values (NaN/inf) in the normalised inputs (after the '
                    f'data preprocessor {type(module).__name__}) at iteration '
                    f'{runner.iter + 1} (batch: {hook._keys}); check these samples '
                    'and the preprocessor (mean/std: a zero std gives inf).')

        self._handle = pre.register_forward_hook(check_output)

    def after_train(self, runner) -> None:
        if self._handle is not None:
            self._handle.remove()
            self._handle = None
