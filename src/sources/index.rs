//! What a document is read into once: its sentences and paragraphs, the words of each
//! sentence (as ids), how many sentences hold each word, where each word, figure and date
//! occurs, how the document capitalises words inside sentences, and a BM25 index of its
//! paragraphs for questions.

use std::collections::HashMap;
use std::ops::Range;

use bm25::{Embedder, EmbedderBuilder, Scorer};

use super::claims::{self, DateParts, NameContext, Value};
use super::extract_text::{CharMap, Edge};
use super::text::{self, Layout};
use super::Passage;
use crate::documents::{Document, Section, SectionKind};

/// The tokenizer BM25 reads paragraphs and questions with: the same Unicode words and keys as
/// the rest of this module, so ranking and alignment agree on what a word is. A word of six
/// letters or more also gives its first five, marked (`prono…` for `pronounced` and
/// `Pronouncing`): inflections match in languages that inflect at the end, without choosing a
/// language's stemmer; BM25's inverse document frequency keeps common prefixes cheap.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct WordTokenizer;

/// Letters of a word's prefix token.
const PREFIX: usize = 5;

impl bm25::Tokenizer for WordTokenizer {
    fn tokenize(&self, input_text: &str) -> Vec<String> {
        let mut out = Vec::new();
        for word in text::words_in(input_text, 0..input_text.len()) {
            let mut chars = word.key.char_indices();
            if let (Some((cut, _)), true) =
                (chars.nth(PREFIX), word.key.chars().all(char::is_alphabetic))
            {
                out.push(format!("{}…", &word.key[..cut]));
            }
            out.push(word.key);
        }
        out
    }
}

/// A figure the document writes, and the sentence it is in.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct DocNumber {
    pub value: f64,
    pub sentence: u32,
    pub percent: bool,
    pub currency: Option<&'static str>,
}

/// A document read for checking replies and answering questions. Build it once per document
/// (on a background thread for long ones: about a second per million characters) and reuse it.
pub struct DocumentIndex {
    pub(crate) text: String,
    pub(crate) sections: Vec<Section>,
    pub(crate) chars: CharMap,
    /// Characters of the text `xgen-desk extract` prints.
    pub(crate) extract_chars: usize,
    pub(crate) layout: Layout,
    /// Per sentence: its words' ids, in order.
    pub(crate) words: Vec<Vec<u32>>,
    /// Per sentence: its distinct word ids, sorted.
    pub(crate) distinct: Vec<Vec<u32>>,
    pub(crate) vocab: HashMap<String, u32>,
    pub(crate) terms: Vec<String>,
    /// Per word: sentences that hold it (sorted).
    pub(crate) postings: Vec<Vec<u32>>,
    /// Per word: times it is written capitalised inside a sentence, and in lower case.
    pub(crate) capitalised_inside: Vec<u32>,
    pub(crate) lower_case: Vec<u32>,
    /// Whether capitals mark names in this document (not in German, which capitalises nouns).
    pub(crate) names_checked: bool,
    /// Every figure, sorted by value.
    pub(crate) numbers: Vec<DocNumber>,
    /// Every date (or part of one) and its sentence.
    pub(crate) dates: Vec<(DateParts, u32)>,
    /// BM25 over paragraphs (ids are indices into `layout.paragraphs`).
    pub(crate) embedder: Embedder<u32, WordTokenizer>,
    pub(crate) scorer: Scorer<u32, u32>,
}

impl std::fmt::Debug for DocumentIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DocumentIndex")
            .field("bytes", &self.text.len())
            .field("sentences", &self.layout.sentences.len())
            .field("paragraphs", &self.layout.paragraphs.len())
            .field("words", &self.terms.len())
            .finish_non_exhaustive()
    }
}

/// Share of a document's cased words inside sentences written capitalised above which capitals
/// do not mark names (English runs about 0.1-0.2, German 0.3 and more).
const NAME_CAPITALS_LIMIT: f64 = 0.28;

impl DocumentIndex {
    /// Reads `document`: its sentences and paragraphs, their words, figures and dates.
    #[must_use]
    pub fn build(document: &Document) -> Self {
        let text = document.text.clone();
        let layout = text::layout(&text, &document.sections);
        let mut vocab: HashMap<String, u32> = HashMap::new();
        let mut terms: Vec<String> = Vec::new();
        let mut postings: Vec<Vec<u32>> = Vec::new();
        let mut capitalised_inside: Vec<u32> = Vec::new();
        let mut lower_case: Vec<u32> = Vec::new();
        let mut words = Vec::with_capacity(layout.sentences.len());
        let mut distinct = Vec::with_capacity(layout.sentences.len());
        let (mut capitals, mut cased) = (0u64, 0u64);
        for (s, range) in layout.sentences.iter().enumerate() {
            let sentence = u32::try_from(s).unwrap_or(u32::MAX);
            let found = text::words_in(&text, range.clone());
            let mut ids = Vec::with_capacity(found.len());
            for (i, word) in found.iter().enumerate() {
                let id = match vocab.get(&word.key) {
                    Some(id) => *id,
                    None => {
                        let id = u32::try_from(terms.len()).unwrap_or(u32::MAX);
                        vocab.insert(word.key.clone(), id);
                        terms.push(word.key.clone());
                        postings.push(Vec::new());
                        capitalised_inside.push(0);
                        lower_case.push(0);
                        id
                    }
                };
                let slot = id as usize;
                if postings[slot].last() != Some(&sentence) {
                    postings[slot].push(sentence);
                }
                if i > 0 && !after_stop(&text, found[i - 1].range.end, word.range.start) {
                    let raw = &text[word.range.clone()];
                    if claims::capitalised(raw) {
                        capitalised_inside[slot] += 1;
                        capitals += 1;
                        cased += 1;
                    } else if raw.chars().next().is_some_and(char::is_lowercase) {
                        lower_case[slot] += 1;
                        cased += 1;
                    }
                }
                ids.push(id);
            }
            let mut set = ids.clone();
            set.sort_unstable();
            set.dedup();
            words.push(ids);
            distinct.push(set);
        }
        let names_checked = cased == 0 || (capitals as f64) < NAME_CAPITALS_LIMIT * cased as f64;
        let (numbers, dates) = figures(&text, &layout.sentences);
        let corpus: Vec<&str> = layout
            .paragraphs
            .iter()
            .map(|p| &text[p.range.clone()])
            .collect();
        let embedder = EmbedderBuilder::<u32, WordTokenizer>::with_tokenizer_and_fit_to_corpus(
            WordTokenizer,
            &corpus,
        )
        .build();
        let mut scorer = Scorer::<u32, u32>::new();
        for (i, paragraph) in corpus.iter().enumerate() {
            scorer.upsert(
                &u32::try_from(i).unwrap_or(u32::MAX),
                embedder.embed(paragraph),
            );
        }
        let chars = CharMap::new(document);
        let extract_chars = chars.char_offset(&text, text.len(), Edge::End) + 1;
        Self {
            sections: document.sections.clone(),
            chars,
            extract_chars,
            layout,
            words,
            distinct,
            vocab,
            terms,
            postings,
            capitalised_inside,
            lower_case,
            names_checked,
            numbers,
            dates,
            embedder,
            scorer,
            text,
        }
    }

    /// The document's text (as [`Document::text`]).
    #[must_use]
    pub fn text(&self) -> &str {
        &self.text
    }

    /// Pages of the document (0 when it has none).
    #[must_use]
    pub fn page_count(&self) -> usize {
        self.sections
            .iter()
            .filter(|s| s.kind == SectionKind::Page)
            .count()
    }

    /// The sentences the document was cut into (byte ranges of its text, in order): what a
    /// source points at.
    #[must_use]
    pub fn sentence_ranges(&self) -> &[Range<usize>] {
        &self.layout.sentences
    }

    /// Whether a word (its key) is written capitalised inside sentences at least as often as
    /// in lower case: a name.
    pub(crate) fn capitalised_inside(&self, key: &str) -> bool {
        self.vocab.get(key).is_some_and(|&id| {
            let id = id as usize;
            self.capitalised_inside[id] > 0 && self.capitalised_inside[id] >= self.lower_case[id]
        })
    }

    /// Whether a word (its key) is written in lower case inside sentences (a common word).
    pub(crate) fn lower_case_inside(&self, key: &str) -> bool {
        self.vocab
            .get(key)
            .is_some_and(|&id| self.lower_case[id as usize] > 0)
    }

    /// How rare a word is across the document's sentences (BM25's inverse document frequency;
    /// a word the document does not have counts as the rarest).
    pub(crate) fn idf(&self, id: Option<u32>) -> f32 {
        let n = self.layout.sentences.len() as f32;
        let df = id.map_or(0, |id| self.postings[id as usize].len()) as f32;
        (1.0 + (n - df + 0.5) / (df + 0.5)).ln()
    }

    /// The page (number) and heading in force at byte `at`.
    pub(crate) fn place(&self, at: usize) -> (Option<u32>, Option<String>) {
        let before = self.sections.partition_point(|s| s.offset <= at);
        let sections = &self.sections[..before];
        let page = sections
            .iter()
            .rev()
            .find(|s| s.kind == SectionKind::Page)
            .and_then(|s| page_number(&s.label));
        let heading = sections
            .iter()
            .rev()
            .find(|s| s.kind == SectionKind::Heading)
            .map(|s| s.label.clone());
        (page, heading)
    }

    /// Character offsets of a byte range in the text `xgen-desk extract` prints.
    pub(crate) fn char_range(&self, range: &Range<usize>) -> (usize, usize) {
        (
            self.chars.char_offset(&self.text, range.start, Edge::Start),
            self.chars.char_offset(&self.text, range.end, Edge::End),
        )
    }

    /// Characters of the text `xgen-desk extract` prints for this document.
    #[must_use]
    pub fn document_chars(&self) -> usize {
        self.extract_chars
    }

    /// A passage of the document (a byte range of its text, on character boundaries): its
    /// page, heading, offsets into the text `extract` prints, and text.
    #[must_use]
    pub fn passage(&self, range: Range<usize>) -> Passage {
        let (page, heading) = self.place(range.start);
        let (last_page, _) = self.place(range.end.saturating_sub(1).max(range.start));
        let (start, end) = self.char_range(&range);
        Passage {
            page,
            last_page: last_page.filter(|p| Some(*p) != page),
            heading,
            start,
            end,
            text: if self
                .sections
                .iter()
                .any(|s| range.start < s.offset && s.offset < range.end)
            {
                // Markers printed inside it are part of what `extract` prints there.
                super::extract_text::printed_range(&self.text, &self.sections, &range)
            } else {
                self.text[range.clone()].to_owned()
            },
            bytes: range,
        }
    }
}

/// `page 12` is 12; other labels give the number they end with, if any.
fn page_number(label: &str) -> Option<u32> {
    label
        .rsplit(|c: char| !c.is_ascii_digit())
        .find(|s| !s.is_empty())
        .and_then(|s| s.parse().ok())
}

/// Whether a sentence starts again between two words (a colon, a stop, an opening quote or a
/// list mark between them): the word after it is capitalised by position, not as a name.
fn after_stop(text: &str, previous_end: usize, start: usize) -> bool {
    text.get(previous_end..start).is_some_and(|between| {
        between.chars().any(|c| {
            matches!(
                c,
                ':' | '.' | '!' | '?' | '"' | '“' | '«' | '(' | '•' | '\n' | '—'
            )
        })
    })
}

/// Every figure and date of the document, by sentence.
fn figures(text: &str, sentences: &[Range<usize>]) -> (Vec<DocNumber>, Vec<(DateParts, u32)>) {
    let context = NameContext {
        names_checked: false,
        capitalised_elsewhere: &|_| false,
        lower_case_elsewhere: &|_| false,
    };
    let mut numbers = Vec::new();
    let mut dates = Vec::new();
    for (s, range) in sentences.iter().enumerate() {
        let sentence = u32::try_from(s).unwrap_or(u32::MAX);
        for claim in claims::scan(text, range.clone(), &context) {
            match claim.value {
                Value::Number {
                    candidates,
                    percent,
                    currency,
                    ..
                } => numbers.extend(candidates.into_iter().map(|value| DocNumber {
                    value,
                    sentence,
                    percent,
                    currency,
                })),
                Value::Date(readings) => {
                    for date in readings {
                        // A year also stands as a figure ("in 1993").
                        if let Some(year) = date.year {
                            numbers.push(DocNumber {
                                value: f64::from(year),
                                sentence,
                                percent: false,
                                currency: None,
                            });
                        }
                        if let Some(day) = date.day {
                            numbers.push(DocNumber {
                                value: f64::from(day),
                                sentence,
                                percent: false,
                                currency: None,
                            });
                        }
                        dates.push((date, sentence));
                    }
                }
                Value::Name(_) | Value::Literal(_) => {}
            }
        }
    }
    numbers.sort_by(|a, b| a.value.total_cmp(&b.value));
    (numbers, dates)
}
