//! The condition language of transforms (`drop_if`, `keep_if`,
//! `route_if`): field comparisons, regex match, `exists`, `and`/`or`/`not`
//! and parentheses, checked when the config is loaded.
//!
//! ```text
//! level == "DEBUG" and not (service == "payments" or exists(trace.sampled))
//! status >= 500 or message =~ "timeout|refused"
//! ```

use serde_json::{Map, Value};

/// A parsed condition.
#[derive(Debug, Clone)]
pub enum Cond {
    And(Box<Cond>, Box<Cond>),
    Or(Box<Cond>, Box<Cond>),
    Not(Box<Cond>),
    Exists(Vec<String>),
    Cmp(Vec<String>, Op, Lit),
    Match(Vec<String>, regex::Regex),
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Op {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Lit {
    Str(String),
    Num(f64),
    Bool(bool),
    Null,
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Ident(String),
    Str(String),
    Num(f64),
    Op(&'static str),
    LParen,
    RParen,
}

fn lex(s: &str) -> Result<Vec<(usize, Tok)>, String> {
    let mut out = Vec::new();
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        if c.is_ascii_whitespace() {
            i += 1;
            continue;
        }
        let at = i;
        let two = s.get(i..i + 2).unwrap_or("");
        let tok = if let Some(op) = ["==", "!=", "<=", ">=", "=~"]
            .into_iter()
            .find(|o| *o == two)
        {
            i += 2;
            Tok::Op(op)
        } else if c == b'<' || c == b'>' {
            i += 1;
            Tok::Op(if c == b'<' { "<" } else { ">" })
        } else if c == b'(' {
            i += 1;
            Tok::LParen
        } else if c == b')' {
            i += 1;
            Tok::RParen
        } else if c == b'"' || c == b'\'' {
            let q = c;
            i += 1;
            let mut v = String::new();
            loop {
                match b.get(i) {
                    None => {
                        return Err(format!("unterminated string starting at column {}", at + 1))
                    }
                    Some(&x) if x == q => {
                        i += 1;
                        break;
                    }
                    Some(b'\\') if b.get(i + 1).is_some_and(|n| *n == q || *n == b'\\') => {
                        v.push(b[i + 1] as char);
                        i += 2;
                    }
                    Some(_) => {
                        let ch = s[i..].chars().next().unwrap_or('\u{fffd}');
                        v.push(ch);
                        i += ch.len_utf8();
                    }
                }
            }
            Tok::Str(v)
        } else if c.is_ascii_digit()
            || (c == b'-' && b.get(i + 1).is_some_and(|d| d.is_ascii_digit()))
        {
            let st = i;
            i += 1;
            while i < b.len()
                && (b[i].is_ascii_digit() || b[i] == b'.' || b[i] == b'e' || b[i] == b'E')
            {
                i += 1;
            }
            Tok::Num(
                s[st..i]
                    .parse()
                    .map_err(|_| format!("bad number '{}' at column {}", &s[st..i], st + 1))?,
            )
        } else if c.is_ascii_alphanumeric() || matches!(c, b'_' | b'@' | b'.' | b'-') {
            let st = i;
            while i < b.len()
                && (b[i].is_ascii_alphanumeric() || matches!(b[i], b'_' | b'@' | b'.' | b'-'))
            {
                i += 1;
            }
            Tok::Ident(s[st..i].to_string())
        } else {
            return Err(format!(
                "unexpected '{}' at column {}",
                &s[i..].chars().next().unwrap_or(' '),
                i + 1
            ));
        };
        out.push((at, tok));
    }
    Ok(out)
}

struct P {
    toks: Vec<(usize, Tok)>,
    pos: usize,
    depth: usize,
    /// Length of the text, for columns past its end.
    len: usize,
}

impl P {
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.pos).map(|t| &t.1)
    }
    fn col(&self) -> usize {
        self.toks.get(self.pos).map_or(self.len, |t| t.0) + 1
    }
    fn word(&self, w: &str) -> bool {
        matches!(self.peek(), Some(Tok::Ident(x)) if x.eq_ignore_ascii_case(w))
    }
    fn or(&mut self) -> Result<Cond, String> {
        let mut l = self.and()?;
        while self.word("or") || self.peek() == Some(&Tok::Op("||")) {
            self.pos += 1;
            l = Cond::Or(Box::new(l), Box::new(self.and()?));
        }
        Ok(l)
    }
    fn and(&mut self) -> Result<Cond, String> {
        let mut l = self.not()?;
        while self.word("and") {
            self.pos += 1;
            l = Cond::And(Box::new(l), Box::new(self.not()?));
        }
        Ok(l)
    }
    fn not(&mut self) -> Result<Cond, String> {
        self.depth += 1;
        if self.depth > 64 {
            return Err("condition nested too deeply".into());
        }
        let r = if self.word("not") {
            self.pos += 1;
            self.not().map(|c| Cond::Not(Box::new(c)))
        } else {
            self.atom()
        };
        self.depth -= 1;
        r
    }
    fn atom(&mut self) -> Result<Cond, String> {
        let col = self.col();
        match self.toks.get(self.pos).map(|t| t.1.clone()) {
            Some(Tok::LParen) => {
                self.pos += 1;
                let c = self.or()?;
                if self.peek() != Some(&Tok::RParen) {
                    return Err(format!("missing ')' at column {}", self.col()));
                }
                self.pos += 1;
                Ok(c)
            }
            Some(Tok::Ident(w)) if w == "exists" => {
                self.pos += 1;
                if self.peek() != Some(&Tok::LParen) {
                    return Err(format!("exists needs (field) at column {}", self.col()));
                }
                self.pos += 1;
                let Some(Tok::Ident(f)) = self.peek().cloned() else {
                    return Err(format!(
                        "exists needs a field name at column {}",
                        self.col()
                    ));
                };
                self.pos += 1;
                if self.peek() != Some(&Tok::RParen) {
                    return Err(format!("missing ')' at column {}", self.col()));
                }
                self.pos += 1;
                Ok(Cond::Exists(path(&f)))
            }
            Some(Tok::Ident(f)) => {
                self.pos += 1;
                let op_col = self.col();
                let op = match self.peek() {
                    Some(Tok::Op(o)) => *o,
                    _ => {
                        return Err(format!(
                            "expected a comparison after '{f}' at column {op_col}"
                        ))
                    }
                };
                self.pos += 1;
                let lit_col = self.col();
                let lit = match self.toks.get(self.pos).map(|t| t.1.clone()) {
                    Some(Tok::Str(s)) => Lit::Str(s),
                    Some(Tok::Num(n)) => Lit::Num(n),
                    Some(Tok::Ident(w)) if w == "true" || w == "false" => Lit::Bool(w == "true"),
                    Some(Tok::Ident(w)) if w == "null" => Lit::Null,
                    None => {
                        return Err(format!(
                            "condition ends too early after '{f} {op}' (column {lit_col})"
                        ))
                    }
                    _ => {
                        return Err(format!(
                            "expected a string, number, true, false or null at column {lit_col}"
                        ))
                    }
                };
                self.pos += 1;
                if op == "=~" {
                    let Lit::Str(re) = lit else {
                        return Err(format!("=~ needs a quoted regex at column {lit_col}"));
                    };
                    let re = regex::Regex::new(&re)
                        .map_err(|e| format!("bad regex at column {lit_col}: {e}"))?;
                    return Ok(Cond::Match(path(&f), re));
                }
                let op = match op {
                    "==" => Op::Eq,
                    "!=" => Op::Ne,
                    "<" => Op::Lt,
                    "<=" => Op::Le,
                    ">" => Op::Gt,
                    _ => Op::Ge,
                };
                Ok(Cond::Cmp(path(&f), op, lit))
            }
            None => Err(format!("condition ends too early (column {col})")),
            Some(t) => Err(format!("unexpected {t:?} at column {col}")),
        }
    }
}

fn path(f: &str) -> Vec<String> {
    f.split('.').map(str::to_string).collect()
}

/// Parse a condition; the error names the column.
pub fn parse(s: &str) -> Result<Cond, String> {
    let toks = lex(s)?;
    let mut p = P {
        toks,
        pos: 0,
        depth: 0,
        len: s.len(),
    };
    let c = p.or()?;
    if p.pos < p.toks.len() {
        return Err(format!("unexpected text at column {}", p.col()));
    }
    Ok(c)
}

/// A field by dotted path: a literal dotted key first, then nested objects.
pub fn lookup<'a>(record: &'a Map<String, Value>, path: &[String]) -> Option<&'a Value> {
    if path.len() > 1 {
        if let Some(v) = record.get(&path.join(".")) {
            return Some(v);
        }
    }
    let (first, rest) = path.split_first()?;
    let mut v = record.get(first)?;
    for p in rest {
        v = v.as_object()?.get(p)?;
    }
    Some(v)
}

impl Cond {
    /// Evaluate against a record. Missing fields compare unequal (and `!=` true).
    pub fn eval(&self, r: &Map<String, Value>) -> bool {
        match self {
            Cond::And(a, b) => a.eval(r) && b.eval(r),
            Cond::Or(a, b) => a.eval(r) || b.eval(r),
            Cond::Not(a) => !a.eval(r),
            Cond::Exists(p) => lookup(r, p).is_some_and(|v| !v.is_null()),
            Cond::Match(p, re) => match lookup(r, p) {
                Some(Value::String(s)) => re.is_match(s),
                Some(v @ (Value::Number(_) | Value::Bool(_))) => re.is_match(&v.to_string()),
                _ => false,
            },
            Cond::Cmp(p, op, lit) => {
                let v = lookup(r, p);
                let ord = match (v, lit) {
                    (Some(Value::String(s)), Lit::Str(l)) => Some(s.as_str().cmp(l.as_str())),
                    (Some(Value::Number(n)), Lit::Num(l)) => {
                        n.as_f64().and_then(|x| x.partial_cmp(l))
                    }
                    // numbers sent as strings ("500") still compare as numbers
                    (Some(Value::String(s)), Lit::Num(l)) => {
                        s.trim().parse::<f64>().ok().and_then(|x| x.partial_cmp(l))
                    }
                    (Some(Value::Number(n)), Lit::Str(l)) => {
                        Some(n.to_string().as_str().cmp(l.as_str()))
                    }
                    (Some(Value::Bool(b)), Lit::Bool(l)) => Some(b.cmp(l)),
                    (Some(Value::Null) | None, Lit::Null) => Some(std::cmp::Ordering::Equal),
                    _ => None,
                };
                match (op, ord) {
                    (Op::Ne, None) => true,
                    (_, None) => false,
                    (Op::Eq, Some(o)) => o.is_eq(),
                    (Op::Ne, Some(o)) => o.is_ne(),
                    (Op::Lt, Some(o)) => o.is_lt(),
                    (Op::Le, Some(o)) => o.is_le(),
                    (Op::Gt, Some(o)) => o.is_gt(),
                    (Op::Ge, Some(o)) => o.is_ge(),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn t(cond: &str, rec: Value) -> bool {
        parse(cond).unwrap().eval(rec.as_object().unwrap())
    }

    #[test]
    fn evaluates() {
        let r = json!({"level":"DEBUG","service":"web","status":503,"code":"404","http":{"method":"GET"},"msg":"conn timeout"});
        assert!(t(
            r#"level == "DEBUG" and service != "payments""#,
            r.clone()
        ));
        assert!(!t(
            r#"level == "DEBUG" and not service == "web""#,
            r.clone()
        ));
        assert!(t("status >= 500 and status < 600", r.clone()));
        assert!(
            t("code >= 400", r.clone()),
            "numbers as strings compare as numbers"
        );
        assert!(t(r#"http.method == 'GET'"#, r.clone()));
        assert!(t(r#"msg =~ "time(out|d)""#, r.clone()));
        assert!(t("exists(http.method) and not exists(user)", r.clone()));
        assert!(t(
            r#"(level == "INFO" or level == "DEBUG") and status == 503"#,
            r.clone()
        ));
        assert!(t(r#"missing != "x""#, r.clone()));
        assert!(!t(r#"missing == "x""#, r.clone()));
        assert!(t("missing == null", r));
    }

    #[test]
    fn errors_name_the_column() {
        for (c, want) in [
            ("level ==", "ends too early after 'level ==' (column 9)"),
            ("level = 1", "column 7"),
            ("(a == 1", "missing ')'"),
            (r#"msg =~ "(""#, "bad regex"),
            ("a == 1 b", "unexpected text at column 8"),
            (r#"a == "open"#, "unterminated string"),
            ("exists(", "field name"),
        ] {
            let e = parse(c).unwrap_err();
            assert!(e.contains(want), "{c}: {e}");
        }
        assert!(parse(&format!("{}a == 1{}", "(".repeat(200), ")".repeat(200))).is_err());
    }

    proptest::proptest! {
        #[test]
        fn never_panics(s in "\\PC{0,60}") {
            if let Ok(c) = parse(&s) {
                let _ = c.eval(&Map::new());
            }
        }
    }
}
