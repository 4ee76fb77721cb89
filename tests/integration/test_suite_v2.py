"""``python benchmarks/run.py --suite v2 --tiny``: every stage, summary shape, resume."""
import json
import os.path as osp
import sys

import pytest
from helpers import REPO


@pytest.fixture(scope='module')
def run_main():
    sys.path.insert(0, osp.join(REPO, 'benchmarks'))
    import run
    return run.main


def test_claim_verdicts_follow_the_interval():
    sys.path.insert(0, osp.join(REPO, 'benchmarks'))
    from v2_blocks import NO_LOSS_MARGIN, claim_verdict
    assert claim_verdict('better', 0.01, 0.05) == 'reproduced'
    assert claim_verdict('better', -0.01, 0.05) == 'n.s.'
    assert claim_verdict('better', -0.05, -0.01) == 'not reproduced'
    assert claim_verdict('no_loss', -NO_LOSS_MARGIN / 2, 0.01) == 'reproduced'
    assert claim_verdict('no_loss', -NO_LOSS_MARGIN * 2, 0.01) == 'n.s.'
    assert claim_verdict('no_loss', -0.05, -0.01) == 'not reproduced'
    with pytest.raises(ValueError, match='unknown claim kind'):
        claim_verdict('worse', 0, 1)


def test_data_seeds_must_start_with_the_training_seed(tmp_path):
    sys.path.insert(0, osp.join(REPO, 'benchmarks'))
    from suite_v2 import run_suite
    for bad in ([], [1], [2, 0]):
        with pytest.raises(ValueError, match='data_seeds must start with 0'):
            run_suite(str(tmp_path), tiny=True, data_seeds=bad, progress=False)


def test_cross_fitted_blocks_need_a_second_data_seed(tmp_path):
    sys.path.insert(0, osp.join(REPO, 'benchmarks'))
    from suite_v2 import plan, run_suite, stage_list
    with pytest.raises(ValueError, match='--data-seeds 0 1'):
        run_suite(str(tmp_path), tiny=True, data_seeds=[0], blocks=['reclnet'],
                  progress=False)
    p = plan(tiny=False, scale=0.25)
    kinds = [k for k, _ in stage_list(p, [], ['reclnet'])]
    assert kinds.index('reclnet_features') + 1 == kinds.index('reclnet')
    p['data_seeds'] = [0]
    assert 'reclnet' not in [k for k, _ in stage_list(p, [], ['reclnet'])]


def test_stages_are_seed_major_so_a_budget_cuts_whole_seeds():
    sys.path.insert(0, osp.join(REPO, 'benchmarks'))
    from suite_v2 import plan, stage_list
    p = plan(tiny=False, scale=0.25)
    rows = [('atr', 'stock'), ('atr', 'ATR')]
    st = stage_list(p, rows)
    kinds = [k for k, _ in st]
    assert kinds[:8] == ['data'] * 3 + ['pretrain', 'cache'] + ['random'] * 3
    trained = [(k, a) for k, a in st if k in ('stock', 'head')]
    seed_of = [a[1] if k == 'stock' else a[2] for k, a in trained]
    # seeds 0, 0, 0, 1, 1, 1, 2, 2, 2, then the data-seed replicates (training seed 0)
    assert seed_of == [0] * 3 + [1] * 3 + [2] * 3 + [0, 0]
    assert [a[0] for k, a in trained[-2:]] == [1, 2]
    assert st.index(('cache_train', 0)) < st.index(('head', ('atr', 'stock', 0)))
    assert 'cache_train' not in [k for k, _ in stage_list(p, [])]


def test_rows_that_change_the_backbone_get_their_own_feature_cache():
    sys.path.insert(0, osp.join(REPO, 'benchmarks'))
    from suite_v2 import cache_root_for
    from v2_blocks import BLOCKS
    default = osp.join('w', 'cache')
    assert cache_root_for('w', {}) == default
    # head-only overrides read the shared cache
    assert cache_root_for('w', BLOCKS['atr']['rows']['ATR']) == default
    stage2 = {cache_root_for('w', ov) for ov in BLOCKS['atr_stage2']['rows'].values()}
    assert len(stage2) == 1 and default not in stage2   # one cache for the block
    other = cache_root_for('w', {'model.backbone.out_indices': (2,)})
    assert other not in stage2 | {default}


def test_variant_cache_rebuilds_a_stale_split_on_the_suite_device(monkeypatch):
    # reuse and the stale check live in build_feature_cache (tested in
    # test_v2_pretrain_cache.py); the suite must pass its device and rebuild,
    # not refuse, a split whose manifest no longer matches
    sys.path.insert(0, osp.join(REPO, 'benchmarks'))
    import suite_v2

    from stadl_plugins.benchmark import feature_cache
    from stadl_plugins.benchmark.manifest import StaleCacheError
    calls = []

    def build(cfg, ckpt, d, split, limit=None, device='cpu', progress=True,
              rebuild=False):
        calls.append((osp.basename(d), device, rebuild))
        if split == 'val' and not rebuild:
            raise StaleCacheError('checkpoint_sha256 changed')

    monkeypatch.setattr(feature_cache, 'build_feature_cache', build)
    suite_v2._ensure_variant_cache(None, 'ckpt', 'root', dict(cache_limit=None), False,
                                   'cuda')
    assert calls == [('train', 'cuda', False), ('val', 'cuda', False),
                     ('val', 'cuda', True)]


@pytest.mark.slow
def test_tiny_suite_writes_the_summary_shape_and_resumes(run_main, tmp_path):
    out = tmp_path / 'results'
    run_main(['--suite', 'v2', '--tiny', '--out', str(out)])
    path = out / 'v2' / 'summary.json'
    with open(path) as f:
        s = json.load(f)
    assert set(s) >= {'sanity', 'blocks'}
    san = s['sanity']
    assert isinstance(san['stock_frame_map'], float)
    assert isinstance(san['random_frame_map'], float)
    assert isinstance(san['val_map_std_over_data_seeds'], float)
    from stadl_plugins.datasets.synthetic import V2_CLASSES
    assert set(san['stock_class_ap']) == {n for _, n, _ in V2_CLASSES}
    assert san['stock_seeds'] == 3
    # the pretraining task's own held-out check, per movement (the gate that a
    # top-1 at the majority share hides)
    from stadl_plugins.datasets.synthetic import MOVEMENTS
    held = san['pretrain_heldout']
    assert [c['name'] for c in held['classes']] == list(MOVEMENTS) and held['num_clips'] > 0
    assert 0 <= held['mean_class_acc'] <= 1
    assert 'mean per-class accuracy' in (out / 'v2' / 'report.md').read_text()
    for block in s['blocks'].values():
        assert 'rows' in block and block['claims']
        for c in block['claims']:
            assert set(c) >= {'claim', 'effect', 'ci95', 'verdict'}
            if c['verdict'] == 'not run':  # only with the reason and the experiment
                assert c['reason'] and c['experiment'] and c['effect'] is None
                continue
            assert c['verdict'] in ('reproduced', 'not reproduced', 'n.s.')
            assert len(c['ci95']) == 2 and c['ci95'][0] <= c['ci95'][1]
    # the RecLNet block (cross-fitted: data seed 0's detector on data seed 1's
    # person tracks): every row with the three training seeds (the detector's own
    # scores are one deterministic run), every claim
    import v2_reclnet
    rec = s['blocks']['reclnet']
    assert [r['row'] for r in rec['rows']] == [v2_reclnet.row_key(n, m)
                                               for n, _, m in v2_reclnet.ROWS]
    assert [r['seeds'] for r in rec['rows']] == [1 if k == 'det' else 3
                                                 for _, k, _ in v2_reclnet.ROWS]
    assert all(0 <= r['v_map@0.3'] <= 1 for r in rec['rows'])
    assert [c['claim'] for c in rec['claims']] == (
        [c[0] for c in v2_reclnet.CLAIMS] + [c['claim'] for c in v2_reclnet.NOT_RUN])
    from stadl_plugins.datasets.synthetic import SHORT_ACTIONS
    assert rec['setup']['classes'] == list(SHORT_ACTIONS)
    # the flow block: the tiny plan's sources (zero, DIS) trained end to end on
    # every training seed, the stock row shared with the stock stages, the rest
    # listed as not run with why
    import v2_flow
    flow = s['blocks']['flow']
    seeds = {r['row']: r['seeds'] for r in flow['rows']}
    assert seeds == {row: (3 if src in (None, 'zero', 'dis') else 0)
                     for row, src in v2_flow.ROWS.items()}
    assert set(flow['not_run']) >= {v2_flow.SOURCES['tvl1'], v2_flow.SOURCES['farneback']}
    assert [c['claim'] for c in flow['claims']] == [c[0] for c in v2_flow.FLOW_BLOCK['claims']]
    ran = [c for c in flow['claims'] if c['verdict'] != 'not run']
    assert ran and all(set(c['rows']) <= {v2_flow.STOCK_ROW, v2_flow.SOURCES['zero'],
                                          v2_flow.SOURCES['dis']} for c in ran)
    assert 'segment mAP' in (out / 'v2' / 'report.md').read_text()
    # the cached-feature ablation blocks (issue 20): every row, every seed, each claim
    from v2_blocks import BLOCKS
    for name, spec in BLOCKS.items():
        block = s['blocks'][name]
        assert [r['row'] for r in block['rows']] == list(spec['rows'])
        assert all(r['seeds'] == 3 and 0 <= r['mAP'] <= 1 for r in block['rows'])
        assert [c['claim'] for c in block['claims']] == [c[0] for c in spec['claims']]
    # the stage-2 block trained on its own cache: 16-channel stage-2 features on
    # the same 15 x 20 grid (stride 8) as the shared 64-channel stage-4 cache
    import numpy as np
    from suite_v2 import cache_root_for
    work = str(out / 'v2' / 'work')
    root2 = cache_root_for(work, BLOCKS['atr_stage2']['rows']['stock, stage-2 feature'])
    f2 = np.load(osp.join(root2, 'val', 'features.npy'), mmap_mode='r')
    f4 = np.load(osp.join(work, 'cache', 'val', 'features.npy'), mmap_mode='r')
    assert f2.shape[1] == 16 and f4.shape[1] == 64 and f2.shape[3:] == f4.shape[3:]
    # end-to-end stock against the frozen-backbone stock head: same data seed,
    # the three training seeds of each, one claim overall and one per group
    ft = s['blocks']['finetuned_vs_frozen']
    assert [r['seeds'] for r in ft['rows']] == [3, 3]
    assert ft['rows'][0]['mAP'] == pytest.approx(san['stock_frame_map'])
    frozen_stock = next(r for r in s['blocks']['atr']['rows'] if r['row'] == 'stock')
    assert ft['rows'][1]['mAP'] == pytest.approx(frozen_stock['mAP'])
    from stadl_plugins.datasets.synthetic import V2_GROUPS
    assert [c['claim'] for c in ft['claims']] == [
        f'fine-tuning the backbone helps ({g})' for g in ['mAP', *V2_GROUPS]]
    assert s['meta']['complete'] and (out / 'v2' / 'report.md').is_file()
    state = json.loads((out / 'v2' / 'state.json').read_text())
    # resume: nothing is trained again
    run_main(['--suite', 'v2', '--tiny', '--out', str(out)])
    s2 = json.loads(path.read_text())
    assert json.loads((out / 'v2' / 'state.json').read_text()) == state
    assert s2['sanity'] == s['sanity']
    assert s2['meta']['stage_seconds'].get('stock[(0, 0)]') is None
    # the head-budget probe (issue 19) reuses the suite's stock-head detections for
    # the suite's own iteration count and trains only the other one
    import v2_head_budget
    hb = v2_head_budget.main(['--out', str(out), '--tiny', '--iters', '2', '3'])
    assert sorted(hb['seconds']) == ['3|0', '3|1', '3|2']
    g = hb['comparisons'][0]['groups']
    assert g['mAP']['reference'] == pytest.approx(frozen_stock['mAP'])
    assert set(g) == {'mAP', *V2_GROUPS}
    assert (out / 'v2' / 'head_budget.json').is_file()
    # past its budget, a resumed run lists only the stages no run has recorded
    run_main(['--suite', 'v2', '--tiny', '--out', str(out), '--time-budget', '0'])
    s_done = json.loads(path.read_text())
    assert s_done['meta']['skipped'] == [] and s_done['meta']['complete']
    assert s_done['sanity'] == s['sanity']
    # a zero time budget starts nothing and says so
    run_main(['--suite', 'v2', '--tiny', '--out', str(tmp_path / 'empty'),
              '--time-budget', '0'])
    s3 = json.loads((tmp_path / 'empty' / 'v2' / 'summary.json').read_text())
    assert not s3['meta']['complete'] and s3['meta']['skipped']
    assert s3['sanity'] == {} and s3['blocks'] == {}
