#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# Run diofuzz's generated fstests tests under a REAL fstests checkout, on loop devices.
#
#   scripts/fstests-run.sh [-o OUTDIR] [FSTESTS_DIR] [REPORT_DIR...]
#
# FSTESTS_DIR (or $FSTESTS_DIR): an fstests (xfstests) checkout; built here if it is not yet.
# REPORT_DIR: a `diofuzz report` output folder (it holds fstests/tests/generic/NNN, NNN.out and
# perhaps fstests/src/diofuzz-NNN.c); default: every docs/findings/*/.
# FSTYPS: the filesystems to run each test on (default "ext4 xfs"): the generated tests are
# generic tests, which fstests runs on any filesystem; a test whose world needs the other
# filesystem is "not run" there (its _exclude_fs / mkfs line says why).
#
# The checkout is not modified: it is copied (without .git) into a temporary directory, the tests
# go into the copy's tests/generic (renumbered when their number is taken) and their helper
# programs into its src/, and a local.config names two loop devices made here (TEST_DEV and
# SCRATCH_DEV on sparse image files). Everything it made (mounts, loop devices, the directory)
# is removed on exit, also on failure or Ctrl-C; it touches no other device. -o OUTDIR keeps
# fstests' results (NNN.out.bad, NNN.full, NNN.notrun, check.log) per filesystem.
#
# Installs what fstests needs with apt-get when it is missing (root only). fstests' atomic
# write helpers need xfsprogs >= 6.12 (`xfs_io pwrite -A`, atomic write fields in `statx -r`);
# with an older xfs_io the atomic write tests are "not run", saying so. Put a newer xfs_io
# first in PATH to run them.
#
# Prints one line per test and filesystem (pass / FAIL / notrun: reason) and exits 0 when no
# test failed, 1 when one did, 2 when it cannot run.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
usage() { echo "usage: scripts/fstests-run.sh [-o OUTDIR] [FSTESTS_DIR] [REPORT_DIR...]" >&2; exit 2; }
keep=
while getopts o:h o; do
    case $o in
    o) keep=$OPTARG ;;
    *) usage ;;
    esac
done
shift $((OPTIND - 1))
fstests=${FSTESTS_DIR:-}
if [[ $# -gt 0 && -e $1/check && -d $1/tests ]]; then
    fstests=$1
    shift
fi
[[ -n $fstests ]] || { echo "fstests-run: no fstests checkout (argument or FSTESTS_DIR)" >&2; usage; }
[[ -f $fstests/check && -d $fstests/tests/generic ]] \
    || { echo "fstests-run: $fstests is not an fstests checkout (no check, tests/generic)" >&2; exit 2; }
fstests=$(cd "$fstests" && pwd)
reports=("$@")
if [[ ${#reports[@]} -eq 0 ]]; then
    reports=("$here"/docs/findings/*/)
fi
for r in "${reports[@]}"; do
    ls "$r"/fstests/tests/generic/[0-9]* >/dev/null 2>&1 \
        || { echo "fstests-run: $r holds no fstests/tests/generic/NNN (a diofuzz report folder?)" >&2; exit 2; }
done
read -r -a fstyps <<<"${FSTYPS:-ext4 xfs}"
for fs in "${fstyps[@]}"; do
    [[ $fs == ext4 || $fs == xfs ]] || { echo "fstests-run: FSTYPS: $fs is not ext4 or xfs" >&2; exit 2; }
done
[[ $(id -u) == 0 ]] || { echo "fstests-run: needs root (loop devices, mkfs, mount)" >&2; exit 2; }

# What fstests needs to build and run (its README, "Ubuntu or Debian"), by Debian package.
debs=(acl attr automake autoconf bc e2fsprogs fio gawk gcc libacl1-dev libaio-dev libattr1-dev
    libcap-dev libgdbm-compat-dev libgdbm-dev libtool libtool-bin liburing-dev make mount perl
    psmisc quota sed util-linux uuid-dev uuid-runtime xfslibs-dev xfsprogs)
missing=()
if command -v dpkg-query >/dev/null; then
    for p in "${debs[@]}"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || missing+=("$p")
    done
fi
if [[ ${#missing[@]} -gt 0 ]]; then
    echo "fstests-run: installing ${missing[*]}"
    apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null \
        || { echo "fstests-run: apt-get install ${missing[*]} failed" >&2; exit 2; }
fi
for c in losetup mkfs.ext4 mkfs.xfs xfs_io make cc; do
    command -v $c >/dev/null || { echo "fstests-run: $c not found" >&2; exit 2; }
done
if ! xfs_io -c "help pwrite" 2>/dev/null | grep -q -- '^ -A'; then
    echo "fstests-run: note: $(xfs_io -V) has no pwrite -A (RWF_ATOMIC): the atomic write tests will not run"
fi

work=$(mktemp -d /tmp/diofuzz-fstests-run.XXXXXX)
loops=()
cleanup() {
    local m l f
    # A block-device test makes its own loop device over an image in TEST_DIR and removes it
    # itself; one killed half-way leaves it: detach what is backed by a file under $work.
    while read -r l f; do
        [[ $f == "$work"/* ]] && losetup -d "$l" 2>/dev/null
    done < <(losetup -n -l -O NAME,BACK-FILE 2>/dev/null)
    for m in "$work/scratch" "$work/test"; do
        while mountpoint -q "$m" 2>/dev/null; do umount "$m" || umount -l "$m" || break; done
    done
    for l in "${loops[@]}"; do losetup -d "$l" 2>/dev/null || true; done
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# A copy of the checkout, built once (the copy's objects are rebuilt only if the checkout has none).
echo "fstests-run: copying $fstests"
mkdir -p "$work/fstests"
tar -C "$fstests" --exclude=./.git --exclude=./results --exclude=./local.config -cf - . | tar -C "$work/fstests" -xf -
F=$work/fstests
if [[ ! -x $F/ltp/fsstress || ! -x $F/src/xfsctl ]]; then
    echo "fstests-run: building fstests (make, log in the results)"
    (cd "$F" && make -j"$(nproc)") >"$work/make.log" 2>&1 || { tail -20 "$work/make.log"; echo "fstests-run: fstests does not build" >&2; exit 2; }
fi

# The tests, renumbered when the checkout (or an earlier report) already has the number.
declare -A used=()
for t in "$F"/tests/generic/[0-9]*; do
    [[ $t == *.out* ]] || used[${t##*/}]=1
done
names=() seqs=()
for r in "${reports[@]}"; do
    name=$(basename "$r")
    for t in "$r"/fstests/tests/generic/[0-9]*; do
        [[ $t == *.out* ]] && continue
        old=${t##*/}
        new=$old
        while [[ -n ${used[$new]:-} ]]; do new=$((new + 1)); done
        used[$new]=1
        sed -e "s/^# FS QA Test No. $old\$/# FS QA Test No. $new/" -e "s/diofuzz-$old\b/diofuzz-$new/g" \
            "$t" >"$F/tests/generic/$new"
        chmod +x "$F/tests/generic/$new"
        sed "1s/^QA output created by $old\$/QA output created by $new/" "$t.out" >"$F/tests/generic/$new.out"
        if [[ -e $r/fstests/src/diofuzz-$old.c ]]; then
            cc -O2 -o "$F/src/diofuzz-$new" "$r/fstests/src/diofuzz-$old.c" \
                || { echo "fstests-run: $r/fstests/src/diofuzz-$old.c does not build" >&2; exit 2; }
        fi
        [[ $new == "$old" ]] || echo "fstests-run: $name generic/$old runs as generic/$new"
        names+=("$name") seqs+=("$new")
    done
done
make -C "$F/tests/generic" group.list >/dev/null

# Two sparse images on loop devices: TEST_DEV and SCRATCH_DEV.
mkdir -p "$work/test" "$work/scratch"
for d in test scratch; do
    truncate -s 2G "$work/$d.img"
    l=$(losetup -f --show "$work/$d.img")
    loops+=("$l")
done
test_dev=${loops[0]} scratch_dev=${loops[1]}

fails=0
declare -A result=()
for fs in "${fstyps[@]}"; do
    case $fs in
    xfs) mkfs.xfs -f -q "$test_dev" ;;
    ext4) mkfs.ext4 -F -q "$test_dev" ;;
    esac
    cat >"$F/local.config" <<EOF
export FSTYP=$fs
export TEST_DEV=$test_dev
export TEST_DIR=$work/test
export SCRATCH_DEV=$scratch_dev
export SCRATCH_MNT=$work/scratch
export RESULT_BASE=$work/results-$fs
EOF
    list=()
    for s in "${seqs[@]}"; do list+=("generic/$s"); done
    echo "fstests-run: ./check on $fs ($(uname -r)): ${list[*]}"
    (cd "$F" && ./check "${list[@]}") >"$work/check-$fs.log" 2>&1 || true
    sed 's/^/  | /' "$work/check-$fs.log"
    ran=$(sed -n 's/^Ran: //p' "$work/check-$fs.log" | tail -1)
    notrun=$(sed -n 's/^Not run: //p' "$work/check-$fs.log" | tail -1)
    failed=$(sed -n 's/^Failures: //p' "$work/check-$fs.log" | tail -1)
    for s in "${seqs[@]}"; do
        g=generic/$s
        if [[ " $failed " == *" $g "* ]]; then
            result[$fs/$s]=FAIL
            fails=$((fails + 1))
        elif [[ " $notrun " == *" $g "* ]]; then
            result[$fs/$s]="notrun: $(head -1 "$work/results-$fs/$g.notrun" 2>/dev/null)"
        elif [[ " $ran " == *" $g "* ]]; then
            result[$fs/$s]=pass
        else
            result[$fs/$s]="error: not run by ./check (see its output above)"
            fails=$((fails + 1))
        fi
    done
    umount "$work/test" 2>/dev/null || true
    umount "$work/scratch" 2>/dev/null || true
    if [[ -n $keep ]]; then
        mkdir -p "$keep/$fs"
        cp -r "$work/results-$fs/." "$keep/$fs/" 2>/dev/null || true
        cp "$work/check-$fs.log" "$keep/$fs/check.out"
    fi
done

echo
echo "fstests-run: results on Linux $(uname -r), $(xfs_io -V), fstests $(git -C "$fstests" describe --always 2>/dev/null || echo '?')"
printf '%-24s %-12s %-5s %s\n' report test fs result
for i in "${!seqs[@]}"; do
    for fs in "${fstyps[@]}"; do
        printf '%-24s %-12s %-5s %s\n' "${names[$i]}" "generic/${seqs[$i]}" "$fs" "${result[$fs/${seqs[$i]}]}"
    done
done
[[ $fails -eq 0 ]] || { echo "fstests-run: $fails failed"; exit 1; }
