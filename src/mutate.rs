// SPDX-License-Identifier: GPL-2.0-only
//! The field-aware mutator every engine uses (libFuzzer's custom mutator and cross-over hooks,
//! the AFL++ custom mutator library in harness/afl-mutator).
//!
//! One mutation decodes the input ([`Scenario::decode`]), changes one to a few fields, each to a
//! value from that field's meaningful domain ([`crate::domain`]: sizes at and around i_size and the
//! block / page / sector boundaries, powers of two inside and just outside the atomic unit, every
//! layout letter, every errno a site can return and its nth call, every race event, every inode,
//! mount and device flag), and encodes the result. A cross-over takes a whole part (world, layout,
//! request, fault plan, races, ...) from a second input. A minority of mutations are plain byte
//! mutations (the engine's own when it has one), so nothing the encoding can express becomes
//! unreachable; an input that does not decode is mutated as bytes. Every output decodes. A
//! mutation is a function of (input, seed): deterministic.
//!
//! `DIOFUZZ_MUTATOR=bytes` turns it off in the engines (byte-level mutation only), `field` (the
//! default) turns it on.

use crate::domain;
use crate::scenario::*;

/// Which mutator the engines use.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Mode {
    /// The field-aware mutator (default).
    Field,
    /// The engines' own byte-level mutation.
    Bytes,
}

impl Mode {
    pub fn name(self) -> &'static str {
        match self {
            Mode::Field => "field",
            Mode::Bytes => "bytes",
        }
    }
    /// Parse a DIOFUZZ_MUTATOR value (unset or empty = field).
    pub fn parse(v: Option<&str>) -> Result<Mode, String> {
        match v.map(str::trim) {
            None | Some("") | Some("field") => Ok(Mode::Field),
            Some("bytes") => Ok(Mode::Bytes),
            Some(x) => Err(format!(
                "DIOFUZZ_MUTATOR={x}: want 'field' (the field-aware mutator) or 'bytes'"
            )),
        }
    }
    /// The mode from DIOFUZZ_MUTATOR, read once. A bad value is a configuration error: printed,
    /// and the process exits with status 2.
    pub fn from_env() -> Mode {
        static M: std::sync::OnceLock<Mode> = std::sync::OnceLock::new();
        *M.get_or_init(
            || match Mode::parse(std::env::var("DIOFUZZ_MUTATOR").ok().as_deref()) {
                Ok(m) => m,
                Err(e) => {
                    eprintln!("diofuzz: {e}");
                    std::process::exit(2);
                }
            },
        )
    }
}

/// The mutator's random source: the library's SplitMix64 ([`crate::generators::random::Rng`])
/// with usize helpers.
pub struct Rng(crate::generators::random::Rng);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(crate::generators::random::Rng::new(
            seed ^ 0x9e37_79b9_7f4a_7c15,
        ))
    }
    pub fn next_u64(&mut self) -> u64 {
        self.0.next_u64()
    }
    /// Uniform in 0..n (n > 0).
    pub fn below(&mut self, n: usize) -> usize {
        self.0.below(n.max(1) as u64) as usize
    }
    /// True with probability num/den.
    pub fn chance(&mut self, num: usize, den: usize) -> bool {
        self.below(den) < num
    }
    pub fn pick<T: Copy>(&mut self, v: &[T]) -> T {
        self.0.pick(v)
    }
}

/// Out of 16 mutations, how many are plain byte mutations.
const BYTE_SHARE: usize = 3;
/// Out of 16 field mutations, how many are domain steps ([`domain_step`]).
const DOMAIN_SHARE: usize = 4;
/// Out of 16 cross-overs, how many are followed by a field mutation as well.
const CROSS_THEN_MUTATE: usize = 8;

/// An engine's own byte mutator: (buffer, size, max_size) -> new size (libFuzzer's
/// `LLVMFuzzerMutate` has this shape).
pub type ByteMutator<'a> = &'a mut dyn FnMut(&mut [u8], usize, usize) -> usize;

/// Make any byte string decode: at most `max_size` (and [`MAX_INPUT`]) bytes, and byte 0 never
/// names the reserved filesystem kind 3.
pub fn repair(data: &mut Vec<u8>, max_size: usize, rng: &mut Rng) {
    data.truncate(max_size.min(MAX_INPUT));
    if let Some(b) = data.first_mut() {
        if *b & 3 == 3 {
            *b &= if rng.chance(1, 2) { !1 } else { !2 };
        }
    }
}

/// Plain byte mutations (for engines without their own, and for inputs that do not decode):
/// flip a bit, set a byte (random or interesting), insert, erase, or copy a byte.
pub fn mutate_bytes(data: &mut Vec<u8>, max_size: usize, rng: &mut Rng) {
    const INTERESTING: [u8; 12] = [0, 1, 2, 3, 4, 8, 0x10, 0x20, 0x40, 0x7f, 0x80, 0xff];
    for _ in 0..1 + rng.below(3) {
        let n = data.len();
        match rng.below(6) {
            0 if n > 0 => {
                let i = rng.below(n);
                data[i] ^= 1 << rng.below(8);
            }
            1 if n > 0 => {
                let i = rng.below(n);
                data[i] = rng.next_u64() as u8;
            }
            2 if n > 0 => {
                let i = rng.below(n);
                data[i] = rng.pick(&INTERESTING);
            }
            3 if n > 1 => {
                data.remove(rng.below(n));
            }
            4 if n > 0 => {
                let (i, j) = (rng.below(n), rng.below(n));
                data[i] = data[j];
            }
            _ if n < max_size => {
                let i = rng.below(n + 1);
                data.insert(i, rng.pick(&INTERESTING));
            }
            _ => {}
        }
    }
    repair(data, max_size, rng);
}

/// Field-aware mutation of `data` with this seed, using the library's byte mutations for the
/// byte share. Every output decodes.
pub fn mutate(data: &[u8], max_size: usize, seed: u64) -> Vec<u8> {
    mutate_with(data, max_size, seed, None)
}

/// As [`mutate`], with the engine's own byte mutator for the byte share (its output is repaired
/// so that it decodes).
pub fn mutate_with(data: &[u8], max_size: usize, seed: u64, bytes: Option<ByteMutator>) -> Vec<u8> {
    let mut rng = Rng::new(seed);
    let max_size = max_size.min(MAX_INPUT);
    let decoded = Scenario::decode(data).ok();
    if let Some(s) = decoded.filter(|_| !rng.chance(BYTE_SHARE, 16)) {
        for _ in 0..8 {
            let mut t = s.clone();
            if rng.chance(DOMAIN_SHARE, 16) {
                domain_step(&mut t, &mut rng);
            } else {
                mutate_fields(&mut t, &mut rng);
            }
            // Only real worlds (src/validity.rs): what decoding would make of it anyway.
            crate::validity::normalise(&mut t);
            if let Ok(out) = t.encode() {
                if out.len() <= max_size && t != s {
                    return out;
                }
            }
        }
    }
    byte_step(data, max_size, &mut rng, bytes)
}

fn byte_step(data: &[u8], max_size: usize, rng: &mut Rng, bytes: Option<ByteMutator>) -> Vec<u8> {
    let mut out = data.to_vec();
    match bytes {
        Some(f) => {
            let size = out.len().min(max_size);
            out.resize(max_size.max(size), 0);
            let n = f(&mut out, size, max_size).min(max_size);
            out.truncate(n);
            repair(&mut out, max_size, rng);
        }
        None => mutate_bytes(&mut out, max_size, rng),
    }
    out
}

/// Cross-over: `a` with one whole part taken from `b` (and, half the time, a field mutation as
/// well). Inputs that do not decode are spliced as bytes. Every output decodes.
pub fn crossover(a: &[u8], b: &[u8], max_size: usize, seed: u64) -> Vec<u8> {
    let mut rng = Rng::new(seed ^ 0x5bd1_e995);
    let max_size = max_size.min(MAX_INPUT);
    if let (Ok(x), Ok(y)) = (Scenario::decode(a), Scenario::decode(b)) {
        for _ in 0..8 {
            let mut t = x.clone();
            splice(&mut t, &y, &mut rng);
            if rng.chance(CROSS_THEN_MUTATE, 16) {
                mutate_fields(&mut t, &mut rng);
            }
            crate::validity::normalise(&mut t);
            if let Ok(out) = t.encode() {
                if out.len() <= max_size && t != x {
                    return out;
                }
            }
        }
    }
    // Byte splice: a prefix of one, the rest from the other.
    let (p, q) = if rng.chance(1, 2) { (a, b) } else { (b, a) };
    let cut_p = rng.below(p.len() + 1);
    let cut_q = rng.below(q.len() + 1);
    let mut out: Vec<u8> = p[..cut_p].iter().chain(&q[cut_q..]).copied().collect();
    repair(&mut out, max_size, &mut rng);
    out
}

/// Take one part of `from` into `s`.
fn splice(s: &mut Scenario, from: &Scenario, rng: &mut Rng) {
    let (w, fw) = (&mut s.world, &from.world);
    match rng.below(13) {
        0 => {
            s.fs = from.fs;
            *w = fw.clone();
        }
        1 => {
            w.blkbits = fw.blkbits;
            w.lbs_bits = fw.lbs_bits;
            w.cluster_bits = fw.cluster_bits;
            w.device = fw.device;
        }
        2 => w.blocks = fw.blocks.clone(),
        3 => w.pages = fw.pages.clone(),
        4 => {
            w.inode = fw.inode;
            w.mount = fw.mount;
        }
        5 => {
            w.i_size = fw.i_size;
            w.rlimit_fsize = fw.rlimit_fsize;
            w.s_maxbytes = fw.s_maxbytes;
            w.s_bitmap_maxbytes = fw.s_bitmap_maxbytes;
        }
        6 => s.request = from.request.clone(),
        7 => {
            s.request.pos = from.request.pos;
            s.request.len = from.request.len;
        }
        8 => {
            s.request.open = from.request.open;
            s.request.rwf = from.request.rwf;
            s.request.read = from.request.read;
            s.request.aio = from.request.aio;
        }
        9 => s.faults = from.faults.clone(),
        10 => s.races = from.races.clone(),
        11 => {
            // Append the other input's faults and races.
            for f in &from.faults {
                if s.faults.len() < MAX_FAULTS {
                    s.faults.push(*f);
                }
            }
            for r in &from.races {
                if s.races.len() < MAX_RACES {
                    s.races.push(*r);
                }
            }
        }
        _ => s.fs = from.fs,
    }
    fix_geometry(s);
}

/// A domain step: an input of `check`'s default domain ([`crate::check_domain::Sampler`]),
/// drawn by index from one slice (each slice equally likely, then each of its inputs), replaces
/// the whole input (1 in 4), gives it one whole part (world, layout, request, fault plan, races,
/// ...: [`splice`], 1 in 4), or gives it some of the slice's dimensions together (each with
/// probability 1/2, at least one: the fields the slice varies jointly, 1 in 2).
pub fn domain_step(s: &mut Scenario, rng: &mut Rng) {
    let d = crate::check_domain::Sampler::default_domain();
    let si = rng.below(d.slices());
    match rng.below(4) {
        0 => *s = d.get(si, rng.next_u64() % d.size(si)),
        1 => {
            let from = d.get(si, rng.next_u64() % d.size(si));
            splice(s, &from, rng);
        }
        _ => {
            let n = d.dims(si);
            let first = rng.below(n);
            for dim in 0..n {
                if dim == first || rng.chance(1, 2) {
                    let j = rng.below(d.values(si, dim));
                    d.set(si, dim, j, s);
                }
            }
        }
    }
    fix_geometry(s);
}

/// Keep the world consistent with what the format encodes: a logical block no larger than the
/// filesystem block (a 4096-byte one needs 4 KiB blocks; 1 or 2 KiB ones go in LBS_SECTION).
fn fix_geometry(s: &mut Scenario) {
    if s.world.lbs_bits > s.world.blkbits {
        s.world.lbs_bits = 9;
    }
}

/// How many fields one mutation changes: 1 (half the time), 2, 3, ... up to 6.
fn count(rng: &mut Rng) -> usize {
    let mut n = 1;
    while n < 6 && rng.chance(1, 2) {
        n += 1;
    }
    n
}

/// The field groups and their weights (out of the sum).
const FIELDS: [(Field, usize); 24] = [
    (Field::Pos, 8),
    (Field::Len, 8),
    (Field::ISize, 8),
    (Field::Open, 6),
    (Field::Rwf, 7),
    (Field::Block, 7),
    (Field::Layout, 5),
    (Field::Page, 4),
    (Field::Fault, 8),
    (Field::FaultTweak, 4),
    (Field::Race, 5),
    (Field::FaultAt, 6),
    (Field::AtomicShape, 6),
    (Field::Inode, 5),
    (Field::Mount, 3),
    (Field::Device, 3),
    (Field::Geometry, 3),
    (Field::Fs, 2),
    (Field::Rlimit, 3),
    (Field::MaxBytes, 2),
    (Field::Segs, 2),
    (Field::BufAlign, 2),
    (Field::Drop, 3),
    (Field::Cow, 3),
];

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Field {
    Pos,
    Len,
    ISize,
    Open,
    Rwf,
    Block,
    Layout,
    Page,
    Fault,
    FaultTweak,
    Race,
    FaultAt,
    AtomicShape,
    Inode,
    Mount,
    Device,
    Geometry,
    Fs,
    Rlimit,
    MaxBytes,
    Segs,
    BufAlign,
    Drop,
    Cow,
}

fn pick_field(rng: &mut Rng) -> Field {
    let total: usize = FIELDS.iter().map(|x| x.1).sum();
    let mut r = rng.below(total);
    for (f, w) in FIELDS {
        if r < w {
            return f;
        }
        r -= w;
    }
    Field::Pos
}

/// Change one to a few fields of `s`, each to a value from its domain.
pub fn mutate_fields(s: &mut Scenario, rng: &mut Rng) {
    for _ in 0..count(rng) {
        set_field(s, pick_field(rng), rng);
    }
    fix_geometry(s);
}

fn toggle_bit<T: Copy>(v: T, n: u32, to: fn(T) -> u32, from: fn(u32) -> T, rng: &mut Rng) -> T {
    from(to(v) ^ (1 << rng.below(n as usize)))
}

fn set_field(s: &mut Scenario, f: Field, rng: &mut Rng) {
    match f {
        Field::Pos => s.request.pos = rng.pick(&domain::positions(s)),
        Field::Len => s.request.len = rng.pick(&domain::lengths(s)),
        Field::ISize => s.world.i_size = rng.pick(&domain::i_sizes(s)),
        Field::Open => {
            let r = &mut s.request;
            match rng.below(7) {
                0 => r.open.direct ^= true,
                1 | 2 => r.open.append ^= true,
                3 => r.open.dsync ^= true,
                4 => r.open.sync ^= true,
                5 => r.aio ^= true,
                _ => match rng.below(2) {
                    0 => r.read ^= true,
                    _ => r.open.no_largefile ^= true,
                },
            }
        }
        Field::Rwf => {
            let r = &mut s.request;
            if rng.chance(1, 2) {
                r.rwf = Rwf::from_bits(rng.pick(&domain::RWF_SETS));
            } else {
                r.rwf = toggle_bit(r.rwf, 8, Rwf::bits, Rwf::from_bits, rng);
            }
        }
        Field::Block => {
            let i = rng.pick(&domain::block_indices(s));
            let b = rng.pick(&domain::block_states());
            let bl = &mut s.world.blocks;
            if i >= bl.len() {
                bl.resize(i + 1, BlockState::default());
            }
            bl[i] = b;
        }
        Field::Layout => {
            let bl = &mut s.world.blocks;
            match rng.below(4) {
                // Every block one letter (a new layout of 1..8 blocks).
                0 => {
                    let n = 1 + rng.below(8);
                    let b = rng.pick(&domain::block_states());
                    *bl = vec![b; n];
                }
                // A random layout over hole / unwritten / written (check's "all:N:HUW").
                1 => {
                    let n = 1 + rng.below(8);
                    *bl = (0..n)
                        .map(|_| domain::block_of_letter(rng.pick(&['H', 'U', 'W']), false))
                        .map(Option::unwrap_or_default)
                        .collect();
                }
                // Shorter or longer: blocks past the list are holes.
                2 => {
                    let n = rng.pick(&[0, 1, 2, 4, 8, 16]);
                    bl.resize(n, BlockState::default());
                }
                _ => {
                    let i = rng.below(bl.len().max(1));
                    if let Some(b) = bl.get_mut(i) {
                        b.new_extent ^= true;
                    }
                }
            }
        }
        Field::Cow => {
            // One block of the XFS CoW fork at rest, or the cowextsize hint.
            if rng.chance(1, 4) {
                s.world.cowextsize = rng.pick(&domain::COWEXTSIZES);
            } else {
                let i = rng.pick(&domain::block_indices(s));
                let c = rng.pick(&domain::cow_states());
                let cw = &mut s.world.cow;
                if i >= cw.len() {
                    cw.resize(i + 1, CowExtent::None);
                }
                cw[i] = c;
            }
        }
        Field::Page => {
            let p = rng.pick(&domain::page_states());
            let pg = &mut s.world.pages;
            match rng.below(3) {
                0 => {
                    let n = rng.pick(&[0, 1, 2, 4, 5, 8, 16]);
                    *pg = vec![p; n];
                }
                _ => {
                    let i = rng.pick(&domain::page_indices(s));
                    let pg = &mut s.world.pages;
                    if i >= pg.len() {
                        pg.resize(i + 1, PageState::None);
                    }
                    pg[i] = p;
                }
            }
        }
        Field::Fault => {
            // A site first (each equally likely), then an errno it can return, then which call.
            let site = rng.pick(&domain::fault_sites());
            let f = Fault {
                site,
                errno: rng.pick(site.errnos()),
                nth: rng.pick(&[0, 0, 0, 1, 1, 2, 3]),
            };
            let fl = &mut s.faults;
            if fl.is_empty() || (fl.len() < MAX_FAULTS && rng.chance(1, 2)) {
                fl.push(f);
            } else {
                let i = rng.below(fl.len());
                fl[i] = f;
            }
        }
        Field::FaultTweak => {
            let n = s.faults.len();
            if n == 0 {
                return set_field(s, Field::Fault, rng);
            }
            let f = &mut s.faults[rng.below(n)];
            match rng.below(3) {
                0 => f.errno = rng.pick(f.site.errnos()),
                1 => f.nth = rng.pick(&[0, 1, 2, 3, 7]),
                _ => {
                    f.site = rng.pick(&ALL_SITES);
                    if !f.site.errnos().contains(&f.errno) {
                        f.errno = f.site.errnos()[0];
                    }
                }
            }
        }
        Field::Race => {
            let r = rng.pick(&domain::all_races());
            let rl = &mut s.races;
            if rl.is_empty() || (rl.len() < MAX_RACES && rng.chance(1, 2)) {
                rl.push(r);
            } else {
                let i = rng.below(rl.len());
                rl[i] = r;
            }
        }
        Field::FaultAt => s.request.fault_at = rng.pick(&domain::fault_ats(s)),
        Field::AtomicShape => {
            // An atomic write the checks accept: a power-of-two length inside the unit, a
            // position aligned to it (at 0, inside the file, at or past i_size), O_DIRECT.
            let (len, pos) = rng.pick(&domain::atomic_shapes(s));
            let r = &mut s.request;
            r.len = len;
            r.pos = pos;
            r.rwf.atomic = true;
            r.open.direct = true;
            r.nr_segs = 1;
        }
        Field::Inode => {
            s.world.inode = s
                .world
                .inode
                .toggled(rng.below(INODE_FLAG_NAMES.len()) as u8)
        }
        Field::Mount => {
            let m = &mut s.world.mount;
            match rng.below(8) {
                0 => m.extents_feature ^= true,
                1 => m.data_journal ^= true,
                2 => m.dax ^= true,
                3 => m.shutdown ^= true,
                4 => m.emergency_ro ^= true,
                5 => m.inline_crypt ^= true,
                6 => m.xfs_reflink ^= true,
                _ => m.xfs_always_cow ^= true,
            }
        }
        Field::Device => {
            let d = &mut s.world.device;
            if rng.chance(1, 6) {
                d.stable_writes ^= true;
            } else if rng.chance(1, 5) {
                d.dma_alignment = rng.pick(&domain::DMA_ALIGNMENTS);
            } else {
                let (a, b) = rng.pick(&domain::DEVICE_UNITS);
                d.awu_min = a;
                d.awu_max = b;
            }
        }
        Field::Geometry => {
            let w = &mut s.world;
            match rng.below(3) {
                0 => w.blkbits = rng.pick(&[10, 11, 12]),
                // 512 B, 1 or 2 KiB (LBS_SECTION, up to the block size) or 4 KiB logical blocks
                1 => {
                    let max = w.blkbits;
                    w.lbs_bits = rng.pick(&[9u8, 10, 11, 12]).min(max);
                }
                _ => w.cluster_bits = rng.below(4) as u8,
            }
            // Sizes counted in blocks may no longer encode: keep them in range.
            let bs = 1u64 << w.blkbits;
            for v in [&mut w.i_size, &mut s.request.pos, &mut s.request.len] {
                if !domain::size_encodable(*v, bs) {
                    *v = (*v).min(255 * SECTOR) / SECTOR * SECTOR;
                }
            }
            for v in [&mut w.s_maxbytes, &mut w.s_bitmap_maxbytes] {
                if *v != HUGE_MAXBYTES && (*v % bs != 0 || *v / bs > 255) {
                    *v = HUGE_MAXBYTES;
                }
            }
        }
        Field::Fs => s.fs = rng.pick(&[FsKind::Ext4, FsKind::Xfs, FsKind::Bdev]),
        Field::Rlimit => s.world.rlimit_fsize = rng.pick(&domain::rlimits(s)),
        Field::MaxBytes => {
            let v = rng.pick(&domain::maxbytes(s));
            if rng.chance(1, 2) {
                s.world.s_maxbytes = v;
            } else {
                s.world.s_bitmap_maxbytes = v;
            }
        }
        Field::Segs => {
            // A scattered iovec (SEGS_SECTION, docs/model.md 4.6) replaces nr_segs and
            // buf_align; one in three steps adds, changes or removes it.
            if rng.chance(1, 3) && s.request.scatter.is_none() {
                s.request.scatter = Some(crate::scenario::Scatter {
                    segs: rng.pick(&[2, 16, 256, 512, 1024]),
                    offset: rng.pick(&[0, 8, 512, 3584]),
                });
                s.request.nr_segs = 1;
                s.request.buf_align = 4096;
            } else {
                s.request.scatter = None;
                s.request.nr_segs = rng.pick(&[1, 2, 3, 4, 15]);
            }
        }
        Field::BufAlign => {
            s.request.scatter = None;
            s.request.buf_align = rng.pick(&[4096, 512, 8, 1]);
        }
        Field::Drop => match rng.below(3) {
            0 if !s.faults.is_empty() => {
                let i = rng.below(s.faults.len());
                s.faults.remove(i);
            }
            1 if !s.races.is_empty() => {
                let i = rng.below(s.races.len());
                s.races.remove(i);
            }
            _ => {
                s.faults.clear();
                s.races.clear();
            }
        },
    }
}

/// libFuzzer's custom mutator in one call (`LLVMFuzzerCustomMutator`): `data[..size]` is the
/// input, `data` has room for `max_size` bytes; returns the new size. `fuzzer_mutate` is
/// libFuzzer's own byte mutator (`LLVMFuzzerMutate`): used alone with DIOFUZZ_MUTATOR=bytes, for
/// the byte share otherwise.
pub fn libfuzzer_mutate(
    data: &mut [u8],
    size: usize,
    max_size: usize,
    seed: u32,
    fuzzer_mutate: fn(&mut [u8], usize, usize) -> usize,
) -> usize {
    let max_size = max_size.min(data.len());
    if Mode::from_env() == Mode::Bytes {
        return fuzzer_mutate(data, size, max_size);
    }
    let mut f = |d: &mut [u8], n: usize, m: usize| fuzzer_mutate(d, n, m);
    let out = mutate_with(
        &data[..size.min(max_size)],
        max_size,
        seed as u64,
        Some(&mut f),
    );
    let n = out.len().min(max_size);
    data[..n].copy_from_slice(&out[..n]);
    n
}

/// libFuzzer's custom cross-over (`LLVMFuzzerCustomCrossOver`): writes into `out`, returns the
/// size. With DIOFUZZ_MUTATOR=bytes a plain byte splice.
pub fn libfuzzer_crossover(a: &[u8], b: &[u8], out: &mut [u8], seed: u32) -> usize {
    let v = if Mode::from_env() == Mode::Bytes {
        let mut rng = Rng::new(seed as u64);
        let (i, j) = (rng.below(a.len() + 1), rng.below(b.len() + 1));
        a[..i].iter().chain(&b[j..]).copied().collect()
    } else {
        crossover(a, b, out.len(), seed as u64)
    };
    let n = v.len().min(out.len());
    out[..n].copy_from_slice(&v[..n]);
    n
}

/// The dictionary for every engine (`fuzz/dio_write.dict`, libFuzzer `-dict`, AFL++ `-x`,
/// honggfuzz `--dict`), generated from the domains: every encoded value they use, as the byte
/// groups format 1 writes them. `diofuzz dict` rewrites the committed file; a test fails when it
/// is stale.
pub fn dictionary() -> String {
    use std::collections::BTreeSet;
    let mut out = String::from(
        "# SPDX-License-Identifier: GPL-2.0-only\n\
         # Dictionary for dio_write (libFuzzer -dict, AFL++ -x, honggfuzz --dict), GENERATED from the\n\
         # model's domains (src/domain.rs) by `diofuzz dict`: do not edit; a test fails when it is stale.\n\
         # Each token is a group of adjacent format-1 bytes (src/scenario.rs) holding one meaningful value.\n",
    );
    let mut seen = BTreeSet::new();
    let mut add = |out: &mut String, name: String, bytes: &[u8]| {
        if seen.insert(bytes.to_vec()) {
            // Token names: letters, digits and '_' only (AFL++ rejects others).
            let name: String = name
                .chars()
                .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
                .collect();
            let esc: String = bytes.iter().map(|b| format!("\\x{b:02x}")).collect();
            out.push_str(&format!("{name}=\"{esc}\"\n"));
        }
    };
    // Encode a scenario and cut out the bytes of one field group.
    let enc = |s: &Scenario| s.encode().unwrap_or_default();
    let base = Scenario::default();

    out.push_str("# open/call flags byte, then the RWF byte\n");
    for of in [1u8, 3, 5, 9, 0x41, 0x43, 0, 0x21] {
        for rwf in domain::RWF_SETS {
            add(
                &mut out,
                format!("open{of:02x}_rwf{rwf:02x}"),
                &[of, rwf as u8],
            );
        }
    }
    out.push_str("# device atomic unit byte, then the mount byte\n");
    for (a, b) in domain::DEVICE_UNITS {
        let mut s = base.clone();
        s.world.device.awu_min = a;
        s.world.device.awu_max = b;
        add(&mut out, format!("awu_{a}_{b}"), &enc(&s)[1..3]);
    }
    out.push_str("# inode flags (bytes 3-4): each flag alone\n");
    for (i, name) in INODE_FLAG_NAMES.iter().enumerate() {
        let bits = InodeFlags::default().toggled(i as u8).to_bits();
        add(
            &mut out,
            format!("inode_{name}"),
            &[bits as u8, (bits >> 8) as u8],
        );
    }
    out.push_str("# i_size (count, unit byte) at and around block and page boundaries\n");
    let mut s = base.clone();
    s.world.i_size = 4608;
    s.world.device.awu_min = 4096;
    s.world.device.awu_max = 65536;
    for v in domain::i_sizes(&s) {
        let mut t = base.clone();
        t.world.i_size = v;
        add(&mut out, format!("isize_{v}"), &enc(&t)[5..7]);
    }
    out.push_str("# layouts: block count then one byte per block (check's all:N:HUW for N <= 2, uniform up to 4)\n");
    let letters = domain::block_states();
    for n in 1..=4usize {
        for b in &letters {
            add(
                &mut out,
                format!("layout_{n}x{:02x}", b.to_byte()),
                &std::iter::once(n as u8)
                    .chain(std::iter::repeat(b.to_byte()).take(n))
                    .collect::<Vec<_>>(),
            );
        }
    }
    for x in ['H', 'U', 'W'] {
        for y in ['H', 'U', 'W'] {
            let (bx, by) = (
                domain::block_of_letter(x, false).unwrap_or_default(),
                domain::block_of_letter(y, false).unwrap_or_default(),
            );
            add(
                &mut out,
                format!("layout_{x}{y}"),
                &[2, bx.to_byte(), by.to_byte()],
            );
        }
    }
    out.push_str("# page cache: page count then one byte per page\n");
    for p in domain::page_states() {
        for n in [1usize, 5] {
            add(
                &mut out,
                format!("pages_{n}x{}", p.to_byte()),
                &std::iter::once(n as u8)
                    .chain(std::iter::repeat(p.to_byte()).take(n))
                    .collect::<Vec<_>>(),
            );
        }
    }
    out.push_str(
        "# position, length and unit byte of the request (positions x lengths of the domains)\n",
    );
    for pos in domain::positions(&s) {
        for len in [512u64, 4096, 8192, 16384, 65536] {
            let mut t = base.clone();
            t.request.pos = pos;
            t.request.len = len;
            let e = enc(&t);
            // pos, len, unit, then segs, fault_at, max_bio, nfaults, nraces
            let i = e.len() - 8;
            add(&mut out, format!("poslen_{pos}_{len}"), &e[i..i + 3]);
        }
    }
    out.push_str(
        "# fault plan entries: site, nth call, errno (every errno each site can return)\n",
    );
    for f in domain::all_faults() {
        add(
            &mut out,
            format!(
                "fault_{}_{}_{}",
                f.site.function(),
                f.nth,
                if f.errno == 0 {
                    "none"
                } else {
                    crate::errno::name(f.errno)
                }
            ),
            &[f.site as u8, f.nth, f.errno as u8],
        );
    }
    out.push_str("# race events: kind, argument\n");
    for r in domain::all_races() {
        let mut t = base.clone();
        t.races = vec![r];
        let e = enc(&t);
        add(
            &mut out,
            format!("race_{r:?}").replace(['(', ')'], "_"),
            &e[e.len() - 2..],
        );
    }
    out.push_str(
        "# XFS CoW fork section: marker, block count, one state per block (uniform up to 4)
",
    );
    for c in &domain::cow_states()[1..] {
        for n in 1..=4usize {
            add(
                &mut out,
                format!("cow_{n}x{}", c.to_byte()),
                &[COW_SECTION, n as u8]
                    .into_iter()
                    .chain(std::iter::repeat(c.to_byte()).take(n))
                    .collect::<Vec<_>>(),
            );
        }
    }
    out.push_str(
        "# Scattered-iovec section: marker, iovec count - 1 (u16 LE), in-page offset (u16 LE)
",
    );
    for (n, off) in [(256u16, 0u16), (512, 0), (1024, 0), (1024, 8), (384, 3584)] {
        let c = n - 1;
        add(
            &mut out,
            format!("segs_{n}_at_{off}"),
            &[
                SEGS_SECTION,
                c as u8,
                (c >> 8) as u8,
                off as u8,
                (off >> 8) as u8,
            ],
        );
    }
    out.push_str(
        "# Device-kind section: marker, bit 0 = a bio-based disk that never splits (pmem)\n",
    );
    add(&mut out, "device_no_bio_split".into(), &[DEVICE_SECTION, 1]);
    out.push_str(
        "# Inline-conversion section: marker, bit 0 = delayed allocation at the conversion\n",
    );
    add(&mut out, "inline_delalloc".into(), &[INLINE_SECTION, 1]);
    out.push_str("# Logical-block-size section: marker, 10 (1 KiB) or 11 (2 KiB)\n");
    for b in [10u8, 11] {
        add(
            &mut out,
            format!("lbs_{}k", 1 << (b - 10)),
            &[LBS_SECTION, b],
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn corpus() -> Vec<Vec<u8>> {
        crate::seeds::all()
            .into_iter()
            .filter_map(|s| s.scenario.encode().ok())
            .chain([vec![], vec![3, 0, 0], vec![0xff; 40]])
            .collect()
    }

    #[test]
    fn every_output_decodes() {
        let c = corpus();
        for seed in 0..20_000u64 {
            let a = &c[seed as usize % c.len()];
            let out = mutate(a, 4096, seed);
            assert!(Scenario::decode(&out).is_ok(), "seed {seed}: {out:?}");
            let b = &c[(seed as usize * 7 + 3) % c.len()];
            let x = crossover(a, b, 4096, seed);
            assert!(Scenario::decode(&x).is_ok(), "crossover seed {seed}: {x:?}");
        }
    }

    #[test]
    fn chains_of_mutations_keep_decoding_and_respect_max_size() {
        let mut x = corpus()[0].clone();
        for seed in 0..20_000u64 {
            x = mutate(&x, 64, seed);
            assert!(x.len() <= 64);
            assert!(Scenario::decode(&x).is_ok(), "seed {seed}: {x:?}");
        }
    }

    #[test]
    fn deterministic_for_a_seed() {
        let c = corpus();
        for seed in 0..500u64 {
            let a = &c[seed as usize % c.len()];
            assert_eq!(mutate(a, 4096, seed), mutate(a, 4096, seed));
            assert_eq!(
                crossover(a, &c[0], 4096, seed),
                crossover(a, &c[0], 4096, seed)
            );
        }
        // ... and different seeds explore.
        let outs: std::collections::HashSet<Vec<u8>> =
            (0..200).map(|s| mutate(&c[0], 4096, s)).collect();
        assert!(outs.len() > 100, "{} distinct outputs", outs.len());
    }

    #[test]
    fn mostly_field_mutations_that_change_the_input() {
        let c = corpus();
        let (mut changed, mut field) = (0, 0);
        for seed in 0..2000u64 {
            let a = &c[seed as usize % (c.len() - 3)];
            let out = mutate(a, 4096, seed);
            changed += (out != *a) as usize;
            // A field mutation re-encodes: canonical bytes.
            let canon = Scenario::decode(&out).unwrap().encode().unwrap();
            field += (canon == out) as usize;
        }
        assert!(changed > 1900, "{changed}");
        assert!(field > 1500, "{field}");
    }

    #[test]
    fn values_come_from_the_domains() {
        // Over many seeds, a layout of blocks from every letter, every race, every fault site.
        let s = Scenario::default();
        let (mut sites, mut races, mut letters, mut lbs) = (
            std::collections::HashSet::new(),
            std::collections::HashSet::new(),
            std::collections::HashSet::new(),
            std::collections::HashSet::new(),
        );
        for seed in 0..20_000u64 {
            let mut t = s.clone();
            mutate_fields(&mut t, &mut Rng::new(seed));
            sites.extend(t.faults.iter().map(|f| f.site));
            races.extend(t.races.iter().copied().map(|r| format!("{r:?}")));
            letters.extend(t.world.blocks.iter().map(|b| b.to_byte()));
            // Every logical block size, never above the block size, and it survives encoding (the
            // validity normalisation of decode may still drop it: W47).
            assert!(t.world.lbs_bits <= t.world.blkbits, "seed {seed}");
            let back = Scenario::decode_raw(&t.encode().unwrap()).unwrap();
            assert_eq!(back.world.lbs_bits, t.world.lbs_bits, "seed {seed}");
            lbs.insert(t.world.lbs_bits);
            for f in &t.faults {
                assert!(f.site.errnos().contains(&f.errno));
            }
        }
        assert!(sites.len() >= 20, "{sites:?}");
        assert_eq!(races.len(), 16);
        assert_eq!(letters.len(), 10);
        assert_eq!(lbs, [9, 10, 11, 12].into(), "logical block sizes drawn");
    }

    #[test]
    fn domain_steps_draw_from_checks_default_domain() {
        let d = crate::check_domain::Sampler::default_domain();
        // Every input a slice can give (whole or part) is one of its inputs: the whole-input
        // replacements among many steps are all domain inputs, and they cover every slice.
        let mut whole = std::collections::HashSet::new();
        let mut distinct = std::collections::HashSet::new();
        for seed in 0..3000u64 {
            let mut t = Scenario::default();
            let mut rng = Rng::new(seed);
            domain_step(&mut t, &mut rng);
            crate::validity::normalise(&mut t);
            let enc = t.encode().expect("a domain step encodes");
            assert!(Scenario::decode(&enc).is_ok());
            distinct.insert(enc);
            // Replay the step's first draws: slice, then kind 0 = whole input.
            let mut r = Rng::new(seed);
            let si = r.below(d.slices());
            if r.below(4) == 0 {
                let mut want = d.get(si, r.next_u64() % d.size(si));
                fix_geometry(&mut want);
                crate::validity::normalise(&mut want);
                assert_eq!(t, want, "seed {seed}");
                whole.insert(si);
            }
        }
        assert_eq!(whole.len(), d.slices(), "whole inputs from every slice");
        assert!(distinct.len() > 2000, "{} distinct", distinct.len());
    }

    #[test]
    fn mode_parsing() {
        assert_eq!(Mode::parse(None), Ok(Mode::Field));
        assert_eq!(Mode::parse(Some("bytes")), Ok(Mode::Bytes));
        assert_eq!(Mode::parse(Some(" field ")), Ok(Mode::Field));
        assert!(Mode::parse(Some("afl"))
            .unwrap_err()
            .contains("DIOFUZZ_MUTATOR"));
    }

    #[test]
    fn engine_byte_mutator_output_is_repaired() {
        // A byte mutator that writes the reserved fs kind and overlong output.
        let mut bad = |d: &mut [u8], _n: usize, m: usize| {
            d[0] = 3;
            m
        };
        for seed in 0..300 {
            let out = mutate_with(&[0u8; 30], 100, seed, Some(&mut bad));
            assert!(out.len() <= 100);
            assert!(Scenario::decode(&out).is_ok());
        }
    }

    #[test]
    fn dictionary_tokens_are_well_formed() {
        let d = dictionary();
        let tokens: Vec<&str> = d.lines().filter(|l| !l.starts_with('#')).collect();
        assert!(tokens.len() > 200, "{}", tokens.len());
        for t in &tokens {
            // name="\x..": the name in letters, digits and '_' (AFL++ rejects others).
            let (name, value) = t.split_once('=').unwrap();
            assert!(
                name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'),
                "{t}"
            );
            assert!(value.starts_with("\"\\x") && value.ends_with('"'), "{t}");
        }
        // The thread chain's fields: O_DIRECT|O_APPEND with RWF_ATOMIC, an i_size one sector past
        // a block, bio_iov_iter_get_pages failing.
        // (Tokens are unique by value: a value two fields share appears once, under the first name.)
        for want in ["\\x03\\x40\"", "=\"\\x09\\x00\"", "=\"\\x03\\x00\\x0c\""] {
            assert!(tokens.iter().any(|t| t.ends_with(want)), "no token {want}");
        }
    }

    #[test]
    fn committed_dictionary_is_fresh() {
        let committed = include_str!("../fuzz/dio_write.dict");
        if std::env::var_os("DIOFUZZ_BLESS").is_some() {
            let p = concat!(env!("CARGO_MANIFEST_DIR"), "/fuzz/dio_write.dict");
            std::fs::write(p, dictionary()).unwrap();
            return;
        }
        assert!(
            committed == dictionary(),
            "fuzz/dio_write.dict is stale: regenerate it with `cargo run -- dict`"
        );
    }
}
