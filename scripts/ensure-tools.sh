#!/usr/bin/env bash
# Install the system tools the tests need when they are missing:
#   scripts/ensure-tools.sh gdb [...]
# Each name is both the command and its Debian package.  Needs root (CI runs
# as root) or sudo; prints one "ensure-tools: ..." line on failure.
set -euo pipefail
missing=()
for tool in "$@"; do
    command -v "$tool" >/dev/null 2>&1 || missing+=("$tool")
done
[ ${#missing[@]} -eq 0 ] && exit 0
sudo=""
if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null 2>&1 || { echo "ensure-tools: need root to install ${missing[*]}" >&2; exit 1; }
    sudo="sudo"
fi
if ! command -v apt-get >/dev/null 2>&1; then
    echo "ensure-tools: no apt-get to install ${missing[*]}; install them by hand" >&2
    exit 1
fi
$sudo apt-get update -qq >/dev/null
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null ||
    { echo "ensure-tools: apt-get could not install ${missing[*]}" >&2; exit 1; }
for tool in "${missing[@]}"; do
    command -v "$tool" >/dev/null 2>&1 || { echo "ensure-tools: $tool still missing" >&2; exit 1; }
done
