"""benchmarks/gpu_check.py, the CPU half: every correctness and mixed-precision row
runs (tiny shapes) and passes, and the JSON says so. The CUDA half is the same code
with ``--device cuda`` (benchmarks/gpu_check.sh)."""
import json
import os.path as osp
import subprocess
import sys

from helpers import REPO


def test_gpu_check_cpu_half_passes_and_writes_json(tmp_path):
    out = tmp_path / 'gpu_check.json'
    cmd = [sys.executable, osp.join(REPO, 'benchmarks', 'gpu_check.py'), '--device', 'cpu',
           '--tiny', '--json', str(out), '--reps', '1', '--warmup', '0',
           '--pwc-sizes', '64x64', '--det-size', '64']
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO, timeout=600,
                          env={**__import__('os').environ, 'OMP_NUM_THREADS': '1'})
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    report = json.loads(out.read_text())
    assert report['ok'] is True and report['device'] == 'cpu'
    rows = report['rows']
    names = {r['name'] for r in rows}
    for module in ('cost volume', 'warp', 'PWCNet (small, random)', 'ATR head',
                   'HST-LSTM neck', 'ConvALSTM neck', 'RecLNet (2 streams)'):
        for kind in ('forward fp32', 'backward fp32', 'fwd+bwd autocast bfloat16'):
            assert f'{module} {kind}' in names, (module, kind)
    assert 'PWCNet reference noise64x64 fp32' in names
    checks = [r for r in rows if r['section'] != 'speed']
    assert checks and all(r['ok'] is True for r in checks)
    assert all(r['value'] <= r['tol'] for r in checks)
    speed = {r['name']: r for r in rows if r['section'] == 'speed'}
    assert speed['PWCNet 64x64 fp32']['value'] > 0
    assert any('FPS' in n and speed[n]['value'] for n in speed)
    # the table is printed once
    assert proc.stdout.count('section      | check') == 1
