"""Correlation (cost volume) and backward warping against naive references."""
import pytest
import torch

from stadl_plugins.models.flow.correlation import Correlation, correlation, correlation_shift_loop
from stadl_plugins.models.flow.warp import flow_warp


def naive_cost(f1, f2, d, normalize):
    """Per-pixel, per-displacement dot products, written out."""
    B, C, H, W = f1.shape
    K = 2 * d + 1
    out = torch.zeros(B, K * K, H, W, dtype=f1.dtype)
    for b in range(B):
        for y in range(H):
            for x in range(W):
                for dy in range(-d, d + 1):
                    for dx in range(-d, d + 1):
                        yy, xx = y + dy, x + dx
                        if 0 <= yy < H and 0 <= xx < W:
                            v = (f1[b, :, y, x] * f2[b, :, yy, xx]).sum()
                            if normalize == 'mean':
                                v = v / C
                            out[b, (dy + d) * K + (dx + d), y, x] = v
    return out


@pytest.mark.parametrize('normalize', ['mean', 'sum'])
@pytest.mark.parametrize('shape,d,tile', [((2, 5, 6, 7), 2, 4), ((1, 3, 4, 19), 3, 16),
                                          ((1, 4, 5, 5), 4, 1)])
def test_correlation_matches_naive_loop(normalize, shape, d, tile):
    torch.manual_seed(0)
    f1, f2 = torch.randn(shape), torch.randn(shape)
    ref = naive_cost(f1, f2, d, normalize)
    out = correlation(f1, f2, d, normalize, tile_width=tile)
    assert out.shape == (shape[0], (2 * d + 1) ** 2) + shape[2:]
    torch.testing.assert_close(out, ref, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(correlation_shift_loop(f1, f2, d, normalize), ref,
                               atol=1e-5, rtol=1e-5)


def test_channel_order_is_dy_major_dx_minor():
    # f2 is f1 shifted by (dy, dx) = (1, -2): f2[y, x] = f1[y - 1, x + 2]
    # -> the cost peaks where f2[y + dy, x + dx] = f1[y, x], i.e. dy = 1, dx = -2
    torch.manual_seed(1)
    f1 = torch.randn(1, 256, 12, 12)
    f2 = torch.zeros_like(f1)
    f2[:, :, 1:, :-2] = f1[:, :, :-1, 2:]
    cost = correlation(f1, f2, 4)
    centre = cost[0, :, 5, 6]
    k = (1 + 4) * 9 + (-2 + 4)
    assert int(centre.argmax()) == k
    torch.testing.assert_close(centre[k], f1[0, :, 5, 6].pow(2).mean())


def test_default_is_81_channels_and_mean_is_sum_over_c():
    f1, f2 = torch.randn(1, 8, 6, 6), torch.randn(1, 8, 6, 6)
    m = Correlation()(f1, f2)
    assert m.shape == (1, 81, 6, 6)
    torch.testing.assert_close(Correlation(normalize='sum')(f1, f2), 8 * m)


@pytest.mark.parametrize('tile', [2, 5])
def test_correlation_gradcheck_float64(tile):
    torch.manual_seed(2)
    f1 = torch.randn(2, 3, 3, 6, dtype=torch.float64, requires_grad=True)
    f2 = torch.randn(2, 3, 3, 6, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(
        lambda a, b: correlation(a, b, 2, 'mean', tile_width=tile), (f1, f2),
        fast_mode=True)


def test_correlation_double_backward_raises_a_clear_error():
    """The hand-written backward is differentiable once: a second derivative fails
    loudly -- not with an obscure in-place error, and not as a silent zero/None
    (what plain once_differentiable gives for the derivative w.r.t. the inputs) --
    while first-order gradients under create_graph=True stay correct."""
    torch.manual_seed(4)
    f1 = torch.randn(1, 4, 5, 6, dtype=torch.float64, requires_grad=True)
    f2 = torch.randn(1, 4, 5, 6, dtype=torch.float64, requires_grad=True)
    msg = 'double backward is not supported'
    for loss in (lambda c: c.pow(2).sum(), lambda c: c.sum()):   # grad_out (not) constant
        g1, g2 = torch.autograd.grad(loss(correlation(f1, f2, 2)), (f1, f2),
                                     create_graph=True)
        ref = torch.autograd.grad(loss(correlation_shift_loop(f1, f2, 2)), (f1, f2))
        torch.testing.assert_close(g1, ref[0])
        torch.testing.assert_close(g2, ref[1])
        assert g1.requires_grad and g2.requires_grad
        with pytest.raises(RuntimeError, match=msg):
            (g1.pow(2).sum() + g2.sum()).backward()
        with pytest.raises(RuntimeError, match=msg):
            torch.autograd.grad(g1.sum(), f2, allow_unused=True)
    with pytest.raises(RuntimeError, match=msg):
        torch.autograd.gradgradcheck(lambda a, b: correlation(a, b, 1), (f1, f2))
    # only one input needing a gradient still works to first order
    f3 = f2.detach()
    (g,) = torch.autograd.grad(correlation(f1, f3, 2).sum(), f1, create_graph=True)
    torch.testing.assert_close(g, torch.autograd.grad(
        correlation_shift_loop(f1, f3, 2).sum(), f1)[0])
    # the shift loop is the documented way to get second derivatives
    assert torch.autograd.gradgradcheck(lambda a, b: correlation_shift_loop(a, b, 1),
                                        (f1, f2))


def test_correlation_grads_equal_autograd_of_naive_loop():
    torch.manual_seed(3)
    f1 = torch.randn(2, 6, 9, 13, requires_grad=True)
    f2 = torch.randn(2, 6, 9, 13, requires_grad=True)
    w = torch.randn(2, 81, 9, 13)
    g_ours = torch.autograd.grad((correlation(f1, f2) * w).sum(), (f1, f2))
    g_ref = torch.autograd.grad((correlation_shift_loop(f1, f2) * w).sum(), (f1, f2))
    for a, b in zip(g_ours, g_ref):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-4)
    # only one input needing a gradient works too
    f2d = f2.detach()
    g1 = torch.autograd.grad((correlation(f1, f2d) * w).sum(), f1)[0]
    torch.testing.assert_close(g1, g_ref[0], atol=1e-5, rtol=1e-4)


def test_correlation_bad_input_errors():
    with pytest.raises(ValueError, match='equal shape'):
        correlation(torch.randn(1, 2, 3, 3), torch.randn(1, 2, 3, 4))
    with pytest.raises(ValueError, match='normalize'):
        correlation(torch.randn(1, 2, 3, 3), torch.randn(1, 2, 3, 3), normalize='max')
    with pytest.raises(ValueError, match=r'\(B, C, H, W\)'):
        correlation(torch.randn(2, 3, 3), torch.randn(2, 3, 3))


@pytest.mark.parametrize('align_corners', [True, False])
def test_warp_integer_shift_and_mask(align_corners):
    torch.manual_seed(4)
    img = torch.randn(2, 3, 7, 9)
    flow = torch.zeros(2, 2, 7, 9)
    flow[:, 0] = 2.0    # u: read 2 pixels to the right
    flow[:, 1] = -1.0   # v: read 1 pixel up
    out, mask = flow_warp(img, flow, align_corners=align_corners, return_mask=True)
    expect = torch.zeros_like(img)
    expect[:, :, 1:, :-2] = img[:, :, :-1, 2:]
    torch.testing.assert_close(out, expect, atol=1e-5, rtol=1e-5)
    m = torch.zeros(2, 1, 7, 9)
    m[:, :, 1:, :-2] = 1
    assert torch.equal(mask, m)


def test_warp_subpixel_is_bilinear_and_zero_flow_is_identity():
    img = torch.arange(20.).reshape(1, 1, 4, 5)
    torch.testing.assert_close(flow_warp(img, torch.zeros(1, 2, 4, 5)), img)
    flow = torch.zeros(1, 2, 4, 5)
    flow[:, 0] = 0.25
    out = flow_warp(img, flow)
    # linear ramp along x: value + 0.25 except the last column (leaves the image)
    torch.testing.assert_close(out[..., :-1], img[..., :-1] + 0.25)
    assert torch.all(out[..., -1] == 0)
    flow.requires_grad_(True)
    flow_warp(img, flow).sum().backward()
    assert flow.grad[:, 0, :, :-1].abs().sum() > 0


def test_warp_shape_errors():
    with pytest.raises(ValueError, match='flow'):
        flow_warp(torch.randn(1, 3, 4, 4), torch.randn(1, 3, 4, 4))
