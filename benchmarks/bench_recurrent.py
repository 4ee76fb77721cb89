"""Forward time and training-step memory of the recurrent necks (HST-LSTM,
ConvLSTM, ConvALSTM, VideoLSTM) in the tiny synthetic detector, vs the stock
detector on the same clip.

Run: ``python benchmarks/run.py --only recurrent_overhead [--quick]``.
"""
from __future__ import annotations

import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Section, benchmark, machine_line  # noqa: E402

from stadl_plugins.safe_load import safe_pickle_load

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
STOCK9 = f'{REPO}/configs/baseline/slowonly_r18-tiny_9x3x1-15e_synthetic-rgb.py'
HST = f'{REPO}/configs/hstlstm/slowonly-hstlstm_r18-tiny_9x3x1-15e_synthetic-rgb.py'
VL = f'{REPO}/configs/videolstm/slowonly-videolstm_r18-tiny_8x2x1-15e_synthetic-rgb.py'


def _variants():
    """(name, config, neck overrides, clip frames): the stock detector on the same
    9-frame clip as HST-LSTM and the 8-frame clip of the VideoLSTM variants."""
    return [
        ('stock (no neck), 9 frames', STOCK9, {}, 9),
        ('HST-LSTM 1 layer', HST, dict(num_layers=1), None),
        ('HST-LSTM 2 layers', HST, {}, None),
        ('stock (no neck), 8 frames', STOCK9, {}, 8),
        ('ConvLSTM', VL, dict(attention='none'), None),
        ('ConvALSTM (appearance attention)', VL, dict(attention='appearance'), None),
        ('VideoLSTM (motion attention)', VL, {}, None),
    ]


@benchmark('recurrent_overhead')
def recurrent_overhead(quick: bool, out_dir: str) -> Section:
    from detector_cost import HEADER, cost_rows
    variants = _variants()
    rows = cost_rows(variants[:3], quick) + cost_rows(variants[3:], quick)
    return Section(
        title='Recurrent necks: forward time and training memory (tiny synthetic detector, CPU)',
        description=('`FastRCNN.predict` of the tiny SlowOnly-R18 synthetic detector '
                     '(120x160 clip, 2 proposals) with each neck, median wall time over '
                     'round-robin repeats; ratios to the stock detector on the same clip '
                     '(9 frames for HST-LSTM, 8 for the VideoLSTM family). Peak memory: '
                     'growth of the peak resident size during one training step (batch '
                     '2, loss + backward, one thread) in a fresh process. '
                     f'{machine_line()}.'),
        header=HEADER, rows=rows)


if __name__ == '__main__':
    quick = '--quick' in sys.argv
    print(recurrent_overhead(quick, '.').to_markdown())


# ----------------------------------------------------------------------------------
# VideoLSTM as a recognizer on video labels alone, and localization from its
# attention (paper B Tables 1-2 and Sec. 4 / Fig. 4).
RECOG = f'{REPO}/configs/videolstm/videolstm_r18-tiny_8x2x1-15e_synthetic-recognition-rgb.py'
RECOG_VARIANTS = [('ConvLSTM', 'none'), ('ConvALSTM (appearance attention)', 'appearance'),
                  ('VideoLSTM (motion attention)', 'motion')]


def _train_recognizer(attention, seed, epochs, work_dir):
    """tools/train.py on the recognition config; returns the final val top-1."""
    import subprocess
    done = os.path.join(work_dir, 'result.json')
    if not os.path.exists(done):
        os.makedirs(work_dir, exist_ok=True)
        cmd = [sys.executable, f'{REPO}/tools/train.py', RECOG, '--work-dir', work_dir,
               '--cfg-options', f'model.cls_head.attention={attention}',
               f'randomness.seed={seed}', f'train_cfg.max_epochs={epochs}',
               f'train_cfg.val_interval={epochs}', f'train_cfg.val_begin={epochs}',
               f'param_scheduler.0.T_max={epochs}', f'param_scheduler.0.end={epochs}',
               f'default_hooks.checkpoint.interval={epochs}']
        with open(os.path.join(work_dir, 'run.log'), 'w') as log:
            log.write(' '.join(cmd) + '\n')
            log.flush()
            subprocess.run(cmd, check=True, cwd=REPO, stdout=log, stderr=log,
                           env=dict(os.environ, OMP_NUM_THREADS='1'))
        scalars = [json.loads(line) for line in open(_find(work_dir, 'scalars.json'))]
        acc = [s['acc/top1'] for s in scalars if 'acc/top1' in s][-1]
        with open(done, 'w') as f:
            json.dump(dict(top1=acc, checkpoint=f'epoch_{epochs}.pth'), f)
    with open(done) as f:
        return json.load(f)


def _find(root, name):
    for d, _, files in os.walk(root):
        if name in files:
            return os.path.join(d, name)
    raise FileNotFoundError(f'{name} under {root}')


@benchmark('videolstm_recognition_localization')
def videolstm_recognition_localization(quick: bool, out_dir: str) -> Section:
    """Video-level accuracy of ConvLSTM/ConvALSTM/VideoLSTM recognizers trained on
    video labels, and video-mAP of the single attention tube per video."""

    import numpy as np

    from stadl_plugins.apis.attention_localization import AttentionLocalizer, localize_videos
    from stadl_plugins.evaluation.functional.video_ap import video_map
    epochs = 10 if quick else 30
    seeds = [0] if quick else [0, 1, 2]
    root = f'{REPO}/data/synthetic'
    with open(f'{root}/annotations/synthetic_gt.pkl', 'rb') as f:
        gt = safe_pickle_load(f)
    videos = gt['test_videos'][0]
    runs = os.path.join(out_dir, 'recognition_runs', f'e{epochs}')
    thrs = (0.1, 0.2, 0.3, 0.5)
    # seed-major, so an interrupted sweep has every head at the lower seeds
    results = {(a, s): _train_recognizer(a, s, epochs, os.path.join(runs, f'{a}_s{s}'))
               for s in seeds for _, a in RECOG_VARIANTS}
    rows = []
    for name, attention in RECOG_VARIANTS:
        accs, vmaps = [], []
        for s in seeds:
            wd = os.path.join(runs, f'{attention}_s{s}')
            res = results[(attention, s)]
            accs.append(100 * res['top1'])
            if attention == 'none':
                continue
            loc_file = os.path.join(wd, 'localization.json')
            if not os.path.exists(loc_file):
                from mmengine.config import Config
                cfg = Config.fromfile(RECOG)
                cfg.model.cls_head.attention = attention
                loc = AttentionLocalizer(cfg, os.path.join(wd, res['checkpoint']))
                tubes = localize_videos(loc, f'{root}/rawframes', videos,
                                        len(gt['labels']), gt['nframes'], progress=False)
                with open(loc_file, 'w') as f:
                    json.dump(video_map(gt, tubes, videos, thresholds=thrs, ranges=()), f)
            with open(loc_file) as f:
                vmaps.append(json.load(f))
        row = [name, f'{np.mean(accs):.1f} ± {np.std(accs):.1f}']
        for t in thrs:
            v = [m[f'v_map@{t:g}'] for m in vmaps]
            row.append(f'{np.mean(v):.1f} ± {np.std(v):.1f}' if v else '– (no attention)')
        rows.append(row)
    counts = {}
    from stadl_plugins.datasets.synthetic_recognition import most_frequent_actions
    for v, a in most_frequent_actions(f'{root}/annotations/val.csv').items():
        counts[a] = counts.get(a, 0) + 1
    chance = 100 * max(counts.values()) / sum(counts.values())
    return Section(
        title='VideoLSTM recognizers on video labels, and localization from attention',
        description=(
            'Recognizer3D (tiny SlowOnly-R18) + VideoLSTMHead trained on the synthetic '
            'videos labelled by their most frequent action '
            f'({epochs} epochs, RMSprop lr 1e-3 cosine, seeds {seeds}; '
            '`python tools/train.py configs/videolstm/videolstm_r18-tiny_8x2x1-15e_'
            'synthetic-recognition-rgb.py --cfg-options model.cls_head.attention=X '
            f'randomness.seed=S train_cfg.max_epochs={epochs} ...`). Top-1 on the '
            f'{sum(counts.values())} val videos (3 clips each; majority class '
            f'{chance:.1f} %). Localization: `tools/analysis/attention_localization.py` '
            '(one tube per video from the attention maps, threshold 100/255, scored by '
            'frame-averaged class probability) against the ACT-format GT of the val '
            'videos; video-mAP (%) at tube IoU 0.1/0.2/0.3/0.5. The GT videos hold '
            'several actors and actions, so one whole-video tube can match at most one.'),
        header=['head', 'video top-1 %'] + [f'v-mAP@{t}' for t in thrs],
        rows=rows)
