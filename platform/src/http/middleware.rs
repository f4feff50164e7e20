//! What happens to every request before and after its handler: a request id, a tracing
//! span, the body-size limit and read timeout, CORS, the error envelope for the framework's
//! own failures and for panics, the security headers, an access log line and a metric.

use std::{
    any::Any,
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::Instant,
};

use poem::{
    Endpoint, EndpointExt, IntoResponse, Request, Response,
    http::{HeaderValue, Method, StatusCode, header},
    middleware::CatchPanic,
};
use tracing::Instrument;

pub use crate::http::client_addr::client_ip;
use crate::{
    db,
    http::{
        deadlines::{RequestContext, Stage},
        error::{ApiError, envelope_for},
    },
    process::{cause::Cause, metrics, telemetry},
};

/// Request bodies larger than this are refused with 413.
pub const DEFAULT_BODY_LIMIT: usize = 64 * 1024;

pub const REQUEST_ID_HEADER: &str = "x-request-id";

#[derive(Clone, Debug)]
pub struct Settings {
    /// Short service name used in logs and metrics, e.g. `auth`.
    pub service: &'static str,
    pub cors_origins: Vec<String>,
    pub body_limit: usize,
}

/// Wraps a service's routes with the shared request plumbing.
pub fn wrap<E: Endpoint + 'static>(ep: E, settings: Settings) -> impl Endpoint<Output = Response> {
    let recorder = metrics::recorder(settings.service);
    let shared = Arc::new((settings, recorder));
    ep.with(CatchPanic::new().with_handler(panic_response))
        .around(move |ep, req| {
            let shared = shared.clone();
            async move {
                let (settings, recorder) = &*shared;
                let request_id = request_id(&req);
                let span = tracing::info_span!(
                    "request",
                    request_id = %request_id,
                    method = %req.method(),
                    path = %req.uri().path(),
                );
                let mut resp = handle(ep, req, settings, recorder).instrument(span).await;
                let headers = resp.headers_mut();
                if let Ok(v) = HeaderValue::from_str(&request_id) {
                    headers.insert(REQUEST_ID_HEADER, v);
                }
                // Browsers must not guess a type other than the declared one (an error body
                // rendered as HTML, say).
                headers.insert(
                    header::X_CONTENT_TYPE_OPTIONS,
                    HeaderValue::from_static("nosniff"),
                );
                Ok(resp)
            }
        })
}

async fn handle<E: Endpoint>(
    ep: Arc<E>,
    mut req: Request,
    settings: &Settings,
    recorder: &metrics::Recorder,
) -> Response {
    let started = Instant::now();
    let method = req.method().clone();
    let path = req.uri().path().to_owned();
    let origin = allowed_origin(&req, &settings.cors_origins);

    let resp = if let (Some(origin), true) = (&origin, is_preflight(&req)) {
        preflight(origin)
    } else if req.headers().get_all(header::AUTHORIZATION).iter().count() > 1 {
        // Which one would count is up to each layer's parser: refuse the ambiguity.
        ApiError::bad_request("Only one Authorization header is allowed").into_response()
    } else {
        match limit_body(&mut req, settings.body_limit).await {
            Err(resp) => resp,
            // Every database operation of the request shares one deadline.
            Ok(()) => db::budget::one_deadline(call(ep.as_ref(), req)).await,
        }
    };

    let mut resp = resp;
    if let Some(origin) = origin {
        add_cors_headers(&mut resp, &origin);
    }

    let status = resp.status().as_u16();
    let latency_ms = started.elapsed().as_secs_f64() * 1000.0;
    // The one line of a request, failed ones included: why it failed rides on it.
    let cause = resp.extensions_mut().remove::<Cause>();
    let (kind, sqlstate, cause) = match &cause {
        Some(c) => (
            Some(c.kind),
            c.sqlstate.as_deref(),
            Some(c.message.as_str()),
        ),
        None => (None, None, None),
    };
    // Load-balancer health checks arrive every few seconds per target: keep them out of the
    // info-level access log.
    if path.ends_with("/health") {
        tracing::debug!(status, latency_ms, "request completed");
    } else if status == 503 {
        // A dependency's outage, not a bug; its course is summarised by crate::db::outage.
        tracing::warn!(status, latency_ms, %method, kind, sqlstate, cause, "request completed");
    } else if status >= 500 {
        tracing::error!(status, latency_ms, %method, kind, sqlstate, cause, "request completed");
    } else {
        tracing::info!(
            status,
            latency_ms,
            kind,
            sqlstate,
            cause,
            "request completed"
        );
    }
    recorder.record(status, latency_ms);
    resp
}

/// Calls the handler; its errors (and, through `CatchPanic`, its panics) become the envelope, and a response it marked
/// with [`no_store`] gets `Cache-Control: no-store`.
async fn call<E: Endpoint>(ep: &E, mut req: Request) -> Response {
    let no_store_mark = Arc::new(AtomicBool::new(false));
    req.extensions_mut().insert(NoStore(no_store_mark.clone()));
    let paste_hint = authorization_hint(req.headers().get(header::AUTHORIZATION));
    let mut resp = match ep.call(req).await {
        Ok(resp) => envelope_non_json(resp.into_response()),
        Err(err) => {
            let mut api = envelope_for(&err);
            // Logged once, on the access line; a server error without a cause of its own is
            // described by what the framework says.
            let cause = api.cause.take().map(|c| *c).or_else(|| {
                err.status()
                    .is_server_error()
                    .then(|| Cause::new("internal", None, &err.to_string()))
            });
            let mut resp = api.into_response();
            if let Some(cause) = cause {
                resp.extensions_mut().insert(cause);
            }
            resp
        }
    };
    if let Some(hint) = paste_hint
        && resp.status() == StatusCode::UNAUTHORIZED
    {
        resp = ApiError::unauthorized(hint).into_response();
    }
    if no_store_mark.load(Ordering::Relaxed) {
        resp.headers_mut()
            .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    resp
}

/// A handler's panic, caught by poem's `CatchPanic`: the panic hook (telemetry) logged where;
/// the client learns nothing of it.
fn panic_response(panic: Box<dyn Any + Send>) -> Response {
    let message = format!(
        "handler panicked: {}",
        telemetry::panic_message(panic.as_ref())
    );
    let mut resp = ApiError::internal().into_response();
    resp.extensions_mut()
        .insert(Cause::new("panic", None, &message));
    resp
}

/// The two ways a token is usually pasted wrong (into Swagger UI's Authorize dialog, or a
/// hand-written header), each with the message that tells the fix, for when it is refused.
fn authorization_hint(value: Option<&HeaderValue>) -> Option<&'static str> {
    // The bearer extractor skips a value it cannot read as text (non-ASCII bytes) and
    // reports no token at all; a token was sent, and it is not a valid one.
    let Ok(value) = value?.to_str() else {
        return Some("Invalid token");
    };
    let value = value.trim();
    let mut words = value.split_whitespace();
    let first = words.next()?;
    if !first.eq_ignore_ascii_case("bearer") {
        Some(
            "The Authorization header must be `Bearer <token>`: the word Bearer, a space, \
             then the token from POST /auth/login",
        )
    } else if words
        .next()
        .is_some_and(|w| w.eq_ignore_ascii_case("bearer"))
    {
        Some(
            "Invalid token: the word Bearer is there twice. Paste the token alone \
             (Swagger UI adds Bearer itself)",
        )
    } else {
        None
    }
}

/// Set by the middleware on every request; see [`no_store`].
#[derive(Clone)]
struct NoStore(Arc<AtomicBool>);

/// Marks the response to `req` as one no cache may keep (it carries a token):
/// `Cache-Control: no-store`. For handlers; a no-op outside the middleware.
pub fn no_store(req: &Request) {
    if let Some(NoStore(mark)) = req.extensions().get::<NoStore>() {
        mark.store(true, Ordering::Relaxed);
    }
}

/// The id that ties a request's response to its log lines: the caller's, the load
/// balancer's trace root, or a new one.
// Not poem 3.1.12 `RequestId`: it reuses an incoming id unchecked, ignores `X-Amzn-Trace-Id`, and leaves the header off error responses.
fn request_id(req: &Request) -> String {
    let valid = |s: &str| {
        !s.is_empty()
            && s.len() <= 200
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_.:=/+".contains(&b))
    };
    if let Some(id) = req.header(REQUEST_ID_HEADER).filter(|s| valid(s)) {
        return id.to_owned();
    }
    if let Some(root) = req.header("x-amzn-trace-id").and_then(|v| {
        v.split(';')
            .find_map(|part| part.trim().strip_prefix("Root="))
            .filter(|s| valid(s))
    }) {
        return root.to_owned();
    }
    uuid::Uuid::new_v4().to_string()
}

/// Past the limit, up to this much more is read and thrown away before answering 413, so a
/// client still sending gets the answer instead of a reset connection. Beyond it, the
/// connection is simply closed.
const DRAIN_LIMIT: u64 = 1024 * 1024;

/// Reads the body under the size limit and, when served by [`crate::http::server`], under the
/// body read timeout; a body still arriving when shutdown's drain window ends is cut off, so
/// a stalled upload cannot hold the process for the whole grace.
async fn limit_body(req: &mut Request, limit: usize) -> Result<(), Response> {
    let Some(ctx) = req.extensions().get::<RequestContext>().cloned() else {
        return read_body(req, limit)
            .await
            .map_err(IntoResponse::into_response);
    };
    let mut stage = ctx.stage;
    // The rest of the body may still be on its way: answer, then close the connection.
    let closing = |status, message: &str| {
        let mut resp = ApiError::new(status, message).into_response();
        resp.headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
        resp
    };
    tokio::select! {
        read = tokio::time::timeout(ctx.body_read, read_body(req, limit)) => match read {
            Ok(result) => result.map_err(IntoResponse::into_response),
            Err(_) => Err(closing(
                StatusCode::REQUEST_TIMEOUT,
                "The request body was not received in time",
            )),
        },
        _ = stage.wait_for(|s| *s >= Stage::Stopping) => Err(closing(
            StatusCode::SERVICE_UNAVAILABLE,
            "The server is shutting down",
        )),
    }
}

async fn read_body(req: &mut Request, limit: usize) -> Result<(), ApiError> {
    use tokio::io::AsyncReadExt;

    let too_large = || {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("Request body exceeds the limit of {limit} bytes"),
        )
    };
    let declared = req
        .header(header::CONTENT_LENGTH)
        .and_then(|v| v.parse::<u64>().ok());
    if declared == Some(0) {
        return Ok(());
    }
    if declared.is_some_and(|len| len > limit as u64 + DRAIN_LIMIT) {
        return Err(too_large());
    }
    let body = req.take_body();
    if body.is_empty() {
        // Known to be empty (a GET, usually): nothing to read, no buffer to allocate.
        req.set_body(body);
        return Ok(());
    }
    // Chunked bodies carry no length, and a declared one may lie: read at most `limit`
    // bytes, and drain (bounded) what comes after.
    let mut reader = body.into_async_read();
    let mut body = Vec::with_capacity(declared.map_or(8 * 1024, |l| l.min(limit as u64) as usize));
    let unreadable = |_| ApiError::bad_request("Could not read the request body");
    let read = (&mut reader)
        .take(limit as u64 + 1)
        .read_to_end(&mut body)
        .await
        .map_err(unreadable)?;
    if read > limit {
        let _ = tokio::io::copy(&mut reader.take(DRAIN_LIMIT), &mut tokio::io::sink()).await;
        return Err(too_large());
    }
    req.set_body(body);
    Ok(())
}

/// Any error response the framework produced without a JSON body gets the envelope; its
/// other headers (`Allow`, `Retry-After`) stay.
fn envelope_non_json(resp: Response) -> Response {
    let status = resp.status();
    let is_json = resp
        .content_type()
        .is_some_and(|ct| ct.starts_with("application/json"));
    if (status.is_client_error() || status.is_server_error()) && !is_json {
        let mut envelope = envelope_for(&poem::Error::from_status(status)).into_response();
        for (name, value) in resp.headers() {
            if name != header::CONTENT_TYPE && name != header::CONTENT_LENGTH {
                envelope.headers_mut().append(name, value.clone());
            }
        }
        return envelope;
    }
    resp
}

// Not poem 3.1.12 `Cors`: it answers an unlisted origin (even on a plain GET) with a plain-text 403, the contract serves it without CORS headers.
fn allowed_origin(req: &Request, allowed: &[String]) -> Option<String> {
    let origin = req.header(header::ORIGIN)?;
    allowed
        .iter()
        .any(|o| o == "*" || o.eq_ignore_ascii_case(origin))
        .then(|| origin.to_owned())
}

fn is_preflight(req: &Request) -> bool {
    req.method() == Method::OPTIONS
        && req
            .headers()
            .contains_key(header::ACCESS_CONTROL_REQUEST_METHOD)
}

fn preflight(origin: &str) -> Response {
    let mut resp = Response::builder()
        .status(StatusCode::NO_CONTENT)
        .header(
            header::ACCESS_CONTROL_ALLOW_METHODS,
            "GET, POST, PUT, DELETE",
        )
        .header(
            header::ACCESS_CONTROL_ALLOW_HEADERS,
            "Authorization, Content-Type, X-Request-Id",
        )
        .header(header::ACCESS_CONTROL_MAX_AGE, "600")
        .finish();
    add_cors_headers(&mut resp, origin);
    resp
}

fn add_cors_headers(resp: &mut Response, origin: &str) {
    let headers = resp.headers_mut();
    if let Ok(v) = HeaderValue::from_str(origin) {
        headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, v);
    }
    headers.insert(header::VARY, HeaderValue::from_static("Origin"));
    headers.insert(
        header::ACCESS_CONTROL_EXPOSE_HEADERS,
        HeaderValue::from_static("X-Request-Id, Retry-After"),
    );
}
