"""Leaderboard CSV: writer, validator (each error names file:line), and the CLIs."""
import os.path as osp
import pickle
import subprocess
import sys

import numpy as np
import pytest
import torch
from helpers import REPO, shared

from stadl_plugins.evaluation import (
    SubmissionError,
    detection_rows,
    validate_ava_submission,
    write_submission,
)

GOOD = 'vid_a,0902,0.1000,0.2000,0.5000,0.9000,12,0.873000\n'


def _label_map(tmp_path):
    p = tmp_path / 'labels.pbtxt'
    p.write_text(''.join(f'item {{\n  name: "a{i}"\n  id: {i}\n}}\n' for i in (1, 12, 80)))
    return str(p)


@pytest.mark.parametrize('bad,match', [
    ('video_id,timestamp,x1,y1,x2,y2,action_id,score\n', 'header'),
    ('vid_a,0902,0.1,0.2,0.5,0.9,12\n', 'expected 8 columns'),
    ('vid_a,09.5,0.1,0.2,0.5,0.9,12,0.5\n', 'not an integer second'),
    ('vid_a,0902,0.1,0.2,abc,0.9,12,0.5\n', 'non-numeric'),
    ('vid_a,0902,0.1,0.2,1.5,0.9,12,0.5\n', r'not normalised to \[0, 1\]'),
    ('vid_a,0902,0.5,0.2,0.5,0.9,12,0.5\n', 'x1 >= x2'),
    ('vid_a,0902,0.1,0.2,0.6,0.9,12,nan\n', 'not finite'),
    ('vid_a,0902,0.1,0.2,0.5,0.9,13,0.5\n', 'not in the label map'),
    ('vid_a,0901,0.1,0.2,0.5,0.9,12,0.5\n', 'outside 902-1798'),
    ('vid_z,0902,0.1,0.2,0.5,0.9,12,0.5\n', 'not in the evaluated set'),
])
def test_validator_rejects_with_file_and_line(tmp_path, bad, match):
    f = tmp_path / 'sub.csv'
    f.write_text(GOOD + bad if 'header' not in match else bad + GOOD)
    line = 1 if 'header' in match else 2
    with pytest.raises(SubmissionError, match=match) as exc:
        validate_ava_submission(str(f), _label_map(tmp_path), timestamp_range=(902, 1798),
                                videos=['vid_a', 'vid_b'])
    assert f'{f}:{line}:' in str(exc.value)
    assert str(exc.value).startswith('1 problem(s)')


def test_validator_reports_every_problem_with_its_line(tmp_path):
    f = tmp_path / 'sub.csv'
    rows = [('vid_a', 902, 0.1, 0.1, 0.5, 0.5 + i / 1000, 12, 0.5) for i in range(51)]
    write_submission(rows, str(f))
    text = f.read_text()
    f.write_text(text + text.splitlines()[0] + '\n'  # a duplicate row
                 + 'vid_c,0903,0.1,0.1,0.5,0.5,12,0.5\n'  # an unexpected keyframe
                 + 'vid_a,0902,0.1,0.1,0.5,0.5,99,0.5\n')  # an unknown action
    rep = validate_ava_submission(str(f), _label_map(tmp_path),
                                  expected_keys=[('vid_a', 902), ('vid_b', 905)],
                                  raise_on_error=False)
    errs = '\n'.join(rep.errors)
    assert len(rep.errors) == 4, errs
    assert f'{f}:52: duplicate of line 1' in errs
    assert f'{f}:53: keyframe vid_c,903 is not an expected keyframe' in errs
    assert f'{f}:54: action id 99 is not in the label map' in errs
    assert 'keyframe vid_a,902 has 53 rows' in errs
    assert any('1 expected keyframes have no detection' in w for w in rep.warnings)
    with pytest.raises(SubmissionError, match='4 problem'):
        validate_ava_submission(str(f), _label_map(tmp_path),
                                expected_keys=[('vid_a', 902), ('vid_b', 905)])
    (tmp_path / 'empty.csv').write_text('')
    with pytest.raises(SubmissionError, match='no detections'):
        validate_ava_submission(str(tmp_path / 'empty.csv'))


def test_detection_rows_cap_labels_and_custom_classes():
    scores = np.zeros((3, 4), np.float32)
    scores[:, 1:] = [[0.9, 0.001, 0.5], [0.2, 0.3, 0.4], [0.6, 0.7, 0.0]]
    s = dict(video_id='v', timestamp=903, pred_instances=dict(
        bboxes=torch.tensor([[0, 0, .5, .5], [.1, .1, .6, .6], [.2, .2, 1.2, .9]]),
        scores=torch.tensor(scores)))
    rows = detection_rows([s], num_classes=4, custom_classes=[1, 12, 80])
    assert {r[6] for r in rows} == {1, 12, 80}
    assert len(rows) == 7  # 0.001 and 0.0 are below action_thr
    assert max(r[4] for r in rows) <= 1.0  # boxes clipped to the frame
    assert len(detection_rows([s], num_classes=4, max_per_keyframe=3)) == 3
    top = detection_rows([s], num_classes=4, max_per_keyframe=3)
    assert sorted(r[7] for r in top) == pytest.approx([0.6, 0.7, 0.9])
    assert {r[6] for r in detection_rows([s], num_classes=4, label_ids={3})} == {3}


def _run(*args):
    return subprocess.run([sys.executable, *args], cwd=REPO, capture_output=True,
                          text=True, timeout=300)


def test_cli_make_validate_and_eval_dump(tmp_path):
    d = shared('ava_sample')
    rng = np.random.default_rng(0)
    from test_frame_ap import _random_samples
    samples = _random_samples(f'{d}/ava_sample.csv', rng, num_classes=81)
    dump = tmp_path / 'preds.pkl'
    pickle.dump(samples, open(dump, 'wb'))
    out = tmp_path / 'sub.csv'
    r = _run('tools/submission/make_ava_submission.py', str(dump), str(out),
             '--label-map', f'{d}/action_list.txt')
    assert r.returncode == 0, r.stderr
    assert 'rows' in r.stdout and out.exists()
    r = _run('tools/submission/validate_ava_submission.py', str(out),
             '--label-map', f'{d}/action_list.txt')
    assert r.returncode == 0 and r.stdout.startswith('valid')
    bad = tmp_path / 'bad.csv'
    bad.write_text(out.read_text() + 'x,1,2\n')
    r = _run('tools/submission/validate_ava_submission.py', str(bad))
    assert r.returncode == 1 and 'expected 8 columns' in r.stderr

    cfg = tmp_path / 'eval_cfg.py'
    cfg.write_text(
        "default_scope = 'mmaction'\n"
        f"test_evaluator = dict(type='AVAMetric', ann_file='{d}/ava_sample.csv', "
        f"exclude_file='{d}/ava_excluded_timestamps_sample.csv', "
        f"label_file='{d}/action_list.txt')\n")
    r2 = _run('tools/analysis/eval_dump.py', str(dump), str(cfg), '--metric',
              'AVAFrameAPMetric', '--out', str(tmp_path / 'res.json'))
    r3 = _run('tools/analysis/eval_dump.py', str(dump), str(cfg), '--metric',
              'AVAFrameAPMetric', '--options', 'protocol=activitynet')
    assert r2.returncode == r3.returncode == 0, r2.stderr + r3.stderr
    val = lambda out, key: float([ln.split()[-1] for ln in out.splitlines()  # noqa
                                  if ln.startswith(key + ' ')][0])
    from stadl_plugins.evaluation import evaluate_samples
    stock = evaluate_samples(samples, dict(
        type='AVAMetric', ann_file=f'{d}/ava_sample.csv', label_file=f'{d}/action_list.txt',
        exclude_file=f'{d}/ava_excluded_timestamps_sample.csv'))
    assert val(r2.stdout, 'overall') == pytest.approx(stock['overall'], abs=1e-4)
    assert val(r3.stdout, 'overall') != pytest.approx(stock['overall'], abs=1e-4)
    assert 'per_class/' in r2.stdout
    assert osp.exists(tmp_path / 'res.json')


@pytest.mark.slow
def test_end_to_end_model_to_submission_to_evaluator(tiny_synthetic, tmp_path):
    """Trained-for-real model -> inference -> in-memory metric and submission CSV
    -> validator passes -> the CSV evaluated offline equals the in-memory metric."""
    from helpers import tiny_runner_config
    from mmengine.runner import Runner

    from stadl_plugins.evaluation.submission import evaluate_submission
    root, meta = tiny_synthetic
    cfg = tiny_runner_config(root, meta, tmp_path)
    ev = cfg.test_evaluator
    out = tmp_path / 'sub.csv'
    cfg.test_evaluator = dict(type='AVAFrameAPMetric', ann_file=ev.ann_file,
                              exclude_file=ev.exclude_file, label_file=ev.label_file,
                              protocol='activitynet', outfile=str(out), zip_file=True)
    runner = Runner.from_cfg(cfg)
    runner.train()
    metrics = runner.test()
    keys = [(d['video_id'], d['timestamp'])
            for d in (runner.test_dataloader.dataset.get_data_info(i)
                      for i in range(len(runner.test_dataloader.dataset)))]
    rep = validate_ava_submission(str(out), ev.label_file, expected_keys=keys)
    assert rep.num_rows == metrics['mAP/submission_rows'] > 0
    assert osp.exists(str(out) + '.zip')
    offline = evaluate_submission(str(out), ev.ann_file, ev.label_file, ev.exclude_file)
    assert offline['mAP'] == metrics['mAP/overall']
    for g in ('person_movement', 'object_manipulation', 'person_interaction'):
        assert offline[g] == pytest.approx(metrics[f'mAP/{g}'], nan_ok=True, abs=0)
