"""Probes of the v2 pretraining task (docs/synthetic_benchmark.md, "Making the
pretraining learnable"): is the movement in an actor-centred crop learnable, and
by what?

    python benchmarks/probes/pretrain_probe.py load  --data-root D --out probe.npz
    python benchmarks/probes/pretrain_probe.py cnn   --data probe.npz [--iters 300]
        [--head avg|centre|flat] [--crop 64] [--k1 1] [--inflate 0011] [--base 8]
    python benchmarks/probes/pretrain_probe.py linear --data probe.npz

``load`` takes ``--per-class`` train keyframe clips per movement (300) and 100
val ones from ``movements_{train,val}.csv`` (16 frames, 64x64 crop centred on the
keyframe box, no jitter). ``cnn`` trains the pretraining config's backbone (built
through the registry) with a small head in a plain PyTorch loop (AdamW,
one-cycle, batch 32, random flip); ``linear`` fits a logistic regression on
frame-difference energy (a 4x4 grid over the central 32 px and the whole crop,
7 steps), the reference that tells the information is in the pixels. Both print
train and balanced-val accuracy, per class in ``MOVEMENTS`` order.
"""
import argparse
import collections
import csv
import random
import sys
import time

import cv2
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

MV = ['stand', 'walk', 'spin', 'jump', 'wave', 'sway', 'twirl', 'nod']


def load(root, split, per_class, seed, fps=10, ts0=900, size=64):
    rows = collections.defaultdict(list)
    with open(f'{root}/annotations/movements_{split}.csv') as f:
        for r in csv.reader(f):
            rows[r[6]].append(r)
    rng = random.Random(seed)
    X, Y = [], []
    for m in MV:
        for r in rng.sample(rows[m], min(per_class, len(rows[m]))):
            key = fps * (int(r[1]) - ts0)
            box = np.array([float(v) for v in r[2:6]]) * [160, 120, 160, 120]
            cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
            left, top = int(round(cx - size / 2)), int(round(cy - size / 2))
            frames = []
            for k in range(key - 8, key + 8):
                img = cv2.imread(f'{root}/rawframes/{r[0]}/img_{k + 1:05}.jpg')[:, :, ::-1]
                big = cv2.copyMakeBorder(img, size, size, size, size,
                                         cv2.BORDER_REFLECT_101)
                frames.append(big[top + size:top + 2 * size, left + size:left + 2 * size])
            X.append(np.stack(frames))
            Y.append(MV.index(m))
    return np.stack(X), np.array(Y)


def per_class(pred, y):
    return [round(float((pred[y == k] == k).float().mean()), 2) for k in range(len(MV))]


def cnn(a):
    sys.path.insert(0, '.')
    from mmaction.registry import MODELS
    from mmengine.registry import init_default_scope

    import stadl_plugins  # noqa: F401
    init_default_scope('mmaction')
    torch.manual_seed(0)
    d = np.load(a.data)

    def prep(X):
        c = (64 - a.crop) // 2
        X = X[:, 8 - a.T * a.interval // 2:8 + a.T * a.interval // 2:a.interval,
              c:c + a.crop, c:c + a.crop]
        X = torch.from_numpy(np.ascontiguousarray(X)).permute(0, 4, 1, 2, 3).float()
        m = torch.tensor([123.675, 116.28, 103.53]).view(1, 3, 1, 1, 1)
        s = torch.tensor([58.395, 57.12, 57.375]).view(1, 3, 1, 1, 1)
        return (X - m) / s

    Xt, Yt = prep(d['Xt']), torch.from_numpy(d['Yt'])
    Xv, Yv = prep(d['Xv']), torch.from_numpy(d['Yv'])
    bb = MODELS.build(dict(
        type='ResNet3dSlowOnly', depth=18, base_channels=a.base, pretrained=None,
        pretrained2d=False, lateral=False, num_stages=4, conv1_kernel=(a.k1, 7, 7),
        conv1_stride_t=1, pool1_stride_t=1, inflate=tuple(int(c) for c in a.inflate),
        spatial_strides=(1, 2, 1, 1), norm_eval=False))
    bb.init_weights()
    with torch.no_grad():
        C, T, H, W = bb(Xt[:2]).shape[1:]

    class Centre(nn.Module):
        def forward(self, x):
            h, w = x.shape[-2:]
            return x[..., h // 4:h - h // 4, w // 4:w - w // 4]

    pool = {'avg': [nn.AdaptiveAvgPool3d(1)],
            'centre': [Centre(), nn.AdaptiveAvgPool3d(1)],
            'flat': [nn.AdaptiveAvgPool3d((T, H, W))]}[a.head]
    width = C * T * H * W if a.head == 'flat' else C
    model = nn.Sequential(bb, *pool, nn.Flatten(), nn.Dropout(0.2), nn.Linear(width, 8))
    opt = torch.optim.AdamW(model.parameters(), lr=a.lr, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=a.lr, total_steps=a.iters,
                                                pct_start=0.1)
    g = torch.Generator().manual_seed(0)
    t0 = time.time()
    for it in range(a.iters):
        model.train()
        idx = torch.randint(0, len(Xt), (32,), generator=g)
        x = Xt[idx].flip(-1) if torch.rand(1).item() < 0.5 else Xt[idx]
        loss = F.cross_entropy(model(x), Yt[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        if it % 100 == 0:
            print(it, round(loss.item(), 3), f'{time.time() - t0:.0f}s', flush=True)

    def predict(X):
        model.eval()
        with torch.no_grad():
            return torch.cat([model(X[i:i + 100]).argmax(1) for i in range(0, len(X), 100)])

    pt, pv = predict(Xt[::3]), predict(Xv)
    print(vars(a))
    print('train', round(float((pt == Yt[::3]).float().mean()), 3))
    print('val', round(float((pv == Yv).float().mean()), 3), per_class(pv, Yv))


def linear(a):
    d = np.load(a.data)

    def feat(X):
        X = torch.from_numpy(X[:, 4:12]).float().mean(-1)
        D = (X[:, 1:] - X[:, :-1]).abs()
        c = D[:, :, 16:48, 16:48]
        return torch.cat([F.adaptive_avg_pool2d(c, 4).flatten(1), D.mean((2, 3)),
                          c.mean((2, 3))], 1)

    Ft, Fv = feat(d['Xt']), feat(d['Xv'])
    mu, sd = Ft.mean(0), Ft.std(0) + 1e-6
    Ft, Fv = (Ft - mu) / sd, (Fv - mu) / sd
    Yt, Yv = torch.from_numpy(d['Yt']), torch.from_numpy(d['Yv'])
    W = torch.zeros(Ft.shape[1], 8, requires_grad=True)
    b = torch.zeros(8, requires_grad=True)
    opt = torch.optim.LBFGS([W, b], max_iter=500)

    def closure():
        opt.zero_grad()
        loss = F.cross_entropy(Ft @ W + b, Yt) + 1e-3 * (W ** 2).sum()
        loss.backward()
        return loss

    opt.step(closure)
    for name, Fx, Y in (('train', Ft, Yt), ('val', Fv, Yv)):
        P = (Fx @ W + b).argmax(1)
        print(name, round(float((P == Y).float().mean()), 4), per_class(P, Y))


def main():
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    sub = p.add_subparsers(dest='cmd', required=True)
    lo = sub.add_parser('load')
    lo.add_argument('--data-root', required=True)
    lo.add_argument('--out', required=True)
    lo.add_argument('--per-class', type=int, default=300)
    c = sub.add_parser('cnn')
    c.add_argument('--data', required=True)
    for k, t, v in (('crop', int, 64), ('interval', int, 1), ('T', int, 8),
                    ('iters', int, 300), ('lr', float, 2e-3), ('base', int, 8),
                    ('k1', int, 1)):
        c.add_argument(f'--{k}', type=t, default=v)
    c.add_argument('--head', default='avg', choices=('avg', 'centre', 'flat'))
    c.add_argument('--inflate', default='0011')
    li = sub.add_parser('linear')
    li.add_argument('--data', required=True)
    a = p.parse_args()
    if a.cmd == 'load':
        Xt, Yt = load(a.data_root, 'train', a.per_class, 0)
        Xv, Yv = load(a.data_root, 'val', 100, 1)
        np.savez(a.out, Xt=Xt, Yt=Yt, Xv=Xv, Yv=Yv)
        print(Xt.shape, Xv.shape)
    elif a.cmd == 'cnn':
        cnn(a)
    else:
        linear(a)


if __name__ == '__main__':
    main()
