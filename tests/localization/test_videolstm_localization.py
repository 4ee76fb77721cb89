"""Attention -> saliency -> box (threshold + 8-connected components) -> linked,
smoothed tube, on hand-made maps with known boxes."""
import numpy as np
import pytest
import torch

from stadl_plugins.localization.attention import (
    attention_to_saliency,
    attention_tube,
    link_boxes,
    saliency_to_boxes,
    smooth_boxes,
)


def test_known_box_from_a_hand_made_saliency_map():
    sal = np.zeros((40, 60))
    sal[10:20, 30:45] = 200          # the action: rows 10..19, cols 30..44
    sal[30:33, 5:8] = 90             # below threshold: ignored
    boxes, mass = saliency_to_boxes(sal, threshold=100)
    np.testing.assert_array_equal(boxes, [[30, 10, 45, 20]])
    assert mass[0] == pytest.approx(200 * 150)


def test_components_are_eight_connected():
    sal = np.zeros((10, 10))
    sal[2, 2] = sal[3, 3] = 255      # diagonal neighbours: one component
    sal[7, 7] = 255
    boxes, _ = saliency_to_boxes(sal)
    assert sorted(boxes.tolist()) == [[2, 2, 4, 4], [7, 7, 8, 8]]


def test_attention_map_upsampled_and_thresholded_gives_the_box():
    att = torch.full((1, 8, 8), 1e-4)
    att[0, 2:4, 4:6] = 1.0           # cells (2..3, 4..5) at stride 10 in an 80x80 frame
    att = att / att.sum()
    sal = attention_to_saliency(att, (80, 80), sigma=0)
    assert sal.shape == (1, 80, 80) and sal.max() == pytest.approx(255)
    (box,), _ = saliency_to_boxes(sal[0], threshold=100)
    np.testing.assert_allclose(box, [40, 20, 60, 40], atol=5)


def test_linking_follows_the_previous_box_and_smoothing_keeps_lines():
    frames = [np.array([[0, 0, 10, 10], [50, 50, 60, 60.]]),
              np.array([[52, 51, 62, 61], [1, 0, 11, 10.]]),
              np.zeros((0, 4)),
              np.array([[3, 1, 13, 11.]])]
    linked = link_boxes(frames, [np.array([1.0, 5.0]), None, None, None])
    np.testing.assert_array_equal(linked[1], [52, 51, 62, 61])   # follows the mass
    np.testing.assert_array_equal(linked[2], linked[1])          # gap: keep
    line = np.stack([np.arange(12) * 2.0, np.arange(12), np.arange(12) + 5,
                     np.arange(12) * 3.0], 1)
    np.testing.assert_allclose(smooth_boxes(line), line, atol=1e-9)
    noisy = line.copy()
    noisy[6] += 10
    assert np.abs(smooth_boxes(noisy)[6] - line[6]).max() < 10
    with pytest.raises(ValueError, match='no frame'):
        link_boxes([np.zeros((0, 4))])


def test_attention_tube_on_a_moving_blob():
    T = 6
    att = torch.full((T, 8, 8), 1e-3)
    for t in range(T):
        att[t, 3:5, t // 2 + 1:t // 2 + 3] = 1.0
    scores = torch.tensor([[0.2, 0.8]]).repeat(T, 1)
    tube = attention_tube(att, (64, 64), scores, sigma=2, span=5)
    assert tube['boxes'].shape == (T, 4)
    np.testing.assert_allclose(tube['scores'], [0.2, 0.8])
    centres = (tube['boxes'][:, 0] + tube['boxes'][:, 2]) / 2
    assert centres[-1] > centres[0]                       # follows the motion
    assert np.all((tube['boxes'][:, 1] > 16) & (tube['boxes'][:, 3] < 48))
