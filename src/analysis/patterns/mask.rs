//! Masking: a message becomes a sequence of tokens in which the parts that
//! vary between messages of one kind (numbers, addresses, ids, paths,
//! times, `key=value` values) are replaced by typed placeholders such as
//! `<NUM>` or `<IP>`.
//!
//! Written by hand over bytes rather than as a list of regexes: masking
//! runs on every stored event and must leave the miner well above a million
//! lines a second on one core. User regexes from the config run first, on
//! the whole message, only when some are configured.

use regex::Regex;

/// A placeholder for a variable part. `Any` is the generic `<*>`: a token
/// with digits that fits no other kind, or a position the miner generalised.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Placeholder {
    Any,
    Num,
    Hex,
    Ip,
    Uuid,
    Path,
    Url,
    Date,
    Time,
    Duration,
    Size,
}

impl Placeholder {
    /// Every placeholder, in the order of their interned ids.
    pub const ALL: [Placeholder; 11] = [
        Placeholder::Any,
        Placeholder::Num,
        Placeholder::Hex,
        Placeholder::Ip,
        Placeholder::Uuid,
        Placeholder::Path,
        Placeholder::Url,
        Placeholder::Date,
        Placeholder::Time,
        Placeholder::Duration,
        Placeholder::Size,
    ];

    /// How the placeholder reads in a template.
    pub fn as_str(self) -> &'static str {
        match self {
            Placeholder::Any => "<*>",
            Placeholder::Num => "<NUM>",
            Placeholder::Hex => "<HEX>",
            Placeholder::Ip => "<IP>",
            Placeholder::Uuid => "<UUID>",
            Placeholder::Path => "<PATH>",
            Placeholder::Url => "<URL>",
            Placeholder::Date => "<DATE>",
            Placeholder::Time => "<TIME>",
            Placeholder::Duration => "<DURATION>",
            Placeholder::Size => "<SIZE>",
        }
    }

    /// The placeholder a whole token spells, if it is one.
    pub fn from_token(t: &str) -> Option<Placeholder> {
        Placeholder::ALL.into_iter().find(|p| p.as_str() == t)
    }
}

/// A user mask from the config: matches of `regex` become `<NAME>`.
#[derive(Debug, Clone)]
pub struct CustomMask {
    pub regex: Regex,
    /// Replacement text, `<NAME>` (upper case, in angle brackets).
    pub replacement: String,
}

/// The masker: built-in rules plus the configured regexes.
#[derive(Debug, Clone, Default)]
pub struct Masker {
    custom: Vec<CustomMask>,
}

/// A masked message: tokens joined by single spaces in `text`, with the
/// byte range of each token. Reused between messages to avoid allocating.
#[derive(Debug, Default, Clone)]
pub struct Masked {
    pub text: String,
    pub spans: Vec<(u32, u32)>,
    /// Scratch: the words of the input line.
    words: Vec<(u32, u32)>,
}

impl Masked {
    /// The tokens, in order.
    pub fn tokens(&self) -> impl Iterator<Item = &str> + '_ {
        self.spans
            .iter()
            .map(|&(a, b)| &self.text[a as usize..b as usize])
    }

    /// Number of tokens.
    pub fn len(&self) -> usize {
        self.spans.len()
    }

    /// No tokens at all (an empty or blank message).
    pub fn is_empty(&self) -> bool {
        self.spans.is_empty()
    }

    fn clear(&mut self) {
        self.text.clear();
        self.spans.clear();
    }

    fn push(&mut self, tok: &str) {
        if !self.text.is_empty() {
            self.text.push(' ');
        }
        let a = self.text.len() as u32;
        self.text.push_str(tok);
        self.spans.push((a, self.text.len() as u32));
    }

    /// Adds one token made of `lead`, a placeholder and `tail`.
    fn push_parts(&mut self, lead: &str, p: Placeholder, tail: &str) {
        if !self.text.is_empty() {
            self.text.push(' ');
        }
        let a = self.text.len() as u32;
        self.text.push_str(lead);
        self.text.push_str(p.as_str());
        self.text.push_str(tail);
        self.spans.push((a, self.text.len() as u32));
    }

    fn last_placeholder(&self) -> Option<Placeholder> {
        let &(a, b) = self.spans.last()?;
        Placeholder::from_token(&self.text[a as usize..b as usize])
    }

    /// Replaces the last token (a placeholder) by `p`.
    fn replace_last(&mut self, p: Placeholder) {
        if let Some(&(a, _)) = self.spans.last() {
            self.text.truncate(a as usize);
            self.text.push_str(p.as_str());
            let end = self.text.len() as u32;
            if let Some(last) = self.spans.last_mut() {
                last.1 = end;
            }
        }
    }

    /// Adds a placeholder token; a run of placeholders becomes one (the
    /// same kind if all agree, else `<*>`), so a variable that spans a
    /// varying number of words (a list of numbers, a date with a time)
    /// does not split one kind of message into many.
    fn push_placeholder(&mut self, p: Placeholder) {
        match self.last_placeholder() {
            Some(q) if q == p => {}
            Some(_) => self.replace_last(Placeholder::Any),
            None => self.push(p.as_str()),
        }
    }
}

/// Most tokens a message contributes; the rest becomes one trailing `<*>`.
/// Bounds the miner's work on huge messages.
pub const MAX_TOKENS: usize = 64;

impl Masker {
    /// A masker with the built-in rules and these extra regexes.
    pub fn new(custom: Vec<CustomMask>) -> Masker {
        Masker { custom }
    }

    /// Masks the first line of `message` into `out`.
    pub fn mask(&self, message: &str, out: &mut Masked) {
        out.clear();
        let first = message.split('\n').next().unwrap_or("");
        let first = first.strip_suffix('\r').unwrap_or(first);
        if self.custom.is_empty() {
            mask_words(first, out);
        } else {
            let mut s = std::borrow::Cow::Borrowed(first);
            for m in &self.custom {
                if m.regex.is_match(&s) {
                    s = std::borrow::Cow::Owned(
                        m.regex
                            .replace_all(&s, regex::NoExpand(&m.replacement))
                            .into_owned(),
                    );
                }
            }
            mask_words(&s, out);
        }
    }
}

/// Splits on whitespace and masks token by token, with a look at the next
/// tokens for variables written as several words (dates, `5 ms`).
fn mask_words(line: &str, out: &mut Masked) {
    let mut words = std::mem::take(&mut out.words);
    words.clear();
    let base = line.as_ptr() as usize;
    words.extend(line.split_ascii_whitespace().map(|w| {
        let a = w.as_ptr() as usize - base;
        (a as u32, (a + w.len()) as u32)
    }));
    let word = |i: usize| -> &str {
        let (a, b) = words[i];
        &line[a as usize..b as usize]
    };
    let mut i = 0;
    while i < words.len() {
        if out.len() >= MAX_TOKENS - 1 {
            out.push_placeholder(Placeholder::Any);
            break;
        }
        if let Some(n) = date_words(|k| (i + k < words.len()).then(|| word(i + k))) {
            out.push_placeholder(Placeholder::Date);
            i += n;
            continue;
        }
        let tok = word(i);
        if i + 1 < words.len() && is_plain_number(tok) {
            let unit = word(i + 1);
            if let Some(p) = unit_kind(unit) {
                let tail = &unit[unit.trim_end_matches(UNIT_TAIL).len()..];
                if tail.is_empty() {
                    out.push_placeholder(p);
                } else {
                    out.push_parts("", p, tail);
                }
                i += 2;
                continue;
            }
        }
        mask_token(tok, out);
        i += 1;
    }
    out.words = words;
}

/// Punctuation around a variable that stays in the template: `(<NUM>)`.
fn is_punct(b: u8) -> bool {
    matches!(
        b,
        b'(' | b')'
            | b'['
            | b']'
            | b'{'
            | b'}'
            | b'<'
            | b'>'
            | b'"'
            | b'\''
            | b','
            | b';'
            | b':'
            | b'.'
            | b'!'
            | b'?'
    )
}

/// Masks one whitespace-free token into `out`.
fn mask_token(tok: &str, out: &mut Masked) {
    let b = tok.as_bytes();
    // one pass over the bytes decides the common case: a plain word
    let (mut digit, mut eq, mut slash) = (false, false, false);
    for &c in b {
        match c {
            b'0'..=b'9' => digit = true,
            b'=' => eq = true,
            b'/' => slash = true,
            _ => {}
        }
    }
    if b[0] == b'<' {
        if let Some(p) = Placeholder::from_token(tok) {
            out.push_placeholder(p);
            return;
        }
    }
    if !(digit || eq || slash) {
        // an empty pair of brackets is an empty variable: `()` reads as `(<*>)`
        if b.len() == 2 && matches!((b[0], b[1]), (b'(', b')') | (b'[', b']') | (b'{', b'}')) {
            out.push_parts(&tok[..1], Placeholder::Any, &tok[1..]);
        } else {
            out.push(tok);
        }
        return;
    }
    if eq {
        if let Some(eq) = key_value_split(b) {
            let value = &tok[eq + 1..];
            let core = trim_punct(value);
            if core.is_empty() {
                out.push(tok);
            } else {
                // always `<*>`: one key takes values of several kinds (a host
                // name or an address), and the key says what it is
                let start = eq + 1 + (core.as_ptr() as usize - value.as_ptr() as usize);
                out.push_parts(&tok[..start], Placeholder::Any, &tok[start + core.len()..]);
            }
            return;
        }
    }
    let core = trim_punct(tok);
    if core.is_empty() {
        out.push(tok);
        return;
    }
    match classify(core) {
        None => out.push(tok),
        Some(p) if core.len() == tok.len() => out.push_placeholder(p),
        Some(p) => {
            let start = core.as_ptr() as usize - tok.as_ptr() as usize;
            out.push_parts(&tok[..start], p, &tok[start + core.len()..]);
        }
    }
}

/// `key=value` with a word-like key (after opening brackets) and a
/// non-empty value: the position of `=`.
fn key_value_split(b: &[u8]) -> Option<usize> {
    let eq = b.iter().position(|&c| c == b'=')?;
    if eq + 1 >= b.len() {
        return None;
    }
    let key = &b[..eq];
    let key = &key[key
        .iter()
        .position(|&c| !matches!(c, b'(' | b'[' | b'{' | b'"' | b'\''))
        .unwrap_or(key.len())..];
    if key.is_empty()
        || !key
            .iter()
            .all(|&c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'.' | b'-'))
    {
        return None;
    }
    Some(eq)
}

fn trim_punct(s: &str) -> &str {
    let b = s.as_bytes();
    let start = b.iter().position(|&c| !is_punct(c)).unwrap_or(b.len());
    let end = b
        .iter()
        .rposition(|&c| !is_punct(c))
        .map_or(start, |e| e + 1);
    // punctuation is ASCII, so both ends are character boundaries
    &s[start..end]
}

fn is_plain_number(s: &str) -> bool {
    let b = s.as_bytes();
    let b = b.strip_prefix(b"-").unwrap_or(b);
    if b.is_empty() || !b[0].is_ascii_digit() {
        return false;
    }
    let mut dot = false;
    for &c in b {
        match c {
            b'0'..=b'9' => {}
            b'.' if !dot => dot = true,
            _ => return false,
        }
    }
    b.last().is_some_and(|c| c.is_ascii_digit())
}

/// Punctuation that may follow a unit word and stays in the template.
const UNIT_TAIL: [char; 4] = [',', ';', ')', '.'];

/// A unit written as its own word after a number: `5 ms`, `93.0 B`. Only
/// short unit symbols: `bytes` or `seconds` usually belong to the template.
fn unit_kind(w: &str) -> Option<Placeholder> {
    let w = w.trim_end_matches(UNIT_TAIL);
    match w {
        "ms" | "us" | "µs" | "ns" | "s" => Some(Placeholder::Duration),
        "B" | "KB" | "MB" | "GB" | "TB" | "PB" | "KiB" | "MiB" | "GiB" | "TiB" | "kB" => {
            Some(Placeholder::Size)
        }
        _ => None,
    }
}

const WEEKDAYS: [&str; 7] = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];
const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// A date written over several words, at the start of `w`: `[Weekday]
/// Month Day HH:MM:SS [Year]` or `YYYY-MM-DD HH:MM:SS[.frac]`. The number
/// of words it takes.
fn date_words<'a>(w: impl Fn(usize) -> Option<&'a str>) -> Option<usize> {
    let strip = |s: &'a str| s.trim_matches(|c: char| matches!(c, '[' | ']' | '(' | ')' | ','));
    let mut i = 0;
    let first = strip(w(0)?);
    // quick reject: dates start with a digit or a capitalised month/day name
    match first.as_bytes() {
        [b'0'..=b'9', ..] => {}
        [b'A'..=b'Z', _, _] => {}
        _ => return None,
    }
    if is_iso_date(first) {
        return w(1).is_some_and(|t| is_clock(strip(t))).then_some(2);
    }
    if WEEKDAYS.contains(&first) {
        i = 1;
    }
    let month = strip(w(i)?);
    if !MONTHS.contains(&month) {
        return None;
    }
    let day = strip(w(i + 1)?);
    if day.is_empty() || day.len() > 2 || !day.bytes().all(|c| c.is_ascii_digit()) {
        return None;
    }
    if !is_clock(strip(w(i + 2)?)) {
        return None;
    }
    let mut n = i + 3;
    if let Some(y) = w(n) {
        let y = strip(y);
        if y.len() == 4 && y.bytes().all(|c| c.is_ascii_digit()) {
            n += 1;
        }
    }
    Some(n)
}

fn is_iso_date(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 10
        && b[4] == b[7]
        && matches!(b[4], b'-' | b'/')
        && b.iter()
            .enumerate()
            .all(|(i, c)| i == 4 || i == 7 || c.is_ascii_digit())
}

/// `H:MM`, `HH:MM:SS`, with an optional fraction (`,123` or `.123`).
fn is_clock(s: &str) -> bool {
    let b = s.as_bytes();
    let main_end = b
        .iter()
        .position(|&c| c == b'.' || c == b',')
        .unwrap_or(b.len());
    let (main, frac) = b.split_at(main_end);
    if !frac.is_empty() && (frac.len() < 2 || !frac[1..].iter().all(|c| c.is_ascii_digit())) {
        return false;
    }
    let parts: Vec<&[u8]> = main.split(|&c| c == b':').collect();
    (2..=3).contains(&parts.len())
        && parts[0].len() <= 2
        && !parts[0].is_empty()
        && parts[1..].iter().all(|p| p.len() == 2)
        && parts.iter().all(|p| p.iter().all(|c| c.is_ascii_digit()))
}

/// What kind of variable a token (without surrounding punctuation) is, or
/// `None` for a word that belongs to the template.
pub fn classify(core: &str) -> Option<Placeholder> {
    let b = core.as_bytes();
    if b.is_empty() {
        return None;
    }
    let has_digit = b.iter().any(|c| c.is_ascii_digit());
    if let Some(p) = url_or_path(core) {
        return Some(p);
    }
    if !has_digit {
        return None;
    }
    if is_plain_number(core) || (b[0] == b'+' && is_plain_number(&core[1..])) {
        return Some(Placeholder::Num);
    }
    if is_ipv4(b.strip_prefix(b"/").unwrap_or(b)) || is_ipv6(b) {
        return Some(Placeholder::Ip);
    }
    if b.len() > 2
        && (b.starts_with(b"0x") || b.starts_with(b"0X"))
        && b[2..].iter().all(|c| c.is_ascii_hexdigit())
    {
        return Some(Placeholder::Hex);
    }
    if is_uuid(b) {
        return Some(Placeholder::Uuid);
    }
    if is_clock(core) {
        return Some(Placeholder::Time);
    }
    if is_iso_date(core) || is_iso_datetime(b) {
        return Some(Placeholder::Date);
    }
    if let Some(p) = number_with_unit(b) {
        return Some(p);
    }
    if b.len() >= 8 && b.iter().all(|c| c.is_ascii_hexdigit()) {
        return Some(Placeholder::Hex);
    }
    Some(Placeholder::Any)
}

fn url_or_path(core: &str) -> Option<Placeholder> {
    let b = core.as_bytes();
    if let Some(i) = core.find("://") {
        let scheme = &b[..i];
        if !scheme.is_empty()
            && scheme[0].is_ascii_alphabetic()
            && scheme
                .iter()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'+' | b'.' | b'-'))
        {
            return Some(Placeholder::Url);
        }
    }
    // an absolute path of two or more segments: /var/log/app.log
    if b.len() > 2 && b[0] == b'/' && b[1] != b'/' {
        let segments = core[1..].split('/').filter(|s| !s.is_empty()).count();
        let inner_slash = core[1..].trim_end_matches('/').contains('/');
        if segments >= 2 && inner_slash {
            return Some(Placeholder::Path);
        }
    }
    None
}

fn is_ipv4(b: &[u8]) -> bool {
    let (addr, port) = match b.iter().rposition(|&c| c == b':') {
        Some(i) => (&b[..i], Some(&b[i + 1..])),
        None => (b, None),
    };
    if let Some(p) = port {
        if p.is_empty() || !p.iter().all(|c| c.is_ascii_digit()) {
            return false;
        }
    }
    let mut parts = 0;
    for part in addr.split(|&c| c == b'.') {
        parts += 1;
        if part.is_empty() || part.len() > 3 || !part.iter().all(|c| c.is_ascii_digit()) {
            return false;
        }
    }
    parts == 4
}

fn is_ipv6(b: &[u8]) -> bool {
    let colons = b.iter().filter(|&&c| c == b':').count();
    colons >= 2
        && b.len() >= 6
        && b.iter()
            .all(|c| c.is_ascii_hexdigit() || matches!(c, b':' | b'.'))
        && !b.windows(3).any(|w| w == b":::")
}

fn is_uuid(b: &[u8]) -> bool {
    b.len() == 36
        && b.iter().enumerate().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => *c == b'-',
            _ => c.is_ascii_hexdigit(),
        })
}

fn is_iso_datetime(b: &[u8]) -> bool {
    b.len() >= 19
        && is_iso_date(std::str::from_utf8(&b[..10]).unwrap_or(""))
        && matches!(b[10], b'T' | b'_')
        && b[11..19].iter().enumerate().all(|(i, c)| match i {
            2 | 5 => *c == b':',
            _ => c.is_ascii_digit(),
        })
}

/// `10ms`, `1.5s`, `512KB`, `3GiB`.
fn number_with_unit(b: &[u8]) -> Option<Placeholder> {
    let n = b
        .iter()
        .position(|c| !(c.is_ascii_digit() || *c == b'.'))
        .unwrap_or(b.len());
    if n == 0 || n == b.len() || !b[0].is_ascii_digit() {
        return None;
    }
    let unit = std::str::from_utf8(&b[n..]).ok()?;
    match unit {
        "ms" | "us" | "µs" | "ns" | "s" | "m" | "h" | "min" | "sec" | "secs" => {
            Some(Placeholder::Duration)
        }
        "B" | "b" | "KB" | "kb" | "kB" | "MB" | "mb" | "GB" | "gb" | "TB" | "KiB" | "MiB"
        | "GiB" | "TiB" | "K" | "M" | "G" => Some(Placeholder::Size),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn masked(s: &str) -> String {
        let mut m = Masked::default();
        Masker::default().mask(s, &mut m);
        m.text
    }

    #[test]
    fn kinds_of_variables() {
        let cases = [
            (
                "Connection from 10.0.0.1 closed after 25 ms",
                "Connection from <IP> closed after <DURATION>",
            ),
            (
                "Served block blk_-1608999687919862906 to /10.250.19.102",
                "Served block <*> to <IP>",
            ),
            (
                "took 12ms for request 3f2c9a1b7e4d",
                "took <DURATION> for request <HEX>",
            ),
            (
                "id=9b2f4c1e-1d2a-4f3b-9c8d-0123456789ab user=alice",
                "id=<*> user=<*>",
            ),
            (
                "Opened file /var/log/syslog, size 1024",
                "Opened file <PATH>, size <NUM>",
            ),
            (
                "GET https://example.com/a?b=1 status 200",
                "GET <URL> status <NUM>",
            ),
            ("pair 10.0.0.1 25", "pair <*>"),
            ("at Sun Jul  3 10:05:25 2005 done", "at <DATE> done"),
            ("at 2026-11-24 12:00:00,123 done", "at <DATE> done"),
            (
                "connection from 1.2.3.4 () at x",
                "connection from <IP> (<*>) at x",
            ),
            ("channels 1 2 3 4 5 6", "channels <NUM>"),
            ("size 93.0 B, free 317.1 KB)", "size <SIZE>, free <SIZE>)"),
            ("addr 2607:f140:6000:8:c6b3:1ff:fecd:467f", "addr <IP>"),
            (
                "value 0x1f3A and -12 and +3",
                "value <HEX> and <NUM> and <NUM>",
            ),
            ("plain words only", "plain words only"),
            ("", ""),
        ];
        for (input, want) in cases {
            assert_eq!(masked(input), want, "input {input:?}");
        }
    }

    #[test]
    fn only_the_first_line_counts() {
        assert_eq!(masked("boom 42\n  at x.y(Z.java:10)"), "boom <NUM>");
    }

    #[test]
    fn long_messages_are_capped() {
        let line = (0..500)
            .map(|i| format!("w{}x", i % 7))
            .collect::<Vec<_>>()
            .join(" ");
        let mut m = Masked::default();
        Masker::default().mask(&line, &mut m);
        assert!(m.len() <= MAX_TOKENS);
    }

    #[test]
    fn custom_masks_run_first() {
        let masker = Masker::new(vec![CustomMask {
            regex: Regex::new(r"user \w+").unwrap(),
            replacement: "user <USER>".into(),
        }]);
        let mut m = Masked::default();
        masker.mask("login by user bob ok", &mut m);
        assert_eq!(m.text, "login by user <USER> ok");
    }
}
