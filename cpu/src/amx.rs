//! AMX (Intel's tile matrix unit, Sapphire Rapids and later): whether this process may use it.
//!
//! The tile registers hold 8 KiB of state per thread, so Linux hands them out per process on
//! request (`arch_prctl(ARCH_REQ_XCOMP_PERM, XFEATURE_XTILEDATA)`, Linux 5.16 and later). A
//! processor can report AMX in CPUID while the kernel refuses: virtual machines whose hypervisor
//! does not pass the state through, older kernels. llama.cpp's AMX code asks the same question
//! and falls back when refused, but a grant is not proof that its AMX matrix products work:
//! a llama.cpp built with AMX crashed in `ggml_backend_amx_mul_mat` at the first Q4_K product on a
//! machine that reported and granted AMX (llama.cpp issue 20824 has the same crash on real
//! hardware). So xgen-desk ships no AMX build; the answer is reported so that a support request
//! shows it, and so that an AMX build, should one be added, starts only where it is granted.

#![allow(
    unsafe_code,
    reason = "the kernel is asked for AMX tile state with the arch_prctl system call"
)]

/// What this process may do with AMX.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Amx {
    /// CPUID reports no AMX-TILE and AMX-INT8; nothing was asked.
    NotInProcessor,
    /// The processor has it and the kernel granted this process the tile state.
    Granted,
    /// The processor has it and the kernel refused (the error it gave).
    Refused(String),
    /// The processor has it; this system has no per-process request (Windows enables the state
    /// itself where it supports it).
    NotAsked,
}

impl Amx {
    /// Asks the kernel for the tile state when the processor reports AMX.
    #[must_use]
    pub fn probe(features: &crate::CpuFeatures) -> Self {
        if !(features.has("amx-tile") && features.has("amx-int8")) {
            return Self::NotInProcessor;
        }
        match request_tile_state() {
            Some(Ok(())) => Self::Granted,
            Some(Err(error)) => Self::Refused(error.to_string()),
            None => Self::NotAsked,
        }
    }

    /// One phrase for the report ("AMX not granted by the kernel (...)").
    #[must_use]
    pub fn describe(&self) -> String {
        match self {
            Self::NotInProcessor => "AMX not in this processor".to_owned(),
            Self::Granted => {
                "AMX granted by the kernel, not used (llama.cpp's AMX code is not proven safe)"
                    .to_owned()
            }
            Self::Refused(error) => format!("AMX not granted by the kernel ({error})"),
            Self::NotAsked => "AMX in this processor, not used".to_owned(),
        }
    }
}

/// `arch_prctl(ARCH_REQ_XCOMP_PERM, XFEATURE_XTILEDATA)`: asks Linux for AMX tile data in this
/// process. `None` off Linux x86-64 (nothing to ask). Harmless without AMX: the kernel refuses
/// (EOPNOTSUPP on Linux 5.16 and later, EINVAL before), which is how the tests exercise the
/// refusal on machines without AMX.
#[must_use]
pub fn request_tile_state() -> Option<std::io::Result<()>> {
    #[cfg(all(target_os = "linux", target_arch = "x86_64"))]
    {
        const ARCH_REQ_XCOMP_PERM: libc::c_long = 0x1023;
        const XFEATURE_XTILEDATA: libc::c_long = 18;
        // SAFETY: arch_prctl with ARCH_REQ_XCOMP_PERM takes two integers and touches no memory
        // of this process; on success it only enlarges the state the kernel saves per thread.
        let status = unsafe {
            libc::syscall(
                libc::SYS_arch_prctl,
                ARCH_REQ_XCOMP_PERM,
                XFEATURE_XTILEDATA,
            )
        };
        Some(if status == 0 {
            Ok(())
        } else {
            Err(std::io::Error::last_os_error())
        })
    }
    #[cfg(not(all(target_os = "linux", target_arch = "x86_64")))]
    {
        None
    }
}
