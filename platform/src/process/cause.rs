//! Why a request failed, as its access line says it: what the database, the middleware or a
//! handler saw, without the values a message may quote. Below both `http` (which logs it) and
//! `db` (which classifies its errors into one), so neither imports the other for it.

/// Why a request failed, for its access line (never for the client): a kind
/// (`db_unavailable`, `db_deadline`, `db_error`, `internal`, …), the SQLSTATE when the
/// database gave one, and a message without the values it may have quoted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cause {
    pub kind: &'static str,
    pub sqlstate: Option<String>,
    pub message: String,
}

/// A cause's message is cut at this many characters.
const CAUSE_CHARS: usize = 300;

impl Cause {
    pub fn new(kind: &'static str, sqlstate: Option<String>, message: &str) -> Self {
        Self {
            kind,
            sqlstate,
            message: without_quoted_values(message),
        }
    }
}

/// `message` with every quoted text that follows a colon replaced by `…`: PostgreSQL (and
/// serde) put the offending value there (`invalid input syntax for type integer: "…"`),
/// while the names it quotes elsewhere (`relation "tasks" does not exist`) stay.
fn without_quoted_values(message: &str) -> String {
    let mut out = String::with_capacity(message.len().min(CAUSE_CHARS));
    let mut rest = message;
    while let Some(at) = quoted_value_at(rest) {
        let quote = rest.as_bytes()[at + 2] as char;
        out.push_str(&rest[..at + 3]);
        out.push('…');
        let after = &rest[at + 3..];
        // The value runs to its closing quote: the last one before the next quoted value.
        let limit = quoted_value_at(after).unwrap_or(after.len());
        rest = match after[..limit].rfind(quote) {
            Some(end) => {
                out.push(quote);
                &after[end + 1..]
            }
            None => &after[limit..],
        };
    }
    out.push_str(rest);
    if out.chars().count() > CAUSE_CHARS {
        out = out.chars().take(CAUSE_CHARS).collect::<String>() + "…";
    }
    out
}

/// Where `: "` or `: '` (a quoted value after a colon) starts in `s`.
fn quoted_value_at(s: &str) -> Option<usize> {
    [": \"", ": '"].iter().filter_map(|p| s.find(p)).min()
}

#[cfg(test)]
mod tests {
    use super::without_quoted_values;

    #[test]
    fn causes_lose_the_values_they_quote_and_keep_the_names() {
        for (message, said) in [
            (
                r#"invalid input syntax for type integer: "secret""#,
                r#"invalid input syntax for type integer: "…""#,
            ),
            (
                r#"relation "tasks" does not exist"#,
                r#"relation "tasks" does not exist"#,
            ),
            (
                r#"database "tm_x" is not currently accepting connections"#,
                r#"database "tm_x" is not currently accepting connections"#,
            ),
            (
                "invalid value: 'a', expected: 'b'",
                "invalid value: '…', expected: '…'",
            ),
            ("connection refused", "connection refused"),
            (r#"unterminated: "secret"#, r#"unterminated: "…"#),
        ] {
            assert_eq!(without_quoted_values(message), said, "{message}");
        }
    }
}
