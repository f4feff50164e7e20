//! Task input parsed once into types that cannot hold invalid values, and the rule that a
//! user only ever touches their own tasks.

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use platform::{
    FieldError,
    input::{Field, Optional, required_string},
};
use poem_openapi::Enum;

use crate::api::{CreateTaskRequest, UpdateTaskRequest};

/// 1–200 characters, surrounding white space removed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskTitle(String);

impl TaskTitle {
    pub fn parse(raw: &str) -> Result<Self, &'static str> {
        let t = raw.trim();
        match t.chars().count() {
            0 => Err("must not be empty"),
            1..=200 => Ok(Self(t.to_owned())),
            _ => Err("must be at most 200 characters long"),
        }
    }

    pub fn into_inner(self) -> String {
        self.0
    }
}

/// At most 10 000 characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Description(String);

impl Description {
    pub fn parse(raw: String) -> Result<Self, &'static str> {
        if raw.chars().count() > 10_000 {
            Err("must be at most 10000 characters long")
        } else {
            Ok(Self(raw))
        }
    }

    pub fn into_inner(self) -> String {
        self.0
    }
}

#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
#[oai(rename_all = "snake_case")]
pub enum Status {
    #[default]
    Pending,
    InProgress,
    Completed,
}

#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
#[oai(rename_all = "snake_case")]
pub enum Priority {
    Low,
    #[default]
    Medium,
    High,
}

impl Status {
    pub const ALL: [Self; 3] = [Self::Pending, Self::InProgress, Self::Completed];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::InProgress => "in_progress",
            Self::Completed => "completed",
        }
    }

    pub fn from_db(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|v| v.as_str() == s)
    }
}

impl Priority {
    pub const ALL: [Self; 3] = [Self::Low, Self::Medium, Self::High];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Low => "low",
            Self::Medium => "medium",
            Self::High => "high",
        }
    }

    pub fn from_db(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|v| v.as_str() == s)
    }
}

/// A due date: RFC 3339, or what HTML `date` (`2025-01-31`) and `datetime-local`
/// (`2025-01-31T17:30`, optionally with seconds) controls send, read as UTC.
pub fn parse_due_date(raw: &str) -> Result<DateTime<Utc>, &'static str> {
    parse_due_date_exact(raw.trim()).map(platform::db::truncate)
}

fn parse_due_date_exact(raw: &str) -> Result<DateTime<Utc>, &'static str> {
    if let Ok(dt) = DateTime::parse_from_rfc3339(raw) {
        return Ok(dt.with_timezone(&Utc));
    }
    for format in [
        "%Y-%m-%dT%H:%M",
        "%Y-%m-%dT%H:%M:%S",
        "%Y-%m-%dT%H:%M:%S%.f",
    ] {
        if let Ok(naive) = NaiveDateTime::parse_from_str(raw, format) {
            return Ok(naive.and_utc());
        }
    }
    if let Ok(date) = NaiveDate::parse_from_str(raw, "%Y-%m-%d") {
        return Ok(date
            .and_hms_opt(0, 0, 0)
            .expect("midnight exists")
            .and_utc());
    }
    Err("must be an RFC 3339 date-time, YYYY-MM-DD or YYYY-MM-DDTHH:MM")
}

#[derive(Debug, Clone, PartialEq)]
pub struct NewTask {
    pub title: TaskTitle,
    pub description: Option<Description>,
    pub status: Status,
    pub priority: Priority,
    pub due_date: Option<DateTime<Utc>>,
}

/// A change to some fields. For the clearable ones, `Some(None)` means "set to null".
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TaskPatch {
    pub title: Option<TaskTitle>,
    pub description: Option<Option<Description>>,
    pub status: Option<Status>,
    pub priority: Option<Priority>,
    pub due_date: Option<Option<DateTime<Utc>>>,
}

impl NewTask {
    pub fn parse(req: CreateTaskRequest) -> Result<Self, Vec<FieldError>> {
        let mut errors = Vec::new();
        let title = required_string("title", req.title, &mut errors)
            .and_then(|t| note(&mut errors, "title", TaskTitle::parse(&t)));
        let description = clearable(
            &mut errors,
            "description",
            req.description,
            Description::parse,
        );
        let due_date = clearable(&mut errors, "due_date", req.due_date, |s| {
            parse_due_date(&s)
        });
        let status = settable(&mut errors, "status", req.status, STATUS_VALUES);
        let priority = settable(&mut errors, "priority", req.priority, PRIORITY_VALUES);
        match title {
            Some(title) if errors.is_empty() => Ok(Self {
                title,
                description: description.flatten(),
                status: status.unwrap_or_default(),
                priority: priority.unwrap_or_default(),
                due_date: due_date.flatten(),
            }),
            _ => Err(errors),
        }
    }
}

impl TaskPatch {
    pub fn parse(req: UpdateTaskRequest) -> Result<Self, Vec<FieldError>> {
        let mut errors = Vec::new();
        let title = match req.title {
            Field::Missing => None,
            Field::Null => {
                errors.push(FieldError::new("title", "must not be null"));
                None
            }
            Field::WrongType => {
                errors.push(FieldError::new("title", "must be a string"));
                None
            }
            Field::Value(t) => note(&mut errors, "title", TaskTitle::parse(&t)),
        };
        let patch = Self {
            title,
            description: clearable(
                &mut errors,
                "description",
                req.description,
                Description::parse,
            ),
            status: settable(&mut errors, "status", req.status, STATUS_VALUES),
            priority: settable(&mut errors, "priority", req.priority, PRIORITY_VALUES),
            due_date: clearable(&mut errors, "due_date", req.due_date, |s| {
                parse_due_date(&s)
            }),
        };
        if errors.is_empty() {
            Ok(patch)
        } else {
            Err(errors)
        }
    }

    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }
}

const STATUS_VALUES: &str = "must be one of pending, in_progress, completed";
const PRIORITY_VALUES: &str = "must be one of low, medium, high";

fn note<T>(errors: &mut Vec<FieldError>, field: &str, r: Result<T, &'static str>) -> Option<T> {
    r.map_err(|m| errors.push(FieldError::new(field, m))).ok()
}

/// A nullable field: `None` absent, `Some(None)` null, `Some(Some(v))` a value.
fn clearable<T>(
    errors: &mut Vec<FieldError>,
    field: &str,
    input: Optional<String>,
    parse: impl FnOnce(String) -> Result<T, &'static str>,
) -> Option<Option<T>> {
    match input {
        Field::Missing => None,
        Field::Null => Some(None),
        Field::WrongType => {
            errors.push(FieldError::new(field, "must be a string or null"));
            None
        }
        Field::Value(v) => note(errors, field, parse(v)).map(Some),
    }
}

/// An optional, non-nullable enum field.
fn settable<T>(
    errors: &mut Vec<FieldError>,
    field: &str,
    input: Optional<T>,
    expected: &str,
) -> Option<T> {
    match input {
        Field::Missing => None,
        Field::Value(v) => Some(v),
        Field::Null | Field::WrongType => {
            errors.push(FieldError::new(field, expected));
            None
        }
    }
}

/// Who may see or change a task: its owner, nobody else.
pub fn owned_by(task_owner: i64, caller: i64) -> bool {
    task_owner == caller
}

/// Page size: 100 by default, never more than 500.
pub const DEFAULT_LIMIT: u64 = 100;
pub const MAX_LIMIT: u64 = 500;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ListFilter {
    pub status: Option<Status>,
    pub priority: Option<Priority>,
    pub limit: u64,
    pub offset: u64,
}

impl ListFilter {
    pub fn new(
        status: Option<Status>,
        priority: Option<Priority>,
        limit: Option<u64>,
        offset: Option<u64>,
    ) -> Result<Self, Vec<FieldError>> {
        if limit == Some(0) {
            return Err(vec![FieldError::new("limit", "must be between 1 and 500")]);
        }
        Ok(Self {
            status,
            priority,
            limit: limit.unwrap_or(DEFAULT_LIMIT).min(MAX_LIMIT),
            offset: offset.unwrap_or(0),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn titles() {
        assert!(TaskTitle::parse("").is_err());
        assert!(TaskTitle::parse("   ").is_err());
        assert_eq!(TaskTitle::parse("  a ").unwrap().into_inner(), "a");
        assert!(TaskTitle::parse(&"é".repeat(200)).is_ok());
        assert!(TaskTitle::parse(&"é".repeat(201)).is_err());
    }

    #[test]
    fn due_dates_from_html_controls_and_rfc3339() {
        let utc = |s: &str| parse_due_date(s).unwrap().to_rfc3339();
        assert_eq!(utc("2025-01-31"), "2025-01-31T00:00:00+00:00");
        assert_eq!(utc("2025-01-31T17:30"), "2025-01-31T17:30:00+00:00");
        assert_eq!(utc("2025-01-31T17:30:15"), "2025-01-31T17:30:15+00:00");
        assert_eq!(
            utc("2025-01-31T17:30:00+02:00"),
            "2025-01-31T15:30:00+00:00"
        );
        assert_eq!(utc("2025-01-31T17:30:00Z"), "2025-01-31T17:30:00+00:00");
        for bad in ["tomorrow", "2025-13-01", "31/01/2025", ""] {
            assert!(parse_due_date(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn limits_clamp() {
        assert_eq!(ListFilter::new(None, None, None, None).unwrap().limit, 100);
        assert_eq!(
            ListFilter::new(None, None, Some(9999), None).unwrap().limit,
            500
        );
        assert!(ListFilter::new(None, None, Some(0), None).is_err());
    }
}
