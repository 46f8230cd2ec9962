//! Word splitting for the `_text` analyser: the words of UAX#29 (what
//! Elasticsearch's `standard` tokenizer emits), with a fast path for ASCII.
//!
//! Nearly every log line is ASCII, and there the Unicode word-break rules
//! reduce to a few byte tests; running the general state machine of
//! `unicode-segmentation` on every message cost about a tenth of the
//! server's CPU at ingest (profiled with `perf` during `bench ingest`).
//! Text with any non-ASCII byte still goes through the crate. The fast
//! path must give exactly the crate's words (indices written before it
//! exist, and queries are analysed the same way); the tests compare both
//! on random ASCII text (any character, and the ones the rules treat
//! specially) and on generated log lines.

use unicode_segmentation::{UWordBoundIndices, UnicodeSegmentation};

/// The words of `text` with their byte offsets: the UAX#29 segments that
/// contain a letter or digit.
pub fn words(text: &str) -> Words<'_> {
    if text.is_ascii() {
        Words::Ascii { text, at: 0 }
    } else {
        Words::Unicode(text.split_word_bound_indices())
    }
}

/// Iterator of [`words`].
pub enum Words<'a> {
    Ascii { text: &'a str, at: usize },
    Unicode(UWordBoundIndices<'a>),
}

impl<'a> Iterator for Words<'a> {
    type Item = (usize, &'a str);

    fn next(&mut self) -> Option<(usize, &'a str)> {
        match self {
            Words::Ascii { text, at } => next_ascii_word(text, at),
            Words::Unicode(it) => it
                .by_ref()
                .find(|(_, w)| w.chars().any(char::is_alphanumeric)),
        }
    }
}

/// Letters, digits and `_` (Word_Break ALetter, Numeric, ExtendNumLet):
/// any two of them side by side stay in one word (WB5, WB8-WB10, WB13a/b).
fn is_word_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

/// Whether `mid` between `before` and `after` keeps them in one word:
/// letters around `:`, `.` or `'` (WB6/WB7), digits around `,`, `;`, `.`
/// or `'` (WB11/WB12).
fn joins(before: u8, mid: u8, after: u8) -> bool {
    if before.is_ascii_alphabetic() && after.is_ascii_alphabetic() {
        matches!(mid, b':' | b'.' | b'\'')
    } else if before.is_ascii_digit() && after.is_ascii_digit() {
        matches!(mid, b',' | b';' | b'.' | b'\'')
    } else {
        false
    }
}

fn next_ascii_word<'a>(text: &'a str, at: &mut usize) -> Option<(usize, &'a str)> {
    let b = text.as_bytes();
    while *at < b.len() {
        if !is_word_byte(b[*at]) {
            *at += 1;
            continue;
        }
        let start = *at;
        let mut end = start + 1;
        loop {
            if end < b.len() && is_word_byte(b[end]) {
                end += 1;
            } else if end + 1 < b.len() && joins(b[end - 1], b[end], b[end + 1]) {
                end += 2;
            } else {
                break;
            }
        }
        *at = end;
        let w = &text[start..end];
        // a run of `_` alone is a segment but not a word
        if w.bytes().any(|c| c.is_ascii_alphanumeric()) {
            return Some((start, w));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn by_crate(text: &str) -> Vec<(usize, &str)> {
        text.split_word_bound_indices()
            .filter(|(_, w)| w.chars().any(char::is_alphanumeric))
            .collect()
    }

    #[test]
    fn log_like_words() {
        let t =
            "GET /api/v1/users?id=42 took 3.5ms user=bob's at 12:00:01, ip 10.0.0.1 a_b __ x.y.";
        let got: Vec<&str> = words(t).map(|(_, w)| w).collect();
        assert_eq!(
            got,
            vec![
                "GET", "api", "v1", "users", "id", "42", "took", "3.5ms", "user", "bob's", "at",
                "12", "00", "01", "ip", "10.0.0.1", "a_b", "x.y"
            ]
        );
        assert_eq!(words(t).collect::<Vec<_>>(), by_crate(t));
    }

    #[test]
    fn non_ascii_text_uses_the_full_rules() {
        let t = "Größe überschritten: 5 MB — café's";
        assert_eq!(words(t).collect::<Vec<_>>(), by_crate(t));
    }

    #[test]
    fn generated_log_lines_split_as_the_crate_splits() {
        let mut g = crate::generate::Generator::new(crate::generate::GenOptions {
            services: vec!["api".into(), "web".into()],
            seed: 7,
            start_ms: 0,
            step_ms: 1.0,
            error_bursts: false,
            stack_traces: false,
        });
        for _ in 0..20_000 {
            let line = g.next_line();
            let v: serde_json::Value = serde_json::from_str(&line).expect("generated JSON");
            for s in v
                .as_object()
                .into_iter()
                .flatten()
                .filter_map(|(_, x)| x.as_str())
            {
                assert_eq!(words(s).collect::<Vec<_>>(), by_crate(s), "{s}");
            }
        }
    }

    proptest::proptest! {
        #[test]
        fn ascii_fast_path_matches_the_crate(
            t in "[aZ09_:.,;'\" \\-/=\n\r\t@#]{0,40}"
        ) {
            proptest::prop_assert_eq!(words(&t).collect::<Vec<_>>(), by_crate(&t));
        }

        #[test]
        fn any_ascii_text_splits_as_the_crate_splits(t in "[\\x00-\\x7f]{0,60}") {
            proptest::prop_assert_eq!(words(&t).collect::<Vec<_>>(), by_crate(&t));
        }
    }
}
