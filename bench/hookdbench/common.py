"""What every module of the harness shares: the tree's paths, the bench's
constants, this run's options and hookd build, log() and file_size()."""

import os
import sys

TOP = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BENCH = os.path.join(TOP, "bench")
BUILD = os.path.join(BENCH, "build")
BIN = os.path.join(BUILD, "bin")
LUA = os.path.join(BENCH, "post.lua")
SECRET = "bench-secret-0123456789abcdef"
HTTP_THREADS = 32         # server.threads of etc/hookd.conf; limit uses the same

# Set once a run, by cli.main (OPT) and build.build (HOOKD_BUILD, SRC):
# read as common.OPT and so on, when used.
OPT = None                # parsed options
HOOKD_BUILD = None        # folder with hookd and plugins/.libs
SRC = TOP                 # the source tree hookd was built from


def log(msg):
    print("==> " + msg, file=sys.stderr, flush=True)


def file_size(path):
    try:
        return os.path.getsize(path)
    except OSError:
        return 0
