// SPDX-License-Identifier: GPL-2.0-only
//! Inline-data and fscrypt-encrypted ext4 inodes on a live kernel (world.inode.inline_data,
//! world.inode.encrypted): the scratch filesystem's features, the set-up that makes the kernel
//! build such an inode, the check that it did, and the encrypted directory (a v2 policy with a
//! raw key, by raw ioctls) the scenario's file is created in.
//!
//! - **Inline data**: `mkfs.ext4 -O inline_data -I BLOCKSIZE` (the largest inode: it holds
//!   block size - 128 bytes inline, validity rule W6), and a buffered write of zeroes over
//!   `[0, i_size)` to the new, empty file (`ext4_da_write_begin` / `ext4_write_begin` ->
//!   `ext4_generic_write_inline_data` -> `ext4_create_inline_data`). The model's inline inode
//!   owns no blocks, so its data reads as zeroes. An empty inline file is a one-byte write
//!   truncated back to 0 (`ext4_inline_data_truncate` keeps the inline flag).
//! - **Encrypted**: `mkfs.ext4 -O encrypt`; per scenario, FS_IOC_ADD_ENCRYPTION_KEY adds a raw
//!   64-byte key to the filesystem, a new directory gets a v2 policy (AES-256-XTS contents,
//!   AES-256-CTS names) with FS_IOC_SET_ENCRYPTION_POLICY, and the file is created in it (an
//!   encrypted inode is only ever a new inode in an encrypted directory). Afterwards the
//!   directory is removed and FS_IOC_REMOVE_ENCRYPTION_KEY removes the key; an interrupted run's
//!   key goes with the scratch filesystem's unmount (the filesystem keyring is destroyed then).
//!
//! Both are checked on the kernel before the call: FS_IOC_GETFLAGS must show FS_INLINE_DATA_FL
//! or FS_ENCRYPT_FL ([`super::plan::Step::ExpectInodeFlags`]), else the scenario is skipped.

use std::fs;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

use super::plan::{Plan, Step, Unsupported};
use diofuzz::scenario::{FsKind, Scenario};

/// include/uapi/linux/fs.h: FS_ENCRYPT_FL, FS_INLINE_DATA_FL (FS_IOC_GETFLAGS).
pub const FS_ENCRYPT_FL: u32 = 0x0000_0800;
pub const FS_INLINE_DATA_FL: u32 = 0x1000_0000;

/// Kernel modules an encrypted inode needs in a guest whose kernel has the algorithms as modules
/// (Debian: CONFIG_FS_ENCRYPTION_ALGS=m): AES-256-XTS contents, AES-256-CTS names.
pub const MODULES: [&str; 2] = ["xts", "cts"];

/// The kind of inode a scenario's file is, as far as the scratch filesystem must be made for it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum InodeKind {
    #[default]
    Plain,
    /// mkfs.ext4 -O inline_data -I BLOCKSIZE
    Inline,
    /// mkfs.ext4 -O encrypt
    Encrypted,
    /// mkfs.ext4 -O verity, for a plain file that gets `chattr +j` after open: before 6.19
    /// `ext4_should_enable_large_folio` gives no file of a filesystem with the verity feature
    /// large folios, so the flag takes effect on 6.16 - 6.18 too ([`super::race`]).
    SmallFolios,
}

impl InodeKind {
    pub fn of(s: &Scenario) -> InodeKind {
        if s.fs != FsKind::Ext4 {
            InodeKind::Plain
        } else if s.world.inode.encrypted {
            InodeKind::Encrypted
        } else if s.world.inode.inline_data {
            InodeKind::Inline
        } else {
            InodeKind::Plain
        }
    }

    /// The suffix of the scratch filesystem's label.
    pub fn label(self) -> &'static str {
        match self {
            InodeKind::Plain => "",
            InodeKind::Inline => "-inline",
            InodeKind::Encrypted => "-encrypt",
            InodeKind::SmallFolios => "-verity",
        }
    }

    /// mkfs.ext4 arguments for a filesystem of 2^blkbits-byte blocks.
    pub fn mkfs_args(self, blkbits: u8) -> Vec<String> {
        let v = |a: &[&str]| a.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        match self {
            InodeKind::Plain => Vec::new(),
            // Inodes as large as a block hold the most inline data; few of them (an image of
            // 128 MiB would otherwise need more inode-table blocks than it has).
            InodeKind::Inline => v(&[
                "-O",
                "inline_data",
                "-I",
                &(1u32 << blkbits).to_string(),
                "-N",
                "1024",
            ]),
            InodeKind::Encrypted => v(&["-O", "encrypt"]),
            InodeKind::SmallFolios => v(&["-O", "verity"]),
        }
    }

    /// The FS_IOC_GETFLAGS bit the kernel must show on the built file.
    pub fn flag(self) -> Option<u32> {
        match self {
            InodeKind::Plain | InodeKind::SmallFolios => None,
            InodeKind::Inline => Some(FS_INLINE_DATA_FL),
            InodeKind::Encrypted => Some(FS_ENCRYPT_FL),
        }
    }

    /// What mkfs says in the C reproducer's header.
    pub fn mkfs_text(self, blkbits: u8) -> String {
        let a = self.mkfs_args(blkbits);
        if a.is_empty() {
            String::new()
        } else {
            format!(" {}", a.join(" "))
        }
    }
}

/// Worlds of these kinds that the live set-up cannot build (validity already rejects those the
/// kernel cannot have).
pub fn refuse(s: &Scenario) -> Result<(), Unsupported> {
    let f = s.world.inode;
    if s.fs != FsKind::Ext4 && (f.inline_data || f.encrypted) {
        return Err("inline data or encryption on another filesystem".into());
    }
    if f.inline_data
        && !s.world.inline_delalloc
        && s.world.i_size > diofuzz::validity::max_inline(1 << s.world.blkbits)
    {
        return Err("inline data larger than an inode holds".into());
    }
    super::inline_delalloc::refuse(s)
}

/// Turn the plan's set-up into one that makes the kernel build the inode kind: an inline inode's
/// data is written (zeroes) instead of the file being truncated to its size, and the flag is
/// checked at the end of the set-up.
pub fn adjust_steps(kind: InodeKind, i_size: u64, steps: &mut Vec<Step>) {
    if kind == InodeKind::Inline {
        let make: Vec<Step> = if i_size == 0 {
            vec![Step::WriteZero { off: 0, len: 1 }, Step::Truncate(0)]
        } else {
            vec![Step::WriteZero {
                off: 0,
                len: i_size,
            }]
        };
        if let Some(i) = steps.iter().position(|s| *s == Step::Truncate(i_size)) {
            steps.splice(i..=i, make);
        }
    }
    if let Some(bit) = kind.flag() {
        // Before chattr +a, which stays last (super::plan::after_times).
        let at = steps
            .iter()
            .position(super::plan::after_times)
            .unwrap_or(steps.len());
        steps.insert(at, Step::ExpectInodeFlags(bit));
    }
}

/// FS_IOC_GETFLAGS on `fd` must show every bit of `bits`; otherwise the scenario's world was not
/// built (an error starting with [`super::exec::UNAVAILABLE`]: skipped).
pub fn expect_flags(fd: i32, bits: u32) -> Result<(), String> {
    let got = get_flags(fd)?;
    if got & bits != bits {
        return Err(format!(
            "{}: the kernel did not build the inode: FS_IOC_GETFLAGS {got:#x}, wanted {bits:#x}",
            super::exec::UNAVAILABLE
        ));
    }
    Ok(())
}

pub fn get_flags(fd: i32) -> Result<u32, String> {
    const FS_IOC_GETFLAGS: libc::c_ulong = 0x8008_6601;
    let mut fl: libc::c_int = 0;
    // SAFETY: FS_IOC_GETFLAGS writes an int.
    if unsafe { libc::ioctl(fd, FS_IOC_GETFLAGS, &mut fl) } != 0 {
        return Err(format!(
            "FS_IOC_GETFLAGS: {}",
            std::io::Error::last_os_error()
        ));
    }
    Ok(fl as u32)
}

// include/uapi/linux/fscrypt.h
#[repr(C)]
#[derive(Clone, Copy)]
struct KeySpec {
    typ: u32,
    reserved: u32,
    /// The identifier (the first 16 bytes) for FSCRYPT_KEY_SPEC_TYPE_IDENTIFIER.
    u: [u8; 32],
}
#[repr(C)]
struct AddKeyArg {
    spec: KeySpec,
    raw_size: u32,
    key_id: u32,
    flags: u32,
    reserved: [u32; 7],
    raw: [u8; 64],
}
#[repr(C)]
struct RemoveKeyArg {
    spec: KeySpec,
    status_flags: u32,
    reserved: [u32; 5],
}
#[repr(C)]
struct PolicyV2 {
    version: u8,
    contents: u8,
    filenames: u8,
    flags: u8,
    log2_data_unit_size: u8,
    reserved: [u8; 3],
    identifier: [u8; 16],
}
const FSCRYPT_KEY_SPEC_TYPE_IDENTIFIER: u32 = 2;
const FSCRYPT_POLICY_V2: u8 = 2;
const FSCRYPT_MODE_AES_256_XTS: u8 = 1;
const FSCRYPT_MODE_AES_256_CTS: u8 = 4;
/// _IOWR('f', 23, struct fscrypt_add_key_arg): 80 bytes.
const FS_IOC_ADD_ENCRYPTION_KEY: libc::c_ulong = 0xc050_6617;
/// _IOWR('f', 24, struct fscrypt_remove_key_arg): 64 bytes.
const FS_IOC_REMOVE_ENCRYPTION_KEY: libc::c_ulong = 0xc040_6618;
/// _IOR('f', 19, struct fscrypt_policy_v1) (the v2 struct is passed with the same number).
const FS_IOC_SET_ENCRYPTION_POLICY: libc::c_ulong = 0x800c_6613;

/// The raw key (a test key: nothing secret is encrypted with it).
fn raw_key() -> [u8; 64] {
    std::array::from_fn(|i| 0xd1u8.wrapping_add(7u8.wrapping_mul(i as u8)))
}

/// Adds the test key to the filesystem mounted at `mnt` (FS_IOC_ADD_ENCRYPTION_KEY on its
/// root; the key goes into the superblock's keyring, `fscrypt_add_key`). P1
/// ([`super::probes`]) calls it again after its remount: the new superblock has no key, and
/// the same raw key gives the same identifier (HKDF of the raw key), so the scenario's
/// directory policy finds it.
pub fn add_key(mnt: &Path) -> Result<(), String> {
    add_key_spec(mnt).map(|_| ())
}

/// [`add_key`], returning the key's identifier.
fn add_key_spec(mnt: &Path) -> Result<KeySpec, String> {
    let root = fs::File::open(mnt).map_err(|e| format!("open {}: {e}", mnt.display()))?;
    let mut a = AddKeyArg {
        spec: KeySpec {
            typ: FSCRYPT_KEY_SPEC_TYPE_IDENTIFIER,
            reserved: 0,
            u: [0; 32],
        },
        raw_size: 64,
        key_id: 0,
        flags: 0,
        reserved: [0; 7],
        raw: raw_key(),
    };
    // SAFETY: FS_IOC_ADD_ENCRYPTION_KEY with a valid struct and its 64 raw bytes.
    if unsafe { libc::ioctl(root.as_raw_fd(), FS_IOC_ADD_ENCRYPTION_KEY, &mut a) } != 0 {
        return Err(format!(
            "FS_IOC_ADD_ENCRYPTION_KEY: {} (needs CONFIG_FS_ENCRYPTION and mkfs.ext4 -O encrypt)",
            std::io::Error::last_os_error()
        ));
    }
    Ok(a.spec)
}

/// Whether the plan's file must be created with FS_JOURNAL_DATA_FL (the plan checks the flag
/// after the set-up: [`Step::ExpectInodeFlags`]). The new inode inherits it from its directory
/// (`__ext4_new_inode`: EXT4_FL_INHERITED includes EXT4_JOURNAL_DATA_FL), before the inode's
/// mapping order is chosen. A `chattr +j` on the created file is not the same on 6.16 - 6.18:
/// there `__ext4_new_inode` has already given a regular file large folios
/// (`ext4_should_enable_large_folio`, false only for data=journal, a +j inode, or the verity or
/// encrypt feature), `ext4_change_inode_journal_flag` does not take them away, and
/// `ext4_inode_journal_mode` honours the inode flag only without large folio support (the
/// condition and the reset of the mapping order arrived together in 6.19, "ext4: make
/// data=journal support large block size"; read in the 7.2 and 7.3 sources).
pub fn journalled_at_create(plan: &Plan) -> bool {
    plan.steps
        .iter()
        .any(|s| matches!(s, Step::ExpectInodeFlags(b) if b & super::plan::FS_JOURNAL_DATA_FL != 0))
}

/// Whether [`ScenarioDir`] makes a directory for the plan (else the file is in the mount).
fn own_dir(plan: &Plan) -> bool {
    plan.key.inode_kind == InodeKind::Encrypted || journalled_at_create(plan)
}

/// The mount point of the scratch filesystem a plan's `file` is in ([`ScenarioDir`]: the mount,
/// or a directory made in it).
pub fn mount_of<'a>(plan: &Plan, file: &'a Path) -> &'a Path {
    let dir = file.parent().unwrap_or(file);
    if own_dir(plan) {
        dir.parent().unwrap_or(dir)
    } else {
        dir
    }
}

/// The directory a scenario's files live in: the scratch mount itself, or a directory made for
/// the scenario: encrypted (removed with its key on drop) and/or with FS_JOURNAL_DATA_FL
/// ([`journalled_at_create`]; removed on drop).
pub struct ScenarioDir {
    path: PathBuf,
    /// The mount the key was added to, and the key. Only the path is kept: an open handle on
    /// the mount's root would keep P1 ([`super::probes`]) from unmounting it.
    enc: Option<(PathBuf, KeySpec)>,
    /// The directory is ours to remove.
    own: bool,
}

impl ScenarioDir {
    /// For `plan` in the scratch mount `mnt`; `name` names the directory.
    pub fn new(plan: &Plan, mnt: &Path, name: &str) -> Result<ScenarioDir, String> {
        let mut d = if plan.key.inode_kind == InodeKind::Encrypted {
            ScenarioDir::encrypted(mnt, name)?
        } else if own_dir(plan) {
            let path = mnt.join(format!("jd-{name}"));
            fs::create_dir(&path).map_err(|e| format!("mkdir {}: {e}", path.display()))?;
            ScenarioDir {
                path,
                enc: None,
                own: true,
            }
        } else {
            return Ok(ScenarioDir {
                path: mnt.to_path_buf(),
                enc: None,
                own: false,
            });
        };
        if journalled_at_create(plan) {
            let r = fs::File::open(&d.path)
                .map_err(|e| format!("open {}: {e}", d.path.display()))
                .and_then(|dir| {
                    super::exec::set_inode_flags(
                        dir.as_raw_fd(),
                        super::plan::FS_JOURNAL_DATA_FL,
                        0,
                    )
                });
            if let Err(e) = r {
                d.cleanup();
                return Err(e);
            }
        }
        Ok(d)
    }

    /// An encrypted directory MNT/enc-NAME with the key added to the filesystem.
    fn encrypted(mnt: &Path, name: &str) -> Result<ScenarioDir, String> {
        let spec = add_key_spec(mnt)?;
        let mut d = ScenarioDir {
            path: mnt.join(format!("enc-{name}")),
            enc: Some((mnt.to_path_buf(), spec)),
            own: false,
        };
        fs::create_dir(&d.path).map_err(|e| format!("mkdir {}: {e}", d.path.display()))?;
        d.own = true;
        let dir = fs::File::open(&d.path).map_err(|e| format!("open {}: {e}", d.path.display()))?;
        let mut id = [0u8; 16];
        id.copy_from_slice(&spec.u[..16]);
        let p = PolicyV2 {
            version: FSCRYPT_POLICY_V2,
            contents: FSCRYPT_MODE_AES_256_XTS,
            filenames: FSCRYPT_MODE_AES_256_CTS,
            flags: 0,
            log2_data_unit_size: 0,
            reserved: [0; 3],
            identifier: id,
        };
        // SAFETY: FS_IOC_SET_ENCRYPTION_POLICY reads the v2 policy struct.
        if unsafe { libc::ioctl(dir.as_raw_fd(), FS_IOC_SET_ENCRYPTION_POLICY, &p) } != 0 {
            let e = std::io::Error::last_os_error();
            d.cleanup();
            return Err(format!("FS_IOC_SET_ENCRYPTION_POLICY: {e}"));
        }
        Ok(d)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn cleanup(&mut self) {
        if std::mem::take(&mut self.own) {
            let _ = fs::remove_dir(&self.path);
        }
        if let Some((mnt, spec)) = self.enc.take() {
            // The key is the superblock's: after P1's remount it is the one add_key gave the
            // new superblock (the old one's keyring went at unmount: fscrypt_destroy_keyring).
            let Ok(root) = fs::File::open(&mnt) else {
                return;
            };
            let mut r = RemoveKeyArg {
                spec,
                status_flags: 0,
                reserved: [0; 5],
            };
            // SAFETY: FS_IOC_REMOVE_ENCRYPTION_KEY with a valid struct.
            unsafe { libc::ioctl(root.as_raw_fd(), FS_IOC_REMOVE_ENCRYPTION_KEY, &mut r) };
        }
    }
}

impl Drop for ScenarioDir {
    fn drop(&mut self) {
        self.cleanup();
    }
}

/// C for the reproducer: `enc_setup(dir, name)` makes DIR/NAME an encrypted directory (the same
/// key and policy as [`ScenarioDir`]) and returns it; the directory and the key are removed at
/// exit.
pub const C_PRELUDE: &str = r#"
#include <linux/fscrypt.h>
static char enc_dir[4096];
static int enc_dfd = -1;
static struct fscrypt_key_specifier enc_spec;
static void enc_teardown(void)
{
	if (enc_dfd < 0)
		return;
	rmdir(enc_dir);
	struct fscrypt_remove_key_arg r;
	memset(&r, 0, sizeof(r));
	r.key_spec = enc_spec;
	if (ioctl(enc_dfd, FS_IOC_REMOVE_ENCRYPTION_KEY, &r))
		perror("FS_IOC_REMOVE_ENCRYPTION_KEY");
	close(enc_dfd);
	enc_dfd = -1;
}
static const char *enc_setup(const char *dir, const char *name)
{
	struct { struct fscrypt_add_key_arg a; unsigned char raw[64]; } k;
	memset(&k, 0, sizeof(k));
	k.a.key_spec.type = FSCRYPT_KEY_SPEC_TYPE_IDENTIFIER;
	k.a.raw_size = 64;
	for (int i = 0; i < 64; i++)
		k.raw[i] = (unsigned char)(0xd1 + 7 * i);
	enc_dfd = open(dir, O_RDONLY | O_DIRECTORY);
	if (enc_dfd < 0)
		die("open dir for the key");
	if (ioctl(enc_dfd, FS_IOC_ADD_ENCRYPTION_KEY, &k))
		die("FS_IOC_ADD_ENCRYPTION_KEY (needs mkfs.ext4 -O encrypt and CONFIG_FS_ENCRYPTION)");
	enc_spec = k.a.key_spec;
	atexit(enc_teardown);
	snprintf(enc_dir, sizeof(enc_dir), "%s/%s", dir, name);
	if (mkdir(enc_dir, 0700))
		die("mkdir encrypted dir");
	int d = open(enc_dir, O_RDONLY | O_DIRECTORY);
	if (d < 0)
		die("open encrypted dir");
	struct fscrypt_policy_v2 p;
	memset(&p, 0, sizeof(p));
	p.version = FSCRYPT_POLICY_V2;
	p.contents_encryption_mode = FSCRYPT_MODE_AES_256_XTS;
	p.filenames_encryption_mode = FSCRYPT_MODE_AES_256_CTS;
	memcpy(p.master_key_identifier, enc_spec.u.identifier, FSCRYPT_KEY_IDENTIFIER_SIZE);
	if (ioctl(d, FS_IOC_SET_ENCRYPTION_POLICY, &p))
		die("FS_IOC_SET_ENCRYPTION_POLICY");
	close(d);
	return enc_dir;
}
"#;

/// C for the reproducer: `jd_setup(dir, name, make)` gives DIR (or, with `make`, a new DIR/NAME
/// removed at exit) FS_JOURNAL_DATA_FL, which the file created in it inherits
/// ([`journalled_at_create`]).
pub const C_JD_PRELUDE: &str = r#"
static char jd_dir[4096];
static void jd_teardown(void)
{
	rmdir(jd_dir);
}
static const char *jd_setup(const char *dir, const char *name, int make)
{
	if (make) {
		snprintf(jd_dir, sizeof(jd_dir), "%s/%s", dir, name);
		if (mkdir(jd_dir, 0700))
			die("mkdir journalled-data dir");
		atexit(jd_teardown);
		dir = jd_dir;
	}
	int d = open(dir, O_RDONLY | O_DIRECTORY);
	if (d < 0)
		die("open journalled-data dir");
	int fl = 0;
	if (ioctl(d, 0x80086601UL /* FS_IOC_GETFLAGS */, &fl))
		die("FS_IOC_GETFLAGS (dir)");
	fl |= 0x4000; /* FS_JOURNAL_DATA_FL */
	if (ioctl(d, 0x40086602UL /* FS_IOC_SETFLAGS */, &fl))
		die("FS_IOC_SETFLAGS +j on the directory (needs CAP_SYS_RESOURCE)");
	close(d);
	return dir;
}
"#;

/// C for [`Step::ExpectInodeFlags`]: the program cannot run the scenario without the inode kind.
pub fn c_expect_flags(bits: u32) -> String {
    format!(
        "\t{{\n\t\tint fl = 0;\n\t\tif (ioctl(fd, 0x80086601UL /* FS_IOC_GETFLAGS */, &fl))\n\t\t\tdie(\"FS_IOC_GETFLAGS\");\n\t\tif ((fl & {bits:#x}) != {bits:#x}) {{\n\t\t\tprintf(\"COULD NOT RUN: the kernel did not build the inode (flags %#x, wanted {bits:#x})\\n\", fl);\n\t\t\tclose(fd);\n\t\t\tunlink(path);\n\t\t\treturn 2;\n\t\t}}\n\t}}\n"
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::live::plan::plan;
    use diofuzz::scenario::{BlockState, PageState};

    fn inline(i_size: u64) -> Scenario {
        let mut s = Scenario {
            fs: FsKind::Ext4,
            ..Scenario::default()
        };
        s.world.i_size = i_size;
        s.world.blocks = vec![BlockState::default()];
        s.world.inode.inline_data = true;
        s.world.inode.extents = false;
        s.request.rwf = Default::default();
        s.request.open.direct = true;
        s.request.len = 4096;
        s
    }

    #[test]
    fn inline_plan_writes_the_data_and_checks_the_flag() {
        let s = inline(100);
        assert!(diofuzz::validity::is_valid(&s));
        let p = plan(&s).unwrap();
        assert_eq!(p.key.inode_kind, InodeKind::Inline);
        assert!(p.key.label().ends_with("-inline"), "{}", p.key.label());
        assert_eq!(p.steps.first(), Some(&Step::WriteZero { off: 0, len: 100 }));
        assert!(!p.steps.contains(&Step::Truncate(100)));
        // No chattr -e: the inline inode loses EXTENTS when the kernel makes it inline.
        assert!(!p
            .steps
            .iter()
            .any(|s| matches!(s, Step::SetInodeFlags { .. })));
        assert_eq!(
            p.steps.last(),
            Some(&Step::ExpectInodeFlags(FS_INLINE_DATA_FL))
        );
        let a = InodeKind::Inline.mkfs_args(12);
        assert_eq!(a, ["-O", "inline_data", "-I", "4096", "-N", "1024"]);
    }

    #[test]
    fn empty_inline_file_is_written_then_truncated() {
        let p = plan(&inline(0)).unwrap();
        assert_eq!(
            &p.steps[..2],
            &[Step::WriteZero { off: 0, len: 1 }, Step::Truncate(0)]
        );
    }

    #[test]
    fn inline_with_a_clean_page_reads_it_after_the_cache_is_dropped() {
        let mut s = inline(3000);
        s.world.pages = vec![PageState::Clean];
        let p = plan(&s).unwrap();
        let drop = p.steps.iter().position(|s| *s == Step::DropCache).unwrap();
        let read = p
            .steps
            .iter()
            .position(|s| *s == Step::ReadPage { off: 0 })
            .unwrap();
        assert!(drop < read);
    }

    #[test]
    fn encrypted_plan_needs_the_encrypt_feature_and_checks_the_flag() {
        let mut s = Scenario {
            fs: FsKind::Ext4,
            ..Scenario::default()
        };
        s.world.device = Default::default();
        s.request.rwf = Default::default();
        s.world.inode.encrypted = true;
        let p = plan(&s).unwrap();
        assert_eq!(p.key.inode_kind, InodeKind::Encrypted);
        assert_eq!(p.steps.last(), Some(&Step::ExpectInodeFlags(FS_ENCRYPT_FL)));
        assert_eq!(InodeKind::Encrypted.mkfs_args(12), ["-O", "encrypt"]);
        // The plain world's steps are unchanged before the check.
        let mut plain = s.clone();
        plain.world.inode.encrypted = false;
        let q = plan(&plain).unwrap();
        assert_eq!(&p.steps[..p.steps.len() - 1], &q.steps[..]);
        assert_eq!(q.key.inode_kind, InodeKind::Plain);
    }

    /// A +j inode is created in a +j directory (the flag inherited before the mapping order is
    /// chosen), never chattr'd after creation; the C program does the same.
    #[test]
    fn journalled_inode_is_made_in_a_journalled_directory() {
        let mut s = Scenario {
            fs: FsKind::Ext4,
            ..Scenario::default()
        };
        s.world.device = Default::default();
        s.request.rwf = Default::default();
        s.request.open.direct = true;
        s.world.inode.journal_data = true;
        s.world.inode.extents = false;
        assert!(
            diofuzz::validity::is_valid(&s),
            "{:?}",
            diofuzz::validity::violations(&s)
        );
        let p = plan(&s).unwrap();
        let j = crate::live::plan::FS_JOURNAL_DATA_FL;
        assert!(journalled_at_create(&p));
        assert!(p.key.nodelalloc);
        assert_eq!(p.key.inode_kind, InodeKind::Plain);
        assert_eq!(p.steps[0], Step::ExpectInodeFlags(j));
        // -e still chattr'd on the empty file, without +j.
        assert_eq!(
            p.steps[1],
            Step::SetInodeFlags {
                set: 0,
                clear: crate::live::plan::FS_EXTENT_FL
            }
        );
        let c = crate::live::repro::c_program(&s).unwrap();
        assert!(c.contains("dir = jd_setup(dir, jdname, 1);"), "{c}");
        assert!(c.contains("0x4000"), "flag checked");
        // Without the flag: the mount itself, no check.
        s.world.inode.journal_data = false;
        let q = plan(&s).unwrap();
        assert!(!journalled_at_create(&q));
        assert!(!crate::live::repro::c_program(&s)
            .unwrap()
            .contains("jd_setup"));
    }

    #[test]
    fn inline_larger_than_an_inode_is_refused() {
        let mut s = inline(0);
        s.world.i_size = 3969;
        assert!(refuse(&s).is_err());
        s.world.i_size = 3968;
        assert!(refuse(&s).is_ok());
    }

    #[test]
    fn c_programs_build_these_inodes() {
        let s = inline(200);
        let c = crate::live::repro::c_program(&s).unwrap();
        assert!(c.contains("inline_data"), "mkfs named");
        assert!(c.contains("0x10000000"), "flag checked");
        let mut e = Scenario {
            fs: FsKind::Ext4,
            ..Scenario::default()
        };
        e.world.device = Default::default();
        e.request.rwf = Default::default();
        e.world.inode.encrypted = true;
        let c = crate::live::repro::c_program(&e).unwrap();
        assert!(c.contains("enc_setup(dir"), "file made in an encrypted dir");
        assert!(c.contains("FS_IOC_REMOVE_ENCRYPTION_KEY"));
        assert!(c.contains("-O encrypt"));
    }
}
