//! Tasks, their input parsed once into types that cannot hold invalid values, and the rule
//! that a user only ever touches their own tasks. Plain values only: no HTTP, no storage.

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};

/// Text never reaches the database with a NUL: PostgreSQL refuses it, SQLite truncates.
const NUL: &str = "must not contain NUL characters";

/// 1–200 characters as sent, not all white space; surrounding white space is removed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskTitle(String);

impl TaskTitle {
    pub fn parse(raw: &str) -> Result<Self, &'static str> {
        if raw.contains('\0') {
            return Err(NUL);
        }
        // Counted before trimming, so that the limit is one a schema can state.
        if raw.chars().count() > 200 {
            return Err("must be at most 200 characters long");
        }
        match raw.trim() {
            "" => Err("must not be empty"),
            t => Ok(Self(t.to_owned())),
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
        if raw.contains('\0') {
            Err(NUL)
        } else if raw.chars().count() > 10_000 {
            Err("must be at most 10000 characters long")
        } else {
            Ok(Self(raw))
        }
    }

    pub fn into_inner(self) -> String {
        self.0
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
pub enum Status {
    #[default]
    Pending,
    InProgress,
    Completed,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
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
/// (`2025-01-31T17:30`, optionally with seconds) controls send, read as UTC. Nothing
/// around it, not even white space: what is accepted is exactly what the spec says.
pub fn parse_due_date(raw: &str) -> Result<DateTime<Utc>, &'static str> {
    if !has_date_time_shape(raw) {
        return Err(DUE_DATE_FORMATS);
    }
    parse_due_date_exact(raw).map(platform::db::truncate)
}

const DUE_DATE_FORMATS: &str = "must be an RFC 3339 date-time, YYYY-MM-DD or YYYY-MM-DDTHH:MM";

/// `YYYY-MM-DD`, optionally followed by `THH:MM`, `:SS` and more, with every field of its
/// full width and no white space: chrono alone would also take `2025-1-31` or ` 2025-01-31`.
fn has_date_time_shape(raw: &str) -> bool {
    const SHAPE: &[u8] = b"dddd-dd-ddTdd:dd:dd";
    let bytes = raw.as_bytes();
    let checked = match bytes.len() {
        10 => 10,
        16 => 16,
        n if n > 16 && bytes[16] != b':' => 16,
        n if n >= 19 => 19,
        _ => return false,
    };
    let fits = SHAPE
        .iter()
        .zip(bytes)
        .take(checked)
        .all(|(&want, &got)| match want {
            b'd' => got.is_ascii_digit(),
            b'T' => got.eq_ignore_ascii_case(&b'T'),
            other => got == other,
        });
    fits && !bytes.iter().any(u8::is_ascii_whitespace)
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
    Err(DUE_DATE_FORMATS)
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

impl TaskPatch {
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }
}

/// Who is calling: the user a verified token names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Caller {
    pub user_id: i64,
}

/// A stored task.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Task {
    pub id: i64,
    pub user_id: i64,
    pub title: String,
    pub description: Option<String>,
    pub status: Status,
    pub priority: Priority,
    pub due_date: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// 1 when created, one more after each update: what an ETag names.
    pub version: i64,
}

/// Who may see or change a task: its owner, nobody else.
pub fn owned_by(task_owner: i64, caller: i64) -> bool {
    task_owner == caller
}

/// Page size: 100 by default, never more than 500.
pub const DEFAULT_LIMIT: u64 = 100;
pub const MAX_LIMIT: u64 = 500;

/// The deepest `offset` served: skipping rows walks the index past every one of them, so
/// deeper pages are reached with a cursor, whose cost does not depend on the depth.
pub const MAX_OFFSET: u64 = 10_000;

/// A list's `total` counts matches up to this many; past it the answer says it is capped.
/// Counting reads one index entry per match, so the cap bounds what a page costs.
pub const TOTAL_CAP: u64 = 1_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ListFilter {
    pub status: Option<Status>,
    pub priority: Option<Priority>,
    pub limit: u64,
    pub start: PageStart,
}

/// Where a page starts in the list (newest first).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PageStart {
    /// After skipping this many matches (0: the first page).
    Offset(u64),
    /// Right after the task a cursor names.
    After(Cursor),
}

/// A position in a list: the `(created_at, id)` of the last task of a page, the list's
/// order. Sent to clients as an opaque token, so that its form can change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cursor {
    pub created_at: DateTime<Utc>,
    pub id: i64,
}

impl Cursor {
    pub const RULE: &'static str = "must be a next_cursor from an earlier page";

    pub fn after(task: &Task) -> Self {
        Self {
            created_at: task.created_at,
            id: task.id,
        }
    }

    pub fn encode(&self) -> String {
        use base64::Engine;
        let raw = format!("{}:{}", self.created_at.timestamp_micros(), self.id);
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw)
    }

    pub fn parse(token: &str) -> Result<Self, &'static str> {
        use base64::Engine;
        let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(token)
            .map_err(|_| Self::RULE)?;
        let raw = std::str::from_utf8(&raw).map_err(|_| Self::RULE)?;
        let (micros, id) = raw.split_once(':').ok_or(Self::RULE)?;
        let micros = micros.parse::<i64>().map_err(|_| Self::RULE)?;
        Ok(Self {
            created_at: DateTime::from_timestamp_micros(micros).ok_or(Self::RULE)?,
            id: id.parse().map_err(|_| Self::RULE)?,
        })
    }
}

/// One page of a list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page {
    pub tasks: Vec<Task>,
    /// Matches in all, counted up to [`TOTAL_CAP`].
    pub total: u64,
    /// More than [`TOTAL_CAP`] match: `total` is the cap.
    pub total_capped: bool,
    /// Where the next page starts; `None` on the last page.
    pub next: Option<Cursor>,
}

/// A page size: 1 or more, `None` for the default; larger ones are clamped to the maximum.
pub fn parse_limit(raw: Option<u64>) -> Result<u64, &'static str> {
    match raw {
        Some(0) => Err("must be between 1 and 500"),
        other => Ok(other.unwrap_or(DEFAULT_LIMIT).min(MAX_LIMIT)),
    }
}

/// Rows to skip: at most [`MAX_OFFSET`]; deeper pages are reached with `cursor`.
pub fn parse_offset(raw: Option<u64>) -> Result<u64, &'static str> {
    match raw {
        Some(n) if n > MAX_OFFSET => {
            Err("must be at most 10000; page further with `cursor` (each page's next_cursor)")
        }
        other => Ok(other.unwrap_or(0)),
    }
}

/// The versions a conditional write (`If-Match`) accepts: the write happens only while the
/// task's current version is one of them, so nobody else's write can slip in between.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IfMatchVersions(pub Vec<i64>);

impl IfMatchVersions {
    pub fn admits(&self, version: i64) -> bool {
        self.0.contains(&version)
    }
}

/// How long an `Idempotency-Key` is remembered.
pub const IDEMPOTENCY_TTL: chrono::TimeDelta = chrono::TimeDelta::hours(24);

/// A client's name for one create request, so that a retry does not create it twice:
/// 1–255 characters, unique per user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotencyKey(String);

impl IdempotencyKey {
    /// What a key must be; also the reason a header that cannot be read is refused.
    pub const RULE: &'static str = "must be 1 to 255 visible ASCII characters";

    pub fn parse(raw: &str) -> Result<Self, &'static str> {
        let visible = |b: &u8| (b'!'..=b'~').contains(b);
        match raw.len() {
            1..=255 if raw.bytes().all(|b| visible(&b)) => Ok(Self(raw.to_owned())),
            _ => Err(Self::RULE),
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
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
        assert!(TaskTitle::parse(" \t ").is_err());
        assert!(TaskTitle::parse(&format!(" {} ", "a".repeat(199))).is_err());
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
        for bad in [
            "tomorrow",
            "2025-13-01",
            "31/01/2025",
            "",
            " 2025-01-31",
            "2025-01-31 ",
            "2025-1-31",
            "2025-01-31T1:30",
            "2025-01-31 17:30:00Z",
            "+2025-01-31",
        ] {
            assert!(parse_due_date(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn limits_clamp_and_offsets_fit_the_database() {
        assert_eq!(parse_limit(None), Ok(100));
        assert_eq!(parse_limit(Some(9999)), Ok(500));
        assert!(parse_limit(Some(0)).is_err());
        assert_eq!(parse_offset(Some(MAX_OFFSET)), Ok(MAX_OFFSET));
        assert!(
            parse_offset(Some(MAX_OFFSET + 1))
                .unwrap_err()
                .contains("cursor")
        );
    }

    #[test]
    fn cursors_round_trip_and_refuse_anything_else() {
        let at = DateTime::from_timestamp_micros(1_765_000_000_123_456).unwrap();
        let c = Cursor {
            created_at: at,
            id: 42,
        };
        assert_eq!(Cursor::parse(&c.encode()), Ok(c));
        for bad in [
            "",
            "x",
            "MTp4",
            "a b",
            "bm9wZQ",
            "OjQy",
            "MTIzOg",
            "MTIzOjQyOjA",
        ] {
            assert!(Cursor::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn idempotency_keys_are_1_to_255_characters() {
        assert!(IdempotencyKey::parse("").is_err());
        assert!(IdempotencyKey::parse(&"k".repeat(255)).is_ok());
        assert!(IdempotencyKey::parse("é").is_err());
        assert!(IdempotencyKey::parse("a b").is_err());
        assert!(IdempotencyKey::parse("a\0").is_err());
        assert!(IdempotencyKey::parse(&"k".repeat(256)).is_err());
    }

    #[test]
    fn text_with_nul_is_refused() {
        assert!(TaskTitle::parse("a\0b").is_err());
        assert!(Description::parse("a\0b".into()).is_err());
    }
}
