//! `xgen-quantize`: Salesforce XGen-7B (a Hugging Face LLaMA checkpoint) to GGUF with the exact
//! XGen tokenizer, and quantization with llama.cpp.
//!
//! - [`vocab`]: the XGen vocabulary as GGUF metadata, and a tiktoken reference encoder.
//! - [`hf_tokenizer`]: the same vocabulary as a Hugging Face `tokenizer.json`.
//! - [`gguf`]: a streaming GGUF v3 writer and a header/metadata reader.
//! - [`convert`]: safetensors or PyTorch `.bin` checkpoint -> GGUF F16/F32, tensor by tensor.
//! - [`pytorch`]: the tensor table of a PyTorch zip checkpoint, read by a strict unpickler.
//! - [`quantize`]: GGUF -> Q4_K_M and friends through `llama_model_quantize`.
//! - [`llama_log`]: the process-wide llama.cpp log dispatcher quantization progress relies on.
//!
//! Its files are written with the discipline of `xgen-fsio` (durable atomic writes, unique
//! temporary names, confined paths), the crate below this one and the app; tiny XGen-shaped
//! checkpoints and random-weight GGUFs for tests and benchmarks are in the test kit
//! (`tests/kit`), out of the product.

pub mod convert;
pub mod gguf;
pub mod hf_tokenizer;
pub mod llama_log;
pub mod pytorch;
pub mod quantize;
pub mod vocab;

pub use convert::{
    convert_checkpoint, ConvertError, ConvertOptions, ConvertProgress, ConvertSummary, LlamaConfig,
    OutType,
};
pub use gguf::{GgmlType, GgufError, GgufFile, GgufValue, GgufWriter};
pub use pytorch::{read_torch_checkpoint, TorchError, TorchTensor};
pub use quantize::{quantize_gguf, QuantType, QuantizeError, QuantizeProgress, QuantizeSummary};
pub use vocab::{VocabError, XgenTokenizer, XgenVocab};
