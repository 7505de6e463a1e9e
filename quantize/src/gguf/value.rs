//! GGUF metadata values; arrays are typed vectors, so an element costs what the file spends on
//! it.

use std::io::Write;

use super::{write_str, GgufValueType};

/// A GGUF metadata value.
#[derive(Debug, Clone, PartialEq)]
pub enum GgufValue {
    /// u8
    U8(u8),
    /// i8
    I8(i8),
    /// u16
    U16(u16),
    /// i16
    I16(i16),
    /// u32
    U32(u32),
    /// i32
    I32(i32),
    /// f32
    F32(f32),
    /// bool
    Bool(bool),
    /// string
    String(String),
    /// u64
    U64(u64),
    /// i64
    I64(i64),
    /// f64
    F64(f64),
    /// Homogeneous array.
    Array(GgufArray),
}

impl GgufValue {
    /// The value's type id.
    #[must_use]
    pub fn value_type(&self) -> GgufValueType {
        match self {
            Self::U8(_) => GgufValueType::U8,
            Self::I8(_) => GgufValueType::I8,
            Self::U16(_) => GgufValueType::U16,
            Self::I16(_) => GgufValueType::I16,
            Self::U32(_) => GgufValueType::U32,
            Self::I32(_) => GgufValueType::I32,
            Self::F32(_) => GgufValueType::F32,
            Self::Bool(_) => GgufValueType::Bool,
            Self::String(_) => GgufValueType::String,
            Self::U64(_) => GgufValueType::U64,
            Self::I64(_) => GgufValueType::I64,
            Self::F64(_) => GgufValueType::F64,
            Self::Array(_) => GgufValueType::Array,
        }
    }

    /// The value as a non-negative integer of any width, if it is one.
    #[must_use]
    pub fn as_unsigned(&self) -> Option<u64> {
        match self {
            Self::U8(v) => Some(u64::from(*v)),
            Self::U16(v) => Some(u64::from(*v)),
            Self::U32(v) => Some(u64::from(*v)),
            Self::U64(v) => Some(*v),
            Self::I8(v) => u64::try_from(*v).ok(),
            Self::I16(v) => u64::try_from(*v).ok(),
            Self::I32(v) => u64::try_from(*v).ok(),
            Self::I64(v) => u64::try_from(*v).ok(),
            _ => None,
        }
    }

    /// The value as a bool, if it is one.
    #[must_use]
    pub fn as_bool(&self) -> Option<bool> {
        match self {
            Self::Bool(v) => Some(*v),
            _ => None,
        }
    }

    /// The value as a string, if it is one.
    #[must_use]
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Self::String(v) => Some(v),
            _ => None,
        }
    }

    /// The array, if the value is one.
    #[must_use]
    pub fn as_array(&self) -> Option<&GgufArray> {
        match self {
            Self::Array(a) => Some(a),
            _ => None,
        }
    }

    pub(crate) fn encoded_len(&self) -> u64 {
        match self {
            Self::U8(_) | Self::I8(_) | Self::Bool(_) => 1,
            Self::U16(_) | Self::I16(_) => 2,
            Self::U32(_) | Self::I32(_) | Self::F32(_) => 4,
            Self::U64(_) | Self::I64(_) | Self::F64(_) => 8,
            Self::String(s) => 8 + s.len() as u64,
            Self::Array(a) => a.encoded_len(),
        }
    }

    pub(crate) fn write_payload(&self, w: &mut impl Write) -> std::io::Result<()> {
        match self {
            Self::U8(v) => w.write_all(&[*v]),
            Self::I8(v) => w.write_all(&v.to_le_bytes()),
            Self::U16(v) => w.write_all(&v.to_le_bytes()),
            Self::I16(v) => w.write_all(&v.to_le_bytes()),
            Self::U32(v) => w.write_all(&v.to_le_bytes()),
            Self::I32(v) => w.write_all(&v.to_le_bytes()),
            Self::F32(v) => w.write_all(&v.to_le_bytes()),
            Self::Bool(v) => w.write_all(&[u8::from(*v)]),
            Self::String(s) => write_str(w, s),
            Self::U64(v) => w.write_all(&v.to_le_bytes()),
            Self::I64(v) => w.write_all(&v.to_le_bytes()),
            Self::F64(v) => w.write_all(&v.to_le_bytes()),
            Self::Array(a) => a.write_payload(w),
        }
    }
}

/// Many strings in one buffer: a GGUF string array (the tokenizer's tokens and merges) costs
/// its text plus one offset per string, no more than the file spends on it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GgufStrings {
    text: String,
    ends: Vec<usize>,
}

impl GgufStrings {
    /// No strings, with room for `n` of them.
    #[must_use]
    pub fn with_capacity(n: usize) -> Self {
        Self {
            text: String::new(),
            ends: Vec::with_capacity(n),
        }
    }

    /// Appends a string.
    pub fn push(&mut self, s: &str) {
        self.text.push_str(s);
        self.ends.push(self.text.len());
    }

    /// Number of strings.
    #[must_use]
    pub fn len(&self) -> usize {
        self.ends.len()
    }

    /// True when there are none.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    /// String `i`.
    #[must_use]
    pub fn get(&self, i: usize) -> Option<&str> {
        let end = *self.ends.get(i)?;
        let start = match i.checked_sub(1) {
            Some(prev) => *self.ends.get(prev)?,
            None => 0,
        };
        self.text.get(start..end)
    }

    /// The strings in order.
    pub fn iter(&self) -> impl Iterator<Item = &str> + '_ {
        (0..self.len()).filter_map(|i| self.get(i))
    }

    /// Frees the spare room of the buffers once no more strings are coming.
    pub(crate) fn shrink_to_fit(&mut self) {
        self.text.shrink_to_fit();
        self.ends.shrink_to_fit();
    }

    fn encoded_len(&self) -> u64 {
        8 * self.ends.len() as u64 + self.text.len() as u64
    }
}

impl<S: AsRef<str>> FromIterator<S> for GgufStrings {
    fn from_iter<I: IntoIterator<Item = S>>(iter: I) -> Self {
        let mut out = Self::default();
        for s in iter {
            out.push(s.as_ref());
        }
        out
    }
}

/// A GGUF metadata array, stored as a typed vector.
#[derive(Debug, Clone, PartialEq)]
pub enum GgufArray {
    /// u8 elements.
    U8(Vec<u8>),
    /// i8 elements.
    I8(Vec<i8>),
    /// u16 elements.
    U16(Vec<u16>),
    /// i16 elements.
    I16(Vec<i16>),
    /// u32 elements.
    U32(Vec<u32>),
    /// i32 elements.
    I32(Vec<i32>),
    /// f32 elements.
    F32(Vec<f32>),
    /// bool elements.
    Bool(Vec<bool>),
    /// string elements.
    String(GgufStrings),
    /// u64 elements.
    U64(Vec<u64>),
    /// i64 elements.
    I64(Vec<i64>),
    /// f64 elements.
    F64(Vec<f64>),
    /// Arrays of arrays (each inner array has its own element type).
    Array(Vec<GgufArray>),
    /// An array the reader read past without keeping it (see [`super::ReadOptions`]).
    Skipped {
        /// Element type.
        elem: GgufValueType,
        /// Number of elements.
        len: u64,
    },
}

impl GgufArray {
    /// The element type.
    #[must_use]
    pub fn elem_type(&self) -> GgufValueType {
        match self {
            Self::U8(_) => GgufValueType::U8,
            Self::I8(_) => GgufValueType::I8,
            Self::U16(_) => GgufValueType::U16,
            Self::I16(_) => GgufValueType::I16,
            Self::U32(_) => GgufValueType::U32,
            Self::I32(_) => GgufValueType::I32,
            Self::F32(_) => GgufValueType::F32,
            Self::Bool(_) => GgufValueType::Bool,
            Self::String(_) => GgufValueType::String,
            Self::U64(_) => GgufValueType::U64,
            Self::I64(_) => GgufValueType::I64,
            Self::F64(_) => GgufValueType::F64,
            Self::Array(_) => GgufValueType::Array,
            Self::Skipped { elem, .. } => *elem,
        }
    }

    /// Number of elements (also of a skipped array).
    #[must_use]
    pub fn len(&self) -> u64 {
        let n = match self {
            Self::U8(v) => v.len(),
            Self::I8(v) => v.len(),
            Self::U16(v) => v.len(),
            Self::I16(v) => v.len(),
            Self::U32(v) => v.len(),
            Self::I32(v) => v.len(),
            Self::F32(v) => v.len(),
            Self::Bool(v) => v.len(),
            Self::String(v) => v.len(),
            Self::U64(v) => v.len(),
            Self::I64(v) => v.len(),
            Self::F64(v) => v.len(),
            Self::Array(v) => v.len(),
            Self::Skipped { len, .. } => return *len,
        };
        n as u64
    }

    /// True when the array has no elements.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The largest non-negative element of a kept integer array (per-layer values such as
    /// some architectures' head counts), or `None` for other arrays and empty ones.
    #[must_use]
    pub fn max_unsigned(&self) -> Option<u64> {
        fn max_of<T: Copy>(v: &[T], f: impl Fn(T) -> Option<u64>) -> Option<u64> {
            v.iter().filter_map(|&x| f(x)).max()
        }
        match self {
            Self::U8(v) => max_of(v, |x| Some(u64::from(x))),
            Self::U16(v) => max_of(v, |x| Some(u64::from(x))),
            Self::U32(v) => max_of(v, |x| Some(u64::from(x))),
            Self::U64(v) => max_of(v, Some),
            Self::I8(v) => max_of(v, |x| u64::try_from(x).ok()),
            Self::I16(v) => max_of(v, |x| u64::try_from(x).ok()),
            Self::I32(v) => max_of(v, |x| u64::try_from(x).ok()),
            Self::I64(v) => max_of(v, |x| u64::try_from(x).ok()),
            _ => None,
        }
    }

    pub(crate) fn contains_skipped(&self) -> bool {
        match self {
            Self::Skipped { .. } => true,
            Self::Array(v) => v.iter().any(Self::contains_skipped),
            _ => false,
        }
    }

    pub(crate) fn encoded_len(&self) -> u64 {
        let n = self.len();
        let payload = match self {
            Self::U8(_) | Self::I8(_) | Self::Bool(_) => n,
            Self::U16(_) | Self::I16(_) => 2 * n,
            Self::U32(_) | Self::I32(_) | Self::F32(_) => 4 * n,
            Self::U64(_) | Self::I64(_) | Self::F64(_) => 8 * n,
            Self::String(v) => v.encoded_len(),
            Self::Array(v) => v.iter().map(Self::encoded_len).sum(),
            Self::Skipped { .. } => 0,
        };
        12 + payload
    }

    pub(crate) fn write_payload(&self, w: &mut impl Write) -> std::io::Result<()> {
        fn all<T: Copy, const N: usize>(
            w: &mut impl Write,
            v: &[T],
            f: impl Fn(T) -> [u8; N],
        ) -> std::io::Result<()> {
            v.iter().try_for_each(|&x| w.write_all(&f(x)))
        }
        w.write_all(&(self.elem_type() as u32).to_le_bytes())?;
        w.write_all(&self.len().to_le_bytes())?;
        match self {
            Self::U8(v) => w.write_all(v),
            Self::I8(v) => all(w, v, i8::to_le_bytes),
            Self::U16(v) => all(w, v, u16::to_le_bytes),
            Self::I16(v) => all(w, v, i16::to_le_bytes),
            Self::U32(v) => all(w, v, u32::to_le_bytes),
            Self::I32(v) => all(w, v, i32::to_le_bytes),
            Self::F32(v) => all(w, v, f32::to_le_bytes),
            Self::Bool(v) => all(w, v, |b| [u8::from(b)]),
            Self::String(v) => v.iter().try_for_each(|s| write_str(w, s)),
            Self::U64(v) => all(w, v, u64::to_le_bytes),
            Self::I64(v) => all(w, v, i64::to_le_bytes),
            Self::F64(v) => all(w, v, f64::to_le_bytes),
            Self::Array(v) => v.iter().try_for_each(|a| a.write_payload(w)),
            Self::Skipped { .. } => Err(std::io::Error::other(
                "a skipped GGUF array cannot be written",
            )),
        }
    }
}
