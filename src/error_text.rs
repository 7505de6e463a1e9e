//! An error and its causes as one line, each message once.
//!
//! Errors in this crate name their cause in their own message (a notice shows one line) and
//! also return it as their `source` (so that callers can inspect it); contexts added at the
//! edges often repeat the error's first words. Printing the chain naively (`{:#}`) then says
//! the same thing two or three times: "could not read d: could not read d: Is a directory: Is
//! a directory". [`chain`] keeps each message once.

use std::error::Error;

/// The error's message and its causes', joined with `: `, leaving out a cause whose message
/// the previous one already holds, and letting a cause that extends the previous message
/// (starts with it) replace it.
#[must_use]
pub fn chain(error: &(dyn Error + 'static)) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut next = Some(error);
    while let Some(error) = next {
        let text = error.to_string();
        match parts.last_mut() {
            Some(last) if last.contains(&text) => {}
            Some(last) if text.starts_with(last.as_str()) => *last = text,
            _ => parts.push(text),
        }
        next = error.source();
    }
    parts.join(": ")
}

#[cfg(test)]
mod tests {
    use super::chain;

    #[derive(Debug, thiserror::Error)]
    #[error("could not read d: {source}")]
    struct Read {
        source: std::io::Error,
    }

    #[test]
    fn each_message_once() {
        let io = || std::io::Error::other("Is a directory");
        let error = anyhow::Error::new(Read { source: io() }).context("could not read d");
        assert_eq!(
            chain(error.as_ref()),
            "could not read d: Is a directory",
            "{error:#}"
        );
        let error = anyhow::Error::new(io()).context("opening the model");
        assert_eq!(chain(error.as_ref()), "opening the model: Is a directory");
    }
}
