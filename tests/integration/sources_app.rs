//! Answers you can check, in the real app (egui_kittest): replies about a document carry their
//! sources as chips, what the document does not say is marked and counted, a chip opens the
//! document view at its passage, questions about a long document read passages, and the
//! queue's summaries are checked.

use std::time::{Duration, Instant};

use egui::accesskit::Role;
use egui_kittest::kittest::Queryable;
use egui_kittest::Harness;
use xgen_desk::app::{AppCommand, ChatMessage, Conversation, ConversationStore, XgenApp};
use xgen_desk::documents::Document;
use xgen_desk::paths::AppPaths;
use xgen_desk::sources::suggests_every_part;

use crate::app::{
    change_settings, document_text, harness, last_reply, options, step_until, wait_for_model,
    with_model,
};
use crate::common::{smollm2, temp_dir, TIMEOUT};
use crate::queue::{drop_files, step_queue_until};

/// A report of three pages (the council's library, its budget, the timetable).
fn paged_report() -> Document {
    let pages = [
        "The city council met on Tuesday to discuss the new library on Harbour Street. \
         Residents asked for longer opening hours and more parking near the entrance.",
        "The building will have three floors, a reading garden and a room for children. \
         The budget is twelve million euros, paid by the city and a regional grant.",
        "Construction starts in the spring of 2027 and should take eighteen months. \
         The architect, Ines Varga, presented the plans to the council.",
    ];
    crate::common::paged_document("report.pdf", &pages)
}

/// Runs frames until the window shows a label containing `text`.
fn step_until_shown(h: &mut Harness<'_, XgenApp>, text: &str) {
    let deadline = Instant::now() + TIMEOUT;
    while h.query_all_by_label_contains(text).next().is_none() {
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {text:?} on screen; notices: {:?}",
            h.state().notices()
        );
        h.step();
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// A saved summary with one faithful sentence and one with a changed amount: once shown, it is
/// checked off the UI thread; the faithful sentence gets a chip of its page, the changed one
/// the mark and the footer its count; a chip click opens the document view at that page with
/// the passage highlighted; the setting turns the marks off and keeps the chips.
#[test]
fn source_chips_marks_and_the_document_view() {
    let tmp = temp_dir();
    let mut opts = options(tmp.path());
    opts.autoload = false;
    let store = ConversationStore::new(AppPaths::under(tmp.path()).conversations_dir());
    std::fs::create_dir_all(AppPaths::under(tmp.path()).conversations_dir()).unwrap();
    let mut c = Conversation::new();
    c.title = "report.pdf".to_owned();
    c.document = Some(paged_report());
    c.messages = vec![
        ChatMessage::user("What does the report say about the building?".to_owned()),
        ChatMessage::assistant(
            "The building will have three floors, a reading garden and a room for children. \
             The budget is fifteen million euros, paid by the city and a regional grant."
                .to_owned(),
        ),
    ];
    store.save(&c).unwrap();
    let mut h = harness(opts);
    h.state_mut()
        .run(AppCommand::SelectConversation(c.id.clone()));
    step_until(&mut h, "the saved reply to be checked", |a| {
        a.conversation().messages[1].check.is_some()
    });
    let text = h.state().conversation().messages[1].content.clone();
    assert_eq!(
        text, c.messages[1].content,
        "checking never changes the text"
    );
    let check = h.state().conversation().messages[1].check.clone().unwrap();
    assert_eq!(check.sentences.len(), 2, "{check:#?}");
    assert!(check.sentences[0].supported, "{check:#?}");
    assert!(!check.sentences[1].supported, "{check:#?}");
    assert!(
        check.not_found().any(|c| c.text.contains("fifteen")),
        "{check:#?}"
    );

    // Chips, the mark and the count.
    h.step();
    h.get_all_by_label("p. 2").next().expect("a chip of page 2");
    h.get_by_label_contains("⚠ not found in the document");
    let count = check.not_found().count();
    h.get_by_label(&format!(
        "{count} claim{} not found in the document",
        if count == 1 { "" } else { "s" }
    ));
    // Saved with the conversation.
    let (saved, _) = store.load_all().unwrap();
    assert_eq!(saved[0].messages[1].check.as_ref(), Some(&check));

    // A chip opens the document view at its page, the passage highlighted.
    assert!(!h.state().is_document_view_visible());
    h.get_all_by_label("p. 2").next().unwrap().click();
    h.step();
    assert!(h.state().is_document_view_visible());
    step_until_shown(&mut h, "Highlighted passage on page 2");
    h.get_by_label("--- page 2 ---");
    h.get_all_by_label_contains("The budget is twelve million euros")
        .next()
        .expect("the passage's row is drawn");

    // Marking off: no marks, no count; the chips stay.
    change_settings(&mut h, |s| s.mark_unsupported = false);
    h.step();
    h.step();
    assert!(h
        .query_all_by_label_contains("not found in the document")
        .next()
        .is_none());
    h.get_all_by_label("p. 2").next().expect("chips stay");
    change_settings(&mut h, |s| s.mark_unsupported = true);
    h.step();
    h.get_by_label_contains("⚠ not found in the document");
}

/// A 4-million-character document opens in the document view: only the rows on screen are
/// drawn, and Ctrl+F finds a word at its end and brings that row on screen.
#[test]
fn the_document_view_draws_only_the_rows_on_screen_of_a_big_document() {
    let tmp = temp_dir();
    let mut opts = options(tmp.path());
    opts.autoload = false;
    let mut h = harness(opts);
    let line = "A line of a long document, with some words in it and nothing more to say.\n";
    let mut text = line.repeat(4_000_000 / line.len() - 2);
    text.push_str("The zebra crossing is at the very end.\n");
    assert!(text.len() < 4_000_000);
    h.state_mut().run(AppCommand::AttachText {
        name: "big.txt".to_owned(),
        text,
    });
    step_until(&mut h, "the document", |a| {
        a.conversation().document.is_some()
    });
    h.state_mut().run(AppCommand::ShowDocumentView(true));
    step_until_shown(&mut h, "A line of a long document");
    let drawn = h
        .query_all_by_label_contains("A line of a long document")
        .count();
    assert!(
        (5..200).contains(&drawn),
        "{drawn} rows drawn of more than 50,000"
    );
    assert!(h.query_all_by_label_contains("zebra").next().is_none());

    h.key_press_modifiers(egui::Modifiers::COMMAND, egui::Key::F);
    h.step();
    let search = h.get_by_role(Role::TextInput);
    search.type_text("ZEBRA");
    h.step();
    h.key_press(egui::Key::Enter);
    h.step();
    step_until_shown(&mut h, "zebra crossing");
    h.get_by_label("1 match");
    assert!(h.query_all_by_label_contains("A line of").count() < 200);
}

/// The document view's search folds case in any script, as the sources compare words:
/// "STRASSE" finds "Straße" and "ÉCOLE" finds "école", and the match is highlighted.
#[test]
fn the_document_views_search_folds_case_in_any_script() {
    let tmp = temp_dir();
    let mut opts = options(tmp.path());
    opts.autoload = false;
    let mut h = harness(opts);
    h.state_mut().run(AppCommand::AttachText {
        name: "lettre.txt".to_owned(),
        text: "Die neue Bibliothek steht an der Straße zum Hafen.\n\
               La nouvelle école ouvre en septembre.\n"
            .to_owned(),
    });
    step_until(&mut h, "the document", |a| {
        a.conversation().document.is_some()
    });
    h.key_press_modifiers(egui::Modifiers::COMMAND, egui::Key::F);
    h.step();
    step_until_shown(&mut h, "Die neue Bibliothek");
    for (typed, found) in [("STRASSE", "Straße"), ("ÉCOLE", "école")] {
        let search = h.get_by_role(Role::TextInput);
        search.focus();
        h.step();
        h.key_press_modifiers(egui::Modifiers::COMMAND, egui::Key::A);
        h.key_press(egui::Key::Backspace);
        h.step();
        h.get_by_role(Role::TextInput).type_text(typed);
        h.step();
        h.key_press(egui::Key::Enter);
        h.step();
        h.step();
        h.get_by_label("1 match");
        h.get_by_label_contains("Highlighted passage");
        h.get_all_by_label_contains(found)
            .next()
            .unwrap_or_else(|| panic!("{found} on screen"));
    }
}

/// With the real model: a summary is checked when it ends; a question about a document longer
/// than the context reads passages (the meter says which) and its answer's check carries them.
#[test]
fn replies_are_checked_when_they_end_and_long_questions_read_passages() {
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
    assert!(!h.state().document_meter().unwrap().fits());

    h.get_by_label("Summarize").click();
    // The click is handled at the next frame: the wait for the end starts once it runs (the
    // check's wait would otherwise take in the whole summary, which at a high load took longer
    // than the deadline).
    step_until(&mut h, "the summary to start", |a| {
        a.is_generating() || !a.notices().is_empty()
    });
    step_until(&mut h, "the summary", |a| !a.is_generating());
    assert!(h.state().notices().is_empty(), "{:?}", h.state().notices());
    assert!(
        !last_reply(h.state()).content.trim().is_empty(),
        "a reply without words has nothing to check: {:?}",
        last_reply(h.state())
    );
    step_until(&mut h, "the summary's check", |a| {
        last_reply(a).check.is_some()
    });
    let summary = last_reply(h.state());
    let check = summary.check.as_ref().unwrap();
    assert!(!check.sentences.is_empty(), "{summary:?}");
    for s in &check.sentences {
        let end = s.span.end.min(summary.content.len());
        assert!(
            summary.content.get(s.span.start..end).is_some(),
            "checked against the reply's own text (not the notes): {s:?}"
        );
    }

    crate::app::ask(&mut h, "What is the budget of the library?");
    step_until(&mut h, "the answer", |a| {
        !a.is_generating() && a.conversation().messages.len() == 4
    });
    assert!(h.state().notices().is_empty(), "{:?}", h.state().notices());
    step_until(&mut h, "the answer's check", |a| {
        last_reply(a).check.is_some()
    });
    h.step();
    let said = h.state().last_read().expect("what the question read");
    assert!(said.starts_with("read "), "{said}");
    assert!(said.contains("passage"), "{said}");
    h.get_by_label_contains(&format!("Last question: {said}"));
    // Only the question is kept, never the passages.
    assert_eq!(
        h.state().conversation().messages[2].content,
        "What is the budget of the library?"
    );
    let check = last_reply(h.state()).check.clone().unwrap();
    assert!(!check.read.is_empty(), "the passages read: {check:?}");
    assert!(
        check.read.iter().any(|p| p.text.contains("twelve million")),
        "{:?}",
        check.read
    );
}

/// The queue's summaries carry their checks, and its report shows them as footnotes.
#[test]
fn the_queue_summaries_carry_their_sources() {
    let tmp = temp_dir();
    let docs = tmp.path().join("docs");
    std::fs::create_dir(&docs).unwrap();
    let file = docs.join("library.txt");
    std::fs::write(&file, document_text()).unwrap();
    let second = docs.join("festival.txt");
    std::fs::write(
        &second,
        "The river festival returns in July. Boats from twelve towns race on the last \
         Sunday, and the fireworks start at ten in the evening.",
    )
    .unwrap();
    let mut h = harness(with_model(tmp.path(), &smollm2()));
    wait_for_model(&mut h);
    change_settings(&mut h, |s| {
        s.summary_length = xgen_desk::app::SummaryLength::Short;
        s.sampling.max_tokens = 40;
    });
    drop_files(&mut h, &[file, second]);
    step_queue_until(&mut h, "the queue's summaries and their checks", |a| {
        !a.queue().is_empty()
            && a.queue()
                .iter()
                .all(|i| i.check.is_some() || i.status == xgen_desk::app::QueueStatus::Failed)
    });
    let item = h.state().queue()[0].clone();
    let check = item.check.clone().unwrap();
    assert!(!check.sentences.is_empty(), "{item:?}");
    // The conversation made of it holds the same check.
    let id = item.conversation.clone().unwrap();
    let c = h
        .state()
        .conversations()
        .iter()
        .find(|c| c.id == id)
        .unwrap();
    assert_eq!(c.messages[1].check.as_ref(), Some(&check));

    let report = tmp.path().join("summaries.md");
    h.state_mut()
        .run(AppCommand::Queue(xgen_desk::app::QueueCommand::Export {
            to: Some(report.clone()),
        }));
    let deadline = Instant::now() + TIMEOUT;
    while !report.exists() {
        assert!(Instant::now() < deadline, "no report");
        h.step();
        std::thread::sleep(Duration::from_millis(10));
    }
    let written = std::fs::read_to_string(&report).unwrap();
    let marked = check
        .sentences
        .iter()
        .any(|s| !s.sources.is_empty() || !s.supported);
    assert_eq!(written.contains("[^1]"), marked, "{written}");
}

/// A report of `sections` sections of about 70 SmolLM2 tokens each; every fifth one sets a
/// deadline.
fn long_report(sections: usize) -> String {
    let months = ["March", "May", "July", "September", "November"];
    (1..=sections)
        .map(|i| {
            let mut s = format!(
                "Section {i}. The harbour committee reviewed the ferry timetable, the cost of \
                 dredging the north channel and a plan to rebuild the fish market. Fishermen \
                 asked for longer mooring hours and a second crane on pier {i}."
            );
            if i % 5 == 0 {
                s.push_str(&format!(
                    " The deadline for the tenders of pier {i} is {} {}, 2027.",
                    i % 28 + 1,
                    months[(i / 5) % months.len()]
                ));
            }
            s
        })
        .collect::<Vec<_>>()
        .join("\n\n")
}

/// Whether the composer offers "Search every part" now.
fn offers_every_part(h: &Harness<'_, XgenApp>) -> bool {
    h.query_all_by_label("Search every part").next().is_some()
}

/// Types `text` into the composer, replacing what it held, without sending it.
fn type_in_composer(h: &mut Harness<'_, XgenApp>, text: &str) {
    let composer = h.get_by_role(Role::MultilineTextInput);
    composer.focus();
    h.step();
    h.key_press_modifiers(egui::Modifiers::COMMAND, egui::Key::A);
    h.key_press(egui::Key::Backspace);
    h.step();
    assert_eq!(h.state().composer(), "");
    h.get_by_role(Role::MultilineTextInput).type_text(text);
    h.step();
    h.step();
    assert_eq!(h.state().composer(), text);
}

/// About a document several times the context, the composer offers "Search every part" for a
/// question the library says needs the whole document and not for a detail; a click asks every
/// part, and the combined answer arrives with its coverage under it, checked, and the meter
/// says what it read.
#[test]
fn search_every_part_is_offered_for_questions_about_the_whole_document_and_answers_them() {
    let tmp = temp_dir();
    let mut opts = with_model(tmp.path(), &smollm2());
    opts.load.n_ctx = Some(1024);
    let mut h = harness(opts);
    wait_for_model(&mut h);
    change_settings(&mut h, |s| s.sampling.max_tokens = 32);
    h.event(egui::Event::Paste(long_report(60)));
    step_until(&mut h, "the token meter", |a| a.document_meter().is_some());
    let meter = h.state().document_meter().unwrap();
    assert!(
        meter.document_tokens > 3 * meter.n_ctx,
        "several times the context: {meter:?}"
    );

    // The library decides; the app follows it.
    let detail = "What does section 12 say about the crane?";
    let whole = "List every deadline in the report.";
    assert!(!suggests_every_part(detail));
    assert!(suggests_every_part(whole));
    type_in_composer(&mut h, detail);
    assert!(!offers_every_part(&h), "not for a detail");
    type_in_composer(&mut h, whole);
    assert!(offers_every_part(&h), "for a question about the whole");
    h.get_by_label_contains("This question may need the whole document");

    // Through AccessKit, as a screen reader clicks: the button's place under the composer
    // moves as the composer's panel grows.
    h.get_by_label("Search every part").click_accesskit();
    step_until(&mut h, "the search to start", |a| {
        a.is_generating() || !a.notices().is_empty()
    });
    assert!(h.state().notices().is_empty(), "{:?}", h.state().notices());
    assert_eq!(h.state().composer(), "", "the question was taken");
    step_until(&mut h, "the combined answer", |a| !a.is_generating());
    assert!(h.state().notices().is_empty(), "{:?}", h.state().notices());
    let c = h.state().conversation();
    assert_eq!(c.messages.len(), 2, "{:?}", c.messages);
    assert_eq!(c.messages[0].content, whole);
    let answer = last_reply(h.state()).clone();
    assert!(!answer.stopped, "{answer:?}");
    // The coverage under the answer: every part read.
    let label = answer.label.clone().expect("the coverage line");
    let line = label
        .lines()
        .find(|l| l.contains("Searched every part"))
        .unwrap_or_else(|| panic!("{label}"));
    let parts: Vec<usize> = line
        .split(|c: char| !c.is_ascii_digit())
        .filter_map(|n| n.parse().ok())
        .take(2)
        .collect();
    assert_eq!(parts.len(), 2, "{line}");
    assert_eq!(parts[0], parts[1], "every part read: {line}");
    assert!(
        parts[1] >= 3,
        "a long document is asked in several parts: {line}"
    );
    assert!(line.contains("(100% of the document)"), "{line}");
    h.step();
    h.get_all_by_label_contains("Searched every part")
        .next()
        .expect("the coverage line on screen");
    // Not offered again under an answer from every part.
    assert!(!offers_every_part(&h));

    // Checked like any answer; what it read is the parts that had an answer.
    if !answer.content.trim().is_empty() {
        step_until(&mut h, "the answer's check", |a| {
            last_reply(a).check.is_some()
        });
    }
    let said = h.state().last_read().expect("what the search read");
    assert!(said.starts_with("Searched every part"), "{said}");
    h.get_by_label_contains(&format!("Last question: {said}"));
}
