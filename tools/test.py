"""Test a checkpoint (the flags of MMAction2's tools/test.py).

    python tools/test.py CONFIG CHECKPOINT [--work-dir DIR] [--dump RESULT.pkl]
        [--format-only SUBMISSION.csv [--zip]]
        [--data-root DIR] [--anno-root DIR] [--cfg-options k=v ...]
        [--show-dir DIR] [--show] [--interval N]
        [--wait-time S] [--launcher none|pytorch|slurm|mpi]
"""
import argparse
import os
import os.path as osp

import stadl_plugins  # noqa: F401  (plugins + stack fixes)
from mmengine.config import Config, DictAction
from mmengine.runner import Runner

from stadl_plugins.utils import apply_overrides


def parse_args(argv=None):
    p = argparse.ArgumentParser(description='Test (and evaluate) an STAD model')
    p.add_argument('config', help='test config file path')
    p.add_argument('checkpoint', help='checkpoint file')
    p.add_argument('--work-dir', help='the dir to save the evaluation metrics')
    p.add_argument('--dump', type=str,
                   help='dump predictions to a pickle file (for offline evaluation '
                   'or a submission CSV)')
    p.add_argument('--format-only', metavar='CSV',
                   help='only write the AVA/ActivityNet submission CSV (test set '
                   'without GT): the evaluator becomes AVAFrameAPMetric(format_only) '
                   "with the config evaluator's label_file / num_classes / "
                   'custom_classes')
    p.add_argument('--zip', action='store_true',
                   help='with --format-only: also write CSV.zip')
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
    p.add_argument('--show-dir', metavar='DIR',
                   help='write every --interval-th keyframe with its predicted boxes '
                   '(score >= 0.3, top labels) and GT boxes as DIR/<video>_<time>.png '
                   '(detection configs; a relative DIR is under the run log dir)')
    p.add_argument('--show', action='store_true', help='show predictions')
    p.add_argument('--interval', type=int, default=1,
                   help='visualise every N samples')
    p.add_argument('--wait-time', type=float, default=2, help='display time (s)')
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
    cfg.launcher = args.launcher
    if args.work_dir is not None:
        cfg.work_dir = args.work_dir
    elif cfg.get('work_dir', None) is None:
        cfg.work_dir = osp.join('./work_dirs',
                                osp.splitext(osp.basename(args.config))[0])
    cfg.load_from = args.checkpoint
    if args.format_only:
        evs = cfg.test_evaluator if isinstance(cfg.test_evaluator, (list, tuple)) \
            else [cfg.test_evaluator]
        src = next((e for e in evs if 'label_file' in e), None)
        if src is None:
            raise KeyError('--format-only needs a test_evaluator with label_file '
                           '(an AVA config)')
        cfg.test_evaluator = dict(
            type='AVAFrameAPMetric', ann_file=None, exclude_file=None,
            label_file=src['label_file'], num_classes=src.get('num_classes', 81),
            custom_classes=src.get('custom_classes'), outfile=args.format_only,
            format_only=True, zip_file=args.zip)
    if args.dump is not None:
        assert args.dump.endswith(('.pkl', '.pickle')), \
            '--dump must name a .pkl or .pickle file'
        dump = dict(type='DumpResults', out_file_path=args.dump)
        if isinstance(cfg.test_evaluator, (list, tuple)):
            cfg.test_evaluator = [*cfg.test_evaluator, dump]
        else:
            cfg.test_evaluator = [cfg.test_evaluator, dump]
    # --data-root/--anno-root and data_root=... move every path under the old
    # root; a changed train_cfg.max_epochs carries the validation schedule along;
    # custom_imports given here is imported (mmengine reads it only from files)
    apply_overrides(cfg, args.cfg_options, args.data_root, args.anno_root)
    if args.show or args.show_dir:
        set_visualization(cfg, args)
    return cfg


def is_detection(cfg) -> bool:
    model = cfg.get('model') or {}
    return 'roi_head' in model or str(model.get('type', '')).endswith('RCNN')


def set_visualization(cfg, args):
    """--show/--show-dir (after --cfg-options, so a hook given there is used):
    detection configs draw keyframes with STADVisualizationHook (MMAction2's
    VisualizationHook handles recognition samples only); others use the config's
    visualization hook or MMAction2's."""
    hooks = cfg.setdefault('default_hooks', {})
    vis = hooks.get('visualization')
    if is_detection(cfg):
        if vis is None or vis.get('type') in (None, 'VisualizationHook',
                                              'mmaction.VisualizationHook'):
            keep = {k: vis[k] for k in ('score_thr', 'label_file', 'max_labels')
                    if vis is not None and k in vis}
            vis = dict(type='STADVisualizationHook', **keep)
    elif vis is None:
        vis = dict(type='VisualizationHook')
    vis.update(enable=True, show=args.show, interval=args.interval,
               wait_time=args.wait_time)
    if args.show_dir:
        vis['out_dir'] = args.show_dir
    hooks['visualization'] = vis


def main(argv=None):
    args = parse_args(argv)
    cfg = merge_args(Config.fromfile(args.config), args)
    runner = Runner.from_cfg(cfg)
    return runner.test()


if __name__ == '__main__':
    main()
