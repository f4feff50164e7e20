//! Request fields that never fail to parse, so that validation can report every bad field
//! at once instead of the first one the JSON parser trips over.
//!
//! `Field<T, true>` is documented as required in the spec, `Field<T, false>` as optional;
//! both accept anything on the wire and record what they saw. Domain parsers turn them into
//! domain types, collecting a [`super::error::FieldError`] per field.

use std::{borrow::Cow, marker::PhantomData};

use poem_openapi::{
    registry::{MetaSchema, MetaSchemaRef, Registry},
    types::{ParseError, ParseFromJSON, ParseResult, ToJSON, Type},
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

/// The invalid fields of one request, gathered so that all of them are reported at once.
#[derive(Debug, Default)]
pub struct Invalid(Vec<super::error::FieldError>);

impl Invalid {
    /// The value of a field's parse, or `None` with the reason noted against `field`.
    pub fn check<T>(&mut self, field: &str, parsed: Result<T, &'static str>) -> Option<T> {
        parsed
            .map_err(|reason| self.0.push(super::error::FieldError::new(field, reason)))
            .ok()
    }

    /// A required string field (a `String` or a [`Text`]), with absence and wrong types
    /// reported in the same words by every service.
    pub fn required_string(
        &mut self,
        field: &str,
        input: Required<impl Into<String>>,
    ) -> Option<String> {
        self.check(
            field,
            match input {
                Field::Value(v) => Ok(v.into()),
                Field::WrongType => Err("must be a string"),
                Field::Missing | Field::Null => Err("is required"),
            },
        )
    }

    /// `value` when no field was invalid, else every invalid field.
    pub fn finish<T>(self, value: Option<T>) -> Result<T, Vec<super::error::FieldError>> {
        match value {
            Some(v) if self.0.is_empty() => Ok(v),
            _ => Err(self.0),
        }
    }
}

/// A string in a request body whose schema states the rules the domain checks. Parsing
/// accepts any string, so that every bad field is reported at once with the domain's
/// words; the schema tells clients (and schemathesis) exactly what will be accepted.
#[derive(Debug, Clone, PartialEq)]
pub struct Text<R>(pub String, PhantomData<R>);

impl<R> From<Text<R>> for String {
    fn from(t: Text<R>) -> Self {
        t.0
    }
}

/// What a [`Text`] field's schema says.
pub trait TextRules: Send + Sync {
    const NAME: &'static str;
    fn schema() -> MetaSchema;
}

impl<R: TextRules> Type for Text<R> {
    const IS_REQUIRED: bool = true;
    type RawValueType = String;
    type RawElementValueType = String;

    fn name() -> Cow<'static, str> {
        R::NAME.into()
    }

    fn schema_ref() -> MetaSchemaRef {
        MetaSchemaRef::Inline(Box::new(R::schema()))
    }

    fn as_raw_value(&self) -> Option<&String> {
        Some(&self.0)
    }

    fn raw_element_iter<'a>(&'a self) -> Box<dyn Iterator<Item = &'a String> + 'a> {
        Box::new(std::iter::once(&self.0))
    }
}

impl<R: TextRules> ParseFromJSON for Text<R> {
    fn parse_from_json(value: Option<Value>) -> ParseResult<Self> {
        String::parse_from_json(value)
            .map(|s| Self(s, PhantomData))
            .map_err(ParseError::propagate)
    }
}

impl<R: TextRules> ToJSON for Text<R> {
    fn to_json(&self) -> Option<Value> {
        Some(Value::String(self.0.clone()))
    }
}
