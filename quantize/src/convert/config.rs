//! `config.json`: the LLaMA dimensions of a checkpoint, each held to a range real models stay
//! far inside before anything is sized from it.

use std::fs::File;
use std::io::Read;
use std::path::Path;

use super::ConvertError;

/// Most bytes of `config.json` (real ones are a few KiB).
pub const MAX_CONFIG_BYTES: u64 = 1 << 20;
/// The range each `config.json` dimension must lie in: `(field, least, most)`. Real models stay
/// far inside them; a value outside is refused before anything is sized from it.
pub const CONFIG_LIMITS: [(&str, usize, usize); 7] = [
    ("hidden_size", 1, 1 << 16),
    ("intermediate_size", 1, 1 << 18),
    ("num_hidden_layers", 1, 1024),
    ("num_attention_heads", 1, 1024),
    ("num_key_value_heads", 1, 1024),
    ("max_position_embeddings", 1, 1 << 24),
    ("vocab_size", 1, 1 << 20),
];

/// The LLaMA dimensions read from a Hugging Face `config.json`.
#[derive(Debug, Clone, PartialEq)]
pub struct LlamaConfig {
    /// `hidden_size`.
    pub hidden_size: usize,
    /// `intermediate_size`.
    pub intermediate_size: usize,
    /// `num_hidden_layers`.
    pub num_hidden_layers: usize,
    /// `num_attention_heads`.
    pub num_attention_heads: usize,
    /// `num_key_value_heads` (defaults to `num_attention_heads`).
    pub num_key_value_heads: usize,
    /// `max_position_embeddings`.
    pub max_position_embeddings: usize,
    /// `rms_norm_eps`.
    pub rms_norm_eps: f32,
    /// `rope_theta` (defaults to 10000).
    pub rope_theta: f32,
    /// `vocab_size`.
    pub vocab_size: usize,
    /// `tie_word_embeddings` (defaults to false).
    pub tie_word_embeddings: bool,
}

impl LlamaConfig {
    /// Reads and validates `config.json` (LLaMA architecture, required fields, head sizes).
    ///
    /// # Errors
    /// [`ConvertError::MissingConfig`], [`ConvertError::BadConfig`], [`ConvertError::NotLlama`].
    pub fn from_file(path: &Path) -> Result<Self, ConvertError> {
        let text = match read_capped(path, MAX_CONFIG_BYTES) {
            Err(ConvertError::Io { source, .. })
                if source.kind() == std::io::ErrorKind::NotFound =>
            {
                return Err(ConvertError::MissingConfig(
                    path.parent().unwrap_or(path).to_path_buf(),
                ))
            }
            other => other?,
        };
        Self::from_json(path, &text)
    }

    /// Parses and validates the text of a `config.json` (`path` names it in errors). Every
    /// dimension must lie in its [`CONFIG_LIMITS`] range, the heads must divide the hidden
    /// size into even halves and the key/value heads must divide the heads.
    ///
    /// # Errors
    /// [`ConvertError::BadConfig`] naming the field and its allowed range,
    /// [`ConvertError::NotLlama`].
    pub fn from_json(path: &Path, text: &str) -> Result<Self, ConvertError> {
        let bad = |reason: String| ConvertError::BadConfig {
            path: path.to_path_buf(),
            reason,
        };
        let raw: serde_json::Value = serde_json::from_str(text).map_err(|e| bad(e.to_string()))?;
        let Some(obj) = raw.as_object() else {
            return Err(bad("it is not a JSON object".to_owned()));
        };
        let architectures: Vec<String> = match obj.get("architectures") {
            None | Some(serde_json::Value::Null) => Vec::new(),
            Some(serde_json::Value::Array(a)) => a
                .iter()
                .map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_owned))
                .take(16)
                .collect(),
            Some(other) => return Err(bad(format!("architectures is {other}, not a list"))),
        };
        if architectures.iter().all(|a| a != "LlamaForCausalLM") {
            return Err(ConvertError::NotLlama(architectures));
        }
        let dim = |field: &str, required: bool| -> Result<Option<usize>, ConvertError> {
            let (min, max) = CONFIG_LIMITS
                .iter()
                .find(|(f, ..)| *f == field)
                .map_or((0, usize::MAX), |&(_, min, max)| (min, max));
            match obj.get(field) {
                None | Some(serde_json::Value::Null) if required => {
                    Err(bad(format!("missing {field}")))
                }
                None | Some(serde_json::Value::Null) => Ok(None),
                Some(v) => v
                    .as_u64()
                    .and_then(|n| usize::try_from(n).ok())
                    .filter(|n| (min..=max).contains(n))
                    .map(Some)
                    .ok_or_else(|| {
                        bad(format!(
                            "{field} is {v}; it must be a whole number from {min} to {max}"
                        ))
                    }),
            }
        };
        let real = |field: &str| -> Result<Option<f64>, ConvertError> {
            match obj.get(field) {
                None | Some(serde_json::Value::Null) => Ok(None),
                Some(v) => v
                    .as_f64()
                    .map(Some)
                    .ok_or_else(|| bad(format!("{field} is {v}, not a number"))),
            }
        };
        let need = |v: Option<usize>| v.unwrap_or_default();
        let hidden_size = need(dim("hidden_size", true)?);
        let intermediate_size = need(dim("intermediate_size", true)?);
        let num_hidden_layers = need(dim("num_hidden_layers", true)?);
        let num_attention_heads = need(dim("num_attention_heads", true)?);
        let num_key_value_heads = dim("num_key_value_heads", false)?.unwrap_or(num_attention_heads);
        let max_position_embeddings = need(dim("max_position_embeddings", true)?);
        let rms_norm_eps =
            real("rms_norm_eps")?.ok_or_else(|| bad("missing rms_norm_eps".to_owned()))?;
        if !(rms_norm_eps > 0.0 && rms_norm_eps < 1.0) {
            return Err(bad(format!(
                "rms_norm_eps is {rms_norm_eps}; it must be a small positive number such as 1e-6"
            )));
        }
        let rope_theta = real("rope_theta")?.unwrap_or(10000.0);
        if !(rope_theta > 0.0 && rope_theta <= f64::from(f32::MAX)) {
            return Err(bad(format!(
                "rope_theta is {rope_theta}; it must be a positive number such as 10000"
            )));
        }
        let tie_word_embeddings = match obj.get("tie_word_embeddings") {
            None | Some(serde_json::Value::Null) => false,
            Some(serde_json::Value::Bool(b)) => *b,
            Some(other) => {
                return Err(bad(format!(
                    "tie_word_embeddings is {other}, not true or false"
                )))
            }
        };
        let cfg = Self {
            hidden_size,
            intermediate_size,
            num_hidden_layers,
            num_attention_heads,
            num_key_value_heads,
            max_position_embeddings,
            rms_norm_eps: rms_norm_eps as f32,
            rope_theta: rope_theta as f32,
            vocab_size: need(dim("vocab_size", true)?),
            tie_word_embeddings,
        };
        let heads = cfg.num_attention_heads;
        if !cfg.hidden_size.is_multiple_of(heads) || !(cfg.hidden_size / heads).is_multiple_of(2) {
            return Err(bad(format!(
                "num_attention_heads {heads} does not divide hidden_size {} into heads of even size",
                cfg.hidden_size
            )));
        }
        if !heads.is_multiple_of(cfg.num_key_value_heads) {
            return Err(bad(format!(
                "num_key_value_heads {} does not divide num_attention_heads {heads}",
                cfg.num_key_value_heads
            )));
        }
        Ok(cfg)
    }

    /// Size of one attention head.
    #[must_use]
    pub fn head_dim(&self) -> usize {
        self.hidden_size / self.num_attention_heads
    }
}

/// Reads a text file of at most `limit` bytes (a longer one is refused, not read).
pub(super) fn read_capped(path: &Path, limit: u64) -> Result<String, ConvertError> {
    let io = |source| ConvertError::Io {
        path: path.to_path_buf(),
        source,
    };
    let file = File::open(path).map_err(io)?;
    let mut text = String::new();
    file.take(limit + 1).read_to_string(&mut text).map_err(io)?;
    if text.len() as u64 > limit {
        return Err(io(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("the file is larger than {limit} bytes, far more than such a file needs"),
        )));
    }
    Ok(text)
}
