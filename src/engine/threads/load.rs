//! How much of the CPU other programs use: the system's busy time less this process's own, over
//! the time since the last reading (`/proc/stat` and `/proc/self/stat` on Linux,
//! `host_statistics` and `getrusage` on macOS, `GetSystemTimes` and `GetProcessTimes` on
//! Windows).
//!
//! The engine's own threads are left out on purpose: a thread of ours that spins at a barrier
//! is busy time too, and counting it would make the engine back off from itself.

#![allow(
    unsafe_code,
    reason = "the CPU counters come from the OS on macOS and Windows (host_statistics, getrusage, GetSystemTimes)"
)]

use std::time::{Duration, Instant};

/// A reading is compared with the one before only when this much time lies between them: the
/// counters tick 100 times a second, so shorter windows are mostly rounding.
const MIN_WINDOW: Duration = Duration::from_millis(100);

/// CPU time counters at one moment, in one unit (clock ticks, or 100 ns on Windows).
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Counters {
    /// Busy time of every CPU: all processes, the kernel, time a hypervisor took (steal).
    pub(crate) busy: f64,
    /// Busy and idle time of every CPU.
    pub(crate) total: f64,
    /// This process's CPU time.
    pub(crate) own: f64,
    /// CPUs the system counts (logical ones).
    pub(crate) cpus: usize,
}

impl Counters {
    /// The CPUs other programs kept busy between `earlier` and `self`, in cores (0.0 ..= cpus);
    /// `None` when no time passed between them.
    pub(crate) fn others_since(&self, earlier: &Self) -> Option<f64> {
        let total = self.total - earlier.total;
        if total <= 0.0 || self.cpus == 0 {
            return None;
        }
        let others = (self.busy - earlier.busy) - (self.own - earlier.own);
        let cpus = self.cpus as f64;
        Some((others / total * cpus).clamp(0.0, cpus))
    }
}

/// Readings of the system's CPU counters, and what other programs used between them.
pub(crate) struct CpuLoad {
    last: Option<(Instant, Counters)>,
    others: Option<f64>,
}

impl CpuLoad {
    /// Takes the first reading; the first figure covers the time from here.
    pub(crate) fn new() -> Self {
        Self {
            last: read().map(|counters| (Instant::now(), counters)),
            others: None,
        }
    }

    /// The CPUs this process may use that other programs left free since the last reading
    /// (logical CPUs less what others kept busy); `None` where the system does not say, or
    /// before a window of 100 ms has passed.
    pub(crate) fn free(&mut self) -> Option<f64> {
        let others = self.others()?;
        let cpus = self.last.map_or(0, |(_, counters)| counters.cpus);
        Some((cpus as f64 - others).max(0.0))
    }

    /// Cores other programs kept busy since the last reading (or, when that was less than
    /// 100 ms ago, the figure before); `None` where the system does not say, or before a
    /// window of 100 ms has passed.
    pub(crate) fn others(&mut self) -> Option<f64> {
        let now = Instant::now();
        if let Some((at, _)) = self.last {
            if now.duration_since(at) < MIN_WINDOW {
                return self.others;
            }
        }
        let Some(counters) = read() else {
            return self.others;
        };
        if let Some((_, earlier)) = self.last {
            self.others = counters.others_since(&earlier).or(self.others);
        }
        self.last = Some((now, counters));
        self.others
    }
}

/// The counters now, or `None` where the system does not give them.
pub(crate) fn read() -> Option<Counters> {
    #[cfg(target_os = "linux")]
    {
        let stat = std::fs::read_to_string("/proc/stat").ok()?;
        let own = std::fs::read_to_string("/proc/self/stat").ok()?;
        parse_linux(&stat, &own)
    }
    #[cfg(target_os = "macos")]
    {
        read_macos()
    }
    #[cfg(windows)]
    {
        read_windows()
    }
    #[cfg(not(any(target_os = "linux", target_os = "macos", windows)))]
    {
        None
    }
}

/// The counters from the text of `/proc/stat` and `/proc/self/stat` (both in clock ticks).
/// Read on Linux; its tests run everywhere.
#[cfg(any(target_os = "linux", test))]
pub(crate) fn parse_linux(stat: &str, own: &str) -> Option<Counters> {
    let mut lines = stat.lines();
    let first = lines.next()?;
    let mut fields = first.split_whitespace();
    if fields.next()? != "cpu" {
        return None;
    }
    // user nice system idle iowait irq softirq steal (guest time is part of user already).
    let values: Vec<f64> = fields
        .take(8)
        .map(|v| v.parse::<f64>().ok())
        .collect::<Option<_>>()?;
    let field = |i: usize| values.get(i).copied().unwrap_or(0.0);
    let idle = field(3) + field(4);
    let busy = field(0) + field(1) + field(2) + field(5) + field(6) + field(7);
    let cpus = lines
        .filter(|l| {
            l.strip_prefix("cpu")
                .is_some_and(|rest| rest.starts_with(|c: char| c.is_ascii_digit()))
        })
        .count();
    // The command name in parentheses may hold spaces and parentheses: count from the last ')'.
    let after_name = own.rsplit_once(')')?.1;
    let mut own_fields = after_name.split_whitespace();
    // Fields 3.. of the file: state is the first here, utime the 12th, stime the 13th.
    let utime: f64 = own_fields.nth(11)?.parse().ok()?;
    let stime: f64 = own_fields.next()?.parse().ok()?;
    Some(Counters {
        busy,
        total: busy + idle,
        own: utime + stime,
        cpus,
    })
}

#[cfg(target_os = "macos")]
fn read_macos() -> Option<Counters> {
    use std::sync::OnceLock;
    // The host port is asked for once: every call of mach_host_self adds a reference to it.
    static HOST: OnceLock<libc::host_t> = OnceLock::new();
    // SAFETY: mach_host_self takes nothing and returns the host's name port.
    #[allow(
        deprecated,
        reason = "libc points to the mach2 crate; the call is the same"
    )]
    let host = *HOST.get_or_init(|| unsafe { libc::mach_host_self() });
    let mut info = libc::host_cpu_load_info {
        cpu_ticks: [0; libc::CPU_STATE_MAX as usize],
    };
    let mut count: libc::mach_msg_type_number_t = libc::HOST_CPU_LOAD_INFO_COUNT;
    // SAFETY: `info` is a live host_cpu_load_info and `count` says how many integers it holds,
    // which is what HOST_CPU_LOAD_INFO writes.
    let result = unsafe {
        libc::host_statistics(
            host,
            libc::HOST_CPU_LOAD_INFO,
            (&raw mut info).cast::<libc::integer_t>(),
            &raw mut count,
        )
    };
    if result != libc::KERN_SUCCESS {
        return None;
    }
    let tick = |state: libc::c_int| f64::from(info.cpu_ticks[state as usize]);
    let busy =
        tick(libc::CPU_STATE_USER) + tick(libc::CPU_STATE_SYSTEM) + tick(libc::CPU_STATE_NICE);
    let idle = tick(libc::CPU_STATE_IDLE);
    // SAFETY: all-zero is a valid `rusage` (integers only), and getrusage writes into the
    // struct it is given, which lives for the call.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: as above.
    if unsafe { libc::getrusage(libc::RUSAGE_SELF, &raw mut usage) } != 0 {
        return None;
    }
    let seconds = |t: libc::timeval| t.tv_sec as f64 + f64::from(t.tv_usec) / 1e6;
    // SAFETY: sysconf only reads a configuration value.
    let ticks_per_sec = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    let ticks_per_sec = if ticks_per_sec > 0 {
        ticks_per_sec as f64
    } else {
        100.0
    };
    Some(Counters {
        busy,
        total: busy + idle,
        own: (seconds(usage.ru_utime) + seconds(usage.ru_stime)) * ticks_per_sec,
        cpus: num_cpus::get(),
    })
}

#[cfg(windows)]
fn read_windows() -> Option<Counters> {
    use windows_sys::Win32::Foundation::FILETIME;
    use windows_sys::Win32::System::Threading::{
        GetCurrentProcess, GetProcessTimes, GetSystemTimes,
    };
    let value =
        |t: FILETIME| (u64::from(t.dwHighDateTime) << 32 | u64::from(t.dwLowDateTime)) as f64;
    let (mut idle, mut kernel, mut user) = (
        FILETIME::default(),
        FILETIME::default(),
        FILETIME::default(),
    );
    // SAFETY: the three pointers are live FILETIMEs for the call to fill.
    if unsafe { GetSystemTimes(&raw mut idle, &raw mut kernel, &raw mut user) } == 0 {
        return None;
    }
    let (mut created, mut exited, mut own_kernel, mut own_user) = (
        FILETIME::default(),
        FILETIME::default(),
        FILETIME::default(),
        FILETIME::default(),
    );
    // SAFETY: the pseudo-handle of the current process needs no closing; the four pointers are
    // live FILETIMEs for the call to fill.
    let ok = unsafe {
        GetProcessTimes(
            GetCurrentProcess(),
            &raw mut created,
            &raw mut exited,
            &raw mut own_kernel,
            &raw mut own_user,
        )
    };
    if ok == 0 {
        return None;
    }
    // The system's kernel time includes its idle time.
    let total = value(kernel) + value(user);
    Some(Counters {
        busy: total - value(idle),
        total,
        own: value(own_kernel) + value(own_user),
        cpus: num_cpus::get(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const STAT: &str = "cpu  1000 10 500 8000 100 5 5 20 0 0\n\
        cpu0 500 5 250 4000 50 3 2 10 0 0\n\
        cpu1 500 5 250 4000 50 2 3 10 0 0\n\
        intr 12345\nctxt 999\n";

    fn own(utime: u64, stime: u64) -> String {
        format!("4242 (xgen (desk) 2) R 1 4242 4242 0 -1 4194304 100 0 0 0 {utime} {stime} 0 0 20 0 3 0")
    }

    #[test]
    fn linux_counters_parse_with_odd_command_names() {
        let counters = parse_linux(STAT, &own(300, 40)).expect("parses");
        assert_eq!(counters.cpus, 2);
        assert!((counters.busy - 1540.0).abs() < 1e-9);
        assert!((counters.total - 9640.0).abs() < 1e-9);
        assert!((counters.own - 340.0).abs() < 1e-9);
        assert!(parse_linux("intr 1\n", &own(1, 1)).is_none());
        assert!(parse_linux(STAT, "4242 (truncated").is_none());
    }

    #[test]
    fn others_are_the_busy_time_that_is_not_ours() {
        let earlier = Counters {
            busy: 1000.0,
            total: 4000.0,
            own: 100.0,
            cpus: 2,
        };
        // 200 ticks of wall time on 2 CPUs: 400 in all, 300 busy, 180 of them ours.
        let later = Counters {
            busy: 1300.0,
            total: 4400.0,
            own: 280.0,
            cpus: 2,
        };
        let others = later.others_since(&earlier).expect("time passed");
        assert!((others - 0.6).abs() < 1e-9, "{others}");
        assert_eq!(earlier.others_since(&earlier), None);
        // Rounding between the two sources never gives less than nothing or more than all.
        let odd = Counters {
            own: 900.0,
            ..later
        };
        assert_eq!(odd.others_since(&earlier), Some(0.0));
    }

    #[cfg(any(target_os = "linux", target_os = "macos", windows))]
    #[test]
    fn this_system_gives_its_counters() {
        let counters = read().expect("this system reports CPU time");
        assert!(counters.cpus >= 1);
        assert!(counters.total >= counters.busy && counters.busy >= 0.0);
        let mut load = CpuLoad::new();
        let spin = Instant::now();
        while spin.elapsed() < Duration::from_millis(150) {
            std::hint::spin_loop();
        }
        let others = load.others().expect("a figure after 150 ms");
        assert!((0.0..=counters.cpus as f64).contains(&others), "{others}");
    }
}
