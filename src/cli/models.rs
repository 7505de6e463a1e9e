//! The model commands: `fetch`, `convert`, `quantize`, `setup` and `models`.

use std::path::Path;
use std::time::Instant;

use anyhow::{Context, Result};

use super::args::setup_options;
use super::output;
use super::progress::StageProgress;
use crate::cancel::CancelToken;
use crate::catalog::{self, CatalogModel, ModelSource, QuantType};
use crate::hub::format_bytes;
use crate::pipeline;

fn catalog_model(id: Option<&str>) -> Result<&'static CatalogModel> {
    let Some(id) = id else {
        return Ok(catalog::default_model());
    };
    catalog::find(id).with_context(|| {
        let ids: Vec<&str> = catalog::catalog().iter().map(|m| m.id).collect();
        format!("{id:?} is not in the catalog (known: {})", ids.join(", "))
    })
}

/// `xgen-desk fetch`: a catalog checkpoint into the Hugging Face cache.
///
/// # Errors
/// An unknown model, or the download's error.
pub fn fetch(model: Option<&str>, offline: bool) -> Result<()> {
    let model = catalog_model(model)?;
    let options = setup_options(offline)?;
    let mut bar = StageProgress::new("download");
    let snapshot = pipeline::fetch(
        model,
        &options.hub,
        &mut |p| bar.pipeline(p),
        &CancelToken::new(),
    )
    .with_context(|| format!("could not fetch {}", model.id))?;
    bar.finish(&format!(
        "{} in {}",
        model.display_name,
        snapshot.dir.display()
    ));
    output::line(&snapshot.dir.display().to_string())
}

/// `xgen-desk convert`: a checkpoint directory to an F16 (or F32) GGUF.
///
/// # Errors
/// The converter's error.
pub fn convert(checkpoint: &Path, out: &Path, name: String, f32: bool) -> Result<()> {
    let options = xgen_quantize::ConvertOptions {
        out_type: if f32 {
            xgen_quantize::OutType::F32
        } else {
            xgen_quantize::OutType::F16
        },
        name,
        cancel: None,
    };
    let mut bar = StageProgress::new("convert");
    let summary = xgen_quantize::convert_checkpoint(checkpoint, out, &options, |p| {
        bar.show(p.bytes_done, p.bytes_total, &p.name);
    })
    .with_context(|| format!("could not convert {}", checkpoint.display()))?;
    bar.finish(&format!(
        "{} ({} tensors, {})",
        summary.path.display(),
        summary.tensor_count,
        format_bytes(summary.file_size)
    ));
    Ok(())
}

/// `xgen-desk quantize`: a GGUF to a smaller type with llama.cpp.
///
/// # Errors
/// llama.cpp's error.
pub fn quantize(input: &Path, out: &Path, quant: QuantType, threads: Option<usize>) -> Result<()> {
    let threads = threads.unwrap_or_else(crate::engine::hardware::default_threads);
    let started = Instant::now();
    let mut bar = StageProgress::new("quantize");
    let summary = xgen_quantize::quantize_gguf(input, out, quant, threads, |p| {
        bar.show(p.tensor_index as u64, p.tensor_count as u64, &p.name);
    })
    .with_context(|| format!("could not quantize {} to {quant}", input.display()))?;
    bar.finish(&format!(
        "{} ({} -> {}, {:.1} s)",
        summary.path.display(),
        format_bytes(summary.input_size),
        format_bytes(summary.output_size),
        started.elapsed().as_secs_f64()
    ));
    Ok(())
}

/// `xgen-desk setup`: download -> convert -> quantize -> verify -> install.
///
/// # Errors
/// The stage that failed, with its cause.
pub fn setup(model: Option<&str>, quant: QuantType, offline: bool) -> Result<()> {
    let spec = model.unwrap_or(catalog::DEFAULT_MODEL_ID);
    let source = ModelSource::parse(spec).with_context(|| {
        format!("{spec:?} is neither a catalog id, an existing GGUF file, nor owner/repo/file.gguf on the Hub")
    })?;
    let options = setup_options(offline)?;
    let mut bar = StageProgress::new("");
    let isolation = crate::isolate::Isolation::current()?;
    let cancel = CancelToken::new();
    let mut validate = |path: &Path| pipeline::validate_isolated(path, &isolation, &cancel);
    let outcome = pipeline::setup(
        &source,
        quant,
        &options,
        &mut validate,
        &mut |p| bar.pipeline(p),
        &CancelToken::new(),
    )
    .with_context(|| format!("setting up {spec} failed"))?;
    bar.finish("");
    let installed = outcome.model;
    eprintln!(
        "{} {} ({}, {}) at {}",
        if outcome.already_installed {
            "already installed:"
        } else {
            "installed"
        },
        installed.display_name,
        installed.quantization,
        format_bytes(installed.size_bytes),
        installed.path.display()
    );
    output::line(&installed.path.display().to_string())
}

/// `xgen-desk models`: the catalog and what is installed.
///
/// # Errors
/// An unreadable registry.
pub fn list() -> Result<()> {
    let options = setup_options(false)?;
    let mut text = String::from("Catalog:\n");
    for model in catalog::catalog() {
        text.push_str(&format!(
            "  {:<18} {:<28} download {:>9}, {} tokens of context\n",
            model.id,
            model.repo,
            format_bytes(model.download_size()),
            model.context_length
        ));
    }
    let installed = options
        .registry()
        .list()
        .context("could not read the installed-models list")?;
    text.push_str(&format!(
        "Installed ({}):\n",
        options.paths.registry_file().display()
    ));
    if installed.is_empty() {
        text.push_str("  none yet: run `xgen-desk setup`\n");
    }
    for model in installed {
        text.push_str(&format!(
            "  {:<28} {:<8} {:>9}  {}\n",
            model.id,
            model.quantization,
            format_bytes(model.size_bytes),
            model.path.display()
        ));
    }
    output::write(&text)
}
