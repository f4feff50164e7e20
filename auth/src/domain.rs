//! Users, and registration and login input parsed once into types that cannot hold invalid
//! values. Plain values only: no HTTP, no storage.

use chrono::{DateTime, Utc};

/// 3–50 characters of `[A-Za-z0-9_.-]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Username(String);

impl Username {
    pub fn parse(raw: &str) -> Result<Self, &'static str> {
        let len = raw.chars().count();
        if !(3..=50).contains(&len) {
            return Err("must be 3 to 50 characters long");
        }
        if !raw
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
        {
            return Err("may contain only letters, digits, '_', '.' and '-'");
        }
        Ok(Self(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The form usernames are compared in: `Alice` and `alice` are one account.
    pub fn folded(&self) -> String {
        self.0.to_ascii_lowercase()
    }
}

/// A syntactically valid address of at most 100 characters, taken as sent (white space
/// around it is refused, as the request schema's pattern says). Kept as the user wrote it;
/// compared case-insensitively ([`Email::folded`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Email(String);

impl Email {
    pub fn parse(raw: &str) -> Result<Self, &'static str> {
        let email = raw.to_owned();
        if email.is_empty() {
            return Err("is required");
        }
        if email.chars().count() > 100 {
            return Err("must be at most 100 characters long");
        }
        let valid = email.split_once('@').is_some_and(|(local, domain)| {
            !local.is_empty()
                && local.len() <= 64
                && !domain.contains('@')
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
                && !domain.contains("..")
                && domain
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-'))
                && local
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "!#$%&'*+/=?^_`{|}~.-".contains(c))
                && !local.starts_with('.')
                && !local.ends_with('.')
                && !local.contains("..")
        });
        if !valid {
            return Err("must be a valid email address");
        }
        Ok(Self(email))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn folded(&self) -> String {
        self.0.to_ascii_lowercase()
    }
}

/// 8–72 bytes: bcrypt ignores everything past 72 bytes, so longer ones are refused rather
/// than silently truncated. Never printed.
#[derive(Clone, PartialEq, Eq)]
pub struct Password(String);

impl Password {
    pub fn parse(raw: String) -> Result<Self, &'static str> {
        match raw.len() {
            0..8 => Err("must be at least 8 bytes long"),
            73.. => Err("must be at most 72 bytes long"),
            _ if raw.contains('\0') => Err("must not contain NUL characters"),
            _ => Ok(Self(raw)),
        }
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Password {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Password(<redacted>)")
    }
}

/// A registration whose every field has been parsed.
#[derive(Debug, Clone)]
pub struct Registration {
    pub username: Username,
    pub email: Email,
    pub password: Password,
}

/// Login input. The username is bounded and checked for shape before any lookup, so an
/// over-long or malformed one costs nothing; the password is only bounded (a wrong one
/// must cost exactly as much as a wrong password for a real user).
#[derive(Debug, Clone)]
pub struct Credentials {
    pub username: Username,
    pub password: LoginPassword,
}

/// What a login attempt may present as a password: at most 72 bytes (bcrypt reads no
/// more), no NUL. Never printed.
#[derive(Clone)]
pub struct LoginPassword(String);

impl LoginPassword {
    pub fn parse(raw: String) -> Result<Self, &'static str> {
        if raw.is_empty() {
            return Err("is required");
        }
        if raw.len() > 72 {
            return Err("must be at most 72 bytes long");
        }
        if raw.contains('\0') {
            return Err("must not contain NUL characters");
        }
        Ok(Self(raw))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for LoginPassword {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LoginPassword(<redacted>)")
    }
}

/// A registered user as the rest of the service sees it (never with the password hash).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub id: i64,
    pub username: String,
    pub email: String,
    pub created_at: DateTime<Utc>,
    /// Which of the user's tokens are still good, as read with the user.
    pub epoch: TokenEpoch,
}

/// Where a user's live tokens begin (`token_contract::revocation_rule`): a password change
/// or logout-all moves both fields in one write; a token carries the generation, and an
/// `iat` at or after the cut-off, read together with the hash it was issued for.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TokenEpoch {
    /// Tokens issued before this were revoked.
    pub valid_after: Option<DateTime<Utc>>,
    /// Tokens carrying a lower generation were revoked.
    pub generation: i64,
}

impl User {
    /// Every user has this role; the claim exists for verifiers that authorise by role.
    pub const ROLE: &'static str = "user";
}

/// A password change: the current password is only bounded (like a login's), the new one
/// follows the registration rules.
#[derive(Debug, Clone)]
pub struct PasswordChange {
    pub current: LoginPassword,
    pub new: Password,
}

/// Which unique field a registration collided with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Taken {
    Username,
    Email,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usernames() {
        assert!(Username::parse("ab").is_err());
        assert!(Username::parse("abc").is_ok());
        assert!(Username::parse(&"a".repeat(50)).is_ok());
        assert!(Username::parse(&"a".repeat(51)).is_err());
        assert!(Username::parse("john doe").is_err());
        assert!(Username::parse("j.o-h_n9").is_ok());
    }

    #[test]
    fn emails() {
        let email = Email::parse("A@B.io").unwrap();
        assert_eq!(
            (email.as_str(), email.folded().as_str()),
            ("A@B.io", "a@b.io")
        );
        for bad in [
            "", "a", "a@b", "@b.io", "a@.io", "a@b..io", "a b@c.io", "a@b.io.", " a@b.io",
            "a@b.io\n",
        ] {
            assert!(Email::parse(bad).is_err(), "{bad}");
        }
        let long = format!("{}@example.com", "a".repeat(60));
        assert!(Email::parse(&long).is_ok());
        let too_long = format!("{}@{}.com", "a".repeat(50), "b".repeat(50));
        assert!(Email::parse(&too_long).is_err());
    }

    #[test]
    fn passwords_are_bounded_in_bytes_and_never_printed() {
        assert!(Password::parse("1234567".into()).is_err());
        assert!(Password::parse("12345678".into()).is_ok());
        assert!(Password::parse("é".repeat(36)).is_ok());
        assert!(Password::parse("é".repeat(37)).is_err());
        assert!(
            !format!("{:?}", Password::parse("secret-pass".into()).unwrap()).contains("secret")
        );
    }
}
