// SPDX-License-Identifier: GPL-2.0-only
//! The lab's DAX-capable device: a legacy persistent-memory region carved out of the guest's RAM
//! with `memmap=SIZE!OFFSET` on the kernel command line (arch/x86/kernel/e820.c marks it
//! E820_TYPE_PRAM), which `nd_e820` (drivers/nvdimm/e820.c) registers as an nvdimm region with
//! `ND_REGION_PAGEMAP` and `nd_pmem` (drivers/nvdimm/pmem.c `pmem_attach_disk`) turns into
//! `/dev/pmem0`: `pmem_should_map_pages()` is true for such a region, so the disk gets
//! `BLK_FEAT_DAX` and struct pages (`devm_memremap_pages`, `MEMORY_DEVICE_FS_DAX`) without a pfn
//! device or an `ndctl` namespace, and `alloc_dax()` gives it a dax_device: fsdax as is. It sets
//! no atomic write limits (`queue/atomic_write_unit_max_bytes` 0), logical block 512, physical
//! block PAGE_SIZE. Read in 7.3.4; the Debian configs of 6.12-6.18 have `CONFIG_X86_PMEM_LEGACY=m`,
//! `CONFIG_BLK_DEV_PMEM=m`, `CONFIG_LIBNVDIMM=m`, `CONFIG_ZONE_DEVICE=y` and `CONFIG_FS_DAX=y`.
//!
//! The DAX groups (`ext4-dax`, `xfs-dax`) run `diofuzz live --pmem $PDEV` (tools/src/live/dax.rs).

/// The modules of the DAX groups, packed when the kernel has them (a kernel without them runs the
/// other groups; the DAX groups then exit 2 with the reason on the console).
pub const DAX_MODULES: [&str; 2] = ["nd_e820", "nd_pmem"];

/// Size of the pmem region, in MiB (mkfs.xfs refuses filesystems under 300 MB).
pub const PMEM_MB: u32 = 512;

/// Does this group run on the pmem device?
pub fn is_dax_group(args: &str) -> bool {
    args.contains("$PDEV")
}

/// The kernel command-line parameter that reserves [`PMEM_MB`] MiB at `offset_mb` as legacy
/// persistent memory (`memmap=nn[KMG]!ss[KMG]`, Documentation/admin-guide/kernel-parameters.txt).
/// The guest gets that much more RAM, so the region sits above its usual memory.
pub fn memmap_param(offset_mb: u32) -> String {
    format!("memmap={PMEM_MB}M!{offset_mb}M")
}

/// RAM added above the pmem region: the firmware reserves the top of low memory (SeaBIOS, 128
/// KiB), and a region that reaches it is split there; `devm_memremap_pages` then refuses both
/// parts, which are not aligned to a memory section (128 MiB): "nd_pmem namespace0.0: [mem
/// 0x80000000-0x9ffdffff flags 0x200] misaligned, unable to map", -EOPNOTSUPP (seen on 7.3.4
/// with -m 2560 and memmap=512M!2048M). A section of margin keeps the region whole and aligned.
pub fn slack_mb(pmem_mb: u32) -> u32 {
    if pmem_mb > 0 {
        256
    } else {
        0
    }
}

/// The init script's pmem part: load nd_e820 and nd_pmem when the command line has a memmap=
/// region, wait for /dev/pmem0, and set $PDEV when its queue says DAX ($NPMEM says why not).
/// What the guest shows is printed on the console (the measurement in docs/lab.md).
pub const INIT_PMEM: &str = r#"PDEV=
NPMEM="no memmap= region on the kernel command line"
if grep -q 'memmap=' /proc/cmdline; then
  modprobe nd_e820 2>/dev/null
  modprobe nd_pmem 2>/dev/null
  i=0
  while [ ! -b /dev/pmem0 ] && [ $i -lt 25 ]; do sleep 0.2; i=$((i+1)); done
  if [ ! -b /dev/pmem0 ]; then
    NPMEM="no /dev/pmem0 (nd_e820/nd_pmem missing or the region was not registered)"
  elif [ "$(cat /sys/block/pmem0/queue/dax 2>/dev/null)" = 1 ]; then
    PDEV=/dev/pmem0
    NPMEM=
  else
    NPMEM="/dev/pmem0 without DAX (queue/dax is not 1)"
  fi
  echo "lab: pmem0: size $(cat /sys/block/pmem0/size 2>/dev/null) sectors, queue/dax $(cat /sys/block/pmem0/queue/dax 2>/dev/null), logical block $(cat /sys/block/pmem0/queue/logical_block_size 2>/dev/null), atomic unit max $(cat /sys/block/pmem0/queue/atomic_write_unit_max_bytes 2>/dev/null), dma_alignment $(cat /sys/block/pmem0/queue/dma_alignment 2>/dev/null)"
fi
"#;

/// A DAX group's precondition in the init script: the pmem device, else rc 2 with the reason.
pub const NEED_PMEM: &str =
    "{ [ -n \"$PDEV\" ] || { echo \"lab: no DAX device: $NPMEM\"; (exit 2); }; } && ";

/// After a DAX group: the kernel's DAX and pmem lines (mount messages) on the console.
pub const AFTER_DAX_GROUP: &str =
    "dmesg | grep -i -E 'dax|pmem' | tail -6 | sed 's/^/lab: dmesg: /'\n";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memmap_reserves_the_region_above_the_ram() {
        assert_eq!(memmap_param(2048), "memmap=512M!2048M");
        assert!(is_dax_group("--fs ext4 --pmem $PDEV"));
        assert!(!is_dax_group("--fs ext4 --device $DEV"));
    }
}
