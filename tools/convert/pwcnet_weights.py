"""Convert a public PWC-Net checkpoint to stadl_plugins' ``PWCNet`` names.

    python tools/convert/pwcnet_weights.py network-default.pytorch pwcnet_sniklaus.pth
    python tools/convert/pwcnet_weights.py pwc_net.pth.tar pwcnet_nvlabs.pth --layout nvlabs
    python tools/convert/pwcnet_weights.py pwcnet_8x1_slong_flyingchairs.pth pwcnet_mmflow.pth

The input is read with ``torch.load(weights_only=True)``. The output holds
``{'state_dict': ..., 'meta': {'layout', 'corr_normalize', 'convs_per_level'}}``
and is checked by loading it strictly into a freshly built ``PWCNet`` with the
settings the layout needs (printed at the end, to copy into a config).
"""
import argparse
import sys

import torch


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('src', help='public checkpoint (sniklaus / NVlabs / mmflow)')
    p.add_argument('dst', help='output .pth')
    p.add_argument('--layout', default='auto',
                   choices=['auto', 'sniklaus', 'nvlabs', 'mmflow'],
                   help='key layout of SRC (default: detected from its keys)')
    a = p.parse_args(argv)

    from stadl_plugins.models.flow.pwcnet import PWCNet
    from stadl_plugins.models.flow.weight_converters import convert_pwcnet_state_dict

    raw = torch.load(a.src, map_location='cpu', weights_only=True)
    sd, info = convert_pwcnet_state_dict(raw, a.layout)
    model = PWCNet(convs_per_level=info['convs_per_level'],
                   corr_normalize=info['corr_normalize'] or 'mean')
    model.load_state_dict(sd, strict=True)          # every tensor has its place
    meta = {k: info[k] for k in ('layout', 'corr_normalize', 'convs_per_level')}
    torch.save({'state_dict': sd, 'meta': meta}, a.dst)
    print(f'{a.src}: {info["layout"]} layout, {len(sd)} tensors -> {a.dst}'
          + (f' (dropped unused: {", ".join(info["dropped"])})' if info['dropped'] else ''))
    print(f"config: dict(type='PWCNet', corr_normalize='{info['corr_normalize']}', "
          f"convs_per_level={info['convs_per_level']})")
    return 0


if __name__ == '__main__':
    sys.exit(main())
