"""Small helpers shared by tools and tests."""
from __future__ import annotations

from typing import Any


def replace_in_config(node: Any, old: str, new: str) -> Any:
    """Return a copy of a config tree with the string prefix ``old`` replaced.

    Config files compute paths from ``data_root`` when they are parsed, so a
    ``--cfg-options data_root=...`` override does not reach them; this rewrites every
    string that starts with ``old`` (dicts, lists and tuples are walked).
    """
    if isinstance(node, str):
        return new + node[len(old):] if node.startswith(old) else node
    if isinstance(node, dict):
        return {k: replace_in_config(v, old, new) for k, v in node.items()}
    if isinstance(node, (list, tuple)):
        return type(node)(replace_in_config(v, old, new) for v in node)
    return node


def set_data_root(cfg, new_root: str, old_root: str | None = None):
    """Point every path of ``cfg`` under its ``data_root`` to ``new_root`` (in place).

    Args:
        cfg (mmengine.Config): a parsed config with a top-level ``data_root``.
        new_root: the folder to use instead.
        old_root: the prefix to replace (default: ``cfg.data_root``).
    """
    from mmengine.config import ConfigDict
    old_root = old_root or cfg.get('data_root')
    if old_root is None:
        raise KeyError('the config has no data_root to replace')
    for key in list(cfg.keys()):
        val = cfg[key]
        new = replace_in_config(val.to_dict() if isinstance(val, ConfigDict) else val,
                                old_root, new_root)
        cfg[key] = ConfigDict(new) if isinstance(new, dict) else new
    return cfg
