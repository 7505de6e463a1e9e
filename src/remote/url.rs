//! Server addresses: the base URL requests are made on, and the warning for plain HTTP over
//! the network.

use super::RemoteError;

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
}
