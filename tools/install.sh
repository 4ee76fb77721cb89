#!/usr/bin/env bash
# Install the whole stack into a project-local virtualenv (.venv), idempotently.
#
#   bash tools/install.sh          # runtime stack + this package (editable)
#   bash tools/install.sh --test   # ... plus the test extras (pytest, hypothesis, ruff)
#
# CPU path (what this script does): torch 2.13.0 CPU wheel, mmcv 2.1.0 compiled
# from source with its CPU ops (~8 min on 2 cores the first time; pip caches the
# wheel so later runs take about a minute), mmengine 0.10.7, mmdet 3.3.0,
# mmaction2 1.2.0, openmim 0.3.9. A second run with everything importable
# installs nothing. See docs/install.md for the CUDA path.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${STADL_VENV:-.venv}
case "$VENV" in /*) ;; *) VENV="$(pwd)/$VENV" ;; esac
PY="$VENV/bin/python"
WANT_TEST=0
[[ "${1:-}" == "--test" ]] && WANT_TEST=1

if [[ ! -x "$PY" ]]; then
  echo "[install] creating virtualenv $VENV"
  python3 -m venv "$VENV"
fi
PIP=("$PY" -m pip install --disable-pip-version-check)

stack_ok() {
  "$PY" - <<'PYEOF' 2>/dev/null
import importlib.metadata as md
import torch, mmcv, mmcv.ops, mmengine, mmdet  # noqa: F401
assert mmcv.__version__ == '2.1.0', mmcv.__version__
assert md.version('mmaction2') == '1.2.0'
assert md.version('mmengine') == '0.10.7'
assert md.version('mmdet') == '3.3.0'
assert md.version('openmim') == '0.3.9'
import setuptools
assert int(setuptools.__version__.split('.')[0]) < 80, setuptools.__version__
import importlib_metadata, cv2, scipy, matplotlib  # noqa: F401
PYEOF
}

if stack_ok; then
  echo "[install] OpenMMLab stack already installed in $VENV: skipping"
else
  echo "[install] installing torch (CPU) and build tools"
  # setuptools<80: mmcv's setup.py and mim need pkg_resources, and setuptools 80+
  # turns `setup.py develop` into a PEP 660 editable install whose location mim
  # cannot resolve (`mim train stadl_plugins ...` would not find .mim/).
  "${PIP[@]}" "setuptools>=77.0.3,<80" wheel "torch==2.13.0"
  echo "[install] installing mmengine/mmcv(ops)/mmdet/mmaction2 (first time: mmcv compiles, ~8 min on 2 cores)"
  MMCV_WITH_OPS=1 FORCE_CUDA=0 MAX_JOBS=${MAX_JOBS:-2} CFLAGS=-g0 \
    "${PIP[@]}" --no-build-isolation \
      mmengine==0.10.7 mmcv==2.1.0 mmdet==3.3.0 mmaction2==1.2.0 importlib_metadata \
      scipy matplotlib opencv-python
  # openmim without its pins (they downgrade setuptools and others).
  "${PIP[@]}" --no-deps openmim==0.3.9
  "${PIP[@]}" Click colorama model-index pandas tabulate requests rich
fi

HERE="$(pwd)"
if (cd / && "$PY" - "$HERE" <<'PYEOF' 2>/dev/null); then
import os, sys
from mim.utils import get_installed_path
path = get_installed_path('stadl_plugins')
assert os.path.realpath(path) == os.path.realpath(os.path.join(sys.argv[1], 'stadl_plugins')), path
assert os.path.isdir(os.path.join(path, '.mim', 'configs'))
PYEOF
  echo "[install] stadl_plugins already installed (editable)"
else
  echo "[install] installing stadl_plugins (editable, legacy develop mode for mim)"
  "${PIP[@]}" --no-build-isolation --no-deps --no-use-pep517 -e .
fi

if [[ $WANT_TEST == 1 ]]; then
  if "$PY" -c "import pytest, hypothesis, xdist" 2>/dev/null && [[ -x "$VENV/bin/ruff" ]]; then
    echo "[install] test extras already installed"
  else
    "${PIP[@]}" pytest hypothesis ruff pytest-xdist
  fi
fi
echo "[install] done: $VENV"
