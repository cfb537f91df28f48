//! SQL names: reading `schema.table` the way PostgreSQL reads a regclass literal, quoting
//! identifiers for generated SQL, and suggesting close matches for misspelled names.

use crate::error::{show, Error, Result};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QualifiedName {
    pub schema: Option<String>,
    pub name: String,
}

impl QualifiedName {
    /// Quoted text that PostgreSQL parses back to exactly this name.
    pub fn quoted(&self) -> String {
        match &self.schema {
            Some(s) => format!("{}.{}", quote_ident(s), quote_ident(&self.name)),
            None => quote_ident(&self.name),
        }
    }
}

/// Parses `metrics`, `public.metrics` or `"My Schema"."Events"`: unquoted parts are folded to
/// lower case and quoted parts kept exactly, as in `'...'::regclass`.
pub fn parse_qualified_name(path: &str, text: &str) -> Result<QualifiedName> {
    let bad = |why: &str| {
        Error::invalid(path, format!("invalid relation name {}: {why}", show(text)))
            .with_hint("write a table name, optionally schema-qualified (public.metrics); double-quote names with capitals, spaces or punctuation")
    };
    let mut parts = Vec::new();
    let mut chars = text.trim().chars().peekable();
    loop {
        let mut part = String::new();
        if chars.peek() == Some(&'"') {
            chars.next();
            loop {
                match chars.next() {
                    None => return Err(bad("unterminated quoted identifier")),
                    Some('"') if chars.peek() == Some(&'"') => {
                        chars.next();
                        part.push('"');
                    }
                    Some('"') => break,
                    Some(c) => part.push(c),
                }
            }
        } else {
            while let Some(&c) = chars.peek() {
                if c == '.' {
                    break;
                }
                if !(c.is_alphanumeric() || c == '_' || c == '$') {
                    return Err(bad(&format!(
                        "unexpected character {}",
                        show(&c.to_string())
                    )));
                }
                part.extend(c.to_lowercase());
                chars.next();
            }
        }
        if part.is_empty() {
            return Err(bad("empty name part"));
        }
        if part.len() > crate::query::MAX_IDENTIFIER_BYTES {
            return Err(bad("name part longer than 63 bytes"));
        }
        parts.push(part);
        match chars.next() {
            None => break,
            Some('.') => continue,
            Some(c) => {
                return Err(bad(&format!(
                    "unexpected character {} after a quoted name",
                    show(&c.to_string())
                )))
            }
        }
    }
    match parts.len() {
        1 => Ok(QualifiedName {
            schema: None,
            name: parts.pop().unwrap(),
        }),
        2 => {
            let name = parts.pop().unwrap();
            Ok(QualifiedName {
                schema: parts.pop(),
                name,
            })
        }
        _ => Err(bad("expected at most schema.name")),
    }
}

/// Double-quotes an identifier, doubling embedded quotes: safe for any text without NUL.
pub fn quote_ident(s: &str) -> String {
    format!("\"{}\"", s.replace('"', "\"\""))
}

/// Up to three candidates closest to `wanted` (case-insensitive edit distance), for hints.
pub fn close_matches<'a>(
    wanted: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Vec<&'a str> {
    let w = wanted.to_lowercase();
    let limit = (w.chars().count() / 3).max(2);
    let mut scored: Vec<(usize, &str)> = candidates
        .into_iter()
        .map(|c| (edit_distance(&w, &c.to_lowercase()), c))
        .filter(|(d, _)| *d <= limit)
        .collect();
    scored.sort();
    scored.into_iter().take(3).map(|(_, c)| c).collect()
}

/// "did you mean ...?" for a hint, or None when nothing is close.
pub fn did_you_mean<'a>(
    wanted: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<String> {
    let m = close_matches(wanted, candidates);
    if m.is_empty() {
        None
    } else {
        Some(format!(
            "did you mean {}?",
            m.iter().map(|c| show(c)).collect::<Vec<_>>().join(" or ")
        ))
    }
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != *cb);
            cur[j + 1] = (prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn qn(s: Option<&str>, n: &str) -> QualifiedName {
        QualifiedName {
            schema: s.map(String::from),
            name: n.into(),
        }
    }

    #[test]
    fn parses_like_regclass() {
        assert_eq!(
            parse_qualified_name("s", "Metrics").unwrap(),
            qn(None, "metrics")
        );
        assert_eq!(
            parse_qualified_name("s", "public.metrics").unwrap(),
            qn(Some("public"), "metrics")
        );
        assert_eq!(
            parse_qualified_name("s", "\"My S\".\"Ev\"\"t\"").unwrap(),
            qn(Some("My S"), "Ev\"t")
        );
        assert_eq!(
            parse_qualified_name("s", "données").unwrap(),
            qn(None, "données")
        );
    }

    #[test]
    fn rejects_injection_and_garbage() {
        for bad in [
            "metrics; DROP TABLE x",
            "a.b.c",
            "\"open",
            "a..b",
            "",
            "m\"x\"",
            "a b",
        ] {
            let e = parse_qualified_name("source", bad).unwrap_err();
            assert_eq!(e.path, "source", "{bad}");
        }
    }

    #[test]
    fn quoting_round_trips() {
        for name in [qn(None, "x"), qn(Some("a\"b"), "Hello World; --")] {
            assert_eq!(parse_qualified_name("s", &name.quoted()).unwrap(), name);
        }
    }

    #[test]
    fn suggestions() {
        assert_eq!(
            close_matches("regoin", ["region", "status", "ts"]),
            vec!["region"]
        );
        assert_eq!(close_matches("Status", ["status"]), vec!["status"]);
        assert!(close_matches("zzzzzz", ["region"]).is_empty());
    }
}
