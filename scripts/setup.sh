#!/usr/bin/env bash
# Create .venv and install the project with everything the tests and the lab need.
# Idempotent and quick when nothing changed; the first run compiles llama.cpp (about 5 minutes).
# The JupyterLab extension is built by the Python build (hatch-jupyter-builder runs npm) from the
# Node packages that labextension/package-lock.json pins: `npm ci` installs exactly those.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
if [ ! -f labextension/node_modules/.package-lock.json ] \
  || [ labextension/package-lock.json -nt labextension/node_modules/.package-lock.json ]; then
  (cd labextension && npm ci --no-audit --no-fund --loglevel=error)
fi
stamp=.venv/.installed
# Reinstall when the project or the extension's sources changed: the editable install copies the
# built extension into the venv's share/jupyter/labextensions.
if [ ! -f "$stamp" ] || [ -n "$(find pyproject.toml labextension/package.json labextension/src labextension/style \
  -newer "$stamp" -print -quit)" ]; then
  .venv/bin/python -m pip install -q --upgrade pip
  .venv/bin/python -m pip install -q -e ".[dev]"
  touch "$stamp"
fi
