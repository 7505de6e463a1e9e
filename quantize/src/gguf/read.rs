//! The bounded GGUF reader and [`check_file`], the one check before llama.cpp sees a file.
//!
//! Longer than 600 lines: every GGUF value type read with its bound (counts against the file's
//! size, nesting depth, string lengths), which is what makes the reader safe.

use std::collections::HashSet;
use std::fs::File;
use std::io::{BufReader, Read, Seek, SeekFrom};
use std::path::Path;

use super::{
    pad_len, GgmlType, GgufArray, GgufError, GgufStrings, GgufTensorInfo, GgufValue, GgufValueType,
    GGUF_DEFAULT_ALIGNMENT, GGUF_MAGIC, MAX_ARRAY_DEPTH, MAX_METADATA_KEYS, MAX_TENSORS,
    MAX_TENSOR_DIMS,
};

/// How much of a GGUF header [`GgufFile::read_with`] keeps, and how much memory it may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReadOptions {
    /// Arrays with more elements than this are read past, not kept: they stand as
    /// [`GgufArray::Skipped`] with their element type and length.
    pub max_kept_array_len: u64,
    /// Most bytes of metadata and tensor infos kept in memory; past it the file is refused with
    /// [`GgufError::TooLarge`].
    pub max_kept_bytes: u64,
}

impl ReadOptions {
    /// Everything is kept: for files this program wrote, and for tests.
    pub const ALL: Self = Self {
        max_kept_array_len: u64::MAX,
        max_kept_bytes: u64::MAX,
    };
    /// Scalars and short (per-layer) arrays are kept, the tokenizer's long lists only counted,
    /// and at most 64 MiB are held: what a header check and the memory planner need, bounded
    /// whatever the file holds.
    pub const HEADER: Self = Self {
        max_kept_array_len: 1024,
        max_kept_bytes: 64 << 20,
    };
}

impl Default for ReadOptions {
    fn default() -> Self {
        Self::ALL
    }
}

/// The parsed header, metadata and tensor infos of a GGUF file.
#[derive(Debug, Clone)]
pub struct GgufFile {
    /// GGUF version (2 or 3).
    pub version: u32,
    /// Metadata in file order.
    pub metadata: Vec<(String, GgufValue)>,
    /// Tensor infos in file order.
    pub tensors: Vec<GgufTensorInfo>,
    /// Absolute offset of the data section.
    pub data_offset: u64,
    /// Data alignment (`general.alignment`, default 32).
    pub alignment: u64,
    /// Size of the file (or buffer) read, in bytes.
    pub file_size: u64,
}

impl GgufFile {
    /// Reads the header, metadata and tensor infos of the GGUF file at `path`, keeping every
    /// array ([`ReadOptions::ALL`]). For a file nobody vetted use [`GgufFile::open_checked`].
    ///
    /// # Errors
    /// [`GgufError::NotGguf`] for another file type, [`GgufError::Truncated`] for a short file,
    /// other [`GgufError`]s for malformed content.
    pub fn read(path: &Path) -> Result<Self, GgufError> {
        Self::read_with(path, ReadOptions::ALL)
    }

    /// Reads the header, metadata and tensor infos of the GGUF file at `path`, keeping what
    /// `options` allow.
    ///
    /// # Errors
    /// As [`GgufFile::read`], and [`GgufError::TooLarge`] past `options.max_kept_bytes`.
    pub fn read_with(path: &Path, options: ReadOptions) -> Result<Self, GgufError> {
        let file = match File::open(path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(GgufError::NotFound(path.to_path_buf()))
            }
            Err(e) => return Err(GgufError::Io(e)),
        };
        let meta = file.metadata()?;
        if meta.is_dir() {
            return Err(GgufError::NotAFile(path.to_path_buf()));
        }
        Self::parse(BufReader::new(file), meta.len(), options)
    }

    /// Parses a GGUF held in memory (the whole file, or its start with `file_size` the size of
    /// the whole).
    ///
    /// # Errors
    /// As [`GgufFile::read_with`].
    pub fn from_bytes(
        bytes: &[u8],
        file_size: u64,
        options: ReadOptions,
    ) -> Result<Self, GgufError> {
        Self::parse(bytes, file_size, options)
    }

    /// Reads a GGUF nobody vetted as far as a load check and the memory planner need
    /// ([`ReadOptions::HEADER`]: bounded memory) and checks its tensor infos as llama.cpp will
    /// ([`GgufFile::check_tensors`]).
    ///
    /// # Errors
    /// Any [`GgufError`], in words a person can act on.
    pub fn open_checked(path: &Path) -> Result<Self, GgufError> {
        let file = Self::read_with(path, ReadOptions::HEADER)?;
        file.check_tensors()?;
        Ok(file)
    }

    fn parse<R: Read>(inner: R, len: u64, options: ReadOptions) -> Result<Self, GgufError> {
        if len == 0 {
            return Err(GgufError::Empty);
        }
        let mut r = Reader {
            inner,
            pos: 0,
            len,
            options,
            kept: 0,
        };
        let mut magic = [0u8; 4];
        r.exact(&mut magic, "the GGUF signature")?;
        if magic != GGUF_MAGIC {
            return Err(GgufError::NotGguf(magic));
        }
        let version = r.u32("the version")?;
        if !(2..=3).contains(&version) {
            return Err(GgufError::UnsupportedVersion(version));
        }
        let n_tensors = r.u64("the tensor count")?;
        if n_tensors > MAX_TENSORS {
            return Err(GgufError::TooMany {
                what: "tensors",
                count: n_tensors,
                limit: MAX_TENSORS,
            });
        }
        let n_kv = r.u64("the metadata count")?;
        if n_kv > MAX_METADATA_KEYS {
            return Err(GgufError::TooMany {
                what: "metadata keys",
                count: n_kv,
                limit: MAX_METADATA_KEYS,
            });
        }
        // A key/value takes at least 13 bytes (key length, type, a one-byte value), a tensor
        // info at least 24 (name length, dimension count, type, offset).
        let n_kv = r.count(n_kv, 13, "the metadata count")?;
        let n_tensors = r.count(n_tensors, 24, "the tensor count")?;
        let mut metadata = Vec::with_capacity(n_kv);
        let mut keys = HashSet::with_capacity(n_kv);
        for i in 0..n_kv {
            let key = r.string(&format!("metadata key {i}"))?;
            if !keys.insert(key.clone()) {
                return Err(GgufError::DuplicateKey(key));
            }
            let ty = GgufValueType::from_u32(r.u32(&key)?)?;
            r.charge(64, &key)?;
            let value = r.value(ty, &key)?;
            metadata.push((key, value));
        }
        let alignment = match metadata.iter().find(|(k, _)| k == "general.alignment") {
            None => GGUF_DEFAULT_ALIGNMENT,
            Some((_, GgufValue::U32(a))) if a.is_power_of_two() => u64::from(*a),
            Some((key, value)) => {
                let found = match value {
                    GgufValue::U32(a) => a.to_string(),
                    other => format!("a value of type {:?}", other.value_type()),
                };
                return Err(GgufError::BadValue {
                    key: key.clone(),
                    reason: format!("the alignment must be a u32 power of two, not {found}"),
                });
            }
        };
        let mut tensors = Vec::with_capacity(n_tensors);
        let mut names = HashSet::with_capacity(n_tensors);
        for i in 0..n_tensors {
            let name = r.string(&format!("tensor info {i}"))?;
            if !names.insert(name.clone()) {
                return Err(GgufError::DuplicateTensor(name));
            }
            r.charge(64, &name)?;
            tensors.push(r.tensor_info(name)?);
        }
        let padded = r.pos.checked_add(pad_len(r.pos, alignment));
        let data_offset = match padded {
            Some(p) if p <= len => p,
            // A file without tensors needs no data section.
            _ if tensors.is_empty() => len,
            _ => {
                return Err(GgufError::Truncated(
                    "the padding before the tensor data".to_owned(),
                ))
            }
        };
        Ok(Self {
            version,
            metadata,
            tensors,
            data_offset,
            alignment,
            file_size: len,
        })
    }

    /// Checks the tensor infos as llama.cpp's reader will: a type it knows, rows of whole
    /// blocks, and data that follows tensor after tensor (aligned) and lies inside the file.
    ///
    /// # Errors
    /// [`GgufError::BadTensor`] naming the tensor and what is wrong, [`GgufError::Overflow`].
    pub fn check_tensors(&self) -> Result<(), GgufError> {
        let data_len = self.file_size.saturating_sub(self.data_offset);
        let mut expected = 0u64;
        for t in &self.tensors {
            let bad = |reason: String| GgufError::BadTensor {
                name: t.name.clone(),
                reason,
            };
            let overflow = || GgufError::Overflow(format!("tensor {}", t.name));
            let (block, block_bytes) = t.ty.block_layout().ok_or_else(|| {
                bad(format!(
                    "its type id {} is not one this program's llama.cpp knows (a newer or damaged file)",
                    t.ty.0
                ))
            })?;
            let row = t.dims.first().copied().unwrap_or(1);
            if row % block != 0 {
                return Err(bad(format!(
                    "rows of {row} elements are not whole {} blocks of {block}",
                    t.ty
                )));
            }
            let n = t.checked_n_elements().ok_or_else(overflow)?;
            let bytes = (n / block).checked_mul(block_bytes).ok_or_else(overflow)?;
            if t.offset != expected {
                return Err(bad(format!(
                    "its data starts at byte {} of the data section, expected {expected} (right after the tensor before it)",
                    t.offset
                )));
            }
            let end = t.offset.checked_add(bytes).ok_or_else(overflow)?;
            if end > data_len {
                return Err(bad(format!(
                    "its data ends at byte {end} of the data section, but the file holds only {data_len} bytes of data (a truncated download?)"
                )));
            }
            expected = end
                .checked_add(pad_len(bytes, self.alignment))
                .ok_or_else(overflow)?;
        }
        Ok(())
    }

    /// The value of metadata `key`.
    #[must_use]
    pub fn get(&self, key: &str) -> Option<&GgufValue> {
        self.metadata.iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }

    /// The info of tensor `name`.
    #[must_use]
    pub fn tensor(&self, name: &str) -> Option<&GgufTensorInfo> {
        self.tensors.iter().find(|t| t.name == name)
    }

    /// The summary [`check_file`] returns.
    #[must_use]
    pub fn header_info(&self) -> GgufHeaderInfo {
        let text = |key: &str| self.get(key).and_then(GgufValue::as_str).map(str::to_owned);
        GgufHeaderInfo {
            version: self.version,
            file_size: self.file_size,
            tensor_count: self.tensors.len(),
            metadata_count: self.metadata.len(),
            architecture: text("general.architecture"),
            name: text("general.name"),
        }
    }
}

/// What [`check_file`] found in a GGUF that llama.cpp's reader will accept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GgufHeaderInfo {
    /// GGUF version (2 or 3).
    pub version: u32,
    /// Size of the file in bytes.
    pub file_size: u64,
    /// Number of tensors.
    pub tensor_count: usize,
    /// Number of metadata keys.
    pub metadata_count: usize,
    /// `general.architecture`, if set.
    pub architecture: Option<String>,
    /// `general.name`, if set.
    pub name: Option<String>,
}

/// The one check of a GGUF file before it is handed to llama.cpp: it exists and is a file, is
/// not empty or truncated, starts with the GGUF signature, has a supported version, a header
/// that reads within bounded memory, and tensor infos whose data lies inside the file.
///
/// # Errors
/// [`GgufError`] saying what is wrong in words a person can act on (the caller adds the path):
/// [`GgufError::NotFound`], [`GgufError::Empty`], [`GgufError::Truncated`],
/// [`GgufError::NotGguf`] (naming what the file seems to be instead),
/// [`GgufError::UnsupportedVersion`], and the damaged-header errors.
pub fn check_file(path: &Path) -> Result<GgufHeaderInfo, GgufError> {
    GgufFile::open_checked(path).map(|f| f.header_info())
}

/// Reads a tensor's raw bytes (for unquantized tensors whose size is known).
///
/// # Errors
/// [`GgufError::UnsizedType`] for quantized tensors, [`GgufError::Io`], [`GgufError::Truncated`].
pub fn read_tensor_bytes(
    path: &Path,
    file: &GgufFile,
    info: &GgufTensorInfo,
) -> Result<Vec<u8>, GgufError> {
    let Some(elem) = info.ty.element_size() else {
        return Err(GgufError::UnsizedType {
            name: info.name.clone(),
            ty: info.ty,
        });
    };
    let overflow = || GgufError::Overflow(format!("tensor {}", info.name));
    let size = info
        .checked_n_elements()
        .and_then(|n| n.checked_mul(elem))
        .ok_or_else(overflow)?;
    let start = file
        .data_offset
        .checked_add(info.offset)
        .ok_or_else(overflow)?;
    let mut f = File::open(path)?;
    let len = f.metadata()?.len();
    if start.checked_add(size).is_none_or(|end| end > len) {
        return Err(GgufError::Truncated(format!(
            "data of tensor {}",
            info.name
        )));
    }
    let size = usize::try_from(size).map_err(|_| overflow())?;
    f.seek(SeekFrom::Start(start))?;
    let mut buf = vec![0u8; size];
    f.read_exact(&mut buf).map_err(|e| {
        if e.kind() == std::io::ErrorKind::UnexpectedEof {
            GgufError::Truncated(format!("data of tensor {}", info.name))
        } else {
            GgufError::Io(e)
        }
    })?;
    Ok(buf)
}

/// A bounded reader: every length is checked against the bytes left before anything is
/// allocated, and what is kept is charged against [`ReadOptions::max_kept_bytes`].
struct Reader<R> {
    inner: R,
    pos: u64,
    len: u64,
    options: ReadOptions,
    kept: u64,
}

impl<R: Read> Reader<R> {
    fn left(&self) -> u64 {
        self.len.saturating_sub(self.pos)
    }

    fn charge(&mut self, bytes: u64, what: &str) -> Result<(), GgufError> {
        self.kept = self.kept.saturating_add(bytes);
        if self.kept > self.options.max_kept_bytes {
            return Err(GgufError::TooLarge {
                what: what.to_owned(),
                limit: self.options.max_kept_bytes,
            });
        }
        Ok(())
    }

    /// `n` entries of at least `min_bytes` each must fit in what is left of the file.
    fn count(&self, n: u64, min_bytes: u64, what: &str) -> Result<usize, GgufError> {
        let left = self.left();
        match n.checked_mul(min_bytes) {
            Some(bytes) if bytes <= left => {
                usize::try_from(n).map_err(|_| GgufError::Overflow(what.to_owned()))
            }
            _ => Err(GgufError::Truncated(format!(
                "{what}: {n} entries need more than the {left} bytes left"
            ))),
        }
    }

    fn exact(&mut self, buf: &mut [u8], what: &str) -> Result<(), GgufError> {
        if buf.len() as u64 > self.left() {
            return Err(GgufError::Truncated(what.to_owned()));
        }
        self.inner.read_exact(buf).map_err(|e| {
            if e.kind() == std::io::ErrorKind::UnexpectedEof {
                GgufError::Truncated(what.to_owned())
            } else {
                GgufError::Io(e)
            }
        })?;
        self.pos += buf.len() as u64;
        Ok(())
    }

    fn skip(&mut self, n: u64, what: &str) -> Result<(), GgufError> {
        if n > self.left() {
            return Err(GgufError::Truncated(what.to_owned()));
        }
        let copied = std::io::copy(&mut (&mut self.inner).take(n), &mut std::io::sink())?;
        if copied != n {
            return Err(GgufError::Truncated(what.to_owned()));
        }
        self.pos += n;
        Ok(())
    }

    fn arr<const N: usize>(&mut self, what: &str) -> Result<[u8; N], GgufError> {
        let mut b = [0u8; N];
        self.exact(&mut b, what)?;
        Ok(b)
    }

    fn u32(&mut self, what: &str) -> Result<u32, GgufError> {
        Ok(u32::from_le_bytes(self.arr(what)?))
    }

    fn u64(&mut self, what: &str) -> Result<u64, GgufError> {
        Ok(u64::from_le_bytes(self.arr(what)?))
    }

    /// The bytes of a length-prefixed string, checked to be UTF-8.
    fn string_bytes(&mut self, what: &str) -> Result<Vec<u8>, GgufError> {
        let n = self.u64(what)?;
        if n > self.left() {
            return Err(GgufError::Truncated(what.to_owned()));
        }
        self.charge(n, what)?;
        let mut buf =
            vec![0u8; usize::try_from(n).map_err(|_| GgufError::Overflow(what.to_owned()))?];
        self.exact(&mut buf, what)?;
        Ok(buf)
    }

    fn string(&mut self, what: &str) -> Result<String, GgufError> {
        let bytes = self.string_bytes(what)?;
        String::from_utf8(bytes).map_err(|_| GgufError::NotUtf8(what.to_owned()))
    }

    fn value(&mut self, ty: GgufValueType, what: &str) -> Result<GgufValue, GgufError> {
        Ok(match ty {
            GgufValueType::U8 => GgufValue::U8(u8::from_le_bytes(self.arr(what)?)),
            GgufValueType::I8 => GgufValue::I8(i8::from_le_bytes(self.arr(what)?)),
            GgufValueType::U16 => GgufValue::U16(u16::from_le_bytes(self.arr(what)?)),
            GgufValueType::I16 => GgufValue::I16(i16::from_le_bytes(self.arr(what)?)),
            GgufValueType::U32 => GgufValue::U32(self.u32(what)?),
            GgufValueType::I32 => GgufValue::I32(i32::from_le_bytes(self.arr(what)?)),
            GgufValueType::F32 => GgufValue::F32(f32::from_le_bytes(self.arr(what)?)),
            GgufValueType::Bool => GgufValue::Bool(self.arr::<1>(what)?[0] != 0),
            GgufValueType::String => GgufValue::String(self.string(what)?),
            GgufValueType::U64 => GgufValue::U64(self.u64(what)?),
            GgufValueType::I64 => GgufValue::I64(i64::from_le_bytes(self.arr(what)?)),
            GgufValueType::F64 => GgufValue::F64(f64::from_le_bytes(self.arr(what)?)),
            GgufValueType::Array => GgufValue::Array(self.array(what, 1)?),
        })
    }

    /// An array at nesting level `depth` (1 for a key's own array). Recursion is bounded by
    /// [`MAX_ARRAY_DEPTH`], so a file of nested arrays cannot exhaust the stack.
    fn array(&mut self, what: &str, depth: u32) -> Result<GgufArray, GgufError> {
        if depth > MAX_ARRAY_DEPTH {
            return Err(GgufError::TooDeep(what.to_owned()));
        }
        let elem = GgufValueType::from_u32(self.u32(what)?)?;
        let n = self.u64(what)?;
        let count = self.count(n, elem.min_encoded_len(), what)?;
        if n > self.options.max_kept_array_len {
            self.skip_elements(elem, n, what, depth)?;
            return Ok(GgufArray::Skipped { elem, len: n });
        }
        Ok(match elem {
            GgufValueType::U8 => GgufArray::U8(self.fixed(count, what, |b: [u8; 1]| b[0])?),
            GgufValueType::I8 => GgufArray::I8(self.fixed(count, what, i8::from_le_bytes)?),
            GgufValueType::U16 => GgufArray::U16(self.fixed(count, what, u16::from_le_bytes)?),
            GgufValueType::I16 => GgufArray::I16(self.fixed(count, what, i16::from_le_bytes)?),
            GgufValueType::U32 => GgufArray::U32(self.fixed(count, what, u32::from_le_bytes)?),
            GgufValueType::I32 => GgufArray::I32(self.fixed(count, what, i32::from_le_bytes)?),
            GgufValueType::F32 => GgufArray::F32(self.fixed(count, what, f32::from_le_bytes)?),
            GgufValueType::Bool => {
                GgufArray::Bool(self.fixed(count, what, |b: [u8; 1]| b[0] != 0)?)
            }
            GgufValueType::U64 => GgufArray::U64(self.fixed(count, what, u64::from_le_bytes)?),
            GgufValueType::I64 => GgufArray::I64(self.fixed(count, what, i64::from_le_bytes)?),
            GgufValueType::F64 => GgufArray::F64(self.fixed(count, what, f64::from_le_bytes)?),
            GgufValueType::String => {
                self.charge(8u64.saturating_mul(n), what)?;
                let mut strings = GgufStrings::with_capacity(count);
                for _ in 0..count {
                    let bytes = self.string_bytes(what)?;
                    let s = std::str::from_utf8(&bytes)
                        .map_err(|_| GgufError::NotUtf8(what.to_owned()))?;
                    strings.push(s);
                }
                strings.shrink_to_fit();
                GgufArray::String(strings)
            }
            GgufValueType::Array => {
                let per = size_of::<GgufArray>() as u64;
                self.charge(per.saturating_mul(n), what)?;
                let mut arrays = Vec::with_capacity(count);
                for _ in 0..count {
                    arrays.push(self.array(what, depth + 1)?);
                }
                GgufArray::Array(arrays)
            }
        })
    }

    /// Reads past `n` elements of type `elem` without keeping them.
    fn skip_elements(
        &mut self,
        elem: GgufValueType,
        n: u64,
        what: &str,
        depth: u32,
    ) -> Result<(), GgufError> {
        match elem {
            GgufValueType::String => {
                for _ in 0..n {
                    let len = self.u64(what)?;
                    self.skip(len, what)?;
                }
            }
            GgufValueType::Array => {
                if depth >= MAX_ARRAY_DEPTH {
                    return Err(GgufError::TooDeep(what.to_owned()));
                }
                for _ in 0..n {
                    let inner = GgufValueType::from_u32(self.u32(what)?)?;
                    let m = self.u64(what)?;
                    self.count(m, inner.min_encoded_len(), what)?;
                    self.skip_elements(inner, m, what, depth + 1)?;
                }
            }
            fixed => {
                let bytes = n
                    .checked_mul(fixed.min_encoded_len())
                    .ok_or_else(|| GgufError::Overflow(what.to_owned()))?;
                self.skip(bytes, what)?;
            }
        }
        Ok(())
    }

    /// `count` fixed-size elements, read a few KiB at a time.
    fn fixed<T, const N: usize>(
        &mut self,
        count: usize,
        what: &str,
        conv: fn([u8; N]) -> T,
    ) -> Result<Vec<T>, GgufError> {
        self.charge((count as u64).saturating_mul(size_of::<T>() as u64), what)?;
        let mut out = Vec::with_capacity(count);
        let mut chunk = [0u8; 4096];
        let per_chunk = chunk.len() / N;
        let mut left = count;
        while left > 0 {
            let k = left.min(per_chunk);
            let bytes = &mut chunk[..k * N];
            self.exact(bytes, what)?;
            for c in bytes.chunks_exact(N) {
                let mut a = [0u8; N];
                a.copy_from_slice(c);
                out.push(conv(a));
            }
            left -= k;
        }
        Ok(out)
    }

    fn tensor_info(&mut self, name: String) -> Result<GgufTensorInfo, GgufError> {
        let bad = |reason: String| GgufError::BadTensor {
            name: name.clone(),
            reason,
        };
        let n_dims = self.u32(&name)?;
        if n_dims > MAX_TENSOR_DIMS {
            return Err(bad(format!(
                "it has {n_dims} dimensions; GGUF tensors have at most {MAX_TENSOR_DIMS}"
            )));
        }
        let mut dims = Vec::with_capacity(n_dims as usize);
        for _ in 0..n_dims {
            dims.push(self.u64(&name)?);
        }
        // ggml counts elements in an i64: the shape must fit there.
        let max = i64::MAX.unsigned_abs();
        if dims
            .iter()
            .try_fold(1u64, |a, &d| a.checked_mul(d).filter(|&p| p <= max))
            .is_none()
        {
            return Err(bad(format!(
                "its shape {dims:?} has more elements than ggml can count"
            )));
        }
        let ty = GgmlType(self.u32(&name)?);
        let offset = self.u64(&name)?;
        Ok(GgufTensorInfo {
            name,
            dims,
            ty,
            offset,
        })
    }
}
