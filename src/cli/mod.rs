//! The headless commands (`main.rs` opens the desktop app when there is none).
//!
//! [`args`] holds what clap parses and turns flags into the settings the rest trusts; each
//! command has a file of its own; `progress` and [`output`] are the terminal as a UI (bars on
//! stderr, results on stdout, a closed stdout is a normal end).

pub mod args;
mod ask;
mod bench;
mod chat;
mod check;
mod extract;
mod models;
pub mod output;
mod plan;
mod progress;
mod sources_out;
mod summarize;
mod verify;

use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, Result};

use crate::backend::Backend;
use crate::engine::{Engine, ModelInfo, Timings};
use crate::remote::{RemoteEngine, ServerInfo, ServerKind, TokenCounts};
use args::{Commands, ModelArgs, ServerArgs};

/// The exit code for how a command (or the app) ended: 0, 1 for an error (printed with its
/// whole chain), 2 when `summarize` of several documents could summarize only some of them, 3
/// when `verify` finds sentences the document does not support. A
/// reader that closed standard output early ended nothing badly.
#[must_use]
pub fn exit_code(result: Result<()>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) if output::is_closed_stdout(&err) => ExitCode::SUCCESS,
        Err(err) if err.is::<summarize::SomeFailed>() => {
            eprintln!("error: {}", crate::error_text::chain(err.as_ref()));
            ExitCode::from(summarize::SOME_FAILED_EXIT_CODE)
        }
        Err(err) if err.is::<sources_out::Unsupported>() => {
            eprintln!("{}", crate::error_text::chain(err.as_ref()));
            ExitCode::from(sources_out::UNSUPPORTED_EXIT_CODE)
        }
        Err(err) => {
            eprintln!("error: {}", crate::error_text::chain(err.as_ref()));
            ExitCode::FAILURE
        }
    }
}

/// What is logged when `XGEN_DESK_LOG` does not say: warnings, but not those of the libraries
/// that read documents. lopdf logs every damaged object it skips ("ERROR lopdf::reader:
/// Object load error") and pdf-extract, the page renderer and the OCR runtime what they do not
/// support; the readers recover from all of it and say what matters in their own words, so on
/// a terminal those lines were noise beside the real message.
const DEFAULT_LOG: &str = "warn,llama_cpp_2=error,llama-cpp-2=error,lopdf=off,pdf_extract=off,\
    hayro=off,hayro_syntax=off,hayro_interpret=off,hayro_font=off,hayro_jbig2=off,\
    hayro_jpeg2000=off,hayro_ccitt=off,vello_cpu=off,vello_common=off,rten=off";

/// Logs go to stderr through `XGEN_DESK_LOG` (an `EnvFilter`), llama.cpp's with them.
pub fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("XGEN_DESK_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(DEFAULT_LOG));
    // Fails only when a subscriber is already installed, which is then the one to use.
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init()
        .ok();
    // llama.cpp's own log (model loading, quantization's per-tensor lines) goes through the
    // filter above instead of straight to stderr, where it would bury the progress lines.
    crate::engine::runtime::route_logs();
}

/// Runs one subcommand.
///
/// # Errors
/// Whatever stopped the command, with context.
pub fn run(command: Commands) -> Result<()> {
    match command {
        Commands::Summarize {
            files,
            out,
            style,
            sources,
            json,
            model,
            server,
            sampling,
        } => summarize::run_all(
            &files,
            out.as_deref(),
            style,
            &model,
            &server,
            &sampling,
            summarize::Checked { sources, json },
        ),
        Commands::Ask(args) => ask::run(&args),
        Commands::Verify(args) => verify::run(&args),
        Commands::Extract(args) => extract::run(&args),
        Commands::Check(args) => check::run(&args),
        Commands::Chat {
            system,
            model,
            server,
            sampling,
        } => chat::run(system, &model, &server, &sampling),
        Commands::Bench {
            prompt_tokens,
            gen_tokens,
            repetitions,
            json,
            model,
        } => bench::run(&bench::BenchArgs {
            prompt_tokens,
            gen_tokens,
            repetitions,
            json,
            model: &model,
        }),
        Commands::Fetch { model, offline } => models::fetch(model.as_deref(), offline),
        Commands::Convert {
            checkpoint,
            out,
            name,
            f32,
        } => models::convert(&checkpoint, &out, name, f32),
        Commands::Quantize {
            input,
            out,
            quant,
            threads,
        } => models::quantize(&input, &out, quant, threads),
        Commands::Setup {
            model,
            quant,
            offline,
        } => models::setup(model.as_deref(), quant, offline),
        Commands::Models => models::list(),
        Commands::Plan {
            model,
            assume_ram_gib,
            json,
        } => plan::run(&model, assume_ram_gib, json),
    }
}

/// Starts the engine with the model `args` name, planned to fit this computer; prints the
/// plan's one line on stderr.
fn open_engine(args: &ModelArgs) -> Result<(Engine, ModelInfo)> {
    let path = args.resolve_model()?;
    let (engine, info) = Engine::open(&path, args.settings(), args.planning())
        .with_context(|| format!("could not load {}", path.display()))?;
    if let Some(plan) = &info.plan {
        eprintln!("[plan] {}", plan.summary());
    }
    Ok((engine, info))
}

/// The server `server` names when one is given, else the local engine with the model `model`
/// names; prints what was chosen on stderr.
fn open_backend(model: &ModelArgs, server: &ServerArgs) -> Result<(Backend, ModelInfo)> {
    let Some(config) = server.config()? else {
        let (engine, info) = open_engine(model)?;
        return Ok((Backend::Local(Arc::new(engine)), info));
    };
    let remote = RemoteEngine::connect(&config)
        .with_context(|| format!("could not use the server {}", config.url))?;
    if let Some(warning) = &remote.info().warning {
        eprintln!("warning: {warning}");
    }
    eprintln!("[server] {}", describe_server(remote.info()));
    let info = remote.model_info();
    Ok((Backend::Remote(Arc::new(remote)), info))
}

/// One line about a server in use.
fn describe_server(info: &ServerInfo) -> String {
    format!(
        "{} on {} ({}): {} tokens per request, {} request{} at a time, {}",
        info.model,
        info.url,
        match info.kind {
            ServerKind::LlamaServer => "llama-server",
            ServerKind::OpenAi => "OpenAI-compatible",
        },
        info.n_ctx,
        info.parallel,
        if info.parallel == 1 { "" } else { "s" },
        match info.counts {
            TokenCounts::Exact => "XGen prompt format, exact token counts",
            TokenCounts::Server => "the server's chat template and token counts",
            TokenCounts::Estimated => "the server's chat template, token counts estimated",
        }
    )
}

fn print_timings(timings: &Timings, quiet: bool) {
    if quiet {
        return;
    }
    let drafts = if timings.drafted > 0 {
        format!(
            " · {} of {} drafted tokens kept",
            timings.draft_accepted, timings.drafted
        )
    } else {
        String::new()
    };
    let threads = timings
        .threads
        .describe()
        .map(|t| format!(" · {t}"))
        .unwrap_or_default();
    eprintln!(
        "[prompt {} tokens ({} read, {:.1} tok/s) · first token {:.2} s · {} tokens at {:.1} tok/s{drafts}{threads}]",
        timings.prompt_tokens,
        timings.prompt_evaluated,
        timings.prefill_tok_per_sec(),
        timings.ttft_secs,
        timings.generated_tokens,
        timings.generation_tok_per_sec()
    );
}
