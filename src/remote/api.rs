//! The HTTP APIs spoken: llama-server's native `/completion` (token ids in, so the XGen prompt
//! is exactly the one the local engine reads) and the OpenAI-compatible `/v1/completions` and
//! `/v1/chat/completions` (vLLM, and llama-server for models with a chat template). Request
//! bodies out, stream events in.

use serde_json::{json, Value};

use crate::engine::{Sampling, StopReason};
use crate::prompt::Message;

/// Which endpoint a reply is asked from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Route {
    /// llama-server's `/completion` with token ids.
    Native,
    /// `/v1/completions` with token ids (vLLM serving XGen, which has no chat template).
    Completions,
    /// `/v1/chat/completions`: the server writes the prompt with the model's chat template.
    Chat,
}

impl Route {
    pub(crate) fn path(self) -> &'static str {
        match self {
            Self::Native => "/completion",
            Self::Completions => "/v1/completions",
            Self::Chat => "/v1/chat/completions",
        }
    }
}

/// What a reply's request carries besides its prompt.
pub(crate) struct Ask<'a> {
    pub(crate) model: &'a str,
    pub(crate) sampling: &'a Sampling,
    pub(crate) stops: &'a [String],
    pub(crate) ignore_eos: bool,
    /// llama-server's names for the repeat penalty (`repeat_penalty`, `repeat_last_n`) rather
    /// than vLLM's (`repetition_penalty`).
    pub(crate) llama_server: bool,
}

/// The body of llama-server's `/completion` for prompt `ids`.
pub(crate) fn native_body(ids: &[u32], ask: &Ask<'_>) -> Value {
    let s = ask.sampling;
    json!({
        "prompt": ids,
        "stream": true,
        "return_progress": true,
        "cache_prompt": true,
        "n_predict": s.max_tokens,
        "temperature": s.temperature.max(0.0),
        "top_k": s.top_k,
        "top_p": s.top_p,
        "repeat_penalty": s.repeat_penalty,
        "repeat_last_n": s.repeat_last_n,
        "seed": s.seed,
        "stop": ask.stops,
        "ignore_eos": ask.ignore_eos,
    })
}

/// The body of `/v1/completions` for prompt `ids`.
pub(crate) fn completions_body(ids: &[u32], ask: &Ask<'_>) -> Value {
    let mut body = openai_common(ask);
    body["prompt"] = json!(ids);
    body
}

/// The body of `/v1/chat/completions`.
pub(crate) fn chat_body(messages: &[Message], ask: &Ask<'_>) -> Value {
    let mut body = openai_common(ask);
    body["messages"] = messages
        .iter()
        .map(|m| json!({"role": m.role.as_str(), "content": m.content}))
        .collect();
    body
}

fn openai_common(ask: &Ask<'_>) -> Value {
    let s = ask.sampling;
    let mut body = json!({
        "model": ask.model,
        "stream": true,
        "stream_options": {"include_usage": true},
        "max_tokens": s.max_tokens,
        "temperature": s.temperature.max(0.0),
        "top_p": s.top_p,
        "seed": s.seed,
    });
    // Both servers take top_k beyond the OpenAI API; 0 means off in llama.cpp, -1 in vLLM.
    body["top_k"] = json!(if s.top_k > 0 {
        s.top_k
    } else if ask.llama_server {
        0
    } else {
        -1
    });
    if ask.llama_server {
        body["repeat_penalty"] = json!(s.repeat_penalty);
        body["repeat_last_n"] = json!(s.repeat_last_n);
    } else {
        body["repetition_penalty"] = json!(s.repeat_penalty);
    }
    if !ask.stops.is_empty() {
        body["stop"] = json!(ask.stops);
    }
    if ask.ignore_eos {
        body["ignore_eos"] = json!(true);
    }
    body
}

/// One event of a streamed reply, whatever the API.
#[derive(Debug, Default, Clone, PartialEq)]
pub(crate) struct Chunk {
    /// Generated text.
    pub(crate) text: String,
    /// Prompt reading: (tokens read, tokens to read), the cached ones left out.
    pub(crate) progress: Option<(usize, usize)>,
    /// The reply ended, and why.
    pub(crate) finish: Option<StopReason>,
    /// The server's figures, when this chunk has them.
    pub(crate) figures: Figures,
    /// An error the server sent in the stream.
    pub(crate) error: Option<String>,
}

/// What servers report about a reply (each field when known).
#[derive(Debug, Default, Clone, Copy, PartialEq)]
pub(crate) struct Figures {
    /// Tokens of the whole prompt.
    pub(crate) prompt_tokens: Option<usize>,
    /// Prompt tokens taken from the server's cache.
    pub(crate) cached_tokens: Option<usize>,
    /// Prompt tokens evaluated.
    pub(crate) prompt_evaluated: Option<usize>,
    /// Milliseconds spent reading the prompt.
    pub(crate) prompt_ms: Option<f64>,
    /// Tokens generated.
    pub(crate) generated: Option<usize>,
}

impl Figures {
    /// Adds what `other` knows (its figures win).
    pub(crate) fn update(&mut self, other: Self) {
        self.prompt_tokens = other.prompt_tokens.or(self.prompt_tokens);
        self.cached_tokens = other.cached_tokens.or(self.cached_tokens);
        self.prompt_evaluated = other.prompt_evaluated.or(self.prompt_evaluated);
        self.prompt_ms = other.prompt_ms.or(self.prompt_ms);
        self.generated = other.generated.or(self.generated);
    }
}

fn count(v: &Value, key: &str) -> Option<usize> {
    v.get(key)
        .and_then(Value::as_u64)
        .and_then(|n| usize::try_from(n).ok())
}

/// llama-server's `timings` object (native and OpenAI-compatible streams carry it).
fn timings(v: &Value) -> Figures {
    let Some(t) = v.get("timings") else {
        return Figures::default();
    };
    let evaluated = count(t, "prompt_n");
    let cached = count(t, "cache_n");
    Figures {
        prompt_tokens: evaluated.zip(cached).map(|(e, c)| e + c),
        cached_tokens: cached,
        prompt_evaluated: evaluated,
        prompt_ms: t.get("prompt_ms").and_then(Value::as_f64),
        generated: count(t, "predicted_n"),
    }
}

/// Reads one `data:` event of `route`'s stream.
pub(crate) fn parse_event(route: Route, data: &Value) -> Chunk {
    let mut chunk = Chunk::default();
    if let Some(error) = data.get("error") {
        chunk.error = Some(super::error::server_message(&error.to_string()));
        return chunk;
    }
    chunk.figures = timings(data);
    match route {
        Route::Native => {
            if let Some(p) = data.get("prompt_progress") {
                let total = count(p, "total").unwrap_or(0);
                let cache = count(p, "cache").unwrap_or(0);
                let processed = count(p, "processed").unwrap_or(0);
                chunk.progress =
                    Some((processed.saturating_sub(cache), total.saturating_sub(cache)));
            }
            if let Some(text) = data.get("content").and_then(Value::as_str) {
                text.clone_into(&mut chunk.text);
            }
            if data.get("stop").and_then(Value::as_bool) == Some(true) {
                chunk.finish = Some(match data.get("stop_type").and_then(Value::as_str) {
                    Some("limit") => StopReason::MaxTokens,
                    _ => StopReason::EndOfTurn,
                });
                if let Some(n) = count(data, "tokens_evaluated") {
                    chunk.figures.prompt_tokens = Some(n);
                }
            }
        }
        Route::Completions | Route::Chat => {
            if let Some(choice) = data
                .get("choices")
                .and_then(Value::as_array)
                .and_then(|c| c.first())
            {
                let text = if route == Route::Chat {
                    choice.get("delta").and_then(|d| d.get("content"))
                } else {
                    choice.get("text")
                };
                if let Some(text) = text.and_then(Value::as_str) {
                    text.clone_into(&mut chunk.text);
                }
                chunk.finish = match choice.get("finish_reason").and_then(Value::as_str) {
                    Some("length") => Some(StopReason::MaxTokens),
                    Some(_) => Some(StopReason::EndOfTurn),
                    None => None,
                };
            }
            if let Some(usage) = data.get("usage").filter(|u| u.is_object()) {
                let prompt = count(usage, "prompt_tokens");
                let cached = usage
                    .get("prompt_tokens_details")
                    .and_then(|d| count(d, "cached_tokens"));
                chunk.figures.update(Figures {
                    prompt_tokens: prompt,
                    cached_tokens: cached,
                    prompt_evaluated: prompt.map(|p| p.saturating_sub(cached.unwrap_or(0))),
                    prompt_ms: None,
                    generated: count(usage, "completion_tokens"),
                });
            }
        }
    }
    chunk
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn native_final_event_gives_reason_and_figures() {
        let data = json!({"content": "", "stop": true, "stop_type": "limit",
            "tokens_evaluated": 40,
            "timings": {"prompt_n": 30, "cache_n": 10, "prompt_ms": 12.5, "predicted_n": 7}});
        let chunk = parse_event(Route::Native, &data);
        assert_eq!(chunk.finish, Some(StopReason::MaxTokens));
        assert_eq!(chunk.figures.prompt_tokens, Some(40));
        assert_eq!(chunk.figures.prompt_evaluated, Some(30));
        assert_eq!(chunk.figures.generated, Some(7));
    }

    #[test]
    fn progress_leaves_the_cached_tokens_out() {
        let data = json!({"content": "", "stop": false,
            "prompt_progress": {"total": 100, "cache": 20, "processed": 60, "time_ms": 5}});
        let chunk = parse_event(Route::Native, &data);
        assert_eq!(chunk.progress, Some((40, 80)));
        assert_eq!(chunk.finish, None);
    }

    #[test]
    fn openai_chat_delta_usage_and_errors() {
        let delta = json!({"choices": [{"delta": {"content": "Hi"}, "finish_reason": null}]});
        assert_eq!(parse_event(Route::Chat, &delta).text, "Hi");
        let end = json!({"choices": [{"delta": {}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 12, "completion_tokens": 3}});
        let chunk = parse_event(Route::Chat, &end);
        assert_eq!(chunk.finish, Some(StopReason::EndOfTurn));
        assert_eq!(chunk.figures.prompt_tokens, Some(12));
        assert_eq!(chunk.figures.generated, Some(3));
        let error = json!({"error": {"message": "boom", "code": 500}});
        assert_eq!(
            parse_event(Route::Chat, &error).error.as_deref(),
            Some("boom")
        );
    }
}
