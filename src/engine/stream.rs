//! Turning generated text into what a person sees: stop strings held back until they are
//! ruled out, and XGen's `Assistant:` label removed.

use crate::prompt::strip_assistant_label;

/// Scans a reply as it streams, holding back text that could still be the start of a stop
/// string, so that a stop marker never flashes on screen.
#[derive(Debug, Clone)]
pub struct StopScanner {
    stops: Vec<String>,
    strip_label: bool,
    raw: String,
    emitted: usize,
    stopped: bool,
}

impl StopScanner {
    /// A scanner that ends the reply at any of `stops`; `strip_label` removes XGen's leading
    /// `Assistant:`.
    #[must_use]
    pub fn new(stops: Vec<String>, strip_label: bool) -> Self {
        Self {
            stops,
            strip_label,
            raw: String::new(),
            emitted: 0,
            stopped: false,
        }
    }

    /// True once a stop string was seen.
    #[must_use]
    pub fn stopped(&self) -> bool {
        self.stopped
    }

    /// Adds generated text; returns the text that is now safe to show.
    pub fn push(&mut self, text: &str) -> String {
        if self.stopped {
            return String::new();
        }
        self.raw.push_str(text);
        let Some(clean) = self.clean() else {
            return String::new();
        };
        if let Some(at) = self.stop_position(clean) {
            let visible = clean[..at].trim_end().to_owned();
            self.stopped = true;
            return self.take_until(&visible, visible.len());
        }
        let held = self.held_back(clean);
        let clean = clean.to_owned();
        self.take_until(&clean, clean.len() - held)
    }

    /// The end of the stream: whatever was held back, without trailing whitespace.
    pub fn finish(&mut self) -> String {
        if self.stopped {
            return String::new();
        }
        self.stopped = true;
        let visible = self.clean().unwrap_or_default().trim_end().to_owned();
        self.take_until(&visible, visible.len())
    }

    fn clean(&self) -> Option<&str> {
        if self.strip_label {
            strip_assistant_label(&self.raw)
        } else {
            Some(self.raw.as_str())
        }
    }

    fn stop_position(&self, clean: &str) -> Option<usize> {
        self.stops
            .iter()
            .filter_map(|stop| {
                // A reply that opens with the marker (minus its newline) is empty.
                let bare = stop.trim_start_matches('\n');
                if !bare.is_empty() && clean.starts_with(bare) && bare.len() < stop.len() {
                    return Some(0);
                }
                clean.find(stop.as_str())
            })
            .min()
    }

    /// Length of the longest tail of `clean` that is a proper prefix of some stop string.
    fn held_back(&self, clean: &str) -> usize {
        self.stops
            .iter()
            .flat_map(|stop| (1..stop.len()).filter(move |&n| clean.ends_with(&stop[..n])))
            .max()
            .unwrap_or(0)
    }

    fn take_until(&mut self, clean: &str, end: usize) -> String {
        let mut end = end;
        while end > 0 && !clean.is_char_boundary(end) {
            end -= 1;
        }
        if end <= self.emitted {
            return String::new();
        }
        let out = clean.get(self.emitted..end).unwrap_or_default().to_owned();
        self.emitted = end;
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(scanner: &mut StopScanner, pieces: &[&str]) -> (Vec<String>, String) {
        let shown: Vec<String> = pieces.iter().map(|p| scanner.push(p)).collect();
        let tail = scanner.finish();
        (shown, tail)
    }

    #[test]
    fn xgen_label_and_marker_never_show() {
        let mut s = StopScanner::new(vec!["\n###".into()], true);
        let (shown, tail) = run(
            &mut s,
            &[
                " Ass", "istant", ":", " Hello", " world", "\n", "##", "#", " Human",
            ],
        );
        assert_eq!(shown.concat() + &tail, "Hello world");
        assert_eq!(shown[3], "Hello");
        assert_eq!(
            shown[5], "",
            "a newline could start the marker, so it is held back"
        );
        assert!(s.stopped());
    }

    #[test]
    fn held_text_is_released_when_it_is_not_a_marker() {
        let mut s = StopScanner::new(vec!["\n###".into()], false);
        assert_eq!(s.push("a\n#"), "a");
        assert_eq!(s.push(" heading"), "\n# heading");
        assert_eq!(s.finish(), "");
    }

    #[test]
    fn reply_opening_with_the_marker_is_empty() {
        let mut s = StopScanner::new(vec!["\n###".into()], true);
        let (shown, tail) = run(&mut s, &[" Assistant:", "###"]);
        assert_eq!(shown.concat() + &tail, "");
        assert!(s.stopped());
    }

    #[test]
    fn multibyte_text_is_never_split() {
        let mut s = StopScanner::new(vec![], false);
        assert_eq!(s.push("héllo 🙂"), "héllo 🙂");
        assert_eq!(s.finish(), "");
    }
}
