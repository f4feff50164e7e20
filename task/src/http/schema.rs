//! The bodies the task API reads and writes, and their conversion into domain types.

use chrono::{DateTime, Utc};
use platform::{
    FieldError,
    http::input::{Field, Invalid, Optional, Required, Text, TextRules},
};
use poem_openapi::{
    Enum, Object,
    registry::{MetaSchema, MetaSchemaRef},
    types::Example,
};
use serde::Serialize;
use serde_json::Value;

use crate::domain::{self, Description, NewTask, Task as DomainTask, TaskPatch, TaskTitle};

/// A task's status; `pending` by default.
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[oai(rename = "Status", rename_all = "snake_case")]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Pending,
    InProgress,
    Completed,
}

/// A task's priority; `medium` by default.
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[oai(rename = "Priority", rename_all = "snake_case")]
#[serde(rename_all = "snake_case")]
pub enum Priority {
    Low,
    Medium,
    High,
}

impl From<Status> for domain::Status {
    fn from(s: Status) -> Self {
        match s {
            Status::Pending => Self::Pending,
            Status::InProgress => Self::InProgress,
            Status::Completed => Self::Completed,
        }
    }
}

impl From<domain::Status> for Status {
    fn from(s: domain::Status) -> Self {
        match s {
            domain::Status::Pending => Self::Pending,
            domain::Status::InProgress => Self::InProgress,
            domain::Status::Completed => Self::Completed,
        }
    }
}

impl From<Priority> for domain::Priority {
    fn from(p: Priority) -> Self {
        match p {
            Priority::Low => Self::Low,
            Priority::Medium => Self::Medium,
            Priority::High => Self::High,
        }
    }
}

impl From<domain::Priority> for Priority {
    fn from(p: domain::Priority) -> Self {
        match p {
            domain::Priority::Low => Self::Low,
            domain::Priority::Medium => Self::Medium,
            domain::Priority::High => Self::High,
        }
    }
}

// Answered through `platform::http::json::Json`, so its serde form must equal its `ToJSON` form
// (the timestamps as poem-openapi writes them; the tests below check it).
/// A task.
#[derive(Object, Debug, Clone, PartialEq, Serialize)]
#[oai(example)]
pub struct Task {
    pub id: i64,
    /// The owner.
    pub user_id: i64,
    pub title: String,
    /// Always present; `null` when there is none.
    #[oai(nullable)]
    pub description: Option<String>,
    pub status: Status,
    pub priority: Priority,
    /// Always present; `null` when there is none.
    #[oai(nullable)]
    #[serde(serialize_with = "platform::http::json::rfc3339_opt")]
    pub due_date: Option<DateTime<Utc>>,
    #[serde(serialize_with = "platform::http::json::rfc3339")]
    pub created_at: DateTime<Utc>,
    #[serde(serialize_with = "platform::http::json::rfc3339")]
    pub updated_at: DateTime<Utc>,
}

// The examples: what the request examples (on the fields' rules below) create when sent
// as Swagger UI pre-fills them (its enum default is the first value: `pending`, `low`).
const EXAMPLE_TITLE: &str = "Write the report";
const EXAMPLE_DESCRIPTION: &str = "Quarterly figures for the board, with the charts.";
const EXAMPLE_DUE_DATE: &str = "2030-01-31T17:00:00Z";
/// 2030-01-31T17:00:00Z.
const EXAMPLE_DUE: i64 = 1_896_109_200;
/// 2026-01-15T09:30:00Z.
const EXAMPLE_CREATED: i64 = 1_768_469_400;

impl Example for Task {
    fn example() -> Self {
        let at = |secs| DateTime::from_timestamp(secs, 0).unwrap_or_default();
        Self {
            id: 1,
            user_id: 1,
            title: EXAMPLE_TITLE.into(),
            description: Some(EXAMPLE_DESCRIPTION.into()),
            status: Status::Pending,
            priority: Priority::Low,
            due_date: Some(at(EXAMPLE_DUE)),
            created_at: at(EXAMPLE_CREATED),
            updated_at: at(EXAMPLE_CREATED),
        }
    }
}

impl From<DomainTask> for Task {
    fn from(t: DomainTask) -> Self {
        Self {
            id: t.id,
            user_id: t.user_id,
            title: t.title,
            description: t.description,
            status: t.status.into(),
            priority: t.priority.into(),
            due_date: t.due_date,
            created_at: t.created_at,
            updated_at: t.updated_at,
        }
    }
}

/// A new task.
#[derive(Object, Debug)]
pub struct CreateTaskRequest {
    /// 1–200 characters, not all white space (which is trimmed off), no NUL.
    pub title: Required<Text<TitleRules>>,
    /// At most 10 000 characters, no NUL; `null` for none.
    #[oai(nullable)]
    pub description: Optional<Text<DescriptionRules>>,
    // The defaults are told by the enums' own descriptions: a description here would wrap
    // the `$ref` in `allOf`, which client generators refuse or mistype.
    pub status: Optional<Status>,
    pub priority: Optional<Priority>,
    /// RFC 3339, or what HTML date controls send, `YYYY-MM-DD` or
    /// `YYYY-MM-DDTHH:MM[:SS[.fff]]`, read as UTC; `null` for none.
    #[oai(nullable)]
    pub due_date: Optional<Text<DueDateRules>>,
}

impl TryFrom<CreateTaskRequest> for NewTask {
    type Error = Vec<FieldError>;

    /// Validates every field and reports all the bad ones together.
    fn try_from(req: CreateTaskRequest) -> Result<Self, Self::Error> {
        let mut invalid = Invalid::default();
        let title = invalid
            .required_string("title", req.title)
            .and_then(|t| invalid.check("title", TaskTitle::parse(&t)));
        let description = clearable(
            &mut invalid,
            "description",
            req.description,
            Description::parse,
        );
        let due_date = clearable(&mut invalid, "due_date", req.due_date, |s| {
            domain::parse_due_date(&s)
        });
        let status = settable(&mut invalid, "status", req.status, STATUS_VALUES);
        let priority = settable(&mut invalid, "priority", req.priority, PRIORITY_VALUES);
        let parsed = title.map(|title| Self {
            title,
            description: description.flatten(),
            status: status.map(Into::into).unwrap_or_default(),
            priority: priority.map(Into::into).unwrap_or_default(),
            due_date: due_date.flatten(),
        });
        invalid.finish(parsed)
    }
}

/// Any subset of a task's fields; `null` clears `description` or `due_date`.
#[derive(Object, Debug)]
pub struct UpdateTaskRequest {
    /// 1–200 characters, not all white space (which is trimmed off), no NUL.
    pub title: Optional<Text<TitleRules>>,
    /// At most 10 000 characters, no NUL; `null` clears it.
    #[oai(nullable)]
    pub description: Optional<Text<DescriptionRules>>,
    pub status: Optional<Status>,
    pub priority: Optional<Priority>,
    /// As for a new task; `null` clears it.
    #[oai(nullable)]
    pub due_date: Optional<Text<DueDateRules>>,
}

impl TryFrom<UpdateTaskRequest> for TaskPatch {
    type Error = Vec<FieldError>;

    fn try_from(req: UpdateTaskRequest) -> Result<Self, Self::Error> {
        let mut invalid = Invalid::default();
        let title = match req.title {
            Field::Missing => None,
            Field::Null => invalid.check("title", Err("must not be null")),
            Field::WrongType => invalid.check("title", Err("must be a string")),
            Field::Value(t) => invalid.check("title", TaskTitle::parse(&t.0)),
        };
        let patch = Self {
            title,
            description: clearable(
                &mut invalid,
                "description",
                req.description,
                Description::parse,
            ),
            status: settable(&mut invalid, "status", req.status, STATUS_VALUES).map(Into::into),
            priority: settable(&mut invalid, "priority", req.priority, PRIORITY_VALUES)
                .map(Into::into),
            due_date: clearable(&mut invalid, "due_date", req.due_date, |s| {
                domain::parse_due_date(&s)
            }),
        };
        invalid.finish(Some(patch))
    }
}

const STATUS_VALUES: &str = "must be one of pending, in_progress, completed";
const PRIORITY_VALUES: &str = "must be one of low, medium, high";

/// A nullable field: `None` absent, `Some(None)` null, `Some(Some(v))` a value.
fn clearable<T, R>(
    invalid: &mut Invalid,
    field: &str,
    input: Optional<Text<R>>,
    parse: impl FnOnce(String) -> Result<T, &'static str>,
) -> Option<Option<T>> {
    match input {
        Field::Missing => None,
        Field::Null => Some(None),
        Field::WrongType => invalid.check(field, Err("must be a string or null")),
        Field::Value(v) => invalid.check(field, parse(v.0)).map(Some),
    }
}

/// A character that is neither NUL nor white space as Rust's `trim` sees it (Unicode
/// `White_Space`), spelled out so that every regex dialect reads it alike.
const NOT_BLANK: &str =
    r"[^\u0000\t-\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]";

#[derive(Debug, Clone, PartialEq)]
pub struct TitleRules;

impl TextRules for TitleRules {
    const NAME: &'static str = "string(title)";

    fn schema() -> MetaSchema {
        MetaSchema {
            min_length: Some(1),
            max_length: Some(200),
            pattern: Some(format!(r"^[^\u0000]*{NOT_BLANK}[^\u0000]*$")),
            example: Some(Value::from(EXAMPLE_TITLE)),
            ..MetaSchema::new("string")
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct DescriptionRules;

impl TextRules for DescriptionRules {
    const NAME: &'static str = "string(description)";

    fn schema() -> MetaSchema {
        MetaSchema {
            max_length: Some(10_000),
            pattern: Some(r"^[^\u0000]*$".into()),
            example: Some(Value::from(EXAMPLE_DESCRIPTION)),
            ..MetaSchema::new("string")
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct DueDateRules;

/// `YYYY-MM-DD` of a date that exists (29 February in leap years only).
const CALENDAR_DATE: &str = concat!(
    r"(?:[0-9]{4}-(?:(?:0[13578]|1[02])-(?:0[1-9]|[12][0-9]|3[01])",
    r"|(?:0[469]|11)-(?:0[1-9]|[12][0-9]|30)",
    r"|02-(?:0[1-9]|1[0-9]|2[0-8]))",
    r"|(?:[0-9]{2}(?:0[48]|[2468][048]|[13579][26])|(?:0[048]|[2468][048]|[13579][26])00)-02-29)",
);

impl TextRules for DueDateRules {
    const NAME: &'static str = "string(due_date)";

    fn schema() -> MetaSchema {
        let local = format!(
            r"^{CALENDAR_DATE}T(?:[01][0-9]|2[0-3]):[0-5][0-9](?::[0-5][0-9](?:\.[0-9]{{1,9}})?)?$"
        );
        // Every branch admits `null` too: in OpenAPI 3.0 the field's own `nullable` does not
        // reach into `anyOf`, and due dates are clearable wherever they appear.
        let variant = |schema: MetaSchema| {
            MetaSchemaRef::Inline(Box::new(MetaSchema {
                nullable: true,
                ..schema
            }))
        };
        MetaSchema {
            any_of: vec![
                variant(MetaSchema::new_with_format("string", "date-time")),
                variant(MetaSchema::new_with_format("string", "date")),
                variant(MetaSchema {
                    pattern: Some(local),
                    ..MetaSchema::new("string")
                }),
            ],
            example: Some(Value::from(EXAMPLE_DUE_DATE)),
            ..MetaSchema::new("string")
        }
    }
}

/// An optional, non-nullable enum field.
fn settable<T>(
    invalid: &mut Invalid,
    field: &str,
    input: Optional<T>,
    expected: &'static str,
) -> Option<T> {
    match input {
        Field::Missing => None,
        Field::Value(v) => Some(v),
        Field::Null | Field::WrongType => invalid.check(field, Err(expected)),
    }
}

#[derive(Object, Serialize)]
#[oai(example)]
pub struct TaskWithMessage {
    pub message: String,
    pub task: Task,
}

impl Example for TaskWithMessage {
    fn example() -> Self {
        Self {
            message: "Task created successfully".into(),
            task: Task::example(),
        }
    }
}

#[derive(Object, Serialize)]
pub struct TaskBody {
    pub task: Task,
}

#[derive(Object, Serialize)]
#[oai(example)]
pub struct TaskList {
    /// This page, newest first.
    pub tasks: Vec<Task>,
    /// Tasks on this page.
    pub count: u64,
    /// Tasks matching the filters, counted up to 1000.
    pub total: u64,
    /// More tasks match than `total` says: it stopped counting at the cap.
    pub total_capped: bool,
    /// Pass as `cursor` for the next page; absent on the last page. Opaque.
    #[oai(skip_serializing_if_is_none)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

impl Example for TaskList {
    fn example() -> Self {
        Self {
            tasks: vec![Task::example()],
            count: 1,
            total: 1,
            total_capped: false,
            next_cursor: None,
        }
    }
}

#[derive(Object)]
pub struct Message {
    pub message: String,
}

#[derive(Object)]
pub struct ReadyResponse {
    /// `ready`
    pub status: String,
    /// `ok`
    pub database: String,
    /// `ok`: verification keys are loaded.
    pub keys: String,
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;
    use proptest::prelude::*;
    use testkit::json::assert_same_json;

    use super::*;

    fn timestamp() -> impl Strategy<Value = DateTime<Utc>> {
        // Whole seconds, milliseconds and nanoseconds, from 1970 to 2100.
        (
            0i64..4_102_444_800,
            prop_oneof![Just(0u32), 0u32..1_000_000_000],
        )
            .prop_map(|(secs, nanos)| Utc.timestamp_opt(secs, nanos).single().expect("in range"))
    }

    fn task() -> impl Strategy<Value = Task> {
        let status = prop_oneof![
            Just(Status::Pending),
            Just(Status::InProgress),
            Just(Status::Completed)
        ];
        let priority = prop_oneof![
            Just(Priority::Low),
            Just(Priority::Medium),
            Just(Priority::High)
        ];
        (
            (any::<i64>(), any::<i64>(), any::<String>()),
            proptest::option::of(any::<String>()),
            (status, priority),
            proptest::option::of(timestamp()),
            (timestamp(), timestamp()),
        )
            .prop_map(
                |((id, user_id, title), description, (status, priority), due_date, (c, u))| Task {
                    id,
                    user_id,
                    title,
                    description,
                    status,
                    priority,
                    due_date,
                    created_at: c,
                    updated_at: u,
                },
            )
    }

    proptest! {
        /// The bodies answered through `platform::http::json::Json` read exactly as the spec's
        /// `ToJSON` form would.
        #[test]
        fn response_bodies_serialise_as_their_schema_says(
            tasks in proptest::collection::vec(task(), 0..5),
            message in any::<String>(),
        ) {
            for t in &tasks {
                assert_same_json(&TaskBody { task: t.clone() });
                assert_same_json(&TaskWithMessage { message: message.clone(), task: t.clone() });
            }
            let next_cursor = (tasks.len() % 2 == 0).then(|| message.clone());
            assert_same_json(&TaskList {
                count: tasks.len() as u64,
                total: 7,
                total_capped: tasks.is_empty(),
                next_cursor,
                tasks,
            });
        }
    }
}
