//! XGen's tokenizer as a Hugging Face `tokenizer.json`, built from the same vocabulary and
//! merges as the GGUF ([`XgenVocab`]), so a program without the model (a client of a remote
//! server, or one whose model is still loading) counts tokens exactly as llama.cpp does.
//!
//! The file describes byte-level BPE with GPT-2's pre-tokenizer: the 50256 GPT-2 ranks and the
//! 38 whitespace runs are ordinary vocabulary entries reached through the merges (as in the
//! GGUF), and `<|endoftext|>` and the 905 other specials are added tokens marked special. The
//! Hugging Face default parses those specials in the text, as `tokenization_xgen.py` does;
//! text from documents must be encoded with special-token parsing off (the `tokenizers`
//! crate's `set_encode_special_tokens(true)`), which gives the ids of
//! [`crate::XgenTokenizer::encode_ordinary`].

use std::path::{Path, PathBuf};

use serde_json::{json, Map, Value};

use crate::vocab::{VocabError, XgenVocab, TOKEN_TYPE_CONTROL};

/// The file name Hugging Face tools look for.
pub const TOKENIZER_JSON: &str = "tokenizer.json";

/// Errors while writing `tokenizer.json`.
#[derive(Debug, thiserror::Error)]
pub enum TokenizerJsonError {
    /// Building the vocabulary failed.
    #[error(transparent)]
    Vocab(#[from] VocabError),
    /// The file could not be written.
    #[error("could not write {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
}

/// The `tokenizer.json` document for `vocab`.
#[must_use]
pub fn tokenizer_json(vocab: &XgenVocab) -> Value {
    let mut entries = Map::with_capacity(vocab.tokens().len());
    let mut added = Vec::new();
    for (id, (token, kind)) in vocab.tokens().iter().zip(vocab.token_types()).enumerate() {
        entries.insert(token.clone(), json!(id));
        if *kind == TOKEN_TYPE_CONTROL {
            added.push(json!({
                "id": id,
                "content": token,
                "single_word": false,
                "lstrip": false,
                "rstrip": false,
                "normalized": false,
                "special": true,
            }));
        }
    }
    let byte_level = |add_prefix_space: bool, trim_offsets: bool| {
        json!({
            "type": "ByteLevel",
            "add_prefix_space": add_prefix_space,
            "trim_offsets": trim_offsets,
            "use_regex": true,
        })
    };
    json!({
        "version": "1.0",
        "truncation": null,
        "padding": null,
        "added_tokens": added,
        "normalizer": null,
        // GPT-2's pre-tokenizer: the byte-to-unicode map and GPT-2's split regex. XGen adds no
        // prefix space and no BOS/EOS.
        "pre_tokenizer": byte_level(false, true),
        "post_processor": byte_level(true, false),
        "decoder": byte_level(true, true),
        "model": {
            "type": "BPE",
            "dropout": null,
            "unk_token": null,
            "continuing_subword_prefix": "",
            "end_of_word_suffix": "",
            "fuse_unk": false,
            "byte_fallback": false,
            "ignore_merges": false,
            "vocab": entries,
            "merges": vocab.merges(),
        },
    })
}

/// The `tokenizer.json` text of the XGen vocabulary (built once per process).
///
/// # Errors
/// [`VocabError`] when the vocabulary cannot be built.
pub fn xgen_tokenizer_json() -> Result<String, VocabError> {
    let vocab = XgenVocab::shared()?;
    Ok(tokenizer_json(vocab).to_string())
}

/// Writes XGen's `tokenizer.json` in the folder of `gguf` (atomically), and returns its path.
///
/// # Errors
/// [`TokenizerJsonError`] when the vocabulary cannot be built or the file written.
pub fn write_beside(gguf: &Path) -> Result<PathBuf, TokenizerJsonError> {
    let path = xgen_fsio::parent_dir(gguf).join(TOKENIZER_JSON);
    let text = xgen_tokenizer_json()?;
    xgen_fsio::write_atomic(&path, text.as_bytes()).map_err(|source| TokenizerJsonError::Io {
        path: path.clone(),
        source,
    })?;
    Ok(path)
}
