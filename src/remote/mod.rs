//! An inference server as the engine: llama.cpp's `llama-server` (which loads the GGUF
//! xgen-desk makes) or vLLM (the original checkpoint, on several GPUs), answering the same
//! requests with the same handles as the local engine.
//!
//! [`RemoteEngine::connect`] checks the server (address, TLS, API key, model), learns what it
//! is (llama-server's `/props`: slots and context per slot; `/v1/models`) and whether the model
//! is XGen (`/detokenize` of `<fim_prefix><|endoftext|>`). XGen prompts are written and
//! tokenized here, with the exact tokenizer ([`crate::tokenizer`]), and sent as token ids
//! (llama-server's `/completion`, or `/v1/completions`): the server reads exactly what the local
//! engine would, with the same stop marker, and a document that spells `<|endoftext|>` stays
//! text. Other models go through `/v1/chat/completions` with the server's chat template; their
//! tokens are counted by the server's `/tokenize`, or estimated where it has none.
//!
//! Each reply is a task on a small runtime of the engine's own; its events go to the request's
//! handle ([`crate::engine::ReplyHandle`]), and its cancel flag drops the connection, which
//! stops the server.

mod api;
mod check;
mod error;
mod preread;
pub mod secret;
mod stream;
mod url;

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::cancel::CancelToken;
use crate::engine::{
    request_channel, EngineError, GenerateRequest, Inference, Life, ModelInfo, Notify,
    PrereadHandle, PrereadRequest, PromptInput, ReplyEvent, ReplyHandle, StopScanner, Wake,
};
use crate::prompt::{Message, XGEN_TURN_MARKER};
use crate::tokenizer::XgenTextTokenizer;
use api::{Ask, Route};
pub use error::RemoteError;
pub use url::{normalize_url, plain_http_warning};

/// How long a connection may take to open.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a check or a count may take.
const CHECK_TIMEOUT: Duration = Duration::from_secs(60);

/// Where a server is and how to use it (the API key is never written to settings files).
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServerConfig {
    /// Base URL, e.g. `http://gpu-box:8080` (a trailing `/v1` is accepted).
    pub url: String,
    /// The API key, if the server wants one.
    #[serde(skip)]
    pub api_key: Option<String>,
    /// The model to use; `None` takes the first the server lists.
    #[serde(default)]
    pub model: Option<String>,
    /// Parts of a long document summarized at the same time; `None` uses the server's slots
    /// (llama-server's `total_slots`), or 1.
    #[serde(default)]
    pub parallel: Option<usize>,
}

impl std::fmt::Debug for ServerConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerConfig")
            .field("url", &self.url)
            .field("api_key", &self.api_key.as_ref().map(|_| "(set)"))
            .field("model", &self.model)
            .field("parallel", &self.parallel)
            .finish()
    }
}

/// Which server software answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ServerKind {
    /// llama.cpp's `llama-server`.
    LlamaServer,
    /// Another OpenAI-compatible server (vLLM).
    OpenAi,
}

/// How tokens are counted for this server's model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum TokenCounts {
    /// XGen's exact tokenizer, here.
    Exact,
    /// The server's `/tokenize`.
    Server,
    /// About 3 characters a token: the server cannot tokenize.
    Estimated,
}

/// What a connection check found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServerInfo {
    /// The base URL used.
    pub url: String,
    /// The server software.
    pub kind: ServerKind,
    /// The models it lists.
    pub models: Vec<String>,
    /// The model used.
    pub model: String,
    /// Context per request in tokens (per slot on llama-server).
    pub n_ctx: u32,
    /// Context the model was trained for, when the server says.
    pub n_ctx_train: Option<u32>,
    /// True when the model uses XGen's vocabulary (and so its prompt format).
    pub xgen: bool,
    /// llama-server's slots (requests it answers at once).
    pub total_slots: Option<usize>,
    /// Parts of a document summarized at the same time.
    pub parallel: usize,
    /// How tokens are counted.
    pub counts: TokenCounts,
    /// A warning to show (plain HTTP over the network).
    pub warning: Option<String>,
}

/// An inference server used as the engine.
pub struct RemoteEngine {
    runtime: Option<tokio::runtime::Runtime>,
    client: reqwest::Client,
    api_key: Option<String>,
    info: ServerInfo,
    tokenizer: Option<Arc<XgenTextTokenizer>>,
    next_id: AtomicU64,
    notify: Notify,
    life: Arc<Life>,
}

impl std::fmt::Debug for RemoteEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RemoteEngine")
            .field("info", &self.info)
            .finish_non_exhaustive()
    }
}

impl RemoteEngine {
    /// Checks the server and connects to it.
    ///
    /// # Errors
    /// What is wrong, in words: [`RemoteError::Unreachable`], [`RemoteError::Tls`],
    /// [`RemoteError::Unauthorized`], [`RemoteError::NoSuchModel`], ...
    pub fn connect(config: &ServerConfig) -> Result<Self, RemoteError> {
        Self::connect_with_notify(config, |_| {})
    }

    /// [`RemoteEngine::connect`]; `notify` is called after every event of every request (a
    /// UI wakes itself up there).
    ///
    /// # Errors
    /// As [`RemoteEngine::connect`].
    pub fn connect_with_notify(
        config: &ServerConfig,
        notify: impl Fn(Wake) + Send + Sync + 'static,
    ) -> Result<Self, RemoteError> {
        let url = normalize_url(&config.url)?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("xgen-remote")
            .enable_all()
            .build()
            .map_err(|e| RemoteError::Runtime(e.to_string()))?;
        let client = reqwest::Client::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .build()
            .map_err(|e| RemoteError::Runtime(e.to_string()))?;
        let mut engine = Self {
            runtime: None,
            client,
            api_key: config.api_key.clone().filter(|k| !k.is_empty()),
            info: ServerInfo {
                url: url.clone(),
                kind: ServerKind::OpenAi,
                models: Vec::new(),
                model: String::new(),
                n_ctx: 0,
                n_ctx_train: None,
                xgen: false,
                total_slots: None,
                parallel: 1,
                counts: TokenCounts::Estimated,
                warning: plain_http_warning(&url),
            },
            tokenizer: None,
            next_id: AtomicU64::new(1),
            notify: Arc::new(notify),
            life: Arc::new(Life::default()),
        };
        let info = runtime.block_on(engine.check(config))?;
        if info.xgen {
            engine.tokenizer =
                Some(XgenTextTokenizer::shared().map_err(|e| RemoteError::Runtime(e.to_string()))?);
        }
        engine.info = info;
        engine.runtime = Some(runtime);
        Ok(engine)
    }

    /// What the connection check found.
    #[must_use]
    pub fn info(&self) -> &ServerInfo {
        &self.info
    }

    /// The model as the app and the CLI show it.
    #[must_use]
    pub fn model_info(&self) -> ModelInfo {
        let info = &self.info;
        ModelInfo {
            path: PathBuf::new(),
            name: info.model.clone(),
            n_ctx_train: info.n_ctx_train.unwrap_or(info.n_ctx),
            n_ctx: info.n_ctx,
            n_vocab: if info.xgen { 51200 } else { 0 },
            n_params: 0,
            size_bytes: 0,
            xgen: info.xgen,
            threads: (0, 0),
            adaptive_threads: false,
            gpu_layers: 0,
            gpu_backend: None,
            plan: None,
            server: Some(info.url.clone()),
        }
    }

    fn request(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        let request = self
            .client
            .request(method, format!("{}{path}", self.info.url));
        match &self.api_key {
            Some(key) => request.bearer_auth(key),
            None => request,
        }
    }

    /// A JSON exchange that must succeed (checks and counts).
    async fn exchange(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Value, RemoteError> {
        let mut request = self.request(method, path).timeout(CHECK_TIMEOUT);
        if let Some(body) = body {
            request = with_json(request, body);
        }
        let url = &self.info.url;
        let response = request
            .send()
            .await
            .map_err(|e| RemoteError::from_reqwest(url, &e, error::Phase::Connecting))?;
        let status = response.status();
        let (text, more) = stream::body_text(response, stream::MAX_BODY_BYTES)
            .await
            .map_err(|e| RemoteError::from_reqwest(url, &e, error::Phase::Connecting))?;
        if !status.is_success() {
            return Err(RemoteError::from_status(url, status.as_u16(), &text));
        }
        if more {
            return Err(RemoteError::Protocol(format!(
                "{path} answered more than {} MiB, far more than its answer should be",
                stream::MAX_BODY_BYTES >> 20
            )));
        }
        serde_json::from_str(&text)
            .map_err(|e| RemoteError::Protocol(format!("{path} did not answer JSON ({e})")))
    }

    fn block_on<F: std::future::Future>(&self, future: F) -> Result<F::Output, EngineError> {
        match &self.runtime {
            Some(runtime) => Ok(runtime.block_on(future)),
            None => Err(self.life.stopped_error()),
        }
    }

    /// The request, the route and the prompt's length (when counted here) for a reply.
    fn prepare(
        &self,
        request: &GenerateRequest,
    ) -> Result<(reqwest::RequestBuilder, Route, Option<usize>), EngineError> {
        let stops = if self.info.xgen {
            vec![format!("\n{XGEN_TURN_MARKER}")]
        } else {
            Vec::new()
        };
        let llama_server = self.info.kind == ServerKind::LlamaServer;
        let ask = Ask {
            model: &self.info.model,
            sampling: &request.sampling,
            stops: &stops,
            ignore_eos: request.ignore_end_of_turn,
            llama_server,
        };
        let ids = match (&request.prompt, &self.tokenizer) {
            (PromptInput::Chat(messages), Some(tokenizer)) => Some(tokenizer.prompt_ids(messages)),
            (PromptInput::Chat(_), None) => None,
            (PromptInput::Tokens(ids), _) => Some(
                ids.iter()
                    .map(|&id| u32::try_from(id).unwrap_or_default())
                    .collect(),
            ),
        };
        let (route, body) = match (&ids, &request.prompt) {
            (Some(ids), _) if llama_server => (Route::Native, api::native_body(ids, &ask)),
            (Some(ids), _) => (Route::Completions, api::completions_body(ids, &ask)),
            (None, PromptInput::Chat(messages)) => (Route::Chat, api::chat_body(messages, &ask)),
            (None, PromptInput::Tokens(_)) => {
                return Err(EngineError::Decode("no prompt to send".to_owned()))
            }
        };
        let prompt_tokens = ids.as_ref().map(Vec::len);
        if let Some(prompt_tokens) = prompt_tokens {
            let reserved = request.sampling.max_tokens as usize;
            let n_ctx = self.info.n_ctx as usize;
            if prompt_tokens == 0 || prompt_tokens + reserved > n_ctx {
                return Err(EngineError::PromptTooLong {
                    prompt_tokens,
                    reserved,
                    n_ctx,
                });
            }
        }
        let http = with_json(self.request(reqwest::Method::POST, route.path()), &body);
        Ok((http, route, prompt_tokens))
    }
}

impl Inference for RemoteEngine {
    fn generate_with_cancel(&self, request: GenerateRequest, cancel: CancelToken) -> ReplyHandle {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let (outbox, handle) =
            request_channel(id, cancel, Arc::clone(&self.notify), Arc::clone(&self.life));
        let Some(runtime) = &self.runtime else {
            outbox.send(ReplyEvent::Failed(self.life.stopped_error()));
            return handle;
        };
        match self.prepare(&request) {
            Ok((http, route, prompt_tokens)) => {
                let scanner = StopScanner::new(
                    if self.info.xgen {
                        vec![format!("\n{XGEN_TURN_MARKER}")]
                    } else {
                        Vec::new()
                    },
                    self.info.xgen,
                );
                let reply = stream::Reply::new(
                    outbox,
                    route,
                    scanner,
                    self.info.url.clone(),
                    prompt_tokens,
                );
                runtime.spawn(reply.run(http));
            }
            Err(error) => outbox.send(ReplyEvent::Failed(error)),
        }
        handle
    }

    fn count_tokens(&self, text: &str) -> Result<usize, EngineError> {
        if let Some(tokenizer) = &self.tokenizer {
            return Ok(tokenizer.count(text));
        }
        match self.info.counts {
            TokenCounts::Estimated => Ok(estimate(text)),
            _ => Ok(self.block_on(self.server_counts(&self.info, text))??),
        }
    }

    fn count_prompt_tokens(&self, messages: &[Message]) -> Result<usize, EngineError> {
        if let Some(tokenizer) = &self.tokenizer {
            return Ok(tokenizer.prompt_ids(messages).len());
        }
        match self.info.counts {
            TokenCounts::Estimated => Ok(messages
                .iter()
                .map(|m| estimate(&m.content) + 8)
                .sum::<usize>()
                + 8),
            _ => Ok(self.block_on(self.server_prompt_counts(messages))??),
        }
    }

    fn preread(&self, request: PrereadRequest) -> PrereadHandle {
        self.preread_on_server(&request)
    }

    fn stopped(&self) -> Option<String> {
        self.life.ended()
    }

    fn parallel_slots(&self) -> usize {
        self.info.parallel
    }

    fn exact_counts(&self) -> bool {
        self.info.counts != TokenCounts::Estimated
    }
}

impl Drop for RemoteEngine {
    fn drop(&mut self) {
        self.life
            .end("the connection to the server was closed".to_owned());
        // Replies still streaming end with the reason above; nothing waits for them.
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

fn with_json(request: reqwest::RequestBuilder, body: &Value) -> reqwest::RequestBuilder {
    request
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .body(body.to_string())
}

/// About 3 characters per token: more tokens than most text has, so plans made from it fit.
fn estimate(text: &str) -> usize {
    text.chars().count().div_ceil(3)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_api_key_never_shows_in_debug_or_json() {
        let config = ServerConfig {
            url: "http://h".into(),
            api_key: Some("sekret".into()),
            ..ServerConfig::default()
        };
        assert!(!format!("{config:?}").contains("sekret"));
        assert!(!serde_json::to_string(&config).unwrap().contains("sekret"));
    }
}
