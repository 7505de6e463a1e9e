//! Work that cannot be bounded in-process, run in a child process of the xgen-desk binary
//! under a wall-clock limit and a memory limit.
//!
//! A parser of an untrusted file can recurse until the stack overflows, allocate without end
//! or loop; `catch_unwind` stops none of these, and each would take the window down with it.
//! In a child process the worst a file can do is end that process: the parent kills it when
//! it runs past its time, the operating system refuses it memory past its limit (RLIMIT_AS on
//! Linux, a job object on Windows; on macOS, which accepts RLIMIT_AS but does not enforce it,
//! the parent watches the child's memory footprint and kills it past the limit), and every
//! way it can end becomes an
//! [`IsolationError`] that says in words what happened.
//!
//! The protocol is the child's standard output (read up to a cap) and exit status; the last
//! lines of its standard error explain failures. Callers define what the child prints (the
//! document reader prints one versioned JSON object: see `documents::extract_isolated`).
//!
//! Work that is long by nature (OCR of a scanned book: seconds a page) reports progress: a
//! line on standard error that starts with [`PROGRESS_PREFIX`] goes to the caller, and
//! restarts the wall-clock limit, so the limit bounds each step (a page) instead of the whole,
//! up to [`Isolation::max_wall`] in all.

#![allow(
    unsafe_code,
    reason = "the child's limits and its end are OS calls (setrlimit, kill, Windows job objects)"
)]

use std::ffi::OsStr;
use std::io::Read;
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

/// How often the parent looks at the child, the clock and the cancel flag.
const POLL: Duration = Duration::from_millis(10);

/// Bytes of the child's standard error kept to explain a failure.
const STDERR_TAIL_BYTES: usize = 8 * 1024;

/// How long the output readers may take to finish after the child has ended.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(5);

/// A line of the child's standard error that starts with this reports progress: the rest of
/// the line goes to the caller's callback, and the wall-clock limit starts again.
pub const PROGRESS_PREFIX: &str = "xgen-desk-progress ";

/// Longest line of standard error looked at for a progress report; longer lines are kept as
/// ordinary output.
const MAX_PROGRESS_LINE: usize = 4096;

/// How to run a child: which program, and its limits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Isolation {
    /// The program run as the child: the xgen-desk binary (tests pass
    /// `env!("CARGO_BIN_EXE_xgen-desk")`, since there the current program is the test harness).
    pub exe: PathBuf,
    /// Wall-clock limit; the child is killed when it runs longer without reporting progress
    /// (see [`PROGRESS_PREFIX`]).
    pub wall: Duration,
    /// Wall-clock limit in all, however often the child reports progress.
    pub max_wall: Duration,
    /// Memory limit in bytes: address space on Linux, committed memory on Windows (the job
    /// object's limit, also checked every few milliseconds), the physical footprint (checked
    /// every few milliseconds) on macOS.
    pub memory_bytes: u64,
    /// Most bytes of standard output accepted; more ends the child.
    pub max_output_bytes: usize,
}

impl Isolation {
    /// Default wall-clock limit: 60 s. Reading a long real document (a 1,000-page PDF) takes
    /// a few seconds to tens of seconds on a slow laptop; a minute is well past that and short
    /// enough that a person waiting is told what happened instead of waiting forever.
    pub const DEFAULT_WALL: Duration = Duration::from_secs(60);

    /// Default limit in all for a child that keeps reporting progress: 2 hours, a scanned
    /// book of about a thousand pages read by OCR on a slow laptop.
    pub const DEFAULT_MAX_WALL: Duration = Duration::from_secs(2 * 60 * 60);

    /// Default memory limit: 4 GiB. The readers' own limits (a 64 MiB file, 4 million
    /// characters of text) keep honest documents far below that, even PDFs whose objects
    /// take many times the file's size once parsed; a limit in gigabytes still stops a bomb
    /// before a laptop with 8-16 GiB starts swapping. (Address space also counts the
    /// program's own mapping, about a hundred megabytes.)
    pub const DEFAULT_MEMORY_BYTES: u64 = 4 << 30;

    /// Default cap on standard output: 64 MiB, room for 4 million characters of text as JSON
    /// (up to 6 bytes each when escaped) with their markers.
    pub const DEFAULT_MAX_OUTPUT_BYTES: usize = 64 << 20;

    /// Runs `exe` as the child, with the default limits.
    #[must_use]
    pub fn with_exe(exe: impl Into<PathBuf>) -> Self {
        Self {
            exe: exe.into(),
            wall: Self::DEFAULT_WALL,
            max_wall: Self::DEFAULT_MAX_WALL,
            memory_bytes: Self::DEFAULT_MEMORY_BYTES,
            max_output_bytes: Self::DEFAULT_MAX_OUTPUT_BYTES,
        }
    }

    /// Runs the current program (the xgen-desk binary) as the child, with the default limits.
    ///
    /// # Errors
    /// [`IsolationError::Start`] when the operating system cannot tell which program is
    /// running.
    pub fn current() -> Result<Self, IsolationError> {
        let exe = std::env::current_exe().map_err(|source| IsolationError::Start {
            exe: PathBuf::from("xgen-desk"),
            source,
        })?;
        Ok(Self::with_exe(exe))
    }

    /// Runs the child with `args` and returns its standard output when it exits with code 0.
    ///
    /// `cancelled` is asked every few milliseconds; when it answers `true` the child is
    /// killed. The child's standard input is empty.
    ///
    /// # Errors
    /// An [`IsolationError`] for every other end: it could not start, it timed out, ran out
    /// of memory, crashed, printed too much, was cancelled, or exited with another code.
    pub fn run(
        &self,
        args: &[&OsStr],
        cancelled: &dyn Fn() -> bool,
    ) -> Result<Vec<u8>, IsolationError> {
        self.run_reporting(args, cancelled, &mut |_| {})
    }

    /// [`Isolation::run`] that passes each progress report of the child (the rest of a line
    /// that starts with [`PROGRESS_PREFIX`]) to `progress`, on this thread; each report
    /// restarts the [`Isolation::wall`] limit, up to [`Isolation::max_wall`] in all.
    ///
    /// # Errors
    /// As [`Isolation::run`].
    pub fn run_reporting(
        &self,
        args: &[&OsStr],
        cancelled: &dyn Fn() -> bool,
        progress: &mut dyn FnMut(&str),
    ) -> Result<Vec<u8>, IsolationError> {
        let mut command = Command::new(&self.exe);
        command
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            // ggml prints a backtrace through gdb before it aborts: slow, and it would bury
            // the assertion that says why under the debugger's lines.
            .env("GGML_NO_BACKTRACE", "1");
        // Windows: no console for the child. Its output goes through pipes anyway, and the
        // window's process has no console (`app::console`), so each child would otherwise open
        // a console window of its own, a black window blinking on every document read.
        #[cfg(windows)]
        std::os::windows::process::CommandExt::creation_flags(
            &mut command,
            windows_sys::Win32::System::Threading::CREATE_NO_WINDOW,
        );
        #[cfg(unix)]
        limits::apply(
            &mut command,
            self.memory_bytes,
            self.max_wall.max(self.wall),
        );
        #[cfg(windows)]
        let job = limits::Job::new(self.memory_bytes).map_err(|source| IsolationError::Start {
            exe: self.exe.clone(),
            source,
        })?;
        let start_error = |source| IsolationError::Start {
            exe: self.exe.clone(),
            source,
        };
        let mut child = command.spawn().map_err(start_error)?;
        #[cfg(windows)]
        if let Err(source) = job.assign(&child) {
            kill(&mut child);
            return Err(start_error(source));
        }
        let started = Instant::now();
        let over_cap = Arc::new(AtomicBool::new(false));
        let stdout = child.stdout.take().map(|pipe| {
            let over_cap = Arc::clone(&over_cap);
            let cap = self.max_output_bytes;
            drain(move || read_capped(pipe, cap, &over_cap))
        });
        let (reports, reported) = mpsc::channel();
        let stderr = child
            .stderr
            .take()
            .map(|pipe| drain(move || read_tail(pipe, &reports)));
        let mut last_report = started;
        let status = loop {
            while let Ok(report) = reported.try_recv() {
                last_report = Instant::now();
                progress(&report);
            }
            match child.try_wait() {
                Ok(Some(status)) => break status,
                Ok(None) => {}
                Err(source) => {
                    kill(&mut child);
                    return Err(IsolationError::Wait { source });
                }
            }
            if over_cap.load(Ordering::Relaxed) {
                kill(&mut child);
                return Err(IsolationError::OutputTooLarge {
                    limit: self.max_output_bytes,
                });
            }
            if cancelled() {
                kill(&mut child);
                return Err(IsolationError::Cancelled);
            }
            if over_memory(&child, self.memory_bytes) {
                kill(&mut child);
                return Err(IsolationError::OutOfMemory {
                    limit_bytes: self.memory_bytes,
                });
            }
            if last_report.elapsed() >= self.wall || started.elapsed() >= self.max_wall {
                kill(&mut child);
                return Err(IsolationError::TimedOut {
                    seconds: started.elapsed().as_secs_f64(),
                });
            }
            std::thread::sleep(POLL);
        };
        let stdout = stdout
            .and_then(|rx| rx.recv_timeout(DRAIN_TIMEOUT).ok())
            .unwrap_or_default();
        let stderr = stderr
            .and_then(|rx| rx.recv_timeout(DRAIN_TIMEOUT).ok())
            .unwrap_or_default();
        // Reports written just before the child ended.
        while let Ok(report) = reported.try_recv() {
            progress(&report);
        }
        if over_cap.load(Ordering::Relaxed) {
            return Err(IsolationError::OutputTooLarge {
                limit: self.max_output_bytes,
            });
        }
        classify(status, stdout, &String::from_utf8_lossy(&stderr), self)
    }
}

/// How a child ended, when it did not end well.
#[derive(Debug, thiserror::Error)]
pub enum IsolationError {
    /// The child could not be started.
    #[error("could not start {}: {source}", exe.display())]
    Start {
        /// The program.
        exe: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// Waiting for the child failed.
    #[error("could not wait for the child process: {source}")]
    Wait {
        /// Why.
        source: std::io::Error,
    },
    /// The child ran past its wall-clock limit and was killed.
    #[error("it was stopped after {seconds:.0} s, its time limit")]
    TimedOut {
        /// The limit, in seconds.
        seconds: f64,
    },
    /// The child ran out of its memory limit.
    #[error("it ran out of its {} MiB memory limit", limit_bytes >> 20)]
    OutOfMemory {
        /// The limit, in bytes.
        limit_bytes: u64,
    },
    /// The child crashed.
    #[error("it crashed ({what})")]
    Crashed {
        /// What happened, in words (`stack overflow`, `SIGSEGV: invalid memory access`).
        what: String,
    },
    /// The child printed more than the cap and was killed.
    #[error("it printed more than {} MiB and was stopped", limit >> 20)]
    OutputTooLarge {
        /// The cap, in bytes.
        limit: usize,
    },
    /// The caller cancelled; the child was killed.
    #[error("it was cancelled")]
    Cancelled,
    /// The child exited with a code other than 0.
    #[error("it exited with code {code}{}", if last_line.is_empty() { String::new() } else { format!(": {last_line}") })]
    Exited {
        /// The exit code.
        code: i32,
        /// The last line it wrote to standard error.
        last_line: String,
        /// What it wrote to standard output (a protocol may put its error there).
        stdout: Vec<u8>,
    },
}

/// Runs `read` on a thread; its result arrives on the returned channel.
fn drain<T: Send + 'static>(read: impl FnOnce() -> T + Send + 'static) -> mpsc::Receiver<T> {
    let (tx, rx) = mpsc::channel();
    let started = std::thread::Builder::new()
        .name("xgen-isolate-pipe".to_owned())
        .spawn(move || {
            // The receiver is gone only when the parent stopped waiting; nothing to tell then.
            tx.send(read()).ok();
        });
    if let Err(e) = started {
        // The sender went with the closure: the receiver says the pipe's reading ended.
        tracing::warn!("could not start reading a child's pipe: {e}");
    }
    rx
}

/// Reads `pipe` to its end, keeping at most `cap` bytes; sets `over_cap` (and stops reading)
/// when there is more.
fn read_capped(pipe: impl Read, cap: usize, over_cap: &AtomicBool) -> Vec<u8> {
    let mut out = Vec::new();
    let limit = u64::try_from(cap).unwrap_or(u64::MAX).saturating_add(1);
    // An error mid-way leaves what was read; the exit status tells what went wrong.
    pipe.take(limit).read_to_end(&mut out).ok();
    if out.len() > cap {
        over_cap.store(true, Ordering::Relaxed);
        out.truncate(cap);
    }
    out
}

/// Reads `pipe` to its end, sending progress reports (lines that start with
/// [`PROGRESS_PREFIX`], without it) to `reports` as they come and keeping the last
/// [`STDERR_TAIL_BYTES`] of the rest.
fn read_tail(mut pipe: impl Read, reports: &mpsc::Sender<String>) -> Vec<u8> {
    let mut tail = Vec::new();
    let mut line = Vec::new();
    let mut buf = [0u8; 4096];
    let keep = |tail: &mut Vec<u8>, bytes: &[u8]| {
        tail.extend_from_slice(bytes);
        if tail.len() > 2 * STDERR_TAIL_BYTES {
            tail.drain(..tail.len() - STDERR_TAIL_BYTES);
        }
    };
    let end_line = |tail: &mut Vec<u8>, line: &mut Vec<u8>| {
        match line.strip_prefix(PROGRESS_PREFIX.as_bytes()) {
            // The parent stopped listening only when it stopped waiting for the child.
            Some(report) => {
                reports
                    .send(String::from_utf8_lossy(report).into_owned())
                    .ok();
            }
            None => keep(tail, line),
        }
        line.clear();
    };
    loop {
        match pipe.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                for &byte in &buf[..n] {
                    if byte == b'\n' {
                        end_line(&mut tail, &mut line);
                        keep(&mut tail, b"\n");
                    } else if line.len() < MAX_PROGRESS_LINE {
                        line.push(byte);
                    } else {
                        // Too long to be a report: ordinary output.
                        keep(&mut tail, &line);
                        line.clear();
                        line.push(byte);
                    }
                }
            }
        }
    }
    end_line(&mut tail, &mut line);
    if tail.len() > STDERR_TAIL_BYTES {
        tail.drain(..tail.len() - STDERR_TAIL_BYTES);
    }
    tail
}

/// Kills and reaps the child (it may have ended already).
fn kill(child: &mut Child) {
    // Either may fail only because the child already ended, which is what is wanted.
    child.kill().ok();
    child.wait().ok();
}

/// The last line of standard error that says something, shortened for a message.
fn last_line(stderr: &str) -> String {
    const MAX: usize = 300;
    let line = stderr
        .lines()
        .map(str::trim)
        .rfind(|l| !l.is_empty())
        .unwrap_or_default();
    match line.char_indices().nth(MAX) {
        Some((cut, _)) => format!("{}…", &line[..cut]),
        None => line.to_owned(),
    }
}

/// Turns the child's end into its output or an error in words.
fn classify(
    status: ExitStatus,
    stdout: Vec<u8>,
    stderr: &str,
    isolation: &Isolation,
) -> Result<Vec<u8>, IsolationError> {
    if status.success() {
        return Ok(stdout);
    }
    // Rust's allocation failure message, whatever signal or code the abort then gives.
    if stderr.contains("memory allocation of") && stderr.contains("failed") {
        return Err(IsolationError::OutOfMemory {
            limit_bytes: isolation.memory_bytes,
        });
    }
    if stderr.contains("has overflowed its stack") {
        return Err(IsolationError::Crashed {
            what: "stack overflow".into(),
        });
    }
    if let Some(what) = crash(status) {
        // A C library that aborts says why on its last line (llama.cpp's `GGML_ASSERT(...)
        // failed`); keep it beside the signal.
        let said = last_line(stderr);
        let what = if said.is_empty() {
            what
        } else {
            format!("{what}; it said: {said}")
        };
        return Err(IsolationError::Crashed { what });
    }
    let code = status.code().unwrap_or(-1);
    if code == 101 && stderr.contains("panicked at") {
        return Err(IsolationError::Crashed {
            what: format!("internal error: {}", panic_message(stderr)),
        });
    }
    Err(IsolationError::Exited {
        code,
        last_line: last_line(stderr),
        stdout,
    })
}

/// The message of a Rust panic report (the line after `panicked at …:`).
fn panic_message(stderr: &str) -> String {
    let mut lines = stderr.lines();
    while let Some(line) = lines.next() {
        if line.contains("panicked at") {
            return lines.next().map_or_else(|| last_line(line), last_line);
        }
    }
    last_line(stderr)
}

/// Whether the child uses more than `limit` bytes, where the operating system does not
/// enforce the limit itself: macOS accepts RLIMIT_AS but ignores it, so the parent reads the
/// child's physical footprint (what Activity Monitor shows as its memory) at every poll. A
/// reader that allocates gigabytes within one poll gets past this check until the next one,
/// which still stops it long before a laptop starts swapping.
#[cfg(target_os = "macos")]
fn over_memory(child: &Child, limit: u64) -> bool {
    let Ok(pid) = libc::c_int::try_from(child.id()) else {
        return false;
    };
    // SAFETY: all-zero is a valid `rusage_info_v2` (integers only).
    let mut info: libc::rusage_info_v2 = unsafe { std::mem::zeroed() };
    // SAFETY: proc_pid_rusage writes one `rusage_info_v2` (the flavor asked for) into the
    // buffer, which lives for the call; a child that has ended gives an error, not a write.
    let read =
        unsafe { libc::proc_pid_rusage(pid, libc::RUSAGE_INFO_V2, (&raw mut info).cast()) } == 0;
    read && info.ri_phys_footprint > limit
}

/// Whether the child has committed more than `limit` bytes. The job object refuses it that
/// memory on Windows, so this never fires there; it stops the child where the job's limit is
/// accepted but not enforced: Wine (8, as Debian ships it) sets the limit, reports success and
/// lets a child limited to 64 MiB commit 300 MiB, and scripts/test-windows.sh runs the
/// Windows build under Wine.
#[cfg(windows)]
fn over_memory(child: &Child, limit: u64) -> bool {
    use std::os::windows::io::AsRawHandle as _;
    use windows_sys::Win32::System::ProcessStatus::{
        K32GetProcessMemoryInfo, PROCESS_MEMORY_COUNTERS,
    };
    let Ok(size) = u32::try_from(size_of::<PROCESS_MEMORY_COUNTERS>()) else {
        return false;
    };
    let mut counters = PROCESS_MEMORY_COUNTERS {
        cb: size,
        ..PROCESS_MEMORY_COUNTERS::default()
    };
    // SAFETY: the child's handle is open while `child` lives (it is reaped only by `wait`
    // through `&mut`), and `counters` is a live struct of the size passed.
    let read =
        unsafe { K32GetProcessMemoryInfo(child.as_raw_handle(), &raw mut counters, size) } != 0;
    read && counters.PagefileUsage as u64 > limit
}

/// Linux refuses the memory itself (RLIMIT_AS).
#[cfg(not(any(target_os = "macos", windows)))]
fn over_memory(_: &Child, _: u64) -> bool {
    false
}

/// A crash (a signal on Unix, an exception code on Windows), in words.
#[cfg(unix)]
fn crash(status: ExitStatus) -> Option<String> {
    use std::os::unix::process::ExitStatusExt;
    let signal = status.signal()?;
    let what = match signal {
        libc::SIGSEGV => "SIGSEGV: invalid memory access",
        libc::SIGBUS => "SIGBUS: invalid memory access",
        libc::SIGABRT => "SIGABRT: aborted",
        libc::SIGILL => "SIGILL: illegal instruction",
        libc::SIGFPE => "SIGFPE: arithmetic error",
        libc::SIGKILL => {
            "SIGKILL: killed from outside, most often by the system when memory runs out"
        }
        libc::SIGTERM => "SIGTERM: terminated from outside",
        libc::SIGXCPU => "SIGXCPU: processor time limit",
        _ => return Some(format!("signal {signal}")),
    };
    Some(what.to_owned())
}

/// A crash (a signal on Unix, an exception code on Windows), in words.
#[cfg(windows)]
fn crash(status: ExitStatus) -> Option<String> {
    // NTSTATUS codes read as i32 exit codes.
    let code = status.code()? as u32;
    let what = match code {
        0xC000_0005 => "access violation",
        0xC000_00FD => "stack overflow",
        0xC000_0409 => "aborted",
        0xC000_001D => "illegal instruction",
        0xC000_0094 => "integer division by zero",
        0xC000_0017 | 0xC000_012D => "out of memory",
        // The C runtime's abort() (MinGW's msvcrt, and the UCRT when it does not call Windows
        // Error Reporting, which ends the process with 0xC0000409): a C library that asserts,
        // as llama.cpp's GGML_ASSERT does.
        3 => "aborted",
        _ if code >= 0xC000_0000 => return Some(format!("exception 0x{code:08X}")),
        _ => return None,
    };
    Some(what.to_owned())
}

#[cfg(not(any(unix, windows)))]
fn crash(_: ExitStatus) -> Option<String> {
    None
}

#[cfg(unix)]
mod limits {
    use std::os::unix::process::CommandExt;
    use std::process::Command;
    use std::time::Duration;

    /// Sets, in the child before it runs the program, an address-space limit of
    /// `memory_bytes` (never above the limit the parent has), no core dumps, and a processor
    /// time limit a little past `wall` on every core: the parent's clock is the real limit,
    /// but a child whose parent died (no one to kill it) must still end. On Linux the child
    /// is also killed when its parent dies.
    pub(super) fn apply(command: &mut Command, memory_bytes: u64, wall: Duration) {
        let wanted = libc::rlim_t::try_from(memory_bytes).unwrap_or(libc::RLIM_INFINITY);
        let mut current = libc::rlimit {
            rlim_cur: libc::RLIM_INFINITY,
            rlim_max: libc::RLIM_INFINITY,
        };
        // SAFETY: getrlimit writes into the struct it is given, which lives for the call.
        let known = unsafe { libc::getrlimit(libc::RLIMIT_AS, &raw mut current) } == 0;
        let cap = if known { current.rlim_max } else { wanted };
        let limit = if cap == libc::RLIM_INFINITY {
            wanted
        } else {
            wanted.min(cap)
        };
        let memory = libc::rlimit {
            rlim_cur: limit,
            rlim_max: limit,
        };
        let no_core = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        let cores = std::thread::available_parallelism().map_or(1, std::num::NonZero::get) as u64;
        let cpu_seconds = wall.as_secs().saturating_mul(cores).saturating_add(10);
        let cpu = libc::rlimit {
            rlim_cur: libc::rlim_t::try_from(cpu_seconds).unwrap_or(libc::RLIM_INFINITY),
            rlim_max: libc::rlim_t::try_from(cpu_seconds.saturating_add(5))
                .unwrap_or(libc::RLIM_INFINITY),
        };
        let pre_exec = move || {
            // SAFETY: setrlimit is a plain system call, async-signal-safe, as is reading errno
            // into an io::Error (no allocation); the structs are copies owned by the closure.
            let failed = unsafe { libc::setrlimit(libc::RLIMIT_AS, &raw const memory) } != 0;
            // macOS accepts but does not enforce RLIMIT_AS, and may refuse some values: there
            // the parent's footprint watch (`over_memory`) is the guard, and a refusal must
            // not stop the reader.
            if failed && cfg!(target_os = "linux") {
                return Err(std::io::Error::last_os_error());
            }
            // SAFETY: as above. A core dump of a crashed reader is only a large file on disk;
            // the processor limit may fail only where the parent's own is lower, which then
            // applies anyway.
            unsafe {
                libc::setrlimit(libc::RLIMIT_CORE, &raw const no_core);
                libc::setrlimit(libc::RLIMIT_CPU, &raw const cpu);
            }
            // SAFETY: prctl is a plain system call, async-signal-safe. A child whose parent
            // died (the app killed, a terminal closed) gets SIGKILL instead of reading on
            // alone; should it fail, the processor limit still ends the child.
            #[cfg(target_os = "linux")]
            unsafe {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
            }
            Ok(())
        };
        // SAFETY: the closure runs in the forked child before exec and only makes
        // async-signal-safe system calls on values it owns: no allocation, no locks.
        unsafe {
            command.pre_exec(pre_exec);
        }
    }
}

/// Windows: a job object with a per-process memory limit, which kills its process when the
/// job's handle is closed (when the parent drops it or dies).
///
/// Written without a Windows machine to build on: kept small, and every call's result is
/// checked. The child runs for a moment before it is assigned to the job (std cannot start it
/// suspended); it allocates little in that moment.
#[cfg(windows)]
mod limits {
    use std::os::windows::io::AsRawHandle;
    use std::process::Child;

    use windows_sys::Win32::Foundation::{CloseHandle, HANDLE};
    use windows_sys::Win32::System::JobObjects::{
        AssignProcessToJobObject, CreateJobObjectW, JobObjectExtendedLimitInformation,
        SetInformationJobObject, JOBOBJECT_EXTENDED_LIMIT_INFORMATION,
        JOB_OBJECT_LIMIT_DIE_ON_UNHANDLED_EXCEPTION, JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE,
        JOB_OBJECT_LIMIT_PROCESS_MEMORY,
    };

    /// A job object; closing it kills the processes in it.
    pub(super) struct Job(HANDLE);

    impl Job {
        pub(super) fn new(memory_bytes: u64) -> std::io::Result<Self> {
            // SAFETY: null attributes and a null name are allowed; the handle is checked.
            let handle = unsafe { CreateJobObjectW(std::ptr::null(), std::ptr::null()) };
            if handle.is_null() {
                return Err(std::io::Error::last_os_error());
            }
            let job = Self(handle);
            let mut info = JOBOBJECT_EXTENDED_LIMIT_INFORMATION::default();
            info.BasicLimitInformation.LimitFlags = JOB_OBJECT_LIMIT_PROCESS_MEMORY
                | JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE
                | JOB_OBJECT_LIMIT_DIE_ON_UNHANDLED_EXCEPTION;
            info.ProcessMemoryLimit = usize::try_from(memory_bytes).unwrap_or(usize::MAX);
            let size = u32::try_from(size_of::<JOBOBJECT_EXTENDED_LIMIT_INFORMATION>())
                .unwrap_or(u32::MAX);
            // SAFETY: `info` is a live, initialized struct of the class and size passed.
            let ok = unsafe {
                SetInformationJobObject(
                    job.0,
                    JobObjectExtendedLimitInformation,
                    std::ptr::from_ref(&info).cast(),
                    size,
                )
            };
            if ok == 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(job)
        }

        pub(super) fn assign(&self, child: &Child) -> std::io::Result<()> {
            // SAFETY: both handles are open for the duration of the call.
            let ok = unsafe { AssignProcessToJobObject(self.0, child.as_raw_handle() as HANDLE) };
            if ok == 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        }
    }

    impl Drop for Job {
        fn drop(&mut self) {
            // SAFETY: the handle was returned by CreateJobObjectW and is closed only here.
            unsafe { CloseHandle(self.0) };
        }
    }
}
