// SPDX-License-Identifier: GPL-2.0-only
//! The two host disagreements of `diofuzz live --fs both --count 400 --seed 4` (Linux 6.18.44)
//! that session 5 left open, both model bugs (docs/live-bench.md, "Session 6"). The scenarios are
//! the ones `live --save` wrote (tests/data/live_seed4_*.json).

use diofuzz::errno::{EFAULT, EINVAL};
use diofuzz::input::load_scenario;
use diofuzz::model::{run, TAG_NEW, TAG_OLD_DIRTY};
use diofuzz::scenario::SECTOR;
use diofuzz::variant::by_name;
use std::path::Path;

fn scenario(name: &str) -> diofuzz::scenario::Scenario {
    load_scenario(
        &Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/data")
            .join(name),
    )
    .unwrap()
}

/// gen-4-xfs-9: an unaligned 4 KiB O_DIRECT write at 6656 from an 8-byte-aligned buffer over two
/// delalloc blocks with dirty pages. The flush before the write allocates both blocks in one
/// xfs_bmapi_convert_delalloc() (xfs_map_blocks reuses the extent for the next page), so the
/// retried write gets one 8 KiB mapping and one bio over two user pages, which bio_split_io_at()
/// fails (-EINVAL) before anything is written: the page-cache data flushed to disk stays, as the
/// kernel shows. The model used to allocate per page: two mappings, a first single-page bio that
/// bio_may_need_split() lets through, new data at 6656.
#[test]
fn xfs_writeback_allocates_contiguous_delalloc_blocks_as_one_extent() {
    let s = scenario("live_seed4_xfs_9.json");
    let x = run(&s, by_name("v6.18").unwrap());
    assert_eq!(x.ret, -EINVAL);
    let data: Vec<_> = x.bios.iter().filter(|b| !b.zero).collect();
    assert_eq!(data.len(), 1, "one bio over the whole write");
    assert_eq!(
        (data[0].pos, data[0].len, data[0].status),
        (6656, 4096, -EINVAL)
    );
    assert_eq!(x.after.cached[(6656 / SECTOR) as usize], TAG_OLD_DIRTY);
}

/// gen-4-ext4-265: an O_DIRECT write at 15872 past EOF (i_size 0) over preallocated (unwritten)
/// blocks, the buffer faulting after 16 KiB. ext4_iomap_alloc() maps past i_size with plain
/// EXT4_GET_BLOCKS_CREATE, and ext4_ext_handle_unwritten_extents() converts the unwritten range
/// at map time (ext4_ext_convert_to_initialized, MAPPED | NEW). So the iteration after the fault
/// (at 32256) finds block 7 written and does no head zeroing over 28672..32255, which this DIO
/// had written: the kernel keeps the new data there. The model used to keep the blocks
/// unwritten until end_io and re-zeroed them.
#[test]
fn ext4_dio_past_eof_converts_unwritten_extents_when_it_maps_them() {
    let s = scenario("live_seed4_ext4_265.json");
    for v in ["v6.12", "v6.18"] {
        let x = run(&s, by_name(v).unwrap());
        assert_eq!((x.ret, x.after.i_size), (-EFAULT, 32256), "{v}");
        assert_eq!(x.after.cached[(28672 / SECTOR) as usize], TAG_NEW, "{v}");
        assert!(
            !x.path
                .contains(&"iomap_dio_bio_iter: head zeroing over data this DIO already wrote"),
            "{v}: {:?}",
            x.path
        );
    }
}
