//! Credentials out of messages: a connection URL's password is replaced by `***` before any
//! error or log line shows it.
//!
//! It works on text, not on parsed URLs, because the URLs that end up in error messages are
//! often the ones that did not parse (`postgres://u:s3cret@[::1:bad/x`).

/// `text` with the password of every `scheme://user:password@host` in it masked. The
/// password runs from the `:` after the user to the last `@` before the next blank or quote
/// (passwords may contain `@` and `/` when a URL was written without escaping them).
pub fn mask_credentials(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find("://") {
        let (before, after) = rest.split_at(i + 3);
        out.push_str(before);
        let end = after
            .find(|c: char| c.is_whitespace() || "\"'`".contains(c))
            .unwrap_or(after.len());
        let candidate = &after[..end];
        match (candidate.rfind('@'), candidate.find(':')) {
            (Some(at), Some(colon)) if colon < at => {
                out.push_str(&candidate[..=colon]);
                out.push_str("***");
                out.push_str(&candidate[at..]);
            }
            _ => out.push_str(candidate),
        }
        rest = &after[end..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::mask_credentials as mask;

    #[test]
    fn the_password_of_a_url_is_masked() {
        assert_eq!(
            mask("postgres://app:s3cret@db.example:5432/tasks"),
            "postgres://app:***@db.example:5432/tasks"
        );
    }

    #[test]
    fn unparseable_urls_and_surrounding_text_are_handled() {
        assert_eq!(
            mask("invalid DATABASE_URL 'postgres://u:s3cret@[::1:bad/x': invalid IPv6"),
            "invalid DATABASE_URL 'postgres://u:***@[::1:bad/x': invalid IPv6"
        );
        assert_eq!(
            mask("postgres://u:p@ss/w:rd@host/db and mysql://v:x@y"),
            "postgres://u:***@host/db and mysql://v:***@y"
        );
    }

    #[test]
    fn text_without_credentials_is_unchanged() {
        for s in [
            "sqlite://data/x.db?mode=rwc",
            "postgres://user@host/db",
            "postgres://host:5432/db",
            "no url here: user@example.com",
            "",
        ] {
            assert_eq!(mask(s), s);
        }
    }
}
