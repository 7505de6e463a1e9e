//! The OCR models built into xgen-desk, as ONNX bytes: PaddleOCR's PP-OCRv6 small text
//! detector and recogniser and its text direction classifier, converted to ONNX and
//! published in the PyPI package `rapidocr` 3.10.0 (Apache-2.0; the weights are Baidu's,
//! released by the PaddleOCR project under Apache-2.0). `build.rs` checks each file's
//! SHA-256; a build without the files has `None` here (see `scripts/fetch-ocr-models.sh`).

include!(concat!(env!("OUT_DIR"), "/models.rs"));

/// The release of `rapidocr` the models come from.
pub const SOURCE: &str = "rapidocr 3.10.0 (PyPI)";
