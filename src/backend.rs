//! Where replies come from: the local engine thread, an inference server, or (while a local
//! XGen model loads) only XGen's tokenizer. Each answers through [`Inference`] with the same
//! request handles, so the app, the CLI and the summarizer hold a [`Backend`] and do not care
//! which one answers.

use std::sync::Arc;

use crate::engine::{Engine, Inference};
use crate::remote::RemoteEngine;
use crate::tokenizer::XgenTextTokenizer;

/// A shared handle to whatever answers: cheap to clone into a job thread.
#[derive(Clone)]
pub enum Backend {
    /// The engine thread of this process.
    Local(Arc<Engine>),
    /// An inference server.
    Remote(Arc<RemoteEngine>),
    /// XGen's tokenizer alone, while a local XGen model loads: counts exactly, answers nothing.
    Tokenizer(Arc<XgenTextTokenizer>),
}

/// A backend is used as the [`Inference`] it holds (`backend.generate(..)`, or `&backend`
/// where a `&dyn Inference` is wanted).
impl std::ops::Deref for Backend {
    type Target = dyn Inference;

    fn deref(&self) -> &Self::Target {
        match self {
            Self::Local(engine) => engine.as_ref(),
            Self::Remote(remote) => remote.as_ref(),
            Self::Tokenizer(tokenizer) => tokenizer.as_ref(),
        }
    }
}
