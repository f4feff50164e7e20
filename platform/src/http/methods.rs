//! Which methods a path answers, so that a 405 can say so in `Allow` (RFC 9110 §15.5.6).
//!
//! The router knows a path exists but not, when refusing a method, which ones it would take;
//! the OpenAPI document does, so the table is built from it once at start-up. The spec and
//! the Swagger UI are read-only resources: anything but GET and HEAD is a 405 there too.

use poem::{
    Endpoint, EndpointExt, IntoResponse, Request, Response,
    error::MethodNotAllowedError,
    http::{HeaderValue, Method, StatusCode, header},
};

/// Path templates (`/tasks/{id}`) and the `Allow` value of each.
#[derive(Clone, Debug, Default)]
pub struct AllowTable {
    entries: Vec<(Template, HeaderValue)>,
}

#[derive(Clone, Debug)]
enum Template {
    /// Segments; `None` matches any one segment (a `{param}`).
    Exact(Vec<Option<String>>),
    /// The path and everything under it.
    Tree(String),
}

impl Template {
    fn matches(&self, path: &str) -> bool {
        match self {
            Self::Tree(prefix) => {
                path == prefix
                    || path
                        .strip_prefix(prefix.as_str())
                        .is_some_and(|rest| rest.starts_with('/'))
            }
            Self::Exact(segments) => {
                let mut parts = path.split('/');
                let mut segs = segments.iter();
                loop {
                    match (parts.next(), segs.next()) {
                        (None, None) => return true,
                        (Some(p), Some(None)) if !p.is_empty() => {}
                        (Some(p), Some(Some(s))) if p == s => {}
                        _ => return false,
                    }
                }
            }
        }
    }
}

const READ_ONLY: &str = "GET, HEAD";

impl AllowTable {
    /// The operations of an OpenAPI 3 document (`paths` → method names). GET implies HEAD,
    /// which the router answers for every GET route.
    pub fn from_spec(spec_json: &str) -> Self {
        let Ok(spec) = serde_json::from_str::<serde_json::Value>(spec_json) else {
            return Self::default();
        };
        let Some(paths) = spec.get("paths").and_then(|p| p.as_object()) else {
            return Self::default();
        };
        let order = ["get", "head", "post", "put", "patch", "delete"];
        let entries = paths
            .iter()
            .filter_map(|(path, ops)| {
                let ops = ops.as_object()?;
                let mut methods: Vec<&str> = order
                    .iter()
                    .copied()
                    .filter(|m| ops.contains_key(*m))
                    .collect();
                if methods.contains(&"get") && !methods.contains(&"head") {
                    methods.insert(1, "head");
                }
                let allow = methods
                    .iter()
                    .map(|m| m.to_ascii_uppercase())
                    .collect::<Vec<_>>()
                    .join(", ");
                let template = path
                    .split('/')
                    .map(|s| (!(s.starts_with('{') && s.ends_with('}'))).then(|| s.to_owned()))
                    .collect();
                Some((
                    Template::Exact(template),
                    HeaderValue::from_str(&allow).ok()?,
                ))
            })
            .collect::<Vec<_>>();
        // Literal segments win over parameters, as in the router.
        let mut entries = entries;
        entries.sort_by_key(|(t, _)| match t {
            Template::Exact(segments) => segments.iter().filter(|s| s.is_none()).count(),
            Template::Tree(_) => 0,
        });
        Self { entries }
    }

    /// `path` answers only GET and HEAD. Like the router, a literal path wins over a
    /// template that would also match it (`/tasks/openapi.json` over `/tasks/{id}`).
    pub fn with_read_only(mut self, path: &str) -> Self {
        let template = path.split('/').map(|s| Some(s.to_owned())).collect();
        self.entries.insert(
            0,
            (
                Template::Exact(template),
                HeaderValue::from_static(READ_ONLY),
            ),
        );
        self
    }

    /// `path` and everything under it answer only GET and HEAD.
    pub fn with_read_only_tree(mut self, path: &str) -> Self {
        self.entries.insert(
            0,
            (
                Template::Tree(path.to_owned()),
                HeaderValue::from_static(READ_ONLY),
            ),
        );
        self
    }

    pub fn allow(&self, path: &str) -> Option<&HeaderValue> {
        self.entries
            .iter()
            .find(|(t, _)| t.matches(path))
            .map(|(_, v)| v)
    }
}

/// Adds `Allow` to every 405 `ep` answers. Other errors pass through untouched: the
/// middleware turns them into the envelope by their type.
pub fn with_allow<E: Endpoint + 'static>(ep: E, table: AllowTable) -> impl Endpoint {
    ep.around(move |ep, req| {
        let allow = table.allow(req.uri().path()).cloned();
        async move {
            let mut resp = match ep.call(req).await {
                Ok(resp) => resp.into_response(),
                Err(err) if err.status() == StatusCode::METHOD_NOT_ALLOWED => err.into_response(),
                Err(err) => return Err(err),
            };
            if resp.status() == StatusCode::METHOD_NOT_ALLOWED
                && let Some(allow) = allow
            {
                resp.headers_mut().insert(header::ALLOW, allow);
            }
            Ok::<Response, poem::Error>(resp)
        }
    })
}

/// `ep` for GET and HEAD; 405 for any other method.
pub fn read_only<E: Endpoint + 'static>(ep: E) -> impl Endpoint {
    ep.around(|ep, req: Request| async move {
        if req.method() == Method::GET || req.method() == Method::HEAD {
            ep.call(req).await.map(IntoResponse::into_response)
        } else {
            Err(MethodNotAllowedError.into())
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const SPEC: &str = r#"{"paths": {
        "/tasks": {"get": {}, "post": {}},
        "/tasks/{id}": {"get": {}, "put": {}, "delete": {}},
        "/auth/login": {"post": {}}
    }}"#;

    #[test]
    fn methods_come_from_the_spec_and_get_implies_head() {
        let t = AllowTable::from_spec(SPEC)
            .with_read_only("/tasks/openapi.json")
            .with_read_only_tree("/tasks/docs");
        let allow = |p| t.allow(p).map(|v| v.to_str().unwrap().to_owned());
        assert_eq!(allow("/tasks").as_deref(), Some("GET, HEAD, POST"));
        assert_eq!(allow("/tasks/7").as_deref(), Some("GET, HEAD, PUT, DELETE"));
        assert_eq!(allow("/auth/login").as_deref(), Some("POST"));
        assert_eq!(allow("/tasks/openapi.json").as_deref(), Some("GET, HEAD"));
        assert_eq!(allow("/tasks/docs").as_deref(), Some("GET, HEAD"));
        assert_eq!(
            allow("/tasks/docs/oauth-receiver.html").as_deref(),
            Some("GET, HEAD")
        );
        assert_eq!(allow("/tasks/7/x"), None);
        assert_eq!(allow("/tasks/"), None);
        // Not under the docs: the `{id}` route's.
        assert_eq!(
            allow("/tasks/docsx").as_deref(),
            Some("GET, HEAD, PUT, DELETE")
        );
    }
}
