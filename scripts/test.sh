#!/usr/bin/env bash
# Run every test (pass pytest arguments to narrow it). Installs what it needs first.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
# Debian's Chromium for tests/browser (quiet when present); without it those tests fail and say why.
bash scripts/browser-deps.sh || echo "test.sh: could not install chromium; tests/browser will fail" >&2
.venv/bin/ruff check .
.venv/bin/mypy   # strict on the package (pyproject.toml [tool.mypy])
# The JupyterLab extension's unit tests (jest, jsdom), from the Node packages the lockfile pins.
(cd labextension && npx --no-install jest --ci --silent)
exec .venv/bin/python -m pytest "$@"
