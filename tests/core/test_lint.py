"""Lint (ruff: pyflakes + isort, pyproject.toml) is part of the suite, so `.ci/run`
and the README's test command run it."""
import os.path as osp
import shutil
import subprocess
import sys

from helpers import REPO


def _ruff():
    exe = osp.join(osp.dirname(sys.executable), 'ruff')
    return exe if osp.exists(exe) else shutil.which('ruff')


def test_ruff_is_clean():
    ruff = _ruff()
    assert ruff, 'ruff is missing: bash tools/install.sh --test installs it'
    res = subprocess.run([ruff, 'check', '--no-cache', '.'], cwd=REPO,
                         capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stdout[-5000:] + res.stderr[-2000:]
