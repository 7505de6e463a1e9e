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
mod error;
pub mod secret;
mod stream;

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::cancel::CancelToken;
use crate::engine::{
    request_channel, EngineError, GenerateRequest, Inference, Life, ModelInfo, Notify,
    PromptInput, ReplyEvent, ReplyHandle, StopScanner, Wake,
};
use crate::prompt::{Message, XGEN_TURN_MARKER};
use crate::tokenizer::XgenTextTokenizer;
use api::{Ask, Route};
pub use error::RemoteError;

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

/// The base URL of `url`: trimmed, without a trailing `/` or `/v1`.
///
/// # Errors
/// [`RemoteError::InvalidUrl`] for anything that is not an `http(s)://host[:port][/path]`.
pub fn normalize_url(url: &str) -> Result<String, RemoteError> {
    let invalid = |reason: &str| RemoteError::InvalidUrl {
        url: url.to_owned(),
        reason: reason.to_owned(),
    };
    let trimmed = url.trim().trim_end_matches('/');
    let base = trimmed.strip_suffix("/v1").unwrap_or(trimmed);
    let parsed = reqwest::Url::parse(base).map_err(|e| invalid(&e.to_string()))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(invalid("it must start with http:// or https://"));
    }
    if parsed.host_str().is_none_or(str::is_empty) {
        return Err(invalid("it names no host"));
    }
    if parsed.query().is_some() || parsed.fragment().is_some() {
        return Err(invalid("it must not carry a query or fragment"));
    }
    Ok(base.to_owned())
}

/// A warning for a plain-HTTP address that is not this computer: prompts, documents and the
/// API key would cross the network unencrypted.
#[must_use]
pub fn plain_http_warning(url: &str) -> Option<String> {
    let parsed = reqwest::Url::parse(url.trim()).ok()?;
    if parsed.scheme() != "http" {
        return None;
    }
    let host = parsed.host_str()?;
    let loopback = host.eq_ignore_ascii_case("localhost")
        || host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
    (!loopback).then(|| {
        "This server is reached over plain HTTP: your documents, chats and API key cross the network unencrypted. Use https:// unless the network is private and trusted.".to_owned()
    })
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
            engine.tokenizer = Some(
                XgenTextTokenizer::shared()
                    .map_err(|e| RemoteError::Runtime(e.to_string()))?,
            );
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
        let text = response
            .text()
            .await
            .map_err(|e| RemoteError::from_reqwest(url, &e, error::Phase::Connecting))?;
        if !status.is_success() {
            return Err(RemoteError::from_status(url, status.as_u16(), &text));
        }
        serde_json::from_str(&text)
            .map_err(|e| RemoteError::Protocol(format!("{path} did not answer JSON ({e})")))
    }

    async fn check(&self, config: &ServerConfig) -> Result<ServerInfo, RemoteError> {
        let mut info = self.info.clone();
        let listed = self
            .exchange(reqwest::Method::GET, "/v1/models", None)
            .await
            .map_err(|e| match e {
                RemoteError::Http { status: 404, .. } => RemoteError::Protocol(
                    "it has no /v1/models, so it is not an OpenAI-compatible server such as llama-server or vLLM".to_owned(),
                ),
                other => other,
            })?;
        let entries = listed
            .get("data")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        info.models = entries
            .iter()
            .filter_map(|m| m.get("id").and_then(Value::as_str).map(str::to_owned))
            .collect();
        let chosen = match config.model.as_deref().map(str::trim).filter(|m| !m.is_empty()) {
            Some(wanted) => entries.iter().find(|m| model_matches(m, wanted)).ok_or_else(|| {
                RemoteError::NoSuchModel {
                    model: wanted.to_owned(),
                    available: info.models.clone(),
                }
            })?,
            None => entries.first().ok_or_else(|| {
                RemoteError::Protocol("the server lists no model in /v1/models".to_owned())
            })?,
        };
        chosen
            .get("id")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .clone_into(&mut info.model);
        let meta = chosen.get("meta");
        let meta_u32 = |key: &str| {
            meta.and_then(|m| m.get(key))
                .and_then(Value::as_u64)
                .and_then(|n| u32::try_from(n).ok())
        };
        info.n_ctx_train = meta_u32("n_ctx_train");
        let max_model_len = chosen
            .get("max_model_len")
            .and_then(Value::as_u64)
            .and_then(|n| u32::try_from(n).ok());

        // llama-server answers /props (and wants the key for it); vLLM has none.
        let props = match self.exchange(reqwest::Method::GET, "/props", None).await {
            Ok(props) => Some(props),
            Err(e @ RemoteError::Unauthorized { .. }) => return Err(e),
            Err(_) => None,
        };
        if let Some(props) = props.filter(|p| p.get("total_slots").is_some()) {
            info.kind = ServerKind::LlamaServer;
            info.total_slots = props
                .get("total_slots")
                .and_then(Value::as_u64)
                .and_then(|n| usize::try_from(n).ok());
            info.n_ctx = props
                .pointer("/default_generation_settings/n_ctx")
                .and_then(Value::as_u64)
                .and_then(|n| u32::try_from(n).ok())
                .or_else(|| meta_u32("n_ctx"))
                .unwrap_or(0);
        } else {
            info.kind = ServerKind::OpenAi;
            info.n_ctx = max_model_len.unwrap_or(0);
        }
        info.xgen = self.is_xgen(&info, meta_u32("n_vocab")).await;
        if info.n_ctx == 0 {
            info.n_ctx = if info.xgen { 8192 } else { 4096 };
        }
        info.counts = if info.xgen {
            TokenCounts::Exact
        } else if self.server_counts(&info, "probe").await.is_ok() {
            TokenCounts::Server
        } else {
            TokenCounts::Estimated
        };
        info.parallel = config
            .parallel
            .filter(|n| *n > 0)
            .or(info.total_slots)
            .unwrap_or(1)
            .max(1);
        Ok(info)
    }

    /// XGen's vocabulary: ids 50295 and 50256 are `<fim_prefix>` and `<|endoftext|>`.
    async fn is_xgen(&self, info: &ServerInfo, n_vocab: Option<u32>) -> bool {
        if n_vocab.is_some_and(|n| n != 51200) {
            return false;
        }
        let body = json!({"tokens": [50295, 50256], "model": info.model});
        match self
            .exchange(reqwest::Method::POST, "/detokenize", Some(&body))
            .await
        {
            Ok(answer) => {
                let text = answer
                    .get("content")
                    .or_else(|| answer.get("prompt"))
                    .and_then(Value::as_str)
                    .unwrap_or_default();
                text == "<fim_prefix><|endoftext|>"
            }
            // A server without /detokenize: trust the model's name.
            Err(RemoteError::Http { status: 404, .. }) => {
                info.model.to_ascii_lowercase().contains("xgen")
            }
            Err(_) => false,
        }
    }

    /// Counts with the server's `/tokenize` (llama-server's or vLLM's form).
    async fn server_counts(&self, info: &ServerInfo, text: &str) -> Result<usize, RemoteError> {
        let body = match info.kind {
            ServerKind::LlamaServer => {
                json!({"content": text, "add_special": false, "parse_special": false})
            }
            ServerKind::OpenAi => {
                json!({"model": info.model, "prompt": text, "add_special_tokens": false})
            }
        };
        let answer = self
            .exchange(reqwest::Method::POST, "/tokenize", Some(&body))
            .await?;
        token_count(&answer)
    }

    /// Counts the prompt a conversation becomes on the server (its chat template).
    async fn server_prompt_counts(&self, messages: &[Message]) -> Result<usize, RemoteError> {
        let chat: Vec<Value> = messages
            .iter()
            .map(|m| json!({"role": m.role.as_str(), "content": m.content}))
            .collect();
        match self.info.kind {
            ServerKind::LlamaServer => {
                let body = json!({"messages": chat});
                let rendered = self
                    .exchange(reqwest::Method::POST, "/apply-template", Some(&body))
                    .await?;
                let prompt = rendered
                    .get("prompt")
                    .and_then(Value::as_str)
                    .ok_or_else(|| RemoteError::Protocol("/apply-template gave no prompt".into()))?;
                let body = json!({"content": prompt, "add_special": true, "parse_special": true});
                let answer = self
                    .exchange(reqwest::Method::POST, "/tokenize", Some(&body))
                    .await?;
                token_count(&answer)
            }
            ServerKind::OpenAi => {
                let body = json!({"model": self.info.model, "messages": chat});
                let answer = self
                    .exchange(reqwest::Method::POST, "/tokenize", Some(&body))
                    .await?;
                token_count(&answer)
            }
        }
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

/// A model entry of `/v1/models` is `wanted` by id, or (llama-server) by alias.
fn model_matches(entry: &Value, wanted: &str) -> bool {
    entry.get("id").and_then(Value::as_str) == Some(wanted)
        || entry
            .get("aliases")
            .and_then(Value::as_array)
            .is_some_and(|a| a.iter().any(|x| x.as_str() == Some(wanted)))
}

/// The number of tokens in a `/tokenize` answer (`tokens` array, or vLLM's `count`).
fn token_count(answer: &Value) -> Result<usize, RemoteError> {
    if let Some(n) = answer.get("count").and_then(Value::as_u64) {
        return usize::try_from(n).map_err(|e| RemoteError::Protocol(e.to_string()));
    }
    answer
        .get("tokens")
        .and_then(Value::as_array)
        .map(Vec::len)
        .ok_or_else(|| RemoteError::Protocol("/tokenize gave no tokens".to_owned()))
}

/// About 3 characters per token: more tokens than most text has, so plans made from it fit.
fn estimate(text: &str) -> usize {
    text.chars().count().div_ceil(3)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_normalized_or_refused_in_words() {
        assert_eq!(
            normalize_url(" http://h:8080/v1/ ").unwrap(),
            "http://h:8080"
        );
        assert_eq!(
            normalize_url("https://x.org/llm").unwrap(),
            "https://x.org/llm"
        );
        let err = normalize_url("gpu-box:8080").unwrap_err().to_string();
        assert!(err.contains("http://"), "{err}");
        assert!(normalize_url("ftp://h").is_err());
    }

    #[test]
    fn plain_http_warns_only_off_this_computer() {
        assert!(plain_http_warning("http://127.0.0.1:8080").is_none());
        assert!(plain_http_warning("http://localhost:8080").is_none());
        assert!(plain_http_warning("http://[::1]:8080").is_none());
        assert!(plain_http_warning("https://gpu.example.org").is_none());
        let warning = plain_http_warning("http://192.168.1.20:8080").unwrap();
        assert!(warning.contains("unencrypted"), "{warning}");
        assert!(plain_http_warning("http://gpu-box:8080").is_some());
    }

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
