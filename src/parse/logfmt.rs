//! logfmt (`key=value key2="quoted value" flag`) and the looser key/value
//! format with configurable separators. Values stay strings; numbers and
//! booleans are typed only when asked (type hints), as in Logstash's `kv`.

use serde_json::{Map, Value};

/// Parse logfmt: pairs separated by spaces, `=` between key and value,
/// double-quoted values with `\"` and `\\` escapes, bare keys are `true`.
/// A line with no `key=value` pair at all is not logfmt (free text would
/// otherwise turn each word into a field).
pub fn parse_logfmt(line: &str) -> Result<Map<String, Value>, String> {
    let mut out = Map::new();
    let mut pairs = 0usize;
    let b = line.as_bytes();
    let mut i = 0;
    while i < b.len() {
        while i < b.len() && b[i].is_ascii_whitespace() {
            i += 1;
        }
        if i >= b.len() {
            break;
        }
        let ks = i;
        while i < b.len() && b[i] != b'=' && !b[i].is_ascii_whitespace() {
            i += 1;
        }
        let key = &line[ks..i];
        if key.is_empty() {
            return Err(format!("empty key at byte {ks}"));
        }
        if i >= b.len() || b[i] != b'=' {
            out.insert(key.to_string(), Value::Bool(true));
            continue;
        }
        i += 1; // '='
        let value = if i < b.len() && b[i] == b'"' {
            i += 1;
            let mut v = String::new();
            let mut closed = false;
            while i < b.len() {
                match b[i] {
                    b'\\' if i + 1 < b.len() => {
                        match b[i + 1] {
                            b'"' => v.push('"'),
                            b'\\' => v.push('\\'),
                            b'n' => v.push('\n'),
                            b't' => v.push('\t'),
                            _ => {
                                // not an escape: keep the backslash, then
                                // copy what follows as it is
                                v.push('\\');
                                i += 1;
                                continue;
                            }
                        }
                        i += 2;
                    }
                    b'"' => {
                        i += 1;
                        closed = true;
                        break;
                    }
                    _ => {
                        // copy one UTF-8 character
                        let ch = line[i..].chars().next().unwrap_or('\u{fffd}');
                        v.push(ch);
                        i += ch.len_utf8();
                    }
                }
            }
            if !closed {
                return Err(format!("unterminated quoted value of '{key}'"));
            }
            v
        } else {
            let vs = i;
            while i < b.len() && !b[i].is_ascii_whitespace() {
                i += 1;
            }
            line[vs..i].to_string()
        };
        out.insert(key.to_string(), Value::String(value));
        pairs += 1;
    }
    if pairs == 0 {
        return Err("no key=value pairs".into());
    }
    Ok(out)
}

/// Key/value pairs with chosen separators (Logstash `kv`): pairs split on
/// any of `field_split` characters, key and value on the first
/// `value_split`; surrounding quotes removed. Pieces without the value
/// separator are skipped.
pub fn parse_kv(
    line: &str,
    field_split: &str,
    value_split: &str,
) -> Result<Map<String, Value>, String> {
    let mut out = Map::new();
    for piece in line.split(|c| field_split.contains(c)) {
        let piece = piece.trim();
        let Some((k, v)) = piece.split_once(value_split) else {
            continue;
        };
        let k = k.trim();
        if k.is_empty() {
            continue;
        }
        let v = v.trim();
        let v = v
            .strip_prefix('"')
            .and_then(|x| x.strip_suffix('"'))
            .or_else(|| v.strip_prefix('\'').and_then(|x| x.strip_suffix('\'')))
            .unwrap_or(v);
        out.insert(k.to_string(), Value::String(v.to_string()));
    }
    if out.is_empty() {
        return Err(format!("no key{value_split}value pairs"));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn logfmt_golden() {
        let m = parse_logfmt(r#"level=info msg="request done" path=/api/v1 status=200 dur=12.5ms cached quote="say \"hi\"" uni="héllo wörld""#).unwrap();
        assert_eq!(
            Value::Object(m),
            json!({"level":"info","msg":"request done","path":"/api/v1","status":"200","dur":"12.5ms","cached":true,"quote":"say \"hi\"","uni":"héllo wörld"})
        );
        assert!(parse_logfmt(r#"a="open"#).is_err());
        assert!(parse_logfmt("   ").is_err());
        // free text: bare words only
        assert!(parse_logfmt("just words here").is_err());
        assert_eq!(
            Value::Object(parse_logfmt("error timeout code=5").unwrap()),
            json!({"error":true,"timeout":true,"code":"5"})
        );
        assert_eq!(Value::Object(parse_logfmt("k=").unwrap()), json!({"k":""}));
    }

    #[test]
    fn kv_golden() {
        let m = parse_kv(
            "user=alice; ip='10.0.0.1'; action = \"login ok\"; junk",
            ";",
            "=",
        )
        .unwrap();
        assert_eq!(
            Value::Object(m),
            json!({"user":"alice","ip":"10.0.0.1","action":"login ok"})
        );
        let m = parse_kv("a:1 b:2", " ", ":").unwrap();
        assert_eq!(Value::Object(m), json!({"a":"1","b":"2"}));
    }

    proptest::proptest! {
        #[test]
        fn logfmt_round_trip(pairs in proptest::collection::btree_map("[a-z_]{1,8}", "\\PC{0,12}", 1..6)) {
            let line: Vec<String> = pairs
                .iter()
                .map(|(k, v)| format!("{k}=\"{}\"", v.replace('\\', "\\\\").replace('"', "\\\"")))
                .collect();
            let m = parse_logfmt(&line.join(" ")).unwrap();
            for (k, v) in &pairs {
                proptest::prop_assert_eq!(m[k].as_str(), Some(v.as_str()));
            }
        }

        #[test]
        fn never_panic(s in "\\PC{0,80}") {
            let _ = parse_logfmt(&s);
            let _ = parse_kv(&s, " ,", "=");
        }
    }
}
