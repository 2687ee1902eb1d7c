// SPDX-License-Identifier: GPL-2.0-only
//! fs/ext4/super.c: ext4_atomic_write_init() (6.13+), computed at mount.

use crate::model::Cx;

/// (s_awu_min, s_awu_max). Needs ext4 atomic support (6.13+), a device with atomic writes and the
/// extents feature. max: 6.13-6.15 one block; 6.16+ up to a bigalloc cluster. 0/0 when min > max.
pub fn ext4_atomic_write_init(cx: &Cx) -> (u32, u32) {
    let w = &cx.s.world;
    if !cx.v.ext4_atomic
        || w.device.awu_max == 0
        || w.device.awu_min == 0
        || !w.mount.extents_feature
    {
        return (0, 0);
    }
    let bs = cx.bs as u32;
    let cluster = bs << w.cluster_bits;
    let min = bs.max(w.device.awu_min);
    let max = if cx.v.ext4_awu_max_cluster {
        cluster.min(w.device.awu_max)
    } else {
        bs.min(w.device.awu_max)
    };
    if min > max {
        return (0, 0);
    }
    (min, max)
}
