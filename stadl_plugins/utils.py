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


ROOT_KEYS = ('data_root', 'anno_root')


def _schedule_snapshot(cfg) -> dict:
    train = cfg.get('train_cfg') or {}
    scheds = cfg.get('param_scheduler') or []
    if isinstance(scheds, dict):
        scheds = [scheds]
    return dict(max_epochs=train.get('max_epochs'), val_begin=train.get('val_begin'),
                val_interval=train.get('val_interval'),
                scheds=[dict(end=s.get('end'), T_max=s.get('T_max')) for s in scheds])


def follow_max_epochs(cfg, before: dict, overridden=(), logger=None) -> list[str]:
    """Derive the schedule from ``train_cfg.max_epochs`` after an override.

    A config file writes ``val_begin=max_epochs, val_interval=max_epochs`` (and
    scheduler ``end``/``T_max``) as numbers, so ``--cfg-options
    train_cfg.max_epochs=1`` alone would never validate. Every value that equalled
    the file's ``max_epochs`` (or now exceeds the new one) and is not itself in
    ``overridden`` follows the new ``max_epochs``.

    Args:
        cfg: the config after the overrides were merged (changed in place).
        before: :func:`_schedule_snapshot` of the config before the overrides.
        overridden: the ``--cfg-options`` keys the user gave.

    Returns:
        list[str]: one line per value changed (also logged).
    """
    train = cfg.get('train_cfg') or {}
    old, new = before.get('max_epochs'), train.get('max_epochs')
    if old is None or new is None or old == new:
        return []
    changes = []

    def follows(value):
        return isinstance(value, int) and (value == old or value > new)

    for key in ('val_begin', 'val_interval'):
        value = train.get(key)
        if f'train_cfg.{key}' not in overridden and follows(value):
            train[key] = new
            changes.append(f'train_cfg.{key}: {value} -> {new}')
    scheds = cfg.get('param_scheduler') or []
    if isinstance(scheds, dict):
        scheds = [scheds]
    if not any(k.startswith('param_scheduler') for k in overridden):
        for i, s in enumerate(scheds):
            for key in ('end', 'T_max'):
                value = s.get(key)
                if isinstance(value, int) and value == old and s.get('by_epoch', True):
                    s[key] = new
                    changes.append(f'param_scheduler[{i}].{key}: {value} -> {new}')
    if changes:
        msg = (f'train_cfg.max_epochs {old} -> {new}: the schedule follows ('
               + '; '.join(changes) + ')')
        if logger is None:
            from mmengine.logging import print_log
            print_log(msg, logger='current')
        else:
            logger.info(msg)
    return changes


def apply_custom_imports(cfg) -> None:
    """Import ``cfg.custom_imports`` (mmengine only honours it in a config file, so
    ``--cfg-options custom_imports.imports=[pkg]`` would be ignored)."""
    ci = cfg.get('custom_imports')
    if not ci:
        return
    from mmengine.utils import import_modules_from_strings
    if isinstance(ci, (list, tuple, str)):
        ci = dict(imports=ci)
    imports = ci.get('imports', [])
    if isinstance(imports, str):
        imports = [imports]
    import_modules_from_strings(list(imports),
                                allow_failed_imports=ci.get('allow_failed_imports', False))


def apply_overrides(cfg, cfg_options: dict | None = None, data_root: str | None = None,
                    anno_root: str | None = None):
    """What our train/test tools do with ``--data-root``/``--anno-root`` and
    ``--cfg-options``, in place:

    * ``data_root`` / ``anno_root`` (flags, or keys of ``cfg_options``) move every
      path under the config's old root (:func:`set_data_root`), not just the
      variable;
    * the other options are merged as mmengine does;
    * the schedule follows a changed ``train_cfg.max_epochs``
      (:func:`follow_max_epochs`);
    * ``custom_imports`` is imported (:func:`apply_custom_imports`).
    """
    opts = dict(cfg_options or {})
    roots = dict(data_root=data_root, anno_root=anno_root)
    for key in ROOT_KEYS:
        if key in opts:
            value = opts.pop(key)
            roots[key] = roots[key] or value
    # anno_root is often under data_root: move it first so both prefixes apply
    for key in ('anno_root', 'data_root'):
        new = roots[key]
        if new is None:
            continue
        old = cfg.get(key)
        if old is None:
            raise KeyError(f'--{key.replace("_", "-")} {new}: the config has no {key} '
                           'to replace')
        set_data_root(cfg, str(new), old_root=old)
        cfg[key] = str(new)
    before = _schedule_snapshot(cfg)
    if opts:
        cfg.merge_from_dict(opts)
    follow_max_epochs(cfg, before, overridden=tuple(opts))
    apply_custom_imports(cfg)
    return cfg


def moved_module(old: str, new: str):
    """A module ``__getattr__`` for a deprecated location (kept for one release).

    Usage in the old module: ``__getattr__ = moved_module(__name__, 'new.module')``.
    Each name read from the old path warns (``DeprecationWarning``) and is taken
    from the new module.
    """
    import importlib
    import warnings

    def __getattr__(name):
        module = importlib.import_module(new)
        if name.startswith('__') or not hasattr(module, name):
            raise AttributeError(name)
        warnings.warn(f'{old}.{name} moved to {new}.{name}; the old path will be '
                      'removed in the next release', DeprecationWarning, stacklevel=2)
        return getattr(module, name)

    return __getattr__


def count_with_examples(items, k: int = 5) -> str:
    """``'N ([first k] ...)'``: how many, and the first few, for a start-up summary."""
    items = list(items)
    return f'{len(items)} ({items[:k]}{" ..." if len(items) > k else ""})'


def report_summary(text: str, warn: bool) -> None:
    """Log a dataset's start-up summary; also warn when it dropped or changed data."""
    import warnings

    from mmengine.logging import MMLogger
    MMLogger.get_current_instance().info(text)
    if warn:
        warnings.warn(text)
