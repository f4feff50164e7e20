//! Registration and login input, parsed once into types that cannot hold invalid values.

use platform::{FieldError, input::required_string};

use crate::api::{LoginRequest, RegisterRequest};

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
}

/// A syntactically valid address of at most 100 characters, stored lower-cased so that
/// uniqueness does not depend on case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Email(String);

impl Email {
    pub fn parse(raw: &str) -> Result<Self, &'static str> {
        let email = raw.trim().to_ascii_lowercase();
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
}

/// 8–72 bytes: bcrypt ignores everything past 72 bytes, so longer ones are refused rather
/// than silently truncated. Never printed.
#[derive(Clone, PartialEq, Eq)]
pub struct Password(String);

impl Password {
    pub fn parse(raw: String) -> Result<Self, &'static str> {
        match raw.len() {
            0..8 => Err("must be at least 8 bytes long"),
            8..=72 => Ok(Self(raw)),
            _ => Err("must be at most 72 bytes long"),
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

#[derive(Debug, Clone)]
pub struct Registration {
    pub username: Username,
    pub email: Email,
    pub password: Password,
}

impl Registration {
    /// Validates every field and reports all the bad ones together.
    pub fn parse(req: RegisterRequest) -> Result<Self, Vec<FieldError>> {
        let mut errors = Vec::new();
        let username = required_string("username", req.username, &mut errors)
            .and_then(|u| collect(&mut errors, "username", Username::parse(&u)));
        let email = required_string("email", req.email, &mut errors)
            .and_then(|e| collect(&mut errors, "email", Email::parse(&e)));
        let password = required_string("password", req.password, &mut errors)
            .and_then(|p| collect(&mut errors, "password", Password::parse(p)));
        match (username, email, password) {
            (Some(username), Some(email), Some(password)) if errors.is_empty() => Ok(Self {
                username,
                email,
                password,
            }),
            _ => Err(errors),
        }
    }
}

/// Login input is only checked for presence: a malformed username simply does not exist,
/// and must cost the same as a wrong password.
#[derive(Debug, Clone)]
pub struct Credentials {
    pub username: String,
    pub password: String,
}

impl Credentials {
    pub fn parse(req: LoginRequest) -> Result<Self, Vec<FieldError>> {
        let mut errors = Vec::new();
        let username = required_string("username", req.username, &mut errors);
        let password = required_string("password", req.password, &mut errors);
        match (username, password) {
            (Some(username), Some(password)) if errors.is_empty() => {
                Ok(Self { username, password })
            }
            _ => Err(errors),
        }
    }
}

fn collect<T>(errors: &mut Vec<FieldError>, field: &str, r: Result<T, &'static str>) -> Option<T> {
    r.map_err(|msg| errors.push(FieldError::new(field, msg)))
        .ok()
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
        assert_eq!(Email::parse(" A@B.io ").unwrap().as_str(), "a@b.io");
        for bad in [
            "", "a", "a@b", "@b.io", "a@.io", "a@b..io", "a b@c.io", "a@b.io.",
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
