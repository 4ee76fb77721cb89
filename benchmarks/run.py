"""Run the registered benchmarks and write ``benchmarks/results/report.md``.

    python benchmarks/run.py                 # all benchmarks
    python benchmarks/run.py --only synthetic_generation --quick
    python benchmarks/run.py --suite v2 [--tiny] [--time-budget 2h] [--device cuda --scale 10]

Every ``benchmarks/bench_*.py`` module is imported and registers its benchmarks.
Each benchmark's section is kept in ``results/sections/<name>.md`` (with the
command, date and machine that measured it); ``report.md`` is rebuilt from all
sections, so running one benchmark does not erase the others. Ratios compare rows
measured side by side in the same run.
"""
import argparse
import datetime
import glob
import importlib
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

for _path in sorted(glob.glob(os.path.join(HERE, 'bench_*.py'))):
    importlib.import_module(os.path.basename(_path)[:-3])  # registers benchmarks

from harness import REGISTRY, machine_line  # noqa: E402


def build_report(out_dir: str) -> str:
    sec_dir = os.path.join(out_dir, 'sections')
    parts = ['# stadl_plugins benchmark report', '',
             'Each section says which command measured it, when and on what machine. '
             'Rebuild a section with `python benchmarks/run.py --only NAME`.', '']
    names = sorted(REGISTRY) + sorted(
        n[:-3] for n in os.listdir(sec_dir) if n.endswith('.md')
        and n[:-3] not in REGISTRY) if os.path.isdir(sec_dir) else []
    for name in names:
        path = os.path.join(sec_dir, f'{name}.md')
        if os.path.exists(path):
            with open(path) as f:
                parts.append(f.read())
    return '\n'.join(parts)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--only', nargs='+', choices=sorted(REGISTRY), metavar='NAME',
                   help=f'run only these benchmarks: {", ".join(sorted(REGISTRY))}')
    p.add_argument('--quick', action='store_true', help='fewer repeats')
    p.add_argument('--report-only', action='store_true',
                   help='only rebuild OUT/report.md from OUT/sections/*.md (the '
                   'committed sections; report.md itself is not committed)')
    p.add_argument('--out', default=os.path.join(HERE, 'results'),
                   help='results folder (default: benchmarks/results)')
    p.add_argument('--suite', choices=('v2',), default=None,
                   help='v2: the benchmark-v2 suite (benchmarks/suite_v2.py) into '
                   'OUT/v2: data, pretraining, feature cache, summary.json')
    import suite_v2  # noqa: E402  (benchmark v2 options)
    suite_v2.add_arguments(p)
    a = p.parse_args(argv)
    if a.suite == 'v2':
        return suite_v2.main_from_args(a, os.path.join(a.out, 'v2'))
    sec_dir = os.path.join(a.out, 'sections')
    os.makedirs(sec_dir, exist_ok=True)
    for name in ([] if a.report_only else a.only or sorted(REGISTRY)):
        print(f'[benchmarks] {name} ...', flush=True)
        section = REGISTRY[name](a.quick, a.out)
        md = section.to_markdown()
        stamp = (f'_Measured {datetime.datetime.now():%Y-%m-%d %H:%M} by '
                 f'`python benchmarks/run.py --only {name}'
                 f'{" --quick" if a.quick else ""}` on {machine_line()}._\n')
        head, _, rest = md.partition('\n')
        with open(os.path.join(sec_dir, f'{name}.md'), 'w') as f:
            f.write(f'{head}\n\n{stamp}{rest}')
        print(md)
    path = os.path.join(a.out, 'report.md')
    with open(path, 'w') as f:
        f.write(build_report(a.out))
    print(f'[benchmarks] report written to {path}')


if __name__ == '__main__':
    main()
