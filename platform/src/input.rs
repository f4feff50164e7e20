//! Request fields that never fail to parse, so that validation can report every bad field
//! at once instead of the first one the JSON parser trips over.
//!
//! `Field<T, true>` is documented as required in the spec, `Field<T, false>` as optional;
//! both accept anything on the wire and record what they saw. Domain parsers turn them into
//! domain types, collecting a [`crate::FieldError`] per field.

use std::borrow::Cow;

use poem_openapi::{
    registry::{MetaSchemaRef, Registry},
    types::{ParseFromJSON, ParseResult, ToJSON, Type},
};
use serde_json::Value;

/// What a JSON field held.
#[derive(Debug, Clone, PartialEq, Default)]
pub enum Field<T, const REQUIRED: bool> {
    /// Absent from the object.
    #[default]
    Missing,
    /// Present as `null`.
    Null,
    /// Present, but not of the expected JSON type.
    WrongType,
    Value(T),
}

pub type Required<T> = Field<T, true>;
pub type Optional<T> = Field<T, false>;

impl<T, const R: bool> Field<T, R> {
    pub fn value(self) -> Option<T> {
        match self {
            Self::Value(v) => Some(v),
            _ => None,
        }
    }
}

impl<T: Type, const R: bool> Type for Field<T, R> {
    const IS_REQUIRED: bool = R;
    type RawValueType = T::RawValueType;
    type RawElementValueType = T::RawElementValueType;

    fn name() -> Cow<'static, str> {
        if R {
            T::name()
        } else {
            format!("optional_{}", T::name()).into()
        }
    }

    fn schema_ref() -> MetaSchemaRef {
        T::schema_ref()
    }

    fn register(registry: &mut Registry) {
        T::register(registry);
    }

    fn as_raw_value(&self) -> Option<&Self::RawValueType> {
        match self {
            Self::Value(v) => v.as_raw_value(),
            _ => None,
        }
    }

    fn raw_element_iter<'a>(
        &'a self,
    ) -> Box<dyn Iterator<Item = &'a Self::RawElementValueType> + 'a> {
        match self {
            Self::Value(v) => v.raw_element_iter(),
            _ => Box::new(std::iter::empty()),
        }
    }

    fn is_none(&self) -> bool {
        matches!(self, Self::Missing)
    }
}

impl<T: ParseFromJSON, const R: bool> ParseFromJSON for Field<T, R> {
    fn parse_from_json(value: Option<Value>) -> ParseResult<Self> {
        Ok(match value {
            None => Self::Missing,
            Some(Value::Null) => Self::Null,
            // The framework's own string parser accepts numbers and booleans; a client that
            // sends `"username": 42` has made a mistake worth reporting.
            Some(v) if expects_string::<T>() && !v.is_string() => Self::WrongType,
            Some(v) => match T::parse_from_json(Some(v)) {
                Ok(v) => Self::Value(v),
                Err(_) => Self::WrongType,
            },
        })
    }
}

impl<T: ToJSON, const R: bool> ToJSON for Field<T, R> {
    fn to_json(&self) -> Option<Value> {
        match self {
            Self::Value(v) => v.to_json(),
            Self::Null => Some(Value::Null),
            _ => None,
        }
    }
}

fn expects_string<T: Type>() -> bool {
    matches!(T::schema_ref(), MetaSchemaRef::Inline(schema) if schema.ty == "string")
}

/// Reads a required string field, reporting absence and wrong types in the same words for
/// every service.
pub fn required_string(
    field: &'static str,
    input: Field<String, true>,
    errors: &mut Vec<crate::FieldError>,
) -> Option<String> {
    match input {
        Field::Value(v) => Some(v),
        Field::WrongType => {
            errors.push(crate::FieldError::new(field, "must be a string"));
            None
        }
        Field::Missing | Field::Null => {
            errors.push(crate::FieldError::new(field, "is required"));
            None
        }
    }
}

/// The message for text with a NUL character, which PostgreSQL cannot store in `text` (and
/// which no form produces).
pub const NUL_MESSAGE: &str = "must not contain NUL characters";

/// Records a field error if `value` contains a NUL character; `true` when it is clean.
pub fn check_no_nul(field: &'static str, value: &str, errors: &mut Vec<crate::FieldError>) -> bool {
    if value.contains('\0') {
        errors.push(crate::FieldError::new(field, NUL_MESSAGE));
        return false;
    }
    true
}

/// [`required_string`] for text that will be stored: a NUL character is a field error too.
/// (Login wants 401 rather than 400 for it, so it keeps `required_string`.)
pub fn required_text(
    field: &'static str,
    input: Field<String, true>,
    errors: &mut Vec<crate::FieldError>,
) -> Option<String> {
    required_string(field, input, errors).filter(|v| check_no_nul(field, v, errors))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::FieldError;

    #[test]
    fn text_with_nul_is_a_field_error() {
        let mut errors = vec![];
        let got = required_text("title", Field::Value("a\0b".into()), &mut errors);
        assert_eq!(got, None);
        assert_eq!(errors, vec![FieldError::new("title", NUL_MESSAGE)]);
    }

    #[test]
    fn clean_text_passes_and_missing_text_is_reported_once() {
        let mut errors = vec![];
        assert_eq!(
            required_text("title", Field::Value("ok".into()), &mut errors).as_deref(),
            Some("ok")
        );
        assert!(errors.is_empty());
        assert_eq!(required_text("title", Field::Missing, &mut errors), None);
        assert_eq!(errors, vec![FieldError::new("title", "is required")]);
        assert!(check_no_nul("description", "fine", &mut errors));
        assert!(!check_no_nul("description", "\0", &mut errors));
        assert_eq!(errors.len(), 2);
    }
}
