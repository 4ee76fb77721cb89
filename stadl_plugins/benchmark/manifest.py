"""Manifests: what a cached artefact was built from, and a clear refusal if stale."""
from __future__ import annotations

import hashlib
import json
import os


class StaleCacheError(RuntimeError):
    """A cached artefact was built from other inputs than the ones asked for."""


def sha256_file(path: str | None) -> str:
    if not path:
        return 'none'
    h = hashlib.sha256()
    with open(path, 'rb') as f:
        for block in iter(lambda: f.read(1 << 20), b''):
            h.update(block)
    return h.hexdigest()


def digest(obj) -> str:
    """SHA-256 of a JSON-able object (keys sorted; other values by ``str``)."""
    text = json.dumps(obj, sort_keys=True, default=str, separators=(',', ':'))
    return hashlib.sha256(text.encode()).hexdigest()


def read_manifest(path: str) -> dict | None:
    if not os.path.isfile(path):
        return None
    with open(path) as f:
        return json.load(f)


def write_manifest(path: str, manifest: dict) -> None:
    tmp = path + '.tmp'
    with open(tmp, 'w') as f:
        json.dump(manifest, f, indent=1, sort_keys=True)
    os.replace(tmp, path)  # the manifest appears last: its presence means complete


def check_manifest(path: str, expected: dict, what: str, rebuild_hint: str) -> dict:
    """Return the manifest at ``path`` if it matches ``expected`` on every key of
    ``expected``; otherwise raise :class:`StaleCacheError` naming what differs."""
    found = read_manifest(path)
    if found is None:
        raise StaleCacheError(
            f'{what}: no manifest at {path} (missing or incomplete build). '
            f'{rebuild_hint}')
    diff = [k for k in expected if found.get(k) != expected[k]]
    if diff:
        lines = [f'  {k}: cached {found.get(k)!r} != requested {expected[k]!r}'
                 for k in diff]
        raise StaleCacheError(
            f'{what} at {os.path.dirname(path)} is stale, built from other inputs:\n'
            + '\n'.join(lines) + f'\n{rebuild_hint}')
    return found
