//! Entity tags: a task's version as a strong `ETag`, `"<id>-<version>"`, and the
//! conditional request headers that name them.

use platform::http::header::SentHeader;

use crate::domain::{IfMatchVersions, Task};

pub fn of(task: &Task) -> String {
    format!("\"{}-{}\"", task.id, task.version)
}

/// The members of an `If-Match`/`If-None-Match` list; `None` for `*`, which stands alone
/// (in a list it is just an unreadable member).
fn members(header: &str) -> Option<Vec<&str>> {
    if header.trim() == "*" {
        return None;
    }
    Some(
        header
            .split(',')
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .collect(),
    )
}

/// `If-Match` for task `id`: the versions it admits, `None` when any will do (absent, or
/// `*`). Strong comparison: weak tags, tags of other tasks and anything unreadable (down to
/// the header's bytes) admit nothing.
pub fn if_match(id: i64, header: &SentHeader) -> Option<IfMatchVersions> {
    let header = match header {
        SentHeader::Absent => return None,
        SentHeader::Unreadable => return Some(IfMatchVersions(vec![])),
        SentHeader::Text(h) => h,
    };
    let members = members(header)?;
    let versions = members
        .into_iter()
        .filter_map(|tag| {
            let (tag_id, version) = tag.strip_prefix('"')?.strip_suffix('"')?.split_once('-')?;
            (tag_id.parse::<i64>().ok()? == id).then_some(version.parse::<i64>().ok()?)
        })
        .collect();
    Some(IfMatchVersions(versions))
}

/// Whether `If-None-Match` names `task`'s current version (weak comparison, as for GET).
/// An unreadable header names nothing.
pub fn none_match_hits(task: &Task, header: &SentHeader) -> bool {
    let SentHeader::Text(header) = header else {
        return false;
    };
    let current = of(task);
    members(header).is_none_or(|list| {
        list.iter()
            .any(|tag| tag.strip_prefix("W/").unwrap_or(tag) == current)
    })
}

#[cfg(test)]
mod tests {
    use chrono::Utc;

    use super::*;
    use crate::domain::{Priority, Status};

    fn task(id: i64, version: i64) -> Task {
        Task {
            id,
            user_id: 1,
            title: "t".into(),
            description: None,
            status: Status::Pending,
            priority: Priority::Medium,
            due_date: None,
            created_at: Utc::now(),
            updated_at: Utc::now(),
            version,
        }
    }

    fn sent(h: &str) -> SentHeader {
        SentHeader::Text(h.into())
    }

    #[test]
    fn if_match_lists_and_star() {
        assert_eq!(if_match(7, &SentHeader::Absent), None);
        assert_eq!(if_match(7, &sent("*")), None);
        assert_eq!(
            if_match(7, &sent(r#""7-2", "7-3""#)),
            Some(IfMatchVersions(vec![2, 3]))
        );
        assert_eq!(
            if_match(7, &SentHeader::Unreadable),
            Some(IfMatchVersions(vec![]))
        );
        // Weak, foreign and garbage tags admit nothing.
        for h in [
            r#"W/"7-2""#,
            r#""8-2""#,
            "7-2",
            "garbage",
            r#""7-x""#,
            "",
            "*, x",
        ] {
            assert_eq!(if_match(7, &sent(h)), Some(IfMatchVersions(vec![])), "{h}");
        }
    }

    #[test]
    fn if_none_match_uses_weak_comparison() {
        let t = task(7, 3);
        assert_eq!(of(&t), r#""7-3""#);
        assert!(none_match_hits(&t, &sent(r#""7-3""#)));
        assert!(none_match_hits(&t, &sent(r#"W/"7-3""#)));
        assert!(none_match_hits(&t, &sent(r#""1-1", "7-3""#)));
        assert!(none_match_hits(&t, &sent("*")));
        assert!(!none_match_hits(&t, &sent(r#""7-2""#)));
        assert!(!none_match_hits(&t, &SentHeader::Absent));
        assert!(!none_match_hits(&t, &SentHeader::Unreadable));
    }
}
