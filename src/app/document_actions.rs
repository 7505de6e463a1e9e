//! Documents: open, paste, token meter, and summaries in one pass or in parts.

#[allow(clippy::wildcard_imports)]
use super::*;

impl XgenApp {
    // ----- documents -----

    /// Opens a native dialog for a document.
    pub fn pick_document(&mut self) {
        let waker = self.waker.clone();
        pick_file(
            "Documents",
            &["txt", "md", "markdown", "pdf", "docx", "html", "htm"],
            move |path| waker.send(AppEvent::PickedDocument(path)),
        );
    }

    /// Reads a document file on a worker thread and attaches it to the conversation.
    pub fn open_document(&mut self, path: &Path) {
        let path = path.to_path_buf();
        let waker = self.waker.clone();
        self.reading_document = true;
        let spawned = std::thread::Builder::new()
            .name("xgen-read-document".into())
            .spawn(move || {
                let result = read_document(&path).map_err(|e| format!("{e:#}"));
                waker.send(AppEvent::Document(result));
            });
        if let Err(e) = spawned {
            self.reading_document = false;
            self.push_notice("The document could not be read.", &e);
        }
    }

    /// Attaches text (a paste) as the conversation's document.
    pub fn attach_text(&mut self, name: &str, text: &str) {
        match Document::from_text(name, text) {
            Ok(doc) => self.attach(doc),
            Err(e) => self.notices.push(Notice {
                message: first_sentence(&e.to_string()),
                details: Some(error_chain(&e)),
            }),
        }
    }

    pub(super) fn attach(&mut self, document: Document) {
        if !self.conversation().messages.is_empty() || self.conversation().document.is_some() {
            // A new document starts a new conversation, so its summary prompt is the prefix the
            // engine caches and follow-ups do not re-read it.
            self.conversations.insert(0, Conversation::new());
            self.current = 0;
        }
        let c = self.conversation_mut();
        if c.title == "New chat" {
            c.title = document.name.clone();
        }
        c.document = Some(document);
        c.updated = unix_now();
        self.view = View::Chat;
        self.save_conversation(self.current);
        self.request_meter();
    }

    /// Removes the document from the conversation.
    pub fn detach_document(&mut self) {
        self.conversation_mut().document = None;
        self.meter = None;
        self.save_conversation(self.current);
    }

    pub(super) fn summary_sampling(&self) -> Sampling {
        Sampling {
            max_tokens: self.settings.summary_length.max_tokens(),
            ..self.settings.sampling.clone()
        }
    }

    pub(super) fn summary_message(&self) -> Option<ChatMessage> {
        let doc = self.conversation().document.as_ref()?;
        let style = self.settings.summary_style;
        let mut message = ChatMessage::user(summarize_request(&doc.text, style));
        message.label = Some(format!(
            "{} of **{}**",
            settings::style_label(style),
            doc.name
        ));
        Some(message)
    }

    /// Counts the document's tokens on a worker thread (the engine answers between replies).
    pub(super) fn request_meter(&mut self) {
        let Some(doc) = self.conversation().document.clone() else {
            self.meter = None;
            return;
        };
        let ModelState::Ready(info) = &self.model else {
            return;
        };
        let n_ctx = info.n_ctx as usize;
        self.meter_key += 1;
        let key = self.meter_key;
        let conversation = self.conversation().id.clone();
        let system = self.settings.system_prompt.clone();
        let style = self.settings.summary_style;
        let reserved = self.settings.summary_length.max_tokens() as usize;
        let engine = Arc::clone(&self.engine);
        let waker = self.waker.clone();
        let spawned = std::thread::Builder::new()
            .name("xgen-count-tokens".into())
            .spawn(move || {
                let mut c = Conversation::new();
                c.messages
                    .push(ChatMessage::user(summarize_request(&doc.text, style)));
                let result = engine.count_tokens(&doc.text).and_then(|document_tokens| {
                    let prompt_tokens = engine.count_prompt_tokens(&c.prompt(&system))?;
                    let mut meter = DocumentMeter {
                        document_tokens,
                        prompt_tokens,
                        reserved,
                        n_ctx,
                        parts: 1,
                    };
                    if !meter.fits() {
                        // The summarizer's own plan says how many parts it will read.
                        let (_unused, no_events) = mpsc::channel();
                        #[allow(clippy::cast_possible_truncation)]
                        let mut model = EngineModel::new(
                            &engine,
                            &no_events,
                            n_ctx as u32,
                            Sampling::default(),
                        );
                        let options = SummarizeOptions::new(style, reserved as u32);
                        meter.parts = summarize::plan(&mut model, &doc, &options)
                            .map_or(0, |plan| plan.parts());
                    }
                    Ok(meter)
                });
                waker.send(AppEvent::Meter {
                    conversation,
                    key,
                    result,
                });
            });
        if let Err(e) = spawned {
            self.push_notice("The document's tokens could not be counted.", &e);
        }
    }

    /// Summarizes the attached document with the chosen style and length.
    pub fn summarize(&mut self) {
        if self.reply.is_some() {
            return;
        }
        let Some(message) = self.summary_message() else {
            return;
        };
        if !self.document_meter().is_some_and(|m| m.fits()) {
            self.start_summary_job(message);
            return;
        }
        let c = self.conversation_mut();
        // A new summary replaces the conversation about the document.
        c.messages.clear();
        c.messages.push(message);
        c.updated = unix_now();
        let sampling = self.summary_sampling();
        self.start_reply(sampling);
    }

    /// Summarizes a document that does not fit (or is not measured yet) with the summarizer:
    /// its plan reads it in one pass or in parts, on a worker thread that borrows the engine's
    /// events while it runs.
    pub(super) fn start_summary_job(&mut self, mut message: ChatMessage) {
        let ModelState::Ready(info) = &self.model else {
            self.notices.push(Notice {
                message: "Load a model first: open Models to download XGen or open a GGUF file."
                    .into(),
                details: None,
            });
            return;
        };
        let n_ctx = info.n_ctx;
        let Some(doc) = self.conversation().document.clone() else {
            return;
        };
        let (tx, events) = mpsc::channel();
        match self.tap.lock() {
            Ok(mut tap) => *tap = Some(tx),
            Err(_) => return,
        }
        let cancel = CancelToken::new();
        let options = SummarizeOptions::new(
            self.settings.summary_style,
            self.settings.summary_length.max_tokens(),
        );
        let sampling = self.settings.sampling.clone();
        let engine = Arc::clone(&self.engine);
        let waker = self.waker.clone();
        let tap = Arc::clone(&self.tap);
        let job_cancel = cancel.clone();
        let spawned = std::thread::Builder::new()
            .name("xgen-summarize".into())
            .spawn(move || {
                let mut model = EngineModel::new(&engine, &events, n_ctx, sampling);
                let progress_waker = waker.clone();
                let piece_waker = waker.clone();
                let result = summarize::summarize(
                    &mut model,
                    &doc,
                    &options,
                    &job_cancel,
                    &mut |p| progress_waker.send(AppEvent::SummaryProgress(p.clone())),
                    &mut |piece| piece_waker.send(AppEvent::SummaryPiece(piece.to_owned())),
                )
                .map_err(|e| error_chain(&e));
                if let Ok(mut tap) = tap.lock() {
                    *tap = None;
                }
                waker.send(AppEvent::SummaryDone(result));
            });
        if let Err(e) = spawned {
            if let Ok(mut tap) = self.tap.lock() {
                *tap = None;
            }
            self.push_notice("The summary could not be started.", &e);
            return;
        }
        if let Some(label) = message.label.as_mut() {
            label.push_str(" (read in parts)");
        }
        let conversation = self.conversation().id.clone();
        let c = self.conversation_mut();
        c.messages.clear();
        c.messages.push(message);
        c.messages.push(ChatMessage::assistant(String::new()));
        c.updated = unix_now();
        self.save_conversation(self.current);
        self.job = Some(SummaryJob {
            cancel,
            status: "Planning…".to_owned(),
            coverage: None,
            notes: Vec::new(),
        });
        self.reply = Some(Reply {
            id: 0,
            conversation,
            started: Instant::now(),
            prefill: None,
            prefill_first: None,
            first_piece: None,
        });
    }

    pub(super) fn on_summary_progress(&mut self, progress: summarize::Progress) {
        let Some(job) = self.job.as_mut() else {
            return;
        };
        match progress {
            summarize::Progress::Planned { parts, .. } => {
                job.coverage = Some((0, parts));
            }
            summarize::Progress::Step {
                phase, coverage, ..
            } => {
                job.coverage = Some((coverage.read, coverage.total));
                job.status = match phase {
                    summarize::Phase::SinglePass => "Reading the document".to_owned(),
                    summarize::Phase::Read { part, parts } => {
                        format!("Reading part {part} of {parts}")
                    }
                    summarize::Phase::Combine {
                        round,
                        group,
                        groups,
                    } => format!("Combining notes (round {round}, group {group} of {groups})"),
                    summarize::Phase::Final { inputs } => {
                        format!("Writing the summary from {inputs} notes")
                    }
                };
            }
            summarize::Progress::Partial {
                phase,
                location,
                text,
                coverage,
                ..
            } => {
                job.coverage = Some((coverage.read, coverage.total));
                if let summarize::Phase::Read { part, parts } = phase {
                    let place = location.map_or_else(String::new, |l| format!(", {l}"));
                    job.notes
                        .push(format!("[Part {part} of {parts}{place}] {}", text.trim()));
                }
            }
        }
    }

    pub(super) fn on_summary_done(
        &mut self,
        result: std::result::Result<summarize::Summary, String>,
    ) {
        let job = self.job.take();
        let Some(reply) = self.reply.take() else {
            return;
        };
        let conversation = reply.conversation.clone();
        let Some(c) = self.conversations.iter_mut().find(|c| c.id == conversation) else {
            return;
        };
        match result {
            Ok(summary) => {
                if let Some(m) = c.messages.last_mut().filter(|m| m.role == Role::Assistant) {
                    m.stopped = summary.cancelled;
                    m.stats = summary.final_timings.as_ref().map(ReplyStats::from);
                    if !summary.single_pass {
                        m.label = Some(format!(
                            "{}\n\n*Read in {} parts ({:.0}% of the document), {} model calls, {:.0} s.*",
                            m.content.trim_end(),
                            summary.coverage.total,
                            summary.coverage.percent(),
                            summary.model_calls,
                            summary.total_secs
                        ));
                    }
                }
                // Follow-up questions are answered from the notes on each part, which fit in
                // the context where the whole document does not.
                let notes = job.map(|j| j.notes).unwrap_or_default();
                if !summary.single_pass && !notes.is_empty() {
                    if let Some(first) = c.messages.first_mut() {
                        let name = c
                            .document
                            .as_ref()
                            .map_or("the document", |d| d.name.as_str());
                        first.content = format!(
                            "Here are notes on {name}, part by part:\n\n{}\n\nPlease summarize the document from these notes.",
                            notes.join("\n\n")
                        );
                    }
                }
                if summary.cancelled && c.messages.last().is_some_and(|m| m.content.is_empty()) {
                    c.messages.pop();
                }
            }
            Err(e) => {
                if c.messages
                    .last()
                    .is_some_and(|m| m.role == Role::Assistant && m.content.is_empty())
                {
                    c.messages.pop();
                }
                self.notices.push(Notice {
                    message: first_sentence(&e),
                    details: Some(e),
                });
            }
        }
        self.save_conversation_id(&conversation);
    }

    /// What the running summary of a long document is doing: (status, parts read, parts).
    #[must_use]
    pub fn summary_job(&self) -> Option<(&str, Option<(usize, usize)>)> {
        self.job.as_ref().map(|j| (j.status.as_str(), j.coverage))
    }
}

/// Reads a document file into text (any supported format).
pub(super) fn read_document(path: &Path) -> Result<Document> {
    Ok(crate::documents::extract(path)?)
}
