//! The path router that stands in for the load balancer locally: `/auth/*` to auth,
//! `/tasks/*` to task, like the ALB's listener rules in the cloud.

use std::time::Duration;

use platform::ApiError;
use poem::{
    Body, Endpoint, IntoResponse, Request, Response,
    endpoint::make,
    http::{HeaderName, HeaderValue},
};

/// Generous: the services enforce their own 64 KiB limit and answer in the envelope.
const MAX_BODY: usize = 1024 * 1024;

const HOP_BY_HOP: &[&str] = &[
    "connection",
    "keep-alive",
    "proxy-connection",
    "transfer-encoding",
    "te",
    "trailer",
    "upgrade",
    "host",
    "content-length",
];

#[derive(Clone, Debug)]
pub struct Upstreams {
    pub auth: String,
    pub task: String,
}

impl Upstreams {
    fn pick(&self, path: &str) -> Option<&str> {
        let under = |prefix: &str| path == prefix || path.starts_with(&format!("{prefix}/"));
        if under("/auth") {
            Some(&self.auth)
        } else if under("/tasks") {
            Some(&self.task)
        } else {
            None
        }
    }
}

pub fn router(upstreams: Upstreams) -> anyhow::Result<impl Endpoint> {
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .connect_timeout(Duration::from_secs(2))
        .redirect(reqwest::redirect::Policy::none())
        .build()?;
    Ok(make(move |req: Request| {
        let http = http.clone();
        let upstreams = upstreams.clone();
        async move { Ok::<_, poem::Error>(forward(&http, &upstreams, req).await) }
    }))
}

/// The starting page at `/` and `/docs`: where a token comes from, and both Swagger UIs.
const DOCS_PAGE: &str = include_str!("docs.html");

async fn forward(http: &reqwest::Client, upstreams: &Upstreams, req: Request) -> Response {
    if matches!(req.uri().path(), "/" | "/docs" | "/docs/")
        && req.method() == poem::http::Method::GET
    {
        return poem::web::Html(DOCS_PAGE).into_response();
    }
    let path_and_query = req
        .uri()
        .path_and_query()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| "/".into());
    let Some(base) = upstreams.pick(req.uri().path()) else {
        return ApiError::not_found("The requested resource was not found").into_response();
    };
    let url = format!("{base}{path_and_query}");
    let client = req
        .remote_addr()
        .as_socket_addr()
        .map(|a| a.ip().to_string());
    let mut out = http.request(req.method().clone(), &url);
    for (name, value) in req.headers() {
        if !HOP_BY_HOP.contains(&name.as_str()) && name != "x-forwarded-for" {
            out = out.header(name, value);
        }
    }
    // Like the ALB: append the peer to X-Forwarded-For.
    let forwarded = match (req.header("x-forwarded-for"), client) {
        (Some(prev), Some(ip)) => Some(format!("{prev}, {ip}")),
        (None, Some(ip)) => Some(ip),
        (prev, None) => prev.map(str::to_owned),
    };
    if let Some(f) = forwarded {
        out = out.header("x-forwarded-for", f);
    }
    out = out.header("x-forwarded-proto", "http");
    let body = match req.into_body().into_bytes_limit(MAX_BODY).await {
        Ok(b) => b,
        Err(_) => {
            return ApiError::new(
                poem::http::StatusCode::PAYLOAD_TOO_LARGE,
                "Request body is too large",
            )
            .into_response();
        }
    };
    let upstream = match out.body(body).send().await {
        Ok(r) => r,
        Err(e) => {
            tracing::warn!(error = %e, %url, "upstream unavailable");
            return ApiError::unavailable("The service is unavailable; try again shortly")
                .into_response();
        }
    };
    let mut resp = Response::builder().status(upstream.status());
    for (name, value) in upstream.headers() {
        if !HOP_BY_HOP.contains(&name.as_str())
            && let (Ok(n), Ok(v)) = (
                HeaderName::from_bytes(name.as_str().as_bytes()),
                HeaderValue::from_bytes(value.as_bytes()),
            )
        {
            resp = resp.header(n, v);
        }
    }
    match upstream.bytes().await {
        Ok(bytes) => resp.body(Body::from(bytes)),
        Err(_) => ApiError::unavailable("The service did not finish its answer").into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_by_prefix_like_the_load_balancer() {
        let u = Upstreams {
            auth: "A".into(),
            task: "T".into(),
        };
        assert_eq!(u.pick("/auth/login"), Some("A"));
        assert_eq!(u.pick("/auth"), Some("A"));
        assert_eq!(u.pick("/tasks"), Some("T"));
        assert_eq!(u.pick("/tasks/1"), Some("T"));
        assert_eq!(u.pick("/authx"), None);
        assert_eq!(u.pick("/"), None);
    }
}
