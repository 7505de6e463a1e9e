//! The real app (built from the library) driven through its widgets with egui_kittest, with the
//! real engine and SmolLM2, and the loopback Hub for the model manager.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use egui::accesskit::Role;
use egui_kittest::kittest::Queryable;
use egui_kittest::Harness;
use xgen_desk::app::{
    AppCommand, AppOptions, ConversationStore, ModelState, Settings, View, XgenApp,
};
use xgen_desk::catalog;
use xgen_desk::engine::LoadSettings;
use xgen_desk::hub::HubOptions;
use xgen_desk::paths::AppPaths;
use xgen_desk::pipeline::Stage;
use xgen_desk::prompt::Role as ChatRole;
use xgen_desk::summarize::report::thousands;

use crate::common::{smollm2, temp_dir, TIMEOUT};
use crate::mock_hub::{MockHub, MockRepo};

pub(crate) fn options(root: &Path) -> AppOptions {
    let paths = AppPaths::under(root);
    let mut hub = HubOptions::new(paths.hf_cache_dir());
    hub.offline = true;
    AppOptions {
        paths,
        hub,
        setup_model: catalog::default_model(),
        load: LoadSettings {
            n_ctx: Some(2048),
            threads: Some(2),
            ..LoadSettings::default()
        },
        autoload: true,
        isolation: xgen_desk::isolate::Isolation::with_exe(env!("CARGO_BIN_EXE_xgen-desk")),
    }
}

pub(crate) fn with_model(root: &Path, model: &Path) -> AppOptions {
    let opts = options(root);
    let settings = Settings {
        model: Some(model.to_path_buf()),
        ..Settings::default()
    };
    settings.save(&opts.paths.settings_file()).unwrap();
    opts
}

pub(crate) fn harness(opts: AppOptions) -> Harness<'static, XgenApp> {
    Harness::builder()
        .with_size([1100.0, 760.0])
        .build_eframe(move |cc| XgenApp::new(&cc.egui_ctx, opts).expect("app starts"))
}

/// Runs frames until `done` holds (the app's threads wake it; the test polls).
pub(crate) fn step_until(
    h: &mut Harness<'_, XgenApp>,
    what: &str,
    done: impl Fn(&XgenApp) -> bool,
) {
    let deadline = Instant::now() + TIMEOUT;
    while !done(h.state()) {
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {what}; notices: {:?}; setup: {:?}",
            h.state().notices(),
            h.state().setup_state()
        );
        h.step();
        std::thread::sleep(Duration::from_millis(10));
    }
    h.step();
    h.step();
}

/// Changes the settings the way the settings screen does.
pub(crate) fn change_settings(h: &mut Harness<'_, XgenApp>, change: impl FnOnce(&mut Settings)) {
    let mut settings = h.state().settings().clone();
    change(&mut settings);
    h.state_mut()
        .run(AppCommand::ChangeSettings(Box::new(settings)));
}

pub(crate) fn wait_for_model(h: &mut Harness<'_, XgenApp>) {
    step_until(h, "the model to load", |a| {
        matches!(a.model(), ModelState::Ready(_)) || !a.notices().is_empty()
    });
    assert!(
        matches!(h.state().model(), ModelState::Ready(_)),
        "model did not load: {:?}",
        h.state().notices()
    );
}

/// Types `text` into the composer and presses Enter.
/// The model is loading, checked first in a child process or not.
#[track_caller]
fn assert_loading(h: &Harness<'_, XgenApp>, checked_apart: bool) {
    assert!(
        matches!(
            h.state().model(),
            ModelState::Loading { checking, .. } if *checking == checked_apart
        ),
        "expected loading with checking = {checked_apart}: {:?}",
        h.state().model()
    );
}

pub(crate) fn ask(h: &mut Harness<'_, XgenApp>, text: &str) {
    let composer = h.get_by_role(Role::MultilineTextInput);
    composer.focus();
    composer.type_text(text);
    h.step();
    h.key_press(egui::Key::Enter);
}

pub(crate) fn last_reply(app: &XgenApp) -> &xgen_desk::app::ChatMessage {
    let last = app.conversation().messages.last().expect("a message");
    assert_eq!(last.role, ChatRole::Assistant);
    last
}

pub(crate) fn document_text() -> String {
    let paragraph = "The city council met on Tuesday to discuss the new library. The building \
will have three floors, a reading garden and a room for children. Construction starts in \
spring and should take eighteen months. The budget is twelve million euros, paid by the city \
and a regional grant. Residents asked for longer opening hours and more parking.";
    (1..=6)
        .map(|i| format!("Part {i}. {paragraph}"))
        .collect::<Vec<_>>()
        .join("\n\n")
}

/// Paste a document -> exact token meter -> Summarize -> text streams -> Stop -> a follow-up is
/// answered from the cache (the document is not read again).
#[test]
fn paste_summarize_stop_and_follow_up() {
    let tmp = temp_dir();
    let mut h = harness(with_model(tmp.path(), &smollm2()));
    wait_for_model(&mut h);
    let installed = h.state().installed();
    assert_eq!(
        installed.len(),
        1,
        "a loaded local GGUF is listed: {installed:?}"
    );
    assert_eq!(installed[0].path, std::fs::canonicalize(smollm2()).unwrap());
    assert_eq!(installed[0].quantization, "Q4_1");
    assert_eq!(installed[0].context_length, 8192);

    let doc = document_text();
    h.event(egui::Event::Paste(doc.clone()));
    step_until(&mut h, "the token meter", |a| a.document_meter().is_some());
    let meter = h.state().document_meter().unwrap();
    let exact = h.state().engine().count_tokens(&doc).unwrap();
    assert_eq!(meter.document_tokens, exact);
    assert!(meter.fits(), "{meter:?}");
    assert!(meter.prompt_tokens > exact);
    h.get_by_label_contains(&format!("{} tokens ·", thousands(exact)));
    h.get_by_label_contains("fits");
    // Reading starts when the document arrives, before anything is asked.
    step_until(&mut h, "the document to be read ahead", |a| {
        a.preread_progress()
            .is_some_and(|(done, total, finished)| finished && done == total && total > 0)
    });
    h.get_by_label_contains("· read");

    h.get_by_label("Summarize").click();
    step_until(&mut h, "the summary to stream", |a| {
        a.is_generating()
            && a.conversation()
                .messages
                .last()
                .is_some_and(|m| m.content.len() > 8)
    });
    h.get_by_label("Stop").click();
    step_until(&mut h, "the reply to stop", |a| !a.is_generating());
    let reply = last_reply(h.state());
    assert!(reply.stopped, "Stop ends the reply early");
    assert!(!reply.content.is_empty());
    let stats = reply.stats.expect("stats");
    assert!(
        stats.prompt_evaluated * 4 < stats.prompt_tokens,
        "the summary found the document read ahead: {stats:?}"
    );
    h.get_by_label("(stopped)");

    ask(&mut h, "When does construction start?");
    step_until(&mut h, "the follow-up answer", |a| {
        !a.is_generating() && a.conversation().messages.len() == 4
    });
    let answer = last_reply(h.state());
    assert!(!answer.content.trim().is_empty(), "an answer");
    let stats = answer.stats.expect("stats");
    assert!(
        stats.prompt_evaluated * 4 < stats.prompt_tokens,
        "the document came from the cache: {stats:?}"
    );
    assert_eq!(
        h.state().conversation().messages[2].content,
        "When does construction start?"
    );
    assert_eq!(
        h.get_all_by_label_contains("prompt tokens from cache")
            .count(),
        2,
        "the summary and the answer both"
    );

    // Saved as it changed.
    let store = ConversationStore::new(AppPaths::under(tmp.path()).conversations_dir());
    let (saved, bad) = store.load_all().unwrap();
    assert!(bad.is_empty());
    assert_eq!(saved[0].messages.len(), 4);

    // After a restart the document's state comes from the disk cache: not read again.
    drop(h);
    let mut h = harness(with_model(tmp.path(), &smollm2()));
    wait_for_model(&mut h);
    assert_eq!(h.state().conversation().messages.len(), 4);
    ask(&mut h, "How many floors?");
    step_until(&mut h, "an answer after the restart", |a| {
        !a.is_generating() && a.conversation().messages.len() == 6
    });
    let stats = last_reply(h.state()).stats.expect("stats");
    assert!(
        stats.prompt_evaluated + meter.prompt_tokens / 2 < stats.prompt_tokens,
        "the document came from the disk state: {stats:?}"
    );

    // Esc stops a reply too.
    change_settings(&mut h, |s| s.sampling.max_tokens = 400);
    ask(&mut h, "Describe the building in detail.");
    step_until(&mut h, "the reply to stream", |a| {
        a.is_generating()
            && a.conversation()
                .messages
                .last()
                .is_some_and(|m| !m.content.is_empty())
    });
    h.key_press(egui::Key::Escape);
    step_until(&mut h, "Esc to stop the reply", |a| !a.is_generating());
    let reply = last_reply(h.state());
    assert!(reply.stopped);
    assert!(reply.stats.is_some_and(|s| s.tokens < 400), "{reply:?}");
}

#[test]
fn corrupt_model_file_shows_an_error_in_the_window() {
    let tmp = temp_dir();
    let bad = tmp.path().join("broken.gguf");
    let mut bytes = b"GGUF\x03\x00\x00\x00".to_vec();
    bytes.extend(std::iter::repeat_n(0xA5_u8, 4096));
    std::fs::write(&bad, bytes).unwrap();
    let mut h = harness(with_model(tmp.path(), &bad));
    step_until(&mut h, "an error", |a| !a.notices().is_empty());
    assert_eq!(*h.state().model(), ModelState::Empty);
    h.get_by_label_contains("could not be loaded");
    h.get_by_label("Details").click();
    h.step();
    assert!(
        h.get_all_by_label_contains("broken.gguf").count() >= 2,
        "details name the file"
    );
    h.get_by_label("Dismiss").click();
    h.step();
    assert!(h.state().notices().is_empty());

    // Two notices with details at once: each its own widgets (egui flags clashing ids on
    // screen, and the test harness refuses to draw that flag).
    let worse = tmp.path().join("worse.gguf");
    std::fs::write(&worse, b"GGUF\x03\x00\x00\x00").unwrap();
    h.state_mut().run(AppCommand::LoadModel(bad.clone()));
    step_until(&mut h, "the first error", |a| a.notices().len() == 1);
    h.state_mut().run(AppCommand::LoadModel(worse.clone()));
    step_until(&mut h, "the second error", |a| a.notices().len() == 2);
    for details in h.get_all_by_label("Details").collect::<Vec<_>>() {
        details.click();
    }
    h.step();
    h.step();
    h.get_by_label_contains("worse.gguf");
}

/// Without a model the app opens on the model manager, and a message is kept, not lost.
#[test]
fn first_run_shows_the_model_manager_and_keeps_unsent_text() {
    let tmp = temp_dir();
    let mut h = harness(options(tmp.path()));
    h.step();
    assert_eq!(h.state().view(), View::Models);
    h.get_by_label("Download and set up");
    h.get_by_label_contains("Memory at 8K context");
    // The hardware is measured off the UI thread; the plans appear once it is known.
    step_until(&mut h, "the hardware figures", |a| a.hardware().is_some());
    assert!(
        h.get_all_by_label_contains(" RAM, KV cache ").count() >= 4,
        "a memory plan per choice"
    );
    // The build of llama.cpp's CPU code that runs here, and why.
    h.get_by_label("CPU code");
    let cpu = xgen_desk::engine::runtime::cpu_code().unwrap().summary();
    h.get_by_label(&cpu);
    h.get_by_label("Chat").click();
    h.step();
    h.step();
    ask(&mut h, "hello there");
    h.step();
    h.step();
    assert_eq!(h.state().composer(), "hello there");
    assert!(h.state().conversation().messages.is_empty());
    h.get_by_label_contains("Load a model first");
}

/// Text that egui's own fonts cannot draw (arrows, math, symbols) is drawn from the system's
/// fonts: the harness panics on a missing glyph, as it does without them.
#[test]
fn characters_beyond_the_built_in_fonts_come_from_the_system() {
    let tmp = temp_dir();
    let mut h = harness(options(tmp.path()));
    h.step();
    h.get_by_label("Chat").click();
    h.step();
    let id = h.state().conversation().id.clone();
    let title = "Costs \u{2192} prices \u{2265} 3 \u{2605}";
    h.state_mut().run(AppCommand::RenameConversation {
        id,
        title: title.to_owned(),
    });
    h.step();
    h.step();
    h.get_by_label_contains("Costs \u{2192} prices");
}

#[test]
fn conversations_survive_a_restart() {
    let tmp = temp_dir();
    let opts = AppOptions {
        autoload: false,
        ..options(tmp.path())
    };
    let id = {
        let mut h = harness(opts.clone());
        h.event(egui::Event::Paste(document_text()));
        h.step();
        h.step();
        let id = h.state().conversation().id.clone();
        h.state_mut().run(AppCommand::RenameConversation {
            id: id.clone(),
            title: "Library plans".to_owned(),
        });
        h.step();
        id
    };
    let mut h = harness(opts);
    h.step();
    let c = h
        .state()
        .conversations()
        .iter()
        .find(|c| c.id == id)
        .expect("conversation reloaded")
        .clone();
    assert_eq!(c.title, "Library plans");
    assert_eq!(c.document.as_ref().unwrap().text, document_text());
    h.get_by_label("Library plans").click();
    h.step();
    assert_eq!(h.state().conversation().id, id);
    h.step();
    h.get_by_label_contains("Pasted text");

    let md = tmp.path().join("export.md");
    h.state_mut().run(AppCommand::ExportConversation {
        id: id.clone(),
        to: Some(md.clone()),
    });
    assert!(h.state().notices().is_empty(), "{:?}", h.state().notices());
    assert!(std::fs::read_to_string(&md)
        .unwrap()
        .starts_with("# Library plans"));

    h.state_mut()
        .run(AppCommand::DeleteConversation(id.clone()));
    h.step();
    let store = ConversationStore::new(AppPaths::under(tmp.path()).conversations_dir());
    assert!(store.load_all().unwrap().0.iter().all(|c| c.id != id));
}

/// The child process of [`a_save_killed_midway_leaves_a_whole_file`]: this test binary run
/// again with a directory as its role saves there until it is killed, saying [`SAVED`] on stdout
/// once its first save is complete. Run on its own, it saves both versions a few times and
/// checks that the last one is what the file holds.
#[test]
fn save_loop_child() {
    if let Some(dir) = xgen_testkit::child::role() {
        let dir = Path::new(&dir);
        xgen_testkit::save_loop(dir, Some(1)).unwrap();
        println!("{SAVED}");
        std::io::Write::flush(&mut std::io::stdout()).unwrap();
        xgen_testkit::save_loop(dir, None).unwrap();
        return;
    }
    let tmp = temp_dir();
    xgen_testkit::save_loop(tmp.path(), Some(3)).unwrap();
    let (list, bad) = ConversationStore::new(tmp.path()).load_all().unwrap();
    assert!(bad.is_empty(), "{bad:?}");
    assert_eq!(list.len(), 1);
    assert_eq!(
        list[0].title, "B",
        "the last version saved is the one on disk"
    );
}

/// What [`save_loop_child`] prints once its first save is complete.
const SAVED: &str = "SAVE-LOOP-SAVED";

/// A process killed while saving leaves the previous version (or the new one), never a torn
/// file. Each kill comes a while after the child's first complete save, so that it lands in
/// the loop (not in the child's start, which takes longer than the whole delay on a loaded
/// machine), and a whole file is there every time.
#[test]
fn a_save_killed_midway_leaves_a_whole_file() {
    use std::io::BufRead;

    let tmp = temp_dir();
    let dir = tmp.path().join("conversations");
    for delay_ms in [150_u64, 230, 310, 390, 470] {
        let mut child =
            xgen_testkit::child::command("app::save_loop_child", &dir.to_string_lossy())
                .stdout(std::process::Stdio::piped())
                .spawn()
                .expect("start the save loop");
        // libtest may print `test name ... ` before the child's own output, on the same line.
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        crate::common::spawn("save-loop-stdout", move || {
            let mut lines = std::io::BufReader::new(stdout).lines();
            let saved = lines.any(|line| line.is_ok_and(|l| l.contains(SAVED)));
            let _ = tx.send(saved);
            // Read on until the child is gone, so that it never blocks on a full pipe.
            lines.for_each(drop);
        });
        let saved = rx.recv_timeout(TIMEOUT);
        assert!(
            matches!(saved, Ok(true)),
            "the save loop's first save did not complete: {saved:?}"
        );
        std::thread::sleep(Duration::from_millis(delay_ms));
        child.kill().expect("kill");
        child.wait().unwrap();
        let (list, bad) = ConversationStore::new(&dir).load_all().unwrap();
        assert!(bad.is_empty(), "a torn file: {bad:?}");
        assert_eq!(list.len(), 1, "a save completed before the kill");
        let c = &list[0];
        let letter = c.title.clone();
        assert!(letter == "A" || letter == "B");
        assert_eq!(c.messages.len(), 64);
        assert!(c
            .messages
            .iter()
            .all(|m| m.content.chars().all(|ch| ch.to_string() == letter)));
    }
}

/// The model manager against the loopback Hub: click -> progress -> cancel -> resume -> the
/// model is ready -> chat works.
#[test]
fn model_manager_downloads_cancels_resumes_and_chats() {
    let model = catalog::default_model();
    let mock = MockHub::start(vec![MockRepo::tiny_xgen(
        model,
        "0123456789abcdef0123456789abcdef01234567",
        11,
    )]);
    let tmp = temp_dir();
    let mut opts = options(tmp.path());
    opts.hub.offline = false;
    opts.hub.endpoint = mock.endpoint();
    opts.hub.disk_space = Arc::new(|_: &Path| Ok(u64::MAX));
    mock.throttle(Some(256 * 1024));
    let mut h = harness(opts.clone());
    h.step();
    assert_eq!(h.state().view(), View::Models);
    change_settings(&mut h, |s| s.sampling.max_tokens = 12);

    h.get_by_label("Download and set up").click();
    step_until(&mut h, "download progress", |a| {
        a.setup_state()
            .stage(Stage::Download)
            .is_some_and(|p| p.done > 0)
    });
    h.get_by_label_contains("Downloading");
    h.get_by_label("Cancel").click();
    step_until(&mut h, "the cancel", |a| !a.setup_state().running);
    let outcome = h.state().setup_state().outcome.clone().unwrap_or_default();
    assert!(outcome.starts_with("Cancelled"), "{outcome}");
    assert!(h.state().installed().is_empty());

    // A restart remembers the interrupted setup.
    drop(h);
    let mut h = harness(opts);
    h.step();
    assert_eq!(h.state().view(), View::Models);
    h.get_by_label_contains("A setup was interrupted");
    mock.throttle(None);
    change_settings(&mut h, |s| s.sampling.max_tokens = 12);
    h.get_by_label("Resume").click();
    step_until(&mut h, "setup and load", |a| {
        matches!(a.model(), ModelState::Ready(_)) || !a.notices().is_empty()
    });
    assert!(
        matches!(h.state().model(), ModelState::Ready(info) if info.xgen),
        "{:?}",
        h.state().notices()
    );
    assert_eq!(h.state().installed().len(), 1);
    assert_eq!(h.state().view(), View::Chat);

    ask(&mut h, "Hi");
    step_until(&mut h, "a reply", |a| {
        !a.is_generating() && a.conversation().messages.len() == 2
    });
    let reply = last_reply(h.state());
    assert!(reply.stats.is_some_and(|s| s.tokens > 0), "{reply:?}");
}

/// A document longer than the context is read in parts (map-reduce) with the coverage shown,
/// and a follow-up question is answered (from the passages it reads, with the part notes).
#[test]
fn long_document_is_read_in_parts_with_full_coverage() {
    let tmp = temp_dir();
    let mut opts = with_model(tmp.path(), &smollm2());
    opts.load.n_ctx = Some(1024);
    let mut h = harness(opts);
    wait_for_model(&mut h);
    change_settings(&mut h, |s| {
        s.summary_length = xgen_desk::app::SummaryLength::Short;
        s.sampling.max_tokens = 24;
    });

    let doc = (0..4)
        .map(|_| document_text())
        .collect::<Vec<_>>()
        .join("\n\n");
    h.event(egui::Event::Paste(doc));
    step_until(&mut h, "the token meter", |a| a.document_meter().is_some());
    let meter = h.state().document_meter().unwrap();
    assert!(!meter.fits(), "{meter:?}");
    assert!(meter.parts >= 2, "{meter:?}");
    h.get_by_label_contains(&format!("read in {} parts", meter.parts));

    h.get_by_label("Summarize").click();
    step_until(&mut h, "parts being read", |a| {
        a.summary_job().is_some_and(|(_, c)| c.is_some())
    });
    step_until(&mut h, "the summary", |a| !a.is_generating());
    assert!(h.state().notices().is_empty(), "{:?}", h.state().notices());
    let reply = last_reply(h.state());
    assert!(!reply.content.trim().is_empty());
    let shown = reply.shown().to_owned();
    assert!(
        shown.contains(&format!(
            "Read in {} parts (100% of the document)",
            meter.parts
        )),
        "{shown}"
    );

    ask(&mut h, "How much does it cost?");
    step_until(&mut h, "the follow-up answer", |a| {
        !a.is_generating() && a.conversation().messages.len() == 4
    });
    assert!(h.state().notices().is_empty(), "{:?}", h.state().notices());
    assert!(last_reply(h.state()).stats.is_some());
}

/// Ctrl+, opens the settings; a preset and a theme chosen there are saved and come back after
/// a restart.
#[test]
fn settings_open_with_ctrl_comma_and_are_saved() {
    let tmp = temp_dir();
    let opts = AppOptions {
        autoload: false,
        ..options(tmp.path())
    };
    {
        let mut h = harness(opts.clone());
        h.step();
        h.key_press_modifiers(egui::Modifiers::COMMAND, egui::Key::Comma);
        h.step();
        assert_eq!(h.state().view(), View::Settings);
        h.get_by_label("Precise").click();
        h.step();
        h.get_by_label("Dark").click();
        h.step();
        h.step();
        assert_eq!(h.state().settings().sampling.temperature, 0.0);
        assert_eq!(
            h.state().settings().theme,
            xgen_desk::app::ThemeChoice::Dark
        );
    }
    let saved = Settings::load(&AppPaths::under(tmp.path()).settings_file()).unwrap();
    assert_eq!(saved.theme, xgen_desk::app::ThemeChoice::Dark);
    assert_eq!(saved.sampling.top_k, 1);
    let h = harness(opts);
    assert_eq!(*h.state().settings(), saved);
}

/// Opening a file (what the dialog, a drop and "Open with" do) reads it on a worker thread
/// with the document readers; a file that cannot be read is explained in the window.
#[test]
fn opened_files_become_documents_or_clear_errors() {
    let tmp = temp_dir();
    let opts = AppOptions {
        autoload: false,
        ..options(tmp.path())
    };
    let html = tmp.path().join("notes.html");
    std::fs::write(
        &html,
        "<!doctype html><html><head><style>p{color:red}</style><script>var secret = 1;</script></head>\
         <body><main><h1>Library</h1><p>Three floors and a garden.</p></main></body></html>",
    )
    .unwrap();
    let binary = tmp.path().join("data.txt");
    std::fs::write(&binary, [0_u8, 159, 146, 150, 0, 1, 2, 3]).unwrap();

    let mut h = harness(opts);
    h.step();
    h.state_mut().run(AppCommand::OpenFiles(vec![html.clone()]));
    step_until(&mut h, "the document", |a| {
        a.conversation().document.is_some()
    });
    let doc = h.state().conversation().document.clone().unwrap();
    assert_eq!(doc.name, "notes.html");
    assert!(
        doc.text.contains("Three floors and a garden."),
        "{}",
        doc.text
    );
    assert!(!doc.text.contains("secret") && !doc.text.contains("color"));
    assert!(
        h.get_all_by_label("notes.html").count() >= 2,
        "sidebar title and document card"
    );

    h.state_mut()
        .run(AppCommand::OpenFiles(vec![binary.clone()]));
    step_until(&mut h, "an error", |a| !a.notices().is_empty());
    h.get_by_label_contains("data.txt looks like a binary file");
    h.get_by_label_contains("open a text, Markdown, PDF");
    assert_eq!(h.state().conversations().len(), 1, "nothing attached");

    // The same problem again is one notice; another one is a second.
    let other = tmp.path().join("other.txt");
    std::fs::write(&other, [0_u8, 1, 2, 3]).unwrap();
    h.state_mut()
        .run(AppCommand::OpenFiles(vec![binary.clone()]));
    h.state_mut()
        .run(AppCommand::OpenFiles(vec![other.clone()]));
    step_until(&mut h, "the second file's error", |a| {
        a.notices().iter().any(|n| n.message.contains("other.txt"))
    });
    assert_eq!(h.state().notices().len(), 2, "{:?}", h.state().notices());
}

/// A GGUF file dropped on the window is a model, not a document: it is checked apart and
/// loaded, while a document dropped with it opens as the document.
#[test]
fn a_dropped_gguf_loads_as_the_model() {
    let tmp = temp_dir();
    let opts = AppOptions {
        autoload: false,
        ..options(tmp.path())
    };
    let notes = tmp.path().join("notes.txt");
    std::fs::write(&notes, document_text()).unwrap();
    let mut h = harness(opts);
    h.step();
    assert_eq!(*h.state().model(), ModelState::Empty);
    crate::queue::drop_files(&mut h, &[smollm2(), notes]);
    assert_loading(&h, true);
    wait_for_model(&mut h);
    step_until(&mut h, "the document", |a| {
        a.conversation().document.is_some()
    });
    assert_eq!(
        h.state().conversation().document.as_ref().unwrap().name,
        "notes.txt"
    );
    assert!(h.state().notices().is_empty(), "{:?}", h.state().notices());
}

/// When the engine thread dies, the window says so in its next frame (and keeps working), and
/// Reload starts a new engine with the model, which then answers.
#[test]
fn engine_death_shows_a_notice_and_reload_brings_the_model_back() {
    let tmp = temp_dir();
    let mut h = harness(with_model(tmp.path(), &smollm2()));
    wait_for_model(&mut h);
    change_settings(&mut h, |s| s.sampling.max_tokens = 8);
    h.state_mut().run(AppCommand::InjectEnginePanic);
    // The thread's death takes as long as the machine makes it (a panic message, a backtrace
    // when asked for); what the window owes is to show it in the first frame after it.
    let deadline = Instant::now() + TIMEOUT;
    while h.state().engine().stopped().is_none() {
        assert!(Instant::now() < deadline, "the engine thread did not stop");
        std::thread::sleep(Duration::from_millis(5));
    }
    h.step();
    assert!(
        h.state()
            .notices()
            .iter()
            .any(|n| n.message.contains("engine stopped")),
        "the first frame after the engine died shows it: {:?}",
        h.state().notices()
    );
    h.step();
    assert_eq!(*h.state().model(), ModelState::Empty);
    h.get_by_label("Details").click();
    h.step();
    h.get_by_label_contains("fault injected");

    h.get_by_label("Reload").click();
    h.step();
    assert!(
        matches!(h.state().model(), ModelState::Loading { .. }),
        "Reload loads the model again"
    );
    wait_for_model(&mut h);
    assert!(h.state().notices().is_empty(), "{:?}", h.state().notices());
    ask(&mut h, "Hi");
    step_until(&mut h, "a reply from the new engine", |a| {
        !a.is_generating() && a.conversation().messages.len() == 2
    });
    assert!(last_reply(h.state()).stats.is_some_and(|s| s.tokens > 0));
}

/// A second window on the same data directory says another one is running and saves nothing,
/// so the two cannot overwrite each other's conversations.
#[test]
fn a_second_window_on_the_same_data_opens_read_only() {
    let tmp = temp_dir();
    let opts = AppOptions {
        autoload: false,
        ..options(tmp.path())
    };
    let mut first = harness(opts.clone());
    first.step();
    assert!(!first.state().is_read_only());
    let mut second = harness(opts.clone());
    second.step();
    assert!(second.state().is_read_only());
    second.get_by_label_contains("already running");
    second.event(egui::Event::Paste(document_text()));
    second.step();
    second.step();
    assert!(second.state().conversation().document.is_some());
    let store = ConversationStore::new(AppPaths::under(tmp.path()).conversations_dir());
    assert!(
        store.load_all().unwrap().0.is_empty(),
        "the read-only window saved nothing"
    );
    drop(second);
    drop(first);
    // Once the first window is closed, the next one owns the data again.
    let h = harness(opts);
    assert!(!h.state().is_read_only());
}

/// Hostile and slow files dropped on the window become notices that say what was wrong, in
/// words, while the window keeps drawing; the next ordinary document still reads and
/// summarizes.
#[test]
fn hostile_files_become_notices_and_the_next_document_still_summarizes() {
    use crate::documents::{docx_paragraph, make_docx, make_slow_pdf};

    let tmp = temp_dir();
    let mut opts = with_model(tmp.path(), &smollm2());
    // Reading a document past this is stopped (a real reader gets 60 s).
    opts.isolation.wall = Duration::from_secs(2);
    let mut h = harness(opts);
    wait_for_model(&mut h);
    change_settings(&mut h, |s| {
        s.summary_length = xgen_desk::app::SummaryLength::Short;
        s.sampling.max_tokens = 16;
    });

    // Tables nested a million deep: before the readers were bounded, this 0.3 MB file hung.
    let depth = 1_000_000;
    let open = format!("<w:tbl><w:tr><w:tc>{}", docx_paragraph("x", None));
    let mut body = open.repeat(depth);
    body.push_str(&"</w:tc></w:tr></w:tbl>".repeat(depth));
    let nested = tmp.path().join("nested.docx");
    std::fs::write(&nested, make_docx(&body)).unwrap();
    // A PDF that takes its reader far longer than allowed on any machine (about 40 s here).
    let slow = tmp.path().join("slow.pdf");
    std::fs::write(&slow, make_slow_pdf(200)).unwrap();
    let notes = tmp.path().join("notes.txt");
    std::fs::write(&notes, document_text()).unwrap();

    h.state_mut()
        .run(AppCommand::OpenFiles(vec![nested.clone()]));
    step_until(&mut h, "the nested-tables notice", |a| {
        !a.notices().is_empty()
    });
    h.get_by_label_contains("nested more than 64 deep");
    h.get_by_label("Dismiss").click();
    h.step();
    assert!(h.state().notices().is_empty(), "{:?}", h.state().notices());

    let started = Instant::now();
    h.state_mut().run(AppCommand::OpenFiles(vec![slow.clone()]));
    step_until(&mut h, "the reader-stopped notice", |a| {
        !a.notices().is_empty()
    });
    assert!(started.elapsed() < Duration::from_secs(30));
    let notice = &h.state().notices()[0].message;
    assert!(notice.contains("slow.pdf"), "{notice}");
    h.get_by_label_contains("stopped after 2 s");
    assert!(
        h.state().conversation().document.is_none(),
        "nothing attached"
    );
    h.get_by_label("Dismiss").click();
    h.step();

    h.state_mut()
        .run(AppCommand::OpenFiles(vec![notes.clone()]));
    step_until(&mut h, "the document", |a| {
        a.conversation().document.is_some()
    });
    step_until(&mut h, "the token meter", |a| a.document_meter().is_some());
    h.get_by_label("Summarize").click();
    step_until(&mut h, "the summary", |a| {
        !a.is_generating()
            && a.conversation()
                .messages
                .last()
                .is_some_and(|m| !m.content.is_empty())
    });
    assert!(h.state().notices().is_empty(), "{:?}", h.state().notices());
}

/// A model file nobody checked loads first in a child process: one that makes llama.cpp abort
/// becomes a notice while the window lives on; a good one is checked once, recorded in the
/// installed-models list, and loads without a check afterwards.
#[test]
fn a_model_that_aborts_llama_cpp_is_checked_apart_and_the_window_lives_on() {
    let tmp = temp_dir();
    let bad = crate::common::aborting_gguf(tmp.path());
    let opts = with_model(tmp.path(), &bad);
    let registry = catalog::Registry::new(opts.paths.registry_file());
    let mut h = harness(opts);
    step_until(&mut h, "the check's error", |a| !a.notices().is_empty());
    assert_eq!(*h.state().model(), ModelState::Empty);
    let details = h.state().notices()[0].details.clone().unwrap_or_default();
    assert!(details.contains("id_to_token"), "{details}");
    h.get_by_label_contains("could not be loaded");
    h.get_by_label("Dismiss").click();
    h.step();

    let good = std::fs::canonicalize(smollm2()).unwrap();
    h.state_mut().run(AppCommand::LoadModel(good.clone()));
    assert_loading(&h, true);
    wait_for_model(&mut h);
    let entry = registry
        .list()
        .unwrap()
        .into_iter()
        .find(|m| m.path == good)
        .expect("the loaded model is in the list");
    assert!(entry.is_checked_file(), "{entry:?}");

    h.state_mut().run(AppCommand::LoadModel(good.clone()));
    // A checked file loads without another check.
    assert_loading(&h, false);
    wait_for_model(&mut h);
}
