//! A request header as it was sent. poem-openapi's `Header<T>` skips a value whose bytes
//! are not visible ASCII, so the API would see such a header as absent: an `If-Match` that
//! no longer guards the write, an `Idempotency-Key` that no longer deduplicates.
//! [`SentHeader`] tells "absent" from "unreadable", so that a handler can refuse the
//! request or match nothing instead.
//!
//! [`LowercaseHeaders`] documents a response's headers in lowercase.

use poem::{IntoResponse, Request, RequestBody, Response};
use poem_openapi::{
    ApiExtractor, ApiExtractorType, ApiResponse, ExtractParamOptions,
    registry::{MetaParamIn, MetaResponses, MetaSchemaRef, Registry},
    types::Type,
};

/// A header parameter (`#[oai(name = "If-Match")]`), documented in the spec as a string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SentHeader {
    Absent,
    /// Present, but some line holds bytes other than visible ASCII, space and tab.
    Unreadable,
    /// Every line of the field, joined with `", "` into one list as RFC 9110 (5.3) says a
    /// recipient may.
    Text(String),
}

impl SentHeader {
    pub fn of(req: &Request, name: &str) -> Self {
        let mut text: Option<String> = None;
        for line in req.headers().get_all(name) {
            let Ok(line) = line.to_str() else {
                return Self::Unreadable;
            };
            match &mut text {
                None => text = Some(line.to_owned()),
                Some(t) => {
                    t.push_str(", ");
                    t.push_str(line);
                }
            }
        }
        text.map_or(Self::Absent, Self::Text)
    }
}

impl<'a> ApiExtractor<'a> for SentHeader {
    const TYPES: &'static [ApiExtractorType] = &[ApiExtractorType::Parameter];
    type ParamType = String;
    type ParamRawType = String;

    fn register(registry: &mut Registry) {
        <String as Type>::register(registry);
    }

    fn param_in() -> Option<MetaParamIn> {
        Some(MetaParamIn::Header)
    }

    fn param_schema_ref() -> Option<MetaSchemaRef> {
        Some(String::schema_ref())
    }

    /// A readable value goes through the parameter's validators, as `Header<T>`'s would.
    fn param_raw_type(&self) -> Option<&String> {
        match self {
            Self::Text(t) => Some(t),
            _ => None,
        }
    }

    async fn from_request(
        request: &'a Request,
        _body: &mut RequestBody,
        param_opts: ExtractParamOptions<String>,
    ) -> poem::Result<Self> {
        Ok(Self::of(request, param_opts.name))
    }
}

/// A response whose headers the spec names in lowercase. poem-openapi's `ApiResponse` derive
/// spells `#[oai(header = "ETag")]` as `ETAG`; generated clients copy the name verbatim
/// (openapi-typescript types `headers.ETAG`), while fetch, reqwest and HTTP/2 hand headers
/// over in lowercase. What goes on the wire is unchanged: header names are case-insensitive.
#[derive(Debug, Clone)]
pub struct LowercaseHeaders<T>(pub T);

impl<T: ApiResponse> ApiResponse for LowercaseHeaders<T> {
    const BAD_REQUEST_HANDLER: bool = T::BAD_REQUEST_HANDLER;

    fn meta() -> MetaResponses {
        let mut meta = T::meta();
        for header in meta.responses.iter_mut().flat_map(|r| r.headers.iter_mut()) {
            header.name.make_ascii_lowercase();
        }
        meta
    }

    fn register(registry: &mut Registry) {
        T::register(registry);
    }

    fn from_parse_request_error(err: poem::Error) -> Self {
        Self(T::from_parse_request_error(err))
    }
}

impl<T: IntoResponse> IntoResponse for LowercaseHeaders<T> {
    fn into_response(self) -> Response {
        self.0.into_response()
    }
}
