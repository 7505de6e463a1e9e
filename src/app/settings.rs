//! Settings people change in the app, saved as JSON in the data directory.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::engine::Sampling;
pub use crate::prompt::SummaryLength;
use crate::prompt::SummaryStyle;
use xgen_fsio::write_atomic;

/// Light, dark, or whatever the system uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum ThemeChoice {
    /// Follow the operating system.
    #[default]
    System,
    /// Always light.
    Light,
    /// Always dark.
    Dark,
}

/// Named sampling settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Preset {
    /// Deterministic: always the most likely token.
    Precise,
    /// The model card's settings.
    Balanced,
    /// More varied wording.
    Creative,
}

impl Preset {
    /// All presets, in menu order.
    pub const ALL: [Self; 3] = [Self::Precise, Self::Balanced, Self::Creative];

    /// Name shown in the menu.
    #[must_use]
    pub fn label(self) -> &'static str {
        match self {
            Self::Precise => "Precise",
            Self::Balanced => "Balanced",
            Self::Creative => "Creative",
        }
    }

    /// The sampling settings of the preset (keeping `max_tokens`, the seed and drafts).
    #[must_use]
    pub fn apply(self, current: &Sampling) -> Sampling {
        let base = Sampling {
            max_tokens: current.max_tokens,
            seed: current.seed,
            drafts: current.drafts,
            ..Sampling::default()
        };
        match self {
            Self::Precise => Sampling {
                temperature: 0.0,
                top_k: 1,
                top_p: 1.0,
                ..base
            },
            Self::Balanced => base,
            Self::Creative => Sampling {
                temperature: 1.0,
                top_k: 200,
                top_p: 0.98,
                ..base
            },
        }
    }
}

/// Everything the settings window changes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Settings {
    /// Instructions placed before every conversation; empty uses the model's default.
    pub system_prompt: String,
    /// How replies are sampled.
    pub sampling: Sampling,
    /// Context size; `None` uses the model's training context (capped at 8192).
    pub n_ctx: Option<u32>,
    /// Theme.
    pub theme: ThemeChoice,
    /// The model to load at start.
    #[serde(default, with = "crate::paths::any_path::option")]
    pub model: Option<PathBuf>,
    /// Summary style.
    pub summary_style: SummaryStyle,
    /// Summary length.
    pub summary_length: SummaryLength,
    /// Marks what a reply says that its document does not (sentences no passage supports,
    /// claims found nowhere) and counts them in its footer. The sources stay either way.
    pub mark_unsupported: bool,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            system_prompt: String::new(),
            sampling: Sampling::default(),
            n_ctx: None,
            theme: ThemeChoice::System,
            model: None,
            summary_style: SummaryStyle::Default,
            summary_length: SummaryLength::Medium,
            mark_unsupported: true,
        }
    }
}

impl Settings {
    /// Sampling for summaries: the chat's, with the summary length.
    #[must_use]
    pub fn summary_sampling(&self) -> Sampling {
        Sampling {
            max_tokens: self.summary_length.max_tokens(),
            ..self.sampling.clone()
        }
    }

    /// Reads settings; a missing file gives the defaults.
    ///
    /// # Errors
    /// When the file exists but cannot be read or parsed (the caller shows it and keeps the
    /// defaults without overwriting the file until something changes).
    pub fn load(path: &Path) -> anyhow::Result<Self> {
        use anyhow::Context as _;
        match std::fs::read(path) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .with_context(|| format!("{} is not a valid settings file", path.display())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Self::default()),
            Err(e) => Err(e).with_context(|| format!("could not read {}", path.display())),
        }
    }

    /// Saves settings atomically.
    ///
    /// # Errors
    /// When the file cannot be written.
    pub fn save(&self, path: &Path) -> anyhow::Result<()> {
        use anyhow::Context as _;
        let bytes = serde_json::to_vec_pretty(self).context("could not encode the settings")?;
        write_atomic(path, &bytes).with_context(|| format!("could not save {}", path.display()))
    }
}
