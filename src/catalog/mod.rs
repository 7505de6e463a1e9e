//! What can be installed ([`CatalogModel`], [`ModelSource`]) and, in `registry.rs`, what is
//! installed ([`Registry`] of [`InstalledModel`]s).
//!
//! Catalog sizes are the Hub's published sizes rounded to 10 MB: they size the free-disk check
//! before anything is fetched. The download itself trusts the sizes and checksums the Hub
//! returns for the resolved commit.

mod registry;

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

pub use registry::{modified_secs, InstalledModel, InstalledSource, Registry, RegistryError};

/// How the weights of a catalog checkpoint are stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WeightFormat {
    /// `model-*.safetensors` shards (memory-mappable, no code execution on load).
    Safetensors,
    /// `pytorch_model-*.bin` fp32 pickles.
    PytorchBin,
    /// A ready GGUF file.
    Gguf,
}

/// One file of a catalog checkpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CatalogFile {
    /// Path in the repository.
    pub name: &'static str,
    /// Approximate size in bytes (the Hub's size rounded; small files are estimates).
    pub size: u64,
}

/// A Hugging Face checkpoint xgen-desk knows how to convert.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CatalogModel {
    /// Stable id used in the CLI, settings and the registry (`xgen-7b-8k-inst`).
    pub id: &'static str,
    /// Name shown to people.
    pub display_name: &'static str,
    /// Hub repository, `owner/name`.
    pub repo: &'static str,
    /// Branch, tag, PR ref (`refs/pr/20`) or commit to download.
    pub revision: &'static str,
    /// How the weights are stored.
    pub format: WeightFormat,
    /// Files to download (weights, index, config, tokenizer files).
    pub files: &'static [CatalogFile],
    /// Training context length in tokens.
    pub context_length: u32,
    /// Number of parameters.
    pub parameters: u64,
    /// Instruction-tuned (chat prompt format) rather than a base model.
    pub instruct: bool,
    /// License or usage note to show before downloading.
    pub license_note: &'static str,
}

impl CatalogModel {
    /// Sum of [`CatalogFile::size`].
    #[must_use]
    pub fn download_size(&self) -> u64 {
        self.files.iter().map(|f| f.size).sum()
    }

    /// File names, in catalog order.
    #[must_use]
    pub fn file_names(&self) -> Vec<String> {
        self.files.iter().map(|f| f.name.to_owned()).collect()
    }

    /// Estimated size of the F16 GGUF produced by the converter.
    #[must_use]
    pub fn f16_size(&self) -> u64 {
        self.parameters * 2 + GGUF_OVERHEAD
    }

    /// Estimated size of the GGUF quantized to `quant`.
    #[must_use]
    pub fn quantized_size(&self, quant: QuantType) -> u64 {
        estimate_quantized_size(quant, self.parameters)
    }

    /// Sum of the catalog sizes of the weight files ([`is_weight_file`]).
    #[must_use]
    pub fn weight_bytes(&self) -> u64 {
        self.files
            .iter()
            .filter(|f| is_weight_file(f.name))
            .map(|f| f.size)
            .sum()
    }

    /// Parameters of the checkpoint whose weight files really hold `weight_bytes` (the sizes the
    /// Hub reports for the resolved commit): [`CatalogModel::parameters`] scaled by real over
    /// catalog weight bytes, so the disk check sizes the F16 and quantized files by what is
    /// actually there (another dtype on the same revision, a small test checkpoint). The
    /// catalog figure when `weight_bytes` is 0 (unknown).
    #[must_use]
    pub fn parameters_for_weight_bytes(&self, weight_bytes: u64) -> u64 {
        let catalog = self.weight_bytes();
        if weight_bytes == 0 || catalog == 0 {
            return self.parameters;
        }
        let scaled = u128::from(self.parameters) * u128::from(weight_bytes) / u128::from(catalog);
        u64::try_from(scaled).unwrap_or(u64::MAX)
    }

    /// Whether the converter can read this checkpoint (safetensors or PyTorch `.bin` shards).
    #[must_use]
    pub fn convertible(&self) -> bool {
        matches!(
            self.format,
            WeightFormat::Safetensors | WeightFormat::PytorchBin
        )
    }
}

/// Whether a repository file holds weights (`.safetensors`, `.bin`, `.gguf`) rather than
/// configuration or an index.
#[must_use]
pub fn is_weight_file(name: &str) -> bool {
    let ext = Path::new(name).extension().and_then(|e| e.to_str());
    ext.is_some_and(|e| {
        ["safetensors", "bin", "gguf"]
            .iter()
            .any(|w| e.eq_ignore_ascii_case(w))
    })
}

/// Metadata, tokenizer vocabulary and alignment padding in a GGUF, on top of the tensors.
const GGUF_OVERHEAD: u64 = 16 * 1024 * 1024;

const SMALL_FILES: [CatalogFile; 4] = [
    CatalogFile {
        name: "config.json",
        size: 1_000,
    },
    CatalogFile {
        name: "generation_config.json",
        size: 200,
    },
    CatalogFile {
        name: "tokenizer_config.json",
        size: 500,
    },
    CatalogFile {
        name: "tokenization_xgen.py",
        size: 10_000,
    },
];

const XGEN_8K_INST_SAFETENSORS: &[CatalogFile] = &[
    CatalogFile {
        name: "model-00001-of-00003.safetensors",
        size: 9_950_000_000,
    },
    CatalogFile {
        name: "model-00002-of-00003.safetensors",
        size: 9_960_000_000,
    },
    CatalogFile {
        name: "model-00003-of-00003.safetensors",
        size: 7_680_000_000,
    },
    CatalogFile {
        name: "model.safetensors.index.json",
        size: 25_000,
    },
    SMALL_FILES[0],
    SMALL_FILES[1],
    SMALL_FILES[2],
    SMALL_FILES[3],
];

const XGEN_PYTORCH_BIN: &[CatalogFile] = &[
    CatalogFile {
        name: "pytorch_model-00001-of-00003.bin",
        size: 9_950_000_000,
    },
    CatalogFile {
        name: "pytorch_model-00002-of-00003.bin",
        size: 9_960_000_000,
    },
    CatalogFile {
        name: "pytorch_model-00003-of-00003.bin",
        size: 7_680_000_000,
    },
    CatalogFile {
        name: "pytorch_model.bin.index.json",
        size: 25_000,
    },
    SMALL_FILES[0],
    SMALL_FILES[1],
    SMALL_FILES[2],
    SMALL_FILES[3],
];

const XGEN_PARAMETERS: u64 = 6_895_702_016;
const RESEARCH_ONLY: &str =
    "Salesforce's model card: for research purposes only. Check the license before use.";
const APACHE: &str = "Apache-2.0.";

/// The default model's id.
pub const DEFAULT_MODEL_ID: &str = "xgen-7b-8k-inst";

static CATALOG: [CatalogModel; 4] = [
    CatalogModel {
        id: DEFAULT_MODEL_ID,
        display_name: "XGen-7B-8K-Inst",
        repo: "Salesforce/xgen-7b-8k-inst",
        revision: "refs/pr/20",
        format: WeightFormat::Safetensors,
        files: XGEN_8K_INST_SAFETENSORS,
        context_length: 8192,
        parameters: XGEN_PARAMETERS,
        instruct: true,
        license_note: RESEARCH_ONLY,
    },
    CatalogModel {
        id: "xgen-7b-8k-inst-bin",
        display_name: "XGen-7B-8K-Inst (PyTorch .bin)",
        repo: "Salesforce/xgen-7b-8k-inst",
        revision: "main",
        format: WeightFormat::PytorchBin,
        files: XGEN_PYTORCH_BIN,
        context_length: 8192,
        parameters: XGEN_PARAMETERS,
        instruct: true,
        license_note: RESEARCH_ONLY,
    },
    CatalogModel {
        id: "xgen-7b-8k-base",
        display_name: "XGen-7B-8K-base",
        repo: "Salesforce/xgen-7b-8k-base",
        revision: "main",
        format: WeightFormat::PytorchBin,
        files: XGEN_PYTORCH_BIN,
        context_length: 8192,
        parameters: XGEN_PARAMETERS,
        instruct: false,
        license_note: APACHE,
    },
    CatalogModel {
        id: "xgen-7b-4k-base",
        display_name: "XGen-7B-4K-base",
        repo: "Salesforce/xgen-7b-4k-base",
        revision: "main",
        format: WeightFormat::PytorchBin,
        files: XGEN_PYTORCH_BIN,
        context_length: 4096,
        parameters: XGEN_PARAMETERS,
        instruct: false,
        license_note: APACHE,
    },
];

/// Every catalog model; the first is the default.
#[must_use]
pub fn catalog() -> &'static [CatalogModel] {
    &CATALOG
}

/// The default model (XGen-7B-8K-Inst, safetensors).
#[must_use]
pub fn default_model() -> &'static CatalogModel {
    &CATALOG[0]
}

/// Looks a catalog model up by [`CatalogModel::id`].
#[must_use]
pub fn find(id: &str) -> Option<&'static CatalogModel> {
    CATALOG.iter().find(|m| m.id == id)
}

/// The quantization types setup offers (llama.cpp's, from `xgen-quantize`).
pub use xgen_quantize::QuantType;

/// Estimated GGUF size of a `parameters`-weight model quantized to `quant` (XGen-7B: `Q4_K_M`
/// about 4.2 GB, `Q4_0` about 3.9 GB, `Q8_0` about 7.3 GB, `F16` 13.8 GB).
#[must_use]
pub fn estimate_quantized_size(quant: QuantType, parameters: u64) -> u64 {
    // Bits per weight in hundredths, from the spec's XGen-7B sizes.
    let bits_x100: u64 = match quant {
        QuantType::F16 => 1600,
        QuantType::Q8_0 => 850,
        QuantType::Q5KM => 570,
        QuantType::Q4KM => 490,
        QuantType::Q4_0 => 455,
    };
    parameters * bits_x100 / 800 + GGUF_OVERHEAD
}

/// llama.cpp's upper-case name of `quant` (`Q4_K_M`), as shown and stored in the registry.
#[must_use]
pub fn quant_label(quant: QuantType) -> String {
    quant.as_str().to_ascii_uppercase()
}

/// Something that can be installed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ModelSource {
    /// A catalog checkpoint: downloaded, converted and quantized.
    Catalog(&'static CatalogModel),
    /// Any GGUF file on the Hub: downloaded and registered as is.
    HubGguf {
        /// Repository, `owner/name`.
        repo: String,
        /// Branch, tag or commit (`main` usually).
        revision: String,
        /// File path in the repository.
        file: String,
    },
    /// A GGUF file already on this computer: registered where it is (never copied or deleted).
    LocalGguf {
        /// The file.
        path: PathBuf,
    },
}

impl ModelSource {
    /// Parses what a person types: a catalog id, `owner/repo/file.gguf` or
    /// `owner/repo@revision/file.gguf` (a GGUF on the Hub), or a path to an existing local file.
    #[must_use]
    pub fn parse(spec: &str) -> Option<Self> {
        if let Some(model) = find(spec) {
            return Some(Self::Catalog(model));
        }
        let path = Path::new(spec);
        if path.is_file() {
            return Some(Self::LocalGguf {
                path: path.to_path_buf(),
            });
        }
        let mut parts = spec.splitn(3, '/');
        let (owner, name, file) = (parts.next()?, parts.next()?, parts.next()?);
        let (name, revision) = match name.split_once('@') {
            Some((n, r)) => (n, r),
            None => (name, "main"),
        };
        let valid = !owner.is_empty()
            && !name.is_empty()
            && !revision.is_empty()
            && Path::new(file)
                .extension()
                .is_some_and(|e| e.eq_ignore_ascii_case("gguf"));
        valid.then(|| Self::HubGguf {
            repo: format!("{owner}/{name}"),
            revision: revision.to_owned(),
            file: file.to_owned(),
        })
    }
}

/// Seconds since the Unix epoch now (0 if the clock is before 1970).
#[must_use]
pub fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}
