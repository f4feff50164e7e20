//! The contract's error envelope, and the one response type every handler fails with.
//!
//! Services define their own domain error enums and convert them into [`ApiError`]; the
//! request middleware converts the framework's own failures (routing, body parsing, limits)
//! into the same shape, so a client only ever sees one kind of error body.

use poem::{IntoResponse, Response, http::StatusCode};
use poem_openapi::{
    ApiResponse, Object,
    registry::{MetaHeader, MetaMediaType, MetaResponse, MetaResponses, Registry},
    types::{ToJSON, Type},
};

use crate::process::cause::Cause;

/// One invalid input field.
#[derive(Object, Clone, Debug, PartialEq, Eq, serde::Deserialize)]
pub struct FieldError {
    /// Name of the offending field.
    pub field: String,
    /// What is wrong with it.
    pub message: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }
}

/// Body of every error response.
#[derive(Object, Clone, Debug, serde::Deserialize)]
#[oai(skip_serializing_if_is_none)]
pub struct ErrorBody {
    /// The HTTP reason phrase, e.g. `Bad Request`.
    pub error: String,
    /// A human-readable sentence.
    pub message: String,
    /// One entry per invalid field; present only for validation errors.
    pub details: Option<Vec<FieldError>>,
}

/// `Retry-After` of a 503, in seconds: how often an open circuit lets a trial through
/// ([`crate::db::circuit::RETRY_INTERVAL`]), so a retry is the earliest that can succeed.
pub const UNAVAILABLE_RETRY_AFTER: u64 = 1;

/// An error response in the contract's envelope.
#[derive(Debug, Clone)]
pub struct ApiError {
    pub status: StatusCode,
    pub message: String,
    pub details: Option<Vec<FieldError>>,
    pub retry_after: Option<u64>,
    /// Why, for the access line (the middleware logs it); never sent.
    pub cause: Option<Box<Cause>>,
}

impl ApiError {
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
            details: None,
            retry_after: None,
            cause: None,
        }
    }

    /// The same response, with why it happened for the access line.
    pub fn with_cause(mut self, cause: Cause) -> Self {
        self.cause = Some(Box::new(cause));
        self
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, message)
    }

    pub fn validation(details: Vec<FieldError>) -> Self {
        let mut err = Self::bad_request("Validation failed");
        err.details = Some(details);
        err
    }

    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, message)
    }

    pub fn forbidden() -> Self {
        Self::new(
            StatusCode::FORBIDDEN,
            "You do not have permission to access this resource",
        )
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, message)
    }

    pub fn conflict(message: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, message)
    }

    pub fn too_many_requests(retry_after_secs: u64) -> Self {
        let mut err = Self::new(
            StatusCode::TOO_MANY_REQUESTS,
            "Too many failed attempts; try again later",
        );
        err.retry_after = Some(retry_after_secs.max(1));
        err
    }

    /// A dependency is down or too slow; the client may retry after [`UNAVAILABLE_RETRY_AFTER`].
    pub fn unavailable(message: impl Into<String>) -> Self {
        let mut err = Self::new(StatusCode::SERVICE_UNAVAILABLE, message);
        err.retry_after = Some(UNAVAILABLE_RETRY_AFTER);
        err
    }

    /// A genuine bug. Give it its cause ([`ApiError::with_cause`]): the access line shows
    /// it; the client sees nothing of it.
    pub fn internal() -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "Internal server error")
    }

    pub fn body(&self) -> ErrorBody {
        ErrorBody {
            error: self.status.canonical_reason().unwrap_or("Error").to_owned(),
            message: self.message.clone(),
            details: self.details.clone(),
        }
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.status, self.message)
    }
}

impl std::error::Error for ApiError {}

impl poem::error::ResponseError for ApiError {
    fn status(&self) -> StatusCode {
        self.status
    }

    fn as_response(&self) -> Response {
        self.clone().into_response()
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = self.body().to_json_string();
        let mut resp = Response::builder()
            .status(self.status)
            .content_type("application/json; charset=utf-8")
            .body(body);
        if let Some(secs) = self.retry_after {
            resp.headers_mut()
                .insert("retry-after", secs.to_string().parse().expect("digits"));
        }
        resp
    }
}

/// The error statuses an operation documents, as a bit set: `Errors<{ BAD_REQUEST | CONFLICT }>`.
pub mod status {
    pub const BAD_REQUEST: u16 = 1 << 0;
    pub const UNAUTHORIZED: u16 = 1 << 1;
    pub const FORBIDDEN: u16 = 1 << 2;
    pub const NOT_FOUND: u16 = 1 << 3;
    pub const CONFLICT: u16 = 1 << 4;
    pub const PAYLOAD_TOO_LARGE: u16 = 1 << 5;
    pub const UNSUPPORTED_MEDIA_TYPE: u16 = 1 << 6;
    pub const TOO_MANY_REQUESTS: u16 = 1 << 7;
    pub const INTERNAL: u16 = 1 << 8;
    pub const UNAVAILABLE: u16 = 1 << 9;
    pub const PRECONDITION_FAILED: u16 = 1 << 10;
    pub const UNPROCESSABLE: u16 = 1 << 11;
    pub const GONE: u16 = 1 << 12;
    /// What any operation with a JSON body can answer before its handler runs.
    pub const JSON_BODY: u16 = BAD_REQUEST | PAYLOAD_TOO_LARGE | UNSUPPORTED_MEDIA_TYPE;
    /// What any operation behind a bearer token can answer.
    pub const BEARER: u16 = UNAUTHORIZED | UNAVAILABLE;
}

const DOCUMENTED: &[(u16, u16, &str)] = &[
    (
        status::BAD_REQUEST,
        400,
        "Malformed JSON or failed validation",
    ),
    (
        status::UNAUTHORIZED,
        401,
        "Missing, invalid or expired token, or wrong credentials",
    ),
    (
        status::FORBIDDEN,
        403,
        "Not allowed: the resource belongs to another user, or a quota is reached",
    ),
    (status::NOT_FOUND, 404, "No such resource"),
    (status::CONFLICT, 409, "Conflict with an existing resource"),
    (
        status::GONE,
        410,
        "The resource the request refers to existed and has been deleted",
    ),
    (
        status::PRECONDITION_FAILED,
        412,
        "If-Match does not name the resource's current version",
    ),
    (
        status::PAYLOAD_TOO_LARGE,
        413,
        "Request body over the size limit (64 KiB)",
    ),
    (
        status::UNSUPPORTED_MEDIA_TYPE,
        415,
        "Content type is not application/json",
    ),
    (
        status::UNPROCESSABLE,
        422,
        "Well-formed, but not processable (e.g. an Idempotency-Key reused with another body)",
    ),
    (
        status::TOO_MANY_REQUESTS,
        429,
        "Rate limited; see Retry-After",
    ),
    (status::INTERNAL, 500, "Internal error"),
    (
        status::UNAVAILABLE,
        503,
        "A dependency (database, key set) is unavailable",
    ),
];

/// [`ApiError`] as an operation's error type, documenting in the spec only the statuses in
/// `S` (a set of [`status`] bits; 500 is always included).
#[derive(Debug, Clone)]
pub struct Errors<const S: u16>(pub ApiError);

impl<const S: u16> From<ApiError> for Errors<S> {
    fn from(e: ApiError) -> Self {
        Self(e)
    }
}

impl<const S: u16> From<Errors<S>> for poem::Error {
    fn from(e: Errors<S>) -> Self {
        // The middleware finds the envelope by downcasting to `ApiError`.
        poem::Error::from(e.0)
    }
}

impl<const S: u16> ApiResponse for Errors<S> {
    const BAD_REQUEST_HANDLER: bool = true;

    fn meta() -> MetaResponses {
        let wanted = S | status::INTERNAL;
        MetaResponses {
            responses: DOCUMENTED
                .iter()
                .filter(|(bit, _, _)| wanted & bit != 0)
                .map(|(_, code, description)| MetaResponse {
                    description,
                    status: Some(*code),
                    status_range: None,
                    content: vec![MetaMediaType {
                        content_type: "application/json; charset=utf-8",
                        schema: ErrorBody::schema_ref(),
                    }],
                    // Lowercase, as clients read it (see `header::LowercaseHeaders`).
                    headers: match code {
                        429 | 503 => vec![MetaHeader {
                            name: "retry-after".into(),
                            description: Some("Seconds to wait before retrying".into()),
                            required: true,
                            deprecated: false,
                            schema: u64::schema_ref(),
                        }],
                        409 => vec![MetaHeader {
                            name: "retry-after".into(),
                            description: Some(
                                "With a request of the same Idempotency-Key still in progress: \
                                 seconds until its claim on the key lapses"
                                    .into(),
                            ),
                            required: false,
                            deprecated: false,
                            schema: u64::schema_ref(),
                        }],
                        _ => vec![],
                    },
                })
                .collect(),
        }
    }

    fn register(registry: &mut Registry) {
        ErrorBody::register(registry);
    }

    fn from_parse_request_error(err: poem::Error) -> Self {
        Self(envelope_for(&err))
    }
}

/// Maps any error the framework raises (routing, extractors, parsers) to the envelope.
pub fn envelope_for(err: &poem::Error) -> ApiError {
    use poem_openapi::error::{
        AuthorizationError, ContentTypeError, ParseParamError, ParsePathError,
        ParseRequestPayloadError,
    };
    if let Some(e) = err.downcast_ref::<ApiError>() {
        return e.clone();
    }
    if let Some(e) = err.downcast_ref::<ParseParamError>() {
        let mut api = ApiError::bad_request(format!("Invalid parameter `{}`", e.name));
        api.details = Some(vec![FieldError::new(e.name, without_values(&e.reason))]);
        return api;
    }
    if let Some(e) = err.downcast_ref::<ParsePathError>() {
        let mut api = ApiError::bad_request(format!("Invalid path parameter `{}`", e.name));
        api.details = Some(vec![FieldError::new(e.name, "must be an integer id")]);
        return api;
    }
    if let Some(e) = err.downcast_ref::<ParseRequestPayloadError>() {
        return ApiError::bad_request(format!(
            "Malformed JSON body: {}",
            without_values(&e.reason)
        ));
    }
    if err.is::<ContentTypeError>() {
        return ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "Content-Type must be application/json",
        );
    }
    if err.is::<AuthorizationError>() {
        return ApiError::unauthorized("No authentication token provided");
    }
    let status = err.status();
    let message = match status {
        StatusCode::NOT_FOUND => "The requested resource was not found",
        StatusCode::METHOD_NOT_ALLOWED => "Method not allowed for this resource",
        StatusCode::PAYLOAD_TOO_LARGE => "Request body is too large",
        StatusCode::UNSUPPORTED_MEDIA_TYPE => "Content-Type must be application/json",
        StatusCode::BAD_REQUEST => "Bad request",
        s if s.is_server_error() => "Internal server error",
        _ => status.canonical_reason().unwrap_or("Error"),
    };
    ApiError::new(status, message)
}

/// A parser's complaint, saying what was expected and where, never what was sent: a body of
/// the wrong shape may hold a password, and poem-openapi's messages quote the value found
/// (`Expected input type "T", found <value>`, `failed to parse "T": <detail>`). They name
/// the expected type first, in quotes; serde_json's syntax errors give only a position;
/// validators' messages quote the rule.
fn without_values(reason: &str) -> String {
    let reason = reason
        .split(" (occurred while parsing")
        .next()
        .unwrap_or(reason)
        .trim()
        .trim_end_matches('.');
    let is_position = |r: &str| {
        r.rsplit_once(" at line ").is_some_and(|(what, at)| {
            !what.contains(['"', '`', '\''])
                && at.split(" column ").all(|n| n.parse::<u64>().is_ok())
        })
    };
    if reason.starts_with("verification failed") || is_position(reason) {
        return reason.to_owned();
    }
    let quoted_type = |prefix: &str| {
        let rest = reason.strip_prefix(prefix)?;
        Some(type_name(rest.split('"').next()?))
    };
    if let Some(ty) = quoted_type("Type \"") {
        format!("{ty} is required")
    } else if let Some(ty) =
        quoted_type("Expected input type \"").or_else(|| quoted_type("failed to parse \""))
    {
        format!("expected {ty}")
    } else {
        "could not be parsed".to_owned()
    }
}

/// A schema type name as a reader would say it: `integer_int64` is an integer.
fn type_name(ty: &str) -> String {
    let base = ty.split('_').next().unwrap_or(ty);
    match base {
        "integer" => "an integer".to_owned(),
        "number" => "a number".to_owned(),
        "string" => "a string".to_owned(),
        "boolean" => "true or false".to_owned(),
        _ if ty.len() <= 40 && ty.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') => {
            format!("`{ty}`")
        }
        _ => "another type".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::without_values;

    #[test]
    fn parser_messages_lose_the_values_they_quote() {
        for (reason, said) in [
            (
                r#"Expected input type "LoginRequest", found ["a","secret-pw"]."#,
                "expected `LoginRequest`",
            ),
            (
                r#"failed to parse "integer_int64": invalid digit in "secret-pw" (occurred while parsing "Page")"#,
                "expected an integer",
            ),
            (
                r#"Type "string" expects an input value."#,
                "a string is required",
            ),
            (
                "expected value at line 1 column 13",
                "expected value at line 1 column 13",
            ),
            (
                "verification failed. maxLength(255)",
                "verification failed. maxLength(255)",
            ),
            ("unknown field `secret-pw`", "could not be parsed"),
            (
                "invalid value \"secretpw\" at line 1 column 2",
                "could not be parsed",
            ),
        ] {
            assert_eq!(without_values(reason), said, "{reason}");
        }
    }
}
