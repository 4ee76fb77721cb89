"""Every command-line option of every tool has a help string, and ``--help`` works.

The scripts are every ``tools/**/*.py`` that uses argparse, and ``benchmarks/run.py``.
Each parser is captured as the script builds it (``helpers.capture_parser``: the
script runs as ``__main__`` with ``ArgumentParser.parse_known_args`` replaced by a
spy that records the parser and stops the script there, so no job starts and it
does not matter whether the script exposes its parser). Sub-command parsers
(``tools/analysis/visualize.py flow ...``) are walked too. ``--help`` is checked in
this process (fast) and, as a user types it, in a fresh interpreter (``slow``: one
interpreter start-up per script).
"""
import argparse
import contextlib
import glob
import io
import os.path as osp
import runpy
import subprocess
import sys

import pytest
from helpers import REPO, capture_parser


def _uses_argparse(path):
    with open(path, encoding='utf-8') as f:
        return 'argparse' in f.read()


SCRIPTS = sorted(osp.relpath(p, REPO) for p in glob.glob(osp.join(REPO, 'tools', '**', '*.py'),
                                                         recursive=True)
                 if _uses_argparse(p)) + ['benchmarks/run.py']


@contextlib.contextmanager
def _script_argv(script, argv):
    old_argv, old_path = sys.argv, list(sys.path)
    sys.argv = [osp.join(REPO, script)] + list(argv)
    sys.path.insert(0, osp.dirname(osp.join(REPO, script)))  # as `python script` does
    try:
        yield
    finally:
        sys.argv, sys.path[:] = old_argv, old_path


def walk(parser, name):
    """(command name, action) for every action of ``parser`` and its sub-commands."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            helps = {a.dest: a.help for a in action._choices_actions}
            for cmd, sub in action.choices.items():
                yield f'{name} {cmd}', argparse.Action([cmd], cmd, help=helps.get(cmd))
                yield from walk(sub, f'{name} {cmd}')
        else:
            yield name, action


def undocumented(parser, name):
    return [f'{cmd}: {"/".join(a.option_strings) or a.dest}' for cmd, a in walk(parser, name)
            if not (a.help and a.help.strip()) or a.help == argparse.SUPPRESS]


def test_the_scripts_are_found():
    assert {'tools/train.py', 'tools/test.py', 'tools/analysis/visualize.py',
            'benchmarks/run.py'} <= set(SCRIPTS)
    assert len(SCRIPTS) >= 15, SCRIPTS


@pytest.mark.parametrize('script', SCRIPTS)
def test_every_option_has_help(script):
    parser = capture_parser(script)
    actions = list(walk(parser, script))
    assert len(actions) > 1  # more than -h
    assert not undocumented(parser, script), undocumented(parser, script)


@pytest.mark.parametrize('script', SCRIPTS)
def test_help_exits_0(script):
    out = io.StringIO()
    with _script_argv(script, ['--help']), contextlib.redirect_stdout(out), \
            pytest.raises(SystemExit) as exc:
        runpy.run_path(osp.join(REPO, script), run_name='__main__')
    assert exc.value.code in (0, None)
    assert out.getvalue().startswith('usage:'), out.getvalue()[:200]


def test_the_check_sees_a_missing_help():
    p = argparse.ArgumentParser()
    p.add_argument('--fine', help='documented')
    p.add_argument('--bare')
    sub = p.add_subparsers().add_parser('cmd', help='a command')
    sub.add_argument('x', help='  ')
    assert undocumented(p, 'prog') == ['prog: --bare', 'prog cmd: x']


@pytest.mark.slow
def test_help_exits_0_in_a_fresh_interpreter():
    procs = {s: subprocess.Popen([sys.executable, s, '--help'], cwd=REPO,
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for s in SCRIPTS}
    bad = {}
    for script, proc in procs.items():
        out, err = proc.communicate(timeout=600)
        if proc.returncode != 0 or not out.startswith('usage:'):
            bad[script] = (proc.returncode, err[-500:])
    assert not bad, bad
