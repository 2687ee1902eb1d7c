#!/bin/bash -eu
# SPDX-License-Identifier: GPL-2.0-only
# ClusterFuzzLite build: the same as OSS-Fuzz's (one script, oss-fuzz/build.sh).
exec bash "${DIOFUZZ_SRC:-$SRC/diofuzz}/oss-fuzz/build.sh"
