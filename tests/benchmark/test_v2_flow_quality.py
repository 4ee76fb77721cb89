"""benchmarks/v2_flow_quality.py on a tiny generated v2 set: EPE rows, and the
per-class own motion / EPE table that explains which classes a flow can help."""
import os.path as osp
import sys

import numpy as np
import pytest
from helpers import REPO

sys.path.insert(0, osp.join(REPO, 'benchmarks'))


@pytest.fixture(scope='module')
def tiny_v2_root(tmp_path_factory):
    from stadl_plugins.datasets.synthetic import (
        SyntheticV2Config,
        VideoConfigV2,
        generate_synthetic_v2,
    )
    root = str(tmp_path_factory.mktemp('v2_flow_quality'))
    cfg = SyntheticV2Config(seed=0, num_train=1, num_val=2,
                            video=VideoConfigV2(min_seconds=10, max_seconds=12))
    generate_synthetic_v2(root, cfg, workers=1, progress=False)
    return root


def test_per_class_own_motion_and_epe(tiny_v2_root):
    from v2_flow_quality import measure, to_markdown
    res = measure(tiny_v2_root, num_videos=2, pairs=4, n_boot=50, progress=False,
                  methods=('DIS (medium)',))
    rows = {r['method']: r for r in res['rows']}
    assert set(rows) == {'zero flow', 'camera pan only (oracle)', 'DIS (medium)'}
    # a real flow is closer to the rendered GT than no flow, under a camera pan
    assert rows['DIS (medium)']['epe'] < rows['zero flow']['epe']
    pc = res['per_class']
    assert pc and sum(c['boxes'] for c in pc) > 0
    for c in pc:
        # the oracle flow is the pan itself, so its error in a box is exactly the
        # actor's own motion there: two separately computed numbers
        assert c['own_motion'] == pytest.approx(c['epe']['camera pan only (oracle)'],
                                                rel=1e-9, abs=1e-9)
        assert set(c['own_over_epe']) == {'DIS (medium)'}
        assert np.isfinite(c['own_over_epe']['DIS (medium)'])
    assert '| class | boxes | own motion (px) |' in to_markdown(res)
    with pytest.raises(ValueError, match='unknown flow methods'):
        measure(tiny_v2_root, num_videos=1, pairs=1, methods=('RAFT',), progress=False)


def test_wider_gap_composes_the_gt_and_moves_the_actors_further(tiny_v2_root):
    """--gap 4: the GT of a pair 4 frames apart is the chained per-frame flow, so
    DIS still beats zero flow against it, and the pan moves everything about
    four times as far (zero-flow EPE over the frame)."""
    from v2_flow_quality import measure, to_markdown
    one = measure(tiny_v2_root, num_videos=2, pairs=4, n_boot=50, progress=False,
                  methods=('DIS (medium)',))
    four = measure(tiny_v2_root, num_videos=2, pairs=4, n_boot=50, progress=False,
                   methods=('DIS (medium)',), gap=4)
    r1, r4 = ({r['method']: r for r in x['rows']} for x in (one, four))
    assert four['gap_frames'] == 4 and four['gap_seconds'] == pytest.approx(0.4)
    assert 2.5 < r4['zero flow']['epe'] / r1['zero flow']['epe'] < 5.5
    assert r4['DIS (medium)']['epe'] < r4['zero flow']['epe']
    assert 'frames 4 apart (0.4 s)' in to_markdown(four)
    with pytest.raises(ValueError, match='gap must be >= 1'):
        measure(tiny_v2_root, num_videos=1, pairs=1, gap=0, progress=False)
