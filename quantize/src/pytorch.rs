//! PyTorch zip checkpoints (`pytorch_model.bin`, `pytorch_model-0000N-of-0000M.bin`) read
//! without Python and without executing anything.
//!
//! A `torch.save` file is a zip archive (entries stored, not compressed) holding
//! `<prefix>/data.pkl`, a pickle of a dict name -> tensor, and one entry `<prefix>/data/<key>`
//! per storage with the raw little-endian elements. Each tensor is pickled as
//! `torch._utils._rebuild_tensor_v2(storage, offset, size, stride, requires_grad, hooks)`
//! where `storage` is the persistent id `('storage', torch.FloatStorage, key, location, numel)`.
//!
//! [`read_torch_checkpoint`] runs a small, strict unpickler over exactly that subset of pickle
//! (protocols 2 to 4): it builds plain values, knows only the globals a state dict uses
//! (`collections.OrderedDict`, `torch._utils._rebuild_tensor_v2`, `torch.FloatStorage`,
//! `torch.HalfStorage`, `torch.BFloat16Storage`) and refuses any other global or opcode. It
//! returns where each tensor's bytes are in the file, so they can be read from a memory map
//! tensor by tensor.
//!
//! A checkpoint can come from anywhere, so the unpickler is bounded: `data.pkl` is read with a
//! cap on its decompressed size ([`MAX_PICKLE_BYTES`]); values are shared, not copied, when the
//! memo hands them out again (a few hundred bytes of pickle could otherwise describe more data
//! than any memory holds); containers nest at most [`MAX_DEPTH`] deep, so building, comparing
//! and dropping them never exhausts the stack; at most [`MAX_VALUES`] values are built; and
//! dict keys are plain strings or integers, found through an index, so filling a dict is linear.
//!
//! Longer than 600 lines: a bounded unpickler (every opcode a checkpoint uses, with memory and
//! depth limits) and the zip reading around it, which checks what the pickle names.

use std::collections::HashMap;
use std::io::{Cursor, Read};
use std::rc::Rc;

use safetensors::Dtype;
use zip::CompressionMethod;

/// Most bytes `data.pkl` may hold once decompressed (a state dict takes a few hundred bytes per
/// tensor: real ones are well under a MiB).
pub const MAX_PICKLE_BYTES: u64 = 16 << 20;
/// Most levels of tuples and dicts inside each other (a state dict needs four).
pub const MAX_DEPTH: usize = 64;
/// Most values the unpickler builds (a state dict needs about a dozen per tensor).
pub const MAX_VALUES: usize = 1 << 23;

/// Errors of [`read_torch_checkpoint`].
#[derive(Debug, thiserror::Error)]
pub enum TorchError {
    /// The file is not a readable zip archive (truncated, or a legacy non-zip `torch.save`).
    #[error("not a PyTorch zip checkpoint (truncated or legacy format?): {0}")]
    Zip(String),
    /// The archive has no `data.pkl`, or more than one.
    #[error("the archive holds {0} data.pkl entries, expected exactly 1")]
    DataPkl(usize),
    /// `data.pkl` decompresses to more than [`MAX_PICKLE_BYTES`].
    #[error("{name} holds more than {limit} bytes once decompressed; a state dict needs far less (a damaged or hostile file)")]
    PickleTooLarge {
        /// The entry's name in the archive.
        name: String,
        /// The limit.
        limit: u64,
    },
    /// The pickle stream is malformed or uses an opcode outside the supported subset.
    #[error("pickle at byte {offset}: {reason}")]
    Pickle {
        /// Offset of the opcode in `data.pkl`.
        offset: usize,
        /// What is wrong.
        reason: String,
    },
    /// The pickle names a global outside the supported set (it is never imported or called).
    #[error("pickle at byte {offset}: unsupported global {module}.{name} (only a state dict of torch tensors can be read)")]
    UnknownGlobal {
        /// Offset of the opcode in `data.pkl`.
        offset: usize,
        /// The global's module.
        module: String,
        /// The global's name.
        name: String,
    },
    /// The pickle does not hold a dict of name -> tensor.
    #[error("data.pkl is not a state dict of tensors: {0}")]
    NotStateDict(String),
    /// A tensor is not laid out row-major (a view, a transpose).
    #[error("tensor {name} is not contiguous: size {size:?}, stride {stride:?} (re-save it with .contiguous())")]
    NotContiguous {
        /// Tensor name.
        name: String,
        /// Its size.
        size: Vec<usize>,
        /// Its stride.
        stride: Vec<usize>,
    },
    /// A storage's data entry is missing, compressed, or too short for a tensor.
    #[error("storage {key} of tensor {name}: {reason}")]
    BadStorage {
        /// Tensor name.
        name: String,
        /// Storage key (`data/<key>` in the archive).
        key: String,
        /// What is wrong.
        reason: String,
    },
}

/// One tensor of a PyTorch checkpoint: its element type, shape and byte range in the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TorchTensor {
    /// State-dict name (`model.layers.0.self_attn.q_proj.weight`).
    pub name: String,
    /// Element type: F32, F16 or BF16.
    pub dtype: Dtype,
    /// Shape, row-major.
    pub shape: Vec<usize>,
    /// Absolute byte offset of the first element in the checkpoint file.
    pub start: usize,
    /// Absolute byte offset just past the last element.
    pub end: usize,
}

/// Reads the tensor table of the PyTorch zip checkpoint whose bytes are `file` (typically a
/// memory map; only the zip directory and `data.pkl` are read, not the tensor data).
///
/// # Errors
/// [`TorchError`] for a truncated or non-zip file, a pickle outside the supported subset, an
/// unknown global, a non-contiguous tensor or a storage entry that is missing, compressed or
/// shorter than its tensors.
pub fn read_torch_checkpoint(file: &[u8]) -> Result<Vec<TorchTensor>, TorchError> {
    let zip_err = |e: zip::result::ZipError| TorchError::Zip(e.to_string());
    let mut archive = zip::ZipArchive::new(Cursor::new(file)).map_err(zip_err)?;
    let pkl_names: Vec<String> = archive
        .file_names()
        .filter_map(Result::ok)
        .filter(|n| *n == "data.pkl" || n.ends_with("/data.pkl"))
        .map(|n| n.into_owned())
        .collect();
    let [pkl_name] = pkl_names.as_slice() else {
        return Err(TorchError::DataPkl(pkl_names.len()));
    };
    let prefix = &pkl_name[..pkl_name.len() - "data.pkl".len()];
    let mut pickle = Vec::new();
    // The size the archive declares can lie: the cap is applied to what decompression yields.
    archive
        .by_name(pkl_name)
        .map_err(zip_err)?
        .take(MAX_PICKLE_BYTES + 1)
        .read_to_end(&mut pickle)
        .map_err(|e| TorchError::Zip(format!("{pkl_name}: {e}")))?;
    if pickle.len() as u64 > MAX_PICKLE_BYTES {
        return Err(TorchError::PickleTooLarge {
            name: pkl_name.clone(),
            limit: MAX_PICKLE_BYTES,
        });
    }

    let entries = unpickle_state_dict(&pickle)?;
    let mut storages: HashMap<String, (usize, usize)> = HashMap::new();
    let mut out = Vec::with_capacity(entries.len());
    for t in entries {
        let name = t.name;
        let bad = |reason: String| TorchError::BadStorage {
            name: name.clone(),
            key: t.storage_key.clone(),
            reason,
        };
        let elem = t.dtype.bitsize() / 8;
        let expected = row_major_strides(&t.size);
        let contiguous = t
            .size
            .iter()
            .zip(&t.stride)
            .zip(&expected)
            .all(|((&n, &s), &e)| n <= 1 || s == e);
        if !contiguous || t.stride.len() != t.size.len() {
            return Err(TorchError::NotContiguous {
                name,
                size: t.size,
                stride: t.stride,
            });
        }
        let (data_start, data_len) = match storages.get(&t.storage_key) {
            Some(&found) => found,
            None => {
                let entry = format!("{prefix}data/{}", t.storage_key);
                let f = archive
                    .by_name_raw(entry.as_bytes())
                    .map_err(|e| bad(format!("{entry}: {e}")))?;
                if f.compression() != CompressionMethod::Stored {
                    return Err(bad(format!(
                        "{entry} is compressed ({:?}); only stored entries are read",
                        f.compression()
                    )));
                }
                let start = f
                    .data_start()
                    .and_then(|s| usize::try_from(s).ok())
                    .ok_or_else(|| bad(format!("{entry}: no data offset")))?;
                let len = usize::try_from(f.size()).unwrap_or(usize::MAX);
                if start.checked_add(len).is_none_or(|end| end > file.len()) {
                    return Err(bad(format!(
                        "{entry} ends past the end of the file (truncated?)"
                    )));
                }
                storages.insert(t.storage_key.clone(), (start, len));
                (start, len)
            }
        };
        let numel = t
            .size
            .iter()
            .try_fold(1usize, |a, &d| a.checked_mul(d))
            .ok_or_else(|| bad("size overflows".to_owned()))?;
        let range = t
            .offset
            .checked_add(numel)
            .and_then(|end_el| end_el.checked_mul(elem))
            .filter(|&end| end <= data_len)
            .ok_or_else(|| {
                bad(format!(
                    "{numel} elements at offset {} do not fit in {data_len} bytes",
                    t.offset
                ))
            })?;
        let start = data_start + t.offset * elem;
        out.push(TorchTensor {
            name,
            dtype: t.dtype,
            shape: t.size,
            start,
            end: data_start + range,
        });
    }
    Ok(out)
}

fn row_major_strides(size: &[usize]) -> Vec<usize> {
    let mut strides = vec![1usize; size.len()];
    for i in (0..size.len().saturating_sub(1)).rev() {
        strides[i] = strides[i + 1].saturating_mul(size[i + 1]);
    }
    strides
}

/// One tensor as `data.pkl` describes it, before its storage is found in the archive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PickledTensor {
    /// State-dict name.
    pub name: String,
    /// Element type: F32, F16 or BF16.
    pub dtype: Dtype,
    /// The storage's key (`data/<key>` in the archive).
    pub storage_key: String,
    /// Offset of the first element in the storage, in elements.
    pub offset: usize,
    /// Shape.
    pub size: Vec<usize>,
    /// Strides, in elements.
    pub stride: Vec<usize>,
}

/// Runs the strict, bounded unpickler over a `data.pkl` stream and returns its state dict's
/// tensors in order.
///
/// # Errors
/// [`TorchError::Pickle`], [`TorchError::UnknownGlobal`] or [`TorchError::NotStateDict`].
pub fn unpickle_state_dict(pickle: &[u8]) -> Result<Vec<PickledTensor>, TorchError> {
    let top = Unpickler::new(pickle).run()?;
    let Value::Dict(dict) = top else {
        return Err(TorchError::NotStateDict(format!(
            "top-level object is {}",
            top.kind()
        )));
    };
    dict.items
        .into_iter()
        .map(|(k, v)| match (k, v) {
            (Key::Str(name), Value::Tensor(t)) => Ok(PickledTensor {
                name: name.to_string(),
                dtype: t.storage.dtype.safetensors(),
                storage_key: t.storage.key.to_string(),
                offset: t.offset,
                size: t.size.clone(),
                stride: t.stride.clone(),
            }),
            (Key::Str(name), other) => Err(TorchError::NotStateDict(format!(
                "{name} is {}, not a tensor",
                other.kind()
            ))),
            (Key::Int(_), _) => Err(TorchError::NotStateDict(
                "a key is an int, not a string".to_owned(),
            )),
        })
        .collect()
}

/// Element types of the storages this reader accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum StorageType {
    Float,
    Half,
    BFloat16,
}

impl StorageType {
    fn safetensors(self) -> Dtype {
        match self {
            Self::Float => Dtype::F32,
            Self::Half => Dtype::F16,
            Self::BFloat16 => Dtype::BF16,
        }
    }
}

/// The globals a state dict pickle may name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Global {
    OrderedDict,
    RebuildTensorV2,
    Storage(StorageType),
}

impl Global {
    fn resolve(module: &str, name: &str) -> Option<Self> {
        match (module, name) {
            ("collections", "OrderedDict") => Some(Self::OrderedDict),
            ("torch._utils", "_rebuild_tensor_v2") => Some(Self::RebuildTensorV2),
            ("torch", "FloatStorage") => Some(Self::Storage(StorageType::Float)),
            ("torch", "HalfStorage") => Some(Self::Storage(StorageType::Half)),
            ("torch", "BFloat16Storage") => Some(Self::Storage(StorageType::BFloat16)),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct StorageRef {
    dtype: StorageType,
    key: Rc<str>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct TensorRef {
    storage: StorageRef,
    offset: usize,
    size: Vec<usize>,
    stride: Vec<usize>,
}

/// A dict key: state dicts and their `_metadata` are keyed by strings (ints are allowed too).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Key {
    Str(Rc<str>),
    Int(i64),
}

/// A dict being filled: items in order, and where each key is, so that setting an item is
/// constant time whatever the dict's size.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Dict {
    items: Vec<(Key, Value)>,
    index: HashMap<Key, usize>,
    depth: usize,
}

/// A tuple, shared once built (the memo hands out the same one again).
#[derive(Debug, PartialEq, Eq)]
struct Tuple {
    items: Vec<Value>,
    depth: usize,
}

/// A value built by the unpickler: plain data only. Tuples, strings and tensors are shared
/// through `Rc`, so a memo lookup costs nothing whatever the value's size; dicts are never
/// shared (the memo refuses to hand them out), so the one being filled is owned by the stack.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Value {
    None,
    Bool(bool),
    Int(i64),
    Str(Rc<str>),
    Tuple(Rc<Tuple>),
    Dict(Box<Dict>),
    Global(Global),
    Storage(StorageRef),
    Tensor(Rc<TensorRef>),
}

impl Value {
    fn kind(&self) -> &'static str {
        match self {
            Self::None => "None",
            Self::Bool(_) => "a bool",
            Self::Int(_) => "an int",
            Self::Str(_) => "a string",
            Self::Tuple(_) => "a tuple",
            Self::Dict(_) => "a dict",
            Self::Global(_) => "a class or function",
            Self::Storage(_) => "a storage",
            Self::Tensor(_) => "a tensor",
        }
    }

    /// Levels of containers in the value (0 for a scalar), kept with each container so this is
    /// constant time.
    fn depth(&self) -> usize {
        match self {
            Self::Tuple(t) => t.depth,
            Self::Dict(d) => d.depth,
            _ => 0,
        }
    }
}

/// What the memo holds: a value to hand out again, or the mark of a dict, which is not.
#[derive(Debug)]
enum Memo {
    Value(Value),
    Dict,
}

struct Unpickler<'a> {
    data: &'a [u8],
    pos: usize,
    /// Offset of the opcode being run, for errors.
    at: usize,
    stack: Vec<Value>,
    marks: Vec<usize>,
    memo: HashMap<u32, Memo>,
    /// Values built so far, against [`MAX_VALUES`].
    made: usize,
}

impl<'a> Unpickler<'a> {
    fn new(data: &'a [u8]) -> Self {
        Self {
            data,
            pos: 0,
            at: 0,
            stack: Vec::new(),
            marks: Vec::new(),
            memo: HashMap::new(),
            made: 0,
        }
    }

    fn err(&self, reason: impl Into<String>) -> TorchError {
        TorchError::Pickle {
            offset: self.at,
            reason: reason.into(),
        }
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], TorchError> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|&e| e <= self.data.len())
            .ok_or_else(|| self.err("unexpected end of data"))?;
        let s = &self.data[self.pos..end];
        self.pos = end;
        Ok(s)
    }

    fn u8(&mut self) -> Result<u8, TorchError> {
        Ok(self.take(1)?[0])
    }

    fn u16(&mut self) -> Result<u16, TorchError> {
        let b = self.take(2)?;
        Ok(u16::from_le_bytes([b[0], b[1]]))
    }

    fn u32(&mut self) -> Result<u32, TorchError> {
        let b = self.take(4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn u64(&mut self) -> Result<u64, TorchError> {
        let b = self.take(8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(u64::from_le_bytes(a))
    }

    fn line(&mut self) -> Result<&'a str, TorchError> {
        let rest = &self.data[self.pos..];
        let n = rest
            .iter()
            .position(|&b| b == b'\n')
            .ok_or_else(|| self.err("unterminated GLOBAL line"))?;
        let s =
            std::str::from_utf8(&rest[..n]).map_err(|_| self.err("GLOBAL name is not UTF-8"))?;
        self.pos += n + 1;
        Ok(s)
    }

    fn string(&mut self, len: usize) -> Result<Value, TorchError> {
        let b = self.take(len)?;
        std::str::from_utf8(b)
            .map(|s| Value::Str(Rc::from(s)))
            .map_err(|_| self.err("string is not UTF-8"))
    }

    /// Pushes a value, counting it against [`MAX_VALUES`].
    fn push(&mut self, v: Value) -> Result<(), TorchError> {
        self.made += 1;
        if self.made > MAX_VALUES {
            return Err(self.err(format!(
                "more than {MAX_VALUES} values; a state dict needs a few per tensor"
            )));
        }
        self.stack.push(v);
        Ok(())
    }

    fn pop(&mut self) -> Result<Value, TorchError> {
        if self.marks.last().is_some_and(|&m| m >= self.stack.len()) {
            return Err(self.err("pop across a MARK"));
        }
        self.stack.pop().ok_or_else(|| self.err("stack underflow"))
    }

    fn top(&mut self) -> Result<&mut Value, TorchError> {
        let at = self.at;
        self.stack.last_mut().ok_or(TorchError::Pickle {
            offset: at,
            reason: "stack underflow".to_owned(),
        })
    }

    /// Pops everything above the last MARK.
    fn pop_mark(&mut self) -> Result<Vec<Value>, TorchError> {
        let m = self.marks.pop().ok_or_else(|| self.err("no MARK"))?;
        if m > self.stack.len() {
            return Err(self.err("MARK above the stack"));
        }
        Ok(self.stack.split_off(m))
    }

    /// A tuple of `items`, refused past [`MAX_DEPTH`] levels.
    fn tuple(&self, items: Vec<Value>) -> Result<Value, TorchError> {
        let depth = 1 + items.iter().map(Value::depth).max().unwrap_or(0);
        if depth > MAX_DEPTH {
            return Err(self.err(format!("tuples nested more than {MAX_DEPTH} levels deep")));
        }
        Ok(Value::Tuple(Rc::new(Tuple { items, depth })))
    }

    fn memo_get(&self, key: u32) -> Result<Value, TorchError> {
        match self.memo.get(&key) {
            // Shared, not copied: a tuple handed out twice is one tuple referenced twice.
            Some(Memo::Value(v)) => Ok(v.clone()),
            // A dict could change after it was stored, and the one being filled must have a
            // single owner.
            Some(Memo::Dict) => Err(self.err("shared reference to a dict is not supported")),
            None => Err(self.err(format!("memo key {key} not set"))),
        }
    }

    fn memo_put(&mut self, key: u32) -> Result<(), TorchError> {
        let entry = match self.stack.last() {
            Some(Value::Dict(_)) => Memo::Dict,
            Some(v) => Memo::Value(v.clone()),
            None => return Err(self.err("stack underflow")),
        };
        if self.memo.len() >= MAX_VALUES {
            return Err(self.err(format!("more than {MAX_VALUES} memo entries")));
        }
        self.memo.insert(key, entry);
        Ok(())
    }

    fn push_global(&mut self, module: &str, name: &str) -> Result<(), TorchError> {
        let g = Global::resolve(module, name).ok_or_else(|| TorchError::UnknownGlobal {
            offset: self.at,
            module: module.to_owned(),
            name: name.to_owned(),
        })?;
        self.push(Value::Global(g))
    }

    fn set_items(&mut self, items: Vec<Value>) -> Result<(), TorchError> {
        if !items.len().is_multiple_of(2) {
            return Err(self.err("odd number of items for a dict"));
        }
        let at = self.at;
        let err = |reason: String| TorchError::Pickle { offset: at, reason };
        let Value::Dict(dict) = self.top()? else {
            return Err(err("SETITEM(S) on something that is not a dict".to_owned()));
        };
        let mut it = items.into_iter();
        while let (Some(k), Some(v)) = (it.next(), it.next()) {
            let key = match k {
                Value::Str(s) => Key::Str(s),
                Value::Int(i) => Key::Int(i),
                other => {
                    return Err(err(format!(
                        "a dict key is {}; a state dict's keys are strings",
                        other.kind()
                    )))
                }
            };
            let depth = 1 + v.depth();
            if depth > MAX_DEPTH {
                return Err(err(format!(
                    "dicts nested more than {MAX_DEPTH} levels deep"
                )));
            }
            dict.depth = dict.depth.max(depth);
            match dict.index.get(&key) {
                Some(&i) => dict.items[i].1 = v,
                None => {
                    dict.index.insert(key.clone(), dict.items.len());
                    dict.items.push((key, v));
                }
            }
        }
        Ok(())
    }

    fn int_arg(&self, v: &Value, what: &str) -> Result<usize, TorchError> {
        match v {
            Value::Int(i) => usize::try_from(*i).map_err(|_| self.err(format!("negative {what}"))),
            other => Err(self.err(format!("{what} is {}, expected an int", other.kind()))),
        }
    }

    fn int_tuple(&self, v: &Value, what: &str) -> Result<Vec<usize>, TorchError> {
        match v {
            Value::Tuple(t) => t.items.iter().map(|i| self.int_arg(i, what)).collect(),
            other => Err(self.err(format!("{what} is {}, expected a tuple", other.kind()))),
        }
    }

    fn persistent_load(&self, pid: &Value) -> Result<Value, TorchError> {
        let Value::Tuple(t) = pid else {
            return Err(self.err(format!("persistent id is {}", pid.kind())));
        };
        match t.items.as_slice() {
            [Value::Str(tag), Value::Global(Global::Storage(dtype)), Value::Str(key), Value::Str(_location), Value::Int(_numel)]
                if &**tag == "storage" =>
            {
                Ok(Value::Storage(StorageRef {
                    dtype: *dtype,
                    key: Rc::clone(key),
                }))
            }
            items => Err(self.err(format!(
                "unsupported persistent id ({}) (expected ('storage', torch.FloatStorage|HalfStorage|BFloat16Storage, key, location, numel))",
                items.iter().map(Value::kind).collect::<Vec<_>>().join(", ")
            ))),
        }
    }

    fn reduce(&self, func: &Value, args: &Value) -> Result<Value, TorchError> {
        let Value::Tuple(args) = args else {
            return Err(self.err(format!("REDUCE arguments are {}", args.kind())));
        };
        let args = args.items.as_slice();
        match func {
            Value::Global(Global::OrderedDict) if args.is_empty() => {
                Ok(Value::Dict(Box::new(Dict {
                    depth: 1,
                    ..Dict::default()
                })))
            }
            Value::Global(Global::RebuildTensorV2) if (6..=7).contains(&args.len()) => {
                let Value::Storage(storage) = &args[0] else {
                    return Err(
                        self.err(format!("_rebuild_tensor_v2 storage is {}", args[0].kind()))
                    );
                };
                let offset = self.int_arg(&args[1], "storage offset")?;
                let size = self.int_tuple(&args[2], "size")?;
                let stride = self.int_tuple(&args[3], "stride")?;
                match &args[5] {
                    Value::Dict(hooks) if hooks.items.is_empty() => {}
                    _ => return Err(self.err("tensor with backward hooks")),
                }
                Ok(Value::Tensor(Rc::new(TensorRef {
                    storage: storage.clone(),
                    offset,
                    size,
                    stride,
                })))
            }
            other => Err(self.err(format!(
                "unsupported call of {} with {} arguments",
                other.kind(),
                args.len()
            ))),
        }
    }

    /// Runs the pickle to STOP and returns the top-level value.
    fn run(mut self) -> Result<Value, TorchError> {
        loop {
            self.at = self.pos;
            let op = self.u8()?;
            match op {
                // PROTO
                0x80 => {
                    let v = self.u8()?;
                    if !(2..=5).contains(&v) {
                        return Err(self.err(format!("pickle protocol {v} is not supported")));
                    }
                }
                // FRAME: only a length hint.
                0x95 => {
                    self.u64()?;
                }
                // STOP
                b'.' => {
                    let v = self.pop()?;
                    if !self.stack.is_empty() || !self.marks.is_empty() {
                        return Err(self.err("values left on the stack at STOP"));
                    }
                    return Ok(v);
                }
                b'(' => {
                    if self.marks.len() >= MAX_VALUES {
                        return Err(self.err(format!("more than {MAX_VALUES} MARKs")));
                    }
                    self.marks.push(self.stack.len());
                }
                b'}' => self.push(Value::Dict(Box::new(Dict {
                    depth: 1,
                    ..Dict::default()
                })))?,
                b')' => {
                    let t = self.tuple(Vec::new())?;
                    self.push(t)?;
                }
                b'N' => self.push(Value::None)?,
                0x88 => self.push(Value::Bool(true))?,
                0x89 => self.push(Value::Bool(false))?,
                // BININT, BININT1, BININT2
                b'J' => {
                    let v = self.u32()?.cast_signed();
                    self.push(Value::Int(i64::from(v)))?;
                }
                b'K' => {
                    let v = self.u8()?;
                    self.push(Value::Int(i64::from(v)))?;
                }
                b'M' => {
                    let v = self.u16()?;
                    self.push(Value::Int(i64::from(v)))?;
                }
                // LONG1: little-endian two's complement of n bytes.
                0x8a => {
                    let n = usize::from(self.u8()?);
                    if n > 8 {
                        return Err(self.err(format!("{n}-byte integer is too large")));
                    }
                    let b = self.take(n)?;
                    let mut v: i64 = 0;
                    for (i, &byte) in b.iter().enumerate() {
                        v |= i64::from(byte) << (8 * i);
                    }
                    if n > 0 && n < 8 && b[n - 1] & 0x80 != 0 {
                        v -= 1i64 << (8 * n);
                    }
                    self.push(Value::Int(v))?;
                }
                // BINUNICODE, SHORT_BINUNICODE, BINUNICODE8
                b'X' => {
                    let n = self.u32()? as usize;
                    let s = self.string(n)?;
                    self.push(s)?;
                }
                0x8c => {
                    let n = usize::from(self.u8()?);
                    let s = self.string(n)?;
                    self.push(s)?;
                }
                0x8d => {
                    let n = usize::try_from(self.u64()?).unwrap_or(usize::MAX);
                    let s = self.string(n)?;
                    self.push(s)?;
                }
                // BINPUT, LONG_BINPUT, MEMOIZE
                b'q' => {
                    let k = u32::from(self.u8()?);
                    self.memo_put(k)?;
                }
                b'r' => {
                    let k = self.u32()?;
                    self.memo_put(k)?;
                }
                0x94 => {
                    let k = u32::try_from(self.memo.len()).unwrap_or(u32::MAX);
                    self.memo_put(k)?;
                }
                // BINGET, LONG_BINGET
                b'h' => {
                    let k = u32::from(self.u8()?);
                    let v = self.memo_get(k)?;
                    self.push(v)?;
                }
                b'j' => {
                    let k = self.u32()?;
                    let v = self.memo_get(k)?;
                    self.push(v)?;
                }
                // GLOBAL, STACK_GLOBAL
                b'c' => {
                    let module = self.line()?;
                    let name = self.line()?;
                    self.push_global(module, name)?;
                }
                0x93 => {
                    let name = self.pop()?;
                    let module = self.pop()?;
                    let (Value::Str(module), Value::Str(name)) = (module, name) else {
                        return Err(self.err("STACK_GLOBAL needs two strings"));
                    };
                    self.push_global(&module, &name)?;
                }
                // BINPERSID
                b'Q' => {
                    let pid = self.pop()?;
                    let v = self.persistent_load(&pid)?;
                    self.push(v)?;
                }
                // TUPLE, TUPLE1, TUPLE2, TUPLE3
                b't' => {
                    let items = self.pop_mark()?;
                    let t = self.tuple(items)?;
                    self.push(t)?;
                }
                0x85..=0x87 => {
                    let n = usize::from(op - 0x84);
                    let mut items = Vec::with_capacity(n);
                    for _ in 0..n {
                        items.push(self.pop()?);
                    }
                    items.reverse();
                    let t = self.tuple(items)?;
                    self.push(t)?;
                }
                // REDUCE
                b'R' => {
                    let args = self.pop()?;
                    let func = self.pop()?;
                    let v = self.reduce(&func, &args)?;
                    self.push(v)?;
                }
                // BUILD: only the attribute state of an OrderedDict (`_metadata`), dropped.
                b'b' => {
                    let state = self.pop()?;
                    if !matches!(self.top()?, Value::Dict(_)) {
                        return Err(self.err("BUILD on something that is not a dict"));
                    }
                    if !matches!(state, Value::Dict(_) | Value::None) {
                        return Err(self.err(format!("BUILD state is {}", state.kind())));
                    }
                }
                // SETITEM, SETITEMS
                b's' => {
                    let v = self.pop()?;
                    let k = self.pop()?;
                    self.set_items(vec![k, v])?;
                }
                b'u' => {
                    let items = self.pop_mark()?;
                    self.set_items(items)?;
                }
                other => {
                    return Err(self.err(format!(
                        "unsupported pickle opcode 0x{other:02x} ({:?})",
                        char::from(other)
                    )))
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ints_and_strings() {
        // PROTO 2, MARK, BININT1 7, BININT2 300, BININT -5, LONG1 2 bytes 0xff7f, BINUNICODE "ab",
        // TUPLE, STOP
        let mut p = vec![0x80, 2, b'(', b'K', 7, b'M', 0x2c, 0x01, b'J'];
        p.extend_from_slice(&(-5i32).to_le_bytes());
        p.extend_from_slice(&[
            0x8a, 2, 0xff, 0x7f, b'X', 2, 0, 0, 0, b'a', b'b', b't', b'.',
        ]);
        let v = Unpickler::new(&p).run().unwrap();
        let Value::Tuple(t) = v else { panic!("{v:?}") };
        assert_eq!(
            t.items,
            [
                Value::Int(7),
                Value::Int(300),
                Value::Int(-5),
                Value::Int(0x7fff),
                Value::Str("ab".into())
            ]
        );
    }

    #[test]
    fn unknown_global_is_refused() {
        let p = b"\x80\x02cos\nsystem\nq\x00.";
        let err = Unpickler::new(p).run().unwrap_err();
        assert!(
            matches!(&err, TorchError::UnknownGlobal { module, name, .. } if module == "os" && name == "system"),
            "{err}"
        );
    }

    #[test]
    fn strides() {
        assert_eq!(row_major_strides(&[3, 4, 5]), vec![20, 5, 1]);
        assert_eq!(row_major_strides(&[7]), vec![1]);
    }
}
