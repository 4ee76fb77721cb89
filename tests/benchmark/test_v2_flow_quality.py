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
