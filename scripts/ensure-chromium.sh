#!/usr/bin/env bash
# `make test`'s GraphiQL test drives a real headless browser: Debian's chromium (Playwright
# only talks to it; it cannot download browsers here). Install it when missing and possible.
set -euo pipefail
[ -x /usr/bin/chromium ] && exit 0

install=(apt-get install -y -q --no-install-recommends chromium)
if ! command -v apt-get >/dev/null; then
  echo "make test needs Chromium at /usr/bin/chromium for the GraphiQL browser test;" \
    "install it with your system's package manager" >&2
  exit 1
fi
if [ "$(id -u)" -eq 0 ]; then
  sudo=()
elif sudo -n true 2>/dev/null; then
  sudo=(sudo -n)
else
  echo "make test needs /usr/bin/chromium for the GraphiQL browser test; run:" >&2
  echo "  sudo apt-get update && sudo ${install[*]}" >&2
  exit 1
fi
echo "installing Debian's chromium for the GraphiQL browser test" >&2
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" "${install[@]}" || { "${sudo[@]}" apt-get update -q && "${sudo[@]}" "${install[@]}"; }
