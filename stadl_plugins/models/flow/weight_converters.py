"""Load public PWC-Net weights into :class:`~stadl_plugins.models.flow.pwcnet.PWCNet`.

Three state-dict layouts are understood (names documented in ``docs/flow.md``):

* ``'sniklaus'`` -- ``sniklaus/pytorch-pwc`` (``network-default.pytorch``, the Caffe
  weights of the paper): ``moduleExtractor.moduleOne.0.weight`` ... (newer files use
  the ``net`` prefix: ``netExtractor.netOne.0.weight``); decoders ``moduleSix`` ..
  ``moduleTwo`` with dense convs ``moduleOne``..``moduleFiv``, predictor
  ``moduleSix`` and the up-samplers ``moduleUpflow``/``moduleUpfeat`` stored on the
  *receiving* level; context ``moduleRefiner.moduleMain.{0..12}``. Cost volume:
  mean over channels.
* ``'nvlabs'`` -- ``NVlabs/PWC-Net`` PyTorch ``pwc_net.pth.tar`` (PWC-DC):
  ``conv1a``/``conv1aa``/``conv1b`` .. (level 6: ``conv6aa`` has the stride, then
  ``conv6a``, ``conv6b``; the older file has only ``a``/``b``), ``conv{l}_{0..4}``,
  ``predict_flow{l}``, ``deconv{l}``, ``upfeat{l}``, ``dc_conv1..7`` (``deconv2`` is
  built but never used by that network and is dropped). Mean normalisation.
  The two-conv names are those of the June 2018 file and of two classes that
  concatenate the estimator features differently: ``PWCDCNet`` of that time (new
  features first, as here; what ``script_pwc.py`` loaded the file with) and
  ``PWCDCNet_old`` (another order). They are converted for the first, with a warning.
* ``'mmflow'`` -- ``open-mmlab/mmflow`` PWC-Net checkpoints:
  ``encoder.layers.{i}.layers.{j}.conv``, ``decoder.decoders.level{l}.dense_net.
  layers.{j}.layers.conv``, ``.predict_layer``, ``.upflow_layer``, ``.upfeat_layer``
  (on the sending level), ``decoder.post_processor.layers.{0..6}``. Cost volume:
  plain sum (``scaled=False``).

All three concatenate the dense features new-first and the estimator input as
``[cost, f1, up_flow, up_feat]``, as :class:`PWCNet` does (read from their forward
code; for two-conv NVlabs weights, from ``PWCDCNet`` at ``940521b``), so tensors map
one to one without reordering channels. The NVlabs and mmflow key lists the tests use
are in ``tests/fixtures/reference_keys/`` (derived from the model code).
"""
from __future__ import annotations

import re
import warnings
from collections import OrderedDict

import torch

__all__ = ['convert_pwcnet_state_dict', 'detect_layout', 'load_pwcnet_weights',
           'LAYOUT_NORMALIZE', 'strip_wrappers']

LAYOUT_NORMALIZE = {'sniklaus': 'mean', 'nvlabs': 'mean', 'mmflow': 'sum'}
_SNIKLAUS_LEVEL = {'One': 1, 'Two': 2, 'Thr': 3, 'Fou': 4, 'Fiv': 5, 'Six': 6}


def strip_wrappers(obj) -> 'OrderedDict[str, torch.Tensor]':
    """The tensor dict inside a checkpoint (``state_dict`` key, ``module.`` prefix)."""
    if isinstance(obj, dict) and 'state_dict' in obj and isinstance(obj['state_dict'], dict):
        obj = obj['state_dict']
    if not isinstance(obj, dict):
        raise TypeError(f'expected a state dict, got {type(obj).__name__}')
    out = OrderedDict()
    for k, v in obj.items():
        if not torch.is_tensor(v):
            continue
        out[k[len('module.'):] if k.startswith('module.') else k] = v
    return out


def detect_layout(state_dict: dict) -> str:
    """``'sniklaus'``, ``'nvlabs'``, ``'mmflow'`` or ``'stadl'`` (already
    converted) from the key names."""
    keys = list(state_dict)
    if any(k.startswith('encoder.level') for k in keys):
        return 'stadl'
    if any(re.match(r'(module|net)Extractor\.', k) for k in keys):
        return 'sniklaus'
    if any(k.startswith('conv1a.') for k in keys) and any(k.startswith('dc_conv') for k in keys):
        return 'nvlabs'
    if any(k.startswith('encoder.layers.') for k in keys) and \
            any(k.startswith('decoder.decoders.') for k in keys):
        return 'mmflow'
    raise ValueError('unknown PWC-Net state-dict layout; first keys: ' + ', '.join(keys[:5]))


def _sniklaus_name(key: str) -> str | None:
    # drop the 'module'/'net' prefix of each path component: moduleSix -> Six
    parts = [re.sub(r'^(module|net)(?=[A-Z])', '', p) for p in key.split('.')]
    p = parts[-1]
    if parts[0] == 'Extractor':                       # Extractor.One.0.weight
        return f'encoder.level{_SNIKLAUS_LEVEL[parts[1]]}.{parts[2]}.{p}'
    if parts[0] == 'Refiner':                         # Refiner.Main.4.weight
        return f'context.{parts[2]}.{p}'
    if parts[0] in _SNIKLAUS_LEVEL:
        lvl = _SNIKLAUS_LEVEL[parts[0]]
        sub = parts[1]
        if sub == 'Upflow':                           # stored on the receiving level
            return f'decoders.level{lvl + 1}.upsample_flow.{p}'
        if sub == 'Upfeat':
            return f'decoders.level{lvl + 1}.upsample_feat.{p}'
        if sub == 'Six':                              # Six.Six.0.weight: the predictor
            return f'decoders.level{lvl}.predict_flow.{p}'
        if sub in _SNIKLAUS_LEVEL:                    # One..Fiv: dense convs 0..4
            return f'decoders.level{lvl}.dense.{_SNIKLAUS_LEVEL[sub] - 1}.0.{p}'
    return None


def _nvlabs_name(key: str, three_convs: bool) -> str | None:
    p = key.split('.')[-1]
    m = re.match(r'conv(\d)(a|aa|b)\.0\.', key)
    if m:
        lvl, which = int(m.group(1)), m.group(2)
        if three_convs:
            order = ('aa', 'a', 'b') if lvl == 6 else ('a', 'aa', 'b')
        else:
            order = ('a', 'b')
        return f'encoder.level{lvl}.{2 * order.index(which)}.{p}'
    m = re.match(r'conv(\d)_(\d)\.0\.', key)
    if m:
        return f'decoders.level{m.group(1)}.dense.{m.group(2)}.0.{p}'
    m = re.match(r'predict_flow(\d)\.', key)
    if m:
        return f'decoders.level{m.group(1)}.predict_flow.{p}'
    m = re.match(r'deconv(\d)\.', key)
    if m:
        return f'decoders.level{m.group(1)}.upsample_flow.{p}'
    m = re.match(r'upfeat(\d)\.', key)
    if m:
        return f'decoders.level{m.group(1)}.upsample_feat.{p}'
    m = re.match(r'dc_conv(\d)\.', key)
    if m:
        k = int(m.group(1))
        return f'context.{2 * (k - 1)}.{p}'
    return None


def _mmflow_name(key: str) -> str | None:
    p = key.split('.')[-1]
    m = re.match(r'encoder\.layers\.(\d+)\.layers\.(\d+)\.conv\.', key)
    if m:
        return f'encoder.level{int(m.group(1)) + 1}.{2 * int(m.group(2))}.{p}'
    m = re.match(r'decoder\.decoders\.level(\d)\.(.+)$', key)
    if m:
        lvl, rest = m.group(1), m.group(2)
        d = re.match(r'dense_net\.layers\.(\d+)\.layers\.conv\.', rest)
        if d:
            return f'decoders.level{lvl}.dense.{d.group(1)}.0.{p}'
        for src, dst in (('predict_layer.', 'predict_flow'), ('upflow_layer.', 'upsample_flow'),
                         ('upfeat_layer.', 'upsample_feat')):
            if rest.startswith(src):
                return f'decoders.level{lvl}.{dst}.{p}'
    m = re.match(r'decoder\.post_processor\.layers\.(\d+)\.(conv\.)?', key)
    if m:
        j = int(m.group(1))
        return f'context.{2 * j}.{p}'
    return None


def convert_pwcnet_state_dict(state_dict: dict, layout: str = 'auto'
                              ) -> tuple['OrderedDict[str, torch.Tensor]', dict]:
    """Rename a public PWC-Net state dict to :class:`PWCNet` names.

    Args:
        state_dict: the loaded checkpoint (wrappers are stripped).
        layout: ``'auto'``, ``'sniklaus'``, ``'nvlabs'`` or ``'mmflow'``.

    Returns:
        tuple: converted state dict, and info ``{'layout', 'corr_normalize',
        'convs_per_level', 'dropped'}`` -- build the model with those settings.

    Raises:
        KeyError: a key of the source that has no place in :class:`PWCNet`.
    """
    sd = strip_wrappers(state_dict)
    layout = detect_layout(sd) if layout == 'auto' else layout
    if layout == 'stadl':                    # already ours (e.g. written by the CLI)
        convs = len([k for k in sd if k.startswith('encoder.level1.')
                     and k.endswith('.weight')])
        meta = state_dict.get('meta', {}) if isinstance(state_dict, dict) else {}
        return sd, dict(layout='stadl', corr_normalize=meta.get('corr_normalize'),
                        convs_per_level=convs, dropped=[])
    if layout not in LAYOUT_NORMALIZE:
        raise ValueError(f'layout must be auto/sniklaus/nvlabs/mmflow, got {layout!r}')
    three = any(re.match(r'conv\daa\.', k) for k in sd)
    if layout == 'nvlabs' and not three:
        warnings.warn(
            'two-conv NVlabs PWC-Net weights: converted for the estimator order of '
            'PWCDCNet as of NVlabs/PWC-Net@940521b (new features first); weights made '
            'for PWCDCNet_old (same names, another concatenation order) load without '
            'error but do not compute that network', UserWarning, stacklevel=2)
    out, dropped, unknown = OrderedDict(), [], []
    for key, value in sd.items():
        if layout == 'nvlabs' and key.startswith('deconv2.'):
            dropped.append(key)              # built but unused by the NVlabs network
            continue
        if layout == 'sniklaus':
            name = _sniklaus_name(key)
        elif layout == 'nvlabs':
            name = _nvlabs_name(key, three)
        else:
            name = _mmflow_name(key)
        if name is None:
            unknown.append(key)
        else:
            out[name] = value
    if unknown:
        raise KeyError(f'{len(unknown)} {layout} keys have no PWCNet counterpart: '
                       + ', '.join(unknown[:8]))
    levels = [k for k in out if k.startswith('encoder.level1.')]
    convs = len([k for k in levels if k.endswith('.weight')])
    info = dict(layout=layout, corr_normalize=LAYOUT_NORMALIZE[layout],
                convs_per_level=convs, dropped=dropped)
    return out, info


def load_pwcnet_weights(model, path: str, layout: str = 'auto') -> dict:
    """Load a public PWC-Net checkpoint into ``model`` (strictly).

    The file is read with ``torch.load(weights_only=True)`` (no code runs); the
    model's cost-volume normalisation is set to the layout's convention.

    Returns:
        dict: the conversion info of :func:`convert_pwcnet_state_dict`.
    """
    raw = torch.load(path, map_location='cpu', weights_only=True)
    sd, info = convert_pwcnet_state_dict(raw, layout)
    model.load_state_dict(sd, strict=True)
    if info['corr_normalize'] is not None:
        model.correlation.normalize = info['corr_normalize']
    return info
