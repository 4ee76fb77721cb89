"""Ablation blocks of benchmark v2 that train on the frozen-backbone feature cache
(issue 20). Each row is the stock v2 config plus the overrides listed here
(dotted keys, as ``--cfg-options``), built by the registry and trained with
:func:`stadl_plugins.benchmark.cached_heads.train_on_cache`; each claim compares
two rows with the paired per-video bootstrap of
:func:`stadl_plugins.evaluation.bootstrap.paired_bootstrap`.

A claim is one of

* ``('better', a, b, group)``: row ``a`` > row ``b`` on ``group`` -- *reproduced*
  when the 95 % CI of ``a - b`` lies above 0, *not reproduced* when it lies below
  0, else *n.s.*;
* ``('no_loss', a, b, group)``: ``a`` does not lose to ``b`` -- *reproduced* when
  the CI's lower end is above ``-NO_LOSS_MARGIN``, *not reproduced* when its upper
  end is below 0, else *n.s.*.

Groups are V2_GROUPS' ``motion`` / ``order`` / ``context``, ``others`` (every
class not in ``context``) or ``mAP``.
"""
from __future__ import annotations

#: the non-inferiority margin of a ``no_loss`` claim (frame-AP)
NO_LOSS_MARGIN = 0.02

_ATR = {'model.roi_head.shared_head': dict(
    type='ATRHead', in_channels=64, latent_channels=32, featmap_stride=8,
    num_layers=1, context_radius=1.0, query='cell', norm='LN')}

# recurrent necks on the cached 4x2 clip (0.8 s): project mode keeps the stock
# bbox_head's 64 channels and starts as the identity
_VLSTM = dict(type='ConvALSTMNeck', in_channels=64, hidden_channels=32,
              output_mode='project', rescale_attention=True)
_HST = dict(type='HSTLSTMNeck', in_channels=64, hidden_channels=32,
            output_mode='project')

# the RoI feature from backbone stage 2 (index 1: 16 channels, stride 8, a
# measured 99 x 99 px receptive field, ~4 actor widths), which does not cover
# the whole 160 x 120 frame as stage 4 (227 px) does: the stock head can no
# longer see the carried object or the partner through its receptive field
_STAGE2 = {'model.backbone.out_indices': (1,),
           'model.roi_head.bbox_head.in_channels': 16}
_ATR2 = dict(_STAGE2, **{'model.roi_head.shared_head': dict(
    _ATR['model.roi_head.shared_head'], in_channels=16, latent_channels=16)})

BLOCKS = {
    'atr': dict(
        paper='Jiang et al. 2018, Human Centric Spatio-Temporal Action Localization '
              '(ATR: non-local relation from the actor RoI to its surroundings)',
        rows={
            'stock': {},
            'stock + global context': {
                'model.roi_head.bbox_roi_extractor.with_global': True,
                'model.roi_head.bbox_head.in_channels': 128},
            'ATR': _ATR,
            'ATR without box mask': {'model.roi_head.shared_head': dict(
                _ATR['model.roi_head.shared_head'], mask_margin=-1.0)},
            'ATR without context radius': {'model.roi_head.shared_head': dict(
                _ATR['model.roi_head.shared_head'], context_radius=None)},
        },
        claims=[
            ('ATR > stock on the context classes', 'better', 'ATR', 'stock', 'context'),
            ('ATR does not lose to stock on the other classes', 'no_loss', 'ATR',
             'stock', 'others'),
            ('the box mask matters (ATR > ATR without mask, context)', 'better', 'ATR',
             'ATR without box mask', 'context'),
            ('global pooling does not suffice (ATR > stock + global, context)',
             'better', 'ATR', 'stock + global context', 'context'),
            ('the context radius helps (ATR > ATR without radius, context)', 'better',
             'ATR', 'ATR without context radius', 'context'),
        ]),
    'atr_stage2': dict(
        paper='Jiang et al. 2018 (ATR), with the RoI feature from a backbone stage '
              'whose receptive field does not cover the target (issue 19)',
        rows={
            'stock, stage-2 feature': _STAGE2,
            'stock + global context, stage-2 feature': dict(_STAGE2, **{
                'model.roi_head.bbox_roi_extractor.with_global': True,
                'model.roi_head.bbox_head.in_channels': 32}),
            'ATR, stage-2 feature': _ATR2,
        },
        claims=[
            ('ATR > stock on the context classes (stage-2 feature)', 'better',
             'ATR, stage-2 feature', 'stock, stage-2 feature', 'context'),
            ('ATR does not lose to stock on the other classes (stage-2 feature)',
             'no_loss', 'ATR, stage-2 feature', 'stock, stage-2 feature', 'others'),
            ('global pooling does not suffice (ATR > stock + global, context, '
             'stage-2 feature)', 'better', 'ATR, stage-2 feature',
             'stock + global context, stage-2 feature', 'context'),
        ]),
    'videolstm': dict(
        paper='Li et al. 2016, VideoLSTM Convolves, Attends and Flows for Action '
              'Recognition (ConvLSTM -> ConvALSTM -> motion-based attention)',
        rows={
            'stock': {},
            'ConvLSTM': {'model.neck': dict(_VLSTM, attention='none')},
            'ConvALSTM': {'model.neck': dict(_VLSTM, attention='appearance')},
            'VideoLSTM (motion attention)': {'model.neck': dict(
                _VLSTM, attention='motion', motion_source='feature_difference')},
        },
        claims=[
            ('ConvALSTM > ConvLSTM (mAP)', 'better', 'ConvALSTM', 'ConvLSTM', 'mAP'),
            ('motion attention >= appearance attention (motion classes)', 'no_loss',
             'VideoLSTM (motion attention)', 'ConvALSTM', 'motion'),
            ('ConvLSTM > stock on the motion classes', 'better', 'ConvLSTM', 'stock',
             'motion'),
        ]),
    'hstlstm': dict(
        paper='Ramaswamy et al. 2020, hierarchical spatio-temporal LSTM (peephole ConvLSTM '
              'over seconds, attention pooling between levels)',
        rows={
            'stock': {},
            'HST-LSTM 1 layer': {'model.neck': dict(_HST, num_layers=1)},
            'HST-LSTM 2 layers': {'model.neck': dict(_HST, num_layers=2)},
            # the same cell and channels as 1 layer, but every step from a zero
            # state and the steps averaged: extra channels, no memory
            'no-recurrence control': {'model.neck': dict(_HST, num_layers=1,
                                                         recurrent=False)},
        },
        claims=[
            ('hierarchy helps on the order classes (2 layers > 1 layer)', 'better',
             'HST-LSTM 2 layers', 'HST-LSTM 1 layer', 'order'),
            ('HST-LSTM > stock on the order classes', 'better', 'HST-LSTM 2 layers',
             'stock', 'order'),
            ('recurrence, not the extra channels (1 layer > no-recurrence control, '
             'order)', 'better', 'HST-LSTM 1 layer', 'no-recurrence control', 'order'),
        ]),
}


def slug(text: str) -> str:
    return ''.join(c if c.isalnum() else '_' for c in text.lower()).strip('_')


def claim_verdict(kind: str, lo: float, hi: float) -> str:
    if kind == 'better':
        return 'reproduced' if lo > 0 else ('not reproduced' if hi < 0 else 'n.s.')
    if kind == 'no_loss':
        return ('reproduced' if lo > -NO_LOSS_MARGIN
                else ('not reproduced' if hi < 0 else 'n.s.'))
    raise ValueError(f'unknown claim kind {kind!r}')


def groups_with_others(groups: dict) -> dict:
    """V2 groups plus ``others`` (every class outside ``context``)."""
    out = dict(groups)
    # each class once, also when groups overlap (the flow block's in_box_motion)
    out['others'] = list(dict.fromkeys(n for g, ns in groups.items() if g != 'context'
                                       for n in ns))
    return out


def evaluate_block(name: str, runs: dict, class_names: dict, groups: dict,
                   n_boot: int, seed: int = 0, spec: dict | None = None,
                   cache: dict | None = None) -> dict:
    """``{"rows": [...], "claims": [...]}`` of one block from ``runs``
    (``{row: [RankedRun per seed]}``); rows without runs are reported missing.
    ``spec``: the block's rows and claims (default ``BLOCKS[name]``; the
    end-to-end blocks, e.g. ``v2_flow.FLOW_BLOCK``, pass their own).
    ``cache``: ``paired_bootstrap``'s exact cache, shared across blocks that use
    the same runs (the suite passes one for its whole summary)."""
    import numpy as np

    from stadl_plugins.evaluation.bootstrap import paired_bootstrap, point_aps
    spec = BLOCKS[name] if spec is None else spec
    groups = groups_with_others(groups)
    rows, claims = [], []
    # the claims share rows: each run's resampled APs once (exact)
    cache = {} if cache is None else cache
    for row in spec['rows']:
        rr = runs.get(row) or []
        entry = dict(row=row, seeds=len(rr), overrides=spec['rows'][row])
        if rr:
            aps = [point_aps(r, class_names) for r in rr]
            per_class = {n: float(np.nanmean([a[n] for a in aps])) for n in
                         class_names.values()}
            entry['class_ap'] = per_class
            entry['mAP'] = float(np.nanmean(list(per_class.values())))
            for g, ns in groups.items():
                entry[g] = float(np.nanmean([per_class[n] for n in ns]))
            entry['mAP_per_seed'] = [float(np.nanmean(list(a.values()))) for a in aps]
        rows.append(entry)
    for text, kind, a, b, group in spec['claims']:
        if not runs.get(a) or not runs.get(b):
            claims.append(dict(claim=text, effect=None, ci95=None, verdict='not run',
                               rows=[a, b], group=group))
            continue
        if group != 'mAP' and not groups.get(group):
            claims.append(dict(claim=text, effect=None, ci95=None, verdict='not run',
                               rows=[a, b], group=group,
                               reason=f'no class of group {group!r} in these data',
                               experiment='run on data that have the group'))
            continue
        res = paired_bootstrap(runs[a], runs[b], class_names, groups=groups,
                               n_boot=n_boot, seed=seed, cache=cache)
        cell = res['overall'] if group == 'mAP' else res['per_group'][group]
        claims.append(dict(claim=text, effect=cell['effect'], ci95=cell['ci95'],
                           verdict=claim_verdict(kind, *cell['ci95']), kind=kind,
                           rows=[a, b], group=group, a=cell['method'], b=cell['stock'],
                           seeds=[len(runs[a]), len(runs[b])]))
    return dict(paper=spec['paper'], rows=rows, claims=claims,
                no_loss_margin=NO_LOSS_MARGIN)
