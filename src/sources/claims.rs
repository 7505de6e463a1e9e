//! Claims a reply makes that can be checked word for word: numbers, amounts, percentages,
//! dates, proper names, and tokens such as `x86` or `2.6.32`.
//!
//! The same scanner reads the reply and the document, so both sides are normalised alike:
//! `12 million`, `12,000,000` and `$12m` are the number 12e6 (the amount in dollars);
//! `March 3, 2018`, `3 March 2018`, `3. März 2018` and `2018-03-03` the date 2018-03-03;
//! `twelve` the number 12; `12 %`, `12 percent` and `12 per cent` the percentage 12. What
//! cannot be normalised is compared literally (its case-folded words). A number written as a
//! rounded figure (`12 million`, `about 1,500`) matches the document's figures that round to
//! it.
//!
//! Names are runs of capitalised words. A word that only starts a sentence is a name when the
//! document or the rest of the reply writes it capitalised inside a sentence, so a sentence's
//! first word ("Furthermore") is not taken for one; in texts that capitalise most words inside
//! sentences (German nouns) names are not checked at all. Scripts without case (Chinese,
//! Japanese, Arabic) have no name claims: their numbers and dates are still checked.

use std::ops::Range;

use serde::{Deserialize, Serialize};

use super::text::{fold, segments_in};

/// What kind of claim a [`super::Claim`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClaimKind {
    /// A number (`474`, `twelve`, `1.5`).
    Number,
    /// A sum of money (`$12m`, `€5,000`).
    Amount,
    /// A percentage (`12%`, `12 per cent`).
    Percent,
    /// A date, or part of one (`August 16th, 1993`, `2018-03`).
    Date,
    /// A proper name (`Ian Murdock`, `SPI`).
    Name,
    /// A token that is not a plain number or word (`x86`, `2.6.32`), compared as written.
    Literal,
}

/// A claim's normalised value.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Value {
    /// A number: the values it may be read as (`1.500` is 1.5 or 1500), the significant digits
    /// written, and whether it is rounded (a scale word or "about") or a percentage or amount.
    Number {
        candidates: Vec<f64>,
        sig: u32,
        approx: bool,
        percent: bool,
        currency: Option<&'static str>,
    },
    /// A date or part of one; ambiguous numeric forms (`03/04/2018`) give several.
    Date(Vec<DateParts>),
    /// Case-folded words of a name.
    Name(Vec<String>),
    /// A case-folded token.
    Literal(String),
}

/// A date: whichever of year, month and day were written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct DateParts {
    pub year: Option<i32>,
    pub month: Option<u8>,
    pub day: Option<u8>,
}

/// A claim as scanned: where it is, its kind and value.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Scanned {
    pub range: Range<usize>,
    pub kind: ClaimKind,
    pub value: Value,
}

/// What the name finder knows besides the sentence: whether a word (its key) is written
/// capitalised inside sentences elsewhere, and whether names are checked at all.
pub(crate) struct NameContext<'a> {
    pub names_checked: bool,
    pub capitalised_elsewhere: &'a dyn Fn(&str) -> bool,
    /// Whether a word (its key) is written in lower case inside sentences elsewhere: a common
    /// word ("The"), not the start of a name, when it starts a sentence.
    pub lower_case_elsewhere: &'a dyn Fn(&str) -> bool,
}

const MONTHS: &[(&str, u8)] = &[
    // English
    ("january", 1),
    ("february", 2),
    ("march", 3),
    ("april", 4),
    ("may", 5),
    ("june", 6),
    ("july", 7),
    ("august", 8),
    ("september", 9),
    ("october", 10),
    ("november", 11),
    ("december", 12),
    ("jan", 1),
    ("feb", 2),
    ("mar", 3),
    ("apr", 4),
    ("jun", 6),
    ("jul", 7),
    ("aug", 8),
    ("sep", 9),
    ("sept", 9),
    ("oct", 10),
    ("nov", 11),
    ("dec", 12),
    // German
    ("januar", 1),
    ("jänner", 1),
    ("februar", 2),
    ("märz", 3),
    ("mai", 5),
    ("juni", 6),
    ("juli", 7),
    ("oktober", 10),
    ("dezember", 12),
    // French
    ("janvier", 1),
    ("février", 2),
    ("fevrier", 2),
    ("mars", 3),
    ("avril", 4),
    ("juin", 6),
    ("juillet", 7),
    ("août", 8),
    ("aout", 8),
    ("septembre", 9),
    ("octobre", 10),
    ("novembre", 11),
    ("décembre", 12),
    ("decembre", 12),
    // Spanish
    ("enero", 1),
    ("febrero", 2),
    ("marzo", 3),
    ("abril", 4),
    ("mayo", 5),
    ("junio", 6),
    ("julio", 7),
    ("agosto", 8),
    ("septiembre", 9),
    ("setiembre", 9),
    ("octubre", 10),
    ("noviembre", 11),
    ("diciembre", 12),
    // Italian
    ("gennaio", 1),
    ("febbraio", 2),
    ("aprile", 4),
    ("maggio", 5),
    ("giugno", 6),
    ("luglio", 7),
    ("settembre", 9),
    ("ottobre", 10),
    ("dicembre", 12),
    // Portuguese
    ("janeiro", 1),
    ("fevereiro", 2),
    ("março", 3),
    ("maio", 5),
    ("junho", 6),
    ("julho", 7),
    ("setembro", 9),
    ("outubro", 10),
    ("novembro", 11),
    ("dezembro", 12),
    // Dutch
    ("januari", 1),
    ("februari", 2),
    ("maart", 3),
    ("mei", 5),
    ("augustus", 8),
    // Russian (nominative and genitive)
    ("январь", 1),
    ("января", 1),
    ("февраль", 2),
    ("февраля", 2),
    ("март", 3),
    ("марта", 3),
    ("апрель", 4),
    ("апреля", 4),
    ("май", 5),
    ("мая", 5),
    ("июнь", 6),
    ("июня", 6),
    ("июль", 7),
    ("июля", 7),
    ("август", 8),
    ("августа", 8),
    ("сентябрь", 9),
    ("сентября", 9),
    ("октябрь", 10),
    ("октября", 10),
    ("ноябрь", 11),
    ("ноября", 11),
    ("декабрь", 12),
    ("декабря", 12),
];

fn month(key: &str) -> Option<u8> {
    let key = key.trim_end_matches('.');
    MONTHS.iter().find(|(m, _)| *m == key).map(|(_, n)| *n)
}

const WEEKDAYS: &[&str] = &[
    "monday",
    "tuesday",
    "wednesday",
    "thursday",
    "friday",
    "saturday",
    "sunday",
];

/// Number words: English in full, and the unambiguous small ones of a few other languages.
const UNITS: &[(&str, u64)] = &[
    ("zero", 0),
    ("one", 1),
    ("two", 2),
    ("three", 3),
    ("four", 4),
    ("five", 5),
    ("six", 6),
    ("seven", 7),
    ("eight", 8),
    ("nine", 9),
    ("ten", 10),
    ("eleven", 11),
    ("twelve", 12),
    ("thirteen", 13),
    ("fourteen", 14),
    ("fifteen", 15),
    ("sixteen", 16),
    ("seventeen", 17),
    ("eighteen", 18),
    ("nineteen", 19),
    ("twenty", 20),
    ("thirty", 30),
    ("forty", 40),
    ("fifty", 50),
    ("sixty", 60),
    ("seventy", 70),
    ("eighty", 80),
    ("ninety", 90),
    ("dozen", 12),
    ("zwei", 2),
    ("drei", 3),
    ("vier", 4),
    ("fünf", 5),
    ("sechs", 6),
    ("sieben", 7),
    ("acht", 8),
    ("neun", 9),
    ("zehn", 10),
    ("zwölf", 12),
    ("zwanzig", 20),
    ("deux", 2),
    ("trois", 3),
    ("quatre", 4),
    ("cinq", 5),
    ("huit", 8),
    ("neuf", 9),
    ("douze", 12),
    ("vingt", 20),
    ("tres", 3),
    ("cuatro", 4),
    ("cinco", 5),
    ("seis", 6),
    ("siete", 7),
    ("ocho", 8),
    ("nueve", 9),
    ("diez", 10),
    ("doce", 12),
    ("quattro", 4),
    ("cinque", 5),
    ("sette", 7),
    ("otto", 8),
    ("nove", 9),
    ("dieci", 10),
    ("dodici", 12),
    ("três", 3),
    ("oito", 8),
];

const MULTIPLIERS: &[(&str, f64)] = &[
    ("hundred", 1e2),
    ("thousand", 1e3),
    ("million", 1e6),
    ("millions", 1e6),
    ("billion", 1e9),
    ("billions", 1e9),
    ("trillion", 1e12),
    ("tausend", 1e3),
    ("million", 1e6),
    ("millionen", 1e6),
    ("milliarde", 1e9),
    ("milliarden", 1e9),
    ("mille", 1e3),
    ("milliard", 1e9),
    ("milliards", 1e9),
    ("millón", 1e6),
    ("millones", 1e6),
    ("milione", 1e6),
    ("milioni", 1e6),
    ("miliardo", 1e9),
    ("miliardi", 1e9),
    ("milhão", 1e6),
    ("milhões", 1e6),
    ("тысяча", 1e3),
    ("тысячи", 1e3),
    ("тысяч", 1e3),
    ("миллион", 1e6),
    ("миллиона", 1e6),
    ("миллионов", 1e6),
    ("миллиард", 1e9),
    ("миллиарда", 1e9),
    ("миллиардов", 1e9),
    ("万", 1e4),
    ("億", 1e8),
    ("亿", 1e8),
];

/// Short scale suffixes written after a figure: `12m`, `12 bn`, `3k`.
const SUFFIXES: &[(&str, f64)] = &[
    ("k", 1e3),
    ("m", 1e6),
    ("mn", 1e6),
    ("mm", 1e6),
    ("bn", 1e9),
    ("b", 1e9),
    ("tn", 1e12),
];

const PERCENT_WORDS: &[&str] = &[
    "percent",
    "pct",
    "prozent",
    "pourcent",
    "porcentaje",
    "процент",
    "процента",
    "процентов",
];

const CURRENCY_SIGNS: &[(&str, &str)] = &[
    ("$", "USD"),
    ("us$", "USD"),
    ("€", "EUR"),
    ("£", "GBP"),
    ("¥", "JPY"),
    ("₹", "INR"),
    ("₽", "RUB"),
    ("usd", "USD"),
    ("eur", "EUR"),
    ("gbp", "GBP"),
    ("chf", "CHF"),
    ("jpy", "JPY"),
    ("cad", "CAD"),
    ("aud", "AUD"),
    ("inr", "INR"),
    ("cny", "CNY"),
];

const CURRENCY_WORDS: &[(&str, &str)] = &[
    ("dollar", "USD"),
    ("dollars", "USD"),
    ("euro", "EUR"),
    ("euros", "EUR"),
    ("pound", "GBP"),
    ("pounds", "GBP"),
    ("yen", "JPY"),
    ("rupees", "INR"),
    ("francs", "CHF"),
];

/// Words before a figure that say it is rounded.
const APPROX: &[&str] = &[
    "about",
    "around",
    "approximately",
    "approx",
    "nearly",
    "almost",
    "roughly",
    "some",
    "over",
    "under",
    "circa",
    "ca",
    "c",
    "~",
    "≈",
    "more",
    "less",
    "fewer",
    "than",
    "least",
    "up",
    "close",
    "estimated",
    "environ",
    "près",
    "presque",
    "plus",
    "moins",
    "etwa",
    "rund",
    "ungefähr",
    "fast",
    "über",
    "knapp",
    "cerca",
    "aproximadamente",
    "casi",
    "más",
    "menos",
    "quasi",
    "oltre",
    "около",
    "почти",
    "более",
    "менее",
    "свыше",
    "約",
    "约",
    "大约",
    "대략",
];

/// Common words that start sentences (articles, pronouns, prepositions, conjunctions and
/// sentence adverbs of English, French, Spanish, Italian, Portuguese and Dutch): capitalised
/// there by position, never the start of a name, even when the document does not use them.
const FUNCTION_WORDS: &[&str] = &[
    "a",
    "an",
    "the",
    "this",
    "that",
    "these",
    "those",
    "it",
    "its",
    "he",
    "she",
    "they",
    "we",
    "you",
    "i",
    "his",
    "her",
    "their",
    "our",
    "my",
    "your",
    "there",
    "here",
    "in",
    "on",
    "at",
    "by",
    "for",
    "from",
    "with",
    "without",
    "of",
    "to",
    "as",
    "after",
    "before",
    "during",
    "since",
    "until",
    "when",
    "while",
    "where",
    "although",
    "though",
    "because",
    "if",
    "but",
    "and",
    "or",
    "so",
    "yet",
    "also",
    "both",
    "each",
    "every",
    "all",
    "many",
    "most",
    "some",
    "several",
    "other",
    "another",
    "one",
    "no",
    "not",
    "yes",
    "however",
    "overall",
    "furthermore",
    "moreover",
    "additionally",
    "finally",
    "first",
    "second",
    "third",
    "then",
    "thus",
    "therefore",
    "instead",
    "meanwhile",
    "later",
    "today",
    "now",
    "only",
    "just",
    "even",
    "still",
    "what",
    "which",
    "who",
    "whom",
    "whose",
    "why",
    "how",
    "despite",
    "under",
    "over",
    "between",
    "among",
    "about",
    "into",
    "through",
    "across",
    "le",
    "la",
    "les",
    "un",
    "une",
    "des",
    "du",
    "ce",
    "cette",
    "ces",
    "il",
    "elle",
    "ils",
    "elles",
    "nous",
    "vous",
    "en",
    "dans",
    "pour",
    "par",
    "avec",
    "sans",
    "mais",
    "et",
    "ou",
    "après",
    "avant",
    "depuis",
    "lorsque",
    "quand",
    "el",
    "los",
    "las",
    "una",
    "unos",
    "este",
    "esta",
    "estos",
    "ese",
    "esa",
    "con",
    "sin",
    "pero",
    "y",
    "tras",
    "desde",
    "cuando",
    "lo",
    "gli",
    "uno",
    "questo",
    "questa",
    "nel",
    "nella",
    "con",
    "per",
    "ma",
    "dopo",
    "prima",
    "o",
    "os",
    "um",
    "uma",
    "este",
    "com",
    "sem",
    "mas",
    "depois",
    "antes",
    "de",
    "het",
    "een",
    "dit",
    "deze",
    "dat",
    "die",
    "met",
    "voor",
    "na",
    "maar",
];

/// Words that join the words of a name (`Duke of York`, `van Gogh`).
const NAME_JOINERS: &[&str] = &[
    "of", "de", "del", "della", "der", "den", "van", "von", "da", "di", "du", "la", "le", "bin",
    "ibn", "al", "y",
];

fn is_digits(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())
}

/// Reads a figure written with digits: `474`, `12,000,000`, `3.14`, `1.500` (two readings),
/// `12,5`. Returns the readings and the significant digits written.
fn parse_figure(s: &str) -> Option<(Vec<f64>, u32)> {
    if !s.bytes().next().is_some_and(|b| b.is_ascii_digit())
        || !s
            .bytes()
            .all(|b| b.is_ascii_digit() || b == b',' || b == b'.' || b == b'\'')
        || !s.bytes().last().is_some_and(|b| b.is_ascii_digit())
    {
        return None;
    }
    let seps: Vec<(usize, u8)> = s
        .bytes()
        .enumerate()
        .filter(|(_, b)| !b.is_ascii_digit())
        .collect();
    let digits: String = s.chars().filter(char::is_ascii_digit).collect();
    let plain = |t: &str| t.parse::<f64>().ok();
    let mut candidates = Vec::new();
    let grouped = |sep: u8| {
        // Every group after the first has three digits.
        let groups: Vec<&str> = s.split(sep as char).collect();
        groups.len() > 1
            && groups[0].len() <= 3
            && groups[1..].iter().all(|g| g.len() == 3 && is_digits(g))
    };
    match seps.as_slice() {
        [] => candidates.extend(plain(s)),
        [(at, sep)] => {
            let (int, frac) = (&s[..*at], &s[at + 1..]);
            if !is_digits(int) || !is_digits(frac) {
                return None;
            }
            let decimal = plain(&format!("{int}.{frac}"));
            let thousands = plain(&format!("{int}{frac}"));
            match (*sep, frac.len() == 3 && int.len() <= 3) {
                (b'.' | b',', true) => {
                    candidates.extend(thousands);
                    candidates.extend(decimal);
                }
                (b'.' | b',', false) => candidates.extend(decimal),
                _ => candidates.extend(thousands),
            }
        }
        many => {
            let first = many[0].1;
            if many.iter().all(|(_, b)| *b == first) {
                if !grouped(first) {
                    return None;
                }
                candidates.extend(plain(&digits));
            } else {
                // `12,345.67` or `12.345,67`: the last separator is the decimal point.
                let (last_at, last) = many[many.len() - 1];
                let before = &s[..last_at];
                if !grouped_ok(before, many[0].1) || !before.bytes().all(|b| b != last) {
                    return None;
                }
                let int: String = before.chars().filter(char::is_ascii_digit).collect();
                candidates.extend(plain(&format!("{int}.{}", &s[last_at + 1..])));
            }
        }
    }
    if candidates.is_empty() {
        return None;
    }
    Some((candidates, significant(s)))
}

fn grouped_ok(s: &str, sep: u8) -> bool {
    let groups: Vec<&str> = s.split(sep as char).collect();
    groups.len() > 1
        && groups[0].len() <= 3
        && is_digits(groups[0])
        && groups[1..].iter().all(|g| g.len() == 3 && is_digits(g))
}

/// Significant digits as written: leading zeros never count, an integer's trailing zeros
/// neither (`1,500` has 2), a decimal's do (`12.50` has 4).
fn significant(s: &str) -> u32 {
    // A last group of three digits reads as thousands (`1,500`), any other as a fraction.
    let has_fraction = s.rfind(['.', ',']).is_some_and(|at| s.len() - at - 1 != 3);
    let digits: String = s.chars().filter(char::is_ascii_digit).collect();
    let trimmed = digits.trim_start_matches('0');
    let trimmed = if has_fraction {
        trimmed
    } else {
        trimmed.trim_end_matches('0')
    };
    u32::try_from(trimmed.len().max(1)).unwrap_or(1)
}

/// Significant digits of an integer value (its trailing zeros not counted).
fn significant_of(value: u64) -> u32 {
    significant(&value.to_string())
}

/// `16th`, `1st`, `3rd`, `2nd`, `16e`, `16.` (German ordinals are read by the date finder).
fn ordinal(key: &str) -> Option<u64> {
    let digits = key.trim_end_matches(|c: char| c.is_alphabetic());
    let suffix = &key[digits.len()..];
    if !is_digits(digits) || digits.len() > 4 {
        return None;
    }
    matches!(
        suffix,
        "st" | "nd" | "rd" | "th" | "e" | "er" | "eme" | "ème" | "º" | "ª" | "o" | "a"
    )
    .then(|| digits.parse().ok())
    .flatten()
}

fn scaled_figure(key: &str) -> Option<(f64, u32)> {
    let digits = key.trim_end_matches(|c: char| c.is_alphabetic());
    let suffix = &key[digits.len()..];
    let scale = SUFFIXES.iter().find(|(s, _)| *s == suffix)?.1;
    let (values, sig) = parse_figure(digits)?;
    // `1.500m` is not a way to write a number; take the decimal reading.
    let value = values.iter().copied().fold(f64::INFINITY, f64::min);
    Some((value * scale, sig))
}

struct Seg<'a> {
    range: Range<usize>,
    raw: &'a str,
    key: String,
}

/// Scans `text[range]` (one sentence) for claims.
pub(crate) fn scan(text: &str, range: Range<usize>, names: &NameContext<'_>) -> Vec<Scanned> {
    let segs: Vec<Seg<'_>> = segments_in(text, range)
        .into_iter()
        .map(|(range, raw)| Seg {
            key: fold(raw),
            range,
            raw,
        })
        .collect();
    let mut used = vec![false; segs.len()];
    let mut out = Vec::new();
    dates(&segs, &mut used, &mut out);
    numbers(&segs, &mut used, &mut out);
    literals(&segs, &mut used, &mut out);
    if names.names_checked {
        find_names(&segs, &used, names, &mut out);
    }
    out.sort_by_key(|c| c.range.start);
    out
}

/// Whether two segments touch (no space between them).
fn touching(a: &Seg<'_>, b: &Seg<'_>) -> bool {
    a.range.end == b.range.start
}

fn day_of(key: &str) -> Option<u8> {
    let n: u64 = if is_digits(key) && key.len() <= 2 {
        key.parse().ok()?
    } else {
        ordinal(key)?
    };
    (1..=31)
        .contains(&n)
        .then(|| u8::try_from(n).ok())
        .flatten()
}

fn year_of(key: &str) -> Option<i32> {
    let key = key.trim_end_matches(['年', '년']);
    (is_digits(key) && key.len() == 4)
        .then(|| key.parse().ok())
        .flatten()
        .filter(|y| (1000..=2999).contains(y))
}

fn push_date(
    segs: &[Seg<'_>],
    used: &mut [bool],
    out: &mut Vec<Scanned>,
    first: usize,
    last: usize,
    dates: Vec<DateParts>,
) {
    for u in &mut used[first..=last] {
        *u = true;
    }
    out.push(Scanned {
        range: segs[first].range.start..segs[last].range.end,
        kind: ClaimKind::Date,
        value: Value::Date(dates),
    });
}

fn dates(segs: &[Seg<'_>], used: &mut [bool], out: &mut Vec<Scanned>) {
    let n = segs.len();
    let mut i = 0;
    while i < n {
        if used[i] {
            i += 1;
            continue;
        }
        let key = segs[i].key.as_str();
        // 2018-03-03, 2018/03/03
        if let Some(year) = year_of(key) {
            if i + 4 < n
                && matches!(segs[i + 1].raw, "-" | "/")
                && segs[i + 3].raw == segs[i + 1].raw
                && (i..i + 4).all(|k| touching(&segs[k], &segs[k + 1]))
            {
                if let (Some(m), Some(d)) =
                    (month_number(&segs[i + 2].key), day_of(&segs[i + 4].key))
                {
                    push_date(
                        segs,
                        used,
                        out,
                        i,
                        i + 4,
                        vec![parts(Some(year), Some(m), Some(d))],
                    );
                    i += 5;
                    continue;
                }
            }
            // 2018年3月3日, 2018 年 3 月, 2018년 3월 3일
            if let Some((m, day, last)) = east_asian_month_day(segs, i) {
                push_date(
                    segs,
                    used,
                    out,
                    i,
                    last,
                    vec![parts(Some(year), Some(m), day)],
                );
                i = last + 1;
                continue;
            }
        }
        // 03/04/2018, 3-4-2018: day and month either way round when both can be.
        if is_digits(key) && key.len() <= 2 && i + 4 < n {
            let sep = segs[i + 1].raw;
            if matches!(sep, "/" | "-")
                && segs[i + 3].raw == sep
                && (i..i + 4).all(|k| touching(&segs[k], &segs[k + 1]))
            {
                if let (Some(a), Some(b), Some(year)) = (
                    day_of(key),
                    day_of(&segs[i + 2].key),
                    year_of(&segs[i + 4].key),
                ) {
                    let mut readings = Vec::new();
                    if b <= 12 {
                        readings.push(parts(Some(year), Some(b), Some(a)));
                    }
                    if a <= 12 && a != b {
                        readings.push(parts(Some(year), Some(a), Some(b)));
                    }
                    if !readings.is_empty() {
                        push_date(segs, used, out, i, i + 4, readings);
                        i += 5;
                        continue;
                    }
                }
            }
        }
        // 03.04.2018 is one segment (a dot between digits joins them).
        if let Some(date) = dotted_date(key) {
            push_date(segs, used, out, i, i, vec![date]);
            i += 1;
            continue;
        }
        if let Some(m) = month(key) {
            if let Some((first, last, date)) = around_month(segs, used, i, m) {
                push_date(segs, used, out, first, last, vec![date]);
                i = last + 1;
                continue;
            }
        }
        i += 1;
    }
}

/// The month and day after the year at segment `i`, written the Chinese and Japanese way
/// (`2018年3月3日`, `2018 年 3 月`) or the Korean way (`2018년 3월 3일`): the month, the day
/// when there is one, and the date's last segment.
fn east_asian_month_day(segs: &[Seg<'_>], i: usize) -> Option<(u8, Option<u8>, usize)> {
    let n = segs.len();
    if i + 3 < n && segs[i + 1].raw == "年" && segs[i + 3].raw == "月" {
        if let Some(m) = month_number(&segs[i + 2].key) {
            let day = segs
                .get(i + 4)
                .filter(|_| segs.get(i + 5).is_some_and(|s| s.raw == "日"))
                .and_then(|s| day_of(&s.key));
            return Some((m, day, if day.is_some() { i + 5 } else { i + 3 }));
        }
    }
    if segs[i].key.ends_with('년') && i + 1 < n {
        if let Some(m) = segs[i + 1].key.strip_suffix('월').and_then(month_number) {
            let day = segs
                .get(i + 2)
                .and_then(|s| s.key.strip_suffix('일'))
                .and_then(day_of);
            return Some((m, day, if day.is_some() { i + 2 } else { i + 1 }));
        }
    }
    None
}

fn parts(year: Option<i32>, month: Option<u8>, day: Option<u8>) -> DateParts {
    DateParts { year, month, day }
}

fn month_number(key: &str) -> Option<u8> {
    let key = key.trim_end_matches(['月', '월']);
    (is_digits(key) && key.len() <= 2)
        .then(|| key.parse().ok())
        .flatten()
        .filter(|m| (1..=12).contains(m))
}

fn dotted_date(key: &str) -> Option<DateParts> {
    let mut parts_it = key.split('.');
    let (d, m, y) = (parts_it.next()?, parts_it.next()?, parts_it.next()?);
    if parts_it.next().is_some() || d.len() > 2 || m.len() > 2 {
        return None;
    }
    Some(parts(
        Some(year_of(y)?),
        Some(month_number(m)?),
        Some(day_of(d)?),
    ))
}

/// A date written around a month name: `August 16th, 1993`, `16 August 1993`, `16. August
/// 1993`, `16 de agosto de 1993`, `August 1993`, `August 16`. A month name alone is no date
/// ("May" is also a verb).
fn around_month(
    segs: &[Seg<'_>],
    used: &[bool],
    at: usize,
    month: u8,
) -> Option<(usize, usize, DateParts)> {
    let key = |k: usize| segs.get(k).map(|s| s.key.as_str());
    let free = |k: usize| !used.get(k).copied().unwrap_or(true);
    let mut first = at;
    let mut day = None;
    // A day before: `16 August`, `16. August`, `16th of August`, `16 de agosto`.
    let mut back = at;
    if back > 0 && matches!(key(back - 1), Some("of" | "de" | "di" | "del")) {
        back -= 1;
    }
    if back > 0 && key(back - 1) == Some(".") {
        back -= 1;
    }
    if back > 0 && free(back - 1) {
        if let Some(d) = key(back - 1).and_then(day_of) {
            day = Some(d);
            first = back - 1;
        }
    }
    let mut last = at;
    let mut k = at + 1;
    if key(k) == Some(".") {
        k += 1;
    }
    if day.is_none() {
        if let Some(d) = key(k).and_then(day_of).filter(|_| free(k)) {
            // `August 16, 1993` or `August 16th`; not `May 2018` (a year).
            if year_of(key(k).unwrap_or_default()).is_none() {
                day = Some(d);
                last = k;
                k += 1;
            }
        }
    }
    let mut y = k;
    while matches!(key(y), Some("," | "de" | "of" | "del")) {
        y += 1;
    }
    let year = key(y).and_then(year_of).filter(|_| free(y));
    if year.is_some() {
        last = y;
        if matches!(key(y + 1), Some("года" | "г")) {
            last = y + 1;
        }
    }
    if day.is_none() && year.is_none() {
        return None;
    }
    Some((first, last, parts(year, Some(month), day)))
}

fn numbers(segs: &[Seg<'_>], used: &mut [bool], out: &mut Vec<Scanned>) {
    let n = segs.len();
    let mut i = 0;
    while i < n {
        if used[i] {
            i += 1;
            continue;
        }
        let key = segs[i].key.as_str();
        let (mut candidates, mut sig, mut scaled, mut last) =
            if let Some((values, sig)) = parse_figure(key) {
                (values, sig, false, i)
            } else if let Some((value, sig)) = scaled_figure(key) {
                (vec![value], sig, true, i)
            } else if let Some(value) = ordinal(key) {
                (vec![value as f64], significant_of(value), false, i)
            } else if let Some((value, end)) = number_words(segs, i) {
                (vec![value as f64], significant_of(value), false, end)
            } else {
                i += 1;
                continue;
            };
        let first = i;
        // A scale word after the figure: `12 million`, `1.5 bn`.
        if let Some(next) = segs.get(last + 1) {
            let scale = MULTIPLIERS
                .iter()
                .chain(SUFFIXES.iter().filter(|(s, _)| s.len() > 1))
                .find(|(w, _)| *w == next.key)
                .map(|(_, s)| *s);
            if let Some(scale) = scale.filter(|_| !scaled) {
                for c in &mut candidates {
                    *c *= scale;
                }
                scaled = true;
                last += 1;
            }
        }
        // A figure read as several values takes the smaller reading once scaled (`1.5m`).
        if scaled && candidates.len() > 1 {
            let min = candidates.iter().copied().fold(f64::INFINITY, f64::min);
            candidates = vec![min];
        }
        let mut start = first;
        let mut currency = None;
        let mut percent = false;
        if first > 0 && !used[first - 1] {
            if let Some((_, code)) = CURRENCY_SIGNS
                .iter()
                .find(|(s, _)| *s == segs[first - 1].key)
            {
                currency = Some(*code);
                start = first - 1;
            }
        }
        if let Some(next) = segs.get(last + 1) {
            if next.raw == "%" || next.raw == "٪" || PERCENT_WORDS.contains(&next.key.as_str()) {
                percent = true;
                last += 1;
            } else if matches!(next.key.as_str(), "per" | "pour" | "por")
                && segs
                    .get(last + 2)
                    .is_some_and(|s| matches!(s.key.as_str(), "cent" | "cento" | "ciento"))
            {
                percent = true;
                last += 2;
            } else if currency.is_none() {
                if let Some((_, code)) = CURRENCY_SIGNS
                    .iter()
                    .chain(CURRENCY_WORDS.iter())
                    .find(|(s, _)| *s == next.key)
                {
                    currency = Some(*code);
                    last += 1;
                }
            }
        }
        let approx = scaled
            || (start > 0
                && (APPROX.contains(&segs[start - 1].key.as_str())
                    || (start > 1 && APPROX.contains(&segs[start - 2].key.as_str()))));
        if scaled {
            sig = sig.max(1);
        }
        for u in &mut used[start..=last] {
            *u = true;
        }
        let kind = if percent {
            ClaimKind::Percent
        } else if currency.is_some() {
            ClaimKind::Amount
        } else {
            ClaimKind::Number
        };
        out.push(Scanned {
            range: segs[start].range.start..segs[last].range.end,
            kind,
            value: Value::Number {
                candidates,
                sig,
                approx,
                percent,
                currency,
            },
        });
        i = last + 1;
    }
}

fn unit_word(key: &str) -> Option<u64> {
    UNITS.iter().find(|(w, _)| *w == key).map(|(_, v)| *v)
}

/// Number words from `segs[at]`: `twelve`, `twenty-one`, `two hundred and fifty`, `three
/// million`. A lone `one` is no number ("one of the"); neither is `a` before a scale.
fn number_words(segs: &[Seg<'_>], at: usize) -> Option<(u64, usize)> {
    let first = unit_word(&segs[at].key)?;
    let mut total: u64 = 0;
    let mut current: u64 = first;
    let mut last = at;
    let mut words = 1;
    let mut k = at + 1;
    while let Some(seg) = segs.get(k) {
        if seg.raw == "-" && segs.get(k + 1).is_some_and(|s| unit_word(&s.key).is_some()) {
            k += 1;
            continue;
        }
        if seg.key == "and"
            && segs.get(k + 1).is_some_and(|s| unit_word(&s.key).is_some())
            && current >= 100
        {
            k += 1;
            continue;
        }
        if let Some(v) = unit_word(&seg.key) {
            let after_tens = current % 100 >= 20 && current.is_multiple_of(10) && v < 10;
            let after_hundreds = current >= 100 && current.is_multiple_of(100) && v < 100;
            let after_scale = current == 0 && total > 0;
            if after_tens || after_hundreds || after_scale {
                current += v;
            } else {
                break;
            }
        } else if seg.key == "hundred" {
            current = current.max(1) * 100;
        } else if let Some(scale) = match seg.key.as_str() {
            "thousand" => Some(1_000),
            "million" => Some(1_000_000),
            "billion" => Some(1_000_000_000),
            _ => None,
        } {
            total += current.max(1) * scale;
            current = 0;
        } else {
            break;
        }
        last = k;
        words += 1;
        k += 1;
    }
    let value = total + current;
    if words == 1 && segs[at].key == "one" {
        return None;
    }
    // Scale words after a lone number word are read by the caller (`three million`): only
    // `thousand`/`million` inside a run were consumed here, which the caller then skips.
    Some((value, last))
}

/// Tokens with digits that are no number: `x86`, `2.6.32`, `IPv6`, `S390x`.
fn literals(segs: &[Seg<'_>], used: &mut [bool], out: &mut Vec<Scanned>) {
    for (i, seg) in segs.iter().enumerate() {
        if used[i] {
            continue;
        }
        let has_digit = seg.key.chars().any(|c| c.is_ascii_digit());
        let has_other = seg.key.chars().any(|c| !c.is_ascii_digit());
        if has_digit && has_other && seg.key.chars().any(char::is_alphanumeric) {
            used[i] = true;
            out.push(Scanned {
                range: seg.range.clone(),
                kind: ClaimKind::Literal,
                value: Value::Literal(seg.key.clone()),
            });
        }
    }
}

/// Whether a word is capitalised: starts with an upper-case or title-case letter.
pub(crate) fn capitalised(word: &str) -> bool {
    word.chars().next().is_some_and(char::is_uppercase)
}

/// The key of a name's word: without a possessive `'s`.
fn name_key(key: &str) -> String {
    key.strip_suffix("'s")
        .or_else(|| key.strip_suffix('\''))
        .unwrap_or(key)
        .to_owned()
}

fn find_names(segs: &[Seg<'_>], used: &[bool], context: &NameContext<'_>, out: &mut Vec<Scanned>) {
    let words: Vec<usize> = (0..segs.len())
        .filter(|&k| segs[k].raw.chars().any(char::is_alphabetic))
        .collect();
    if words.is_empty() {
        return;
    }
    // A line in capitals (a heading, a shout) says nothing about names.
    let caps = words.iter().filter(|&&k| capitalised(segs[k].raw)).count();
    if words.len() >= 3 && caps * 10 >= words.len() * 7 {
        return;
    }
    let is_candidate = |k: usize| {
        let seg = &segs[k];
        !used[k]
            && capitalised(seg.raw)
            && month(&seg.key).is_none()
            && !WEEKDAYS.contains(&seg.key.as_str())
            && unit_word(&seg.key).is_none()
    };
    // Sentence starts: the first word, and the word after `:`, a stop, or an opening quote
    // (one that touches the word and not the word before it).
    let starts_sentence = |k: usize| {
        if k == words[0] {
            return true;
        }
        let Some(prev) = k.checked_sub(1).and_then(|p| segs.get(p)) else {
            return true;
        };
        match prev.raw {
            ":" | "." | "!" | "?" | "«" | "“" | "„" | "¡" | "¿" => true,
            "\"" | "'" => {
                touching(prev, &segs[k])
                    && k.checked_sub(2)
                        .and_then(|p| segs.get(p))
                        .is_none_or(|before| !touching(before, prev))
            }
            _ => false,
        }
    };
    let mut k = 0;
    while k < segs.len() {
        if !is_candidate(k) {
            k += 1;
            continue;
        }
        let mut members = vec![k];
        let mut j = k + 1;
        loop {
            match segs.get(j) {
                Some(s)
                    if s.raw == "-" || (s.raw == "." && segs[j - 1].raw.chars().count() == 1) =>
                {
                    if segs.get(j + 1).is_some_and(|_| is_candidate(j + 1)) {
                        j += 1;
                        continue;
                    }
                    break;
                }
                Some(s) if NAME_JOINERS.contains(&s.key.as_str()) && !capitalised(s.raw) => {
                    if segs.get(j + 1).is_some_and(|_| is_candidate(j + 1)) {
                        j += 1;
                        continue;
                    }
                    break;
                }
                Some(_) if is_candidate(j) => {
                    members.push(j);
                    j += 1;
                }
                _ => break,
            }
        }
        // A sentence's first word is part of a name when it is written as one elsewhere. A word
        // written nowhere else is one too, unless it is a common word ("The", "However") or a
        // comma follows it ("Overall, ..."); one written in lower case elsewhere is not.
        if starts_sentence(members[0]) {
            let key = name_key(&segs[members[0]].key);
            let unknown = !(context.lower_case_elsewhere)(&key)
                && !FUNCTION_WORDS.contains(&key.as_str())
                && segs.get(members[0] + 1).is_none_or(|next| next.raw != ",");
            if !(context.capitalised_elsewhere)(&key) && !unknown {
                members.remove(0);
            }
        }
        if let (Some(&a), Some(&b)) = (members.first(), members.last()) {
            let keys: Vec<String> = members
                .iter()
                .map(|&m| name_key(&segs[m].key))
                .filter(|k| !k.is_empty())
                .collect();
            if !keys.is_empty() {
                out.push(Scanned {
                    range: segs[a].range.start..segs[b].range.end,
                    kind: ClaimKind::Name,
                    value: Value::Name(keys),
                });
            }
        }
        k = j.max(k + 1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scan_all(text: &str) -> Vec<(String, ClaimKind, Value)> {
        let context = NameContext {
            names_checked: true,
            capitalised_elsewhere: &|k| k == "debian",
            lower_case_elsewhere: &|k| k == "the",
        };
        scan(text, 0..text.len(), &context)
            .into_iter()
            .map(|c| (text[c.range.clone()].to_owned(), c.kind, c.value))
            .collect()
    }

    fn number(text: &str) -> (Vec<f64>, u32, bool, bool, Option<&'static str>) {
        let found = scan_all(text);
        let Some((
            _,
            _,
            Value::Number {
                candidates,
                sig,
                approx,
                percent,
                currency,
            },
        )) = found.into_iter().find(|(_, k, _)| {
            matches!(
                k,
                ClaimKind::Number | ClaimKind::Amount | ClaimKind::Percent
            )
        })
        else {
            panic!("no number in {text:?}");
        };
        (candidates, sig, approx, percent, currency)
    }

    fn date(text: &str) -> Vec<DateParts> {
        match scan_all(text)
            .into_iter()
            .find(|(_, k, _)| *k == ClaimKind::Date)
        {
            Some((_, _, Value::Date(d))) => d,
            other => panic!("no date in {text:?}: {other:?}"),
        }
    }

    #[test]
    fn amounts_are_one_number_however_written() {
        for text in [
            "It cost 12 million.",
            "It cost 12,000,000.",
            "It cost $12m.",
            "It cost twelve million.",
        ] {
            let (values, _, _, _, _) = number(text);
            assert!(values.contains(&12e6), "{text}: {values:?}");
        }
        assert_eq!(number("It cost $12m.").4, Some("USD"));
        assert_eq!(number("It cost 12 million dollars.").4, Some("USD"));
        assert_eq!(number("Es kostete 12 Millionen Euro.").0, vec![12e6]);
        assert_eq!(number("It cost €5,5 bn.").0, vec![5.5e9]);
    }

    #[test]
    fn percentages_and_rounding_are_marked() {
        for text in [
            "a rise of 12%",
            "a rise of 12 percent",
            "a rise of 12 per cent",
            "un alza del 12 por ciento",
        ] {
            let (values, _, _, percent, _) = number(text);
            assert_eq!((values, percent), (vec![12.0], true), "{text}");
        }
        assert!(number("about 1,500 packages").2);
        assert!(!number("1,500 packages").2);
        assert_eq!(number("1,500 packages").1, 2);
        assert_eq!(number("474 packages").1, 3);
        assert_eq!(number("12.50 euros").1, 4);
    }

    #[test]
    fn number_words_read_as_figures() {
        assert_eq!(number("twelve members").0, vec![12.0]);
        assert_eq!(number("twenty-one members").0, vec![21.0]);
        assert_eq!(number("two hundred and fifty members").0, vec![250.0]);
        assert!(scan_all("one of the leaders").is_empty());
    }

    #[test]
    fn dates_are_one_date_however_written() {
        let expected = parts(Some(2018), Some(3), Some(3));
        for text in [
            "on March 3, 2018 it",
            "on March 3rd, 2018 it",
            "on 3 March 2018 it",
            "le 3 mars 2018",
            "am 3. März 2018",
            "el 3 de marzo de 2018",
            "on 2018-03-03 it",
            "on 03.03.2018 it",
            "3 марта 2018 года",
            "2018年3月3日",
        ] {
            assert_eq!(date(text), vec![expected], "{text}");
        }
        assert_eq!(
            date("in August 1993"),
            vec![parts(Some(1993), Some(8), None)]
        );
        assert_eq!(
            date("1998 年 7 月に"),
            vec![parts(Some(1998), Some(7), None)]
        );
        assert_eq!(date("on 04/03/2018").len(), 2);
        assert!(scan_all("You may go.")
            .iter()
            .all(|(_, k, _)| *k != ClaimKind::Date));
    }

    #[test]
    fn names_are_capitalised_runs_not_sentence_starts() {
        let found =
            scan_all("Furthermore, the project was founded by Ian Murdock and Bruce Perens.");
        let names: Vec<&str> = found
            .iter()
            .filter(|(_, k, _)| *k == ClaimKind::Name)
            .map(|(t, _, _)| t.as_str())
            .collect();
        assert_eq!(names, ["Ian Murdock", "Bruce Perens"]);
        let found = scan_all("Debian was founded in 1993.");
        assert!(found
            .iter()
            .any(|(t, k, _)| t == "Debian" && *k == ClaimKind::Name));
        let found = scan_all("Javier Fernández-Sanguino wrote Murdock's manifesto.");
        assert!(found
            .iter()
            .any(|(t, _, v)| t == "Javier Fernández-Sanguino"
                && *v
                    == Value::Name(vec!["javier".into(), "fernández".into(), "sanguino".into()])));
        assert!(found
            .iter()
            .any(|(_, _, v)| *v == Value::Name(vec!["murdock".into()])));
    }

    #[test]
    fn tokens_with_digits_are_literals() {
        let found = scan_all("It runs on x86 and kernel 2.6.32.");
        let literals: Vec<&str> = found
            .iter()
            .filter(|(_, k, _)| *k == ClaimKind::Literal)
            .map(|(t, _, _)| t.as_str())
            .collect();
        assert_eq!(literals, ["x86", "2.6.32"]);
    }
}
