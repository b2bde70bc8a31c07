#!/usr/bin/env bash
# Install wrk (Debian package) for `make bench` when it is missing and apt can be used; without
# it, bench/run.py falls back to its Python client and says so in the report. Never fails.
set -u
command -v wrk >/dev/null 2>&1 && exit 0
if ! command -v apt-get >/dev/null 2>&1; then
  echo "bench: no wrk and no apt-get; the Python load client will be used" >&2
  exit 0
fi
if [ "$(id -u)" = 0 ]; then
  apt=(apt-get)
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
  apt=(sudo -n apt-get)
else
  echo "bench: no wrk, and apt-get needs root; the Python load client will be used" >&2
  exit 0
fi
echo "bench: installing wrk"
"${apt[@]}" install -y -q wrk >/dev/null 2>&1 \
  || { "${apt[@]}" update -q >/dev/null 2>&1 && "${apt[@]}" install -y -q wrk >/dev/null 2>&1; } \
  || echo "bench: could not install wrk; the Python load client will be used" >&2
exit 0
