//! The one door into the app: everything a person (or a test) can ask of it is an
//! [`AppCommand`]. Views push commands while they draw; [`crate::app::XgenApp::run`] carries them
//! out once the frame is drawn, so nothing changes under a view in the middle of a frame, and
//! tests go through the same door as the window.

use std::path::PathBuf;

use super::settings::Settings;
use crate::remote::ServerConfig;

/// Which screen the central panel shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum View {
    /// The conversation.
    Chat,
    /// Download, open and delete models.
    Models,
    /// System prompt, sampling, context, theme.
    Settings,
}

impl View {
    /// Every screen, in the toolbar's order.
    pub const ALL: [Self; 3] = [Self::Chat, Self::Models, Self::Settings];

    /// Its tab in the toolbar.
    #[must_use]
    pub fn label(self) -> &'static str {
        match self {
            Self::Chat => "Chat",
            Self::Models => "Models",
            Self::Settings => "Settings",
        }
    }

    /// The shortcut shown on its tab.
    #[must_use]
    pub fn shortcut(self) -> Option<&'static str> {
        match self {
            Self::Settings => Some("Ctrl+,"),
            Self::Chat | Self::Models => None,
        }
    }
}

/// Something a person (or a test) asks of the app.
#[derive(Debug, Clone, PartialEq)]
pub enum AppCommand {
    // ----- the window -----
    /// Shows another screen.
    ShowView(View),
    /// Dismisses notice `index` (the first is 0).
    DismissNotice(usize),

    // ----- documents -----
    /// Opens the file dialog for a document; the file picked is read.
    PickDocument,
    /// Opens files (a drop, "Open with", the command line): one file as the conversation's
    /// document, several or a folder (searched for documents) as the queue. A GGUF file among
    /// them is a model, not a document: the first one is loaded (checked first in a child
    /// process, like a file picked in Models).
    OpenFiles(Vec<PathBuf>),
    /// Attaches text (a paste) as the document of the conversation on screen.
    AttachText {
        /// The document's name.
        name: String,
        /// Its text.
        text: String,
    },
    /// Removes the document from the conversation on screen.
    DetachDocument,
    /// Summarizes the document on screen with the chosen style and length.
    Summarize,
    /// Shows (true) or hides the document view: the document's text as the model reads it.
    ShowDocumentView(bool),
    /// Shows the document view with its search field focused (Ctrl+F).
    FindInDocument,
    /// Opens the document view at these bytes of the document's text (a source chip's
    /// passage), scrolled to them and highlighted.
    OpenSource(std::ops::Range<usize>),

    // ----- the chat -----
    /// Sends the composer's text (Enter).
    Send,
    /// Stops the reply being written (Esc).
    Stop,
    /// Writes the last reply again.
    Regenerate,
    /// Asks a question of every part of the long document on screen and combines the
    /// answers: the composer's question, or with `again` the last question (its answer is
    /// replaced).
    SearchEveryPart {
        /// Ask the last question again instead of the composer's.
        again: bool,
    },
    /// Puts the last message back in the composer and removes it and its reply.
    EditLast,

    // ----- conversations -----
    /// Starts a new, empty conversation and shows it.
    NewConversation,
    /// Shows conversation `id`.
    SelectConversation(String),
    /// Renames a conversation (a blank title is ignored).
    RenameConversation {
        /// The conversation.
        id: String,
        /// Its new title.
        title: String,
    },
    /// Deletes a conversation and its file (a reply being written to it is stopped).
    DeleteConversation(String),
    /// Writes a conversation as Markdown: to `to`, or where the save dialog says.
    ExportConversation {
        /// The conversation.
        id: String,
        /// The file; `None` asks with a dialog.
        to: Option<PathBuf>,
    },

    // ----- the queue -----
    /// Something for the queue of files.
    Queue(QueueCommand),

    // ----- models -----
    /// Loads a GGUF file (planned to fit this computer), replacing the loaded model or the
    /// server in use. A file the installed-models list does not record as checked is first
    /// checked in a child process.
    LoadModel(PathBuf),
    /// Opens the file dialog for a GGUF file to load.
    PickModelFile,
    /// Removes an installed model from the list (and its file when the app made it).
    DeleteModel(String),
    /// Starts (or resumes) setting up the app's model: download, convert, quantize, check.
    StartSetup,
    /// Stops the running setup; what was downloaded is kept for resuming.
    CancelSetup,
    /// Checks an inference server and, once it answers, uses it instead of the local engine.
    ConnectServer(ServerConfig),
    /// Removes a server from the list (and its key from the credential store); stops using it
    /// if it was in use.
    RemoveServer(String),
    /// Starts a new engine after the old one stopped, and loads the model again.
    ReloadEngine,

    // ----- settings -----
    /// Puts these settings in effect and saves them (a new context size reloads the model).
    ChangeSettings(Box<Settings>),

    /// Makes the engine thread panic (tests of what the app does when the engine dies).
    #[cfg(feature = "fault-injection")]
    InjectEnginePanic,
}

/// What the queue panel's buttons ask.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum QueueCommand {
    /// A button of one file.
    File {
        /// The file's id.
        id: u64,
        /// What to do.
        action: QueueAction,
    },
    /// Pauses the whole queue (what runs is put back in its place) or resumes it.
    SetPaused(bool),
    /// Takes finished, failed and cancelled files off the list (their conversations stay).
    ClearFinished,
    /// Writes the report of every summary and failure as Markdown: to `to`, or where the save
    /// dialog says.
    Export {
        /// The file; `None` asks with a dialog.
        to: Option<PathBuf>,
    },
    /// Shows or hides the queue panel.
    Show(bool),
}

/// What the panel's buttons do to one file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QueueAction {
    /// Hold a waiting or running file (what it wrote so far is dropped).
    Pause,
    /// Put a paused file back in the queue.
    Resume,
    /// Stop a file and take it out of the queue's work.
    Cancel,
    /// Put a failed or cancelled file back in the queue.
    Retry,
    /// Take a file that is not running off the list (its conversation stays).
    Remove,
}
