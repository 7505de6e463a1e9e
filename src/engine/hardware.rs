//! What this computer has: cores and the thread count the engine uses, and the memory the
//! process has used.

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

/// Peak resident memory of this process, in bytes (Linux; `None` elsewhere).
#[must_use]
pub fn peak_rss_bytes() -> Option<u64> {
    #[cfg(target_os = "linux")]
    {
        let status = std::fs::read_to_string("/proc/self/status").ok()?;
        let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
        let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
        Some(kib * 1024)
    }
    #[cfg(not(target_os = "linux"))]
    {
        None
    }
}
