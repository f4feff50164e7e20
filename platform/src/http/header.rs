//! A request header as it was sent. poem-openapi's `Header<T>` skips a value whose bytes
//! are not visible ASCII, so the API would see such a header as absent: an `If-Match` that
//! no longer guards the write, an `Idempotency-Key` that no longer deduplicates.
//! [`SentHeader`] tells "absent" from "unreadable", so that a handler can refuse the
//! request or match nothing instead.

use poem::{Request, RequestBody};
use poem_openapi::{
    ApiExtractor, ApiExtractorType, ExtractParamOptions,
    registry::{MetaParamIn, MetaSchemaRef, Registry},
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
