//! A small streaming GGUF v3 writer and a bounded reader of the header, metadata and tensor
//! infos.
//!
//! The writer takes all metadata and tensor infos up front (their sizes are known), writes them,
//! then accepts each tensor's bytes in order, in as many chunks as the caller likes, so a
//! converter never holds more than one buffer of the model.
//!
//! The reader reads files nobody vetted (a GGUF dropped on the window, downloaded from the Hub)
//! before llama.cpp ever sees them, so it is written to fail in words rather than in memory or
//! stack: every count is checked against the bytes left in the file before anything is
//! allocated, arrays are stored as typed vectors (a one-byte element costs one byte), nested
//! arrays are limited in depth, all size arithmetic is checked, and [`ReadOptions`] lets a caller
//! that only needs the dimensions skip the long tokenizer lists. [`check_file`] is the one place
//! that decides whether a file is a GGUF that llama.cpp may be given.

//!
//! Submodules: `value` (metadata values and typed arrays), `write` (the streaming writer),
//! `read` (the bounded reader and [`check_file`]).

#![allow(
    unsafe_code,
    reason = "a type's block layout comes from ggml's table, through llama.cpp's C API"
)]

use std::io::Write;
use std::path::PathBuf;

mod read;
mod value;
mod write;

pub use read::{check_file, read_tensor_bytes, GgufFile, GgufHeaderInfo, ReadOptions};
pub use value::{GgufArray, GgufStrings, GgufValue};
pub use write::{GgufTensorSink, GgufWriter};

/// `GGUF` as a little-endian u32.
pub const GGUF_MAGIC: [u8; 4] = *b"GGUF";
/// The GGUF version this writer produces.
pub const GGUF_VERSION: u32 = 3;
/// Default data alignment (`general.alignment`).
pub const GGUF_DEFAULT_ALIGNMENT: u64 = 32;
/// Most metadata keys a file may declare (real models have under a hundred).
pub const MAX_METADATA_KEYS: u64 = 1 << 16;
/// Most tensors a file may declare (real models have at most a few thousand).
pub const MAX_TENSORS: u64 = 1 << 20;
/// Most levels of arrays inside arrays (llama.cpp itself reads none).
pub const MAX_ARRAY_DEPTH: u32 = 4;
/// Most dimensions of a tensor (ggml's `GGML_MAX_DIMS`).
pub const MAX_TENSOR_DIMS: u32 = 4;

/// Errors from the GGUF writer and reader. The reader's messages describe what is wrong with
/// the file; callers add its path.
#[derive(Debug, thiserror::Error)]
pub enum GgufError {
    /// Reading or writing failed.
    #[error("GGUF I/O: {0}")]
    Io(#[from] std::io::Error),
    /// The file does not exist.
    #[error("the file {} does not exist", .0.display())]
    NotFound(PathBuf),
    /// The file has no bytes at all.
    #[error("the file is empty (0 bytes): the download or copy did not finish")]
    Empty,
    /// The file does not start with the `GGUF` magic.
    #[error("not a GGUF file: {}", describe_magic(.0))]
    NotGguf([u8; 4]),
    /// The file ends before the structure being read, or a count or length in it needs more
    /// bytes than the file has left.
    #[error("truncated or damaged GGUF file: it ends before the end of {0} (an interrupted download or copy?)")]
    Truncated(String),
    /// A count above this reader's limits.
    #[error("damaged GGUF file: it declares {count} {what}, more than the {limit} any model has")]
    TooMany {
        /// What is counted (`metadata keys`, `tensors`).
        what: &'static str,
        /// The count found.
        count: u64,
        /// The limit.
        limit: u64,
    },
    /// The path is a directory.
    #[error("{} is a directory, not a GGUF file", .0.display())]
    NotAFile(PathBuf),
    /// More metadata than [`ReadOptions::max_kept_bytes`] allows.
    #[error("damaged GGUF file: its metadata passes {limit} bytes at {what}")]
    TooLarge {
        /// Where the limit was passed.
        what: String,
        /// The limit.
        limit: u64,
    },
    /// Arrays nested deeper than [`MAX_ARRAY_DEPTH`].
    #[error(
        "damaged GGUF file: metadata {0} nests arrays more than {MAX_ARRAY_DEPTH} levels deep"
    )]
    TooDeep(String),
    /// A size computed from the file does not fit in 64 bits.
    #[error("damaged GGUF file: the size of {0} overflows")]
    Overflow(String),
    /// A GGUF version this reader does not understand.
    #[error("GGUF version {0} is not supported (expected 2 or 3; version 1 files must be converted again with a current llama.cpp)")]
    UnsupportedVersion(u32),
    /// An unknown metadata value type.
    #[error("invalid GGUF metadata value type {0}")]
    InvalidValueType(u32),
    /// A string that is not UTF-8.
    #[error("GGUF string is not UTF-8 while reading {0}")]
    NotUtf8(String),
    /// A metadata key added (writer) or found (reader) twice.
    #[error("duplicate GGUF metadata key {0}")]
    DuplicateKey(String),
    /// A tensor name added (writer) or found (reader) twice.
    #[error("duplicate GGUF tensor {0}")]
    DuplicateTensor(String),
    /// A metadata value llama.cpp would refuse.
    #[error("GGUF metadata {key}: {reason}")]
    BadValue {
        /// The key.
        key: String,
        /// What is wrong.
        reason: String,
    },
    /// A tensor info llama.cpp would refuse (shape, type, data outside the file).
    #[error("GGUF tensor {name}: {reason}")]
    BadTensor {
        /// Tensor name.
        name: String,
        /// What is wrong.
        reason: String,
    },
    /// An array the reader skipped ([`GgufArray::Skipped`]) cannot be written.
    #[error(
        "GGUF metadata {0} holds an array that was skipped when reading; it cannot be written"
    )]
    SkippedArray(String),
    /// A tensor type whose byte size the writer cannot compute.
    #[error("GGUF writer cannot size tensor {name} of type {ty}")]
    UnsizedType {
        /// Tensor name.
        name: String,
        /// Its type.
        ty: GgmlType,
    },
    /// Tensor data written did not match the declared sizes.
    #[error("GGUF tensor data: {0}")]
    DataSize(String),
}

/// What a file that is not a GGUF probably is, for the error message.
fn describe_magic(magic: &[u8; 4]) -> String {
    let seen = xgen_fsio::hex(magic);
    let guess = if magic == b"PK\x03\x04" {
        "a zip archive, such as a PyTorch .bin checkpoint: convert the checkpoint directory to GGUF first"
    } else if magic[0] == b'{' {
        "a JSON file, not model weights"
    } else if magic[2..] == [0, 0] {
        // safetensors starts with its header's length, a little-endian u64 far below 4 GiB.
        "perhaps a .safetensors file: convert the checkpoint directory to GGUF first"
    } else {
        "is it a .bin, .safetensors or other file?"
    };
    format!("it starts with bytes {seen} instead of \"GGUF\" ({guess})")
}

/// A ggml tensor type id, as stored in GGUF tensor infos.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct GgmlType(pub u32);

impl GgmlType {
    /// 32-bit float.
    pub const F32: Self = Self(0);
    /// 16-bit float.
    pub const F16: Self = Self(1);
    /// 4-bit, block of 32.
    pub const Q4_0: Self = Self(2);
    /// 8-bit, block of 32.
    pub const Q8_0: Self = Self(8);
    /// 4-bit k-quant, block of 256.
    pub const Q4_K: Self = Self(12);
    /// 5-bit k-quant.
    pub const Q5_K: Self = Self(13);
    /// 6-bit k-quant.
    pub const Q6_K: Self = Self(14);
    /// bfloat16.
    pub const BF16: Self = Self(30);

    /// ggml's name for the type (`"f16"`, `"q4_K"`...), or `"type<N>"` for ones not listed here.
    #[must_use]
    pub fn name(self) -> String {
        let known = match self.0 {
            0 => "f32",
            1 => "f16",
            2 => "q4_0",
            3 => "q4_1",
            6 => "q5_0",
            7 => "q5_1",
            8 => "q8_0",
            9 => "q8_1",
            10 => "q2_K",
            11 => "q3_K",
            12 => "q4_K",
            13 => "q5_K",
            14 => "q6_K",
            15 => "q8_K",
            30 => "bf16",
            n => return format!("type{n}"),
        };
        known.to_owned()
    }

    /// Bytes per element for the unquantized types the writer produces.
    #[must_use]
    pub fn element_size(self) -> Option<u64> {
        match self.0 {
            0 => Some(4),
            1 | 30 => Some(2),
            _ => None,
        }
    }

    /// `(elements per block, bytes per block)` as the linked llama.cpp defines them, or `None`
    /// for ids it does not know or no longer supports.
    #[must_use]
    pub fn block_layout(self) -> Option<(u64, u64)> {
        if self.0 >= llama_cpp_sys_2::GGML_TYPE_COUNT {
            return None;
        }
        // SAFETY: both functions index ggml's static type table, and the id is below
        // GGML_TYPE_COUNT, the table's length; removed types have block size 0 there.
        let (block, size) = unsafe {
            (
                llama_cpp_sys_2::ggml_blck_size(self.0 as llama_cpp_sys_2::ggml_type),
                llama_cpp_sys_2::ggml_type_size(self.0 as llama_cpp_sys_2::ggml_type),
            )
        };
        let block = u64::try_from(block).ok().filter(|&b| b > 0)?;
        let size = u64::try_from(size).ok().filter(|&s| s > 0)?;
        Some((block, size))
    }
}

impl std::fmt::Display for GgmlType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.name())
    }
}

/// GGUF metadata value type ids.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u32)]
pub enum GgufValueType {
    /// u8
    U8 = 0,
    /// i8
    I8 = 1,
    /// u16
    U16 = 2,
    /// i16
    I16 = 3,
    /// u32
    U32 = 4,
    /// i32
    I32 = 5,
    /// f32
    F32 = 6,
    /// bool (one byte)
    Bool = 7,
    /// string (u64 length + UTF-8 bytes)
    String = 8,
    /// array (element type, u64 count, elements)
    Array = 9,
    /// u64
    U64 = 10,
    /// i64
    I64 = 11,
    /// f64
    F64 = 12,
}

impl GgufValueType {
    fn from_u32(v: u32) -> Result<Self, GgufError> {
        Ok(match v {
            0 => Self::U8,
            1 => Self::I8,
            2 => Self::U16,
            3 => Self::I16,
            4 => Self::U32,
            5 => Self::I32,
            6 => Self::F32,
            7 => Self::Bool,
            8 => Self::String,
            9 => Self::Array,
            10 => Self::U64,
            11 => Self::I64,
            12 => Self::F64,
            other => return Err(GgufError::InvalidValueType(other)),
        })
    }

    /// The fewest bytes one value of this type takes in a file (a string or array can be
    /// empty, but still spends its length field).
    pub(crate) fn min_encoded_len(self) -> u64 {
        match self {
            Self::U8 | Self::I8 | Self::Bool => 1,
            Self::U16 | Self::I16 => 2,
            Self::U32 | Self::I32 | Self::F32 => 4,
            Self::U64 | Self::I64 | Self::F64 | Self::String => 8,
            Self::Array => 12,
        }
    }
}

pub(crate) fn write_str(w: &mut impl Write, s: &str) -> std::io::Result<()> {
    w.write_all(&(s.len() as u64).to_le_bytes())?;
    w.write_all(s.as_bytes())
}

pub(crate) fn pad_len(pos: u64, alignment: u64) -> u64 {
    (alignment - pos % alignment) % alignment
}

/// One tensor's entry in the GGUF tensor-info table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GgufTensorInfo {
    /// Tensor name, e.g. `blk.0.attn_q.weight`.
    pub name: String,
    /// Dimensions in GGUF order (`ne[0]` first: PyTorch's shape reversed).
    pub dims: Vec<u64>,
    /// Element type.
    pub ty: GgmlType,
    /// Offset of the data from the start of the data section.
    pub offset: u64,
}

impl GgufTensorInfo {
    /// Number of elements, or `None` when the product overflows.
    #[must_use]
    pub fn checked_n_elements(&self) -> Option<u64> {
        self.dims.iter().try_fold(1u64, |a, &d| a.checked_mul(d))
    }
}
