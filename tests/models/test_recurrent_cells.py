"""ConvLSTM cells against step-by-step references written from the papers' equations
(separate per-gate weights sliced out of the fused convolutions), gradients and
initial-state use."""
import pytest
import torch
import torch.nn.functional as F

from stadl_plugins.models.recurrent import (
    ConvALSTMCell,
    ConvLSTMCell,
    PeepholeConvLSTMCell,
    spatial_softmax,
    unroll,
)

GATES = ('i', 'f', 'c', 'o')  # fused order [i, f, g(=c candidate), o]


def split_weights(cell):
    """Per-gate W_x*, U_h*, b_* from the fused convs, as the equations name them."""
    hc = cell.hidden_channels
    w = {}
    for k, name in enumerate(GATES):
        sl = slice(k * hc, (k + 1) * hc)
        w['W_x' + name] = cell.input_conv.weight[sl].detach().clone()
        w['U_h' + name] = cell.hidden_conv.weight[sl].detach().clone()
        w['b_' + name] = cell.input_conv.bias[sl].detach().clone()
    return w


def conv(x, weight, bias=None):
    return F.conv2d(x, weight, bias, padding=weight.shape[-1] // 2)


def randomize(cell, std=0.3):
    torch.manual_seed(1)
    with torch.no_grad():
        for p in cell.parameters():
            p.normal_(0, std)
    return cell


def reference_peephole_step(w, U, x, h, c, pooled=None):
    """HST-LSTM layer-1 equations, one gate at a time."""
    i = torch.sigmoid(conv(x, w['W_xi']) + conv(h, w['U_hi']) + U['ci'] * c + w['b_i'][:, None, None])
    f = torch.sigmoid(conv(x, w['W_xf']) + conv(h, w['U_hf']) + U['cf'] * c + w['b_f'][:, None, None])
    base = c if pooled is None else pooled
    c_new = f * base + i * torch.tanh(conv(x, w['W_xc']) + conv(h, w['U_hc']) + w['b_c'][:, None, None])
    o = torch.sigmoid(conv(x, w['W_xo']) + conv(h, w['U_ho']) + U['co'] * c_new + w['b_o'][:, None, None])
    return o * torch.tanh(c_new), c_new


def reference_plain_step(w, x, h, c):
    g = {n: conv(x, w['W_x' + n]) + conv(h, w['U_h' + n]) + w['b_' + n][:, None, None]
         for n in GATES}
    c_new = torch.sigmoid(g['f']) * c + torch.sigmoid(g['i']) * torch.tanh(g['c'])
    return torch.sigmoid(g['o']) * torch.tanh(c_new), c_new


def reference_alstm_step(cell, w, x, h, c, query=None):
    """VideoLSTM eqs. 7-9 then 1-6."""
    q = h if query is None else query
    z = conv(torch.tanh(conv(x, cell.attention_input_conv.weight,
                             cell.attention_input_conv.bias)
                        + conv(q, cell.attention_query_conv.weight)),
             cell.attention_score_conv.weight)                        # (N,1,H,W)
    n, _, hh, ww = z.shape
    e = torch.exp(z - z.amax(dim=(2, 3), keepdim=True))
    a = e / e.sum(dim=(2, 3), keepdim=True)                           # eq. 8
    if cell.rescale_attention:
        x_t = a * hh * ww * x
    else:
        x_t = a * x                                                   # eq. 9
    h_new, c_new = reference_plain_step(w, x_t, h, c)
    return h_new, c_new, a


@pytest.mark.parametrize('peephole_size', [None, (5, 6)])
@pytest.mark.parametrize('kernels', [(3, 3), (1, 3), (5, 1)])
def test_peephole_cell_matches_equations_over_time(peephole_size, kernels):
    cell = randomize(PeepholeConvLSTMCell(3, 4, kernels[0], kernels[1],
                                          peephole_size=peephole_size))
    w = split_weights(cell)
    U = {'ci': cell.peephole_i.detach(), 'cf': cell.peephole_f.detach(),
         'co': cell.peephole_o.detach()}
    torch.manual_seed(2)
    xs = torch.randn(2, 3, 4, 5, 6)                      # (N, C, T, H, W)
    h = torch.zeros(2, 4, 5, 6)
    c = torch.zeros(2, 4, 5, 6)
    refs = []
    for t in range(4):
        h, c = reference_peephole_step(w, U, xs[:, :, t], h, c)
        refs.append(h)
    hs, (h_last, c_last), extras = unroll(cell, xs)
    assert hs.shape == (2, 4, 4, 5, 6) and extras == []
    torch.testing.assert_close(hs, torch.stack(refs, 2), rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(c_last, c, rtol=1e-5, atol=1e-6)
    # the peephole really matters (non-zero weights change the output)
    plain_ref, _ = reference_plain_step(w, xs[:, :, 1], refs[0], torch.ones_like(c))
    peep, _ = cell(xs[:, :, 1], (refs[0], torch.ones_like(c)))
    assert not torch.allclose(peep, plain_ref, atol=1e-4)


def test_output_gate_peeps_at_new_cell_input_gates_at_old():
    cell = PeepholeConvLSTMCell(2, 3, 3)
    torch.manual_seed(0)
    x, h, c = torch.randn(1, 2, 4, 4), torch.randn(1, 3, 4, 4), torch.randn(1, 3, 4, 4)
    base_h, (_, base_c) = cell(x, (h, c))
    # only U_co set: the cell state is unchanged, h changes through o(c_new)
    with torch.no_grad():
        cell.peephole_o.fill_(0.7)
    h2, (_, c2) = cell(x, (h, c))
    torch.testing.assert_close(c2, base_c)
    pre_o = (cell.input_conv(x) + cell.hidden_conv(h)).chunk(4, 1)[3]
    torch.testing.assert_close(h2, torch.sigmoid(pre_o + 0.7 * base_c) * torch.tanh(base_c))


def test_pooled_cell_replaces_previous_cell_in_update_only():
    cell = randomize(PeepholeConvLSTMCell(3, 4, 3))
    w = split_weights(cell)
    U = {'ci': cell.peephole_i.detach(), 'cf': cell.peephole_f.detach(),
         'co': cell.peephole_o.detach()}
    torch.manual_seed(3)
    x, h, c, pc = (torch.randn(2, 3, 5, 5), torch.randn(2, 4, 5, 5),
                   torch.randn(2, 4, 5, 5), torch.randn(2, 4, 5, 5))
    h_ref, c_ref = reference_peephole_step(w, U, x, h, c, pooled=pc)
    h_out, (_, c_out) = cell(x, (h, c), pooled_cell=pc)
    torch.testing.assert_close(h_out, h_ref, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(c_out, c_ref, rtol=1e-5, atol=1e-6)
    h_plain, _ = cell(x, (h, c))
    assert not torch.allclose(h_plain, h_out)


def test_plain_cell_matches_equations_and_uses_initial_state():
    cell = randomize(ConvLSTMCell(3, 4, 3))
    w = split_weights(cell)
    torch.manual_seed(4)
    xs = torch.randn(2, 3, 3, 6, 5)
    h0, c0 = torch.randn(2, 4, 6, 5), torch.randn(2, 4, 6, 5)
    h, c = h0, c0
    refs = []
    for t in range(3):
        h, c = reference_plain_step(w, xs[:, :, t], h, c)
        refs.append(h)
    hs, (hl, cl), _ = unroll(cell, xs, state=(h0, c0))
    torch.testing.assert_close(hs, torch.stack(refs, 2), rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(cl, c, rtol=1e-5, atol=1e-6)
    # the initial state is used: zeros give a different first output
    hs0, _, _ = unroll(cell, xs)
    assert not torch.allclose(hs0[:, :, 0], hs[:, :, 0])
    # a list of steps and time_dim=1 give the same result
    hs_list, _, _ = unroll(cell, list(xs.unbind(2)), state=(h0, c0), time_dim=1)
    torch.testing.assert_close(hs_list.transpose(1, 2), hs)


def test_carrying_state_equals_one_long_unroll():
    cell = randomize(PeepholeConvLSTMCell(2, 3, 3))
    xs = torch.randn(1, 2, 6, 4, 4)
    full, st_full, _ = unroll(cell, xs)
    first, st, _ = unroll(cell, xs[:, :, :3])
    second, st2, _ = unroll(cell, xs[:, :, 3:], state=st)
    torch.testing.assert_close(torch.cat([first, second], 2), full)
    torch.testing.assert_close(st2[1], st_full[1])


@pytest.mark.parametrize('rescale', [False, True])
def test_convalstm_matches_videolstm_equations(rescale):
    cell = randomize(ConvALSTMCell(3, 4, 3, attention_channels=5,
                                   rescale_attention=rescale), std=0.5)
    w = split_weights(cell)
    torch.manual_seed(5)
    xs = torch.randn(2, 3, 4, 5, 7)
    h = torch.zeros(2, 4, 5, 7)
    c = torch.zeros(2, 4, 5, 7)
    refs, atts = [], []
    for t in range(4):
        h, c, a = reference_alstm_step(cell, w, xs[:, :, t], h, c)
        refs.append(h)
        atts.append(a)
    hs, (_, cl), (att,) = unroll(cell, xs)
    torch.testing.assert_close(hs, torch.stack(refs, 2), rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(att, torch.stack(atts, 2), rtol=1e-5, atol=1e-6)
    assert att.shape == (2, 1, 4, 5, 7)
    # attention is a distribution over space at every step, and not uniform
    torch.testing.assert_close(att.sum(dim=(3, 4)), torch.ones(2, 1, 4))
    assert (att >= 0).all() and att.std() > 1e-3


def test_convalstm_external_query_drives_attention():
    cell = randomize(ConvALSTMCell(3, 4, 3, query_channels=2), std=0.5)
    w = split_weights(cell)
    torch.manual_seed(6)
    x, h, c = torch.randn(1, 3, 5, 5), torch.randn(1, 4, 5, 5), torch.randn(1, 4, 5, 5)
    q = torch.randn(1, 2, 5, 5)
    h_ref, c_ref, a_ref = reference_alstm_step(cell, w, x, h, c, query=q)
    h_out, (_, c_out), a = cell(x, (h, c), attention_query=q)
    torch.testing.assert_close(a, a_ref, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(h_out, h_ref, rtol=1e-5, atol=1e-6)
    _, _, a2 = cell(x, (h, c), attention_query=-q)
    assert not torch.allclose(a, a2)
    with pytest.raises(ValueError, match='attention_query'):
        cell(x, (h, c))


def test_attention_weighting_keeps_spatial_structure():
    """X~ = A o X: a position with zero attention contributes nothing to the gates."""
    cell = ConvALSTMCell(2, 3, kernel_size=1, hidden_kernel_size=1)
    z = torch.full((1, 1, 3, 3), -1e4)
    z[..., 1, 1] = 0.0
    a = spatial_softmax(z)
    assert a[0, 0, 1, 1] == pytest.approx(1.0) and a.sum() == pytest.approx(1.0)
    x = torch.randn(1, 2, 3, 3)
    cell.attention = lambda x_, q_: a  # fixed map: only the centre is attended
    x2 = x.clone()
    x2[..., 0, 0] += 100.0                       # a change where A = 0
    h1, _, _ = cell(x)
    h2, _, _ = cell(x2)
    torch.testing.assert_close(h1, h2)


def test_gradients_reach_every_parameter_and_the_initial_state():
    torch.manual_seed(7)
    for cell in (PeepholeConvLSTMCell(3, 4, 3), ConvLSTMCell(3, 4, 3),
                 ConvALSTMCell(3, 4, 3)):
        xs = torch.randn(2, 3, 3, 5, 5, requires_grad=True)
        h0 = torch.randn(2, 4, 5, 5, requires_grad=True)
        c0 = torch.randn(2, 4, 5, 5, requires_grad=True)
        hs, (h, c), _ = unroll(cell, xs, state=(h0, c0))
        (hs.square().sum() + c.sum()).backward()
        for name, p in cell.named_parameters():
            assert p.grad is not None and p.grad.abs().sum() > 0, name
        for t in (xs, h0, c0):
            assert t.grad.abs().sum() > 0


def test_gradcheck_double_precision():
    torch.manual_seed(8)
    cell = randomize(PeepholeConvLSTMCell(2, 2, 3)).double()
    x = torch.randn(1, 2, 3, 3, dtype=torch.double, requires_grad=True)
    c = torch.randn(1, 2, 3, 3, dtype=torch.double, requires_grad=True)
    pc = torch.randn(1, 2, 3, 3, dtype=torch.double, requires_grad=True)
    h = torch.zeros(1, 2, 3, 3, dtype=torch.double)
    assert torch.autograd.gradcheck(
        lambda x_, c_, p_: cell(x_, (h, c_), pooled_cell=p_)[1][1], (x, c, pc),
        fast_mode=True)
    acell = randomize(ConvALSTMCell(2, 2, 3), std=0.5).double()
    assert torch.autograd.gradcheck(lambda x_: acell(x_)[0], (x,), fast_mode=True)


def test_bad_inputs_are_clear_errors():
    cell = PeepholeConvLSTMCell(3, 4, 3, peephole_size=(5, 5))
    with pytest.raises(ValueError, match=r'\(N, 3, H, W\)'):
        cell(torch.randn(1, 2, 5, 5))
    with pytest.raises(ValueError, match='per-location'):
        cell(torch.randn(1, 3, 6, 6))
    with pytest.raises(ValueError, match='state'):
        cell(torch.randn(1, 3, 5, 5), (torch.zeros(1, 4, 4, 4), torch.zeros(1, 4, 4, 4)))
    with pytest.raises(ValueError, match='odd'):
        ConvLSTMCell(3, 4, kernel_size=2)
    with pytest.raises(ValueError, match='at least one'):
        unroll(ConvLSTMCell(3, 4), [])


def test_forget_bias_starts_at_one():
    cell = ConvLSTMCell(3, 4)
    b = cell.input_conv.bias
    assert torch.all(b[4:8] == 1) and torch.all(b[:4] == 0) and torch.all(b[8:] == 0)
