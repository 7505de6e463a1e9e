//! The shard tables: which files hold a checkpoint's weights (safetensors or PyTorch, one file or
//! an index), and where each tensor's bytes are in them. Shard names from an index are confined
//! to the checkpoint's directory; a safetensors header must fit its file.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};

use memmap2::Mmap;
use safetensors::{Dtype, SafeTensors};
use serde::Deserialize;
use xgen_fsio::confined_join;

use super::config::read_capped;
use super::ConvertError;
use crate::pytorch::read_torch_checkpoint;

/// Most bytes of a shard index (`*.index.json`; real ones are a few hundred KiB).
pub const MAX_INDEX_BYTES: u64 = 64 << 20;
/// Most bytes of a safetensors header (real ones are well under a MiB).
pub const MAX_SAFETENSORS_HEADER: u64 = 32 << 20;

/// How a checkpoint's shards are stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum ShardFormat {
    Safetensors,
    Pytorch,
}

/// Lists the shard files of the checkpoint in `dir` (safetensors preferred when both exist).
pub(super) fn shard_files(dir: &Path) -> Result<(ShardFormat, Vec<PathBuf>), ConvertError> {
    for (format, index, single) in [
        (
            ShardFormat::Safetensors,
            "model.safetensors.index.json",
            "model.safetensors",
        ),
        (
            ShardFormat::Pytorch,
            "pytorch_model.bin.index.json",
            "pytorch_model.bin",
        ),
    ] {
        if let Some(files) = shards_of(dir, index, single)? {
            return Ok((format, files));
        }
    }
    Err(ConvertError::NoWeights(dir.to_path_buf()))
}

/// The shards listed by `dir/index`, or `dir/single`, or None when neither exists.
fn shards_of(dir: &Path, index: &str, single: &str) -> Result<Option<Vec<PathBuf>>, ConvertError> {
    let index = dir.join(index);
    if index.is_file() {
        #[derive(Deserialize)]
        struct Index {
            weight_map: BTreeMap<String, String>,
        }
        let text = read_capped(&index, MAX_INDEX_BYTES)?;
        let parsed: Index = serde_json::from_str(&text).map_err(|e| ConvertError::BadIndex {
            path: index.clone(),
            reason: e.to_string(),
        })?;
        let shards: BTreeSet<String> = parsed.weight_map.into_values().collect();
        let mut files = Vec::new();
        for shard in shards {
            // Names come from the checkpoint: `/etc/passwd` or `../x` must not be read.
            let path = confined_join(dir, &shard).map_err(|e| ConvertError::BadIndex {
                path: index.clone(),
                reason: e.to_string(),
            })?;
            if !path.is_file() {
                return Err(ConvertError::MissingShard { shard, index });
            }
            files.push(path);
        }
        return Ok(Some(files));
    }
    let single = dir.join(single);
    Ok(single.is_file().then(|| vec![single]))
}

/// One tensor of a safetensors file and where its bytes are in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TensorLocation {
    /// Tensor name.
    pub name: String,
    /// Element type.
    pub dtype: Dtype,
    /// Shape, row-major.
    pub shape: Vec<usize>,
    /// Byte offset of the first element in the file.
    pub start: usize,
    /// Byte offset just past the last element.
    pub end: usize,
}

/// The tensors of the safetensors file whose bytes are `file` (typically a memory map). The
/// header's length is checked against [`MAX_SAFETENSORS_HEADER`] and the file before it is
/// parsed, so a hostile header cannot make the parser allocate beyond a bounded multiple of
/// what the file holds; the safetensors crate then checks that the tensors' offsets tile the
/// data exactly.
///
/// # Errors
/// What is wrong with the file, in words.
pub fn safetensors_tensors(file: &[u8]) -> Result<Vec<TensorLocation>, String> {
    let Some(len_bytes) = file.first_chunk::<8>() else {
        return Err(format!(
            "the file is {} bytes long, shorter than a safetensors header (an interrupted download?)",
            file.len()
        ));
    };
    let header = u64::from_le_bytes(*len_bytes);
    if header > MAX_SAFETENSORS_HEADER {
        return Err(format!(
            "its header claims {header} bytes, more than the {MAX_SAFETENSORS_HEADER} any checkpoint needs (a damaged file?)"
        ));
    }
    if header.saturating_add(8) > file.len() as u64 {
        return Err(format!(
            "its header claims {header} bytes but the file holds only {} (an interrupted download?)",
            file.len()
        ));
    }
    let st = SafeTensors::deserialize(file).map_err(|e| e.to_string())?;
    let base = file.as_ptr() as usize;
    Ok(st
        .tensors()
        .into_iter()
        .map(|(name, view)| {
            let start = (view.data().as_ptr() as usize) - base;
            TensorLocation {
                name,
                dtype: view.dtype(),
                shape: view.shape().to_vec(),
                start,
                end: start + view.data().len(),
            }
        })
        .collect())
}

/// Where one checkpoint tensor's bytes are: a byte range of a shard's memory map.
pub(super) struct Source {
    pub(super) shard: usize,
    pub(super) start: usize,
    pub(super) end: usize,
    pub(super) dtype: Dtype,
    pub(super) shape: Vec<usize>,
}

/// The tensors of every shard by name (a later shard wins a duplicate, as in loading).
pub(super) fn tensor_table(
    format: ShardFormat,
    files: &[PathBuf],
    maps: &[Mmap],
) -> Result<HashMap<String, Source>, ConvertError> {
    let mut table = HashMap::new();
    for (shard, (path, map)) in files.iter().zip(maps).enumerate() {
        match format {
            ShardFormat::Safetensors => {
                let tensors =
                    safetensors_tensors(map).map_err(|reason| ConvertError::BadShard {
                        path: path.clone(),
                        reason,
                    })?;
                for t in tensors {
                    let source = Source {
                        shard,
                        start: t.start,
                        end: t.end,
                        dtype: t.dtype,
                        shape: t.shape,
                    };
                    table.insert(t.name, source);
                }
            }
            ShardFormat::Pytorch => {
                let tensors =
                    read_torch_checkpoint(map).map_err(|source| ConvertError::BadTorchShard {
                        path: path.clone(),
                        source,
                    })?;
                for t in tensors {
                    let source = Source {
                        shard,
                        start: t.start,
                        end: t.end,
                        dtype: t.dtype,
                        shape: t.shape,
                    };
                    table.insert(t.name, source);
                }
            }
        }
    }
    Ok(table)
}
