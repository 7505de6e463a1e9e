//! Reading a document ahead on a server. llama-server keeps the prompt it last read in each
//! slot and reuses the longest common start of the next one (`cache_prompt`), and it gives a
//! new request the idle slot whose cache shares most with it. So a `/completion` of the
//! document's prefix that asks for no tokens (`n_predict: 0`; the server stops after one)
//! leaves the document read in a slot, and the first question or summary about it only reads
//! what follows. That moves the wait from the first answer to the time the person spends
//! looking at the document, as the local engine's read-ahead does.
//!
//! Only where the prompt is known token for token here: XGen on llama-server, whose prompt is
//! rendered and tokenized by xgen-desk. A model behind `/v1/chat/completions` is rendered by
//! the server's template, and vLLM's OpenAI API cannot ask for zero tokens; there the
//! read-ahead ends at once and the server's own prefix cache does the rest on the first
//! request.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use serde_json::{json, Value};

use super::stream::{unless_cancelled, SseLine, SseLines};
use super::{with_json, RemoteEngine, RemoteError, ServerKind};
use crate::engine::{
    ended_at_once, request_channel, CachePrefix, EngineError, Outbox, PrereadEvent, PrereadHandle,
    PrereadRequest,
};
use crate::prompt::Message;
use crate::tokenizer::XgenTextTokenizer;

impl RemoteEngine {
    /// Reads the document prefix of `request` into one of the server's slots (see the module
    /// documentation); ends at once, having read nothing, where that cannot be done.
    pub(super) fn preread_on_server(&self, request: &PrereadRequest) -> PrereadHandle {
        let nothing = || {
            ended_at_once(PrereadEvent::Done {
                done: 0,
                total: 0,
                restored: 0,
            })
        };
        let (Some(tokenizer), Some(runtime)) = (&self.tokenizer, &self.runtime) else {
            return nothing();
        };
        if self.info.kind != ServerKind::LlamaServer {
            return nothing();
        }
        let Some(ids) = document_prefix(tokenizer, request.prefix, &request.messages) else {
            return nothing();
        };
        let total = ids.len();
        if total == 0 || total >= self.info.n_ctx as usize {
            return nothing();
        }
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let (outbox, handle) = request_channel(
            id,
            crate::cancel::CancelToken::new(),
            Arc::clone(&self.notify),
            Arc::clone(&self.life),
        );
        let body = json!({
            "prompt": ids,
            "n_predict": 0,
            "cache_prompt": true,
            "stream": true,
            "return_progress": true,
        });
        let http = with_json(self.request(reqwest::Method::POST, "/completion"), &body);
        let url = self.info.url.clone();
        runtime.spawn(async move {
            let mut progress = (0, total, 0);
            let event = match read_ahead(&outbox, http, &url, &mut progress).await {
                Ok(()) => PrereadEvent::Done {
                    done: progress.0,
                    total: progress.1,
                    restored: progress.2,
                },
                Err(error) => PrereadEvent::Failed(EngineError::Remote(error)),
            };
            outbox.send(event);
        });
        handle
    }
}

/// Streams the read-ahead, updating `progress` (tokens read, tokens, tokens the server had
/// cached) and sending it; returns when the server has read the prompt, or when cancelled.
async fn read_ahead(
    outbox: &Outbox<PrereadEvent>,
    http: reqwest::RequestBuilder,
    url: &str,
    progress: &mut (usize, usize, usize),
) -> Result<(), RemoteError> {
    let Some(sent) = unless_cancelled(outbox, http.send()).await else {
        return Ok(());
    };
    let mut response =
        sent.map_err(|e| RemoteError::from_reqwest(url, &e, super::error::Phase::Connecting))?;
    let status = response.status();
    if !status.is_success() {
        let body = unless_cancelled(
            outbox,
            super::stream::body_text(response, super::stream::MAX_BODY_BYTES),
        )
        .await
        .and_then(Result::ok)
        .unwrap_or_default()
        .0;
        return Err(RemoteError::from_status(url, status.as_u16(), &body));
    }
    let mut lines = SseLines::default();
    loop {
        let Some(next) = unless_cancelled(outbox, response.chunk()).await else {
            return Ok(());
        };
        let bytes = match next {
            Ok(Some(bytes)) => bytes,
            Ok(None) => {
                return Err(RemoteError::Dropped {
                    detail: "the server closed the stream before it had read the document"
                        .to_owned(),
                })
            }
            Err(e) => {
                return Err(RemoteError::from_reqwest(
                    url,
                    &e,
                    super::error::Phase::Streaming,
                ))
            }
        };
        for line in lines.push(&bytes).map_err(RemoteError::Protocol)? {
            let data = match line {
                SseLine::Data(data) => data,
                SseLine::Error(text) => {
                    return Err(RemoteError::Http {
                        status: 500,
                        message: super::error::server_message(&text),
                    })
                }
                SseLine::Done => return Ok(()),
            };
            let Ok(value) = serde_json::from_str::<Value>(&data) else {
                continue;
            };
            if let Some(p) = value.get("prompt_progress") {
                let count = |key: &str| {
                    p.get(key)
                        .and_then(Value::as_u64)
                        .and_then(|n| usize::try_from(n).ok())
                };
                if let (Some(processed), Some(total)) = (count("processed"), count("total")) {
                    *progress = (processed, total, count("cache").unwrap_or(0));
                    outbox.send(PrereadEvent::Progress {
                        done: processed,
                        total,
                    });
                }
            }
            if value.get("stop").and_then(Value::as_bool) == Some(true) {
                progress.0 = progress.1;
                return Ok(());
            }
        }
    }
}

/// The tokens `spec` names in the XGen prompt of `messages`, as the local engine finds them
/// ([`CachePrefix::tokens`] over XGen's rendering).
fn document_prefix(
    tokenizer: &XgenTextTokenizer,
    spec: CachePrefix,
    messages: &[Message],
) -> Option<Vec<u32>> {
    spec.tokens(messages, |m| Some(tokenizer.prompt_ids(m)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_document_prefix_ends_where_requests_about_it_differ() {
        let tokenizer = XgenTextTokenizer::shared().unwrap();
        let document = "The tide rose twice that day, and the harbour flooded.";
        let content = format!("{document}\n\nSummarize the text above.");
        let messages = vec![Message::user(content)];
        let spec = CachePrefix::Document {
            message: 0,
            bytes: document.len(),
        };
        let prefix = document_prefix(&tokenizer, spec, &messages).unwrap();
        let whole = tokenizer.prompt_ids(&messages);
        assert!(!prefix.is_empty() && prefix.len() < whole.len());
        assert_eq!(
            &whole[..prefix.len()],
            &prefix[..],
            "a prefix of the real prompt"
        );
        let only_document = tokenizer.prompt_ids(&[Message::user(document)]);
        // All of the document's prompt but its end of turn ("\n### Assistant:").
        assert!(
            prefix.len() + 8 >= only_document.len(),
            "covers the document"
        );
    }
}
