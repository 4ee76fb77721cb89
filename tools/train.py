"""Train a model from a config (the flags of MMAction2's tools/train.py).

    python tools/train.py CONFIG [--work-dir DIR] [--resume [CKPT]] [--amp]
        [--no-validate] [--auto-scale-lr] [--seed N] [--diff-rank-seed]
        [--deterministic] [--data-root DIR] [--anno-root DIR] [--cfg-options k=v ...]
        [--launcher none|pytorch|slurm|mpi]

A changed train_cfg.max_epochs carries the validation start/interval and the
epoch-based scheduler ends along (stadl_plugins.utils.follow_max_epochs).
"""
import argparse
import logging
import os
import os.path as osp

# Registers the plugins and applies the stack fixes before any config is parsed.
import stadl_plugins  # noqa: F401
from mmengine.config import Config, DictAction
from mmengine.logging import print_log
from mmengine.registry import RUNNERS
from mmengine.runner import Runner

from stadl_plugins.utils import apply_overrides


def parse_args(argv=None):
    p = argparse.ArgumentParser(description='Train an STAD model')
    p.add_argument('config', help='train config file path')
    p.add_argument('--work-dir', help='the dir to save logs and models')
    p.add_argument('--resume', nargs='?', type=str, const='auto',
                   help='resume from CKPT, or from the latest checkpoint in the '
                   'work dir when no path is given')
    p.add_argument('--amp', action='store_true', help='automatic mixed precision')
    p.add_argument('--no-validate', action='store_true',
                   help='do not evaluate checkpoints during training')
    p.add_argument('--auto-scale-lr', action='store_true',
                   help='scale the lr by the actual batch size (auto_scale_lr)')
    p.add_argument('--seed', type=int, default=None, help='random seed')
    p.add_argument('--diff-rank-seed', action='store_true',
                   help='a different seed on each rank')
    p.add_argument('--deterministic', action='store_true',
                   help='deterministic options for CUDNN/torch')
    p.add_argument('--cfg-options', nargs='+', action=DictAction,
                   help='override config settings, key=value (xxx=yyy format); '
                   'data_root=DIR moves every path under the old root, '
                   'custom_imports.imports=[pkg] is imported')
    p.add_argument('--data-root', metavar='DIR',
                   help="use DIR instead of the config's data_root (every path under "
                   'it moves, annotations and proposals included)')
    p.add_argument('--anno-root', metavar='DIR',
                   help="use DIR instead of the config's anno_root (when the "
                   'annotations are not under data_root, as in the AVA configs)')
    p.add_argument('--launcher', choices=['none', 'pytorch', 'slurm', 'mpi'],
                   default='none', help='job launcher')
    p.add_argument('--unsafe-load', action='store_true',
                   help='load checkpoints with full pickle (runs any code they '
                   'contain; only for files you trust). Same as '
                   'STADL_UNSAFE_LOAD=1')
    p.add_argument('--local_rank', '--local-rank', type=int, default=0,
                   help='rank on this node, set by torch.distributed.launch (exported as '
                   'LOCAL_RANK unless that is set)')
    args = p.parse_args(argv)
    if args.unsafe_load:
        os.environ['STADL_UNSAFE_LOAD'] = '1'
    if 'LOCAL_RANK' not in os.environ:
        os.environ['LOCAL_RANK'] = str(args.local_rank)
    return args


def merge_args(cfg, args):
    """Fold the command-line flags into the config, as MMAction2 does."""
    if args.no_validate:
        cfg.val_cfg = None
        cfg.val_dataloader = None
        cfg.val_evaluator = None
    cfg.launcher = args.launcher
    if args.work_dir is not None:
        cfg.work_dir = args.work_dir
    elif cfg.get('work_dir', None) is None:
        cfg.work_dir = osp.join('./work_dirs',
                                osp.splitext(osp.basename(args.config))[0])
    if args.amp:
        opt = cfg.optim_wrapper.get('type', 'OptimWrapper')
        assert opt in ('OptimWrapper', 'AmpOptimWrapper'), \
            f'--amp is not supported with optim_wrapper.type={opt}'
        cfg.optim_wrapper.type = 'AmpOptimWrapper'
        cfg.optim_wrapper.setdefault('loss_scale', 'dynamic')
    if args.resume == 'auto':
        cfg.resume = True
        cfg.load_from = None
    elif args.resume is not None:
        cfg.resume = True
        cfg.load_from = args.resume
    if args.auto_scale_lr:
        cfg.auto_scale_lr.enable = True
    if cfg.get('randomness', None) is None:
        cfg.randomness = dict(seed=args.seed, diff_rank_seed=args.diff_rank_seed,
                              deterministic=args.deterministic)
    else:
        if args.seed is not None:
            cfg.randomness.seed = args.seed
        if args.diff_rank_seed:
            cfg.randomness.diff_rank_seed = True
        if args.deterministic:
            cfg.randomness.deterministic = True
    # --data-root/--anno-root and data_root=... move every path under the old
    # root; a changed train_cfg.max_epochs carries the validation schedule along;
    # custom_imports given here is imported (mmengine reads it only from files)
    apply_overrides(cfg, args.cfg_options, args.data_root, args.anno_root)
    train = cfg.get('train_cfg') or {}
    if cfg.get('val_cfg') and isinstance(train.get('val_begin'), int) \
            and isinstance(train.get('max_epochs'), int) \
            and train['val_begin'] > train['max_epochs']:
        print_log(f"train_cfg.val_begin={train['val_begin']} > max_epochs="
                  f"{train['max_epochs']}: this run never validates", logger='current',
                  level=logging.WARNING)
    return cfg


def main(argv=None):
    args = parse_args(argv)
    cfg = merge_args(Config.fromfile(args.config), args)
    # a config may name its own runner class, as in MMAction2
    runner = RUNNERS.build(cfg) if 'runner_type' in cfg else Runner.from_cfg(cfg)
    runner.train()


if __name__ == '__main__':
    main()
