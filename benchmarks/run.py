"""Run the registered benchmarks and write ``benchmarks/results/report.md``.

    python benchmarks/run.py                 # all benchmarks
    python benchmarks/run.py --only synthetic_generation --quick

Every number in the report is measured by this command on the machine it runs on;
ratios compare rows measured side by side in the same run.
"""
import argparse
import datetime
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import bench_atr  # noqa: E402,F401  (registers benchmarks)
import bench_foundation  # noqa: E402,F401
from harness import REGISTRY, machine_line  # noqa: E402


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--only', nargs='+', choices=sorted(REGISTRY))
    p.add_argument('--quick', action='store_true', help='fewer repeats')
    p.add_argument('--out', default=os.path.join(HERE, 'results'))
    a = p.parse_args(argv)
    os.makedirs(a.out, exist_ok=True)
    names = a.only or sorted(REGISTRY)
    parts = ['# stadl_plugins benchmark report', '',
             f'Generated {datetime.datetime.now():%Y-%m-%d %H:%M} by '
             f'`python benchmarks/run.py{" --quick" if a.quick else ""}'
             f'{" --only " + " ".join(names) if a.only else ""}` on '
             f'{machine_line()}.', '']
    for name in names:
        print(f'[benchmarks] {name} ...', flush=True)
        section = REGISTRY[name](a.quick, a.out)
        parts.append(section.to_markdown())
        print(section.to_markdown())
    path = os.path.join(a.out, 'report.md')
    with open(path, 'w') as f:
        f.write('\n'.join(parts))
    print(f'[benchmarks] report written to {path}')


if __name__ == '__main__':
    main()
