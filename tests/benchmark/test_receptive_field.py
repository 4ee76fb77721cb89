"""Measured receptive fields against the textbook recursion r_out = r_in + (k - 1) * j."""
import pytest
import torch.nn as nn

from stadl_plugins.benchmark.receptive_field import receptive_field


def analytic(layers):
    """(kernel, stride) list -> receptive field in input pixels."""
    r, j = 1, 1
    for k, s in layers:
        r, j = r + (k - 1) * j, j * s
    return r


@pytest.mark.parametrize('layers', [
    [(3, 1)], [(3, 1), (3, 1)], [(3, 2), (3, 1)], [(7, 2), (3, 2), (3, 1), (3, 1)],
    [(5, 2), (3, 2), (3, 2), (3, 1)]])
def test_conv_stack_matches_the_recursion(layers):
    from stadl_plugins.benchmark.receptive_field import positive_weights
    mods = []
    for k, s in layers:
        mods += [nn.Conv2d(2, 2, k, s, k // 2), nn.BatchNorm2d(2), nn.ReLU()]
    net = positive_weights(nn.Sequential(*mods))
    rf = receptive_field(net, (1, 2, 128, 128))
    assert rf['height'] == rf['width'] == analytic(layers)


def test_max_pool_counts_its_whole_window():
    from stadl_plugins.benchmark.receptive_field import positive_weights
    net = positive_weights(nn.Sequential(nn.Conv2d(1, 1, 7, 2, 3), nn.ReLU(),
                                         nn.MaxPool2d(3, 2, 1)))
    assert receptive_field(net, (1, 1, 96, 96))['height'] == analytic([(7, 2), (3, 2)])


@pytest.mark.slow
def test_tiny_backbone_stages_match_the_resnet18_recursion():
    from stadl_plugins.benchmark.receptive_field import tiny_backbone_receptive_fields
    # conv1 7x7/2, max-pool 3x3/2, then 2 basic blocks (2 convs 3x3) per stage;
    # the first conv of stage 2 has stride 2 (spatial_strides=(1, 2, 1, 1))
    layers = [(7, 2), (3, 2)]
    want = {}
    for stage, stride in zip(range(1, 5), (1, 2, 1, 1)):
        layers += [(3, stride)] + [(3, 1)] * 3
        want[f'stage{stage}'] = analytic(layers)
    got = tiny_backbone_receptive_fields(height=120, width=160)
    assert {k: v['rf_pixels'][0] for k, v in got.items()} == want
    assert want['stage4'] == 227 and got['stage4']['stride'] == 8
    assert got['stage4']['rf_in_frame'] == [120, 160]   # covers the whole frame
