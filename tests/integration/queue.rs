//! Many documents at once: the app's queue (files dropped on the real window, summarized with
//! SmolLM2, exported, kept across a restart) and `xgen-desk summarize A B DIR/`.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Arc;

use egui_kittest::kittest::Queryable;

use xgen_desk::app::{AppCommand, QueueAction, QueueCommand, QueueItem, QueueStatus, XgenApp};
use xgen_desk::documents::{collect_documents, CollectLimits, Format};

use crate::app::{
    ask, change_settings, document_text, harness, options, step_until, wait_for_model, with_model,
};
use crate::common::{smollm2, temp_dir};

/// A file dropped on the window, as the windowing integration hands it to egui.
#[derive(Debug)]
struct Dropped(PathBuf);

impl egui::DroppedFile for Dropped {
    fn path(&self) -> &Path {
        &self.0
    }

    fn bytes(&self) -> Result<Vec<u8>, String> {
        std::fs::read(&self.0).map_err(|e| e.to_string())
    }
}

pub(crate) fn drop_files(h: &mut egui_kittest::Harness<'_, XgenApp>, paths: &[PathBuf]) {
    h.input_mut().dropped_files = paths
        .iter()
        .map(|p| Arc::new(Dropped(p.clone())) as egui::DroppedFileHandle)
        .collect();
    h.step();
}

fn second_text() -> String {
    "The river festival returns in July. Boats from twelve towns race on the last Sunday, \
and the winning crew rows the mayor across the river. Food stalls line both banks, and the \
fireworks start at ten in the evening. Volunteers are needed to clean the banks afterwards."
        .to_owned()
}

/// Three documents in `dir`: two that read, one PDF that does not.
fn three_files(dir: &Path) -> [PathBuf; 3] {
    let a = dir.join("library.txt");
    std::fs::write(&a, document_text()).unwrap();
    let b = dir.join("festival.md");
    std::fs::write(&b, format!("# Festival\n\n{}", second_text())).unwrap();
    let broken = dir.join("broken.pdf");
    std::fs::write(&broken, b"%PDF-1.4 not really").unwrap();
    [a, broken, b]
}

fn item<'a>(app: &'a XgenApp, name: &str) -> &'a QueueItem {
    app.queue()
        .iter()
        .find(|i| i.name == name)
        .unwrap_or_else(|| panic!("{name} is not queued: {:?}", app.queue()))
}

/// [`step_until`] that shows the queue when it times out.
pub(crate) fn step_queue_until(
    h: &mut egui_kittest::Harness<'_, XgenApp>,
    what: &str,
    done: impl Fn(&XgenApp) -> bool,
) {
    let deadline = std::time::Instant::now() + crate::common::TIMEOUT;
    while !done(h.state()) {
        assert!(
            std::time::Instant::now() < deadline,
            "timed out waiting for {what}; queue: {:#?}; notices: {:?}",
            h.state().queue(),
            h.state().notices()
        );
        h.step();
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    h.step();
}

fn settled(app: &XgenApp) -> bool {
    !app.queue().is_empty() && app.queue().iter().all(|i| !i.status.is_pending())
}

/// While one summary is written, the next file is read in a second context of the local
/// engine, between the steps of that summary; its own summary then reads only its request
/// (the document's state is handed over through the disk state cache).
#[test]
fn the_next_file_is_read_alongside_while_a_summary_is_written() {
    let tmp = temp_dir();
    let docs = tmp.path().join("docs");
    std::fs::create_dir(&docs).unwrap();
    let first = docs.join("library.txt");
    std::fs::write(&first, document_text()).unwrap();
    let second = docs.join("river.txt");
    std::fs::write(
        &second,
        (0..8)
            .map(|_| second_text())
            .collect::<Vec<_>>()
            .join("\n\n"),
    )
    .unwrap();
    let mut h = harness(with_model(tmp.path(), &smollm2()));
    wait_for_model(&mut h);
    change_settings(&mut h, |s| {
        s.summary_length = xgen_desk::app::SummaryLength::Long
    });
    drop_files(&mut h, &[first, second]);
    let deadline = std::time::Instant::now() + crate::common::TIMEOUT;
    let mut read_while_writing = Vec::new();
    while !settled(h.state()) {
        assert!(
            std::time::Instant::now() < deadline,
            "timed out; queue: {:#?}",
            h.state().queue()
        );
        let app = h.state();
        if app.queue().len() == 2 && item(app, "library.txt").status.is_pending() {
            let detail = &item(app, "river.txt").detail;
            if detail.starts_with("Read ahead") && read_while_writing.last() != Some(detail) {
                read_while_writing.push(detail.clone());
            }
        }
        h.step();
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    h.step();
    let app = h.state();
    assert!(app.notices().is_empty(), "{:?}", app.notices());
    eprintln!("river.txt while library.txt was summarized: {read_while_writing:?}");
    assert!(
        !read_while_writing.is_empty(),
        "the next file was not read while the summary was written"
    );
    let stats = |name: &str| {
        let done = item(app, name);
        assert_eq!(done.status, QueueStatus::Done, "{done:?}");
        let id = done.conversation.as_deref().expect("a conversation");
        let c = app.conversations().iter().find(|c| c.id == id).unwrap();
        (
            done.tokens.expect("counted"),
            c.messages[1].stats.expect("figures"),
        )
    };
    let (tokens, first) = stats("library.txt");
    let (_, second) = stats("river.txt");
    eprintln!("library.txt: {first:?}\nriver.txt: {second:?}");
    assert!(first.prompt_evaluated > tokens, "read whole: {first:?}");
    let (tokens, second) = stats("river.txt");
    assert!(tokens > 300, "{tokens}");
    assert!(second.prompt_tokens > tokens, "{second:?}");
    assert!(
        second.prompt_evaluated < 40,
        "read alongside, so only the request is read: {second:?}"
    );
}

/// Three files dropped at once (one broken): two summaries, each its own conversation that
/// answers a follow-up, one clear failure, the queue goes on; Export all writes one report;
/// after a restart the queue and its results are there and nothing runs again.
#[test]
fn dropped_files_are_summarized_in_turn_and_survive_a_restart() {
    let tmp = temp_dir();
    let docs = tmp.path().join("docs");
    std::fs::create_dir(&docs).unwrap();
    let files = three_files(&docs);
    let mut h = harness(with_model(tmp.path(), &smollm2()));
    wait_for_model(&mut h);
    change_settings(&mut h, |s| {
        s.summary_length = xgen_desk::app::SummaryLength::Short;
        s.sampling.max_tokens = 16;
    });
    let first_conversation = h.state().conversation().id.clone();

    drop_files(&mut h, &files);
    step_queue_until(&mut h, "the queue to finish", settled);
    let app = h.state();
    assert!(app.notices().is_empty(), "{:?}", app.notices());
    assert_eq!(
        app.queue()
            .iter()
            .map(|i| i.name.as_str())
            .collect::<Vec<_>>(),
        ["library.txt", "broken.pdf", "festival.md"],
        "in the order dropped"
    );
    let broken = item(app, "broken.pdf");
    assert_eq!(broken.status, QueueStatus::Failed);
    assert!(
        broken.detail.contains("broken.pdf is not a readable PDF"),
        "{broken:?}"
    );
    for (name, format) in [
        ("library.txt", Format::Text),
        ("festival.md", Format::Markdown),
    ] {
        let done = item(app, name);
        assert_eq!(done.status, QueueStatus::Done, "{done:?}");
        assert_eq!(done.format, Some(format));
        assert!(done.tokens.is_some_and(|t| t > 20), "{done:?}");
        assert!(done.coverage.is_some_and(|c| c.complete()), "{done:?}");
        assert!(!done.summary.trim().is_empty(), "{done:?}");
        // The result is a conversation with the document, its request and the summary.
        let id = done.conversation.as_deref().expect("a conversation");
        let c = app.conversations().iter().find(|c| c.id == id).unwrap();
        assert_eq!(c.title, name);
        assert_eq!(c.document.as_ref().unwrap().name, name);
        assert_eq!(c.messages.len(), 2);
        assert_eq!(c.messages[1].content, done.summary);
    }
    assert_eq!(
        app.conversation().id,
        first_conversation,
        "results do not take the screen"
    );
    h.get_by_label_contains("2 of 3 summarized");
    h.get_by_label_contains("1 failed");
    h.get_by_label_contains("Failed: broken.pdf is not a readable PDF");
    h.get_by_label("Export all…");

    let report = tmp.path().join("summaries.md");
    h.state_mut().run(AppCommand::Queue(QueueCommand::Export {
        to: Some(report.clone()),
    }));
    assert!(h.state().notices().is_empty(), "{:?}", h.state().notices());
    let markdown = std::fs::read_to_string(&report).unwrap();
    let library = item(h.state(), "library.txt");
    assert!(markdown.starts_with("# Document summaries\n\n## library.txt\n\n"));
    assert!(
        markdown.contains(&format!("Source: {}", files[0].display())),
        "{markdown}"
    );
    assert!(
        without_footnote_marks(&markdown).contains(library.summary.trim()),
        "{markdown}"
    );
    assert!(markdown.contains("Coverage: 100% of the document"));
    assert!(markdown.contains("## festival.md"));
    assert!(
        markdown.contains("## broken.pdf\n\nSource: ")
            && markdown.contains("Not summarized: broken.pdf is not a readable PDF"),
        "{markdown}"
    );

    // Open shows the result; a follow-up question is answered about the document.
    let library_conversation = library.conversation.clone().unwrap();
    h.get_all_by_label("Open").next().unwrap().click();
    h.step();
    assert_eq!(h.state().conversation().id, library_conversation);
    ask(&mut h, "When does construction start?");
    step_until(&mut h, "the follow-up answer", |a| {
        !a.is_generating() && a.conversation().messages.len() == 4
    });
    assert!(h.state().notices().is_empty(), "{:?}", h.state().notices());
    let answer = &h.state().conversation().messages[3];
    assert!(answer.stats.is_some_and(|s| s.tokens > 0), "{answer:?}");

    // After a restart: the same queue and results, and nothing is summarized again.
    let before: Vec<QueueItem> = h.state().queue().to_vec();
    drop(h);
    let mut h = harness(with_model(tmp.path(), &smollm2()));
    h.step();
    assert_eq!(h.state().queue(), before.as_slice());
    h.get_by_label_contains("2 of 3 summarized");
    wait_for_model(&mut h);
    h.step();
    assert!(h.state().queue().iter().all(|i| !i.status.is_pending()));
    assert!(h
        .state()
        .conversations()
        .iter()
        .any(|c| c.id == library_conversation));

    // Retry puts the failed file back; it fails the same way, and the rest is untouched.
    let broken = item(h.state(), "broken.pdf").id;
    h.get_by_label("Retry").click();
    h.step();
    assert!(item(h.state(), "broken.pdf").status.is_pending());
    step_queue_until(&mut h, "the retry to fail again", settled);
    assert_eq!(item(h.state(), "broken.pdf").status, QueueStatus::Failed);
    h.state_mut().run(AppCommand::Queue(QueueCommand::File {
        id: broken,
        action: QueueAction::Remove,
    }));
    h.step();
    assert_eq!(h.state().queue().len(), 2);
}

/// A dropped folder is searched for documents; without a model the first one is read and
/// waits. Pause and Cancel change single files; a restart keeps those choices and
/// resumes the rest, which is summarized once a model is loaded. A read-only second window
/// never writes the queue's file.
/// A file whose name is not valid UTF-8 (Linux allows any bytes) is queued, read, saved with
/// the queue and found again after a restart; saving never fails because of its name.
#[cfg(target_os = "linux")]
#[test]
fn a_file_name_that_is_not_unicode_is_queued_and_kept() {
    use std::os::unix::ffi::OsStrExt;

    let tmp = temp_dir();
    let latin1 = tmp.path().join(std::ffi::OsStr::from_bytes(b"caf\xe9.txt"));
    std::fs::write(&latin1, document_text()).unwrap();
    let other = tmp.path().join("other.txt");
    std::fs::write(&other, second_text()).unwrap();
    let opts = xgen_desk::app::AppOptions {
        autoload: false,
        ..options(tmp.path())
    };
    let mut h = harness(opts.clone());
    h.step();
    drop_files(&mut h, &[latin1.clone(), other]);
    step_queue_until(&mut h, "the first document to be read", |a| {
        a.queue()
            .first()
            .is_some_and(|i| i.status == QueueStatus::Read)
    });
    assert_eq!(h.state().queue()[0].path, latin1);
    assert_eq!(h.state().queue()[0].name, "caf\u{FFFD}.txt");
    assert!(h.state().notices().is_empty(), "{:?}", h.state().notices());
    drop(h);

    let mut h = harness(opts);
    h.step();
    assert_eq!(h.state().queue().len(), 2, "{:?}", h.state().notices());
    assert_eq!(h.state().queue()[0].path, latin1);
    assert!(h.state().notices().is_empty(), "{:?}", h.state().notices());
}

#[test]
fn a_dropped_folder_queues_its_documents_with_pause_cancel_retry_across_a_restart() {
    let tmp = temp_dir();
    let folder = tmp.path().join("reports");
    std::fs::create_dir_all(folder.join("2024")).unwrap();
    std::fs::write(folder.join("a.txt"), document_text()).unwrap();
    std::fs::write(folder.join("2024/b.txt"), second_text()).unwrap();
    std::fs::write(folder.join("2024/c.md"), second_text()).unwrap();
    std::fs::write(folder.join("photo.jpg"), [0xFF_u8, 0xD8, 0xFF]).unwrap();
    let opts = xgen_desk::app::AppOptions {
        autoload: false,
        ..options(tmp.path())
    };
    let mut h = harness(opts.clone());
    h.step();
    drop_files(&mut h, std::slice::from_ref(&folder));
    step_queue_until(&mut h, "the first document to be read", |a| {
        a.queue()
            .first()
            .is_some_and(|i| i.status == QueueStatus::Read)
    });
    let names: Vec<&str> = h.state().queue().iter().map(|i| i.name.as_str()).collect();
    assert_eq!(
        names,
        ["b.txt", "c.md", "a.txt"],
        "sorted by path: 2024/ first"
    );
    assert_eq!(
        h.state().queue()[1].status,
        QueueStatus::Waiting,
        "one read ahead"
    );
    h.get_by_label_contains("once a model is loaded");
    let id = |h: &egui_kittest::Harness<'_, XgenApp>, name: &str| item(h.state(), name).id;
    let (b, c, a) = (id(&h, "b.txt"), id(&h, "c.md"), id(&h, "a.txt"));
    h.state_mut().run(AppCommand::Queue(QueueCommand::File {
        id: c,
        action: QueueAction::Pause,
    }));
    h.state_mut().run(AppCommand::Queue(QueueCommand::File {
        id: a,
        action: QueueAction::Cancel,
    }));
    h.step();
    assert_eq!(item(h.state(), "c.md").status, QueueStatus::Paused);
    assert_eq!(item(h.state(), "a.txt").status, QueueStatus::Cancelled);
    h.state_mut().run(AppCommand::Queue(QueueCommand::File {
        id: a,
        action: QueueAction::Resume,
    }));
    h.step();
    assert_eq!(
        item(h.state(), "a.txt").status,
        QueueStatus::Cancelled,
        "Resume is for paused files; Retry brings a cancelled one back"
    );

    // A second window on the same data shows the queue but never writes it.
    let queue_file = xgen_desk::paths::AppPaths::under(tmp.path()).queue_file();
    let saved = std::fs::read(&queue_file).unwrap();
    {
        let mut second = harness(opts.clone());
        second.step();
        assert!(second.state().is_read_only());
        assert_eq!(second.state().queue().len(), 3);
        second
            .state_mut()
            .run(AppCommand::Queue(QueueCommand::File {
                id: b,
                action: QueueAction::Cancel,
            }));
        second.step();
        assert_eq!(item(second.state(), "b.txt").status, QueueStatus::Cancelled);
    }
    assert_eq!(std::fs::read(&queue_file).unwrap(), saved);

    drop(h);
    let mut h = harness(opts);
    h.step();
    assert_eq!(item(h.state(), "c.md").status, QueueStatus::Paused);
    assert_eq!(item(h.state(), "a.txt").status, QueueStatus::Cancelled);
    assert!(item(h.state(), "b.txt").status.is_pending());
    change_settings(&mut h, |s| {
        s.summary_length = xgen_desk::app::SummaryLength::Short
    });
    h.state_mut().run(AppCommand::LoadModel(smollm2()));
    step_queue_until(&mut h, "b to be summarized", |a| {
        item(a, "b.txt").status == QueueStatus::Done
    });
    assert_eq!(item(h.state(), "c.md").status, QueueStatus::Paused, "held");
    h.state_mut().run(AppCommand::Queue(QueueCommand::File {
        id: c,
        action: QueueAction::Resume,
    }));
    step_queue_until(&mut h, "the resumed file", settled);
    assert_eq!(item(h.state(), "c.md").status, QueueStatus::Done);
    assert_eq!(item(h.state(), "a.txt").status, QueueStatus::Cancelled);
    assert!(h.state().notices().is_empty(), "{:?}", h.state().notices());
}

/// Folders are searched recursively for known formats only, skipping hidden entries, within
/// the depth and count limits (said in notes), without following a link loop; a file named
/// twice is taken once.
#[test]
fn folders_are_searched_for_known_formats_within_limits() {
    let tmp = temp_dir();
    let root = tmp.path().join("root");
    std::fs::create_dir_all(root.join("sub/deeper")).unwrap();
    std::fs::create_dir_all(root.join(".git")).unwrap();
    for (name, text) in [
        ("a.txt", "a"),
        ("b.bin", "b"),
        (".hidden.md", "h"),
        (".git/c.md", "c"),
        ("sub/d.md", "d"),
        ("sub/deeper/e.html", "e"),
        ("sub/deeper/f.PDF", "f"),
    ] {
        std::fs::write(root.join(name), text).unwrap();
    }
    #[cfg(unix)]
    std::os::unix::fs::symlink(&root, root.join("sub/loop")).unwrap();
    let named = tmp.path().join("named.weird");
    std::fs::write(&named, "x").unwrap();

    let all = collect_documents(
        &[root.clone(), named.clone(), root.join("a.txt")],
        &CollectLimits::default(),
    );
    let relative: Vec<String> = all
        .files
        .iter()
        .map(|f| {
            f.strip_prefix(tmp.path())
                .unwrap()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    assert_eq!(
        relative,
        [
            "root/a.txt",
            "root/sub/d.md",
            "root/sub/deeper/e.html",
            "root/sub/deeper/f.PDF",
            "named.weird",
        ]
    );
    assert!(all.notes.is_empty(), "{:?}", all.notes);

    let shallow = collect_documents(
        std::slice::from_ref(&root),
        &CollectLimits {
            max_depth: 2,
            ..CollectLimits::default()
        },
    );
    assert_eq!(shallow.files.len(), 2, "{:?}", shallow.files);
    assert!(
        shallow
            .notes
            .iter()
            .any(|n| n.contains("more than 2 levels")),
        "{:?}",
        shallow.notes
    );
    let few = collect_documents(
        std::slice::from_ref(&root),
        &CollectLimits {
            max_files: 2,
            ..CollectLimits::default()
        },
    );
    assert_eq!(few.files.len(), 2);
    assert!(
        few.notes.iter().any(|n| n.contains("only the first 2")),
        "{:?}",
        few.notes
    );
    let empty = tmp.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    let none = collect_documents(&[empty], &CollectLimits::default());
    assert!(none.files.is_empty());
    assert!(
        none.notes[0].contains("holds no documents"),
        "{:?}",
        none.notes
    );
}

fn summarize(args: &[&std::ffi::OsStr], home: &Path) -> Output {
    let output = Command::new(env!("CARGO_BIN_EXE_xgen-desk"))
        .arg("summarize")
        .args(args)
        .arg("--model")
        .arg(smollm2())
        .args([
            "--ctx",
            "1024",
            "--threads",
            "2",
            "--max-tokens",
            "16",
            "--greedy",
        ])
        .env("XGEN_DESK_HOME", home)
        .env("XGEN_DESK_LOG", "error")
        .output()
        .expect("run xgen-desk");
    println!(
        "stdout:\n{}\nstderr:\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

/// `summarize DIR/`: one Markdown report on stdout, the broken file listed on stderr and in
/// the report, exit code 2; `--out` writes a file per document (exit 0 when all worked);
/// exit code 1 when none could be summarized.
#[test]
fn summarize_a_folder_into_a_report_or_a_file_each() {
    let tmp = temp_dir();
    let docs = tmp.path().join("docs");
    std::fs::create_dir_all(docs.join("more")).unwrap();
    let [a, broken, b] = three_files(&docs);
    let b_moved = docs.join("more/festival.md");
    std::fs::rename(&b, &b_moved).unwrap();
    std::fs::write(docs.join("notes.bin"), [0_u8, 1, 2]).unwrap();

    let output = summarize(&[docs.as_os_str()], tmp.path());
    let stdout = String::from_utf8(output.stdout).unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(stdout.starts_with("# Document summaries\n\n## broken.pdf\n\nSource: "));
    let sections: Vec<&str> = stdout.split("\n## ").skip(1).collect();
    assert_eq!(sections.len(), 3, "{stdout}");
    assert!(
        sections[0].contains("Not summarized: broken.pdf is not a readable PDF"),
        "{stdout}"
    );
    assert!(sections[1].starts_with("library.txt\n\n"));
    assert!(
        sections[1].contains(&format!("Source: {} (text, ", a.display())),
        "{stdout}"
    );
    assert!(sections[2].starts_with("festival.md\n\n"));
    for section in &sections[1..] {
        let summary = section
            .split("tokens)\n\n")
            .nth(1)
            .and_then(|rest| rest.split("\n\nCoverage:").next())
            .unwrap_or_default();
        assert!(!summary.trim().is_empty(), "a summary: {section}");
        assert!(
            section.contains("Coverage: 100% of the document"),
            "{section}"
        );
    }
    assert!(!stdout.contains("notes.bin") && !stderr.contains("notes.bin"));
    assert!(
        stderr.contains(&format!(
            "error: {}: broken.pdf is not a readable PDF",
            broken.display()
        )),
        "{stderr}"
    );
    assert!(
        stderr.contains("error: 1 of 3 documents could not be summarized"),
        "{stderr}"
    );

    let out = tmp.path().join("out");
    let output = summarize(
        &[
            "--out".as_ref(),
            out.as_os_str(),
            a.as_os_str(),
            b_moved.as_os_str(),
        ],
        tmp.path(),
    );
    assert!(output.status.success(), "{output:?}");
    let written = String::from_utf8(output.stdout).unwrap();
    let library = out.join("library.summary.md");
    let festival = out.join("festival.summary.md");
    assert_eq!(
        written,
        format!("{}\n{}\n", library.display(), festival.display())
    );
    let text = std::fs::read_to_string(&library).unwrap();
    assert!(
        text.starts_with(&format!("# library.txt\n\nSource: {} (text, ", a.display())),
        "{text}"
    );
    assert!(text.contains("Coverage: 100% of the document"), "{text}");
    assert!(std::fs::read_to_string(&festival)
        .unwrap()
        .starts_with("# festival.md\n\n"));

    let output = summarize(
        &[broken.as_os_str(), docs.join("notes.bin").as_os_str()],
        tmp.path(),
    );
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("none of the 2 documents could be summarized"),
        "{stderr}"
    );
}

/// An export with its footnote marks (`[^3]`, the sources of each sentence) taken out: the
/// summary's own text. The footnotes themselves (`[^3]: ...`) stay.
fn without_footnote_marks(markdown: &str) -> String {
    let mut out = String::with_capacity(markdown.len());
    let mut rest = markdown;
    while let Some(at) = rest.find("[^") {
        out.push_str(&rest[..at]);
        let after = &rest[at + 2..];
        let digits = after.bytes().take_while(u8::is_ascii_digit).count();
        let mark =
            digits > 0 && after[digits..].starts_with(']') && !after[digits + 1..].starts_with(':');
        if mark {
            rest = &after[digits + 1..];
        } else {
            out.push_str("[^");
            rest = after;
        }
    }
    out.push_str(rest);
    out
}
