//! The exact XGen tokenizer: as a GGUF vocabulary ([`XgenVocab`]) and as a tiktoken reference
//! encoder ([`XgenTokenizer`]).
//!
//! XGen's `tokenization_xgen.py` builds its encoding from tiktoken's `gpt2` (`r50k_base`) ranks:
//! ids 0..50255 are GPT-2's, 50256 is `<|endoftext|>`, then 30 space runs and 8 tab runs are
//! appended as *mergeable* ranks, then the named specials and padding specials until the
//! vocabulary holds exactly 51200 entries.

use std::sync::OnceLock;

use rustc_hash::FxHashMap;
use tiktoken_rs::CoreBPE;

use crate::gguf::{GgufError, GgufWriter};

/// Number of tokens in the XGen vocabulary (and rows of the embedding matrix).
pub const XGEN_VOCAB_SIZE: usize = 51200;
/// Number of GPT-2 mergeable ranks (ids 0..50255).
pub const GPT2_RANKS: u32 = 50256;
/// Number of merges GPT-2's `vocab.bpe` lists.
pub const GPT2_MERGES: usize = 50000;
/// Id of `<|endoftext|>`, also BOS and EOS.
pub const ENDOFTEXT_ID: u32 = 50256;
/// Text of token 50256.
pub const ENDOFTEXT: &str = "<|endoftext|>";
/// Longest run of spaces that has its own token (id 50257).
pub const MAX_SPACE_RUN: u32 = 31;
/// Longest run of tabs that has its own token (id 50287).
pub const MAX_TAB_RUN: u32 = 9;
/// Id of the first named special token, `<fim_prefix>`.
pub const FIRST_NAMED_SPECIAL_ID: u32 = 50295;
/// The 18 named special tokens, ids 50295..=50312, in id order.
pub const NAMED_SPECIALS: [&str; 18] = [
    "<fim_prefix>",
    "<fim_middle>",
    "<fim_suffix>",
    "<fim_pad>",
    "<filename>",
    "<gh_stars>",
    "<issue_start>",
    "<issue_comment>",
    "<issue_closed>",
    "<jupyter_start>",
    "<jupyter_text>",
    "<jupyter_code>",
    "<jupyter_output>",
    "<empty_output>",
    "<commit_before>",
    "<commit_msg>",
    "<commit_after>",
    "<reponame>",
];
/// The GPT-2 pre-tokenizer regex, exactly as tiktoken's `r50k_base` spells it.
pub const GPT2_PATTERN: &str =
    r"'(?:[sdmt]|ll|ve|re)| ?\p{L}++| ?\p{N}++| ?[^\s\p{L}\p{N}]++|\s++$|\s+(?!\S)|\s";

/// GGUF token type of an ordinary token (`LLAMA_TOKEN_TYPE_NORMAL`).
pub const TOKEN_TYPE_NORMAL: i32 = 1;
/// GGUF token type of a control token (`LLAMA_TOKEN_TYPE_CONTROL`).
pub const TOKEN_TYPE_CONTROL: i32 = 3;

/// Errors while building the XGen vocabulary or tokenizer.
#[derive(Debug, thiserror::Error)]
pub enum VocabError {
    /// tiktoken-rs could not build or decode its `r50k_base` encoding.
    #[error("tiktoken r50k_base: {0}")]
    Tiktoken(String),
    /// A GPT-2 rank could not be split into the two tokens whose merge produced it.
    #[error("cannot derive the merge that produces GPT-2 rank {rank}")]
    NoMerge {
        /// The rank without a derivable merge.
        rank: u32,
    },
    /// The assembled vocabulary does not have exactly [`XGEN_VOCAB_SIZE`] tokens.
    #[error("XGen vocabulary has {0} tokens, expected 51200")]
    WrongSize(usize),
    /// Decoded token bytes are not valid UTF-8.
    #[error("decoded tokens are not valid UTF-8: {0}")]
    NotUtf8(#[from] std::string::FromUtf8Error),
    /// A token id that is not in the vocabulary.
    #[error("token id {0} is not in the XGen vocabulary")]
    UnknownId(u32),
}

/// The text of the special token with `id`, for ids 50256 and 50295..=51199.
///
/// After the 18 named specials `tokenization_xgen.py` appends `<dummy_0>`..`<dummy_3>`, `<sep>`
/// (50317), `<eom>` (50318) and `<mask_{i}>` for `i` in `reversed(range(1, 51199 - 50318 + 1))`,
/// i.e. `<mask_881>` (50319) down to `<mask_1>` (51199): exactly 51200 tokens in all.
#[must_use]
pub fn special_token_text(id: u32) -> Option<String> {
    const DUMMY_START: u32 = FIRST_NAMED_SPECIAL_ID + NAMED_SPECIALS.len() as u32; // 50313
    const SEP: u32 = DUMMY_START + 4; // 50317
    const EOM: u32 = SEP + 1; // 50318
    const LAST: u32 = XGEN_VOCAB_SIZE as u32 - 1; // 51199
    match id {
        ENDOFTEXT_ID => Some(ENDOFTEXT.to_owned()),
        FIRST_NAMED_SPECIAL_ID..DUMMY_START => NAMED_SPECIALS
            .get((id - FIRST_NAMED_SPECIAL_ID) as usize)
            .map(|s| (*s).to_owned()),
        DUMMY_START..SEP => Some(format!("<dummy_{}>", id - DUMMY_START)),
        SEP => Some("<sep>".to_owned()),
        EOM => Some("<eom>".to_owned()),
        id if id > EOM && id <= LAST => Some(format!("<mask_{}>", LAST + 1 - id)),
        _ => None,
    }
}

/// The bytes of the whitespace-run token `id` (50257..=50294), or `None` for other ids.
#[must_use]
pub fn whitespace_run(id: u32) -> Option<Vec<u8>> {
    let first_tab = GPT2_RANKS + 1 + (MAX_SPACE_RUN - 1); // 50287
    if (GPT2_RANKS + 1..first_tab).contains(&id) {
        // id = 50288 - n
        Some(vec![b' '; (50288 - id) as usize])
    } else if (first_tab..FIRST_NAMED_SPECIAL_ID).contains(&id) {
        // id = 50296 - n
        Some(vec![b'\t'; (50296 - id) as usize])
    } else {
        None
    }
}

/// GPT-2's reversible byte-to-unicode map: printable bytes map to themselves, the rest to
/// U+0100 onwards (so space is `Ġ`, tab `ĉ`, newline `Ċ`).
#[must_use]
pub fn byte_to_unicode() -> [char; 256] {
    let mut map = ['\0'; 256];
    let mut n = 0u32;
    for b in 0..=255u8 {
        let printable = matches!(b, b'!'..=b'~' | 0xA1..=0xAC | 0xAE..=0xFF);
        map[b as usize] = if printable {
            char::from(b)
        } else {
            let c = char::from_u32(256 + n).unwrap_or('\u{FFFD}');
            n += 1;
            c
        };
    }
    map
}

/// Encodes raw token bytes as GPT-2 byte-level text.
#[must_use]
pub fn bytes_to_gpt2_text(bytes: &[u8]) -> String {
    let map = byte_to_unicode();
    bytes.iter().map(|&b| map[b as usize]).collect()
}

/// The 50256 GPT-2 mergeable ranks, indexed by rank, taken from tiktoken-rs's `r50k_base`.
fn gpt2_rank_bytes() -> Result<Vec<Vec<u8>>, VocabError> {
    let bpe = tiktoken_rs::r50k_base().map_err(|e| VocabError::Tiktoken(format!("{e:#}")))?;
    (0..GPT2_RANKS)
        .map(|r| {
            bpe.decode_bytes(&[r])
                .map_err(|e| VocabError::Tiktoken(e.to_string()))
        })
        .collect()
}

/// Runs rank-based BPE on `piece` using only ranks below `max_rank` and returns the parts.
///
/// For a token of rank `r`, running this with `max_rank = r` stops right before the final
/// merge, so the two parts left are exactly the merge that BPE uses to produce the token.
fn bpe_parts<'a>(piece: &'a [u8], ranks: &FxHashMap<&[u8], u32>, max_rank: u32) -> Vec<&'a [u8]> {
    let mut parts: Vec<&[u8]> = (0..piece.len()).map(|i| &piece[i..=i]).collect();
    loop {
        let mut best: Option<(u32, usize)> = None;
        for i in 0..parts.len().saturating_sub(1) {
            let start = parts[i].as_ptr() as usize - piece.as_ptr() as usize;
            let end = start + parts[i].len() + parts[i + 1].len();
            if let Some(&rank) = ranks.get(&piece[start..end]) {
                if rank < max_rank && best.is_none_or(|(b, _)| rank < b) {
                    best = Some((rank, i));
                }
            }
        }
        let Some((_, i)) = best else {
            return parts;
        };
        let start = parts[i].as_ptr() as usize - piece.as_ptr() as usize;
        let end = start + parts[i].len() + parts[i + 1].len();
        parts[i] = &piece[start..end];
        parts.remove(i + 1);
    }
}

/// The XGen vocabulary in the form a GGUF `gpt2` tokenizer needs.
#[derive(Debug, Clone)]
pub struct XgenVocab {
    tokens: Vec<String>,
    token_types: Vec<i32>,
    merges: Vec<String>,
}

impl XgenVocab {
    /// Builds the vocabulary: GPT-2's ranks from tiktoken-rs, the whitespace runs and the
    /// specials, and the merges derived from the ranks.
    ///
    /// # Errors
    /// [`VocabError`] if tiktoken-rs fails or a GPT-2 merge cannot be derived.
    pub fn new() -> Result<Self, VocabError> {
        let rank_bytes = gpt2_rank_bytes()?;
        let ranks: FxHashMap<&[u8], u32> = rank_bytes
            .iter()
            .zip(0u32..)
            .map(|(b, r)| (b.as_slice(), r))
            .collect();

        let mut tokens = Vec::with_capacity(XGEN_VOCAB_SIZE);
        let mut token_types = Vec::with_capacity(XGEN_VOCAB_SIZE);
        for bytes in &rank_bytes {
            tokens.push(bytes_to_gpt2_text(bytes));
            token_types.push(TOKEN_TYPE_NORMAL);
        }
        for id in GPT2_RANKS..XGEN_VOCAB_SIZE as u32 {
            if let Some(run) = whitespace_run(id) {
                tokens.push(bytes_to_gpt2_text(&run));
                token_types.push(TOKEN_TYPE_NORMAL);
            } else if let Some(text) = special_token_text(id) {
                tokens.push(text);
                token_types.push(TOKEN_TYPE_CONTROL);
            } else {
                return Err(VocabError::WrongSize(tokens.len()));
            }
        }
        if tokens.len() != XGEN_VOCAB_SIZE {
            return Err(VocabError::WrongSize(tokens.len()));
        }

        let mut merges = Vec::with_capacity(GPT2_MERGES + 38);
        for (bytes, rank) in rank_bytes.iter().zip(0u32..).skip(256) {
            let parts = bpe_parts(bytes, &ranks, rank);
            let [left, right] = parts.as_slice() else {
                return Err(VocabError::NoMerge { rank });
            };
            merges.push(format!(
                "{} {}",
                bytes_to_gpt2_text(left),
                bytes_to_gpt2_text(right)
            ));
        }
        // Left-grow merges in id order: a run of n grows from the run of n-1 plus one more,
        // which is what rank-based BPE does since longer runs have lower ranks.
        for id in GPT2_RANKS + 1..FIRST_NAMED_SPECIAL_ID {
            if let Some(run) = whitespace_run(id) {
                let (head, last) = run.split_at(run.len() - 1);
                merges.push(format!(
                    "{} {}",
                    bytes_to_gpt2_text(head),
                    bytes_to_gpt2_text(last)
                ));
            }
        }
        Ok(Self {
            tokens,
            token_types,
            merges,
        })
    }

    /// A process-wide instance, built on first use.
    ///
    /// # Errors
    /// [`VocabError`] if building fails (the failure is not cached).
    pub fn shared() -> Result<&'static Self, VocabError> {
        static VOCAB: OnceLock<XgenVocab> = OnceLock::new();
        if let Some(v) = VOCAB.get() {
            return Ok(v);
        }
        let built = Self::new()?;
        Ok(VOCAB.get_or_init(|| built))
    }

    /// The 51200 GGUF token strings, indexed by id.
    #[must_use]
    pub fn tokens(&self) -> &[String] {
        &self.tokens
    }

    /// The GGUF token types ([`TOKEN_TYPE_NORMAL`] or [`TOKEN_TYPE_CONTROL`]), indexed by id.
    #[must_use]
    pub fn token_types(&self) -> &[i32] {
        &self.token_types
    }

    /// The merges in rank order (`"left right"`, GPT-2 byte-level text): 50000 + 38.
    #[must_use]
    pub fn merges(&self) -> &[String] {
        &self.merges
    }

    /// Adds the `tokenizer.ggml.*` metadata llama.cpp needs for this vocabulary.
    ///
    /// # Errors
    /// [`GgufError::DuplicateKey`] if the writer already has one of these keys.
    pub fn add_to_gguf(&self, writer: &mut GgufWriter) -> Result<(), GgufError> {
        writer.add_string("tokenizer.ggml.model", "gpt2")?;
        writer.add_string("tokenizer.ggml.pre", "gpt-2")?;
        writer.add_string_array("tokenizer.ggml.tokens", &self.tokens)?;
        writer.add_i32_array("tokenizer.ggml.token_type", self.token_types.clone())?;
        writer.add_string_array("tokenizer.ggml.merges", &self.merges)?;
        writer.add_u32("tokenizer.ggml.bos_token_id", ENDOFTEXT_ID)?;
        writer.add_u32("tokenizer.ggml.eos_token_id", ENDOFTEXT_ID)?;
        writer.add_bool("tokenizer.ggml.add_bos_token", false)?;
        writer.add_bool("tokenizer.ggml.add_eos_token", false)?;
        Ok(())
    }
}

/// The tiktoken reference encoder for XGen, equivalent to `tokenization_xgen.py`.
pub struct XgenTokenizer {
    bpe: CoreBPE,
}

impl std::fmt::Debug for XgenTokenizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("XgenTokenizer").finish_non_exhaustive()
    }
}

impl XgenTokenizer {
    /// Builds the encoder: GPT-2's ranks plus the 38 whitespace-run ranks, and the specials.
    ///
    /// # Errors
    /// [`VocabError::Tiktoken`] if tiktoken-rs fails.
    pub fn new() -> Result<Self, VocabError> {
        let rank_bytes = gpt2_rank_bytes()?;
        let mut encoder: FxHashMap<Vec<u8>, u32> = rank_bytes.into_iter().zip(0u32..).collect();
        let mut specials: FxHashMap<String, u32> = FxHashMap::default();
        for id in GPT2_RANKS..XGEN_VOCAB_SIZE as u32 {
            if let Some(run) = whitespace_run(id) {
                encoder.insert(run, id);
            } else if let Some(text) = special_token_text(id) {
                specials.insert(text, id);
            }
        }
        let bpe = CoreBPE::new(encoder, specials, GPT2_PATTERN)
            .map_err(|e| VocabError::Tiktoken(format!("{e:#}")))?;
        Ok(Self { bpe })
    }

    /// Encodes `text` with special-token parsing off (specials are plain text).
    #[must_use]
    pub fn encode_ordinary(&self, text: &str) -> Vec<u32> {
        self.bpe.encode_ordinary(text)
    }

    /// Decodes ids to bytes (specials to their text).
    ///
    /// # Errors
    /// [`VocabError::UnknownId`] for an id outside the vocabulary.
    pub fn decode_bytes(&self, ids: &[u32]) -> Result<Vec<u8>, VocabError> {
        self.bpe
            .decode_bytes(ids)
            .map_err(|e| VocabError::UnknownId(e.token))
    }

    /// Decodes ids to a string.
    ///
    /// # Errors
    /// [`VocabError::UnknownId`] for an id outside the vocabulary, [`VocabError::NotUtf8`] if
    /// the bytes are not valid UTF-8 (e.g. a split multi-byte character).
    pub fn decode(&self, ids: &[u32]) -> Result<String, VocabError> {
        Ok(String::from_utf8(self.decode_bytes(ids)?)?)
    }
}
