//! API keys of inference servers, in the operating system's credential store (Keychain,
//! Windows Credential Manager, the Secret Service on Linux) through the `keyring` crate, one
//! entry per server address; never in the settings files.
//!
//! A computer without a credential store (a Linux machine with no Secret Service, such as a
//! CI runner or a bare server) still uses the key for the rest of the session: it is kept in
//! this process's memory, and the caller is told it could not be stored.

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};

/// The service name of the credential-store entries.
const SERVICE: &str = "xgen-desk";

/// Where an API key was kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyStorage {
    /// In the operating system's credential store: it is there after a restart.
    CredentialStore,
    /// In memory only, for this session, because the credential store could not be used.
    SessionOnly {
        /// Why the store could not be used.
        reason: String,
    },
}

impl KeyStorage {
    /// A sentence for people when the key was not stored, `None` when it was.
    #[must_use]
    pub fn notice(&self) -> Option<String> {
        match self {
            Self::CredentialStore => None,
            Self::SessionOnly { reason } => Some(format!(
                "The API key could not be saved in this computer's credential store ({reason}): it is used until the app closes, and must be entered again next time."
            )),
        }
    }
}

fn session() -> &'static Mutex<HashMap<String, String>> {
    static KEYS: OnceLock<Mutex<HashMap<String, String>>> = OnceLock::new();
    KEYS.get_or_init(|| Mutex::new(HashMap::new()))
}

fn entry(server: &str) -> Result<keyring::Entry, String> {
    keyring::Entry::new(SERVICE, server).map_err(|e| e.to_string())
}

/// Keeps `key` for the server at `server` (its base URL): in the credential store when there is
/// one, and in this session's memory in any case. Blocks (the store may be a D-Bus service):
/// call it off the UI thread.
pub fn store(server: &str, key: &str) -> KeyStorage {
    if let Ok(mut keys) = session().lock() {
        keys.insert(server.to_owned(), key.to_owned());
    }
    match entry(server).and_then(|e| e.set_password(key).map_err(|e| e.to_string())) {
        Ok(()) => KeyStorage::CredentialStore,
        Err(reason) => {
            tracing::info!("API key for {server} kept for this session only: {reason}");
            KeyStorage::SessionOnly { reason }
        }
    }
}

/// The key kept for `server`: this session's, else the credential store's. Blocks.
#[must_use]
pub fn load(server: &str) -> Option<String> {
    if let Some(key) = session()
        .lock()
        .ok()
        .and_then(|keys| keys.get(server).cloned())
    {
        return Some(key);
    }
    entry(server).ok()?.get_password().ok()
}

/// Forgets the key of `server`, here and in the credential store. Blocks.
pub fn forget(server: &str) {
    if let Ok(mut keys) = session().lock() {
        keys.remove(server);
    }
    if let Ok(entry) = entry(server) {
        if let Err(e) = entry.delete_credential() {
            tracing::debug!("no stored API key for {server} to delete: {e}");
        }
    }
}
