// SPDX-License-Identifier: GPL-2.0-only
//! The lab's ublk fault device: `diofuzz ublk-fault` (tools/src/live/ublk.rs) serves a 512 MiB
//! memory-backed ublk disk in the guest, and the `*-ublk-fault` groups run `diofuzz live
//! --fault-device $UDEV` on it: a `bio_endio` fault with -EIO, -ENOSPC, -ETIMEDOUT, -EINVAL or
//! -ENOMEM on a random (not REQ_ATOMIC) bio, which the server completes with that errno
//! (`__ublk_complete_rq` → `errno_to_blk_status`). Debian's 6.12-7.3 kernels ship ublk_drv
//! (`CONFIG_BLK_DEV_UBLK=m`).

/// The module of the ublk groups, packed when the kernel has it.
pub const UBLK_MODULES: [&str; 1] = ["ublk_drv"];

/// Does this group run on the ublk fault device?
pub fn is_ublk_group(args: &str) -> bool {
    args.contains("$UDEV")
}

/// The init script's ublk part: load ublk_drv, start the server in the background, and set
/// $UDEV to the device it prints ($NUBLK says why not).
pub const INIT_UBLK: &str = r#"UDEV=
NUBLK="ublk_drv not available"
modprobe ublk_drv 2>/dev/null
if [ -e /dev/ublk-control ]; then
  diofuzz ublk-fault --size-mb 512 > /tmp/ublk.out 2> /tmp/ublk.err &
  i=0
  while [ -z "$UDEV" ] && [ $i -lt 100 ]; do
    UDEV=$(head -1 /tmp/ublk.out 2>/dev/null)
    [ -z "$UDEV" ] && sleep 0.2
    i=$((i+1))
  done
  if [ ! -b "$UDEV" ]; then
    NUBLK="ublk fault device did not come up: $(tail -1 /tmp/ublk.err 2>/dev/null)"
    UDEV=
  fi
fi
"#;

/// What a ublk group's command line needs first.
pub const NEED_UBLK: &str =
    "{ [ -n \"$UDEV\" ] || { echo \"lab: no ublk fault device: $NUBLK\"; (exit 2); }; } && ";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ublk_groups_wait_for_the_device() {
        assert!(is_ublk_group("--fs xfs --fault-device $UDEV"));
        assert!(!is_ublk_group("--fs xfs --fault-device $NDEV"));
        assert!(INIT_UBLK.contains("diofuzz ublk-fault"));
        assert!(NEED_UBLK.contains("$UDEV"));
    }
}
