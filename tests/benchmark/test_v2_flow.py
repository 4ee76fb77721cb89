"""The v2 flow block (benchmarks/v2_flow.py): each row is the shipped two-stream
config with its flow source, on the stock v2 row's schedule; stages are
seed-major; not-run claims say why and how to run them."""
import os.path as osp
import sys

import pytest
from helpers import REPO

sys.path.insert(0, osp.join(REPO, 'benchmarks'))


def _cfg(source, tmp_path):
    from suite_v2 import plan
    from v2_flow import flow_row_config
    p = plan(tiny=False, scale=0.25)
    return p, flow_row_config(str(tmp_path / 'data'), dict(timestamp_end=960),
                              'pretrain.pth', str(tmp_path / 'w'), p, 1, source)


@pytest.mark.parametrize('source', ['zero', 'frame_difference', 'farneback', 'dis',
                                    'tvl1', 'dis_wide', 'gt', 'dis_wide_fixed',
                                    'tvl1_fast'])
def test_row_config_is_the_two_stream_config_with_the_stock_schedule(source, tmp_path):
    from suite_v2 import plan, stock_config
    p, cfg = _cfg(source, tmp_path)
    stock = stock_config(str(tmp_path / 'data'), dict(timestamp_end=960), 'pretrain.pth',
                         str(tmp_path / 'w'), plan(tiny=False, scale=0.25), 1)
    for key in ('train_cfg', 'param_scheduler', 'optim_wrapper', 'randomness'):
        assert cfg[key] == stock[key], key
    assert cfg.train_dataloader.batch_size == stock.train_dataloader.batch_size
    assert cfg.train_dataloader.dataset.ann_file == stock.train_dataloader.dataset.ann_file
    bb = cfg.model.backbone
    assert cfg.model.type == 'FlowFastRCNN' and bb.type == 'FlowTwoStreamBackbone'
    assert bb.backbone_pretrained == 'pretrain.pth' and bb.backbone_prefix == 'backbone.'
    computed = source in ('farneback', 'dis', 'tvl1', 'dis_wide', 'dis_wide_fixed',
                          'tvl1_fast')
    method = {'dis_wide': 'dis', 'dis_wide_fixed': 'dis', 'tvl1_fast': 'tvl1'}.get(source,
                                                                                 source)
    assert bb.flow_source == ('input' if computed or source == 'gt' else source)
    for dl in ('train_dataloader', 'test_dataloader'):
        pipe = cfg[dl].dataset.pipeline
        types = [t['type'] for t in pipe]
        flows = [t for t in pipe if t['type'] == 'ComputeFlow']
        pack = pipe[-1]
        # dis_wide: the same clip sampled twice as sparsely (0.4 s between frames)
        (sampler,) = [t for t in pipe if t['type'] == 'SampleAVAFrames']
        assert sampler['frame_interval'] == (4 if source.startswith('dis_wide') else 2)
        # dis_wide_fixed: no random frame offsets in training either
        assert sampler.get('test_mode', False) == (dl == 'test_dataloader'
                                                   or source == 'dis_wide_fixed')
        if computed:
            assert [f['method'] for f in flows] == [method]
            # tvl1_fast: OpenCV's TV-L1 with the looser stopping criterion
            assert [f.get('tvl1_epsilon') for f in flows] == [
                0.05 if source == 'tvl1_fast' else None]
            # after every geometric transform, before FormatShape
            assert types.index('ComputeFlow') + 1 == types.index('FormatShape')
            assert tuple(pack['algorithm_keys']) == ('input_flow',)
        elif source == 'gt':  # the renderer's flow of the same pairs, read from files
            assert not flows
            (load,) = [t for t in pipe if t['type'] == 'LoadFlowGT']
            assert load == dict(type='LoadFlowGT', flow_prefix=str(tmp_path / 'data' / 'flow'),
                                num_frames=3, frame_stride=1, pairs='adjacent',
                                key='input_flow')
            assert types.index('LoadFlowGT') + 1 == types.index('FormatShape')
            assert tuple(pack['algorithm_keys']) == ('input_flow',)
        else:
            assert not flows and 'algorithm_keys' not in pack
        assert types[:2] == [t['type'] for t in stock[dl].dataset.pipeline][:2]


def test_row_model_builds_and_unknown_sources_are_refused(tmp_path):
    from mmdet.registry import MODELS
    from mmengine.registry import init_default_scope
    from v2_flow import check_sources
    init_default_scope('mmaction')
    _, cfg = _cfg('dis', tmp_path)
    model = MODELS.build(cfg.model)
    assert model.backbone.flow_source == 'input' and model.backbone.flow_net is None
    with pytest.raises(ValueError, match='unknown flow source'):
        check_sources(['dis', 'raft'])
    assert check_sources(['dis', 'zero', 'dis']) == ['dis', 'zero']


def test_flow_stages_are_seed_major():
    from suite_v2 import plan, stage_list
    p = plan(tiny=False, scale=0.25)
    st = stage_list(p, [], (), p['flow_sources'])
    trained = [(k, a) for k, a in st if k in ('stock', 'flow')]
    seeds = [a[1] for _, a in trained]
    n = 1 + len(p['flow_sources'])
    assert seeds[:3 * n] == [0] * n + [1] * n + [2] * n
    assert [a[0] for k, a in trained[1:n]] == p['flow_sources']
    assert 'flow' not in [k for k, _ in stage_list(p, [])]
    # the GT flow files are written once, before any row trains, only for 'gt'
    kinds = [k for k, _ in st]
    assert ('gt' in p['flow_sources']) and kinds.index('flow_gt') < kinds.index('stock')
    assert 'flow_gt' not in [k for k, _ in stage_list(p, [], (), ['zero', 'dis'])]
    # no cached-head row: the val feature cache is not built
    assert 'cache' not in [k for k, _ in st]


def test_block_reports_rows_claims_and_why_a_claim_did_not_run():
    import numpy as np
    from v2_flow import FLOW_BLOCK, SOURCES, STOCK_ROW, evaluate_flow_block

    from stadl_plugins.evaluation.bootstrap import rank_run
    rng = np.random.default_rng(0)
    names = {1: 'spin', 2: 'walk'}
    gt = {f'v{i},0902': (np.array([[0.1, 0.1, 0.5, 0.5]]), np.array([1 + i % 2]))
          for i in range(24)}

    def run(shift):
        dets = {}
        for k, (b, lab) in gt.items():
            s = rng.random(2) * 0.5
            s[lab[0] - 1] += shift * (1.0 if lab[0] == 1 else 0.5)  # walk: imperfect
            dets[k] = (np.repeat(b, 2, 0), np.array([1, 2]), s)
        return rank_run(gt, dets, [1, 2])

    runs = {STOCK_ROW: [run(0.2)], SOURCES['zero']: [run(0.0), run(0.0)],
            SOURCES['dis']: [run(0.6), run(0.6)]}
    blk = evaluate_flow_block(runs, names, {'motion': ['spin', 'walk']}, n_boot=50,
                              sources=['zero', 'dis'])
    assert [r['row'] for r in blk['rows']] == list(FLOW_BLOCK['rows'])
    by_row = {r['row']: r for r in blk['rows']}
    assert by_row[SOURCES['dis']]['seeds'] == 2 and by_row[SOURCES['farneback']]['seeds'] == 0
    assert by_row[SOURCES['dis']]['flow_source'] == 'dis'
    assert 0.3 < by_row[SOURCES['dis']]['epe_in_boxes'] < 0.7   # flow_quality.json
    claims = {c['claim']: c for c in blk['claims']}
    first = claims['flow input helps the motion classes (DIS > zero flow, motion)']
    assert first['verdict'] == 'reproduced' and first['ci95'][0] > 0
    for c in blk['claims']:
        if c['verdict'] == 'not run':
            assert c['reason'] and '--flow-sources zero dis' in c['experiment']
    # the in-box motion group (spin, jump, wave present in the data: spin) is its
    # own column, and 'others' counts each class once
    assert by_row[SOURCES['dis']]['in_box_motion'] == by_row[SOURCES['dis']]['class_ap']['spin']
    ap = by_row[SOURCES['dis']]['class_ap']
    assert ap['spin'] != pytest.approx(ap['walk'])
    assert by_row[SOURCES['dis']]['others'] == pytest.approx(np.mean(list(
        by_row[SOURCES['dis']]['class_ap'].values())))
    tv = next(c for c in blk['claims'] if 'TV-L1' in c['claim'])
    assert tv['verdict'] == 'not run' and 'tvl1' in tv['experiment']
    assert SOURCES['tvl1'] in blk['not_run'] and SOURCES['dis'] not in blk['not_run']
    # a cache shared with another block (the suite keeps one for its summary):
    # the same block, and a second evaluation resamples nothing again
    shared = {}
    first = evaluate_flow_block(runs, names, {'motion': ['spin', 'walk']}, n_boot=50,
                                sources=['zero', 'dis'], cache=shared)
    filled = len(shared)
    again = evaluate_flow_block(runs, names, {'motion': ['spin', 'walk']}, n_boot=50,
                                sources=['zero', 'dis'], cache=shared)
    assert first == again == blk and filled == len(shared) == 5  # 5 distinct runs


def test_gt_row_pipeline_feeds_the_renderers_flow_of_the_clip(tmp_path):
    """The gt row's train pipeline, built by the dataset on a tiny v2 dataset with
    its flow pass: the packed input_flow is the composed GT flow of the clip's
    two pairs, and a dataset without the flow pass fails with the missing file."""
    import numpy as np
    from mmaction.registry import DATASETS
    from mmengine.registry import init_default_scope
    from suite_v2 import _meta, plan
    from v2_flow import flow_row_config

    from stadl_plugins.datasets.synthetic import (
        SyntheticV2Config,
        VideoConfigV2,
        generate_synthetic_v2,
        write_flow_v2,
    )
    from stadl_plugins.datasets.transforms import compose_flows
    from stadl_plugins.structures import FlowFile
    init_default_scope('mmaction')
    root = str(tmp_path / 'data')
    cfg = SyntheticV2Config(num_train=2, num_val=1,
                            video=VideoConfigV2(min_seconds=10, max_seconds=10))
    generate_synthetic_v2(root, cfg, workers=1, progress=False)
    p = plan(tiny=False, scale=0.25)
    rc = flow_row_config(root, _meta(root), 'pretrain.pth', str(tmp_path / 'w'), p, 0, 'gt')
    test = dict(rc.test_dataloader.dataset)
    ds = DATASETS.build(test)
    with pytest.raises(FileNotFoundError, match='no ground-truth flow'):
        ds[0]
    write_flow_v2(root, cfg, workers=1, progress=False)
    item = ds[0]
    flow = item['data_samples'].input_flow if hasattr(item['data_samples'], 'input_flow') \
        else item['input_flow']
    info = ds.get_data_info(0)
    # SampleAVAFrames (test mode): 4 frames at interval 2 around
    # fps * (timestamp - timestamp_start) + start_index, plus start_index again
    # (MMAction2 adds it twice) as 1-based file numbers img_{i:05d}; the flow
    # file is 0-based (flow t: img_{t+1} -> img_{t+2}); pairs (1, 2), (2, 3)
    si = info['start_index']
    files = (info['fps'] * (info['timestamp'] - info['timestamp_start']) + 2 * si
             + np.array([-4, -2, 0, 2]))
    frames = files - 1
    with FlowFile(f"{root}/flow/{info['video_id']}.npz") as f:
        want = np.stack([compose_flows(f, frames[1], frames[2]),
                         compose_flows(f, frames[2], frames[3])])
    np.testing.assert_allclose(np.asarray(flow).transpose(0, 2, 3, 1), want, atol=1e-6)


def test_a_claim_that_did_not_reproduce_carries_its_reason_and_experiment():
    from v2_flow import FLOW_BLOCK, NOT_REPRODUCED, attach_reasons
    texts = [c[0] for c in FLOW_BLOCK['claims']]
    assert set(NOT_REPRODUCED) <= set(texts)
    text = next(iter(NOT_REPRODUCED))
    blk = attach_reasons(dict(claims=[dict(claim=text, verdict='not reproduced'),
                                      dict(claim=text, verdict='reproduced'),
                                      dict(claim=texts[0], verdict='not reproduced')]))
    bad, good, other = blk['claims']
    assert bad['reason'] and 'ground-truth flow at 0.4 s' in bad['experiment']
    assert 'reason' not in good and 'reason' not in other
