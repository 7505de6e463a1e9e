//! What this computer has: cores and the thread count the engine uses, RAM and GPU memory (the
//! planner's [`Hardware`]), and the memory the process has used.

#![allow(
    unsafe_code,
    reason = "the process's memory comes from the OS (getrusage, K32GetProcessMemoryInfo)"
)]

use serde::{Deserialize, Serialize};

/// One thread per physical core: llama.cpp's default of 4 is wrong on most machines, and
/// hyper-threads slow matrix work down rather than up.
#[must_use]
pub fn default_threads() -> usize {
    num_cpus::get_physical().max(1)
}

/// Physical and logical CPU cores.
#[must_use]
pub fn cpu_cores() -> (usize, usize) {
    (num_cpus::get_physical().max(1), num_cpus::get().max(1))
}

/// Peak resident memory of this process, in bytes: `VmHWM` on Linux, the `ru_maxrss` of
/// `getrusage` on macOS (bytes there, kilobytes on the other Unixes), the peak working set on
/// Windows; `None` where the system does not say.
#[must_use]
pub fn peak_rss_bytes() -> Option<u64> {
    #[cfg(target_os = "linux")]
    {
        let status = std::fs::read_to_string("/proc/self/status").ok()?;
        let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
        let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
        Some(kib * 1024)
    }
    #[cfg(all(unix, not(target_os = "linux")))]
    {
        // SAFETY: all-zero is a valid `rusage` (integers only), and getrusage writes into the
        // struct it is given, which lives for the call.
        let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
        // SAFETY: as above.
        if unsafe { libc::getrusage(libc::RUSAGE_SELF, &raw mut usage) } != 0 {
            return None;
        }
        let max = u64::try_from(usage.ru_maxrss).ok()?;
        Some(if cfg!(target_vendor = "apple") {
            max
        } else {
            max * 1024
        })
    }
    #[cfg(windows)]
    {
        use windows_sys::Win32::System::ProcessStatus::{
            K32GetProcessMemoryInfo, PROCESS_MEMORY_COUNTERS,
        };
        use windows_sys::Win32::System::Threading::GetCurrentProcess;
        let mut counters = PROCESS_MEMORY_COUNTERS::default();
        let size = u32::try_from(size_of::<PROCESS_MEMORY_COUNTERS>()).ok()?;
        counters.cb = size;
        // SAFETY: the pseudo-handle of the current process needs no closing; `counters` is a
        // live struct of the size passed.
        let ok = unsafe { K32GetProcessMemoryInfo(GetCurrentProcess(), &raw mut counters, size) };
        (ok != 0).then_some(counters.PeakWorkingSetSize as u64)
    }
    #[cfg(not(any(unix, windows)))]
    {
        None
    }
}

/// One GPU as llama.cpp reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GpuMemory {
    /// The device, e.g. "NVIDIA GeForce RTX 4060".
    pub name: String,
    /// Total memory in bytes.
    pub total: u64,
    /// Free memory in bytes.
    pub free: u64,
    /// True when the GPU shares the system RAM (Apple silicon, integrated GPUs): what it uses is
    /// then taken from RAM too.
    pub shared: bool,
}

/// The memory of the machine.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hardware {
    /// Installed RAM in bytes.
    pub ram_total: u64,
    /// RAM available to a new program (free plus reclaimable cache), in bytes.
    pub ram_available: u64,
    /// GPUs usable by the built-in GPU backend (empty on CPU-only builds).
    pub gpus: Vec<GpuMemory>,
}

impl Hardware {
    /// A CPU-only machine with `available` bytes of free RAM.
    #[must_use]
    pub fn cpu_only(ram_total: u64, ram_available: u64) -> Self {
        Self {
            ram_total,
            ram_available,
            gpus: Vec::new(),
        }
    }

    /// Reads this machine's figures: free RAM (within a container's memory limit) and the GPUs
    /// llama.cpp's built-in backend lists.
    #[must_use]
    pub fn detect() -> Self {
        let (ram_total, ram_available) = memory();
        let gpus = if super::runtime::gpu_backend().is_some() {
            llama_cpp_2::list_llama_ggml_backend_devices()
                .into_iter()
                .filter(|d| {
                    matches!(
                        d.device_type,
                        llama_cpp_2::LlamaBackendDeviceType::Gpu
                            | llama_cpp_2::LlamaBackendDeviceType::IntegratedGpu
                    )
                })
                .map(|d| GpuMemory {
                    shared: matches!(
                        d.device_type,
                        llama_cpp_2::LlamaBackendDeviceType::IntegratedGpu
                    ) || cfg!(feature = "metal"),
                    name: if d.description.is_empty() {
                        d.name
                    } else {
                        d.description
                    },
                    total: d.memory_total as u64,
                    free: d.memory_free as u64,
                })
                .collect()
        } else {
            Vec::new()
        };
        Self {
            ram_total,
            ram_available,
            gpus,
        }
    }
}

/// RAM the machine has and RAM available to this process, in bytes: the system's figures,
/// bounded by the cgroup's memory limit when one is lower (containers, systemd slices).
///
/// A cgroup counts its page cache as used, and sysinfo's cgroup "free" is its limit minus
/// that usage; but clean file cache the kernel drops on demand is as available as free memory
/// (the system's own `MemAvailable` counts it). So inside a real limit, what is available is
/// the limit less the usage that cannot be reclaimed (usage less inactive file pages), and a
/// limit at or above the machine's RAM is no limit at all.
#[must_use]
pub fn memory() -> (u64, u64) {
    let mut system = sysinfo::System::new();
    system.refresh_memory();
    let total = system.total_memory();
    let available = system.available_memory();
    match cgroup_memory() {
        Some(cgroup) if cgroup.limit < total => {
            let unreclaimable = cgroup.usage.saturating_sub(cgroup.inactive_file);
            let cgroup_available = cgroup.limit.saturating_sub(unreclaimable);
            (cgroup.limit, available.min(cgroup_available))
        }
        _ => (total, available),
    }
}

/// A cgroup's memory figures, in bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct CgroupMemory {
    /// The limit (`memory.max`, `memory.limit_in_bytes`).
    pub(crate) limit: u64,
    /// What it uses, page cache included.
    pub(crate) usage: u64,
    /// File pages the kernel reclaims first.
    pub(crate) inactive_file: u64,
}

/// This process's cgroup memory figures (v2, else v1) as the container sees them at
/// `/sys/fs/cgroup`; `None` without a limit or off Linux.
fn cgroup_memory() -> Option<CgroupMemory> {
    if !cfg!(target_os = "linux") {
        return None;
    }
    let read = |path: &str| std::fs::read_to_string(path).ok();
    let v2 = || {
        let limit = read("/sys/fs/cgroup/memory.max")?;
        let usage = read("/sys/fs/cgroup/memory.current")?;
        let stat = read("/sys/fs/cgroup/memory.stat")?;
        parse_cgroup(&limit, &usage, &stat, "inactive_file")
    };
    let v1 = || {
        let limit = read("/sys/fs/cgroup/memory/memory.limit_in_bytes")?;
        let usage = read("/sys/fs/cgroup/memory/memory.usage_in_bytes")?;
        let stat = read("/sys/fs/cgroup/memory/memory.stat")?;
        parse_cgroup(&limit, &usage, &stat, "total_inactive_file")
    };
    v2().or_else(v1)
}

/// The figures from the text of a cgroup's limit, usage and `memory.stat` files; `None` when
/// the limit is `max` (none) or a file does not parse.
pub(crate) fn parse_cgroup(
    limit: &str,
    usage: &str,
    stat: &str,
    inactive_key: &str,
) -> Option<CgroupMemory> {
    let limit = limit.trim().parse().ok()?;
    let usage = usage.trim().parse().ok()?;
    let inactive_file = stat
        .lines()
        .filter_map(|line| line.split_once(' '))
        .find(|(key, _)| *key == inactive_key)
        .and_then(|(_, value)| value.trim().parse().ok())
        .unwrap_or(0);
    Some(CgroupMemory {
        limit,
        usage,
        inactive_file,
    })
}

#[cfg(test)]
mod tests {
    use super::{parse_cgroup, CgroupMemory};

    #[test]
    fn cgroup_files_parse_and_max_means_no_limit() {
        let stat = "cache 10\ntotal_inactive_file 6769594368\ninactive_file 102400\n";
        assert_eq!(
            parse_cgroup("8589934592\n", "13662183424\n", stat, "total_inactive_file"),
            Some(CgroupMemory {
                limit: 8_589_934_592,
                usage: 13_662_183_424,
                inactive_file: 6_769_594_368
            })
        );
        assert_eq!(parse_cgroup("max\n", "1\n", stat, "inactive_file"), None);
        let no_stat = parse_cgroup("100", "50", "", "inactive_file");
        assert_eq!(no_stat.map(|c| c.inactive_file), Some(0));
    }
}

/// What this computer has, as the app's hardware panel shows it: cores, the engine's threads,
/// RAM and GPUs as the planner sees them, and the GPU backend compiled in.
#[derive(Debug, Clone, PartialEq)]
pub struct Machine {
    /// Physical CPU cores.
    pub physical_cores: usize,
    /// Hardware threads.
    pub logical_cores: usize,
    /// Most threads the engine uses: the count fixed, or one per physical core.
    pub threads: usize,
    /// The engine adapts its threads to the CPU it gets (not fixed by the person).
    pub adaptive_threads: bool,
    /// RAM and GPUs, as the planner sees them.
    pub memory: Hardware,
    /// The GPU backend compiled in.
    pub gpu_backend: Option<&'static str>,
}

impl Machine {
    /// Reads the figures of this computer; `threads` is the engine's setting (`None`: adapted,
    /// up to one per physical core). Asks llama.cpp for its GPUs: not for a UI thread.
    #[must_use]
    pub fn detect(threads: Option<usize>) -> Self {
        let (physical_cores, logical_cores) = cpu_cores();
        Self {
            physical_cores,
            logical_cores,
            threads: threads.unwrap_or_else(default_threads).max(1),
            adaptive_threads: threads.is_none(),
            memory: Hardware::detect(),
            gpu_backend: super::runtime::gpu_backend(),
        }
    }
}
