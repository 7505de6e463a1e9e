//! Why an inference server failed a request: the engine's request errors carry it
//! ([`super::EngineError::Remote`]), and `crate::remote` sorts what the network and the server
//! said into it.

/// A failed connection check or request to an inference server. The messages hold no `": "`
/// before their advice (details are cleaned of it), so the app's one-sentence notices keep all
/// of it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RemoteError {
    /// The address is not a usable URL.
    #[error("{url:?} is not a server address ({reason}); write it like http://gpu-box:8080")]
    InvalidUrl {
        /// What was given.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// Nothing answered: wrong address or port, server down, firewall.
    #[error("could not reach the server at {url} ({detail}); check the address and that the server is running")]
    Unreachable {
        /// The server.
        url: String,
        /// What the network said.
        detail: String,
    },
    /// The TLS handshake failed: an `https://` address on a plain HTTP server, or a certificate
    /// this computer does not trust.
    #[error("could not open a secure (TLS) connection to {url} ({detail}); use http:// if the server does not speak HTTPS, or install its certificate")]
    Tls {
        /// The server.
        url: String,
        /// What TLS said.
        detail: String,
    },
    /// The server wants an API key, or refused the one given.
    #[error("the server at {url} refused the API key (HTTP {status}); enter the key the server was started with")]
    Unauthorized {
        /// The server.
        url: String,
        /// 401 or 403.
        status: u16,
    },
    /// The model asked for is not served there.
    #[error("the server has no model named {model:?}; it serves {}", .available.join(", "))]
    NoSuchModel {
        /// The model asked for.
        model: String,
        /// What the server lists in `/v1/models`.
        available: Vec<String>,
    },
    /// The server answered with an error status.
    #[error("the server answered HTTP {status} ({message})")]
    Http {
        /// The status.
        status: u16,
        /// The server's own message.
        message: String,
    },
    /// The connection ended in the middle of a reply; what arrived before is kept.
    #[error("the connection to the server was lost in the middle of the reply ({detail}); what arrived before is kept, and Regenerate asks again")]
    Dropped {
        /// What the network said.
        detail: String,
    },
    /// The server answered something that is not what its API promises.
    #[error("the server's answer could not be read ({0})")]
    Protocol(String),
    /// A thread or runtime for the requests could not be started.
    #[error("could not start the connection threads ({0})")]
    Runtime(String),
}
