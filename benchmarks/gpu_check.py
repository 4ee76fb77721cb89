"""One-go device check of every plugin: correctness against CPU / the reference
fixtures, mixed precision, and speed. Run through ``benchmarks/gpu_check.sh``.

    python benchmarks/gpu_check.py --device cuda --json gpu_check.json   # < 5 min
    python benchmarks/gpu_check.py --device cpu --tiny --no-speed         # CPU half

Correctness: every module runs forward + backward on ``--device`` in float32 (TF32
off) and the outputs and gradients (inputs and parameters) are compared with the
same module run on the CPU in float64: ``max|diff| <= tol * max|ref|`` per tensor.
PWCNet with the regenerated sniklaus reference weights is compared with the
reference fixtures (``../shared/data/reference_models``, the tolerance of
``tests/models/test_reference_models.py``: 3e-5). Mixed precision: the same forward +
backward under ``torch.autocast`` (float16 and bfloat16) must be finite and within a
loose tolerance of the float64 reference. Speed (``--no-speed`` skips it): PWCNet
ms/pair at 320x320 and 436x1024 (fp32, fp16 autocast), detector FPS (``predict``,
batch 1, 320x320, 2 proposals) of the integrated two-stream model and of the stock
MMAction2 SlowOnly / SlowFast AVA detectors, peak memory
(``torch.cuda.max_memory_allocated``).

One table is printed; the JSON holds every row and ``ok`` (all correctness rows
pass). Exit status 1 when a correctness row fails.
"""
from __future__ import annotations

import argparse
import datetime
import json
import math
import os
import platform
import sys
import time
import traceback

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, REPO)

ROWS: list[dict] = []
FP32_TOL = 1e-4
AMP_TOL = {torch.float16: 3e-2, torch.bfloat16: 1.5e-1}
PWC_FIXTURE_TOL = 3e-5


def add_row(section, name, value=None, unit='', tol=None, ok=None, note=''):
    row = dict(section=section, name=name, value=value, unit=unit, tol=tol, ok=ok,
               note=note)
    ROWS.append(row)
    status = '' if ok is None else ('ok' if ok else 'FAIL')
    print(f'[gpu_check] {section:<12} {name:<44} {_fmt(value):>12} {unit:<10} {status}',
          flush=True)
    return row


def _fmt(v):
    if v is None:
        return '-'
    if isinstance(v, float):
        return f'{v:.3g}' if (abs(v) < 1e-2 or abs(v) >= 1e4) and v != 0 else f'{v:.4g}'
    return str(v)


def sync(device):
    if device.type == 'cuda':
        torch.cuda.synchronize(device)


def rel_err(a: torch.Tensor, ref: torch.Tensor, floor: float = 0.0) -> float:
    """``max|a - ref| / max(max|ref|, floor)`` in float64 on the CPU (inf if not
    finite)."""
    a = a.detach().to('cpu', torch.float64)
    ref = ref.detach().to('cpu', torch.float64)
    if a.shape != ref.shape:
        raise ValueError(f'shapes differ: {tuple(a.shape)} vs {tuple(ref.shape)}')
    if not torch.isfinite(a).all():
        return math.inf
    scale = max(ref.abs().max().item(), floor)
    return (a - ref).abs().max().item() / (scale if scale > 0 else 1.0)


def grads_err(grads, refs) -> float:
    """Worst :func:`rel_err` over the gradients; a gradient that is (nearly) zero
    by construction (e.g. the key bias of a softmax attention) is measured against
    1 % of the largest reference gradient instead of its own rounding noise."""
    floor = 1e-2 * max(r.abs().max().item() for r in refs)
    return max(rel_err(a, b, floor) for a, b in zip(grads, refs))


# ----------------------------------------------------------------- modules
def model_class(name):
    """A registered plugin class by name (robust to moves between sub-packages)."""
    import stadl_plugins  # noqa: F401
    from stadl_plugins.registry import MMACTION_MODELS
    cls = MMACTION_MODELS.get(name)
    if cls is None:
        raise KeyError(f'{name} is not registered')
    return cls


def randomize(module, std=0.2, seed=0):
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(torch.randn(p.shape, generator=g, dtype=p.dtype) * std)
    return module


def _inputs(seed, *shapes):
    g = torch.Generator().manual_seed(seed)
    return [torch.randn(s, generator=g) for s in shapes]


def case_correlation(tiny):
    from stadl_plugins.models.flow.correlation import Correlation
    B, C, S = (2, 8, 12) if tiny else (2, 32, 40)
    return Correlation(4), _inputs(1, (B, C, S, S), (B, C, S, S)), {}


def case_warp(tiny):
    from stadl_plugins.models.flow.warp import FlowWarp
    B, C, H, W = (2, 4, 10, 12) if tiny else (2, 16, 48, 64)
    img, flow = _inputs(2, (B, C, H, W), (B, 2, H, W))
    return FlowWarp(), [img, flow * 3.0], {}


def case_pwcnet_small(tiny):
    from stadl_plugins.models.flow.pwcnet import PWCNet
    net = PWCNet(channel_mult=0.25, num_levels=4, max_displacement=2, size_mode='pad')
    S = 32 if tiny else 64
    a, b = _inputs(3, (1, 3, S, S), (1, 3, S, S))
    return randomize(net, 0.05), [a.abs() % 1, b.abs() % 1], {}


def case_atr(tiny):
    ATRHead = model_class('ATRHead')
    C = 16 if tiny else 64
    head = randomize(ATRHead(C, featmap_stride=8, latent_channels=C // 2), 0.2)
    x, feat = _inputs(4, (3, C, 1, 4, 4), (2, C, 1, 8, 10))
    rois = torch.tensor([[0, 8., 8., 40., 56.], [1, 0., 0., 30., 30.],
                         [0, 40., 16., 72., 60.]])
    return head, [x, feat], dict(rois=rois)


def case_hstlstm(tiny):
    HSTLSTMNeck = model_class('HSTLSTMNeck')
    C = 8 if tiny else 32
    neck = randomize(HSTLSTMNeck(C, hidden_channels=C // 2 + 1, micro_steps=3,
                                 num_layers=2), 0.3)
    return neck, _inputs(5, (2, C, 6, 6, 6)), {}


def case_convalstm(tiny):
    ConvALSTMNeck = model_class('ConvALSTMNeck')
    C = 8 if tiny else 32
    neck = randomize(ConvALSTMNeck(C, hidden_channels=C // 2, attention='motion'), 0.3)
    return neck, _inputs(6, (2, C, 4, 6, 6)), {}


def case_reclnet(tiny):
    RecLNet = model_class('RecLNet')
    D = 16 if tiny else 256
    net = randomize(RecLNet(5, dict(rgb=D, flow=D), fc_channels=D // 2, memory=D // 4,
                            fusion='fusion_layer'), 0.2)
    rgb, flow = _inputs(7, (2, 10, D), (2, 10, D))

    class Wrap(torch.nn.Module):       # positional inputs for the generic check
        # RecLNet casts its inputs to float32 (log_probs): the reference is CPU fp32
        reference_dtype = torch.float32

        def __init__(self):
            super().__init__()
            self.net = net

        def forward(self, a, b):
            return self.net(dict(rgb=a, flow=b))
    return Wrap(), [rgb, flow], {}


CASES = [('cost volume', case_correlation), ('warp', case_warp),
         ('PWCNet (small, random)', case_pwcnet_small), ('ATR head', case_atr),
         ('HST-LSTM neck', case_hstlstm), ('ConvALSTM neck', case_convalstm),
         ('RecLNet (2 streams)', case_reclnet)]


def run_fwd_bwd(module, inputs, kwargs, device, dtype, autocast=None):
    """Output and gradients (inputs, then parameters) of ``(out * w).sum()``."""
    m = module.to(device=device, dtype=dtype).eval()
    xs = [x.detach().to(device=device, dtype=dtype, copy=True).requires_grad_(True)
          for x in inputs]
    kw = {k: v.to(device=device, dtype=dtype) for k, v in kwargs.items()}
    params = [p for p in m.parameters() if p.requires_grad]
    for p in params:
        p.grad = None
    ctx = (torch.autocast(device.type, dtype=autocast) if autocast is not None
           else torch.autocast(device.type, enabled=False))
    with ctx:
        out = m(*xs, **kw)
    g = torch.Generator().manual_seed(11)
    w = torch.randn(out.shape, generator=g).to(device=device, dtype=out.dtype)
    (out * w).float().sum().backward()
    grads = [x.grad for x in xs] + [p.grad if p.grad is not None else torch.zeros_like(p)
                                    for p in params]
    out, grads = out.detach().float().cpu(), [t.detach().float().cpu() for t in grads]
    m.to('cpu', torch.float32)
    return out, grads


def check_modules(device, tiny, amp_dtypes):
    cpu = torch.device('cpu')
    for name, make in CASES:
        try:
            module, inputs, kwargs = make(tiny)
            ref_dtype = getattr(module, 'reference_dtype', torch.float64)
            ref_tag = str(ref_dtype).replace('torch.', '')
            ref_out, ref_grads = run_fwd_bwd(module, inputs, kwargs, cpu, ref_dtype)
            out, grads = run_fwd_bwd(module, inputs, kwargs, device, torch.float32)
            e_f = rel_err(out, ref_out)
            e_b = grads_err(grads, ref_grads)
            add_row('correctness', f'{name} forward fp32', e_f, 'rel err', FP32_TOL,
                    e_f <= FP32_TOL, f'vs CPU {ref_tag}')
            add_row('correctness', f'{name} backward fp32', e_b, 'rel err', FP32_TOL,
                    e_b <= FP32_TOL, f'{len(grads)} grads vs CPU {ref_tag}')
            for amp in amp_dtypes:
                tag = str(amp).replace('torch.', '')
                try:
                    out, grads = run_fwd_bwd(module, inputs, kwargs, device,
                                             torch.float32, autocast=amp)
                    e_f = rel_err(out, ref_out)
                    e_b = grads_err(grads, ref_grads)
                    tol = AMP_TOL[amp]
                    add_row('amp', f'{name} fwd+bwd autocast {tag}', max(e_f, e_b),
                            'rel err', tol, max(e_f, e_b) <= tol,
                            f'fwd {e_f:.2g}, bwd {e_b:.2g} vs CPU {ref_tag}')
                except Exception as exc:      # noqa: BLE001 -- a failing row, not a crash
                    add_row('amp', f'{name} fwd+bwd autocast {tag}', None, '', None,
                            False, f'{type(exc).__name__}: {exc}'[:300])
        except Exception as exc:              # noqa: BLE001
            traceback.print_exc()
            add_row('correctness', name, None, '', None, False,
                    f'{type(exc).__name__}: {exc}'[:300])


# ---------------------------------------------------- PWCNet vs the fixtures
def reference_pwcnet():
    """PWCNet with the sniklaus reference weights regenerated from the key list
    (the fill rule of tests/models/test_reference_models.py), strict load."""
    sys.path[:0] = [os.path.join(REPO, 'tests', 'models'), os.path.join(REPO, 'tests')]
    import test_reference_models as trm

    from stadl_plugins.models.flow.pwcnet import PWCNet
    from stadl_plugins.models.flow.weight_converters import convert_pwcnet_state_dict
    sd, _ = trm.reference_state_dict('pwcnet_sniklaus_keys.json')
    converted, _ = convert_pwcnet_state_dict(sd)
    net = PWCNet()
    net.load_state_dict(converted, strict=True)
    return net.eval(), trm


def check_pwc_fixtures(device, tiny, amp_dtypes):
    import numpy as np
    try:
        net, trm = reference_pwcnet()
        npz = np.load(trm.shared('reference_models', 'pwcnet_sniklaus_fixture.npz'))
    except Exception as exc:                  # noqa: BLE001
        add_row('fixtures', 'PWCNet reference fixtures', None, '', None, False,
                f'{type(exc).__name__}: {exc}'[:300])
        return
    net.to(device)
    cases = ['noise64x64'] if tiny else ['noise64x64', 'tex320x320', 'noise100x75',
                                         'tex436x1024']
    for case in cases:
        a, b = (x.to(device) for x in trm._pwc_inputs(npz, case, torch.float32))
        for amp in [None] + list(amp_dtypes):
            tag = 'fp32' if amp is None else 'autocast ' + str(amp).replace('torch.', '')
            try:
                ctx = (torch.autocast(device.type, dtype=amp) if amp is not None
                       else torch.autocast(device.type, enabled=False))
                with torch.no_grad(), ctx:
                    flow, levels = net(a, b, return_levels=True)
                core = net.flow_div * levels[net.output_level].float()
                flow = flow.float()
                if case == 'tex436x1024':
                    flow = flow[:, :, 1::4, 2::4]
                    key = f'{case}_flow_sub4'
                else:
                    key = f'{case}_flow'
                err = max(rel_err(core, torch.from_numpy(npz[f'{case}_core'])),
                          rel_err(flow, torch.from_numpy(npz[key])))
                tol = PWC_FIXTURE_TOL if amp is None else AMP_TOL[amp]
                add_row('fixtures' if amp is None else 'amp',
                        f'PWCNet reference {case} {tag}', err, 'rel err', tol,
                        err <= tol, 'core and flow vs sniklaus fixture')
            except Exception as exc:          # noqa: BLE001
                add_row('fixtures', f'PWCNet reference {case} {tag}', None, '', None,
                        False, f'{type(exc).__name__}: {exc}'[:300])
    net.cpu()


# -------------------------------------------------------------------- speed
def timed(fn, device, reps, warmup):
    for _ in range(warmup):
        fn()
    sync(device)
    ts = []
    for _ in range(reps):
        t = time.perf_counter()
        fn()
        sync(device)
        ts.append(time.perf_counter() - t)
    ts.sort()
    return ts[len(ts) // 2]


def peak_reset(device):
    if device.type == 'cuda':
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(device)


def peak_mib(device):
    if device.type == 'cuda':
        return torch.cuda.max_memory_allocated(device) / 2 ** 20
    return None


def speed_pwcnet(device, sizes, reps, warmup):
    from stadl_plugins.models.flow.pwcnet import PWCNet
    torch.manual_seed(0)
    net = PWCNet().to(device).eval()
    dtypes = [None, torch.float16] if device.type == 'cuda' else [None, torch.bfloat16]
    for H, W in sizes:
        a = torch.rand(1, 3, H, W, device=device)
        b = torch.rand(1, 3, H, W, device=device)
        for amp in dtypes:
            tag = 'fp32' if amp is None else str(amp).replace('torch.', '')
            ctx = (lambda: torch.autocast(device.type, dtype=amp)) if amp is not None \
                else (lambda: torch.autocast(device.type, enabled=False))

            def run():
                with torch.no_grad(), ctx():
                    net(a, b)
            peak_reset(device)
            try:
                t = timed(run, device, reps, warmup)
                add_row('speed', f'PWCNet {H}x{W} {tag}', t * 1e3, 'ms/pair',
                        note=f'batch 1; peak {_fmt(peak_mib(device))} MiB')
                ROWS[-1]['peak_mib'] = peak_mib(device)
            except Exception as exc:          # noqa: BLE001
                add_row('speed', f'PWCNet {H}x{W} {tag}', None, '', None, None,
                        f'{type(exc).__name__}: {exc}'[:300])
    net.cpu()


AVA_DETECTORS = [
    ('two-stream (PWCNet + SlowOnly-R50)',
     'configs/pwc_flow/pwc-two-stream_r50_4xb10-3x1x1-150k_ava21-rgb-320.py'),
    ('stock SlowOnly-R50 4x16',
     'mmaction::detection/slowonly/slowonly_kinetics400-pretrained-r50_8xb16-4x16x1-20e_'
     'ava21-rgb.py'),
    ('stock SlowFast-R50 4x16',
     'mmaction::detection/slowfast/slowfast_kinetics400-pretrained-r50_8xb16-4x16x1-20e_'
     'ava21-rgb.py'),
]
TINY_DETECTORS = [
    ('two-stream tiny (synthetic)',
     'configs/pwc_flow/pwc-two-stream_r18-tiny_3x2x1-15e_synthetic-rgb.py'),
    ('stock SlowOnly-R18 tiny (synthetic)',
     'configs/baseline/slowonly_r18-tiny_4x2x1-15e_synthetic-rgb.py'),
]


def _build_detector(path, size):
    from mmdet.registry import MODELS
    from mmengine.config import Config
    from mmengine.registry import init_default_scope

    import stadl_plugins  # noqa: F401
    init_default_scope('mmaction')
    if path.startswith('mmaction::'):
        import mmaction
        path = os.path.join(os.path.dirname(mmaction.__file__), '.mim', 'configs',
                            path.split('::', 1)[1])
    cfg = Config.fromfile(path if os.path.isabs(path) else os.path.join(REPO, path))
    model = cfg.model
    bb = model.backbone
    for key in ('pretrained',):
        if key in bb:
            bb[key] = None
    if 'backbone' in bb and isinstance(bb.backbone, dict):
        bb.backbone.pretrained = None
        if bb.get('flow_net', {}).get('input_size') is not None:
            bb.flow_net.input_size = (size, size)
    for path_key in ('slow_pathway', 'fast_pathway'):
        if path_key in bb:
            bb[path_key].pretrained = None
    clip = cfg.val_dataloader.dataset.pipeline[0].clip_len
    return MODELS.build(model), clip


def _proposals(size, device):
    from mmaction.structures import ActionDataSample
    from mmengine.structures import InstanceData
    ds = ActionDataSample()
    s = size / 320
    boxes = torch.tensor([[20., 20., 120., 300.], [150., 40., 300., 310.]],
                         device=device) * s
    ds.proposals = InstanceData(bboxes=boxes, scores=torch.ones(2, device=device))
    ds.set_metainfo(dict(img_shape=(size, size)))
    return [ds]


def speed_detectors(device, detectors, size, reps, warmup):
    results = {}
    for name, path in detectors:
        try:
            det, T = _build_detector(path, size)
            det = det.to(device).eval()
            x = torch.randn(1, 3, T, size, size, device=device)

            def run(det=det):
                with torch.no_grad():
                    det.predict(x, _proposals(size, device))
            peak_reset(device)
            t = timed(run, device, reps, warmup)
            results[name] = t
            add_row('speed', f'{name} FPS {size}x{size}', 1.0 / t, 'FPS',
                    note=f'{T} frames, batch 1, predict {t * 1e3:.1f} ms; '
                         f'peak {_fmt(peak_mib(device))} MiB')
            ROWS[-1].update(peak_mib=peak_mib(device), ms=t * 1e3, frames=T)
            det.cpu()
            del det
        except Exception as exc:              # noqa: BLE001
            traceback.print_exc()
            add_row('speed', f'{name} FPS', None, '', None, None,
                    f'{type(exc).__name__}: {exc}'[:300])
    names = [n for n, _ in detectors]
    if len(results) >= 2 and names[0] in results and names[1] in results:
        add_row('speed', 'two-stream / stock SlowOnly predict time',
                results[names[0]] / results[names[1]], 'ratio')


# --------------------------------------------------------------------- main
def print_table():
    head = f"{'section':<12} | {'check':<46} | {'value':>11} | {'unit':<9} | " \
           f"{'tol':>7} | status"
    print('\n' + head)
    print('-' * len(head))
    for r in ROWS:
        status = '' if r['ok'] is None else ('ok' if r['ok'] else 'FAIL')
        print(f"{r['section']:<12} | {r['name'][:46]:<46} | {_fmt(r['value']):>11} | "
              f"{r['unit']:<9} | {_fmt(r['tol']):>7} | {status}"
              + (f"  ({r['note']})" if r['note'] and r['ok'] is False else ''))


def parse_size(s):
    h, w = s.lower().split('x')
    return int(h), int(w)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--device', default='cuda')
    p.add_argument('--json', default=os.path.join(HERE, 'results', 'gpu_check.json'))
    p.add_argument('--tiny', action='store_true',
                   help='tiny shapes, one fixture case, tiny detectors (CPU test)')
    p.add_argument('--no-speed', action='store_true')
    p.add_argument('--no-fixtures', action='store_true')
    p.add_argument('--amp', nargs='*', default=None,
                   help='autocast dtypes (default: float16 bfloat16 on cuda, '
                        'bfloat16 on cpu)')
    p.add_argument('--pwc-sizes', nargs='+', default=['320x320', '436x1024'])
    p.add_argument('--det-size', type=int, default=320)
    p.add_argument('--detectors', choices=['ava', 'tiny'], default=None,
                   help='detector set for the FPS rows (default: tiny with --tiny, '
                        'else the AVA R50 configs)')
    p.add_argument('--reps', type=int, default=20)
    p.add_argument('--warmup', type=int, default=5)
    a = p.parse_args(argv)
    device = torch.device(a.device)
    if device.type == 'cuda':
        if not torch.cuda.is_available():
            print('[gpu_check] --device cuda but torch.cuda.is_available() is False',
                  file=sys.stderr)
            return 2
        # fp32 means fp32: TF32 would exceed the float32 tolerances by design
        torch.backends.cuda.matmul.allow_tf32 = False
        torch.backends.cudnn.allow_tf32 = False
        torch.backends.cudnn.benchmark = False     # the correctness half: default algos
    amp = a.amp if a.amp is not None else (
        ['float16', 'bfloat16'] if device.type == 'cuda' else ['bfloat16'])
    amp_dtypes = [getattr(torch, n) for n in amp]
    t0 = time.perf_counter()
    import stadl_plugins  # noqa: F401
    check_modules(device, a.tiny, amp_dtypes)
    if not a.no_fixtures:
        check_pwc_fixtures(device, a.tiny, amp_dtypes)
    if not a.no_speed:
        if device.type == 'cuda':
            torch.backends.cudnn.benchmark = True  # the speed half: fastest algos
        speed_pwcnet(device, [parse_size(s) for s in a.pwc_sizes], a.reps, a.warmup)
        dets = a.detectors or ('tiny' if a.tiny else 'ava')
        speed_detectors(device, TINY_DETECTORS if dets == 'tiny' else AVA_DETECTORS,
                        a.det_size, a.reps, a.warmup)
    wall = time.perf_counter() - t0
    ok = all(r['ok'] is not False for r in ROWS if r['section'] != 'speed')
    print_table()
    dev_name = (torch.cuda.get_device_name(device) if device.type == 'cuda'
                else platform.processor() or platform.machine())
    print(f'\n[gpu_check] {"ALL OK" if ok else "FAILURES"} on {dev_name}, '
          f'torch {torch.__version__}, {wall:.0f} s')
    report = dict(ok=ok, device=str(device), device_name=dev_name,
                  torch=torch.__version__, cuda=torch.version.cuda,
                  measured=datetime.datetime.now().isoformat(timespec='seconds'),
                  wall_s=wall, args=vars(a), rows=ROWS)
    if a.json:
        os.makedirs(os.path.dirname(os.path.abspath(a.json)), exist_ok=True)
        with open(a.json, 'w') as f:
            json.dump(report, f, indent=1)
        print(f'[gpu_check] wrote {a.json}')
    return 0 if ok else 1


if __name__ == '__main__':
    sys.exit(main())
