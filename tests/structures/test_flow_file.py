"""The flow file of a synthetic video: both layouts read back the same flows."""
import numpy as np
import pytest

from stadl_plugins.datasets.transforms import compose_flows
from stadl_plugins.structures import FlowFile, save_flows


def _flows(n=5, h=6, w=8):
    rng = np.random.default_rng(0)
    return (rng.standard_normal((n, h, w, 2)) * 3).astype(np.float32)


@pytest.mark.parametrize('layout', ['stacked', 'frames'])
def test_both_layouts_read_back_the_float16_flows(tmp_path, layout):
    flows = _flows()
    path = str(tmp_path / f'{layout}.npz')
    assert save_flows(path, flows, layout) == 5
    with FlowFile(path) as f:
        assert f.layout == layout and f.shape == (5, 6, 8, 2) and len(f) == 5
        for t in range(5):
            assert f[t].dtype == np.float16
            np.testing.assert_array_equal(f[t], flows[t].astype(np.float16))
        with pytest.raises(IndexError, match='out of range 0..4'):
            f[5]
        # compose_flows indexes a FlowFile as it does the array
        np.testing.assert_array_equal(compose_flows(f, 1, 4),
                                      compose_flows(flows.astype(np.float16), 1, 4))


def test_frames_layout_stores_one_member_per_frame(tmp_path):
    path = str(tmp_path / 'f.npz')
    save_flows(path, _flows(3), 'frames')
    with np.load(path) as npz:
        assert sorted(npz.files) == ['flow_00000', 'flow_00001', 'flow_00002']


def test_bad_files_and_arguments_raise(tmp_path):
    with pytest.raises(ValueError, match="layout must be one of"):
        save_flows(str(tmp_path / 'x.npz'), _flows(), 'tiled')
    with pytest.raises(ValueError, match=r'expected \(H, W, 2\)'):
        save_flows(str(tmp_path / 'x.npz'), [np.zeros((4, 4, 2)), np.zeros((4, 5, 2))])
    np.savez(str(tmp_path / 'other.npz'), image=np.zeros((2, 2)))
    with pytest.raises(ValueError, match='not a flow file'):
        FlowFile(str(tmp_path / 'other.npz'))
    np.savez(str(tmp_path / 'gap.npz'), flow_00000=np.zeros((2, 2, 2)),
             flow_00002=np.zeros((2, 2, 2)))
    with pytest.raises(ValueError, match='not a flow file'):
        FlowFile(str(tmp_path / 'gap.npz'))
    np.savez(str(tmp_path / 'shape.npz'), flow=np.zeros((3, 4, 4, 3)))
    with pytest.raises(ValueError, match=r'\(T-1, H, W, 2\)'):
        FlowFile(str(tmp_path / 'shape.npz'))
