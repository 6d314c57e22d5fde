#!/usr/bin/env bash
# Installs everything the test suite needs on a fresh Debian machine, then runs the whole suite.
# Usage: bash tests/run_all.sh [pytest arguments]
# - Debian's chromium for the browser tests (Playwright drives it; it cannot download browsers here),
#   and CJK + emoji fonts so the Chinese page, the grid export and the screenshots render
# - requirements-test.txt: the app, the optional local backend (torch pinned to the CPU build), pytest, ruff
# - Xinference's own venv for the tests marked `xinference` (tests/xinference/requirements.txt), built
#   once and cached under ~/.cache/kolors-playground (about 3 minutes and 1.9 GB the first time)
# - axe-core from npm (tests/test_browser_accessibility.py), once, under ~/.cache/kolors-playground/node
# It says what it will install before it does; without root or password-less sudo it skips apt-get, saying so.
# Then ruff (settings in pyproject.toml) and every test tier.
set -euo pipefail
cd "$(dirname "$0")/.."

debian_packages="chromium fonts-noto-cjk fonts-noto-color-emoji"
axe_dir="${HOME}/.cache/kolors-playground/node"
xinference_venv="${XDG_CACHE_HOME:-$HOME/.cache}/kolors-playground/xinference-*"

# Say what will be installed before anything is.
if ! dpkg -s $debian_packages >/dev/null 2>&1; then
    echo "run_all: will install Debian packages: $debian_packages (apt-get, about 500 MB installed)"
fi
echo "run_all: will pip-install requirements-test.txt (the app, torch's CPU build, diffusers, pytest, ruff; about 1 GB the first time)"
[ -f "$axe_dir/node_modules/axe-core/axe.min.js" ] \
    || echo "run_all: will npm-install axe-core@4 into $axe_dir (about 3 MB; the accessibility test loads it)"
# shellcheck disable=SC2086  # the glob is meant
compgen -G "$xinference_venv" >/dev/null \
    || echo "run_all: will build Xinference's venv under $xinference_venv once (about 3 minutes and 1.9 GB)"
echo "run_all: then ruff and every test tier"

if ! dpkg -s $debian_packages >/dev/null 2>&1; then
    sudo=""
    if [ "$(id -u)" -ne 0 ]; then
        if command -v sudo >/dev/null 2>&1 && { sudo -n true 2>/dev/null || [ -t 0 ]; }; then  # a terminal can answer its prompt
            sudo="sudo"
        else
            echo "run_all: skipping the Debian packages (not root and no password-less sudo): install them yourself with" \
                "'apt-get install $debian_packages'; the browser tests skip without chromium" >&2
            sudo="skip"
        fi
    fi
    if [ "$sudo" != "skip" ]; then
        $sudo apt-get update -qq
        DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends $debian_packages >/dev/null
    fi
fi

python3 -m pip install --quiet --disable-pip-version-check -r requirements-test.txt

if [ ! -f "$axe_dir/node_modules/axe-core/axe.min.js" ]; then
    if command -v npm >/dev/null 2>&1; then
        npm install --silent --no-audit --no-fund --prefix "$axe_dir" axe-core@4 >/dev/null
    else
        echo "run_all: npm is not installed: the axe-core accessibility test will skip (apt-get install npm)" >&2
    fi
fi

python3 -m ruff check .

python3 -m tests.xinference.cluster build

export GRADIO_ANALYTICS_ENABLED=False HF_HUB_OFFLINE=1 HF_HUB_DISABLE_TELEMETRY=1
exec python3 -m pytest "$@"
