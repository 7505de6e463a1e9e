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
        let size = u32::try_from(std::mem::size_of::<PROCESS_MEMORY_COUNTERS>()).ok()?;
        counters.cb = size;
        // SAFETY: the pseudo-handle of the current process needs no closing; `counters` is a
        // live struct of the size passed.
        let ok = unsafe { K32GetProcessMemoryInfo(GetCurrentProcess(), &raw mut counters, size) };
        (ok != 0).then(|| counters.PeakWorkingSetSize as u64)
    }
    #[cfg(not(any(unix, windows)))]
    {
        None
    }
}
