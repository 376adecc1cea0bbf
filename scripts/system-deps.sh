#!/usr/bin/env bash
# System packages the tests use: Debian's Chromium (browser tests; never `playwright install`, which downloads a
# browser) and Debian's Fashion-MNIST (real data, offline). Installed when we are root, otherwise we say how.
set -u
missing=()
[ -x /usr/bin/chromium ] || missing+=(chromium)
[ -d /usr/share/datasets/fashion-mnist ] || missing+=(dataset-fashion-mnist)
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  echo "installing ${missing[*]} from Debian"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q >/dev/null && apt-get install -y -q "${missing[@]}" >/dev/null
else
  echo "the tests need: sudo apt-get install -y ${missing[*]}" >&2
  exit 1
fi
