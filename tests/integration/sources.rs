//! Answers you can check, on real texts (`tests/texts`, sources and licences in its README):
//! sources of extractive sentences on the pages of a real PDF read by the real reader, changed
//! figures, dates and names flagged and their originals not, in five languages; normalised
//! claims; the traps (headings, list marks, the question repeated, short sentences); a question
//! about a document several times the context reading the passage that answers it on SmolLM2;
//! and the commands `ask --json`, `verify` and `summarize --json/--sources` run as a person
//! would.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};

use xgen_desk::documents::{self, Document};
use xgen_desk::engine::Sampling;
use xgen_desk::sources::{
    describe_read, read_for_question, search_every_part, CheckContext, ClaimKind, DocumentIndex,
    Found, ReadOptions, SentenceKind,
};
use xgen_desk::summarize::{EngineModel, SummaryModel};
use xgen_testkit::sources_bench as sb;

use crate::common::{engine_with, pdf_file, small_settings, smollm2, temp_dir};

/// A PDF of `text`, `lines_per_page` of its lines a page, in Helvetica (WinAnsi: characters
/// past Latin-1 become `?`).
fn pdf_of(text: &str, lines_per_page: usize) -> Vec<u8> {
    let lines: Vec<&str> = text.lines().collect();
    let pages: Vec<&[&str]> = lines.chunks(lines_per_page).collect();
    let n = pages.len();
    let mut objects: Vec<Vec<u8>> = vec![
        b"<< /Type /Catalog /Pages 2 0 R >>".to_vec(),
        format!(
            "<< /Type /Pages /Kids [{}] /Count {n} >>",
            (0..n)
                .map(|i| format!("{} 0 R", 4 + 2 * i))
                .collect::<Vec<_>>()
                .join(" ")
        )
        .into_bytes(),
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>"
            .to_vec(),
    ];
    for (i, page) in pages.iter().enumerate() {
        objects.push(
            format!(
                "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources << /Font << /F1 3 0 R >> >> /Contents {} 0 R >>",
                5 + 2 * i
            )
            .into_bytes(),
        );
        let mut ops = b"BT /F1 10 Tf 12 TL 40 760 Td ".to_vec();
        for line in *page {
            ops.push(b'(');
            for c in line.chars() {
                let byte = match c {
                    '(' | ')' | '\\' => {
                        ops.push(b'\\');
                        c as u8
                    }
                    c if (c as u32) < 0x20 => b' ',
                    c if (c as u32) <= 0x7e || (0xa0..=0xff).contains(&(c as u32)) => {
                        c as u32 as u8
                    }
                    _ => b'?',
                };
                ops.push(byte);
            }
            ops.extend_from_slice(b") Tj T* ");
        }
        ops.extend_from_slice(b"ET");
        let mut stream = format!("<< /Length {} >>\nstream\n", ops.len()).into_bytes();
        stream.extend_from_slice(&ops);
        stream.extend_from_slice(b"\nendstream");
        objects.push(stream);
    }
    pdf_file(&objects)
}

fn history() -> String {
    sb::read_text("debian-history.en.txt").unwrap()
}

#[test]
fn extractive_sentences_of_a_real_pdf_link_to_their_page() {
    let dir = temp_dir();
    let path = dir.path().join("debian-history.pdf");
    std::fs::write(&path, pdf_of(&history(), 50)).unwrap();
    let document = documents::extract(&path).unwrap();
    assert!(
        document.page_count() >= 20,
        "{} pages",
        document.page_count()
    );
    let index = DocumentIndex::build(&document);
    let sentences = sb::extractive_sentences(&index, 4, 8);
    assert!(sentences.len() >= 60, "{} sentences", sentences.len());
    assert!(sentences.iter().all(|s| s.page.is_some()));
    let (correct, total, misses) = sb::page_accuracy(&index, &sentences);
    assert!(
        correct as f64 >= 0.95 * total as f64,
        "{correct} of {total} on their page; missed:\n{}",
        misses.join("\n")
    );
}

#[test]
fn changed_figures_dates_and_names_are_flagged_and_their_originals_are_not() {
    let text = history();
    let document = sb::paged("debian-history.en.txt", &text, 2500);
    let index = DocumentIndex::build(&document);
    let sample = sb::extractive_sentences(&index, 2, 6);
    let cases = sb::changed_claims(&index, &sample);
    let reworded = sb::faithful_variants(&index, &sample);
    assert!(
        reworded.len() >= 100,
        "{} reworded sentences",
        reworded.len()
    );
    for kind in [ClaimKind::Number, ClaimKind::Date, ClaimKind::Name] {
        assert!(
            cases.iter().filter(|c| c.kind == kind).count() >= 10,
            "too few changed {kind:?} claims"
        );
    }
    let rates = sb::claim_rates(&index, &cases, &reworded);
    let misses = rates.misses.join("\n");
    assert!(
        rates.changed_flagged as f64 >= 0.9 * rates.changed as f64,
        "{} of {} changed claims flagged:\n{misses}",
        rates.changed_flagged,
        rates.changed
    );
    assert!(
        rates.faithful_flagged as f64 <= 0.05 * rates.faithful as f64,
        "{} of {} faithful sentences flagged:\n{misses}",
        rates.faithful_flagged,
        rates.faithful
    );
}

#[test]
fn other_languages_are_checked_with_their_own_words_dates_and_figures() {
    for language in ["de", "fr", "ru", "ja"] {
        let name = format!("debian-history.{language}.releases.txt");
        let text = sb::read_text(&name).unwrap();
        let document = sb::paged(&name, &text, 2000);
        let index = DocumentIndex::build(&document);
        let sentences = sb::extractive_sentences(&index, 2, if language == "ja" { 1 } else { 6 });
        let (correct, total, misses) = sb::page_accuracy(&index, &sentences);
        assert!(
            correct as f64 >= 0.9 * total as f64 && total >= 10,
            "{name}: {correct} of {total} on their page:\n{}",
            misses.join("\n")
        );
        let cases = sb::changed_claims(&index, &sentences);
        assert!(cases.len() >= 10, "{name}: {} changed claims", cases.len());
        let rates = sb::claim_rates(&index, &cases, &sb::faithful_variants(&index, &sentences));
        assert!(
            rates.changed_flagged as f64 >= 0.9 * rates.changed as f64
                && rates.faithful_flagged as f64 <= 0.1 * rates.faithful as f64,
            "{name}: {} of {} changed flagged, {} of {} faithful flagged:\n{}",
            rates.changed_flagged,
            rates.changed,
            rates.faithful_flagged,
            rates.faithful,
            rates.misses.join("\n")
        );
    }
}

#[test]
fn summary_sentences_in_other_words_find_their_sources_and_changed_ones_are_flagged() {
    let index = DocumentIndex::build(&doc(&history()));
    let sentences = sb::read_text("debian-history.summary-sentences.txt").unwrap();
    let sentences: Vec<&str> = sentences.lines().filter(|l| !l.trim().is_empty()).collect();
    let supported: Vec<bool> = sentences
        .iter()
        .map(|s| index.check(s, &CheckContext::default()).all_supported())
        .collect();
    assert!(
        supported.iter().filter(|s| **s).count() * 10 >= sentences.len() * 8,
        "{:?}",
        sentences
            .iter()
            .zip(&supported)
            .filter(|(_, s)| !**s)
            .collect::<Vec<_>>()
    );
    // The same sentences with a figure, a date or a name changed.
    for (changed, claim) in [
        ("Bruce Perens took over as project leader in April 1996 and stayed until the end of 1999.", "1999"),
        ("Debian 1.1, released in June 1997, was the first version with a code name, Buzz.", "June 1997"),
        ("Ian Murdock died in December 2016.", "December 2016"),
        ("The GNU project of the Free Software Foundation sponsored Debian for two years, from November 1994 to November 1996.", "November 1996"),
        ("The name Debian combines the names of Ian Murdock and his wife Deborah.", "Deborah"),
    ] {
        let check = index.check(changed, &CheckContext::default());
        assert!(!check.sentences[0].supported, "{changed}: {check:#?}");
        assert!(
            check.claims.iter().any(|c| c.text == claim && c.found != Found::InSources),
            "{changed}: {:#?}",
            check.claims
        );
    }
}

fn doc(text: &str) -> Document {
    Document::from_text("notes.txt", text).unwrap()
}

fn not_found(index: &DocumentIndex, reply: &str) -> Vec<String> {
    index
        .check(reply, &CheckContext::default())
        .not_found()
        .map(|c| c.text.clone())
        .collect()
}

#[test]
fn amounts_dates_numbers_and_percentages_match_however_written() {
    let index = DocumentIndex::build(&doc(
        "The council approved a budget of $12m on March 3, 2018, a rise of twelve percent over the year before.\n\nThe library will open in Springfield with 474 seats.",
    ));
    for faithful in [
        "The council approved a budget of 12,000,000 dollars.",
        "The council approved a budget of 12 million on 2018-03-03.",
        "On 3 March 2018 the council approved its budget.",
        "The budget rose by 12%.",
        "The budget rose by 12 per cent.",
        "The library in Springfield will have about 470 seats.",
    ] {
        assert_eq!(
            not_found(&index, faithful),
            Vec::<String>::new(),
            "{faithful}"
        );
    }
    for (changed, claim) in [
        ("The council approved a budget of $13m.", "$13m"),
        (
            "The council approved its budget on 2018-03-04.",
            "2018-03-04",
        ),
        ("The budget rose by thirteen percent.", "thirteen percent"),
        ("The library in Shelbyville will open.", "Shelbyville"),
        ("The library will have 475 seats.", "475"),
    ] {
        assert_eq!(
            not_found(&index, changed),
            vec![claim.to_owned()],
            "{changed}"
        );
    }
}

#[test]
fn headings_list_marks_the_question_repeated_and_short_sentences_are_not_checked() {
    let text = history();
    let index = DocumentIndex::build(&doc(&text));
    let question = "Who has led the Debian project?";
    let reply = "## Leaders of Debian\n\nHere is what the document says:\n\n- **Ian Murdock** founded Debian in August 1993 and led it until March 1996.\n- Bruce Perens led Debian from April 1996 until December 1997.\n\nThe Debian project has had leaders.\n\nYes.\n";
    let check = index.check(
        reply,
        &CheckContext {
            question: Some(question),
        },
    );
    let kinds: Vec<SentenceKind> = check.sentences.iter().map(|s| s.kind).collect();
    assert_eq!(
        kinds,
        [
            SentenceKind::Heading,
            SentenceKind::Short,
            SentenceKind::Statement,
            SentenceKind::Statement,
            SentenceKind::Restatement,
            SentenceKind::Short
        ],
        "{check:#?}"
    );
    for (statement, source) in check.sentences[2..4].iter().zip([
        "led it until March",
        "Bruce Perens led Debian from April 1996",
    ]) {
        assert!(statement.supported, "{statement:#?}");
        assert!(statement.sources[0].text.contains(source), "{statement:#?}");
    }
    // Spans are the reply as written, from the sentence's first letter to its last: the bold
    // mark inside the first bullet is in its span.
    assert!(reply[check.sentences[2].span.clone()].starts_with("Ian Murdock** founded"));
    assert!(reply[check.sentences[2].span.clone()].ends_with("March 1996."));
    assert!(check.all_supported());
}

/// Questions about the Debian history whose answers sit in one known passage.
const HISTORY_QUESTIONS: &[(&str, &str)] = &[
    (
        "Who led Debian from April 2005 until April 2006?",
        "Branden Robinson led Debian from April 2005",
    ),
    (
        "What happened to the Debian servers in November 2003?",
        "Several Debian servers hacked",
    ),
    (
        "Which release was the first to have a code name?",
        "Debian 1.1 Buzz",
    ),
    (
        "How is Debian pronounced?",
        "The official pronunciation of Debian",
    ),
    (
        "Which organization did Debian motivate the formation of?",
        "Software in the Public",
    ),
];

#[test]
fn a_question_about_a_document_several_times_the_context_reads_the_passage_that_answers_it() {
    let (engine, info) = engine_with(&smollm2(), small_settings(2048));
    info.unwrap();
    let mut model = EngineModel::new(&engine, 2048, Sampling::greedy(64));
    let text = history();
    let document = doc(&text);
    assert!(model.count_tokens(&text).unwrap() > 5 * 2048);
    let index = DocumentIndex::build(&document);
    let flat = |s: &str| s.split_whitespace().collect::<Vec<_>>().join(" ");
    for (question, answer) in HISTORY_QUESTIONS {
        let reading = read_for_question(
            &mut model,
            &index,
            &[],
            question,
            &[],
            &ReadOptions::new(64),
        )
        .unwrap();
        assert!(!reading.whole);
        assert!(
            reading.prompt_tokens + 64 <= 2048,
            "{} prompt tokens",
            reading.prompt_tokens
        );
        assert!(
            reading.read.iter().any(|p| flat(&p.text).contains(answer)),
            "{question}: the passage with {answer:?} was not read; read:\n{:#?}",
            reading.read
        );
        // Read in document order, and said in words.
        assert!(reading.read.windows(2).all(|w| w[0].start < w[1].start));
        let said = describe_read(
            &reading.read,
            index.page_count(),
            index.document_chars(),
            false,
        );
        assert!(
            said.starts_with(&format!("read {} passage", reading.read.len())),
            "{said}"
        );
    }
    // A follow-up leans on the turns before it; notes of a summary come along.
    let prior = vec![
        xgen_desk::prompt::Message::user("Who was Debian's first leader?"),
        xgen_desk::prompt::Message::assistant("Ian Murdock founded Debian in August 1993."),
    ];
    let notes = vec!["[Part 1 of 9, page 1] Debian was founded in 1993.".to_owned()];
    let reading = read_for_question(
        &mut model,
        &index,
        &prior,
        "Until when did he lead it?",
        &notes,
        &ReadOptions::new(64),
    )
    .unwrap();
    assert_eq!(reading.notes, 1);
    assert!(reading
        .read
        .iter()
        .any(|p| flat(&p.text).contains("led it until March")));
    assert_eq!(reading.messages.len(), 3);
}

#[test]
fn search_every_part_asks_each_part_through_the_summary_model() {
    let (engine, info) = engine_with(&smollm2(), small_settings(2048));
    info.unwrap();
    let mut model = EngineModel::new(&engine, 2048, Sampling::greedy(32));
    let text = history();
    // About 2,500 tokens: two or three parts at a 2K context.
    let document = doc(&text[..text.len().min(10_000)]);
    let mut answered = 0;
    let mut pieces = String::new();
    let search = search_every_part(
        &mut model,
        &document,
        "List every Debian leader.",
        48,
        &xgen_desk::cancel::CancelToken::new(),
        &mut |p| {
            if matches!(p, xgen_desk::sources::PartSearchProgress::Answered { .. }) {
                answered += 1;
            }
        },
        &mut |p| pieces.push_str(p),
    )
    .unwrap();
    assert!(search.parts.len() >= 2, "{} parts", search.parts.len());
    assert_eq!(answered, search.parts.len());
    assert!(search.coverage.complete());
    assert!(search.model_calls > search.parts.len() || search.parts.iter().all(|p| !p.relevant));
    assert_eq!(pieces, search.answer);
}

fn xgen_desk(args: &[&str], stdin: Option<&str>) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_xgen-desk"))
        .args(args)
        .env_remove("XGEN_DESK_MODEL")
        .env_remove("XGEN_DESK_SERVER")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut input = child.stdin.take().unwrap();
    input
        .write_all(stdin.unwrap_or_default().as_bytes())
        .unwrap();
    drop(input);
    let output = child.wait_with_output().unwrap();
    println!(
        "$ xgen-desk {}\n{}{}",
        args.join(" "),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

/// The text `xgen-desk extract` prints for `path`, as characters.
fn extract_chars(path: &Path) -> Vec<char> {
    let out = xgen_desk(&["extract", path.to_str().unwrap()], None);
    assert!(out.status.success());
    String::from_utf8(out.stdout).unwrap().chars().collect()
}

/// `start`/`end` of each source and passage point at its text in what `extract` prints.
fn assert_offsets(json: &serde_json::Value, printed: &[char], key: &str) {
    let items: Vec<&serde_json::Value> = match key {
        "sources" => json["sentences"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|s| s["sources"].as_array().unwrap())
            .collect(),
        _ => json[key].as_array().unwrap().iter().collect(),
    };
    for item in items {
        for field in ["page", "heading", "start", "end", "text"] {
            assert!(item.get(field).is_some(), "{field} missing in {item}");
        }
        let (start, end) = (
            item["start"].as_u64().unwrap() as usize,
            item["end"].as_u64().unwrap() as usize,
        );
        let slice: String = printed[start..end].iter().collect();
        assert_eq!(slice, item["text"].as_str().unwrap());
    }
}

#[test]
fn ask_json_prints_answer_sentences_not_found_and_what_was_read() {
    let dir = temp_dir();
    let path = dir.path().join("debian-history.pdf");
    std::fs::write(&path, pdf_of(&history(), 50)).unwrap();
    let model = smollm2();
    let out = xgen_desk(
        &[
            "ask",
            path.to_str().unwrap(),
            "Who led Debian from April 2005 until April 2006?",
            "--json",
            "--model",
            model.to_str().unwrap(),
            "--ctx",
            "2048",
            "--max-tokens",
            "48",
            "--greedy",
        ],
        None,
    );
    assert!(out.status.success());
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(json["answer"].is_string());
    for sentence in json["sentences"].as_array().unwrap() {
        assert!(sentence["text"].is_string() && sentence["supported"].is_boolean());
        assert!(sentence["sources"].is_array());
    }
    assert!(json["not_found"].is_array());
    let read = json["read"].as_array().unwrap();
    assert!(!read.is_empty());
    assert!(read
        .iter()
        .any(|p| p["text"].as_str().unwrap().contains("Branden Robinson")));
    assert!(read.iter().all(|p| p["page"].is_u64()));
    let printed = extract_chars(&path);
    assert_offsets(&json, &printed, "read");
    assert_offsets(&json, &printed, "sources");
}

/// The same question through llama-server (`ask --server`): the document is several times the
/// server's context, so the question reads passages verbatim (their offsets are those of the
/// text `extract` prints), the one that answers it among them, and the answer's sentences
/// carry their sources.
#[test]
fn ask_through_a_server_reads_passages_and_its_answer_carries_sources() {
    let server = crate::remote::Server::start(&smollm2(), &["-c", "2048", "-np", "1"]);
    let dir = temp_dir();
    let path = dir.path().join("debian-history.pdf");
    std::fs::write(&path, pdf_of(&history(), 50)).unwrap();
    let out = xgen_desk(
        &[
            "ask",
            path.to_str().unwrap(),
            "Who led Debian from April 2005 until April 2006?",
            "--json",
            "--server",
            &server.url,
            "--max-tokens",
            "48",
            "--greedy",
        ],
        None,
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("[server]"), "through the server: {stderr}");
    assert!(stderr.contains("passages"), "it read passages: {stderr}");
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let read = json["read"].as_array().unwrap();
    assert!(!read.is_empty(), "{json:#}");
    assert!(
        read.iter()
            .any(|p| p["text"].as_str().unwrap().contains("Branden Robinson")),
        "{json:#}"
    );
    let printed = extract_chars(&path);
    assert_offsets(&json, &printed, "read");
    let sentences = json["sentences"].as_array().unwrap();
    assert!(!sentences.is_empty(), "{json:#}");
    assert!(
        sentences
            .iter()
            .any(|s| s["sources"].as_array().is_some_and(|a| !a.is_empty())),
        "the answer's sentences carry sources: {json:#}"
    );
    assert!(json["sentences"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|s| s["sources"].as_array().unwrap())
        .all(|s| s["page"].is_u64()));
    assert_offsets(&json, &printed, "sources");
}

#[test]
fn verify_exits_0_when_every_sentence_is_supported_and_3_when_not() {
    let dir = temp_dir();
    let document = dir.path().join("debian-history.txt");
    std::fs::write(&document, history()).unwrap();
    let faithful = "- Bruce Perens led Debian from April 1996 until December 1997.\n- Debian 1.1 Buzz was the first release with a code name.\n";
    let changed = "- Bruce Perens led Debian from April 1996 until December 1999.\n- The project had 14,285 developers.\n";
    let doc = document.to_str().unwrap();
    let ok = xgen_desk(&["verify", doc, "-"], Some(faithful));
    assert_eq!(ok.status.code(), Some(0));
    let stdout = String::from_utf8_lossy(&ok.stdout);
    assert!(
        stdout.contains("[1] supported: Bruce Perens led Debian"),
        "{stdout}"
    );
    let bad = xgen_desk(&["verify", doc, "-", "--json"], Some(changed));
    assert_eq!(bad.status.code(), Some(3));
    let json: serde_json::Value = serde_json::from_slice(&bad.stdout).unwrap();
    assert_eq!(json["supported"], false);
    assert!(json.get("read").is_none());
    let missing: Vec<&str> = json["not_found"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["text"].as_str().unwrap())
        .collect();
    assert!(missing.contains(&"14,285"), "{missing:?}");
    assert_offsets(&json, &extract_chars(&document), "sources");
    // TEXT from a file; an unreadable document is an error (1), not a verdict.
    let text = dir.path().join("summary.md");
    std::fs::write(&text, faithful).unwrap();
    assert_eq!(
        xgen_desk(&["verify", doc, text.to_str().unwrap()], None)
            .status
            .code(),
        Some(0)
    );
    let missing_doc = dir.path().join("nothing.pdf");
    assert_eq!(
        xgen_desk(
            &["verify", missing_doc.to_str().unwrap(), "-"],
            Some(faithful)
        )
        .status
        .code(),
        Some(1)
    );
}

#[test]
fn summarize_json_and_sources_check_the_summary_against_the_document() {
    let dir = temp_dir();
    let path = dir.path().join("leaders.txt");
    let text = history();
    let start = text.find("Debian has had several leaders").unwrap();
    let end = start + text[start..].find("Chapter").unwrap();
    std::fs::write(&path, &text[start..end]).unwrap();
    let model = smollm2();
    let common = [
        "--model",
        model.to_str().unwrap(),
        "--ctx",
        "2048",
        "--max-tokens",
        "64",
        "--greedy",
        "-q",
    ];
    let mut args = vec!["summarize", path.to_str().unwrap(), "--json"];
    args.extend(common);
    let out = xgen_desk(&args, None);
    assert!(out.status.success());
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(!json["answer"].as_str().unwrap().is_empty());
    assert!(
        json["sentences"].is_array() && json["not_found"].is_array() && json["read"].is_array()
    );
    let mut args = vec!["summarize", path.to_str().unwrap(), "--sources"];
    args.extend(common);
    let out = xgen_desk(&args, None);
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("\nSources:\n[1] "));
    // Several documents: refused with the way to do it.
    let mut args = vec![
        "summarize",
        path.to_str().unwrap(),
        path.to_str().unwrap(),
        "--json",
    ];
    args.extend(common);
    let out = xgen_desk(&args, None);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("take one document"));
}

#[test]
fn checks_say_where_claims_were_found() {
    let index = DocumentIndex::build(&doc(&history()));
    let check = index.check(
        "Ian Jackson founded Debian in August 1993.",
        &CheckContext::default(),
    );
    // Ian Jackson is in the document, but as a later leader, not where the founding is.
    let jackson = check
        .claims
        .iter()
        .find(|c| c.text == "Ian Jackson")
        .unwrap();
    assert_eq!(jackson.found, Found::Elsewhere, "{check:#?}");
    assert!(!check.sentences[0].supported);
    assert!(
        check.sentences[0].sources[0].text.contains("founded"),
        "{check:#?}"
    );
}
