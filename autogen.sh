#!/bin/sh
# Regenerate the build system (configure, Makefile.in) from a git checkout.
set -e
cd "$(dirname "$0")"
mkdir -p build-aux m4
autoreconf --install --force
# The TAP driver is part of automake but not installed by --add-missing.
cp -f "$(automake --print-libdir)/tap-driver.sh" build-aux/tap-driver.sh
