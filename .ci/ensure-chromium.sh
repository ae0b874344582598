#!/bin/sh
# `make test` runs this first: the FiftyOne App test (tests/integrations/test_fiftyone_app.py) drives the
# system Chromium through playwright. Installs it from the system packages when it is missing and we are
# root or have sudo; otherwise prints the one command to run and fails.
set -e
if [ -n "$FIQA_CHROMIUM" ] || command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1; then
    exit 0
fi
CMD="apt-get install -y chromium"
if command -v apt-get >/dev/null 2>&1; then
    if [ "$(id -u)" -eq 0 ]; then
        SUDO=""
    elif command -v sudo >/dev/null 2>&1; then
        SUDO="sudo"
    else
        SUDO="none"
    fi
    if [ "$SUDO" != "none" ]; then
        echo "make test: Chromium is missing (the FiftyOne App test needs it): installing it with $SUDO apt-get"
        $SUDO apt-get update -q
        $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium  # sudo resets the environment
        exit 0
    fi
fi
echo "make test: the FiftyOne App test needs Chromium; install it (as root: $CMD), or set FIQA_CHROMIUM=/path/to/chromium" >&2
exit 1
