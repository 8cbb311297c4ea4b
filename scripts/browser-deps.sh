#!/usr/bin/env bash
# What the browser tests (tests/browser) need from the system: Debian's Chromium at /usr/bin/chromium, and
# the fonts a stock machine has (Liberation), and deliberately no emoji font: the display must read right without one.
# Idempotent and silent when all is there; as root (or with password-less sudo), on Debian or Ubuntu.
# Playwright drives this browser: never `playwright install` (it downloads a browser of its own).
set -euo pipefail
CHROMIUM=/usr/bin/chromium
PACKAGES=(chromium fonts-liberation)
NEEDED=("$CHROMIUM" /usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf)

missing() {
  local f
  for f in "${NEEDED[@]}"; do [ -e "$f" ] || return 0; done
  [ -x "$CHROMIUM" ] || return 0
  return 1
}

missing || exit 0
if [ "$(id -u)" -eq 0 ]; then
  SUDO=()
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
  SUDO=(sudo -n)
else
  echo "browser-deps: Chromium for tests/browser is missing; as root: apt-get install ${PACKAGES[*]}" >&2
  exit 1
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "browser-deps: no apt-get here: install Chromium at $CHROMIUM by hand (${PACKAGES[*]})" >&2
  exit 1
fi
echo "browser-deps: installing ${PACKAGES[*]} (for tests/browser)" >&2
log=$(mktemp)
trap 'rm -f "$log"' EXIT
if ! { "${SUDO[@]}" apt-get update -q \
       && "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive \
            apt-get install -y -q --no-install-recommends "${PACKAGES[@]}"; } >"$log" 2>&1; then
  cat "$log" >&2
  echo "browser-deps: apt-get install failed" >&2
  exit 1
fi
if missing; then
  echo "browser-deps: installed, but $CHROMIUM (or a font) is still not there" >&2
  exit 1
fi
