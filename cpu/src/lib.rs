//! `xgen-cpu`: which build of llama.cpp's CPU code runs on this processor.
//!
//! Prompt reading is bound by arithmetic, so the instruction set decides its speed: AVX-512 reads
//! a 7B model's prompt about 1.5x faster than AVX2, and AVX2 about 8x faster than SSE. One
//! binary cannot be compiled for all of them, so on x86-64 Linux llama.cpp's CPU code
//! ships as four loadable modules ([`Level`]), built by this crate's build script, and this crate
//! picks one at start:
//!
//! - [`CpuFeatures::detect`] reads what the processor and the operating system support;
//! - [`choose`] takes the best level the processor runs, or the one `XGEN_DESK_CPU` forces, and
//!   refuses a forced level the processor lacks (never run code that would fault);
//! - [`Amx`] asks the kernel whether this process may use AMX (reported, not used);
//! - [`load`] loads the module once per process, before llama.cpp loads a model.
//!
//! Elsewhere (macOS, ARM) the CPU code is built into the binary for the platform's baseline and
//! [`load`] only reports it. See docs/cpu.md for why this route and what each level covers.

#![deny(missing_docs)]

pub mod amx;
mod features;
mod modules;

use std::fmt;
use std::path::PathBuf;
use std::sync::OnceLock;

pub use amx::Amx;
pub use features::{CpuFeatures, KNOWN};
pub use modules::compiled_features;

/// The environment variable that forces a level (`baseline`, `v3`, `avx512`, `avx512-vnni`).
pub const OVERRIDE_VAR: &str = "XGEN_DESK_CPU";

/// A build of llama.cpp's x86-64 CPU code, lowest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Level {
    /// x86-64-v2 (SSE4.2): every x86-64 processor since Intel's Nehalem (2008) and AMD's
    /// Bulldozer (2011); about a tenth of v3's speed, so that the app still works there.
    Baseline,
    /// x86-64-v3: AVX2, FMA, F16C, BMI2 (Intel since Haswell, 2013; AMD since Zen, 2017).
    V3,
    /// AVX-512 F, CD, VL, DQ, BW (Intel Skylake-SP/X, 2017).
    Avx512,
    /// AVX-512 with VNNI's 8-bit dot products (Intel Cascade Lake, Ice Lake, Tiger Lake, Rocket
    /// Lake, Sapphire Rapids and later; AMD Zen 4 and Zen 5).
    Avx512Vnni,
}

impl Level {
    /// Every level, lowest first.
    pub const ALL: [Self; 4] = [Self::Baseline, Self::V3, Self::Avx512, Self::Avx512Vnni];

    /// The name `XGEN_DESK_CPU` takes and reports show (`bench --json`'s `cpu_variant`).
    #[must_use]
    pub const fn name(self) -> &'static str {
        match self {
            Self::Baseline => "baseline",
            Self::V3 => "v3",
            Self::Avx512 => "avx512",
            Self::Avx512Vnni => "avx512-vnni",
        }
    }

    /// What the level is, for people.
    #[must_use]
    pub const fn label(self) -> &'static str {
        match self {
            Self::Baseline => "x86-64-v2 baseline: SSE4.2",
            Self::V3 => "x86-64-v3: AVX2, FMA, F16C",
            Self::Avx512 => "AVX-512",
            Self::Avx512Vnni => "AVX-512 with VNNI",
        }
    }

    /// The name of llama.cpp's CPU build this level ships (`ggml-cpu-<variant>`); its flags are
    /// llama.cpp's own (`ggml_add_cpu_backend_variant` in ggml/src/CMakeLists.txt).
    #[must_use]
    pub const fn variant(self) -> &'static str {
        match self {
            Self::Baseline => "sse42",
            Self::V3 => "haswell",
            Self::Avx512 => "skylakex",
            Self::Avx512Vnni => "cascadelake",
        }
    }

    /// The processor extensions the build is compiled for (names of [`KNOWN`]): running it
    /// without one of them faults on the first such instruction. Each level needs what the
    /// levels below it need.
    pub fn requires(self) -> impl Iterator<Item = &'static str> {
        Self::ALL
            .into_iter()
            .take_while(move |&level| level <= self)
            .flat_map(Self::adds)
            .copied()
    }

    /// The extensions this level needs beyond the level below it.
    const fn adds(self) -> &'static [&'static str] {
        match self {
            Self::Baseline => &["sse4.2"],
            Self::V3 => &["avx", "avx2", "fma", "f16c", "bmi2"],
            Self::Avx512 => &["avx512f", "avx512cd", "avx512vl", "avx512dq", "avx512bw"],
            Self::Avx512Vnni => &["avx512vnni"],
        }
    }

    /// The level named `name` (as [`Level::name`] spells it, case-insensitively).
    #[must_use]
    pub fn parse(name: &str) -> Option<Self> {
        let name = name.trim();
        Self::ALL
            .into_iter()
            .find(|level| level.name().eq_ignore_ascii_case(name))
    }

    /// The extensions of [`Level::requires`] the processor lacks.
    #[must_use]
    pub fn missing(self, features: &CpuFeatures) -> Vec<&'static str> {
        self.requires().filter(|f| !features.has(f)).collect()
    }

    /// Whether the processor runs this level.
    #[must_use]
    pub fn runs_on(self, features: &CpuFeatures) -> bool {
        self.missing(features).is_empty()
    }

    /// The best level the processor runs, `None` when it lacks even the baseline's SSE4.2.
    #[must_use]
    pub fn best_for(features: &CpuFeatures) -> Option<Self> {
        Self::ALL
            .into_iter()
            .rev()
            .find(|level| level.runs_on(features))
    }
}

impl fmt::Display for Level {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Why the CPU code could not be chosen or loaded; each says what to do.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CpuError {
    /// `XGEN_DESK_CPU` names no level.
    #[error(
        "XGEN_DESK_CPU={0:?} is not a CPU level: use baseline, v3, avx512 or avx512-vnni, or unset it"
    )]
    UnknownLevel(String),
    /// `XGEN_DESK_CPU` forces a level this processor cannot run.
    #[error(
        "XGEN_DESK_CPU={level} is refused: this processor lacks {} (it runs {}); unset \
         XGEN_DESK_CPU or choose one it runs",
        missing.join(", "),
        runnable_text(runnable)
    )]
    Unsupported {
        /// The level asked for.
        level: Level,
        /// The extensions it needs that the processor lacks.
        missing: Vec<&'static str>,
        /// The levels the processor runs, lowest first.
        runnable: Vec<Level>,
    },
    /// The processor lacks what even the baseline needs.
    #[error(
        "this processor is too old for the local engine: it lacks {}, which even xgen-desk's \
         baseline CPU code needs (x86-64-v2: Intel processors since 2008, AMD since 2011); an \
         inference server on another computer still works",
        missing.join(", ")
    )]
    TooOld {
        /// The baseline's extensions the processor lacks.
        missing: Vec<&'static str>,
    },
    /// The module file is not where the installation puts it.
    #[error(
        "xgen-desk's CPU code for {level} ({file}) is missing from {}; reinstall xgen-desk",
        searched.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(" and ")
    )]
    Missing {
        /// The level whose module is missing.
        level: Level,
        /// The module's file name.
        file: String,
        /// The folders searched.
        searched: Vec<PathBuf>,
    },
    /// llama.cpp refused the module (its log says why).
    #[error("llama.cpp could not load its CPU code from {} (the log above says why)", path.display())]
    NotLoaded {
        /// The module file.
        path: PathBuf,
    },
}

fn runnable_text(levels: &[Level]) -> String {
    if levels.is_empty() {
        "none of xgen-desk's levels".to_owned()
    } else {
        levels
            .iter()
            .map(|l| l.name())
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// The level to run and why: the best the processor runs, or the one `requested` (the value of
/// `XGEN_DESK_CPU`; empty means unset) forces.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Choice {
    /// The level that runs.
    pub level: Level,
    /// The best level the processor runs.
    pub best: Level,
    /// Whether `XGEN_DESK_CPU` chose it.
    pub forced: bool,
    /// The processor's extensions.
    pub features: CpuFeatures,
    /// What the kernel said about AMX.
    pub amx: Amx,
}

impl Choice {
    /// One line for `--version`, the log and the hardware panel, e.g. "avx512-vnni (AVX-512 with
    /// VNNI), chosen for this processor; AMX not in this processor".
    #[must_use]
    pub fn summary(&self) -> String {
        let why = if self.forced && self.level != self.best {
            format!(
                "forced by {OVERRIDE_VAR} (this processor runs {})",
                self.best.name()
            )
        } else if self.forced {
            format!("forced by {OVERRIDE_VAR}, the best for this processor")
        } else {
            "chosen for this processor".to_owned()
        };
        let mut unused = Vec::new();
        if self.features.has("avx512bf16") {
            unused.push("BF16");
        }
        if self.features.has("avxvnni") && self.level < Level::Avx512Vnni {
            unused.push("AVX-VNNI");
        }
        let unused = if unused.is_empty() {
            String::new()
        } else {
            format!("; {} in the processor, unused", unused.join(", "))
        };
        format!(
            "{} ({}), {why}{unused}; {}",
            self.level.name(),
            self.level.label(),
            self.amx.describe()
        )
    }
}

/// Chooses the level for a processor with `features`; `requested` is `XGEN_DESK_CPU`'s value
/// (`None` or blank: the best one). The AMX answer is left to the caller ([`Amx::probe`]).
///
/// # Errors
/// [`CpuError::UnknownLevel`] for a name that is no level, [`CpuError::Unsupported`] for a
/// level the processor lacks an extension of, [`CpuError::TooOld`] when it runs none.
pub fn choose(features: &CpuFeatures, requested: Option<&str>) -> Result<Choice, CpuError> {
    let runnable: Vec<Level> = Level::ALL
        .into_iter()
        .filter(|l| l.runs_on(features))
        .collect();
    let Some(best) = runnable.last().copied() else {
        return Err(CpuError::TooOld {
            missing: Level::Baseline.missing(features),
        });
    };
    let requested = requested.map(str::trim).filter(|r| !r.is_empty());
    let (level, forced) = match requested {
        None => (best, false),
        Some(name) => {
            let level =
                Level::parse(name).ok_or_else(|| CpuError::UnknownLevel(name.to_owned()))?;
            if !level.runs_on(features) {
                return Err(CpuError::Unsupported {
                    level,
                    missing: level.missing(features),
                    runnable,
                });
            }
            (level, true)
        }
    };
    Ok(Choice {
        level,
        best,
        forced,
        features: features.clone(),
        amx: Amx::NotInProcessor,
    })
}

/// The CPU code llama.cpp runs in this process.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CpuCode {
    /// The level and why (x86-64 Linux); `None` where the CPU code is built into the
    /// binary.
    pub choice: Option<Choice>,
    /// The module loaded.
    pub module: Option<PathBuf>,
}

impl CpuCode {
    /// The short name for machine-readable output (`bench --json`'s `cpu_variant`): the level's
    /// name, or "built-in".
    #[must_use]
    pub fn variant(&self) -> &'static str {
        self.choice.as_ref().map_or("built-in", |c| c.level.name())
    }

    /// One line for people (`--version`, the log, the hardware panel).
    #[must_use]
    pub fn summary(&self) -> String {
        match &self.choice {
            Some(choice) => choice.summary(),
            None => {
                let features = compiled_features();
                if features.is_empty() {
                    "built in".to_owned()
                } else {
                    format!("built in: {}", features.join(", "))
                }
            }
        }
    }
}

/// Whether this build loads its CPU code as modules (x86-64 Linux).
#[must_use]
pub const fn uses_modules() -> bool {
    cfg!(xgen_cpu_modules)
}

/// Chooses and loads the CPU code, once per process (later calls return the first answer):
/// reads the processor's extensions and `XGEN_DESK_CPU`, asks the kernel about AMX, and hands
/// the module to llama.cpp. Call it before llama.cpp loads a model; without it, a build with
/// modules has no CPU backend at all.
///
/// # Errors
/// [`CpuError`]: a bad or unrunnable `XGEN_DESK_CPU`, a processor older than the baseline, a
/// missing or refused module.
pub fn load() -> Result<&'static CpuCode, CpuError> {
    static LOADED: OnceLock<Result<CpuCode, CpuError>> = OnceLock::new();
    LOADED
        .get_or_init(|| {
            if !uses_modules() {
                return Ok(CpuCode {
                    choice: None,
                    module: None,
                });
            }
            let features = CpuFeatures::detect();
            let requested = std::env::var(OVERRIDE_VAR).ok();
            let mut choice = choose(&features, requested.as_deref())?;
            choice.amx = Amx::probe(&features);
            let module = modules::load_level(choice.level)?;
            Ok(CpuCode {
                choice: Some(choice),
                module: Some(module),
            })
        })
        .as_ref()
        .map_err(Clone::clone)
}

/// Loads another of llama.cpp's backend modules from where the CPU modules are (a GPU build's
/// `ggml-vulkan`, `ggml-cuda`); `Ok(None)` when this build has no modules or no such file.
///
/// # Errors
/// [`CpuError::NotLoaded`] when the file is there and llama.cpp refuses it.
pub fn load_backend(name: &str) -> Result<Option<PathBuf>, CpuError> {
    if !uses_modules() {
        return Ok(None);
    }
    modules::load_named(name)
}
