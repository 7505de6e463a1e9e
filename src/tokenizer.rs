//! XGen's tokenizer without the model: the Hugging Face `tokenizer.json` the converter writes
//! beside every XGen GGUF ([`xgen_quantize::hf_tokenizer`]), read with the `tokenizers` crate.
//!
//! It gives the same ids as llama.cpp on the converted GGUF and as the tiktoken reference (the
//! converter's parity test), so the token meter is exact and instant when no local model is
//! loaded: with a remote engine, and while a local model is still loading. The XGen prompt is
//! rendered by [`crate::prompt::xgen_prompt`] and encoded as one piece with special-token
//! parsing off, as the engine does.

use std::path::Path;
use std::sync::{Arc, OnceLock};

use xgen_quantize::hf_tokenizer::{xgen_tokenizer_json, TOKENIZER_JSON};
use xgen_quantize::vocab::{FIRST_NAMED_SPECIAL_ID, XGEN_VOCAB_SIZE};

use crate::cancel::CancelToken;
use crate::engine::{
    ended_at_once, EngineError, GenerateRequest, Inference, ReplyEvent, ReplyHandle,
};
use crate::prompt::{xgen_prompt, Message, XGEN_EOS};

/// What can go wrong building the tokenizer.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum TokenizerError {
    /// The vocabulary or the `tokenizer.json` could not be built or read.
    #[error("could not build XGen's tokenizer: {0}")]
    Build(String),
    /// The file is a tokenizer, but not XGen's.
    #[error("{0} is not XGen's tokenizer")]
    NotXgen(String),
}

/// XGen's tokenizer, reading text as llama.cpp does for the converted model.
pub struct XgenTextTokenizer {
    inner: tokenizers::Tokenizer,
}

impl std::fmt::Debug for XgenTextTokenizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("XgenTextTokenizer").finish_non_exhaustive()
    }
}

impl XgenTextTokenizer {
    /// The tokenizer built in memory from the vocabulary this program converts models with
    /// (the same text the converter writes to `tokenizer.json`); built once per process.
    ///
    /// # Errors
    /// [`TokenizerError::Build`] when the vocabulary cannot be built.
    pub fn shared() -> Result<Arc<Self>, TokenizerError> {
        static SHARED: OnceLock<Arc<XgenTextTokenizer>> = OnceLock::new();
        if let Some(tokenizer) = SHARED.get() {
            return Ok(Arc::clone(tokenizer));
        }
        let json = xgen_tokenizer_json().map_err(|e| TokenizerError::Build(e.to_string()))?;
        let inner: tokenizers::Tokenizer = json
            .parse()
            .map_err(|e: tokenizers::Error| TokenizerError::Build(e.to_string()))?;
        let built = Arc::new(Self::checked(inner, "the built-in vocabulary")?);
        Ok(Arc::clone(SHARED.get_or_init(|| built)))
    }

    /// Reads a `tokenizer.json`, and accepts it only if it is XGen's (51200 tokens,
    /// `<|endoftext|>` at 50256, `<fim_prefix>` at 50295).
    ///
    /// # Errors
    /// [`TokenizerError`] when the file cannot be read or is another model's.
    pub fn from_file(path: &Path) -> Result<Self, TokenizerError> {
        let inner = tokenizers::Tokenizer::from_file(path)
            .map_err(|e| TokenizerError::Build(format!("{}: {e}", path.display())))?;
        Self::checked(inner, &path.display().to_string())
    }

    /// The `tokenizer.json` in the folder of `gguf`, if there is one and it is XGen's.
    #[must_use]
    pub fn beside(gguf: &Path) -> Option<Self> {
        let path = gguf.parent()?.join(TOKENIZER_JSON);
        if !path.is_file() {
            return None;
        }
        Self::from_file(&path)
            .map_err(|e| tracing::debug!("{}: {e}", path.display()))
            .ok()
    }

    fn checked(mut inner: tokenizers::Tokenizer, what: &str) -> Result<Self, TokenizerError> {
        let is_xgen = inner.get_vocab_size(true) == XGEN_VOCAB_SIZE
            && inner.token_to_id("<|endoftext|>") == u32::try_from(XGEN_EOS).ok()
            && inner.token_to_id("<fim_prefix>") == Some(FIRST_NAMED_SPECIAL_ID);
        if !is_xgen {
            return Err(TokenizerError::NotXgen(what.to_owned()));
        }
        // Text is text: `<|endoftext|>` in a document is not the special token.
        inner.set_encode_special_tokens(true);
        Ok(Self { inner })
    }

    /// The ids of plain text (special tokens not parsed, nothing added).
    #[must_use]
    pub fn encode(&self, text: &str) -> Vec<u32> {
        match self.inner.encode(text, false) {
            Ok(encoding) => encoding.get_ids().to_vec(),
            // The BPE model has no unknown token and byte-level covers every byte, so this
            // does not happen; an estimate is better than no count.
            Err(e) => {
                tracing::warn!("tokenizer failed: {e}");
                vec![0; text.len().div_ceil(4)]
            }
        }
    }

    /// Tokens of plain text.
    #[must_use]
    pub fn count(&self, text: &str) -> usize {
        self.encode(text).len()
    }

    /// The ids of the XGen prompt a conversation becomes, exactly as the engine reads it.
    #[must_use]
    pub fn prompt_ids(&self, messages: &[Message]) -> Vec<u32> {
        self.encode(&xgen_prompt(messages))
    }
}

/// XGen's tokenizer alone, while a local XGen model loads: it counts exactly and answers
/// nothing.
impl Inference for XgenTextTokenizer {
    /// Nothing can answer yet: the reply fails at once with [`EngineError::NoModel`].
    fn generate_with_cancel(&self, _request: GenerateRequest, cancel: CancelToken) -> ReplyHandle {
        let handle = ended_at_once(ReplyEvent::Failed(EngineError::NoModel));
        if cancel.is_cancelled() {
            handle.cancel();
        }
        handle
    }

    fn count_tokens(&self, text: &str) -> Result<usize, EngineError> {
        Ok(self.count(text))
    }

    fn count_prompt_tokens(&self, messages: &[Message]) -> Result<usize, EngineError> {
        Ok(self.prompt_ids(messages).len())
    }
}
