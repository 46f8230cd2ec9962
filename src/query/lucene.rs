//! The Lucene query-string syntax of Kibana's search bar and `q=`:
//! `level:ERROR AND service:app1`, `"a phrase"~2`, `status:[500 TO 599]`,
//! `latency_ms:>=100`, `mess*ge:tim?out`, `/regex/`, `NOT`, `+`/`-`,
//! `_exists_:field`, grouping with parentheses and `field:(a OR b)`.
//!
//! Precedence: NOT binds tighter than AND, AND tighter than OR; adjacent
//! clauses without an operator combine with the default operator.

use serde_json::Value;

use super::model::{BoolQuery, Operator, Query, Range, RangeBound};

/// A syntax error with the position where it was found: the index of a
/// character of `query` (counted in characters, from 0), or its length when
/// the query ended too early. Displayed with the query's line and a caret
/// under that character, so the user sees their own text.
#[derive(Debug, thiserror::Error, PartialEq)]
pub struct LuceneError {
    pub query: String,
    pub reason: String,
    pub pos: usize,
}

/// Widest excerpt of a line shown above the caret.
const EXCERPT_CHARS: usize = 80;

impl std::fmt::Display for LuceneError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "failed to parse query [{}]: {} at position {}",
            self.query, self.reason, self.pos
        )?;
        // The line holding the position, and the column in it.
        let chars: Vec<char> = self.query.chars().collect();
        let pos = self.pos.min(chars.len());
        let start = chars[..pos]
            .iter()
            .rposition(|c| *c == '\n')
            .map_or(0, |i| i + 1);
        let end = chars[pos..]
            .iter()
            .position(|c| *c == '\n')
            .map_or(chars.len(), |i| pos + i);
        // Long lines: a window around the position, marked with `...`.
        let from = pos.saturating_sub(EXCERPT_CHARS / 2).max(start);
        let to = (from + EXCERPT_CHARS).min(end);
        let mut line = String::new();
        if from > start {
            line.push_str("...");
        }
        let caret_col = line.chars().count() + (pos - from);
        // Tabs and other controls would shift the caret: show them as spaces.
        line.extend(
            chars[from..to]
                .iter()
                .map(|c| if c.is_control() { ' ' } else { *c }),
        );
        if to < end {
            line.push_str("...");
        }
        write!(f, "\n{line}\n{}^", " ".repeat(caret_col))
    }
}

/// Options that shape how bare terms are interpreted.
#[derive(Debug, Clone)]
pub struct Options {
    /// Fields for terms without a field; empty means all fields.
    pub default_fields: Vec<String>,
    pub default_operator: Operator,
    /// `simple_query_string` flavour: `+ | -` operators, no field syntax.
    pub simple: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            default_fields: Vec::new(),
            default_operator: Operator::Or,
            simple: false,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Word(String),
    Phrase(String),
    Regex(String),
    LParen,
    RParen,
    LBracket(bool),
    RBracket(bool),
    Colon,
    Tilde(Option<f32>),
    Caret(f32),
    Plus,
    Minus,
    Bang,
    And,
    Or,
    Not,
    To,
    Cmp(&'static str),
}

const MAX_DEPTH: usize = 64;

struct Lexer<'a> {
    chars: Vec<char>,
    i: usize,
    src: &'a str,
    simple: bool,
    /// Between `[`/`{` and `]`/`}`: bounds run to the next space or closing
    /// bracket and `TO` is the keyword (elsewhere it is a plain term).
    in_range: bool,
}

fn is_special(c: char) -> bool {
    matches!(c, '(' | ')' | ':' | '^' | '"' | '[' | ']' | '{' | '}' | '~')
}

impl Lexer<'_> {
    fn err_at(&self, pos: usize, reason: impl Into<String>) -> LuceneError {
        LuceneError {
            query: self.src.to_string(),
            reason: reason.into(),
            pos,
        }
    }

    /// `+`/`-` are operators at the start of a clause (after whitespace,
    /// `(` or the start) and followed by something; elsewhere they are text.
    fn prefix_position(&self) -> bool {
        let before_ok =
            self.i == 0 || matches!(self.chars[self.i - 1], c if c.is_whitespace() || c == '(');
        let after_ok = self
            .chars
            .get(self.i + 1)
            .is_some_and(|c| !c.is_whitespace());
        before_ok && after_ok
    }

    fn number_after(&mut self) -> Option<f32> {
        let start = self.i;
        while self.i < self.chars.len()
            && (self.chars[self.i].is_ascii_digit() || self.chars[self.i] == '.')
        {
            self.i += 1;
        }
        self.chars[start..self.i]
            .iter()
            .collect::<String>()
            .parse()
            .ok()
    }

    fn tokens(&mut self) -> Result<Vec<(usize, Tok)>, LuceneError> {
        let mut out = Vec::new();
        while self.i < self.chars.len() {
            let c = self.chars[self.i];
            let start = self.i;
            if c.is_whitespace() {
                self.i += 1;
                continue;
            }
            let tok = match c {
                '(' => {
                    self.i += 1;
                    Tok::LParen
                }
                ')' => {
                    self.i += 1;
                    Tok::RParen
                }
                '[' | '{' if !self.simple => {
                    self.i += 1;
                    self.in_range = true;
                    Tok::LBracket(c == '[')
                }
                ']' | '}' if !self.simple => {
                    self.i += 1;
                    self.in_range = false;
                    Tok::RBracket(c == ']')
                }
                ':' if !self.simple => {
                    self.i += 1;
                    Tok::Colon
                }
                '~' => {
                    self.i += 1;
                    Tok::Tilde(self.number_after())
                }
                '^' if !self.simple => {
                    self.i += 1;
                    Tok::Caret(
                        self.number_after()
                            .ok_or_else(|| self.err_at(start, "expected a number after '^'"))?,
                    )
                }
                '+' if self.prefix_position() => {
                    self.i += 1;
                    Tok::Plus
                }
                '-' if self.prefix_position() => {
                    self.i += 1;
                    Tok::Minus
                }
                '!' if !self.simple && self.chars.get(self.i + 1) != Some(&'=') => {
                    self.i += 1;
                    Tok::Bang
                }
                '|' if self.simple => {
                    self.i += 1;
                    if self.chars.get(self.i) == Some(&'|') {
                        self.i += 1;
                    }
                    Tok::Or
                }
                '&' if !self.simple && self.chars.get(self.i + 1) == Some(&'&') => {
                    self.i += 2;
                    Tok::And
                }
                '|' if self.chars.get(self.i + 1) == Some(&'|') => {
                    self.i += 2;
                    Tok::Or
                }
                '"' => {
                    self.i += 1;
                    let mut s = String::new();
                    loop {
                        match self.chars.get(self.i) {
                            None => return Err(self.err_at(start, "unterminated phrase")),
                            Some('"') => {
                                self.i += 1;
                                break;
                            }
                            Some('\\') => {
                                if let Some(n) = self.chars.get(self.i + 1) {
                                    s.push(*n);
                                }
                                self.i += 2;
                            }
                            Some(ch) => {
                                s.push(*ch);
                                self.i += 1;
                            }
                        }
                    }
                    Tok::Phrase(s)
                }
                '/' if !self.simple => {
                    self.i += 1;
                    let mut s = String::new();
                    loop {
                        match self.chars.get(self.i) {
                            None => {
                                return Err(self.err_at(start, "unterminated regular expression"))
                            }
                            Some('/') => {
                                self.i += 1;
                                break;
                            }
                            Some('\\') if self.chars.get(self.i + 1) == Some(&'/') => {
                                s.push('/');
                                self.i += 2;
                            }
                            Some(ch) => {
                                s.push(*ch);
                                self.i += 1;
                            }
                        }
                    }
                    Tok::Regex(s)
                }
                '>' | '<' if !self.simple && matches!(out.last(), Some((_, Tok::Colon))) => {
                    self.i += 1;
                    let eq = self.chars.get(self.i) == Some(&'=');
                    if eq {
                        self.i += 1;
                    }
                    Tok::Cmp(match (c, eq) {
                        ('>', true) => ">=",
                        ('>', false) => ">",
                        ('<', true) => "<=",
                        _ => "<",
                    })
                }
                _ => {
                    // A value after `field:` keeps further colons
                    // (`url:http://x`, `at:12:00`).
                    let value = matches!(out.last(), Some((_, Tok::Colon | Tok::Cmp(_))));
                    let mut s = String::new();
                    while self.i < self.chars.len() {
                        let ch = self.chars[self.i];
                        if ch == '\\' {
                            if let Some(n) = self.chars.get(self.i + 1) {
                                s.push(*n);
                            }
                            self.i += 2;
                            continue;
                        }
                        let ends = if self.in_range {
                            matches!(ch, ']' | '}')
                        } else {
                            is_special(ch) && !((self.simple || value) && ch == ':')
                        };
                        if ch.is_whitespace() || ends {
                            break;
                        }
                        if self.simple && (ch == '|' || ch == '+') {
                            break;
                        }
                        s.push(ch);
                        self.i += 1;
                    }
                    if s.is_empty() {
                        return Err(self.err_at(start, format!("unexpected character '{c}'")));
                    }
                    match s.as_str() {
                        "TO" if self.in_range => Tok::To,
                        _ if self.in_range => Tok::Word(s),
                        "AND" if !self.simple => Tok::And,
                        "OR" if !self.simple => Tok::Or,
                        "NOT" if !self.simple => Tok::Not,
                        _ => Tok::Word(s),
                    }
                }
            };
            out.push((start, tok));
        }
        Ok(out)
    }
}

#[derive(Clone, Copy, PartialEq)]
enum Occur {
    Must,
    Should,
    MustNot,
}

struct Parser<'a> {
    toks: Vec<(usize, Tok)>,
    i: usize,
    src: &'a str,
    opts: &'a Options,
    depth: usize,
}

/// Parse a query string into the query model.
pub fn parse(src: &str, opts: &Options) -> Result<Query, LuceneError> {
    let toks = Lexer {
        chars: src.chars().collect(),
        i: 0,
        src,
        simple: opts.simple,
        in_range: false,
    }
    .tokens()?;
    if toks.is_empty() {
        return Ok(if opts.simple {
            Query::MatchAll
        } else {
            Query::MatchNone
        });
    }
    let mut p = Parser {
        toks,
        i: 0,
        src,
        opts,
        depth: 0,
    };
    let q = p.parse_or(None)?;
    if let Some(t) = p.peek() {
        return Err(p.err(format!("unexpected {}", describe(t))));
    }
    Ok(q)
}

impl Parser<'_> {
    fn err_at_token(&self, i: usize, reason: impl Into<String>) -> LuceneError {
        LuceneError {
            query: self.src.to_string(),
            reason: reason.into(),
            pos: self.toks.get(i).map_or(self.src.chars().count(), |t| t.0),
        }
    }
    /// An error at the next token (or the end of the query).
    fn err(&self, reason: impl Into<String>) -> LuceneError {
        self.err_at_token(self.i, reason)
    }
    /// An error at the token [`Parser::next`] just returned (or the end).
    fn err_prev(&self, reason: impl Into<String>) -> LuceneError {
        self.err_at_token(self.i.wrapping_sub(1), reason)
    }
    /// Consume the `)` closing a group, or say what is there instead.
    fn close_paren(&mut self) -> Result<(), LuceneError> {
        match self.peek() {
            Some(Tok::RParen) => {
                self.next();
                Ok(())
            }
            Some(t) => Err(self.err(format!("expected ')' but found {}", describe(t)))),
            None => Err(self.err("missing ')' at the end of the query")),
        }
    }
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.i).map(|t| &t.1)
    }
    fn next(&mut self) -> Option<Tok> {
        let t = self.toks.get(self.i).map(|t| t.1.clone());
        self.i += 1;
        t
    }
    fn starts_clause(&self) -> bool {
        matches!(
            self.peek(),
            Some(
                Tok::Word(_)
                    | Tok::Phrase(_)
                    | Tok::Regex(_)
                    | Tok::LParen
                    | Tok::Plus
                    | Tok::Minus
                    | Tok::Bang
                    | Tok::Not
                    | Tok::LBracket(_)
            )
        )
    }

    fn parse_or(&mut self, field: Option<&str>) -> Result<Query, LuceneError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(self.err("query nested too deeply"));
        }
        let mut groups = vec![self.parse_and(field)?];
        loop {
            if self.peek() == Some(&Tok::Or) {
                self.next();
                groups.push(self.parse_and(field)?);
            } else if self.starts_clause() && self.opts.default_operator == Operator::Or {
                groups.push(self.parse_and(field)?);
            } else {
                break;
            }
        }
        self.depth -= 1;
        Ok(combine_or(groups))
    }

    fn parse_and(&mut self, field: Option<&str>) -> Result<Vec<(Occur, Query)>, LuceneError> {
        let mut items = vec![self.parse_unary(field)?];
        loop {
            if self.peek() == Some(&Tok::And) {
                self.next();
                let mut it = self.parse_unary(field)?;
                if it.0 == Occur::Should {
                    it.0 = Occur::Must;
                }
                if items[0].0 == Occur::Should {
                    items[0].0 = Occur::Must;
                }
                items.push(it);
            } else if self.starts_clause() && self.opts.default_operator == Operator::And {
                let mut it = self.parse_unary(field)?;
                if it.0 == Occur::Should {
                    it.0 = Occur::Must;
                }
                if items[0].0 == Occur::Should {
                    items[0].0 = Occur::Must;
                }
                items.push(it);
            } else {
                break;
            }
        }
        Ok(items)
    }

    fn parse_unary(&mut self, field: Option<&str>) -> Result<(Occur, Query), LuceneError> {
        // The first prefix operator decides; repeated ones (`NOT NOT x`) are
        // consumed in a loop, so a long run of them cannot exhaust the stack.
        let mut occur = None;
        loop {
            match self.peek() {
                Some(Tok::Not) | Some(Tok::Bang) | Some(Tok::Minus) => {
                    occur.get_or_insert(Occur::MustNot);
                }
                Some(Tok::Plus) => {
                    occur.get_or_insert(Occur::Must);
                }
                _ => break,
            }
            self.next();
        }
        Ok((occur.unwrap_or(Occur::Should), self.parse_primary(field)?))
    }

    fn boost(&mut self, q: Query) -> Query {
        if let Some(Tok::Caret(b)) = self.peek() {
            let b = *b;
            self.next();
            return Query::Boost {
                inner: Box::new(q),
                boost: b,
            };
        }
        q
    }

    fn parse_primary(&mut self, field: Option<&str>) -> Result<Query, LuceneError> {
        match self.next() {
            Some(Tok::LParen) => {
                let q = self.parse_or(field)?;
                self.close_paren()?;
                Ok(self.boost(q))
            }
            Some(Tok::Word(w)) => {
                if field.is_none() && !self.opts.simple && self.peek() == Some(&Tok::Colon) {
                    self.next();
                    return self.parse_field_value(&w);
                }
                let q = self.term_query(field, w)?;
                Ok(self.boost(q))
            }
            Some(Tok::Phrase(p)) => {
                let slop = match self.peek() {
                    Some(Tok::Tilde(s)) => {
                        let s = s.unwrap_or(2.0) as u32;
                        self.next();
                        s
                    }
                    _ => 0,
                };
                let q = Query::MatchPhrase {
                    fields: self.fields(field),
                    text: p,
                    slop,
                    lenient: field.is_none(),
                    prefix: false,
                };
                Ok(self.boost(q))
            }
            Some(Tok::Regex(r)) => Ok(Query::Regexp {
                field: field.map_or_else(|| self.first_default(), str::to_string),
                pattern: r,
                case_insensitive: false,
            }),
            Some(Tok::LBracket(incl)) if field.is_some() => {
                self.parse_range(field.unwrap_or_default(), incl)
            }
            Some(t) => Err(self.err_prev(format!("unexpected {}", describe(&t)))),
            None => Err(self.err_prev("unexpected end of query")),
        }
    }

    fn first_default(&self) -> String {
        self.opts
            .default_fields
            .first()
            .cloned()
            .unwrap_or_else(|| "*".into())
    }

    fn fields(&self, field: Option<&str>) -> Vec<String> {
        match field {
            Some(f) => vec![f.to_string()],
            None => self.opts.default_fields.clone(),
        }
    }

    fn parse_field_value(&mut self, field: &str) -> Result<Query, LuceneError> {
        if field == "_exists_" {
            return match self.next() {
                Some(Tok::Word(f)) => Ok(Query::Exists { field: f }),
                _ => Err(self.err_prev("expected a field name after _exists_:")),
            };
        }
        match self.peek() {
            Some(Tok::LParen) => {
                self.next();
                let q = self.parse_or(Some(field))?;
                self.close_paren()?;
                Ok(self.boost(q))
            }
            Some(Tok::LBracket(incl)) => {
                let incl = *incl;
                self.next();
                self.parse_range(field, incl)
            }
            Some(Tok::Cmp(op)) => {
                let op = *op;
                self.next();
                let v = match self.next() {
                    Some(Tok::Word(w)) => w,
                    Some(Tok::Phrase(p)) => p,
                    _ => return Err(self.err_prev(format!("expected a value after '{op}'"))),
                };
                let b = Some(RangeBound {
                    value: Value::String(v),
                    inclusive: op.ends_with('='),
                });
                let range = if op.starts_with('>') {
                    Range {
                        lower: b,
                        ..Default::default()
                    }
                } else {
                    Range {
                        upper: b,
                        ..Default::default()
                    }
                };
                Ok(Query::Range {
                    field: field.to_string(),
                    range,
                })
            }
            Some(Tok::Word(w)) if w == "*" => {
                self.next();
                Ok(Query::Exists {
                    field: field.to_string(),
                })
            }
            _ => self.parse_primary(Some(field)),
        }
    }

    fn parse_range(&mut self, field: &str, lower_incl: bool) -> Result<Query, LuceneError> {
        let lo = match self.next() {
            Some(Tok::Word(w)) => w,
            Some(Tok::Phrase(p)) => p,
            _ => return Err(self.err_prev("expected a lower bound in range")),
        };
        match self.next() {
            Some(Tok::To) => {}
            Some(t) => {
                return Err(
                    self.err_prev(format!("expected 'TO' in range but found {}", describe(&t)))
                )
            }
            None => return Err(self.err_prev("expected 'TO' in range")),
        }
        let hi = match self.next() {
            Some(Tok::Word(w)) => w,
            Some(Tok::Phrase(p)) => p,
            _ => return Err(self.err_prev("expected an upper bound in range")),
        };
        let upper_incl = match self.next() {
            Some(Tok::RBracket(incl)) => incl,
            _ => return Err(self.err_prev("expected ']' or '}' to close range")),
        };
        let bound = |v: String, inclusive| {
            (v != "*").then(|| RangeBound {
                value: Value::String(v),
                inclusive,
            })
        };
        Ok(self.boost(Query::Range {
            field: field.to_string(),
            range: Range {
                lower: bound(lo, lower_incl),
                upper: bound(hi, upper_incl),
                ..Default::default()
            },
        }))
    }

    fn term_query(&mut self, field: Option<&str>, w: String) -> Result<Query, LuceneError> {
        if let Some(Tok::Tilde(d)) = self.peek() {
            let d = d.map_or(2, |d| d.clamp(0.0, 2.0) as u8);
            self.next();
            return Ok(Query::Fuzzy {
                field: field.map_or_else(|| self.first_default(), str::to_string),
                value: w,
                distance: d,
            });
        }
        if w == "*" && field.is_none() {
            return Ok(Query::MatchAll);
        }
        if w.contains('*') || w.contains('?') {
            if self.opts.simple && w.ends_with('*') && !w[..w.len() - 1].contains(['*', '?']) {
                return Ok(Query::Prefix {
                    field: field.map_or_else(|| self.first_default(), str::to_string),
                    value: w[..w.len() - 1].to_string(),
                    case_insensitive: true,
                });
            }
            return Ok(Query::Wildcard {
                field: field.map_or_else(|| self.first_default(), str::to_string),
                pattern: w,
                case_insensitive: true,
            });
        }
        Ok(Query::Match {
            fields: self.fields(field),
            text: w,
            operator: Operator::Or,
            minimum_should_match: None,
            lenient: field.is_none(),
            fuzziness: None,
        })
    }
}

/// A token as the user wrote it, for error messages.
fn describe(t: &Tok) -> String {
    match t {
        Tok::Word(w) => format!("'{w}'"),
        Tok::Phrase(p) => format!("phrase \"{p}\""),
        Tok::Regex(r) => format!("regular expression /{r}/"),
        Tok::LParen => "'('".into(),
        Tok::RParen => "')'".into(),
        Tok::LBracket(true) => "'['".into(),
        Tok::LBracket(false) => "'{'".into(),
        Tok::RBracket(true) => "']'".into(),
        Tok::RBracket(false) => "'}'".into(),
        Tok::Colon => "':'".into(),
        Tok::Tilde(_) => "'~'".into(),
        Tok::Caret(_) => "'^'".into(),
        Tok::Plus => "'+'".into(),
        Tok::Minus => "'-'".into(),
        Tok::Bang => "'!'".into(),
        Tok::And => "'AND'".into(),
        Tok::Or => "'OR'".into(),
        Tok::Not => "'NOT'".into(),
        Tok::To => "'TO'".into(),
        Tok::Cmp(op) => format!("'{op}'"),
    }
}

fn combine_or(groups: Vec<Vec<(Occur, Query)>>) -> Query {
    // Each group is an AND-chain; OR between groups.
    let mut alts: Vec<Query> = groups.into_iter().map(combine_and).collect();
    if alts.len() == 1 {
        return alts.pop().unwrap_or(Query::MatchNone);
    }
    // Keep prohibited and required clauses of a single-item alternative at
    // this level, as Lucene does for `a -b` (b excluded, not optional).
    let mut b = BoolQuery::default();
    for q in alts {
        match q {
            Query::Bool(inner) if is_marker(&inner) => {
                b.must.extend(inner.must);
                b.must_not.extend(inner.must_not);
            }
            q => b.should.push(q),
        }
    }
    if b.must.is_empty() && b.must_not.is_empty() && b.should.len() == 1 {
        return b.should.pop().unwrap_or(Query::MatchNone);
    }
    if b.must.is_empty() && b.should.is_empty() {
        b.must.push(Query::MatchAll);
    }
    Query::Bool(Box::new(b))
}

/// A bool made from one `+x` or `-x` clause, to be merged upward.
fn is_marker(b: &BoolQuery) -> bool {
    b.should.is_empty()
        && b.filter.is_empty()
        && b.must.len() + b.must_not.len() == 1
        && b.minimum_should_match.is_none()
}

fn combine_and(items: Vec<(Occur, Query)>) -> Query {
    if items.len() == 1 && items[0].0 == Occur::Should {
        return items
            .into_iter()
            .next()
            .map(|x| x.1)
            .unwrap_or(Query::MatchNone);
    }
    let mut b = BoolQuery::default();
    for (occ, q) in items {
        match occ {
            Occur::Must => b.must.push(q),
            Occur::MustNot => b.must_not.push(q),
            Occur::Should => b.should.push(q),
        }
    }
    Query::Bool(Box::new(b))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Query {
        parse(s, &Options::default()).unwrap()
    }

    fn m(field: &str, text: &str) -> Query {
        Query::Match {
            fields: vec![field.into()],
            text: text.into(),
            operator: Operator::Or,
            minimum_should_match: None,
            lenient: false,
            fuzziness: None,
        }
    }

    /// A term without a field (all default fields).
    fn bare(text: &str) -> Query {
        Query::Match {
            fields: Vec::new(),
            text: text.into(),
            operator: Operator::Or,
            minimum_should_match: None,
            lenient: true,
            fuzziness: None,
        }
    }

    #[test]
    fn and_or_not() {
        let q = p("level:ERROR AND service:app1");
        assert_eq!(
            q,
            Query::Bool(Box::new(BoolQuery {
                must: vec![m("level", "ERROR"), m("service", "app1")],
                ..Default::default()
            }))
        );
        match p("a:1 OR b:2 AND NOT c:3") {
            Query::Bool(b) => {
                assert_eq!(b.should.len(), 2);
                assert!(
                    matches!(&b.should[1], Query::Bool(x) if x.must_not.len() == 1 && x.must.len() == 1)
                );
            }
            other => panic!("{other:?}"),
        }
        match p("level:ERROR -service:app1") {
            Query::Bool(b) => {
                assert_eq!(b.should, vec![m("level", "ERROR")]);
                assert_eq!(b.must_not, vec![m("service", "app1")]);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn ranges_phrases_wildcards() {
        assert!(
            matches!(p("status:[500 TO 599]"), Query::Range { ref field, ref range } if field == "status" && range.lower.as_ref().unwrap().inclusive && range.upper.as_ref().unwrap().value == "599")
        );
        assert!(
            matches!(p("latency_ms:>=100"), Query::Range { ref range, .. } if range.lower.as_ref().unwrap().inclusive && range.upper.is_none())
        );
        assert!(
            matches!(p("status:{* TO 400}"), Query::Range { ref range, .. } if range.lower.is_none() && !range.upper.as_ref().unwrap().inclusive)
        );
        assert!(matches!(
            p("message:\"connection reset\"~1"),
            Query::MatchPhrase { slop: 1, .. }
        ));
        assert!(matches!(p("service:app*"), Query::Wildcard { .. }));
        assert!(matches!(p("_exists_:host"), Query::Exists { .. }));
        assert!(matches!(p("host:*"), Query::Exists { .. }));
        assert!(matches!(p("name:/joh?n/"), Query::Regexp { .. }));
        assert!(matches!(p("level:(ERROR OR WARN)"), Query::Bool(_)));
        assert!(matches!(p("time:12\\:00"), Query::Match { ref text, .. } if text == "12:00"));
    }

    #[test]
    fn long_operator_runs_do_not_recurse() {
        let q = format!("{}level:ERROR", "NOT ".repeat(200_000));
        match parse(&q, &Options::default()).unwrap() {
            Query::Bool(b) => assert_eq!(b.must_not, vec![m("level", "ERROR")]),
            other => panic!("{other:?}"),
        }
        let deep = format!("{}a{}", "(".repeat(10_000), ")".repeat(10_000));
        assert!(parse(&deep, &Options::default())
            .unwrap_err()
            .reason
            .contains("nested"));
    }

    #[test]
    fn errors_name_position() {
        let e = parse("level:(ERROR", &Options::default()).unwrap_err();
        assert!(e.reason.contains("missing ')'"), "{e}");
        assert!(parse("status:[1 TO", &Options::default()).is_err());
        assert!(parse("\"open", &Options::default()).is_err());
        assert!(parse("a AND", &Options::default()).is_err());
    }

    #[test]
    fn lucene_parse_errors_point_at_the_users_text() {
        // Outside brackets `TO` is a plain term, as in Lucene.
        match p("level:A TO Z") {
            Query::Bool(b) => assert_eq!(b.should, vec![m("level", "A"), bare("TO"), bare("Z")]),
            other => panic!("{other:?}"),
        }
        // A second colon belongs to the value.
        assert_eq!(p("foo:bar:baz"), m("foo", "bar:baz"));
        assert_eq!(p("url:http://x:8080/a"), m("url", "http://x:8080/a"));
        // Inside brackets a bound runs to the next space or bracket.
        match p("t:[2026-11-24T10:00:00 TO 2026-11-24T12:00:00}") {
            Query::Range { field, range } => {
                assert_eq!(field, "t");
                assert_eq!(range.lower.unwrap().value, "2026-11-24T10:00:00");
                let hi = range.upper.unwrap();
                assert_eq!(
                    (hi.value, hi.inclusive),
                    ("2026-11-24T12:00:00".into(), false)
                );
            }
            other => panic!("{other:?}"),
        }
        // Every error quotes the query and points at a character that is
        // there: (query, position, what the message must name).
        for (q, pos, what) in [
            ("a:b )", 4, "')'"),
            ("level:(ERROR", 12, "missing ')'"),
            ("level:(ERROR ]", 13, "']'"),
            ("status:[1 TO", 12, "upper bound"),
            ("status:[1 5]", 10, "'TO'"),
            ("msg:\"open", 4, "unterminated phrase"),
            ("a AND", 5, "end of query"),
            ("a AND )", 6, "')'"),
            ("x^ y", 1, "'^'"),
            ("name:/ab", 5, "unterminated regular expression"),
        ] {
            let e = parse(q, &Options::default()).unwrap_err();
            assert_eq!((e.query.as_str(), e.pos), (q, pos), "{e}");
            let text = e.to_string();
            assert!(text.contains(what), "{q}: {text}");
            assert!(text.contains(&format!("[{q}]")), "{text}");
            // The caret line points under the position.
            let lines: Vec<&str> = text.lines().collect();
            assert_eq!(lines[lines.len() - 2], q, "{text}");
            assert_eq!(
                lines[lines.len() - 1],
                format!("{}^", " ".repeat(pos)),
                "{text}"
            );
        }
    }

    #[test]
    fn simple_syntax() {
        let o = Options {
            simple: true,
            ..Default::default()
        };
        match parse("+error -timeout", &o).unwrap() {
            Query::Bool(b) => {
                assert_eq!(b.must.len(), 1);
                assert_eq!(b.must_not.len(), 1);
            }
            other => panic!("{other:?}"),
        }
        assert!(parse("a | b", &o).is_ok());
        assert!(parse("unbalanced ( ]", &o).is_err() || parse("unbalanced ( ]", &o).is_ok());
    }

    proptest::proptest! {
        #[test]
        fn never_panics(s in "\\PC{0,60}") {
            let _ = parse(&s, &Options::default());
            let _ = parse(&s, &Options { simple: true, ..Default::default() });
        }

        #[test]
        fn field_value_roundtrip(f in "[a-z][a-z_]{0,8}", v in "[a-z0-9]{1,10}") {
            let q = parse(&format!("{f}:{v}"), &Options::default()).unwrap();
            proptest::prop_assert_eq!(q, m(&f, &v));
        }
    }
}
