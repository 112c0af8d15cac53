#!/usr/bin/env bash
# The browser test's one system dependency: Debian's chromium, driven headless by Playwright.
# Playwright's own browser download is never used (it needs the internet at run time).
set -euo pipefail
if command -v chromium >/dev/null 2>&1; then
  exit 0
fi
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends chromium >/dev/null \
    || { apt-get update >/dev/null && DEBIAN_FRONTEND=noninteractive \
         apt-get install -y --no-install-recommends chromium >/dev/null; } \
    || echo "install-browser: could not install chromium; the browser test will be skipped" >&2
else
  echo "install-browser: run 'sudo apt-get install chromium' to enable the browser test" >&2
fi
