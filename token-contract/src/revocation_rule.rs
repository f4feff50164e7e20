//! When a well-signed, unexpired token has nevertheless been ended — the rule auth applies
//! at once and task applies from its cache of the same rows.
//!
//! A token is revoked when
//! - its user no longer exists (deleted account), or
//! - its `jti` is in `revoked_tokens` (logged out), or
//! - its `iat` lies before the user's `tokens_valid_after` (a password change or
//!   logout-all ended every token issued before it).
//!
//! `iat` counts whole seconds, so a cut-off made at 100.7 s cannot tell a token issued at
//! 100.3 s (before it: must die) from one issued at 100.9 s (after it: must live) if both
//! carry `iat = 100`. Hence the cut-off is always a whole second *after* every `iat` handed
//! out so far ([`next_cutoff`]), and a token is never issued with an `iat` before the
//! current cut-off ([`issued_at`]): a token issued right after a logout-all or password
//! change (the new token that change answers with, or a login in the same second) carries
//! `iat` = the cut-off, up to one second ahead of the clock — well inside the 60 s leeway
//! verifiers allow for `iat`.

use std::collections::HashSet;

use chrono::{DateTime, TimeZone, Utc};

/// What the shared database says about one existing user's tokens.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UserTokens {
    /// Tokens with `iat` before this (seconds) are revoked. Always a whole second.
    pub valid_after: Option<DateTime<Utc>>,
    /// The `jti`s of this user's tokens logged out one by one (and not yet swept).
    pub revoked_jtis: HashSet<String>,
}

/// `user` is `None` when the user does not exist (any more).
pub fn is_revoked(user: Option<&UserTokens>, iat: i64, jti: &str) -> bool {
    match user {
        None => true,
        Some(u) => {
            u.valid_after.is_some_and(|cutoff| iat < ceil_secs(cutoff))
                || u.revoked_jtis.contains(jti)
        }
    }
}

/// The `iat` of a token issued `now` for a user whose cut-off is `valid_after`: the clock's
/// second, or the cut-off if that is later, so the token is never born revoked.
pub fn issued_at(now: DateTime<Utc>, valid_after: Option<DateTime<Utc>>) -> i64 {
    now.timestamp().max(valid_after.map_or(i64::MIN, ceil_secs))
}

/// The cut-off that ends every token issued so far: one second past both the clock's
/// second and the previous cut-off (tokens may carry `iat` = the previous cut-off).
pub fn next_cutoff(now: DateTime<Utc>, previous: Option<DateTime<Utc>>) -> DateTime<Utc> {
    let secs = issued_at(now, previous).saturating_add(1);
    Utc.timestamp_opt(secs, 0)
        .single()
        .unwrap_or(DateTime::<Utc>::MAX_UTC)
}

fn ceil_secs(t: DateTime<Utc>) -> i64 {
    t.timestamp() + i64::from(t.timestamp_subsec_nanos() > 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: i64, millis: u32) -> DateTime<Utc> {
        Utc.timestamp_opt(secs, millis * 1_000_000).unwrap()
    }

    fn cut(valid_after: DateTime<Utc>) -> UserTokens {
        UserTokens {
            valid_after: Some(valid_after),
            ..UserTokens::default()
        }
    }

    #[test]
    fn same_second_tokens_before_the_cutoff_die_and_after_it_live() {
        let before = issued_at(at(100, 300), None);
        let cutoff = next_cutoff(at(100, 700), None);
        let after = issued_at(at(100, 900), Some(cutoff));
        assert_eq!((before, after), (100, 101));
        assert!(is_revoked(Some(&cut(cutoff)), before, "a"));
        assert!(!is_revoked(Some(&cut(cutoff)), after, "b"));
    }

    #[test]
    fn a_second_cutoff_in_the_same_second_ends_the_token_of_the_first() {
        let first = next_cutoff(at(100, 100), None);
        let from_change = issued_at(at(100, 200), Some(first));
        let second = next_cutoff(at(100, 300), Some(first));
        assert!(!is_revoked(Some(&cut(first)), from_change, "a"));
        assert!(is_revoked(Some(&cut(second)), from_change, "a"));
        assert!(!is_revoked(
            Some(&cut(second)),
            issued_at(at(100, 400), Some(second)),
            "b"
        ));
    }

    #[test]
    fn later_tokens_use_the_clock_and_missing_users_or_jtis_are_revoked() {
        let cutoff = next_cutoff(at(100, 0), None);
        assert_eq!(issued_at(at(205, 10), Some(cutoff)), 205);
        assert!(is_revoked(None, 205, "x"));
        let mut u = cut(cutoff);
        u.revoked_jtis.insert("gone".into());
        assert!(is_revoked(Some(&u), 205, "gone"));
        assert!(!is_revoked(Some(&u), 205, "kept"));
        assert!(!is_revoked(Some(&UserTokens::default()), 0, "kept"));
    }
}
