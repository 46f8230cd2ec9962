//! `{{field}}` texts of annotations, checked when the rule loads so a
//! misspelt field is a config error rather than an empty hole in a mail.

/// One piece of a template.
#[derive(Debug, Clone, PartialEq)]
enum Piece {
    Text(String),
    Field(String),
}

/// A parsed template.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Template {
    pieces: Vec<Piece>,
    source: String,
}

/// Fields every alert has.
const FIELDS: [&str; 10] = [
    "rule",
    "value",
    "detail",
    "threshold",
    "window",
    "severity",
    "status",
    "query",
    "starts_at",
    "group",
];

impl Template {
    /// Parses `text`; `{{` without a closing `}}` is an error.
    pub fn parse(text: &str) -> Result<Template, String> {
        let mut pieces = Vec::new();
        let mut rest = text;
        while let Some(open) = rest.find("{{") {
            if open > 0 {
                pieces.push(Piece::Text(rest[..open].to_string()));
            }
            let after = &rest[open + 2..];
            let Some(close) = after.find("}}") else {
                return Err(format!(
                    "'{{{{' at byte {} has no closing '}}}}'",
                    text.len() - rest.len() + open
                ));
            };
            pieces.push(Piece::Field(after[..close].trim().to_string()));
            rest = &after[close + 2..];
        }
        if !rest.is_empty() {
            pieces.push(Piece::Text(rest.to_string()));
        }
        Ok(Template {
            pieces,
            source: text.to_string(),
        })
    }

    /// Every field is known: an alert field, `group` (all group values),
    /// `group.<f>` for a `group_by` field, or `labels.<name>`.
    pub fn check(&self, group_by: &[String]) -> Result<(), String> {
        for p in &self.pieces {
            let Piece::Field(f) = p else { continue };
            let ok = FIELDS.contains(&f.as_str())
                || f.strip_prefix("group.")
                    .is_some_and(|g| group_by.iter().any(|x| x == g))
                || f.strip_prefix("labels.").is_some_and(|l| !l.is_empty());
            if !ok {
                let groups = if group_by.is_empty() {
                    String::new()
                } else {
                    format!(
                        ", {}",
                        group_by
                            .iter()
                            .map(|g| format!("group.{g}"))
                            .collect::<Vec<_>>()
                            .join(", ")
                    )
                };
                return Err(format!(
                    "unknown field '{{{{{f}}}}}'; known: {}{groups}, labels.<name>",
                    FIELDS.join(", ")
                ));
            }
        }
        Ok(())
    }

    /// The text with each field replaced by `lookup(field)` (empty when it
    /// has no value).
    pub fn render(&self, lookup: &dyn Fn(&str) -> Option<String>) -> String {
        let mut out = String::new();
        for p in &self.pieces {
            match p {
                Piece::Text(t) => out.push_str(t),
                Piece::Field(f) => out.push_str(&lookup(f).unwrap_or_default()),
            }
        }
        out
    }

    /// The text as written.
    pub fn source(&self) -> &str {
        &self.source
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_are_replaced_and_checked() {
        let t =
            Template::parse("{{value}} errors from {{ group.service }} ({{threshold}})").unwrap();
        let s = t.render(&|f| match f {
            "value" => Some("12".into()),
            "group.service" => Some("api".into()),
            "threshold" => Some("> 10".into()),
            _ => None,
        });
        assert_eq!(s, "12 errors from api (> 10)");
        assert!(t.check(&["service".into()]).is_ok());
        let e = t.check(&[]).unwrap_err();
        assert!(e.contains("unknown field '{{group.service}}'"), "{e}");
        let e = Template::parse("x {{value").unwrap_err();
        assert!(e.contains("at byte 2 has no closing"), "{e}");
    }
}
