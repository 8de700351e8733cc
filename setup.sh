#!/usr/bin/env bash
# One-step set-up on a fresh machine (Debian/Ubuntu, Python 3.11, Node.js 20 + npm).
#   bash setup.sh          Python packages + the static site's TF.js runtime (from npm)
#   bash setup.sh --test   the same, plus Debian's Chromium for the browser tests
#   bash setup.sh --cluster  the same, plus the engine for many machines (Dask distributed)
#   (both: bash setup.sh --test --cluster)
set -euo pipefail
cd "$(dirname "$0")"
python3 -m pip install --quiet --disable-pip-version-check -r requirements.txt -c constraints.txt
python3 -m pip install --quiet --disable-pip-version-check --no-deps -r requirements-nodeps.txt
if [[ " $* " == *" --cluster "* ]]; then
  python3 -m pip install --quiet --disable-pip-version-check -r requirements-cluster.txt -c constraints.txt
fi
npm --prefix static_site ci --no-audit --no-fund --loglevel=error
npm --prefix static_site run --silent build
if [[ " $* " == *" --test "* ]] && [[ ! -x /usr/bin/chromium ]]; then
  SUDO=$([[ $(id -u) -eq 0 ]] && echo "" || echo sudo)
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium >/dev/null
fi
