//! One streamed reply from a server: send the request, read its server-sent events, turn them
//! into the engine's [`ReplyEvent`]s. Stop is checked every few milliseconds at every step
//! (connecting, waiting for the first byte, streaming); stopping drops the connection, which
//! makes the server stop generating.

use std::future::Future;
use std::time::{Duration, Instant};

use serde_json::Value;

use super::api::{self, Chunk, Figures, Route};
use super::error::{Phase, RemoteError};
use crate::engine::{
    EngineError, Outbox, ReplyEvent, RequestEvent, StopReason, StopScanner, Timings,
};

/// How often a waiting request looks at its cancel flag.
const CANCEL_POLL: Duration = Duration::from_millis(25);

/// Splits a byte stream into server-sent events' `data:` payloads (and llama-server's
/// `error:` lines), one per line; comments and other fields are skipped.
#[derive(Debug, Default)]
pub(crate) struct SseLines {
    pending: Vec<u8>,
    /// How much of `pending` is known to hold no line end (each byte is looked at once).
    scanned: usize,
}

/// Longest line of an event stream taken: an event is one token's JSON (a few hundred bytes;
/// a final one with timings a few kilobytes). A longer line is a server we do not understand,
/// or one that would fill memory.
pub(crate) const MAX_SSE_LINE_BYTES: usize = 16 << 20;

/// Most bytes of an error body or an API answer read (`/v1/models`, `/props`, an error page).
pub(crate) const MAX_BODY_BYTES: usize = 8 << 20;

/// The body of `response`, at most `limit` bytes of it (as text, lossily); `true` with it when
/// there was more.
///
/// # Errors
/// When reading the body fails.
pub(crate) async fn body_text(
    mut response: reqwest::Response,
    limit: usize,
) -> Result<(String, bool), reqwest::Error> {
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await? {
        let room = limit - body.len();
        if chunk.len() > room {
            body.extend_from_slice(&chunk[..room]);
            return Ok((String::from_utf8_lossy(&body).into_owned(), true));
        }
        body.extend_from_slice(&chunk);
    }
    Ok((String::from_utf8_lossy(&body).into_owned(), false))
}

/// A line of an event stream that carries something.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum SseLine {
    /// `data: ...` (without the prefix).
    Data(String),
    /// `error: ...`: an error sent in place of data.
    Error(String),
    /// `data: [DONE]`: the OpenAI end of stream.
    Done,
}

impl SseLines {
    /// Adds bytes; returns the complete lines that carry something.
    ///
    /// # Errors
    /// The words for a line longer than [`MAX_SSE_LINE_BYTES`].
    pub(crate) fn push(&mut self, bytes: &[u8]) -> Result<Vec<SseLine>, String> {
        self.pending.extend_from_slice(bytes);
        let mut out = Vec::new();
        while let Some(end) = self.pending[self.scanned..]
            .iter()
            .position(|&b| b == b'\n')
            .map(|p| self.scanned + p)
        {
            self.scanned = 0;
            let line: Vec<u8> = self.pending.drain(..=end).collect();
            let line = String::from_utf8_lossy(&line);
            let line = line.trim_end_matches(['\n', '\r']);
            if let Some(data) = field(line, "data") {
                if data == "[DONE]" {
                    out.push(SseLine::Done);
                } else if !data.is_empty() {
                    out.push(SseLine::Data(data.to_owned()));
                }
            } else if let Some(error) = field(line, "error") {
                out.push(SseLine::Error(error.to_owned()));
            }
        }
        self.scanned = self.pending.len();
        if self.pending.len() > MAX_SSE_LINE_BYTES {
            return Err(format!(
                "the server sent an event line of more than {} MiB",
                MAX_SSE_LINE_BYTES >> 20
            ));
        }
        Ok(out)
    }
}

fn field<'a>(line: &'a str, name: &str) -> Option<&'a str> {
    let rest = line.strip_prefix(name)?.strip_prefix(':')?;
    Some(rest.strip_prefix(' ').unwrap_or(rest))
}

/// Waits for `future`, giving up when the request is cancelled. `None` means cancelled.
pub(crate) async fn unless_cancelled<E: RequestEvent, F: Future>(
    outbox: &Outbox<E>,
    future: F,
) -> Option<F::Output> {
    let mut future = std::pin::pin!(future);
    loop {
        if outbox.cancelled() {
            return None;
        }
        if let Ok(output) = tokio::time::timeout(CANCEL_POLL, &mut future).await {
            return Some(output);
        }
    }
}

/// A reply being read: text through the stop scanner, and the figures so far.
pub(crate) struct Reply {
    pub(crate) outbox: Outbox<ReplyEvent>,
    pub(crate) route: Route,
    pub(crate) scanner: StopScanner,
    pub(crate) url: String,
    /// Tokens of the prompt, when counted here (XGen).
    pub(crate) prompt_tokens: Option<usize>,
    pub(crate) started: Instant,
    first_text: Option<Instant>,
    pieces: usize,
    figures: Figures,
}

impl Reply {
    pub(crate) fn new(
        outbox: Outbox<ReplyEvent>,
        route: Route,
        scanner: StopScanner,
        url: String,
        prompt_tokens: Option<usize>,
    ) -> Self {
        Self {
            outbox,
            route,
            scanner,
            url,
            prompt_tokens,
            started: Instant::now(),
            first_text: None,
            pieces: 0,
            figures: Figures::default(),
        }
    }

    /// Sends the request and streams the reply to the outbox; always ends it with
    /// [`ReplyEvent::Done`] or [`ReplyEvent::Failed`].
    pub(crate) async fn run(mut self, request: reqwest::RequestBuilder) {
        let outcome = self.stream(request).await;
        let tail = self.scanner.finish();
        if !tail.is_empty() {
            self.outbox.send(ReplyEvent::Text(tail));
        }
        let event = match outcome {
            Ok(reason) => ReplyEvent::Done {
                reason,
                timings: self.timings(),
            },
            Err(error) => ReplyEvent::Failed(EngineError::Remote(error)),
        };
        self.outbox.send(event);
    }

    async fn stream(
        &mut self,
        request: reqwest::RequestBuilder,
    ) -> Result<StopReason, RemoteError> {
        let Some(sent) = unless_cancelled(&self.outbox, request.send()).await else {
            return Ok(StopReason::Cancelled);
        };
        let mut response =
            sent.map_err(|e| RemoteError::from_reqwest(&self.url, &e, Phase::Connecting))?;
        let status = response.status();
        if !status.is_success() {
            let body = unless_cancelled(&self.outbox, body_text(response, MAX_BODY_BYTES))
                .await
                .and_then(Result::ok)
                .unwrap_or_default()
                .0;
            return Err(RemoteError::from_status(&self.url, status.as_u16(), &body));
        }
        let mut lines = SseLines::default();
        let mut finish = None;
        loop {
            let Some(next) = unless_cancelled(&self.outbox, response.chunk()).await else {
                return Ok(StopReason::Cancelled);
            };
            let bytes = match next {
                Ok(Some(bytes)) => bytes,
                // The end of the body: complete only if the reply said it ended.
                Ok(None) => {
                    return finish.ok_or_else(|| RemoteError::Dropped {
                        detail: "the server closed the stream before the reply ended".to_owned(),
                    })
                }
                Err(e) => return Err(RemoteError::from_reqwest(&self.url, &e, Phase::Streaming)),
            };
            for line in lines.push(&bytes).map_err(RemoteError::Protocol)? {
                let data = match line {
                    SseLine::Done => {
                        return finish.ok_or_else(|| RemoteError::Dropped {
                            detail: "the stream ended before the reply did".to_owned(),
                        })
                    }
                    SseLine::Error(text) => {
                        return Err(RemoteError::Http {
                            status: 500,
                            message: super::error::server_message(&text),
                        })
                    }
                    SseLine::Data(data) => data,
                };
                let value: Value = serde_json::from_str(&data).map_err(|e| {
                    RemoteError::Protocol(super::error::clean(&format!(
                        "an event is not JSON ({e}) - {data:.120}"
                    )))
                })?;
                let chunk = api::parse_event(self.route, &value);
                if let Some(reason) = self.apply(chunk)? {
                    finish = Some(reason);
                    // llama-server's native stream ends with its final event; OpenAI streams
                    // send usage and `[DONE]` after the finish reason.
                    if self.route == Route::Native {
                        return Ok(reason);
                    }
                }
                if self.scanner.stopped() {
                    // Our own stop marker: the reply is over even if the server goes on.
                    return Ok(StopReason::EndOfTurn);
                }
            }
        }
    }

    /// Applies one event; returns the reason when it ends the reply.
    fn apply(&mut self, chunk: Chunk) -> Result<Option<StopReason>, RemoteError> {
        if let Some(message) = chunk.error {
            return Err(RemoteError::Http {
                status: 500,
                message,
            });
        }
        self.figures.update(chunk.figures);
        if let Some((done, total)) = chunk.progress {
            if total > 0 {
                self.outbox.send(ReplyEvent::Prompt { done, total });
            }
        }
        if !chunk.text.is_empty() {
            self.first_text.get_or_insert_with(Instant::now);
            self.pieces += 1;
            let visible = self.scanner.push(&chunk.text);
            if !visible.is_empty() {
                self.outbox.send(ReplyEvent::Text(visible));
            }
        }
        Ok(chunk.finish)
    }

    /// The engine's figures from what the server reported, timed here where it did not say.
    fn timings(&self) -> Timings {
        let now = Instant::now();
        let first = self.first_text.unwrap_or(now);
        let ttft = first.duration_since(self.started).as_secs_f64();
        let f = &self.figures;
        let prompt_tokens = f.prompt_tokens.or(self.prompt_tokens).unwrap_or(0);
        Timings {
            prompt_tokens,
            prompt_evaluated: f.prompt_evaluated.unwrap_or(prompt_tokens),
            prefill_secs: f.prompt_ms.map_or(ttft, |ms| ms / 1000.0),
            ttft_secs: ttft,
            generated_tokens: f.generated.unwrap_or(self.pieces),
            generation_secs: now.duration_since(first).as_secs_f64(),
            ..Timings::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sse_lines_across_chunk_boundaries() {
        let mut lines = SseLines::default();
        assert!(lines.push(b"data: {\"a\"").unwrap().is_empty());
        assert_eq!(
            lines.push(b":1}\n\n: ping\ndata:{\"b\":2}\r\n").unwrap(),
            vec![
                SseLine::Data("{\"a\":1}".into()),
                SseLine::Data("{\"b\":2}".into())
            ]
        );
        assert_eq!(
            lines
                .push(b"error: {\"message\":\"x\"}\ndata: [DONE]\n")
                .unwrap(),
            vec![SseLine::Error("{\"message\":\"x\"}".into()), SseLine::Done]
        );
    }

    #[test]
    fn an_endless_line_is_refused_at_the_limit() {
        let mut lines = SseLines::default();
        let chunk = vec![b'x'; 1 << 20];
        let mut pushed = 0;
        let error = loop {
            match lines.push(&chunk) {
                Ok(out) => assert!(out.is_empty()),
                Err(e) => break e,
            }
            pushed += chunk.len();
            assert!(pushed <= MAX_SSE_LINE_BYTES, "taken past the limit");
        };
        assert!(error.contains("more than 16 MiB"), "{error}");
        // A line end after a long run is still found (scanning resumes where it stopped).
        let mut lines = SseLines::default();
        assert!(lines.push(&[b'x'; 1000]).unwrap().is_empty());
        assert!(lines.push(b"\ndata: 1\n").unwrap() == vec![SseLine::Data("1".into())]);
    }
}
