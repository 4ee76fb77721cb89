"""CLI: ``python -m stadl_plugins.datasets.synthetic OUT_DIR [--seed N] [--version 2] ...``."""
import argparse
import json

from .generator import SyntheticConfig, generate_synthetic
from .video import VideoConfig


def main(argv=None):
    p = argparse.ArgumentParser(
        description='Generate the synthetic STAD benchmark (AVA + ACT formats).')
    p.add_argument('out_dir')
    p.add_argument('--version', type=int, choices=(1, 2), default=1,
                   help='1: the quickstart data (default); 2: benchmark v2 '
                   '(long tracks, order and context classes, pan always on)')
    p.add_argument('--seed', type=int, default=0)
    p.add_argument('--num-train', type=int, default=None,
                   help='default 32 (v1) / 240 (v2)')
    p.add_argument('--num-val', type=int, default=None,
                   help='default 12 (v1) / 120 (v2)')
    p.add_argument('--width', type=int, default=160)
    p.add_argument('--height', type=int, default=120)
    p.add_argument('--fps', type=int, default=10)
    p.add_argument('--seconds', type=int, default=12, help='v1 only')
    p.add_argument('--min-seconds', type=int, default=30, help='v2 only')
    p.add_argument('--max-seconds', type=int, default=60, help='v2 only')
    p.add_argument('--max-actors', type=int, default=3, help='v1 only')
    p.add_argument('--pan-prob', type=float, default=0.3, help='v1 only (v2: always)')
    p.add_argument('--no-flow', action='store_true', help='v1: skip ground-truth flow')
    p.add_argument('--flow', action='store_true', help='v2: write ground-truth flow')
    p.add_argument('--flow-only', action='store_true',
                   help='v2: add the ground-truth flow to the v2 dataset already in '
                   'OUT_DIR (its annotations/meta.json gives the config)')
    p.add_argument('--video', action='store_true', help='also write mp4 files')
    p.add_argument('--workers', type=int, default=None)
    a = p.parse_args(argv)
    if a.flow_only:
        import os.path as osp

        from .generator_v2 import SyntheticV2Config, write_flow_v2
        meta_path = osp.join(a.out_dir, 'annotations', 'meta.json')
        if not osp.isfile(meta_path):
            p.error(f'--flow-only needs a v2 dataset in {a.out_dir}: no {meta_path}')
        from .generator_v2 import dataset_ready_v2
        with open(meta_path) as f:
            cfg = SyntheticV2Config.from_dict(json.load(f)['config'])
        if not dataset_ready_v2(a.out_dir, cfg):
            p.error(f'--flow-only: {a.out_dir} is not a complete v2 dataset of the current '
                    'format (regenerate it; its frames might not match this renderer)')
        man = write_flow_v2(a.out_dir, cfg, workers=a.workers)
        print(f"flow of {len(man['flows'])} videos ({sum(man['flows'].values())} "
              f"frame pairs, {man['bytes'] / 1e6:.0f} MB) written to "
              f"{osp.join(a.out_dir, 'flow')} in {man['seconds_taken']} s")
        return
    if a.version == 2:
        from .generator_v2 import SyntheticV2Config, generate_synthetic_v2
        from .v2 import VideoConfigV2
        cfg = SyntheticV2Config(
            seed=a.seed, num_train=240 if a.num_train is None else a.num_train,
            num_val=120 if a.num_val is None else a.num_val,
            video=VideoConfigV2(width=a.width, height=a.height, fps=a.fps,
                                min_seconds=a.min_seconds, max_seconds=a.max_seconds),
            with_flow=a.flow, with_video=a.video)
        meta = generate_synthetic_v2(a.out_dir, cfg, workers=a.workers)
    else:
        cfg = SyntheticConfig(
            seed=a.seed, num_train=32 if a.num_train is None else a.num_train,
            num_val=12 if a.num_val is None else a.num_val,
            video=VideoConfig(width=a.width, height=a.height, fps=a.fps,
                              seconds=a.seconds, max_actors=a.max_actors,
                              pan_prob=a.pan_prob),
            with_flow=not a.no_flow, with_video=a.video)
        meta = generate_synthetic(a.out_dir, cfg, workers=a.workers)
    print(json.dumps(meta['counts'], indent=1))
    print(f"written to {a.out_dir} in {meta['seconds_taken']} s")


if __name__ == '__main__':
    main()
