//! The connection check: what the server is (llama-server or another OpenAI-compatible
//! server), which model it serves, whether that model is XGen, how long a request may be, how
//! many it answers at once, and how tokens are counted for it.

use serde_json::{json, Value};

use super::{RemoteEngine, RemoteError, ServerConfig, ServerInfo, ServerKind, TokenCounts};
use crate::prompt::Message;

/// How long the plain TCP connection that tells a TLS problem from an unreachable server may
/// take.
const PROBE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(3);

impl RemoteEngine {
    pub(super) async fn check(&self, config: &ServerConfig) -> Result<ServerInfo, RemoteError> {
        let mut info = self.info.clone();
        let listed = match self
            .exchange(reqwest::Method::GET, "/v1/models", None)
            .await
        {
            Ok(listed) => listed,
            Err(RemoteError::Http { status: 404, .. }) => {
                return Err(RemoteError::Protocol(
                    "it has no /v1/models, so it is not an OpenAI-compatible server such as llama-server or vLLM".to_owned(),
                ))
            }
            Err(e @ RemoteError::Unreachable { .. }) => return Err(self.why_unreachable(e).await),
            Err(other) => return Err(other),
        };
        let entries = listed
            .get("data")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        info.models = entries
            .iter()
            .filter_map(|m| m.get("id").and_then(Value::as_str).map(str::to_owned))
            .collect();
        let chosen = match config
            .model
            .as_deref()
            .map(str::trim)
            .filter(|m| !m.is_empty())
        {
            Some(wanted) => entries
                .iter()
                .find(|m| model_matches(m, wanted))
                .ok_or_else(|| RemoteError::NoSuchModel {
                    model: wanted.to_owned(),
                    available: info.models.clone(),
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

    /// An `https://` address that could not be reached although something listens there is a
    /// TLS problem: a plain HTTP server reads the TLS greeting as the start of a request and
    /// waits for the rest, so the handshake times out instead of failing.
    async fn why_unreachable(&self, error: RemoteError) -> RemoteError {
        let RemoteError::Unreachable { url, .. } = &error else {
            return error;
        };
        let Ok(parsed) = reqwest::Url::parse(url) else {
            return error;
        };
        let (Some(host), Some(port)) = (parsed.host_str(), parsed.port_or_known_default()) else {
            return error;
        };
        if parsed.scheme() != "https" {
            return error;
        }
        let host = host.trim_start_matches('[').trim_end_matches(']');
        let probe =
            tokio::time::timeout(PROBE_TIMEOUT, tokio::net::TcpStream::connect((host, port))).await;
        if matches!(probe, Ok(Ok(_))) {
            RemoteError::Tls {
                url: url.clone(),
                detail: "the port answers but no TLS handshake completed in time, so it may be a plain HTTP server".to_owned(),
            }
        } else {
            error
        }
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
    pub(super) async fn server_counts(
        &self,
        info: &ServerInfo,
        text: &str,
    ) -> Result<usize, RemoteError> {
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
    pub(super) async fn server_prompt_counts(
        &self,
        messages: &[Message],
    ) -> Result<usize, RemoteError> {
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
                    .ok_or_else(|| {
                        RemoteError::Protocol("/apply-template gave no prompt".into())
                    })?;
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
