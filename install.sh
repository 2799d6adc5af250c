#!/usr/bin/env bash
# One-line installer for the OARN node (see docs/install.md):
#   curl -sSL <project install URL> | bash
#   bash install.sh [--allow-root] [--version X.Y.Z]
# Installs the `oarn-tui` package into its own virtual environment (pipx-style) under
# ${OARN_INSTALL_DIR:-~/.local/share/oarn/venv} and links the `oarn` command into
# ${OARN_BIN_DIR:-~/.local/bin}. Needs Python >= 3.11 (`$OARN_PYTHON`, else python3).
# OARN_INSTALL_SOURCE=PATH installs from a local checkout or wheel instead of the package index.
# Refuses to run as root unless --allow-root or OARN_ALLOW_ROOT=1.
set -euo pipefail

package="oarn-tui"
version=""
allow_root="${OARN_ALLOW_ROOT:-0}"
venv="${OARN_INSTALL_DIR:-$HOME/.local/share/oarn/venv}"
bin_dir="${OARN_BIN_DIR:-$HOME/.local/bin}"
source_spec="${OARN_INSTALL_SOURCE:-}"

fail() {
    printf 'oarn install: %s\n' "$1" >&2
    exit 1
}

while [ $# -gt 0 ]; do
    case "$1" in
        --allow-root) allow_root=1; shift ;;
        --version) [ $# -ge 2 ] || fail "--version needs a value"; version="$2"; shift 2 ;;
        -h|--help) sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) fail "unknown option $1 (try --help)" ;;
    esac
done

if [ "$(id -u)" = "0" ] && [ "$allow_root" != "1" ]; then
    fail "refusing to install as root; run as your user, or pass --allow-root (OARN_ALLOW_ROOT=1)"
fi

python="${OARN_PYTHON:-}"
if [ -z "$python" ]; then
    for candidate in python3 python3.13 python3.12 python3.11; do
        if command -v "$candidate" >/dev/null 2>&1; then
            python="$candidate"
            break
        fi
    done
fi
[ -n "$python" ] || fail "Python 3.11 or newer is needed; install it (e.g. apt install python3) and retry"
if ! "$python" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)' 2>/dev/null; then
    found="$("$python" -c 'import platform; print(platform.python_version())' 2>/dev/null || echo unknown)"
    fail "Python 3.11 or newer is needed; $python is $found (set OARN_PYTHON to another interpreter)"
fi
if ! "$python" -c 'import venv, ensurepip' >/dev/null 2>&1; then
    fail "$python lacks the venv module; install it (e.g. apt install python3-venv) and retry"
fi

if [ -n "$source_spec" ]; then
    [ -e "$source_spec" ] || fail "OARN_INSTALL_SOURCE $source_spec does not exist"
    requirement="$source_spec"
elif [ -n "$version" ]; then
    requirement="$package==$version"
else
    requirement="$package"
fi

printf 'Installing %s into %s\n' "$requirement" "$venv"
mkdir -p "$(dirname "$venv")" "$bin_dir"
# venvs are not relocatable: keep the previous one aside and put it back if this install fails.
previous="$venv.previous"
rm -rf "$previous"
if [ -d "$venv" ]; then
    mv "$venv" "$previous"
fi
if ! { "$python" -m venv "$venv" &&
       "$venv/bin/python" -m pip install --quiet --disable-pip-version-check "$requirement"; }; then
    rm -rf "$venv"
    if [ -d "$previous" ]; then
        mv "$previous" "$venv"
    fi
    fail "pip could not install $requirement (see the messages above)"
fi
rm -rf "$previous"
ln -sf "$venv/bin/oarn" "$bin_dir/oarn"

"$bin_dir/oarn" --help >/dev/null || fail "the installed oarn does not start (see the error above)"
printf 'Installed %s: %s\n' "$("$bin_dir/oarn" --version)" "$bin_dir/oarn"
# shellcheck disable=SC2016  # $PATH is meant literally in the printed line
case ":$PATH:" in
    *":$bin_dir:"*) ;;
    *) printf 'Add %s to your PATH, e.g.: echo '\''export PATH="%s:$PATH"'\'' >> ~/.profile\n' \
           "$bin_dir" "$bin_dir" ;;
esac
printf 'Next: oarn init && oarn wallet create && oarn   (docs/quickstart.md)\n'
if ! [ -x /usr/bin/bwrap ] && ! command -v bwrap >/dev/null 2>&1; then
    printf 'Note: bubblewrap is not installed; the node refuses network tasks until it is (e.g. apt install bubblewrap libseccomp2)\n'
fi
