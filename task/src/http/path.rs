//! The task id in a path. poem-openapi routes a path parameter under a positional name
//! (`param0`) and reports its parse errors under that name, so the id is parsed here, where
//! it can be named `id` as the API reference and the spec call it.

use std::borrow::Cow;

use platform::{ApiError, FieldError};
use poem_openapi::{
    registry::{MetaSchemaRef, Registry},
    types::{ParseFromParameter, ParseResult, Type},
};

/// A path segment documented as a 64-bit integer; `None` when it is not one.
#[derive(Debug, Clone, Copy)]
pub struct TaskId(Option<i64>);

impl TaskId {
    /// The id, or the 400 that names the `id` field.
    pub fn get(self) -> Result<i64, ApiError> {
        self.0.ok_or_else(|| {
            let mut e = ApiError::bad_request("Invalid path parameter `id`");
            e.details = Some(vec![FieldError::new("id", "must be an integer id")]);
            e
        })
    }
}

impl Type for TaskId {
    const IS_REQUIRED: bool = true;
    type RawValueType = i64;
    type RawElementValueType = i64;

    fn name() -> Cow<'static, str> {
        i64::name()
    }

    fn schema_ref() -> MetaSchemaRef {
        i64::schema_ref()
    }

    fn register(registry: &mut Registry) {
        i64::register(registry);
    }

    fn as_raw_value(&self) -> Option<&i64> {
        self.0.as_ref()
    }

    fn raw_element_iter<'a>(&'a self) -> Box<dyn Iterator<Item = &'a i64> + 'a> {
        Box::new(self.0.iter())
    }
}

impl ParseFromParameter for TaskId {
    fn parse_from_parameter(value: &str) -> ParseResult<Self> {
        Ok(Self(i64::parse_from_parameter(value).ok()))
    }
}
