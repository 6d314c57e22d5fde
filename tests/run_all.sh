#!/usr/bin/env bash
# Installs everything the test suite needs on a fresh Debian machine, then runs the whole suite.
# Usage: bash tests/run_all.sh [pytest arguments]
# - Debian's chromium for the browser tests (Playwright drives it; it cannot download browsers here),
#   and CJK + emoji fonts so the Chinese page, the grid export and the screenshots render
# - requirements-test.txt: the app, the optional local backend (torch pinned to the CPU build), pytest, ruff
# - Xinference's own venv for the tests marked `xinference` (tests/xinference/requirements.txt), built
#   once and cached under ~/.cache/kolors-playground (about 3 minutes and 1.9 GB the first time)
# Then ruff (settings in pyproject.toml) and every test tier.
set -euo pipefail
cd "$(dirname "$0")/.."

debian_packages="chromium fonts-noto-cjk fonts-noto-color-emoji"
if ! dpkg -s $debian_packages >/dev/null 2>&1; then
    sudo=""
    [ "$(id -u)" -ne 0 ] && sudo="sudo"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends $debian_packages >/dev/null
fi

python3 -m pip install --quiet --disable-pip-version-check -r requirements-test.txt

python3 -m ruff check .

python3 -m tests.xinference.cluster build

export GRADIO_ANALYTICS_ENABLED=False HF_HUB_OFFLINE=1 HF_HUB_DISABLE_TELEMETRY=1
exec python3 -m pytest "$@"
