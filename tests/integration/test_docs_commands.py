"""Every shell command in README.md and docs/*.md works as written, or says why not.

Commands are taken from the fenced code blocks: every line of a ``bash`` / ``sh`` /
``shell`` / ``console`` block (backslash continuations joined, ``# comments`` and
``VAR=value`` prefixes dropped, ``a && b`` split) and the lines of unlabelled blocks
whose program is one (``python``, ``mim``, ``bash``, ``tools/*.sh``...), through
the wrappers ``nice``, ``py-spy record ... --`` and ``torchrun``. Each one is

(b) **parsed as written**: the script (or ``python -m`` module) exists, and its own
    argparse parser, captured without running the job (``helpers.capture_parser``),
    accepts the documented arguments -- in every variant of a synopsis (``[...]``
    groups all in, all out, each ``a | b`` alternative in turn; placeholders such as
    ``N`` / ``T`` given a value where the option is typed); the shell wrappers
    (``tools/dist_*.sh``, ``tools/slurm_*.sh``, ``benchmarks/gpu_check.sh``) are
    followed to the Python tool they run with the arguments they pass, and
    ``mim train/test PKG`` is parsed by mim's own click command and followed to
    PKG's ``tools/train.py`` / ``test.py``; ``configs/*.py`` arguments must exist;
(a) and, where a test runs it in a tiny-size variant, listed in ``EXECUTED``
    (pattern -> test id; the test must exist); or
(c) listed in ``ALLOWED`` with the reason it is not run or parsed here (installs
    packages, is the test suite itself).

A command that is neither parsed nor allowed fails the test, as does one that names
a missing script, module or config, or an option its tool does not accept. Inline
code spans that start like a command (``python tools/...``, ``mim train ...``) are
fragments, so there the script must exist and each ``--option`` in it must be one
the tool accepts.
"""
import argparse
import ast
import functools
import glob
import importlib
import importlib.util
import os.path as osp
import re
import shlex
from dataclasses import dataclass, field

import pytest
from helpers import REPO, capture_parser

DOCS = ['README.md'] + sorted(osp.relpath(p, REPO) for p in glob.glob(osp.join(REPO, 'docs',
                                                                            '*.md')))
SHELL_LANGS = {'bash', 'sh', 'shell', 'console', 'zsh'}
PYTHONS = {'python', 'python3', '.venv/bin/python'}

# (a) commands a test runs in a tiny-size variant: pattern (re.search on the command
# as written) -> the test that runs it
EXECUTED = {
    r'^tools/dist_train\.sh CONFIG 2\b':
        'tests/engine/test_distributed.py::test_two_process_cpu_training_matches_one_process',
    r'^tools/dist_test\.sh +CONFIG CKPT 8 \[?--dump':
        'tests/engine/test_distributed.py::test_distributed_test_even_count_with_dist_test_sh',
    r'^mim train stadl_plugins CONFIG --launcher pytorch --gpus':
        'tests/engine/test_distributed.py::test_a_dead_or_stuck_rank_fails_the_job',
    r'^mim (train|test) stadl_plugins (my_config\.py|CONFIG) (--checkpoint CKPT )?--gpus [01]$':
        'tests/integration/test_tools.py::test_mim_train_and_test_stadl_plugins',
    r'^mim train mmaction (my_config\.py|CONFIG) --gpus [01]$':
        'tests/integration/test_tools.py::test_mim_train_mmaction_with_custom_imports',
    r'^python tools/test\.py CONFIG \S+ --show-dir':
        'tests/integration/test_overrides.py::test_train_max_epochs_1_validates_then_test_show_dir',
    r'^python tools/analysis/fuse_predictions\.py a\.pkl':
        'tests/evaluation/test_fusion.py::test_cli_writes_pickle_and_csv',
    r'^python tools/analysis/eval_dump\.py preds\.pkl CONFIG':
        'tests/evaluation/test_submission.py::test_cli_make_validate_and_eval_dump',
    r'^python tools/submission/(make|validate)_ava_submission\.py':
        'tests/evaluation/test_submission.py::test_cli_make_validate_and_eval_dump',
    r'^python tools/demo/stad_demo\.py \S*test_video_structuralize\.mp4':
        'tests/apis/test_demo.py::test_demo_on_the_gym_clip',
    r'^python tools/demo/stad_demo\.py VIDEO CONFIG CKPT --detector mmdet':
        'tests/apis/test_demo.py::test_demo_with_an_mmdet_detector',
    r'^python tools/convert/pwcnet_weights\.py \S+ \S+$':
        'tests/models/test_flow_pwcnet.py::test_cli_converts_and_output_loads_weights_only',
    r'^python tools/convert/i3d_weights\.py':
        'tests/models/test_reference_models.py::'
        'test_every_documented_i3d_conversion_works_as_written',
    r'^python tools/analysis/attention_localization\.py':
        'tests/localization/test_attention_localization_tool.py::'
        'test_tool_writes_tubes_the_video_map_evaluator_reads',
    r'^(nice -n 10 )?(\.venv/bin/)?python tools/reclnet/extract_track_features\.py':
        'tests/apis/test_track_feature_extraction.py::'
        'test_files_shapes_labels_and_direct_recomputation',
    r'^python tools/reclnet/localize\.py':
        'tests/integration/test_reclnet_localize.py::test_localize_cli_matches_the_steps_by_hand',
    r'^python tools/analysis/visualize\.py':
        'tests/visualization/test_visualization.py::test_cli_subcommands',
    r'^DEVICE=cpu bash benchmarks/gpu_check\.sh --tiny --no-speed':
        'tests/integration/test_gpu_check.py::test_gpu_check_cpu_half_passes_and_writes_json',
    r'^python benchmarks/run\.py --suite v2 .*--tiny':
        'tests/integration/test_suite_v2.py::test_tiny_suite_writes_the_summary_shape_and_resumes',
}

# (c) commands not run or parsed here, and why (re.search on the command as written)
ALLOWED = {
    r'^bash tools/install\.sh( --test)?$':
        'installs the whole stack into .venv (network; ~8 min the first time); its only '
        'option, --test, is checked against the script (test_install_sh_takes_what_the_docs_pass)',
    r'^\.venv/bin/pip install ':
        'installs packages from an index (network)',
    r'^python3 -m venv \.venv$':
        'creates the virtualenv the other commands run in',
    r'^\.venv/bin/python -m pytest tests$':
        'the whole test suite, this test included',
}

# shell wrappers: script -> (the line that runs the Python tool, its own positional
# arguments, the tool, how the tool's arguments are made from the wrapper's)
WRAPPERS = {
    'tools/dist_train.sh': ('"$ROOT/tools/train.py" "$CONFIG" --launcher pytorch "${@:3}"', 2,
                            'tools/train.py', lambda a: [a[0], '--launcher', 'pytorch'] + a[2:]),
    'tools/dist_test.sh': ('"$ROOT/tools/test.py" "$CONFIG" "$CHECKPOINT" --launcher pytorch '
                           '"${@:4}"', 3, 'tools/test.py',
                           lambda a: [a[0], a[1], '--launcher', 'pytorch'] + a[3:]),
    'tools/slurm_train.sh': ('"$ROOT/tools/train.py" "$CONFIG" --launcher=slurm "${@:4}"', 3,
                             'tools/train.py', lambda a: [a[2], '--launcher=slurm'] + a[3:]),
    'tools/slurm_test.sh': ('"$ROOT/tools/test.py" "$CONFIG" "$CHECKPOINT" --launcher=slurm '
                            '"${@:5}"', 4, 'tools/test.py',
                            lambda a: [a[2], a[3], '--launcher=slurm'] + a[4:]),
    'benchmarks/gpu_check.sh': ('benchmarks/gpu_check.py \\\n  --device "${DEVICE:-cuda}" "$@"', 0,
                                'benchmarks/gpu_check.py', lambda a: ['--device', 'cuda'] + a),
}
MIM_TOOLS = {'stadl_plugins': REPO,
             'mmaction': osp.join(osp.dirname(importlib.util.find_spec('mmaction').origin),
                                  '.mim')}


@dataclass
class Cmd:
    doc: str
    line: int
    text: str          # as written, continuations joined
    argv: list         # shell words, comments dropped
    inline: bool = False
    problems: list = field(default_factory=list)
    parsed: bool = False

    def __str__(self):
        return f'{self.doc}:{self.line}: {self.text}'


# ------------------------------------------------------------------ extraction
def _words(text):
    try:
        return shlex.split(text.replace('\\|', '|'), comments=True)
    except ValueError as exc:  # unbalanced quotes
        return [f'<shlex: {exc}>']


def _program(argv):
    """Index of the program word after ``VAR=value`` prefixes and wrappers, or None."""
    i = 0
    while i < len(argv) and re.fullmatch(r'[A-Z_][A-Z0-9_]*=\S*', argv[i]):
        i += 1
    if i < len(argv) and argv[i] == 'nice':
        i += 3 if argv[i + 1:i + 2] == ['-n'] else 1
    if i < len(argv) and argv[i] == 'py-spy':
        i = argv.index('--', i) + 1 if '--' in argv[i:] else len(argv)
    if i >= len(argv):
        return None
    w = argv[i]
    if (w in PYTHONS | {'mim', 'bash', 'sh', 'torchrun'} or w.endswith('/pip')
            or re.fullmatch(r'(tools|benchmarks)/\S+\.(sh|py)(\|\S+)?', w)):
        return i
    return None


def doc_commands():
    cmds = []
    for doc in DOCS:
        with open(osp.join(REPO, doc), encoding='utf-8') as f:
            text = f.read()
        for m in re.finditer(r'^```([\w-]*)[^\n]*\n(.*?)^```', text, flags=re.S | re.M):
            lang, block = m.group(1), m.group(2)
            if lang and lang not in SHELL_LANGS:
                continue
            first = text.count('\n', 0, m.start(2)) + 1
            lines = block.split('\n')
            n = 0
            while n < len(lines):
                start, joined = n, lines[n].rstrip()
                while joined.endswith('\\') and n + 1 < len(lines):
                    n += 1
                    joined = joined[:-1].rstrip() + ' ' + lines[n].strip()
                n += 1
                words = _words(joined)
                if not words:
                    continue  # blank or comment
                parts = [[]]
                for w in words:
                    parts.append([]) if w == '&&' else parts[-1].append(w)
                for argv in parts:
                    if lang or _program(argv) is not None:
                        cmds.append(Cmd(doc, first + start, ' '.join(argv), argv))
        prose = re.sub(r'^```.*?^```', lambda m: '\n' * m.group(0).count('\n'), text,
                       flags=re.S | re.M)
        for m in re.finditer(r'`([^`\n]+)`', prose):
            argv = _words(m.group(1))
            i = _program(argv)
            if i is not None and (i + 1 < len(argv) or argv[i].endswith(('.py', '.sh'))):
                cmds.append(Cmd(doc, prose.count('\n', 0, m.start()) + 1, ' '.join(argv),
                                argv, inline=True))
    return cmds


# ------------------------------------------------------------------ synopsis variants
def _tree(words):
    """Words -> nodes: str, ('opt', [alternatives]) for ``[...]``, ('alt', [words]) for
    ``a|b``; each alternative a node list."""
    toks, depth = [], 0
    for w in words:
        lead = len(w) - len(w.lstrip('['))
        core = w[lead:]
        depth += lead
        trail = min(depth, len(core) - len(core.rstrip(']')))
        core = core[:len(core) - trail] if trail else core
        depth -= trail
        toks += ['['] * lead + ([core] if core else []) + [']'] * trail

    def seq(i, stop):
        alts, cur = [], []
        while i < len(toks) and toks[i] not in stop:
            t = toks[i]
            if t == '|':
                alts.append(cur)
                cur = []
                i += 1
            elif t == '[':
                sub, i = seq(i + 1, {']'})
                cur.append(('opt', sub))
                i += 1
            elif t in ('...', '…'):
                i += 1
            elif '|' in t and not t.startswith('-'):
                cur.append(('alt', [[a] for a in t.split('|')]))
                i += 1
            else:
                cur.append(t)
                i += 1
        return alts + [cur], i

    alts, _ = seq(0, set())
    return alts[0] if len(alts) == 1 else [('alt', alts)]


def _has_option(nodes):
    return any(n.startswith('-') if isinstance(n, str) else
               any(_has_option(a) for a in n[1]) for n in nodes)


def variants(words):
    """The argument lists a synopsis stands for (see the module docstring)."""
    nodes = _tree(words)
    choices = []

    def index(ns):
        for n in ns:
            if not isinstance(n, str):
                choices.append(n)
                for a in n[1]:
                    index(a)
    index(nodes)

    def render(ns, pick):
        out = []
        for n in ns:
            if isinstance(n, str):
                out.append(n)
                continue
            k = pick.get(id(n), 0)
            if n[0] == 'opt' and (k < 0 or not _has_option(n[1][0])):
                continue  # left out, or prose such as [train.py args]
            out += render(n[1][k], pick)
        return out

    picks = [{}, {id(n): -1 for n in choices if n[0] == 'opt'}]
    picks += [{id(n): k} for n in choices for k in range(1, len(n[1]))]
    out = []
    for p in picks:
        v = render(nodes, p)
        if v not in out:
            out.append(v)
    return out


# ------------------------------------------------------------------ parsing
@functools.lru_cache(maxsize=None)
def parser_of(script=None, module=None):
    return capture_parser(script=script, module=module)


def _option_map(parser):
    opts = dict(parser._option_string_actions)
    for a in parser._actions:
        if isinstance(a, argparse._SubParsersAction):
            for sub in a.choices.values():
                opts.update(_option_map(sub))
    return opts


def fill_placeholders(parser, args):
    """``--det-score-thr T`` -> ``--det-score-thr 1`` where the option is typed (or has
    choices): the docs' placeholders stand for a value of the option's kind."""
    opts, out, action, left = _option_map(parser), [], None, 0
    for w in args:
        if w.startswith('-'):
            action = opts.get(w.split('=')[0])
            nargs = getattr(action, 'nargs', 0)
            left = 0 if action is None or '=' in w else (
                len(args) if nargs in ('*', '+') else 1 if nargs in (None, '?') else nargs)
        elif left > 0:
            left -= 1
            if re.fullmatch(r'[A-Z][A-Z0-9_]*|<[^>]+>', w):
                if action.choices:
                    w = str(list(action.choices)[0])
                elif action.type in (int, float):
                    w = '1'
        out.append(w)
    return out


def parse_with(parser, args):
    """None if ``parser`` takes ``args``, else argparse's message."""
    import contextlib
    import io
    err = io.StringIO()
    try:
        with contextlib.redirect_stderr(err):
            parser.parse_args(fill_placeholders(parser, args))
    except SystemExit as exc:
        return err.getvalue().strip().splitlines()[-1] if exc.code else 'exits early'
    return None


def _resolve(argv):
    """(kind, target, args): 'script' / 'module' / 'mim' / 'shell' / 'external'."""
    i = _program(argv)
    if i is None:
        return 'unknown', argv[0] if argv else '', argv[1:]
    w, rest = argv[i], argv[i + 1:]
    if w == 'torchrun':
        j = next((k for k, a in enumerate(rest) if a.endswith('.py')), None)
        return ('script', rest[j], rest[j + 1:]) if j is not None else ('unknown', w, rest)
    if w in PYTHONS:
        if rest[:1] == ['-m']:
            return 'module', rest[1], rest[2:]
        return ('script', rest[0], rest[1:]) if rest else ('external', w, [])
    if w in ('bash', 'sh'):
        return 'shell', rest[0], rest[1:]
    if w == 'mim':
        return 'mim', rest[0] if rest else '', rest[1:]
    if w.endswith('/pip'):
        return 'external', w, rest
    return ('shell' if w.endswith('.sh') else 'script'), w, rest


def _scripts(word):
    """``tools/train.py|test.py`` -> both paths."""
    first, *more = word.split('|')
    return [first] + [m if '/' in m else osp.join(osp.dirname(first), m) for m in more]


def check_script(cmd, script, args, target=None):
    label = target or script
    if not osp.isfile(osp.join(REPO, script)):
        cmd.problems.append(f'{label}: no such script')
        return
    with open(osp.join(REPO, script), encoding='utf-8') as f:
        source = f.read()
    if 'argparse' not in source:  # never run a script that would not stop at its parser:
        # its flags (sys.argv tests such as bench_reclnet.py --synthetic) must be in it
        words = [p.strip('[]') for w in args for p in w.split('|')]
        _known_options(cmd, {w for w in words if f"'{w}'" in source}, args, label)
        cmd.parsed = not [w for w in words if not w.startswith('-')]
        return
    if cmd.inline and not any(w.lstrip('[').startswith('-') for w in args):
        return  # a name in prose (`benchmarks/suite_v2.py`): existing is enough
    try:
        parser = parser_of(script=script)
    except (Exception, SystemExit) as exc:
        cmd.problems.append(f'{label}: its parser could not be read ({exc!r})')
        return
    if cmd.inline:
        _known_options(cmd, _option_map(parser), args, label)
        return
    for v in variants(args):
        msg = parse_with(parser, v)
        if msg:
            cmd.problems.append(f'{label} {" ".join(v)}: {msg}')
    cmd.parsed = True


def _known_options(cmd, opts, args, label):
    for w in args:
        for part in w.strip('[]').split('|'):
            opt = part.strip('[]').split('=')[0]
            if opt.startswith('--') and opt != '--' and opt not in opts:
                cmd.problems.append(f'{label}: unknown option {opt}')


def check_mim(cmd, sub, args):
    import click
    clis = {s: importlib.import_module(f'mim.commands.{s}').cli
            for s in ('train', 'test', 'download')}
    for s in sub.split('/'):
        if s not in clis:
            cmd.problems.append(f'mim {s}: not a mim command this test knows')
            continue
        if cmd.inline:
            opts = {o for p in clis[s].params for o in getattr(p, 'opts', [])}
            if s in ('train', 'test') and args[:1] and args[0] in MIM_TOOLS:
                opts |= set(_option_map(parser_of(
                    script=osp.join(MIM_TOOLS[args[0]], 'tools', f'{s}.py'))))
            _known_options(cmd, opts, args, f'mim {s}')
            continue
        for v in variants(args):
            try:
                ctx = clis[s].make_context(s, list(v))
            except click.ClickException as exc:
                cmd.problems.append(f'mim {s} {" ".join(v)}: {exc.format_message()}')
                continue
            p = ctx.params
            if s == 'download':
                cmd.parsed = True
                continue
            if p['package'] not in MIM_TOOLS:
                cmd.problems.append(f'mim {s} {p["package"]}: no tools/ for that package here')
                continue
            forwarded = [p['config']] + ([p['checkpoint']] if s == 'test' else [])
            forwarded += ['--launcher', p['launcher']] + list(p['other_args'])
            parser = parser_of(script=osp.join(MIM_TOOLS[p['package']], 'tools', f'{s}.py'))
            msg = parse_with(parser, forwarded)
            if msg:
                cmd.problems.append(f'mim {s} {" ".join(v)} -> tools/{s}.py: {msg}')
            cmd.parsed = True


def check(cmd):
    kind, target, args = _resolve(cmd.argv)
    for w in args:  # configs named literally must exist
        if (re.fullmatch(r'configs/[\w./-]+\.py', w) and '...' not in w
                and not osp.isfile(osp.join(REPO, w))):
            cmd.problems.append(f'{w}: no such config')
    if kind == 'script':
        for s in _scripts(target):
            check_script(cmd, s, args)
    elif kind == 'module':
        spec = importlib.util.find_spec(target)
        if spec is None:
            cmd.problems.append(f'python -m {target}: no such module')
        elif target.startswith('stadl_plugins.'):
            origin = spec.origin
            if spec.submodule_search_locations:  # a package: python -m runs its __main__
                origin = osp.join(spec.submodule_search_locations[0], '__main__.py')
            with open(origin, encoding='utf-8') as f:
                has_parser = 'argparse' in f.read()
            if not has_parser:  # never run a module that would not stop at its parser
                if args:
                    cmd.problems.append(f'python -m {target}: takes no arguments '
                                        '(no argparse parser)')
                cmd.parsed = not args
                return cmd
            parser = parser_of(module=target)
            if cmd.inline:
                _known_options(cmd, _option_map(parser), args, target)
            else:
                for v in variants(args):
                    msg = parse_with(parser, v)
                    if msg:
                        cmd.problems.append(f'python -m {target} {" ".join(v)}: {msg}')
                cmd.parsed = True
    elif kind == 'shell':
        if not osp.isfile(osp.join(REPO, target)):
            cmd.problems.append(f'{target}: no such script')
        elif target in WRAPPERS:
            _, own, tool, forward = WRAPPERS[target]
            for v in variants(args) if not cmd.inline else [args]:
                if len(v) < own:
                    cmd.problems.append(f'{target} {" ".join(v)}: takes {own} arguments '
                                        'before the tool\'s')
                    continue
                sub = Cmd(cmd.doc, cmd.line, cmd.text, [], cmd.inline)
                check_script(sub, tool, forward(v), target=f'{target} -> {tool}')
                cmd.problems += sub.problems
                cmd.parsed = sub.parsed
    elif kind == 'mim':
        check_mim(cmd, target, args)
    return cmd


@functools.lru_cache(maxsize=None)
def checked():
    return [check(c) for c in doc_commands()]


def _ids():
    return [f'{c.doc}:{c.line}' for c in checked()]


# ------------------------------------------------------------------ the tests
def test_commands_are_found():
    cmds = checked()
    fenced = [c for c in cmds if not c.inline]
    assert len(fenced) >= 60 and len({c.doc for c in fenced}) >= 10, [str(c) for c in fenced]
    texts = [c.text for c in fenced]
    for expected in ('tools/dist_train.sh CONFIG 8', 'python tools/reclnet/localize.py',
                     'mim download mmdet', 'python -m stadl_plugins.datasets.synthetic'):
        assert any(expected in t for t in texts), expected


def test_every_documented_command_names_real_scripts_and_options():
    bad = [f'{c}\n    ' + '\n    '.join(c.problems) for c in checked() if c.problems]
    assert not bad, '\n'.join(bad)


def test_every_documented_command_is_parsed_run_or_allowed():
    uncovered = []
    for c in checked():
        if c.inline or c.parsed:
            continue
        if not any(re.search(p, c.text) for p in ALLOWED):
            uncovered.append(str(c))
    assert not uncovered, ('neither parsed here nor in ALLOWED (add a reason, or a tool '
                           'this test can parse):\n' + '\n'.join(uncovered))


def _test_exists(test_id):
    path, name = test_id.split('::')
    if not osp.isfile(osp.join(REPO, path)):
        return False
    with open(osp.join(REPO, path), encoding='utf-8') as f:
        tree = ast.parse(f.read())
    return any(isinstance(n, ast.FunctionDef) and n.name == name for n in ast.walk(tree))


@pytest.mark.parametrize('pattern', list(EXECUTED))
def test_executed_commands_have_their_test(pattern):
    assert _test_exists(EXECUTED[pattern]), f'{EXECUTED[pattern]} does not exist'
    assert any(re.search(pattern, c.text) for c in checked()), \
        f'no documented command matches {pattern!r} any more'


@pytest.mark.parametrize('pattern', list(ALLOWED))
def test_allowed_commands_are_still_documented(pattern):
    assert any(re.search(pattern, c.text) for c in checked() if not c.inline), \
        f'no documented command matches {pattern!r} any more: drop it from ALLOWED'


@pytest.mark.parametrize('script', list(WRAPPERS))
def test_the_wrappers_run_the_tool_this_test_parses_with(script):
    with open(osp.join(REPO, script), encoding='utf-8') as f:
        text = f.read()
    assert WRAPPERS[script][0] in text, f'{script} no longer runs {WRAPPERS[script][2]} so'


def test_install_sh_takes_what_the_docs_pass():
    with open(osp.join(REPO, 'tools', 'install.sh'), encoding='utf-8') as f:
        text = f.read()
    assert '[[ "${1:-}" == "--test" ]]' in text
    for c in checked():
        kind, target, args = _resolve(c.argv)
        if target == 'tools/install.sh':
            assert args in ([], ['--test']), str(c)


def _problems(text, inline=False):
    return check(Cmd('x.md', 1, text, _words(text), inline)).problems


def test_the_check_catches_a_bogus_option_a_missing_script_and_a_bad_value():
    assert _problems('python tools/train.py CONFIG') == []
    assert 'unrecognized arguments: --bogus' in ' '.join(
        _problems('python tools/train.py CONFIG --bogus 1'))
    assert _problems('python tools/nope.py CONFIG') == ['tools/nope.py: no such script']
    assert 'invalid choice' in ' '.join(_problems('python tools/test.py C K --launcher ssh'))
    assert _problems('python tools/train.py configs/nope.py') == [
        'configs/nope.py: no such config']
    # a synopsis: every alternative is parsed, so a bad one is found
    assert 'unrecognized arguments: --no-such' in ' '.join(_problems(
        'python tools/demo/stad_demo.py V C K [--rate 1 | --no-such 2]'))
    assert _problems('python tools/demo/stad_demo.py V C K [--det-size 640 | --hog-upscale F]'
                     ' [--device cpu|cuda] [--det-score-thr T]') == []
    # wrappers and mim forward to the tool's parser
    assert 'tools/train.py' in ' '.join(_problems('tools/dist_train.sh CONFIG 8 --bogus'))
    assert 'unrecognized arguments: --bogus' in ' '.join(
        _problems('mim train stadl_plugins CONFIG --gpus 1 --bogus'))
    assert _problems('mim train stadl_plugins CONFIG --gpus 1 --launcher pytorch') == []
    assert _problems('python -m stadl_plugins.datasets.synthetic OUT --bogus', ) != []
    # inline fragments: options only
    assert _problems('python tools/test.py --dump preds.pkl', inline=True) == []
    assert _problems('tools/train.py|test.py --unsafe-load', inline=True) == []
    assert _problems('python tools/test.py --dumpp', inline=True) == [
        'tools/test.py: unknown option --dumpp']


def test_synopsis_variants():
    assert variants(['a', '[--x', '1]', '[--y', '2', '|', '--z]', '--d', 'cpu|cuda', '...']) == [
        ['a', '--x', '1', '--y', '2', '--d', 'cpu'],
        ['a', '--d', 'cpu'],
        ['a', '--x', '1', '--z', '--d', 'cpu'],
        ['a', '--x', '1', '--y', '2', '--d', 'cuda']]
    assert variants(['C', '8', '[train.py', 'args]']) == [['C', '8']]
    assert variants(['--cfg-options', 'imports=[stadl_plugins]']) == [
        ['--cfg-options', 'imports=[stadl_plugins]']]
