//! `xgen-desk chat`: a conversation on standard input, one message per line.

use std::io::{BufRead, IsTerminal};

use anyhow::{Context, Result};

use super::args::{ModelArgs, SamplingArgs, ServerArgs};
use super::{open_backend, output, print_timings};
use crate::engine::{EngineError, GenerateRequest, ReplyEvent};
use crate::prompt::Message;

/// Runs the chat until `/exit` or the end of standard input.
///
/// # Errors
/// A model that does not load, or standard input/output failing.
pub fn run(
    system: Option<String>,
    model: &ModelArgs,
    server: &ServerArgs,
    sampling: &SamplingArgs,
) -> Result<()> {
    let (engine, info) = open_backend(model, server)?;
    let interactive = std::io::stdin().is_terminal();
    if interactive {
        eprintln!(
            "{} loaded ({} tokens of context). /reset starts over, /exit quits.",
            info.name, info.n_ctx
        );
    }
    let mut history: Vec<Message> = system.into_iter().map(Message::system).collect();
    let first_user = history.len();
    for line in std::io::stdin().lock().lines() {
        let line = line.context("could not read standard input")?;
        let line = line.trim();
        match line {
            "" => continue,
            "/exit" | "/quit" => break,
            "/reset" => {
                history.truncate(first_user);
                continue;
            }
            _ => {}
        }
        history.push(Message::user(line));
        let reply = engine.generate(GenerateRequest::chat(history.clone(), sampling.sampling()));
        let cancel = reply.cancel_token();
        let mut write_error = None;
        let result = reply.wait_with(|event| {
            if let (ReplyEvent::Text(text), None) = (event, &write_error) {
                if let Err(e) = output::write(text) {
                    write_error = Some(e);
                    cancel.cancel();
                }
            }
        });
        if let Some(error) = write_error {
            return Err(error);
        }
        output::line("")?;
        match result {
            Ok(finished) => {
                print_timings(&finished.timings, sampling.quiet);
                history.push(Message::assistant(finished.text));
            }
            // Nothing more can be answered without an engine.
            Err(err @ EngineError::Stopped(_)) => return Err(err.into()),
            Err(err) => {
                history.pop();
                eprintln!("error: {}", crate::error_text::chain(&err));
            }
        }
    }
    Ok(())
}
