//! The streaming GGUF writer: metadata and tensor infos up front, then tensor data in order.

use std::io::Write;

use super::{
    pad_len, write_str, GgmlType, GgufArray, GgufError, GgufTensorInfo, GgufValue,
    GGUF_DEFAULT_ALIGNMENT, GGUF_MAGIC, GGUF_VERSION,
};

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
    /// [`GgufError::DuplicateKey`], or [`GgufError::SkippedArray`] for an array read without
    /// its elements.
    pub fn add(&mut self, key: &str, value: GgufValue) -> Result<(), GgufError> {
        if self.kv.iter().any(|(k, _)| k == key) {
            return Err(GgufError::DuplicateKey(key.to_owned()));
        }
        if let GgufValue::Array(a) = &value {
            if a.contains_skipped() {
                return Err(GgufError::SkippedArray(key.to_owned()));
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
    pub fn add_string_array(&mut self, key: &str, v: &[String]) -> Result<(), GgufError> {
        self.add(key, GgufValue::Array(GgufArray::String(v.iter().collect())))
    }

    /// Adds an array of i32.
    ///
    /// # Errors
    /// [`GgufError::DuplicateKey`].
    pub fn add_i32_array(&mut self, key: &str, v: Vec<i32>) -> Result<(), GgufError> {
        self.add(key, GgufValue::Array(GgufArray::I32(v)))
    }

    /// Declares a tensor; its data must later be written in declaration order.
    ///
    /// `dims` are in GGUF order (`ne[0]` = PyTorch's last dimension).
    ///
    /// # Errors
    /// [`GgufError::DuplicateTensor`], [`GgufError::UnsizedType`], or [`GgufError::Overflow`]
    /// for a shape whose byte size does not fit in 64 bits.
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
        let overflow = || GgufError::Overflow(format!("tensor {name}"));
        let size = dims
            .iter()
            .try_fold(elem, |a, &d| a.checked_mul(d))
            .ok_or_else(overflow)?;
        let offset = self.data_size;
        self.data_size = offset
            .checked_add(size)
            .and_then(|end| end.checked_add(pad_len(size, GGUF_DEFAULT_ALIGNMENT)))
            .ok_or_else(overflow)?;
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
