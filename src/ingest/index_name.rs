//! Index name templates: `app-logs-%{+YYYY.MM.dd}` becomes
//! `app-logs-2026.11.24` from each event's `@timestamp` (UTC), as Logstash's
//! `%{+...}` sprintf does.

use crate::event::timestamp::{civil_from_days, EpochMillis};

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
}
