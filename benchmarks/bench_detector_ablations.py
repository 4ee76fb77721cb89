"""Detector ablations on the synthetic benchmark: PWC-Net flow (issue 4) and the
recurrent necks (issue 5), 3 training seeds each, same short schedule for every row.

Every run is ``python tools/quickstart.py --config CONFIG --seed S --cfg-options ...``
(train on the synthetic train split, AVAMetric frame-mAP@0.5 and per-class AP on
val); finished runs keep their ``summary.json`` and are not run again, so an
interrupted sweep resumes where it stopped.

    python benchmarks/bench_detector_ablations.py [--epochs 5] [--workers 2]
    python benchmarks/run.py --only flow_detector_ablation recurrent_detector_ablation

The first command runs all missing runs, table by table (flow, then recurrent),
seed-major within a table (every row gets seed 0 before any row gets seed 1), ``--workers`` processes side by side with one
torch thread each; the second writes the report sections from the finished runs
(running any that are missing, one at a time).
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
from harness import Section, benchmark

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
STOCK4 = 'configs/baseline/slowonly_r18-tiny_4x2x1-15e_synthetic-rgb.py'
PWCNECK = 'configs/pwc_flow/slowonly-pwcneck_r18-tiny_4x2x1-15e_synthetic-rgb.py'
TWO_STREAM = 'configs/pwc_flow/pwc-two-stream_r18-tiny_3x2x1-15e_synthetic-rgb.py'
STOCK9 = 'configs/baseline/slowonly_r18-tiny_9x3x1-15e_synthetic-rgb.py'
HST = 'configs/hstlstm/slowonly-hstlstm_r18-tiny_9x3x1-15e_synthetic-rgb.py'
VLSTM = 'configs/videolstm/slowonly-videolstm_r18-tiny_8x2x1-15e_synthetic-rgb.py'

# (row name, short name, config, extra --cfg-options)
FLOW_ROWS = [
    ('stock SlowOnly FastRCNN (4x2x1)', 'stock4', STOCK4, []),
    ('+ PWCFlowNeck M-Concat', 'pwc_concat', PWCNECK, ['model.neck.fusion=concat']),
    ('+ PWCFlowNeck M-Sum', 'pwc_sum', PWCNECK, ['model.neck.fusion=sum']),
    ('+ PWCFlowNeck M-Average', 'pwc_average', PWCNECK, ['model.neck.fusion=average']),
    ('+ PWCFlowNeck STFP', 'pwc_stfp', PWCNECK, ['model.neck.fusion=stfp']),
    ('integrated two-stream (PWCNet + shared backbone, 3x2x1)', 'two_stream',
     TWO_STREAM, []),
]
RECURRENT_ROWS = [
    ('stock SlowOnly FastRCNN (9x3x1)', 'stock9', STOCK9, []),
    ('+ HST-LSTM 1 layer', 'hst1', HST, ['model.neck.num_layers=1']),
    ('+ HST-LSTM 2 layers', 'hst2', HST, ['model.neck.num_layers=2']),
    ('+ ConvLSTM (8x2x1)', 'convlstm', VLSTM, ['model.neck.attention=none']),
    ('+ ConvALSTM, appearance attention (8x2x1)', 'convalstm', VLSTM,
     ['model.neck.attention=appearance']),
    ('+ VideoLSTM, motion attention (8x2x1)', 'videolstm', VLSTM,
     ['model.neck.attention=motion']),
]
SEEDS = (0, 1, 2)
MOTION = ('spin', 'jump', 'wave', 'walk')     # defined by how the actor moves
STATIC = ('stand', )
OUTSIDE = ('carry', 'talk_to')                # evidence outside the actor box


def schedule_options(epochs: int) -> list[str]:
    """--cfg-options that shorten the quickstart schedule to ``epochs`` (cosine
    annealed over the same number of epochs, one validation at the end)."""
    return [f'train_cfg.max_epochs={epochs}', f'train_cfg.val_begin={epochs + 1}',
            f'train_cfg.val_interval={epochs}', f'param_scheduler.1.T_max={epochs}',
            f'param_scheduler.1.end={epochs}', 'default_hooks.checkpoint.interval=-1']


def runs_dir(epochs: int) -> str:
    return os.path.join(REPO, 'benchmarks', 'results', 'ablation_runs', f'e{epochs}')


def run_one(short, config, extra, seed, epochs, threads=None):
    """Train + test one row for one seed (skipped when its summary exists)."""
    work_dir = os.path.join(runs_dir(epochs), f'{short}_s{seed}')
    summary = os.path.join(work_dir, 'summary.json')
    _wait_for_running(work_dir)
    if not os.path.exists(summary):
        os.makedirs(work_dir, exist_ok=True)
        cmd = [sys.executable, os.path.join(REPO, 'tools', 'quickstart.py'), '--config',
               os.path.join(REPO, config), '--seed', str(seed), '--work-dir', work_dir,
               '--data-root', os.path.join(REPO, 'data', 'synthetic'), '--cfg-options'
               ] + schedule_options(epochs) + extra
        env = dict(os.environ)
        if threads:
            env.update(OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads))
        t = time.time()
        with open(os.path.join(work_dir, 'run.log'), 'w') as log:
            log.write(' '.join(cmd) + '\n')
            log.flush()
            proc = subprocess.Popen(cmd, cwd=REPO, stdout=log, stderr=log, env=env)
            with open(os.path.join(work_dir, 'pid'), 'w') as f:
                f.write(str(proc.pid))
            if proc.wait():
                raise subprocess.CalledProcessError(proc.returncode, cmd)
        print(f'[ablation] {short} seed {seed}: {time.time() - t:.0f} s', flush=True)
    with open(summary) as f:
        return json.load(f)


def _wait_for_running(work_dir):
    """If another sweep is training this run right now (its pid file names a live
    process), wait for it instead of starting the same run twice."""
    pid_file = os.path.join(work_dir, 'pid')
    if not os.path.exists(pid_file):
        return
    with open(pid_file) as f:
        pid = int(f.read().strip() or 0)
    while pid and os.path.exists(f'/proc/{pid}') and \
            not os.path.exists(os.path.join(work_dir, 'summary.json')):
        time.sleep(10)


def _ms(values, scale=1.0):
    v = np.asarray(values, float) * scale
    return f'{np.nanmean(v):.3f} ± {np.nanstd(v):.3f}'


def _section(title, rows, epochs, quick, out_dir, plot_name, what):
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    seeds = SEEDS[:1] if quick else SEEDS
    res = {name: [run_one(short, cfg, extra, s, epochs) for s in seeds]
           for name, short, cfg, extra in rows}
    classes = list(next(iter(res.values()))[0]['per_class_AP'])
    header = ['model', 'frame-mAP', 'motion classes (spin, jump, wave, walk)',
              'outside-box (carry, talk_to)', 'train s/run'] + classes
    table = []
    for name, runs in res.items():
        group = lambda cs: [np.nanmean([r['per_class_AP'].get(c, np.nan) for c in cs]) for r in runs]  # noqa
        table.append([name, _ms([r['frame_mAP'] for r in runs]), _ms(group(MOTION)),
                      _ms(group(OUTSIDE)),
                      f"{np.mean([r['seconds']['train'] for r in runs]):.0f}"] +
                     [_ms([r['per_class_AP'].get(c, np.nan) for r in runs]) for c in classes])
    first = next(iter(res.values()))
    table.append(['random scores (same boxes)',
                  _ms([r['random_scores_frame_mAP'] for r in first]), '', '', ''] +
                 [''] * len(classes))
    fig, ax = plt.subplots(figsize=(10, 3.6))
    w = 0.8 / len(res)
    xs = np.arange(len(classes) + 1)
    for i, (name, runs) in enumerate(res.items()):
        vals = np.array([[r['frame_mAP']] + [r['per_class_AP'].get(c, np.nan) for c in classes]
                         for r in runs], float)
        ax.bar(xs + (i - (len(res) - 1) / 2) * w, np.nanmean(vals, 0), w,
               yerr=np.nanstd(vals, 0), label=name, capsize=2)
    ax.set_xticks(xs, ['frame-mAP'] + classes)
    ax.set_ylabel('AP@0.5 (mean ± std over seeds)')
    ax.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    fig.savefig(os.path.join(out_dir, plot_name), dpi=100)
    plt.close(fig)
    return Section(
        title,
        f'{what} Tiny detectors trained from scratch on the synthetic benchmark (data '
        f'seed 0) for {epochs} epochs (the quickstart recipe, cosine over {epochs} '
        f'epochs), training seeds {list(seeds)}; frame-mAP@0.5 with AVAMetric on the '
        'val split, mean ± std over seeds. Each run is `python tools/quickstart.py '
        '--config CONFIG --seed S --cfg-options ...` (the exact command heads '
        f'`benchmarks/results/ablation_runs/e{epochs}/<row>_s<seed>/run.log`, kept '
        'locally, not committed; the committed summary.json holds the numbers); '
        '"train s/run" was measured with two runs sharing the 2 cores, one thread each.',
        header, table, plots=[plot_name])


@benchmark('flow_detector_ablation')
def flow_detector_ablation(quick: bool, out_dir: str, epochs: int = 5) -> Section:
    """Stock detector vs + PWCFlowNeck (each fusion) vs the integrated two-stream."""
    return _section('PWC-Net flow in the detector (synthetic benchmark)', FLOW_ROWS,
                    epochs, quick, out_dir, 'flow_detector_ablation.png',
                    'Motion between adjacent feature slices (PWCFlowNeck, four fusions) '
                    'and the paper\'s integrated two-stream model against the stock '
                    'detector with the same backbone.')


@benchmark('recurrent_detector_ablation')
def recurrent_detector_ablation(quick: bool, out_dir: str, epochs: int = 5) -> Section:
    """Stock vs HST-LSTM 1/2 layers; ConvLSTM vs ConvALSTM vs VideoLSTM necks."""
    return _section('Recurrent necks in the detector (synthetic benchmark)',
                    RECURRENT_ROWS, epochs, quick, out_dir,
                    'recurrent_detector_ablation.png',
                    'HST-LSTM (paper A Tables 3-4: stock vs 1 vs 2 layers, same 9x3x1 '
                    'clip) and VideoLSTM (paper B Tables 1-2: ConvLSTM vs ConvALSTM vs '
                    'motion attention, same 8x2x1 clip) necks on the stock detector.')


def main(argv=None):
    p = argparse.ArgumentParser(description='run all missing ablation runs')
    p.add_argument('--epochs', type=int, default=5)
    p.add_argument('--workers', type=int, default=2)
    p.add_argument('--seeds', type=int, nargs='+', default=list(SEEDS))
    p.add_argument('--rows', nargs='+', help='short names to run (default: all)')
    a = p.parse_args(argv)
    # table by table (flow, then recurrent), seed-major within a table
    jobs = [(short, cfg, extra, s) for rows in (FLOW_ROWS, RECURRENT_ROWS)
            for s in a.seeds for _, short, cfg, extra in rows
            if not a.rows or short in a.rows]
    with ThreadPoolExecutor(a.workers) as pool:
        futures = [pool.submit(run_one, *j, a.epochs, 1) for j in jobs]
        for f in futures:
            f.result()


if __name__ == '__main__':
    main()
