//! The machine a figure was measured on, printed with every result: a number means little without
//! the cores, memory and CPU behind it.

use std::fmt;

pub struct Machine {
    pub cpus: usize,
    pub cpu_model: String,
    pub memory_mib: u64,
    pub kernel: String,
    /// `git describe --always --dirty` of the tree, when git is available.
    pub revision: Option<String>,
}

impl Machine {
    pub fn detect() -> Self {
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let cpu_model = cpuinfo
            .lines()
            .find_map(|l| l.strip_prefix("model name").and_then(|r| r.split_once(':')).map(|(_, m)| m.trim()))
            .unwrap_or("unknown")
            .to_owned();
        let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
        let memory_mib = kib_field(&meminfo, "MemTotal:").map_or(0, |kib| kib / 1024);
        let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default().trim().to_owned();
        let revision = std::process::Command::new("git")
            .args(["describe", "--always", "--dirty"])
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned());
        Machine {
            cpus: std::thread::available_parallelism().map_or(1, |n| n.get()),
            cpu_model,
            memory_mib,
            kernel,
            revision,
        }
    }
}

impl fmt::Display for Machine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} CPUs ({}), {} MiB RAM, Linux {}, tree {}",
            self.cpus,
            self.cpu_model,
            self.memory_mib,
            self.kernel,
            self.revision.as_deref().unwrap_or("unknown")
        )
    }
}

/// A `Name:   1234 kB` line of /proc/meminfo or /proc/<pid>/status, in KiB.
pub fn kib_field(text: &str, name: &str) -> Option<u64> {
    text.lines()
        .find_map(|l| l.strip_prefix(name))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
}

/// Resident and peak resident memory of a process, in KiB (`VmRSS`, `VmHWM`).
pub fn process_rss_kib(pid: u32) -> std::io::Result<(u64, u64)> {
    let m = process_memory_kib(pid)?;
    Ok((m.rss, m.hwm))
}

/// A process's memory from /proc/<pid>/status, in KiB.
pub struct ProcessMemory {
    /// `VmRSS`: resident now.
    pub rss: u64,
    /// `VmHWM`: the most resident so far.
    pub hwm: u64,
    /// `RssAnon`: resident heap and stacks (the allocator's memory).
    pub anon: u64,
    /// `RssFile` + `RssShmem`: resident pages of mapped files (the binary, libraries, SQLite's WAL
    /// index).
    pub file: u64,
}

pub fn process_memory_kib(pid: u32) -> std::io::Result<ProcessMemory> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let field = |name| {
        kib_field(&status, name)
            .ok_or_else(|| std::io::Error::new(std::io::ErrorKind::InvalidData, format!("no {name} for pid {pid}")))
    };
    Ok(ProcessMemory {
        rss: field("VmRSS:")?,
        hwm: field("VmHWM:")?,
        anon: field("RssAnon:")?,
        file: field("RssFile:")? + field("RssShmem:")?,
    })
}
