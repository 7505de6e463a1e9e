//! A small streaming GGUF v3 writer and a reader of the header, metadata and tensor infos.
//!
//! The writer takes all metadata and tensor infos up front (their sizes are known), writes them,
//! then accepts each tensor's bytes in order, in as many chunks as the caller likes, so a
//! converter never holds more than one buffer of the model.

use std::fs::File;
use std::io::{BufReader, Read, Seek, SeekFrom, Write};
use std::path::Path;

/// `GGUF` as a little-endian u32.
pub const GGUF_MAGIC: [u8; 4] = *b"GGUF";
/// The GGUF version this writer produces.
pub const GGUF_VERSION: u32 = 3;
/// Default data alignment (`general.alignment`).
pub const GGUF_DEFAULT_ALIGNMENT: u64 = 32;

/// Errors from the GGUF writer and reader.
#[derive(Debug, thiserror::Error)]
pub enum GgufError {
    /// Reading or writing failed.
    #[error("GGUF I/O: {0}")]
    Io(#[from] std::io::Error),
    /// The file does not start with the `GGUF` magic.
    #[error("not a GGUF file (magic {0:02x?})")]
    NotGguf([u8; 4]),
    /// The file ends before the structure being read.
    #[error("truncated GGUF file: ended while reading {0}")]
    Truncated(String),
    /// A GGUF version this reader does not understand.
    #[error("unsupported GGUF version {0}")]
    UnsupportedVersion(u32),
    /// An unknown metadata value type.
    #[error("invalid GGUF metadata value type {0}")]
    InvalidValueType(u32),
    /// A string that is not UTF-8.
    #[error("GGUF string is not UTF-8 while reading {0}")]
    NotUtf8(String),
    /// A metadata key added twice.
    #[error("duplicate GGUF metadata key {0}")]
    DuplicateKey(String),
    /// A tensor name added twice.
    #[error("duplicate GGUF tensor {0}")]
    DuplicateTensor(String),
    /// An array whose elements do not all have the declared type.
    #[error("GGUF array for {0} mixes element types")]
    MixedArray(String),
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
}

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
    /// Homogeneous array of `elem` values.
    Array {
        /// Element type.
        elem: GgufValueType,
        /// Elements, each of type `elem`.
        values: Vec<GgufValue>,
    },
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
            Self::Array { .. } => GgufValueType::Array,
        }
    }

    /// The value as a u32, if it is one.
    #[must_use]
    pub fn as_u32(&self) -> Option<u32> {
        match self {
            Self::U32(v) => Some(*v),
            _ => None,
        }
    }

    /// The value as an f32, if it is one.
    #[must_use]
    pub fn as_f32(&self) -> Option<f32> {
        match self {
            Self::F32(v) => Some(*v),
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

    /// The elements, if the value is an array.
    #[must_use]
    pub fn as_array(&self) -> Option<&[GgufValue]> {
        match self {
            Self::Array { values, .. } => Some(values),
            _ => None,
        }
    }

    fn encoded_len(&self) -> u64 {
        match self {
            Self::U8(_) | Self::I8(_) | Self::Bool(_) => 1,
            Self::U16(_) | Self::I16(_) => 2,
            Self::U32(_) | Self::I32(_) | Self::F32(_) => 4,
            Self::U64(_) | Self::I64(_) | Self::F64(_) => 8,
            Self::String(s) => 8 + s.len() as u64,
            Self::Array { values, .. } => 12 + values.iter().map(Self::encoded_len).sum::<u64>(),
        }
    }

    fn write_payload(&self, w: &mut impl Write) -> std::io::Result<()> {
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
            Self::Array { elem, values } => {
                w.write_all(&(*elem as u32).to_le_bytes())?;
                w.write_all(&(values.len() as u64).to_le_bytes())?;
                for v in values {
                    v.write_payload(w)?;
                }
                Ok(())
            }
        }
    }
}

fn write_str(w: &mut impl Write, s: &str) -> std::io::Result<()> {
    w.write_all(&(s.len() as u64).to_le_bytes())?;
    w.write_all(s.as_bytes())
}

fn pad_len(pos: u64, alignment: u64) -> u64 {
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
    /// Number of elements.
    #[must_use]
    pub fn n_elements(&self) -> u64 {
        self.dims.iter().product()
    }
}

/// Collects metadata and tensor infos, then [`start`](GgufWriter::start)s writing.
#[derive(Debug, Default)]
pub struct GgufWriter {
    kv: Vec<(String, GgufValue)>,
    tensors: Vec<GgufTensorInfo>,
    sizes: Vec<u64>,
    data_size: u64,
}

impl GgufWriter {
    /// An empty writer.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a metadata key/value.
    ///
    /// # Errors
    /// [`GgufError::DuplicateKey`], or [`GgufError::MixedArray`] for an inconsistent array.
    pub fn add(&mut self, key: &str, value: GgufValue) -> Result<(), GgufError> {
        if self.kv.iter().any(|(k, _)| k == key) {
            return Err(GgufError::DuplicateKey(key.to_owned()));
        }
        if let GgufValue::Array { elem, values } = &value {
            if values.iter().any(|v| v.value_type() != *elem) {
                return Err(GgufError::MixedArray(key.to_owned()));
            }
        }
        self.kv.push((key.to_owned(), value));
        Ok(())
    }

    /// Adds a u32 value.
    ///
    /// # Errors
    /// [`GgufError::DuplicateKey`].
    pub fn add_u32(&mut self, key: &str, v: u32) -> Result<(), GgufError> {
        self.add(key, GgufValue::U32(v))
    }

    /// Adds an i32 value.
    ///
    /// # Errors
    /// [`GgufError::DuplicateKey`].
    pub fn add_i32(&mut self, key: &str, v: i32) -> Result<(), GgufError> {
        self.add(key, GgufValue::I32(v))
    }

    /// Adds an f32 value.
    ///
    /// # Errors
    /// [`GgufError::DuplicateKey`].
    pub fn add_f32(&mut self, key: &str, v: f32) -> Result<(), GgufError> {
        self.add(key, GgufValue::F32(v))
    }

    /// Adds a bool value.
    ///
    /// # Errors
    /// [`GgufError::DuplicateKey`].
    pub fn add_bool(&mut self, key: &str, v: bool) -> Result<(), GgufError> {
        self.add(key, GgufValue::Bool(v))
    }

    /// Adds a string value.
    ///
    /// # Errors
    /// [`GgufError::DuplicateKey`].
    pub fn add_string(&mut self, key: &str, v: &str) -> Result<(), GgufError> {
        self.add(key, GgufValue::String(v.to_owned()))
    }

    /// Adds an array of strings.
    ///
    /// # Errors
    /// [`GgufError::DuplicateKey`].
    pub fn add_string_array(&mut self, key: &str, v: Vec<String>) -> Result<(), GgufError> {
        let values = v.into_iter().map(GgufValue::String).collect();
        self.add(
            key,
            GgufValue::Array {
                elem: GgufValueType::String,
                values,
            },
        )
    }

    /// Adds an array of i32.
    ///
    /// # Errors
    /// [`GgufError::DuplicateKey`].
    pub fn add_i32_array(&mut self, key: &str, v: Vec<i32>) -> Result<(), GgufError> {
        let values = v.into_iter().map(GgufValue::I32).collect();
        self.add(
            key,
            GgufValue::Array {
                elem: GgufValueType::I32,
                values,
            },
        )
    }

    /// Declares a tensor; its data must later be written in declaration order.
    ///
    /// `dims` are in GGUF order (`ne[0]` = PyTorch's last dimension).
    ///
    /// # Errors
    /// [`GgufError::DuplicateTensor`] or [`GgufError::UnsizedType`].
    pub fn add_tensor_info(
        &mut self,
        name: &str,
        dims: &[u64],
        ty: GgmlType,
    ) -> Result<(), GgufError> {
        if self.tensors.iter().any(|t| t.name == name) {
            return Err(GgufError::DuplicateTensor(name.to_owned()));
        }
        let Some(elem) = ty.element_size() else {
            return Err(GgufError::UnsizedType {
                name: name.to_owned(),
                ty,
            });
        };
        let size = dims.iter().product::<u64>() * elem;
        let offset = self.data_size;
        self.data_size = offset + size + pad_len(size, GGUF_DEFAULT_ALIGNMENT);
        self.tensors.push(GgufTensorInfo {
            name: name.to_owned(),
            dims: dims.to_vec(),
            ty,
            offset,
        });
        self.sizes.push(size);
        Ok(())
    }

    /// Total file size once everything is written.
    #[must_use]
    pub fn file_size(&self) -> u64 {
        let header = self.header_len();
        header + pad_len(header, GGUF_DEFAULT_ALIGNMENT) + self.data_size
    }

    /// Byte sizes of the declared tensors, in order (without padding).
    #[must_use]
    pub fn tensor_sizes(&self) -> &[u64] {
        &self.sizes
    }

    fn header_len(&self) -> u64 {
        let kv: u64 = self
            .kv
            .iter()
            .map(|(k, v)| 8 + k.len() as u64 + 4 + v.encoded_len())
            .sum();
        let infos: u64 = self
            .tensors
            .iter()
            .map(|t| 8 + t.name.len() as u64 + 4 + 8 * t.dims.len() as u64 + 4 + 8)
            .sum();
        4 + 4 + 8 + 8 + kv + infos
    }

    /// Writes the header, metadata, tensor infos and alignment padding, and returns the sink
    /// that takes the tensor data.
    ///
    /// # Errors
    /// [`GgufError::Io`].
    pub fn start<W: Write>(self, mut w: W) -> Result<GgufTensorSink<W>, GgufError> {
        w.write_all(&GGUF_MAGIC)?;
        w.write_all(&GGUF_VERSION.to_le_bytes())?;
        w.write_all(&(self.tensors.len() as u64).to_le_bytes())?;
        w.write_all(&(self.kv.len() as u64).to_le_bytes())?;
        for (k, v) in &self.kv {
            write_str(&mut w, k)?;
            w.write_all(&(v.value_type() as u32).to_le_bytes())?;
            v.write_payload(&mut w)?;
        }
        for t in &self.tensors {
            write_str(&mut w, &t.name)?;
            w.write_all(&(t.dims.len() as u32).to_le_bytes())?;
            for d in &t.dims {
                w.write_all(&d.to_le_bytes())?;
            }
            w.write_all(&t.ty.0.to_le_bytes())?;
            w.write_all(&t.offset.to_le_bytes())?;
        }
        let header = self.header_len();
        write_zeros(&mut w, pad_len(header, GGUF_DEFAULT_ALIGNMENT))?;
        Ok(GgufTensorSink {
            w,
            names: self.tensors.into_iter().map(|t| t.name).collect(),
            sizes: self.sizes,
            current: 0,
            written: 0,
        })
    }
}

fn write_zeros(w: &mut impl Write, n: u64) -> std::io::Result<()> {
    const ZEROS: [u8; 64] = [0; 64];
    let mut left = n;
    while left > 0 {
        let k = left.min(64);
        w.write_all(&ZEROS[..k as usize])?;
        left -= k;
    }
    Ok(())
}

/// Takes the tensor data of a started GGUF file, tensor by tensor, in declaration order.
#[derive(Debug)]
pub struct GgufTensorSink<W: Write> {
    w: W,
    names: Vec<String>,
    sizes: Vec<u64>,
    current: usize,
    written: u64,
}

impl<W: Write> GgufTensorSink<W> {
    /// Name of the tensor the next bytes belong to, or `None` when all are written.
    #[must_use]
    pub fn current_tensor(&self) -> Option<&str> {
        self.names.get(self.current).map(String::as_str)
    }

    /// Appends bytes to the current tensor; padding follows automatically when it is complete.
    ///
    /// # Errors
    /// [`GgufError::DataSize`] if `bytes` runs past the current tensor, [`GgufError::Io`].
    pub fn write_data(&mut self, bytes: &[u8]) -> Result<(), GgufError> {
        let Some(&size) = self.sizes.get(self.current) else {
            return Err(GgufError::DataSize(
                "more data than the declared tensors hold".to_owned(),
            ));
        };
        if self.written + bytes.len() as u64 > size {
            return Err(GgufError::DataSize(format!(
                "tensor {} holds {size} bytes, got {}",
                self.names[self.current],
                self.written + bytes.len() as u64
            )));
        }
        self.w.write_all(bytes)?;
        self.written += bytes.len() as u64;
        if self.written == size {
            write_zeros(&mut self.w, pad_len(size, GGUF_DEFAULT_ALIGNMENT))?;
            self.current += 1;
            self.written = 0;
        }
        Ok(())
    }

    /// Checks that every tensor was written, flushes and returns the inner writer.
    ///
    /// # Errors
    /// [`GgufError::DataSize`] if tensors are missing, [`GgufError::Io`].
    pub fn finish(mut self) -> Result<W, GgufError> {
        // Zero-sized tensors have nothing to write; step over them.
        while self.sizes.get(self.current) == Some(&0) {
            self.current += 1;
        }
        if let Some(name) = self.names.get(self.current) {
            return Err(GgufError::DataSize(format!(
                "tensor {name} is incomplete ({} bytes written)",
                self.written
            )));
        }
        self.w.flush()?;
        Ok(self.w)
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
}

impl GgufFile {
    /// Reads the header, metadata and tensor infos of the GGUF file at `path`.
    ///
    /// # Errors
    /// [`GgufError::NotGguf`] for another file type, [`GgufError::Truncated`] for a short file,
    /// other [`GgufError`]s for malformed content.
    pub fn read(path: &Path) -> Result<Self, GgufError> {
        let file = File::open(path)?;
        let len = file.metadata()?.len();
        let mut r = Reader {
            inner: BufReader::new(file),
            pos: 0,
            len,
        };
        let mut magic = [0u8; 4];
        r.exact(&mut magic, "magic")?;
        if magic != GGUF_MAGIC {
            return Err(GgufError::NotGguf(magic));
        }
        let version = r.u32("version")?;
        if !(2..=3).contains(&version) {
            return Err(GgufError::UnsupportedVersion(version));
        }
        let n_tensors = r.u64("tensor count")?;
        let n_kv = r.u64("metadata count")?;
        let mut metadata = Vec::new();
        for i in 0..n_kv {
            let key = r.string(&format!("metadata key {i}"))?;
            let ty = GgufValueType::from_u32(r.u32(&key)?)?;
            let value = r.value(ty, &key)?;
            metadata.push((key, value));
        }
        let mut tensors = Vec::new();
        for i in 0..n_tensors {
            let name = r.string(&format!("tensor info {i}"))?;
            let n_dims = r.u32(&name)?;
            if n_dims > 8 {
                return Err(GgufError::Truncated(format!(
                    "tensor {name}: implausible {n_dims} dims"
                )));
            }
            let dims = (0..n_dims)
                .map(|_| r.u64(&name))
                .collect::<Result<Vec<_>, _>>()?;
            let ty = GgmlType(r.u32(&name)?);
            let offset = r.u64(&name)?;
            tensors.push(GgufTensorInfo {
                name,
                dims,
                ty,
                offset,
            });
        }
        let alignment = metadata
            .iter()
            .find(|(k, _)| k == "general.alignment")
            .and_then(|(_, v)| v.as_u32())
            .map_or(GGUF_DEFAULT_ALIGNMENT, u64::from);
        let data_offset = r.pos + pad_len(r.pos, alignment.max(1));
        if data_offset > len {
            return Err(GgufError::Truncated("data section".to_owned()));
        }
        Ok(Self {
            version,
            metadata,
            tensors,
            data_offset,
            alignment,
        })
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
    let size = usize::try_from(info.n_elements() * elem)
        .map_err(|_| GgufError::Truncated(info.name.clone()))?;
    let mut f = File::open(path)?;
    f.seek(SeekFrom::Start(file.data_offset + info.offset))?;
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

struct Reader<R> {
    inner: R,
    pos: u64,
    len: u64,
}

impl<R: Read> Reader<R> {
    fn exact(&mut self, buf: &mut [u8], what: &str) -> Result<(), GgufError> {
        if self.pos + buf.len() as u64 > self.len {
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

    fn string(&mut self, what: &str) -> Result<String, GgufError> {
        let n = self.u64(what)?;
        if n > self.len.saturating_sub(self.pos) {
            return Err(GgufError::Truncated(what.to_owned()));
        }
        let mut buf =
            vec![0u8; usize::try_from(n).map_err(|_| GgufError::Truncated(what.to_owned()))?];
        self.exact(&mut buf, what)?;
        String::from_utf8(buf).map_err(|_| GgufError::NotUtf8(what.to_owned()))
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
            GgufValueType::Array => {
                let elem = GgufValueType::from_u32(self.u32(what)?)?;
                let n = self.u64(what)?;
                // Every element takes at least one byte: a count beyond the file is garbage.
                if n > self.len.saturating_sub(self.pos) {
                    return Err(GgufError::Truncated(what.to_owned()));
                }
                let mut values = Vec::with_capacity(usize::try_from(n).unwrap_or(0).min(1 << 20));
                for _ in 0..n {
                    values.push(self.value(elem, what)?);
                }
                GgufValue::Array { elem, values }
            }
        })
    }
}
