//! What every feature of the app works with: the model, the conversations, the settings, the
//! notices, the waker of the UI thread and the app's options. Features take it as one argument
//! (`&mut Shared` to act, `&Shared` to draw) instead of long lists of sibling states.

use super::checks::Checks;
use super::conversations::Conversations;
use super::job::Waker;
use super::model::ModelSlot;
use super::notices::Notices;
use super::options::AppOptions;
use super::settings::Settings;

/// The state the features share.
pub(crate) struct Shared {
    /// Where the app keeps its files, how it reads documents.
    pub(crate) opts: AppOptions,
    /// Wakes the UI thread when a job reports.
    pub(crate) waker: Waker,
    /// The engine and its model, or the server in use.
    pub(crate) model: ModelSlot,
    /// The conversations and the one on screen.
    pub(crate) conversations: Conversations,
    /// The settings in effect.
    pub(crate) settings: Settings,
    /// Problems shown in the window.
    pub(crate) notices: Notices,
    /// Another window holds the data directory: nothing is saved from this one.
    pub(crate) read_only: bool,
    /// The documents' indexes and the checks of replies under way.
    pub(crate) checks: Checks,
}
