#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# CI: the README's main job (scripts/fuzz.sh, shortened) fuzzes the git-ignored working corpus
# fuzz/corpus/dio_write and leaves the git tree as it found it: no new, changed or deleted file.
set -euo pipefail
cd "$(dirname "$0")/.."
before=$(git status --porcelain)
scripts/fuzz.sh "${CLEAN_TREE_SECONDS:-30}" >/dev/null 2>&1 || { echo "FAIL: scripts/fuzz.sh exited $?"; exit 1; }
after=$(git status --porcelain)
if [[ "$after" != "$before" ]]; then
    echo "FAIL: the main job changed the git tree:"
    diff <(echo "$before") <(echo "$after") | head -20
    exit 1
fi
n=$(ls fuzz/corpus/dio_write | wc -l)
echo "tree clean after the main job; working corpus fuzz/corpus/dio_write has $n files"
