//! The instruction-set extensions of this processor that llama.cpp's CPU builds differ by.

use std::collections::BTreeSet;

/// Declares the extensions once: [`KNOWN`] and the probe of each (a macro, since
/// `is_x86_feature_detected!` takes literals only).
macro_rules! extensions {
    (detected: [$($detected:tt),* $(,)?], cpuid: [$(($bit:literal, $cpuid:tt)),* $(,)?] $(,)?) => {
        /// Extensions the levels need or the report names, as Rust's
        /// `is_x86_feature_detected!` spells them (which also checks that the operating system
        /// saves the registers they use), plus the AMX ones read from CPUID.
        pub const KNOWN: &[&str] = &[$($detected,)* $($cpuid,)*];

        #[cfg(target_arch = "x86_64")]
        fn detect_x86() -> BTreeSet<&'static str> {
            let mut found = BTreeSet::new();
            $(if std::arch::is_x86_feature_detected!($detected) {
                found.insert($detected);
            })*
            // AMX has no stable detection macro: CPUID leaf 7, sub-leaf 0, EDX bits 24
            // (AMX-TILE), 25 (AMX-INT8) and 22 (AMX-BF16). Whether the kernel lets this process
            // use the tile registers is a separate question (`crate::amx`).
            let leaf0 = std::arch::x86_64::__cpuid(0);
            if leaf0.eax >= 7 {
                let leaf7 = std::arch::x86_64::__cpuid_count(7, 0);
                $(if leaf7.edx & (1 << $bit) != 0 {
                    found.insert($cpuid);
                })*
            }
            found
        }
    };
}

extensions!(
    detected: [
        "sse4.2",
        "popcnt",
        "avx",
        "avx2",
        "fma",
        "f16c",
        "bmi2",
        "avx512f",
        "avx512cd",
        "avx512vl",
        "avx512dq",
        "avx512bw",
        "avx512vnni",
        "avx512vbmi",
        "avx512bf16",
        "avxvnni",
    ],
    cpuid: [(24, "amx-tile"), (25, "amx-int8"), (22, "amx-bf16")],
);

/// The extensions a processor has (of [`KNOWN`]).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CpuFeatures {
    names: BTreeSet<&'static str>,
}

impl CpuFeatures {
    /// This processor's extensions; empty off x86-64.
    #[must_use]
    pub fn detect() -> Self {
        Self {
            names: detect_x86(),
        }
    }

    /// A processor with exactly these extensions (names of [`KNOWN`]; others are ignored): what
    /// the choice would be on another machine.
    #[must_use]
    pub fn from_names(names: &[&str]) -> Self {
        Self {
            names: KNOWN
                .iter()
                .copied()
                .filter(|known| names.contains(known))
                .collect(),
        }
    }

    /// Whether the processor has `feature` (a name of [`KNOWN`]).
    #[must_use]
    pub fn has(&self, feature: &str) -> bool {
        self.names.contains(feature)
    }

    /// The extensions, in the order of [`KNOWN`].
    pub fn names(&self) -> impl Iterator<Item = &'static str> + '_ {
        KNOWN.iter().copied().filter(|k| self.names.contains(k))
    }
}

#[cfg(not(target_arch = "x86_64"))]
fn detect_x86() -> BTreeSet<&'static str> {
    BTreeSet::new()
}
