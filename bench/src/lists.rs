//! Lists at scale: whether a list page costs the same for a user with many tasks as for one
//! with few. One user gets `--lists-tasks` tasks by SQL, another 20; then `GET
//! /tasks?limit=20` is timed, one request at a time, the two users taking turns, on the first
//! page and on a cursor page nine tenths down each list. The target (report.rs): the large
//! user's median and p99 within 2× of the small user's, on both pages.

use std::{net::SocketAddr, time::Instant};

use anyhow::{Context, bail};

use crate::{bench_user, http, psql, report::ListCase, say};

/// Times `GET` of each of `cases` (token, path) `requests` times, the cases taking turns
/// request by request, so that other work on the machine weighs on each alike.
fn time_requests(
    task: SocketAddr,
    cases: &[(&str, String)],
    requests: u32,
) -> anyhow::Result<Vec<Vec<f64>>> {
    let auths: Vec<String> = cases.iter().map(|(t, _)| format!("Bearer {t}")).collect();
    let mut millis = vec![Vec::with_capacity(requests as usize); cases.len()];
    // The first tenth warms the connection pool, the plan cache and the pages read.
    let warmup = requests.div_ceil(10);
    for round in 0..warmup + requests {
        for (i, (_, path)) in cases.iter().enumerate() {
            let headers = [("Authorization", auths[i].as_str())];
            let started = Instant::now();
            let r = http::request(task, "GET", path, &headers, None)?;
            let took = started.elapsed().as_secs_f64() * 1000.0;
            if r.status != 200 {
                bail!("GET {path}: {} {}", r.status, r.body);
            }
            if round >= warmup {
                millis[i].push(took);
            }
        }
    }
    for m in &mut millis {
        m.sort_by(f64::total_cmp);
    }
    Ok(millis)
}

/// The cursor of the page that ends after the `depth`-th task of `user_id`'s list.
fn cursor_at(db_url: &str, user_id: i64, depth: u64) -> anyhow::Result<String> {
    let row = psql(
        db_url,
        &format!(
            "SELECT (extract(epoch FROM created_at) * 1000000)::bigint || ' ' || id FROM tasks \
             WHERE user_id = {user_id} ORDER BY created_at DESC, id DESC OFFSET {} LIMIT 1",
            depth.saturating_sub(1)
        ),
    )?;
    let (micros, id) = row
        .trim()
        .split_once(' ')
        .with_context(|| format!("no task at depth {depth}: {row:?}"))?;
    let cursor = task::domain::Cursor {
        created_at: chrono::DateTime::from_timestamp_micros(micros.parse()?)
            .context("created_at out of range")?,
        id: id.parse()?,
    };
    Ok(cursor.encode())
}

/// Seeds the two users, times the four cases, and returns them (small, large alternating:
/// first page, then deep page).
pub fn measure(
    db_url: &str,
    auth: SocketAddr,
    task: SocketAddr,
    large_tasks: u64,
    requests: u32,
) -> anyhow::Result<Vec<ListCase>> {
    let small = bench_user(auth, "lists_small")?;
    let large = bench_user(auth, "lists_large")?;
    let started = Instant::now();
    for (user, count) in [(&small, 20), (&large, large_tasks)] {
        psql(
            db_url,
            &format!(
                "INSERT INTO tasks (user_id, title, status, priority, created_at, updated_at) \
                 SELECT {}, 'Task ' || g, (ARRAY['pending','in_progress','completed'])[1 + g % 3], \
                        'medium', now() - g * interval '1 second', now() - g * interval '1 second' \
                 FROM generate_series(1, {count}) g",
                user.id
            ),
        )?;
    }
    psql(db_url, "VACUUM ANALYZE tasks")?;
    let secs = started.elapsed().as_secs_f64();
    say(format!(
        "lists: {large_tasks} + 20 tasks inserted in {secs:.1} s"
    ));
    let mut cases = Vec::new();
    for (page, tenths) in [("first page", None), ("cursor page 9/10 down", Some(9u64))] {
        let mut pair = Vec::new();
        for (user, count) in [(&small, 20), (&large, large_tasks)] {
            let path = match tenths {
                None => "/tasks?limit=20".to_owned(),
                Some(t) => format!(
                    "/tasks?limit=20&cursor={}",
                    cursor_at(db_url, user.id, count * t / 10)?
                ),
            };
            pair.push((user.token.as_str(), path));
        }
        let timed = time_requests(task, &pair, requests)?;
        for (millis, n) in timed.iter().zip([20, large_tasks]) {
            let at = |q: f64| millis[((millis.len() as f64 - 1.0) * q).round() as usize];
            let name = format!("{page}, {n} tasks");
            cases.push(ListCase {
                name,
                median_ms: at(0.5),
                p99_ms: at(0.99),
            });
        }
    }
    Ok(cases)
}
