//! Index name templates: `app-logs-%{+YYYY.MM.dd}` becomes
//! `app-logs-2026.11.24` from each event's `@timestamp` (UTC), as Logstash's
//! `%{+...}` sprintf does.

use crate::event::timestamp::{civil_from_days, EpochMillis};
use crate::store::{validate_index_name, StoreError};

/// Expand `%{+FORMAT}` parts of `template` for the instant `ms`. FORMAT
/// uses Joda letters `YYYY`/`yyyy`, `MM`, `dd`, `HH`, `ww` is not supported.
pub fn expand(template: &str, ms: EpochMillis) -> String {
    if !template.contains("%{+") {
        return template.to_string();
    }
    // The finest unit is the hour: remember the last expansion per thread
    // (inputs expand once per event, nearly always to the same name).
    thread_local! {
        static LAST: std::cell::RefCell<(String, i64, String)> =
            const { std::cell::RefCell::new((String::new(), i64::MIN, String::new())) };
    }
    let hour = ms.div_euclid(3_600_000);
    LAST.with_borrow_mut(|(t, h, name)| {
        if *h != hour || t != template {
            *name = expand_uncached(template, ms);
            t.clear();
            t.push_str(template);
            *h = hour;
        }
        name.clone()
    })
}

/// Expand `template` for `ms` and check the name; when the template looks
/// like a date template whose braces were lost, the error says so.
pub fn expand_checked(template: &str, ms: EpochMillis) -> Result<String, StoreError> {
    let name = expand(template, ms);
    match validate_index_name(&name) {
        Ok(()) => Ok(name),
        Err(StoreError::InvalidIndexName { name, reason }) => match mangled_hint(template) {
            Some(hint) => Err(StoreError::InvalidIndexName {
                name,
                reason: format!("{reason}; {hint}"),
            }),
            None => Err(StoreError::InvalidIndexName { name, reason }),
        },
        Err(e) => Err(e),
    }
}

/// `app-%+YYYY.MM.dd` is what curl sends for `app-%{+YYYY.MM.dd}` without
/// `-g`: it expands `{...}` in URLs as a list of alternatives.
fn mangled_hint(template: &str) -> Option<String> {
    let i = template.find("%+")?;
    let fmt: String = template[i + 2..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'))
        .collect();
    if !fmt.contains("YYYY") && !fmt.contains("yyyy") && !fmt.contains("dd") {
        return None;
    }
    Some(format!(
        "'%+{fmt}' looks like the date template '%{{+{fmt}}}' with its braces removed: \
         curl expands {{}} in URLs, use curl -g (--globoff)"
    ))
}

fn expand_uncached(template: &str, ms: EpochMillis) -> String {
    let days = ms.div_euclid(86_400_000);
    let (y, m, d) = civil_from_days(days);
    let h = ms.rem_euclid(86_400_000) / 3_600_000;
    let mut out = String::with_capacity(template.len() + 8);
    let mut rest = template;
    while let Some(i) = rest.find("%{+") {
        out.push_str(&rest[..i]);
        let after = &rest[i + 3..];
        let Some(end) = after.find('}') else {
            out.push_str(&rest[i..]);
            return out;
        };
        let fmt = &after[..end];
        out.push_str(
            &fmt.replace("YYYY", &format!("{y:04}"))
                .replace("yyyy", &format!("{y:04}"))
                .replace("MM", &format!("{m:02}"))
                .replace("dd", &format!("{d:02}"))
                .replace("HH", &format!("{h:02}")),
        );
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn daily() {
        let ms = "2026-11-24T23:59:59Z"
            .parse::<jiff::Timestamp>()
            .unwrap()
            .as_millisecond();
        assert_eq!(expand("app-logs-%{+YYYY.MM.dd}", ms), "app-logs-2026.11.24");
        assert_eq!(expand("plain", ms), "plain");
        assert_eq!(expand("x-%{+YYYY.MM", ms), "x-%{+YYYY.MM");
        // the per-thread cache follows template and hour changes
        assert_eq!(expand("h-%{+HH}", ms), "h-23");
        assert_eq!(expand("h-%{+HH}", ms - 1000), "h-23");
        assert_eq!(expand("h-%{+HH}", ms + 1000 * 3600), "h-00");
        assert_eq!(expand("d-%{+dd}", ms + 1000 * 3600), "d-25");
        assert_eq!(expand("app-logs-%{+YYYY.MM.dd}", ms), "app-logs-2026.11.24");
    }

    #[test]
    fn mangled_templates_are_named() {
        let e = expand_checked("app-%+YYYY.MM.dd", 0)
            .unwrap_err()
            .to_string();
        assert!(e.contains("must be lowercase"), "{e}");
        assert!(
            e.contains("'%{+YYYY.MM.dd}'") && e.contains("curl -g"),
            "{e}"
        );
        let e = expand_checked("Bad Name", 0).unwrap_err().to_string();
        assert!(!e.contains("curl"), "{e}");
        assert_eq!(expand_checked("app-%{+YYYY}", 0).unwrap(), "app-1970");
    }
}
