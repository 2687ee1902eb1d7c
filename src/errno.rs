// SPDX-License-Identifier: GPL-2.0-only
//! Linux errno values (x86-64 / asm-generic) and their names, as the kernel returns them.

pub const EPERM: i64 = 1;
pub const EIO: i64 = 5;
pub const EAGAIN: i64 = 11;
pub const ENOMEM: i64 = 12;
pub const EFAULT: i64 = 14;
pub const ENOTBLK: i64 = 15;
pub const EBUSY: i64 = 16;
pub const EINVAL: i64 = 22;
pub const ETXTBSY: i64 = 26;
pub const EFBIG: i64 = 27;
pub const ENOSPC: i64 = 28;
pub const EROFS: i64 = 30;
pub const ERANGE: i64 = 34;
pub const ENOPROTOOPT: i64 = 92;
pub const EOPNOTSUPP: i64 = 95;
pub const ETIMEDOUT: i64 = 110;
pub const EDQUOT: i64 = 122;
/// EUCLEAN, which ext4 calls EFSCORRUPTED.
pub const EFSCORRUPTED: i64 = 117;
/// Kernel-internal: "I/O was queued", returned by async DIO submission (include/linux/errno.h).
pub const EIOCBQUEUED: i64 = 529;

/// Name of a (positive) errno value, "E?" for one the model never produces.
pub fn name(e: i64) -> &'static str {
    match e.abs() {
        EPERM => "EPERM",
        EIO => "EIO",
        EAGAIN => "EAGAIN",
        ENOMEM => "ENOMEM",
        EFAULT => "EFAULT",
        ENOTBLK => "ENOTBLK",
        EBUSY => "EBUSY",
        EINVAL => "EINVAL",
        ETXTBSY => "ETXTBSY",
        EFBIG => "EFBIG",
        ENOSPC => "ENOSPC",
        EROFS => "EROFS",
        ERANGE => "ERANGE",
        ENOPROTOOPT => "ENOPROTOOPT",
        EOPNOTSUPP => "EOPNOTSUPP",
        ETIMEDOUT => "ETIMEDOUT",
        EDQUOT => "EDQUOT",
        EFSCORRUPTED => "EFSCORRUPTED",
        EIOCBQUEUED => "EIOCBQUEUED",
        _ => "E?",
    }
}

/// Every errno the model knows, in number order.
pub const ALL: [i64; 19] = [
    EPERM,
    EIO,
    EAGAIN,
    ENOMEM,
    EFAULT,
    ENOTBLK,
    EBUSY,
    EINVAL,
    ETXTBSY,
    EFBIG,
    ENOSPC,
    EROFS,
    ERANGE,
    ENOPROTOOPT,
    EOPNOTSUPP,
    ETIMEDOUT,
    EDQUOT,
    EFSCORRUPTED,
    EIOCBQUEUED,
];

/// Parse an errno name ("EIO", "-EIO", "eio"; "EUCLEAN" for EFSCORRUPTED).
pub fn parse(s: &str) -> Option<i64> {
    let s = s.trim().trim_start_matches('-').to_ascii_uppercase();
    if s == "EUCLEAN" {
        return Some(EFSCORRUPTED);
    }
    ALL.into_iter().find(|&e| name(e) == s)
}

/// serde for an errno field: written as its name ("ENOSPC", or 0 for "no errno"), read from a
/// name or a number.
pub mod serde_name {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(e: &i64, s: S) -> Result<S::Ok, S::Error> {
        match super::name(*e) {
            "E?" => s.serialize_i64(*e),
            n => s.serialize_str(n),
        }
    }

    #[derive(Deserialize)]
    #[serde(untagged)]
    enum NameOrNumber {
        Name(String),
        Number(i64),
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
        match NameOrNumber::deserialize(d)? {
            NameOrNumber::Number(n) => Ok(n.abs()),
            NameOrNumber::Name(t) => super::parse(&t).ok_or_else(|| {
                serde::de::Error::custom(format!(
                    "unknown errno '{t}'; valid: {}",
                    super::ALL.map(super::name).join(", ")
                ))
            }),
        }
    }
}

/// Format a syscall-style return value: a byte count, or "-EIO".
pub fn fmt_ret(r: i64) -> String {
    if r < 0 {
        format!("-{}", name(r))
    } else {
        r.to_string()
    }
}

/// Errnos that write(2)/pwritev2(2) document or that a filesystem may legitimately pass up from the
/// block layer. Anything else reaching user space is an internal code leaking (oracle O5).
pub fn is_user_visible_write_errno(e: i64) -> bool {
    matches!(
        e.abs(),
        EPERM
            | EIO
            | EAGAIN
            | ENOMEM
            | EFAULT
            | EBUSY
            | EINVAL
            | ETXTBSY
            | EFBIG
            | ENOSPC
            | EROFS
            | EOPNOTSUPP
            | ETIMEDOUT
            | EDQUOT
            | EFSCORRUPTED
    )
}
