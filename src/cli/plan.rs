//! `xgen-desk plan`: the memory plan for a model on this computer, with its reasons.

use anyhow::{Context, Result};

use super::args::ModelArgs;
use super::output;
use crate::engine::{Hardware, ModelFacts, PlanRequest};

/// Prints the plan, as text or JSON.
///
/// # Errors
/// An unreadable model header, or no configuration that fits.
pub fn run(args: &ModelArgs, assume_ram_gib: Option<f64>, json: bool) -> Result<()> {
    let path = args.resolve_model()?;
    let facts = ModelFacts::from_gguf(&path)?;
    let mut hardware = Hardware::detect();
    if let Some(gib) = assume_ram_gib {
        let bytes = (gib * f64::from(1u32 << 30)) as u64;
        hardware.ram_total = bytes;
        hardware.ram_available = bytes;
    }
    let request = PlanRequest::from_settings(&args.settings(), args.kv.is_some());
    let plan = crate::engine::plan(&facts, &hardware, &request)
        .with_context(|| format!("no memory plan for {}", path.display()))?;
    if json {
        output::line(&serde_json::to_string_pretty(&plan)?)
    } else {
        output::write(&plan.to_string())
    }
}
