//! What goes wrong talking to an inference server, in words a person can act on: the HTTP
//! client's errors and the server's statuses sorted into [`RemoteError`] (defined beside the
//! engine's other request errors, which carry it).

use std::error::Error as _;

pub use crate::engine::RemoteError;

/// Where a request failed, for the words of the error.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Phase {
    /// Before any answer came.
    Connecting,
    /// While the reply streamed.
    Streaming,
}

impl RemoteError {
    /// The error of a request that failed in `phase`, sorted into what a person can act on.
    pub(crate) fn from_reqwest(url: &str, error: &reqwest::Error, phase: Phase) -> Self {
        let detail = chain(error);
        if matches!(phase, Phase::Streaming) {
            return Self::Dropped { detail };
        }
        let lower = detail.to_ascii_lowercase();
        let tls = [
            "certificate",
            "tls",
            "ssl",
            "handshake",
            "corrupt message",
            "invalidcontenttype",
        ];
        if tls.iter().any(|t| lower.contains(t)) {
            return Self::Tls {
                url: url.to_owned(),
                detail,
            };
        }
        if error.is_connect() || error.is_timeout() || error.is_request() {
            return Self::Unreachable {
                url: url.to_owned(),
                detail,
            };
        }
        if error.is_body() || error.is_decode() {
            return Self::Dropped { detail };
        }
        Self::Unreachable {
            url: url.to_owned(),
            detail,
        }
    }

    /// The error for a non-success status, with the server's message from `body` (an OpenAI
    /// or llama-server error object, or plain text).
    pub(crate) fn from_status(url: &str, status: u16, body: &str) -> Self {
        if status == 401 || status == 403 {
            return Self::Unauthorized {
                url: url.to_owned(),
                status,
            };
        }
        Self::Http {
            status,
            message: server_message(body),
        }
    }
}

/// The message of an error body: `{"error": {"message": ..}}`, `{"message": ..}`,
/// `{"error": ".."}`, or the text itself (shortened).
pub(crate) fn server_message(body: &str) -> String {
    let parsed: Option<serde_json::Value> = serde_json::from_str(body).ok();
    let from_json = parsed.as_ref().and_then(|v| {
        let error = v.get("error").unwrap_or(v);
        error
            .get("message")
            .and_then(serde_json::Value::as_str)
            .or_else(|| error.as_str())
            .map(str::to_owned)
    });
    let text = clean(&from_json.unwrap_or_else(|| body.trim().to_owned()));
    if text.is_empty() {
        return "no message".to_owned();
    }
    let mut short: String = text.chars().take(300).collect();
    if short.len() < text.len() {
        short.push('…');
    }
    short
}

/// The error and its causes, each once.
fn chain(error: &reqwest::Error) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut source: Option<&(dyn std::error::Error + 'static)> = error.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        source = s.source();
    }
    if parts.is_empty() {
        parts.push(error.to_string());
    }
    clean(&parts.join(" / "))
}

/// Text for inside a message: no `": "`, no line breaks.
pub(crate) fn clean(text: &str) -> String {
    text.replace(": ", " - ").replace(['\n', '\r'], " ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_become_words_with_the_servers_own_message() {
        let url = "http://gpu-box:8080";
        assert_eq!(
            RemoteError::from_status(url, 401, "{}"),
            RemoteError::Unauthorized {
                url: url.to_owned(),
                status: 401
            }
        );
        let body =
            r#"{"error":{"code":500,"message":"slot 0: out of memory","type":"server_error"}}"#;
        let error = RemoteError::from_status(url, 500, body);
        assert_eq!(
            error,
            RemoteError::Http {
                status: 500,
                message: "slot 0 - out of memory".to_owned()
            }
        );
        // One sentence: the app's notices keep everything before a ": ".
        assert!(!error.to_string().contains(": "), "{error}");
        let plain = RemoteError::from_status(url, 502, "Bad Gateway\n");
        assert!(
            plain.to_string().contains("HTTP 502 (Bad Gateway)"),
            "{plain}"
        );
    }
}
