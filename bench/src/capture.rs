//! The SQL the limits run, taken from the services rather than written by hand: a second
//! auth and task, started with `log_statement = all` on their own connections only, serve one
//! request of each endpoint, and PostgreSQL's server log gives the statements they sent with
//! the values bound. A new column or a changed query is in the next run's scripts unasked.

use std::{
    io::{Read, Seek, SeekFrom},
    path::PathBuf,
};

use anyhow::Context;

use crate::{limits::SqlScript, services::psql};

/// One statement a session ran: its text (`$n` placeholders) and the values bound.
#[derive(Clone, Debug, PartialEq)]
pub struct Statement {
    pub sql: String,
    pub params: Vec<Option<String>>,
}

/// PostgreSQL's server log, read from the end as it was at [`StatementLog::mark`].
pub struct StatementLog {
    pub path: PathBuf,
    db: String,
}

impl StatementLog {
    /// `path` (`BENCH_PG_LOG`), else the server's own log file, else Debian's
    /// (`pg_ctlcluster` sends the server's stderr to /var/log/postgresql).
    pub fn find(admin_url: &str, path: Option<PathBuf>, db: &str) -> anyhow::Result<Self> {
        let sql = "SELECT coalesce(current_setting('data_directory') || '/' || \
                   pg_current_logfile(), '/var/log/postgresql/postgresql-' || \
                   (current_setting('server_version_num')::int / 10000) || '-main.log')";
        let path = path.map_or_else(|| psql(admin_url, sql).map(PathBuf::from), Ok)?;
        let (shown, db) = (path.display(), db.to_owned());
        std::fs::File::open(&path)
            .with_context(|| format!("cannot read PostgreSQL's log {shown} (BENCH_PG_LOG)"))?;
        Ok(Self { path, db })
    }

    pub fn mark(&self) -> u64 {
        std::fs::metadata(&self.path).map_or(0, |m| m.len())
    }

    /// The statements logged for this run's database since `mark`.
    pub fn since(&self, mark: u64) -> anyhow::Result<Vec<Statement>> {
        let mut file = std::fs::File::open(&self.path)?;
        file.seek(SeekFrom::Start(mark))?;
        let mut data = Vec::new();
        file.read_to_end(&mut data)?;
        Ok(parse(&String::from_utf8_lossy(&data), &self.db))
    }
}

/// Statements in `log` (the server's stderr format, whose prefix holds `[pid]` and
/// `user@database`) run on database `db`, each with the parameters its `DETAIL` line lists.
pub fn parse(log: &str, db: &str) -> Vec<Statement> {
    let at = format!("@{db} ");
    // Records: a prefixed line and the tab-indented lines that continue its message.
    let mut records: Vec<String> = Vec::new();
    for line in log.lines() {
        match (line.strip_prefix('\t'), records.last_mut()) {
            (Some(more), Some(last)) => {
                last.push('\n');
                last.push_str(more);
            }
            _ => records.push(line.to_owned()),
        }
    }
    let mut out: Vec<(String, Statement)> = Vec::new();
    for r in records.iter().filter(|r| r.contains(&at)) {
        let pid = r.split('[').nth(1).and_then(|s| s.split(']').next());
        let pid = pid.unwrap_or_default().to_owned();
        let body = |tag: &str| r.split_once(tag).map(|(_, b)| b);
        if let Some(sql) = body(" LOG:  statement: ") {
            out.push((pid, statement(sql)));
        } else if let Some(rest) = body(" LOG:  execute ") {
            if let Some((_, sql)) = rest.split_once(": ") {
                out.push((pid, statement(sql)));
            }
        } else if let Some(list) = body(" DETAIL:  ").and_then(|d| {
            // Its case differs between PostgreSQL versions.
            let (head, list) = (d.get(..12)?, d.get(12..)?);
            head.eq_ignore_ascii_case("parameters: ").then_some(list)
        }) && let Some((_, s)) = out.iter_mut().rev().find(|(p, _)| *p == pid)
        {
            s.params = params(list);
        }
    }
    out.into_iter().map(|(_, s)| s).collect()
}

fn statement(sql: &str) -> Statement {
    Statement {
        sql: sql.trim().to_owned(),
        params: vec![],
    }
}

/// `$1 = '5', $2 = NULL, $3 = 'it''s'` → `["5", None, "it's"]` (each at its `$n`).
fn params(list: &str) -> Vec<Option<String>> {
    let mut out = Vec::new();
    let mut rest = list;
    while let Some((name, after)) = rest.split_once(" = ") {
        let n: usize = name
            .trim_start_matches([',', ' ', '$'])
            .parse()
            .unwrap_or(0);
        let (value, tail) = match after.strip_prefix("NULL") {
            Some(tail) => (None, tail),
            None => {
                let mut value = String::new();
                let mut chars = after.char_indices().skip(1).peekable();
                let mut end = after.len();
                while let Some((i, c)) = chars.next() {
                    if c == '\'' && chars.next_if(|(_, c)| *c == '\'').is_none() {
                        end = i + 1;
                        break;
                    }
                    value.push(c);
                }
                (Some(value), &after[end..])
            }
        };
        if n > out.len() {
            out.resize(n, None);
        }
        if n > 0 {
            out[n - 1] = value;
        }
        rest = tail;
    }
    out
}

/// The pgbench script of `statements`: parameters become `-D` variables (or literals, in the
/// inlined text), and a value equal to `row.0` becomes `:id`, drawn from `row.1` each time.
pub fn script(
    key: &'static str,
    what: String,
    statements: &[Statement],
    row: Option<(i64, (i64, i64))>,
) -> SqlScript {
    let (mut as_run, mut inlined, mut defines) = (String::new(), String::new(), Vec::new());
    if let Some((_, (lo, hi))) = row {
        let set = format!("\\set id random({lo}, {hi})\n");
        as_run.push_str(&set);
        inlined.push_str(&set);
    }
    for (i, s) in statements.iter().enumerate() {
        let value = |n: usize| s.params.get(n.wrapping_sub(1)).cloned().flatten();
        let is_row = |v: &str| row.is_some_and(|(id, _)| v == id.to_string());
        // NULL and the row id are the same in both texts; other values a variable or a literal.
        let both = |n| {
            value(n).map_or(Ok("NULL".into()), |v| {
                if is_row(&v) { Ok(":id".into()) } else { Err(v) }
            })
        };
        let run = substitute(&s.sql, |n| {
            both(n).unwrap_or_else(|v| {
                defines.push((format!("s{i}p{n}"), v));
                format!(":s{i}p{n}")
            })
        });
        let lit = substitute(&s.sql, |n| {
            both(n).unwrap_or_else(|v| format!("'{}'", v.replace('\'', "''")))
        });
        as_run.push_str(&format!("{run};\n"));
        inlined.push_str(&format!("{lit};\n"));
    }
    SqlScript {
        key,
        what,
        as_run,
        inlined,
        defines,
    }
}

/// `sql` with each `$n` replaced by `with(n)`.
fn substitute(sql: &str, mut with: impl FnMut(usize) -> String) -> String {
    let placeholder = regex::Regex::new(r"\$(\d+)").expect("a valid pattern");
    let replaced =
        placeholder.replace_all(sql, |c: &regex::Captures| with(c[1].parse().unwrap_or(0)));
    replaced.into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    const LOG: &str = "\
2026-12-07 17:00:00.001 UTC [41] postgres@bench_9 LOG:  statement: BEGIN
2026-12-07 17:00:00.002 UTC [42] postgres@other LOG:  execute s0: SELECT 1
2026-12-07 17:00:00.003 UTC [41] postgres@bench_9 LOG:  execute s1: SELECT \"id\" FROM \"tasks\"
\tWHERE \"user_id\" = $1 AND \"title\" = $2 AND \"d\" = $3 LIMIT $10
2026-12-07 17:00:00.004 UTC [41] postgres@bench_9 DETAIL:  parameters: $1 = '7', $2 = 'it''s, = x', $3 = NULL, $10 = '21'
";

    #[test]
    fn reads_statements_and_their_values_for_one_database() {
        let s = parse(LOG, "bench_9");
        assert_eq!(s.len(), 2);
        assert_eq!(s[0].sql, "BEGIN");
        assert!(s[1].sql.ends_with("= $3 LIMIT $10") && s[1].sql.contains('\n'));
        let p = &s[1].params;
        assert_eq!(p[1].as_deref(), Some("it's, = x"));
        assert_eq!((p[2].clone(), p[9].as_deref()), (None, Some("21")));
        let sc = script("get", "x".into(), &s, Some((7, (1, 9))));
        assert!(
            sc.as_run
                .contains("\"user_id\" = :id AND \"title\" = :s1p2 AND \"d\" = NULL")
        );
        assert!(sc.inlined.contains("'it''s, = x'") && sc.inlined.contains("LIMIT '21';"));
        assert_eq!(sc.defines[1], ("s1p10".into(), "21".into()));
    }
}
