// SPDX-License-Identifier: GPL-2.0-only
//! Running a kernel under QEMU: KVM when it works, TCG otherwise; the console (ttyS0) and the
//! result stream (ttyS1) go to files on the host, so whatever the guest wrote before a panic or
//! a hang is kept. QEMU runs in its own process group with a parent-death signal, and is killed
//! on the per-kernel timeout and on SIGINT/SIGTERM.

use std::fs;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

pub const QEMU: &str = "qemu-system-x86_64";

/// The QEMU binary, or the error naming its package.
pub fn qemu_binary() -> Result<PathBuf, String> {
    crate::live::scratch::which(QEMU).ok_or_else(|| {
        format!("{QEMU} not found: install the qemu-system-x86 package (apt-get install qemu-system-x86)")
    })
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Accel {
    Kvm,
    Tcg,
}

impl Accel {
    pub fn name(self) -> &'static str {
        match self {
            Accel::Kvm => "KVM",
            Accel::Tcg => "TCG (no usable KVM: emulation, slower)",
        }
    }
}

/// KVM when /dev/kvm opens read-write and the CPU shows hardware virtualisation (vmx/svm);
/// without them QEMU's KVM stops with "KVM internal error" (nested virtualisation missing).
pub fn detect_accel() -> Accel {
    let dev = fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/kvm")
        .is_ok();
    let cpu = fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let virt = cpu
        .lines()
        .filter(|l| l.starts_with("flags"))
        .any(|l| l.split_whitespace().any(|f| f == "vmx" || f == "svm"));
    if dev && virt {
        Accel::Kvm
    } else {
        Accel::Tcg
    }
}

/// One VM run.
pub struct Vm {
    pub kernel: PathBuf,
    pub initrd: PathBuf,
    /// The console (ttyS0) log.
    pub console: PathBuf,
    /// The result stream (ttyS1).
    pub results: PathBuf,
    pub memory_mb: u32,
    /// A legacy pmem region of this many MiB above `memory_mb` (memmap=, the DAX groups'
    /// device, [`super::pmem`]); the guest gets that much more RAM and a margin. 0: none.
    pub pmem_mb: u32,
    pub accel: Accel,
    pub timeout: Duration,
}

/// How a run ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum End {
    /// QEMU exited by itself (guest power-off, or -no-reboot after a panic).
    Exited(i32),
    Timeout,
    Interrupted,
}

impl Vm {
    pub fn args(&self) -> Vec<String> {
        let mut a: Vec<String> = match self.accel {
            Accel::Kvm => vec!["-accel".into(), "kvm".into(), "-cpu".into(), "host".into()],
            Accel::Tcg => vec!["-accel".into(), "tcg".into(), "-cpu".into(), "max".into()],
        };
        // One vCPU: 6.12 under TCG oopses in __schedule with two once tracepoints are enabled.
        a.extend(
            [
                "-m",
                &(self.memory_mb + self.pmem_mb + super::pmem::slack_mb(self.pmem_mb)).to_string(),
                "-smp",
                "1",
                "-nographic",
                "-no-reboot",
                "-monitor",
                "none",
                "-nic",
                "none",
            ]
            .iter()
            .map(|s| s.to_string()),
        );
        a.push("-kernel".into());
        a.push(self.kernel.display().to_string());
        a.push("-initrd".into());
        a.push(self.initrd.display().to_string());
        a.push("-append".into());
        // loglevel=5: WARN (KERN_WARNING) and worse reach the console; an oops ends the guest
        // (panic, -no-reboot) instead of leaving a half-dead kernel to time out. no_timer_check:
        // under TCG on a loaded host the boot-time IO-APIC timer check can miss its ticks and
        // panic ("IO-APIC + timer doesn't work!", seen once on 6.12.117 in the bdev matrix).
        let mut cmdline = "console=ttyS0 loglevel=5 oops=panic panic=-1 no_timer_check".to_string();
        if self.pmem_mb > 0 {
            cmdline = format!("{cmdline} {}", super::pmem::memmap_param(self.memory_mb));
        }
        a.push(cmdline);
        a.push("-serial".into());
        a.push(format!("file:{}", self.console.display()));
        a.push("-serial".into());
        a.push(format!("file:{}", self.results.display()));
        a
    }

    /// Run to the end, calling `tick` about every half second (progress). Kills QEMU (its whole
    /// process group) on timeout and on SIGINT/SIGTERM (crate::live::scratch's flag).
    pub fn run(&self, qemu: &Path, mut tick: impl FnMut()) -> Result<(End, Duration), String> {
        let t0 = Instant::now();
        let mut cmd = Command::new(qemu);
        cmd.args(self.args())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        // SAFETY: between fork and exec only async-signal-safe calls (setpgid, prctl).
        unsafe {
            cmd.pre_exec(|| {
                libc::setpgid(0, 0);
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                Ok(())
            });
        }
        let mut child = cmd
            .spawn()
            .map_err(|e| format!("start {}: {e}", qemu.display()))?;
        let pid = child.id() as i32;
        let kill = |child: &mut std::process::Child| {
            // SAFETY: signalling the process group we created for QEMU.
            unsafe { libc::kill(-pid, libc::SIGKILL) };
            let _ = child.kill();
            let _ = child.wait();
        };
        let mut last = Instant::now();
        loop {
            match child.try_wait() {
                Ok(Some(st)) => {
                    let code = st.code().unwrap_or(-1);
                    if code != 0 {
                        let mut err = String::new();
                        if let Some(mut e) = child.stderr.take() {
                            use std::io::Read;
                            let _ = e.read_to_string(&mut err);
                        }
                        if !err.trim().is_empty() {
                            return Err(format!("{QEMU} exited {code}: {}", err.trim()));
                        }
                    }
                    return Ok((End::Exited(code), t0.elapsed()));
                }
                Ok(None) => {}
                Err(e) => {
                    kill(&mut child);
                    return Err(format!("wait for {QEMU}: {e}"));
                }
            }
            if crate::live::scratch::interrupted() {
                kill(&mut child);
                return Ok((End::Interrupted, t0.elapsed()));
            }
            if t0.elapsed() > self.timeout {
                kill(&mut child);
                return Ok((End::Timeout, t0.elapsed()));
            }
            if last.elapsed() > Duration::from_millis(500) {
                tick();
                last = Instant::now();
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn command_line() {
        let vm = Vm {
            kernel: "/c/vmlinuz".into(),
            initrd: "/c/ir.gz".into(),
            console: "/o/console.log".into(),
            results: "/o/stream.jsonl".into(),
            memory_mb: 2048,
            pmem_mb: 0,
            accel: Accel::Tcg,
            timeout: Duration::from_secs(1),
        };
        let a = vm.args().join(" ");
        assert!(a.starts_with("-accel tcg -cpu max -m 2048 -smp 1"), "{a}");
        assert!(a.contains("-serial file:/o/console.log -serial file:/o/stream.jsonl"));
        assert!(a.contains("-no-reboot"));
        assert!(a.contains("panic=-1"));
        assert!(!a.contains("memmap="));
        // A DAX group: the pmem region above the guest's RAM, which grows by its size.
        let vm = Vm { pmem_mb: 512, ..vm };
        let a = vm.args().join(" ");
        assert!(a.contains("-m 2816 "), "{a}");
        assert!(a.contains("no_timer_check memmap=512M!2048M"), "{a}");
    }
}
