//! When a well-signed, unexpired token has nevertheless been revoked — the rule auth applies
//! at once and task applies from its cache of the same rows.
//!
//! A token is revoked when
//! - its user no longer exists (deleted account), or
//! - its `jti` is in `revoked_tokens` (logged out), or
//! - its `gen` claim is below the user's `token_generation`, or
//! - its `iat` lies before the user's `tokens_valid_after`.
//!
//! **Generation.** A password change or logout-all adds one to the user's
//! `token_generation` in the same write that changes the hash. Login reads the generation
//! in the same row as the hash it checks the password against, and the token carries it as
//! `gen`. So a token issued for a password that a later change replaced carries the old
//! generation and is refused, however the login and the change interleave: the comparison
//! is between two values of one counter, not between two clocks.
//!
//! **Cut-off.** Tokens without `gen` (issued before the claim existed) are judged by time
//! alone, and an instance that does not yet bump the generation still moves the cut-off
//! during a rolling release, so both rules apply to every token. `iat` counts whole seconds,
//! so a cut-off made at 100.7 s cannot tell a token issued at 100.3 s from one issued at
//! 100.9 s if both carry `iat = 100`. Hence the cut-off is always a whole second *after*
//! every `iat` handed out so far ([`next_cutoff`]), and a token is never issued with an
//! `iat` before the cut-off it was issued under ([`issued_at`]): a token issued right after
//! a change carries `iat` = the cut-off, up to one second ahead of the clock, well inside
//! the 60 s leeway verifiers allow for `iat`. For tokens with `gen` the cut-off never
//! refuses one the generation keeps: both were read in the same row at issue.

use chrono::{DateTime, TimeZone, Utc};

use crate::jwt::Claims;

/// What the shared database says about one token of an existing user.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TokenState {
    /// Tokens with `iat` before this (seconds) are revoked. Always a whole second.
    pub valid_after: Option<DateTime<Utc>>,
    /// Tokens whose `gen` is below this are revoked.
    pub generation: i64,
    /// This token's `jti` was logged out (and its row not yet swept).
    pub logged_out: bool,
}

/// `state` is `None` when the user does not exist (any more).
pub fn is_revoked(state: Option<&TokenState>, claims: &Claims) -> bool {
    match state {
        None => true,
        Some(s) => {
            s.logged_out
                || claims.generation.is_some_and(|g| g < s.generation)
                || s.valid_after
                    .is_some_and(|cutoff| claims.iat < ceil_secs(cutoff))
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

    fn token(iat: i64, generation: Option<i64>) -> Claims {
        Claims {
            sub: "1".into(),
            user_id: 1,
            username: "u".into(),
            email: "u@x.io".into(),
            role: "user".into(),
            iat,
            exp: iat + 3600,
            iss: "i".into(),
            aud: "a".into(),
            jti: "j".into(),
            generation,
        }
    }

    fn cut(valid_after: DateTime<Utc>) -> TokenState {
        TokenState {
            valid_after: Some(valid_after),
            ..TokenState::default()
        }
    }

    #[test]
    fn same_second_tokens_before_the_cutoff_die_and_after_it_live() {
        let before = issued_at(at(100, 300), None);
        let cutoff = next_cutoff(at(100, 700), None);
        let after = issued_at(at(100, 900), Some(cutoff));
        assert_eq!((before, after), (100, 101));
        assert!(is_revoked(Some(&cut(cutoff)), &token(before, None)));
        assert!(!is_revoked(Some(&cut(cutoff)), &token(after, None)));
    }

    #[test]
    fn a_second_cutoff_in_the_same_second_ends_the_token_of_the_first() {
        let first = next_cutoff(at(100, 100), None);
        let from_change = token(issued_at(at(100, 200), Some(first)), None);
        let second = next_cutoff(at(100, 300), Some(first));
        assert!(!is_revoked(Some(&cut(first)), &from_change));
        assert!(is_revoked(Some(&cut(second)), &from_change));
        let later = token(issued_at(at(100, 400), Some(second)), None);
        assert!(!is_revoked(Some(&cut(second)), &later));
    }

    #[test]
    fn an_older_generation_is_revoked_whatever_its_iat() {
        // A login that read generation 0 with the old hash, finishing after a change that
        // moved the cut-off and bumped the generation: its iat may even lie past the cut-off.
        let cutoff = next_cutoff(at(100, 700), None);
        let changed = TokenState {
            valid_after: Some(cutoff),
            generation: 1,
            logged_out: false,
        };
        assert!(is_revoked(Some(&changed), &token(105, Some(0))));
        assert!(!is_revoked(Some(&changed), &token(105, Some(1))));
        // A cut-off moved without a bump (an instance that predates generations) still
        // ends earlier tokens that carry one.
        assert!(is_revoked(Some(&changed), &token(100, Some(1))));
    }

    #[test]
    fn later_tokens_use_the_clock_and_missing_users_or_jtis_are_revoked() {
        let cutoff = next_cutoff(at(100, 0), None);
        assert_eq!(issued_at(at(205, 10), Some(cutoff)), 205);
        assert!(is_revoked(None, &token(205, Some(0))));
        let mut s = cut(cutoff);
        assert!(!is_revoked(Some(&s), &token(205, Some(0))));
        s.logged_out = true;
        assert!(is_revoked(Some(&s), &token(205, Some(0))));
        assert!(!is_revoked(Some(&TokenState::default()), &token(0, None)));
    }
}
