//! The bodies the auth API reads and writes, and their conversion into domain types.

use chrono::{DateTime, Utc};
use platform::{
    FieldError,
    http::input::{Field, Invalid, Required, Text, TextRules},
};
use poem_openapi::{Object, registry::MetaSchema, types::Example};
use serde_json::Value;
use token_contract::jwt::Claims;

use crate::{
    app::tokens::Issued,
    domain::{
        Credentials, Email, LoginPassword, Password, PasswordChange, Registration, User, Username,
    },
};

// The request examples sit on the fields' rules (below) and are one account's (`alice`,
// `correct-horse-battery`), so that Swagger UI's pre-filled bodies work when sent as they
// are: register, log in, change the password (to the same one), delete. Field-level,
// because poem-openapi's object example leaves out write-only fields.
/// A new account.
#[derive(Object, Debug)]
pub struct RegisterRequest {
    /// 3–50 characters of letters, digits, `_`, `.` and `-`; unique regardless of case.
    pub username: Required<Text<UsernameRules>>,
    /// A valid address of at most 100 characters; unique regardless of case.
    pub email: Required<Text<EmailRules>>,
    /// 8–72 bytes in UTF-8, no NUL.
    #[oai(write_only)]
    pub password: Required<Text<PasswordRules>>,
}

impl TryFrom<RegisterRequest> for Registration {
    type Error = Vec<FieldError>;

    /// Validates every field and reports all the bad ones together.
    fn try_from(req: RegisterRequest) -> Result<Self, Self::Error> {
        let mut invalid = Invalid::default();
        let username = invalid
            .required_string("username", req.username)
            .and_then(|u| invalid.check("username", Username::parse(&u)));
        let email = invalid
            .required_string("email", req.email)
            .and_then(|e| invalid.check("email", Email::parse(&e)));
        let password = invalid
            .required_string("password", req.password)
            .and_then(|p| invalid.check("password", Password::parse(p)));
        let parsed = match (username, email, password) {
            (Some(username), Some(email), Some(password)) => Some(Self {
                username,
                email,
                password,
            }),
            _ => None,
        };
        invalid.finish(parsed)
    }
}

#[derive(Object, Debug)]
pub struct LoginRequest {
    /// Matched regardless of case; a name that could never be registered is refused (400).
    pub username: Required<Text<UsernameRules>>,
    /// At most 72 bytes in UTF-8.
    #[oai(write_only)]
    pub password: Required<Text<LoginPasswordRules>>,
}

impl LoginRequest {
    /// NUL never matches a stored name or password: the contract answers it like a wrong
    /// password (401), not as malformed input.
    pub fn has_nul(&self) -> bool {
        fn nul<R>(f: &Required<Text<R>>) -> bool {
            matches!(f, Field::Value(v) if v.0.contains('\0'))
        }
        nul(&self.username) || nul(&self.password)
    }
}

impl TryFrom<LoginRequest> for Credentials {
    type Error = Vec<FieldError>;

    /// Refuses over-long or malformed input before it costs a lookup.
    fn try_from(req: LoginRequest) -> Result<Self, Self::Error> {
        let mut invalid = Invalid::default();
        let username = invalid
            .required_string("username", req.username)
            .and_then(|u| invalid.check("username", Username::parse(&u)));
        let password = invalid
            .required_string("password", req.password)
            .and_then(|p| invalid.check("password", LoginPassword::parse(p)));
        let parsed = username
            .zip(password)
            .map(|(username, password)| Self { username, password });
        invalid.finish(parsed)
    }
}

#[derive(Object)]
#[oai(example)]
pub struct RegisteredUser {
    pub id: i64,
    pub username: String,
    pub email: String,
    pub created_at: DateTime<Utc>,
}

impl From<User> for RegisteredUser {
    fn from(u: User) -> Self {
        Self {
            id: u.id,
            username: u.username,
            email: u.email,
            created_at: u.created_at,
        }
    }
}

#[derive(Object)]
#[oai(example)]
pub struct RegisterResponse {
    pub message: String,
    pub user: RegisteredUser,
}

/// What the examples show: the account of the request examples, registered once.
const EXAMPLE_ID: i64 = 1;
const EXAMPLE_USERNAME: &str = "alice";
const EXAMPLE_EMAIL: &str = "alice@example.com";
const EXAMPLE_PASSWORD: &str = "correct-horse-battery";
/// 2026-01-15T09:30:00Z.
const EXAMPLE_CREATED_AT: i64 = 1_768_469_400;

impl Example for RegisteredUser {
    fn example() -> Self {
        Self {
            id: EXAMPLE_ID,
            username: EXAMPLE_USERNAME.into(),
            email: EXAMPLE_EMAIL.into(),
            created_at: DateTime::from_timestamp(EXAMPLE_CREATED_AT, 0).unwrap_or_default(),
        }
    }
}

impl Example for RegisterResponse {
    fn example() -> Self {
        Self {
            message: "User registered successfully".into(),
            user: RegisteredUser::example(),
        }
    }
}

#[derive(Object)]
#[oai(example)]
pub struct LoginUser {
    pub id: i64,
    pub username: String,
    pub email: String,
}

impl Example for LoginUser {
    fn example() -> Self {
        Self {
            id: EXAMPLE_ID,
            username: EXAMPLE_USERNAME.into(),
            email: EXAMPLE_EMAIL.into(),
        }
    }
}

#[derive(Object)]
#[oai(example)]
pub struct LoginResponse {
    pub message: String,
    /// The access token: an EdDSA-signed JWT. Send it as `Authorization: Bearer <token>`.
    pub token: String,
    /// Always `Bearer`.
    pub token_type: String,
    /// Seconds until the token expires.
    pub expires_in: u64,
    pub user: LoginUser,
}

impl Example for LoginResponse {
    fn example() -> Self {
        Self {
            message: "Login successful".into(),
            token: "eyJhbGciOiJFZERTQSIsImtpZCI6IjNmMmE5YyIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxIiwidXNlcl9pZCI6MX0.c2lnbmF0dXJl".into(),
            token_type: "Bearer".into(),
            expires_in: 3600,
            user: LoginUser::example(),
        }
    }
}

impl LoginResponse {
    pub fn new(message: &str, user: User, issued: Issued) -> Self {
        Self {
            message: message.into(),
            token: issued.token,
            token_type: "Bearer".into(),
            expires_in: issued.expires_in,
            user: LoginUser {
                id: user.id,
                username: user.username,
                email: user.email,
            },
        }
    }
}

#[derive(Object)]
#[oai(example)]
pub struct TokenUser {
    pub user_id: i64,
    pub username: String,
    pub email: String,
    pub role: String,
}

impl From<Claims> for TokenUser {
    fn from(c: Claims) -> Self {
        Self {
            user_id: c.user_id,
            username: c.username,
            email: c.email,
            role: c.role,
        }
    }
}

impl Example for TokenUser {
    fn example() -> Self {
        Self {
            user_id: EXAMPLE_ID,
            username: EXAMPLE_USERNAME.into(),
            email: EXAMPLE_EMAIL.into(),
            role: User::ROLE.into(),
        }
    }
}

#[derive(Object)]
#[oai(example)]
pub struct ValidateResponse {
    /// Always `true`: an invalid token is answered with 401.
    pub valid: bool,
    pub user: TokenUser,
}

impl Example for ValidateResponse {
    fn example() -> Self {
        Self {
            valid: true,
            user: TokenUser::example(),
        }
    }
}

#[derive(Object)]
pub struct ReadyResponse {
    /// `ready`
    pub status: String,
    /// `ok`
    pub database: String,
}

/// The caller's account.
#[derive(Object)]
#[oai(example)]
pub struct AccountUser {
    pub id: i64,
    pub username: String,
    pub email: String,
    /// Always `user`.
    pub role: String,
    pub created_at: DateTime<Utc>,
}

impl Example for AccountUser {
    fn example() -> Self {
        Self {
            id: EXAMPLE_ID,
            username: EXAMPLE_USERNAME.into(),
            email: EXAMPLE_EMAIL.into(),
            role: User::ROLE.into(),
            created_at: DateTime::from_timestamp(EXAMPLE_CREATED_AT, 0).unwrap_or_default(),
        }
    }
}

#[derive(Object)]
#[oai(example)]
pub struct MeResponse {
    pub user: AccountUser,
}

impl Example for MeResponse {
    fn example() -> Self {
        Self {
            user: AccountUser::example(),
        }
    }
}

impl From<User> for MeResponse {
    fn from(u: User) -> Self {
        Self {
            user: AccountUser {
                id: u.id,
                username: u.username,
                email: u.email,
                role: User::ROLE.into(),
                created_at: u.created_at,
            },
        }
    }
}

#[derive(Object, Debug)]
pub struct ChangePasswordRequest {
    /// The password the account has now: at most 72 bytes in UTF-8.
    #[oai(write_only)]
    pub current_password: Required<Text<LoginPasswordRules>>,
    /// 8–72 bytes in UTF-8, no NUL, as at registration.
    #[oai(write_only)]
    pub new_password: Required<Text<PasswordRules>>,
}

impl TryFrom<ChangePasswordRequest> for PasswordChange {
    type Error = Vec<FieldError>;

    fn try_from(req: ChangePasswordRequest) -> Result<Self, Self::Error> {
        let mut invalid = Invalid::default();
        let current = invalid
            .required_string("current_password", req.current_password)
            .and_then(|p| invalid.check("current_password", LoginPassword::parse(p)));
        let new = invalid
            .required_string("new_password", req.new_password)
            .and_then(|p| invalid.check("new_password", Password::parse(p)));
        let parsed = current.zip(new).map(|(current, new)| Self { current, new });
        invalid.finish(parsed)
    }
}

#[derive(Object, Debug)]
pub struct DeleteAccountRequest {
    /// The account's password, to confirm: at most 72 bytes in UTF-8.
    #[oai(write_only)]
    pub password: Required<Text<LoginPasswordRules>>,
}

impl TryFrom<DeleteAccountRequest> for LoginPassword {
    type Error = Vec<FieldError>;

    fn try_from(req: DeleteAccountRequest) -> Result<Self, Self::Error> {
        let mut invalid = Invalid::default();
        let password = invalid
            .required_string("password", req.password)
            .and_then(|p| invalid.check("password", LoginPassword::parse(p)));
        invalid.finish(password)
    }
}

#[derive(Object)]
pub struct Message {
    pub message: String,
}

impl Message {
    pub fn new(message: &str) -> Self {
        Self {
            message: message.into(),
        }
    }
}

/// [`Username::parse`]: 3–50 characters of `[A-Za-z0-9_.-]`.
#[derive(Debug, Clone, PartialEq)]
pub struct UsernameRules;

impl TextRules for UsernameRules {
    const NAME: &'static str = "string(username)";

    fn schema() -> MetaSchema {
        MetaSchema {
            min_length: Some(3),
            max_length: Some(50),
            pattern: Some("^[A-Za-z0-9_.-]{3,50}$".into()),
            example: Some(Value::from(EXAMPLE_USERNAME)),
            ..MetaSchema::new("string")
        }
    }
}

/// Exactly what [`Email::parse`] accepts: a dot-atom local part of at most 64 characters
/// (the lookahead), `@`, and a domain of at least two dot-separated labels.
#[derive(Debug, Clone, PartialEq)]
pub struct EmailRules;

const EMAIL: &str = concat!(
    r"^(?![^@]{65})",
    r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*",
    r"@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+$",
);

impl TextRules for EmailRules {
    const NAME: &'static str = "string(email)";

    fn schema() -> MetaSchema {
        MetaSchema {
            max_length: Some(100),
            pattern: Some(EMAIL.into()),
            example: Some(Value::from(EXAMPLE_EMAIL)),
            ..MetaSchema::new("string")
        }
    }
}

/// No NUL anywhere.
const NO_NUL: &str = r"^[^\u0000]*$";

/// [`Password::parse`]: 8–72 bytes of UTF-8, no NUL. JSON Schema counts characters, not
/// bytes, so `maxLength` is the bound for ASCII only: a longer password in more than one
/// byte a character is refused although the schema allows it (the field's description
/// says so).
#[derive(Debug, Clone, PartialEq)]
pub struct PasswordRules;

impl TextRules for PasswordRules {
    const NAME: &'static str = "string(password)";

    fn schema() -> MetaSchema {
        MetaSchema {
            min_length: Some(8),
            max_length: Some(72),
            pattern: Some(NO_NUL.into()),
            example: Some(Value::from(EXAMPLE_PASSWORD)),
            ..MetaSchema::new("string")
        }
    }
}

/// [`LoginPassword::parse`]: 1–72 bytes of UTF-8, no NUL; characters against bytes as for
/// [`PasswordRules`].
#[derive(Debug, Clone, PartialEq)]
pub struct LoginPasswordRules;

impl TextRules for LoginPasswordRules {
    const NAME: &'static str = "string(login_password)";

    fn schema() -> MetaSchema {
        MetaSchema {
            min_length: Some(1),
            max_length: Some(72),
            pattern: Some(NO_NUL.into()),
            example: Some(Value::from(EXAMPLE_PASSWORD)),
            ..MetaSchema::new("string")
        }
    }
}
