//! The README's promises about the tree stay true: every folder and file of the services'
//! sources, the test support and the benchmark, every test file and every top-level folder is
//! named (as a path in backticks) in the README or a `docs/` page it links; no path named in
//! docs/code-map.md is gone; the README's test command is the one CI runs; every ignored
//! test says how both runners include it. And what is kept by hand beside the code stays true:
//! the forge workflow runs `.ci/run`'s commands, comments carry no history, docs/testing.md's
//! numbers are in its tests.

use std::{
    collections::BTreeSet,
    fs,
    path::{Path, PathBuf},
};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn read(rel: &str) -> String {
    fs::read_to_string(root().join(rel)).unwrap_or_else(|e| panic!("read {rel}: {e}"))
}

/// The `docs/*.md` pages the README links to.
fn linked_docs(readme: &str) -> Vec<String> {
    let mut pages: Vec<String> = readme
        .split("](")
        .skip(1)
        .filter_map(|rest| rest.split(')').next())
        .filter(|target| target.starts_with("docs/") && target.ends_with(".md"))
        .map(str::to_owned)
        .collect();
    pages.sort();
    pages.dedup();
    pages
}

/// What appears in backticks in `text`.
fn backticked(text: &str) -> BTreeSet<String> {
    text.split('`')
        .skip(1)
        .step_by(2)
        .map(str::to_owned)
        .collect()
}

/// The files and folders below `dir` (relative to the root), folders with a trailing `/`.
fn walk(dir: &str, out: &mut Vec<String>) {
    let path = root().join(dir);
    let mut entries: Vec<_> = fs::read_dir(&path)
        .unwrap_or_else(|e| panic!("list {dir}: {e}"))
        .map(|e| e.expect("directory entry").path())
        .collect();
    entries.sort();
    for entry in entries {
        let name = entry.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if name == "node_modules" {
            continue;
        }
        let rel = format!("{dir}/{name}");
        if entry.is_dir() {
            out.push(format!("{rel}/"));
            walk(&rel, out);
        } else {
            out.push(rel);
        }
    }
}

/// The top-level folders a clone holds (not build output, local data or tool caches).
fn top_level_folders() -> Vec<String> {
    let mut folders: Vec<String> = fs::read_dir(root())
        .expect("list the repository root")
        .map(|e| e.expect("directory entry").path())
        .filter(|p| p.is_dir())
        .filter_map(|p| p.file_name().and_then(|n| n.to_str()).map(str::to_owned))
        .filter(|name| {
            let local = ["target", "data", "node_modules"].contains(&name.as_str())
                || name.starts_with("result");
            !local && (!name.starts_with('.') || name == ".ci")
        })
        .map(|name| format!("{name}/"))
        .collect();
    folders.sort();
    folders
}

/// The test files of every crate (integration tests and their shared modules).
fn test_files() -> Vec<String> {
    let mut files = Vec::new();
    for dir in ["tests", "auth/tests", "task/tests", "platform/tests"] {
        let mut all = Vec::new();
        walk(dir, &mut all);
        files.extend(all.into_iter().filter(|f| f.ends_with(".rs")));
    }
    files
}

#[test]
fn the_code_map_names_every_folder_and_source_file() {
    let readme = read("README.md");
    let pages = linked_docs(&readme);
    for page in ["docs/code-map.md", "docs/testing.md"] {
        assert!(
            pages.iter().any(|p| p == page),
            "README.md does not link {page}"
        );
    }
    let mut named = backticked(&readme);
    for page in &pages {
        let path = root().join(page);
        // A page another branch adds may not be here yet; the README's link is checked above
        // only for the pages this test reads.
        if let Ok(text) = fs::read_to_string(&path) {
            named.extend(backticked(&text));
        }
    }

    let mut wanted = top_level_folders();
    for dir in [
        "auth/src",
        "task/src",
        "platform/src",
        "token-contract/src",
        "db-schema/src",
        "musl-memcpy/src",
        "src",
        "testkit/src",
        "bench/src",
        "client/src",
    ] {
        wanted.push(format!("{dir}/"));
        walk(dir, &mut wanted);
    }
    wanted.extend(test_files());

    let missing: Vec<&String> = wanted.iter().filter(|w| !named.contains(*w)).collect();
    assert!(
        missing.is_empty(),
        "not named (in backticks) in README.md or the docs pages it links ({}); add a row to \
         docs/code-map.md (sources) or docs/testing.md (tests) for each:\n  {}",
        pages.join(", "),
        missing
            .iter()
            .map(|m| m.as_str())
            .collect::<Vec<_>>()
            .join("\n  ")
    );
}

#[test]
fn every_path_in_the_code_map_exists() {
    let map = read("docs/code-map.md");
    let gone: Vec<String> = map
        .lines()
        .filter_map(|line| line.strip_prefix("| `"))
        .filter_map(|rest| rest.split('`').next())
        .filter(|path| path.contains('/'))
        .filter(|path| !Path::new(&root().join(path)).exists())
        .map(str::to_owned)
        .collect();
    assert!(
        gone.is_empty(),
        "docs/code-map.md lists paths that do not exist; remove or rename their rows:\n  {}",
        gone.join("\n  ")
    );
}

#[test]
fn the_readmes_test_command_is_the_one_ci_runs() {
    let command = "cargo nextest run --workspace --run-ignored all";
    let ci = read(".ci/run");
    assert!(ci.contains(command), ".ci/run no longer runs `{command}`");
    let readme = read("README.md");
    let line = readme
        .lines()
        .find(|l| l.contains(command))
        .unwrap_or_else(|| panic!("README.md does not show `{command}`"));
    assert!(
        line.starts_with("TEST_DATABASE_URL=postgres://") && ci.contains("TEST_DATABASE_URL"),
        "the README's test command sets TEST_DATABASE_URL as .ci/run does: {line}"
    );
}

#[test]
fn every_ignore_reason_names_both_runners_flag() {
    let mut sources = test_files();
    for dir in [
        "auth/src",
        "task/src",
        "platform/src",
        "token-contract/src",
        "db-schema/src",
        "musl-memcpy/src",
        "src",
        "testkit/src",
    ] {
        walk(dir, &mut sources);
    }
    let mut bad = Vec::new();
    for file in sources.iter().filter(|f| f.ends_with(".rs")) {
        for (i, line) in read(file).lines().enumerate() {
            let line = line.trim();
            if line.starts_with("#[ignore")
                && !(line.contains("--run-ignored all") && line.contains("-- --include-ignored"))
            {
                bad.push(format!("{file}:{}: {line}", i + 1));
            }
        }
    }
    assert!(
        bad.is_empty(),
        "ignored tests must say how to run them with both runners (`--run-ignored all` for \
         cargo nextest, `-- --include-ignored` for cargo test):\n  {}",
        bad.join("\n  ")
    );
}

/// The commands `.ci/run` runs, in order, each with the names it exports just before it: its
/// lines less comments, blank lines and the script's own plumbing (`set`, `cd`, its timer and
/// `step` headings).
fn ci_run_commands() -> Vec<(Vec<String>, String)> {
    let mut commands = Vec::new();
    let mut exported = Vec::new();
    for line in read(".ci/run").lines().map(str::trim) {
        let plumbing = ["set ", "cd ", "started=", "step(", "step \""];
        if line.is_empty() || line.starts_with('#') || plumbing.iter().any(|p| line.starts_with(p))
        {
            continue;
        }
        if let Some(assignment) = line.strip_prefix("export ") {
            exported.extend(
                assignment
                    .split_whitespace()
                    .filter_map(|a| a.split_once('=').map(|(name, _)| name.to_owned())),
            );
            continue;
        }
        commands.push((std::mem::take(&mut exported), line.to_owned()));
    }
    commands
}

/// One `run:` line of the forge workflow, with the job it is in and the environment names
/// set for it (workflow, job and step `env:`).
struct WorkflowLine {
    job: String,
    env: BTreeSet<String>,
    line: String,
}

const WORKFLOW: &str = ".github/workflows/ci.yml";

fn env_names(value: &serde_yaml::Value) -> impl Iterator<Item = String> + '_ {
    value
        .get("env")
        .and_then(serde_yaml::Value::as_mapping)
        .into_iter()
        .flat_map(|env| env.keys().filter_map(|k| k.as_str().map(str::to_owned)))
}

fn workflow_lines() -> Vec<WorkflowLine> {
    let workflow: serde_yaml::Value = serde_yaml::from_str(&read(WORKFLOW))
        .unwrap_or_else(|e| panic!("{WORKFLOW} is not YAML: {e}"));
    let top: BTreeSet<String> = env_names(&workflow).collect();
    let jobs = workflow
        .get("jobs")
        .and_then(serde_yaml::Value::as_mapping)
        .unwrap_or_else(|| panic!("{WORKFLOW} has no jobs"));
    let mut lines = Vec::new();
    for (name, job) in jobs {
        let job_name = name.as_str().expect("a job's id is a string").to_owned();
        let steps = job
            .get("steps")
            .and_then(serde_yaml::Value::as_sequence)
            .unwrap_or_else(|| panic!("job {job_name} has no steps"));
        for step in steps {
            let Some(run) = step.get("run").and_then(serde_yaml::Value::as_str) else {
                continue;
            };
            let mut env = top.clone();
            env.extend(env_names(job));
            env.extend(env_names(step));
            for line in run.lines().map(str::trim).filter(|l| !l.is_empty()) {
                lines.push(WorkflowLine {
                    job: job_name.clone(),
                    env: env.clone(),
                    line: line.to_owned(),
                });
            }
        }
    }
    lines
}

/// Whether `line` runs `command`: the same words, or the same words after `NAME=value` ones
/// (a variable the forge sets where `.ci/run` relies on the machine's default).
fn runs(line: &str, command: &str) -> bool {
    line.strip_suffix(command).is_some_and(|prefix| {
        prefix.split_whitespace().all(|word| {
            word.split_once('=').is_some_and(|(name, _)| {
                !name.is_empty()
                    && name
                        .chars()
                        .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
            })
        }) && (prefix.is_empty() || prefix.ends_with(' '))
    })
}

/// What the forge runs that `.ci/run` does not, each with the reason.
const FORGE_ONLY: &[(&str, &str)] = &[
    (
        "cargo build --locked -p auth -p task",
        "schemathesis's job builds the debug binaries that .ci/run's test step leaves behind",
    ),
    (
        "bash .ci/images.sh",
        "the Nix images in Docker: .ci/run's machine has neither Nix nor a Docker daemon",
    ),
    (
        "bash .ci/arm64.sh",
        "the aarch64 release build is too long for .ci/run's budget (docs/nix.md)",
    ),
];

#[test]
fn the_forge_workflow_runs_what_ci_runs() {
    let lines = workflow_lines();
    let commands = ci_run_commands();
    assert!(
        commands.len() >= 10,
        "too few commands read from .ci/run: {commands:?}"
    );
    let mut problems = Vec::new();
    for (exported, command) in &commands {
        let runners: Vec<&WorkflowLine> = lines.iter().filter(|l| runs(&l.line, command)).collect();
        if runners.is_empty() {
            problems.push(format!(
                "{WORKFLOW} does not run `{command}` (.ci/run does)"
            ));
        }
        for runner in runners {
            for name in exported.iter().filter(|n| !runner.env.contains(*n)) {
                problems.push(format!(
                    "job {} runs `{command}` without {name}, which .ci/run exports for it",
                    runner.job
                ));
            }
        }
    }
    for line in &lines {
        let own = line.line.starts_with("cargo ") || line.line.contains("bash .ci/");
        let in_ci = commands.iter().any(|(_, c)| runs(&line.line, c));
        let forge_only = FORGE_ONLY.iter().any(|(c, _)| line.line.contains(c));
        if own && !in_ci && !forge_only {
            problems.push(format!(
                "job {} runs `{}`, which .ci/run does not (add it there, or to FORGE_ONLY with \
                 the reason)",
                line.job, line.line
            ));
        }
    }
    let nix = lines
        .iter()
        .find(|l| l.line.starts_with("nix build"))
        .map(|l| l.line.as_str());
    if !nix.is_some_and(|l| l.contains(".#auth-image .#task-image")) {
        problems.push(format!(
            "no job builds both images with `nix build .#auth-image .#task-image`: {nix:?}"
        ));
    }
    if !lines
        .iter()
        .any(|l| l.line.starts_with("docker load < result"))
    {
        problems.push("no job loads the images into Docker (`docker load < result`)".into());
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn every_action_is_pinned_to_a_commit() {
    let unpinned: Vec<String> = read(WORKFLOW)
        .lines()
        .map(str::trim)
        .filter_map(|l| {
            l.strip_prefix("- uses: ")
                .or_else(|| l.strip_prefix("uses: "))
        })
        .filter(|uses| {
            let Some((_, rest)) = uses.split_once('@') else {
                return true;
            };
            let (sha, version) = rest.split_once(" # v").unwrap_or((rest, ""));
            let pinned = sha.len() == 40 && sha.bytes().all(|b| b.is_ascii_hexdigit());
            let tagged = version.split('.').count() == 3
                && version.split('.').all(|n| n.parse::<u32>().is_ok());
            !(pinned && tagged)
        })
        .map(str::to_owned)
        .collect();
    assert!(
        unpinned.is_empty(),
        "actions in {WORKFLOW} must be pinned by full commit SHA with a `# vX.Y.Z` comment:\n  {}",
        unpinned.join("\n  ")
    );
}

/// The files whose comments must say why, not what happened: Rust, C, TypeScript, shell,
/// Cargo manifests, Nix and the YAML of the workflow and the Copilot manifests.
fn commented_files() -> Vec<String> {
    let mut files = Vec::new();
    for dir in [
        "auth",
        "task",
        "platform",
        "token-contract",
        "db-schema",
        "musl-memcpy",
        "src",
        "testkit",
        "bench",
        "tests",
        "cdk/bin",
        "cdk/lib",
        "cdk/test",
        "scripts",
        "nix",
        ".ci",
        ".github",
        "copilot",
    ] {
        walk(dir, &mut files);
    }
    let kinds = [".rs", ".c", ".ts", ".sh", ".toml", ".nix", ".yml", ".yaml"];
    files.retain(|f| kinds.iter().any(|k| f.ends_with(k)) || f == ".ci/run");
    files.extend(["Cargo.toml".to_owned(), "flake.nix".to_owned()]);
    files
}

/// The comment on `line`, if any, for a file that comments with `//` (`slashes`) or `#`.
fn comment(line: &str, slashes: bool) -> Option<&str> {
    let trimmed = line.trim_start();
    let (whole, marker) = if slashes {
        (
            trimmed.starts_with("//") || trimmed.starts_with("/*") || trimmed.starts_with("* "),
            " // ",
        )
    } else {
        (
            trimmed.starts_with('#') && !trimmed.starts_with("#!"),
            " # ",
        )
    };
    if whole {
        return Some(trimmed);
    }
    // A trailing comment: the marker outside a string (an even number of quotes before it).
    line.match_indices(marker)
        .find(|(at, _)| line[..*at].matches('"').count().is_multiple_of(2))
        .map(|(at, m)| &line[at + m.len()..])
}

/// What in `text` (one comment) is history rather than a reason: an issue or pull request
/// number, a commit id, or a before -> after figure.
fn history_in(text: &str) -> Option<String> {
    let lower = text.to_ascii_lowercase();
    for word in ["issue", "pull request", "pr"] {
        for (at, _) in lower.match_indices(word) {
            let before_ok = lower[..at]
                .chars()
                .next_back()
                .is_none_or(|c| !c.is_ascii_alphanumeric());
            let after = lower[at + word.len()..].trim_start_matches('s');
            let number = after.trim_start_matches([' ', '#']);
            if before_ok
                && after.len() > number.len()
                && number.starts_with(|c: char| c.is_ascii_digit())
            {
                return Some(format!("an issue number ({})", &text[at..]));
            }
        }
    }
    let chars: Vec<char> = text.chars().collect();
    for (i, c) in chars.iter().enumerate() {
        let before = i.checked_sub(1).map(|j| chars[j]);
        if *c == '#'
            && before.is_none_or(|b| b.is_whitespace() || "([,".contains(b))
            && chars.get(i + 1).is_some_and(char::is_ascii_digit)
        {
            return Some(format!(
                "an issue number ({})",
                chars[i..].iter().collect::<String>()
            ));
        }
    }
    // Words that are hex but no commit.
    const NOT_COMMITS: &[&str] = &["ed25519"];
    for word in text.split(|c: char| !c.is_ascii_alphanumeric()) {
        let hex = word
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
        if (7..=40).contains(&word.len())
            && hex
            && word.bytes().any(|b| b.is_ascii_digit())
            && word.bytes().any(|b| b.is_ascii_alphabetic())
            && !NOT_COMMITS.contains(&word)
        {
            return Some(format!("a commit id ({word})"));
        }
    }
    for arrow in ["->", "→"] {
        for (at, _) in text.match_indices(arrow) {
            let left = text[..at].trim_end().chars().next_back();
            let right = text[at + arrow.len()..].trim_start().chars().next();
            if left.is_some_and(|c| c.is_ascii_digit()) && right.is_some_and(|c| c.is_ascii_digit())
            {
                return Some(format!("a before -> after figure ({})", text.trim()));
            }
        }
    }
    None
}

#[test]
fn comments_carry_no_issue_numbers_commit_ids_or_before_after_figures() {
    let mut found = Vec::new();
    for file in commented_files() {
        let slashes = [".rs", ".c", ".ts"].iter().any(|k| file.ends_with(k));
        for (i, line) in read(&file).lines().enumerate() {
            if let Some(what) = comment(line, slashes).and_then(history_in) {
                found.push(format!("{file}:{}: {what}", i + 1));
            }
        }
    }
    assert!(
        found.is_empty(),
        "comments say why, not what happened: history belongs in git, figures in \
         docs/benchmarks.md (name its section in the comment):\n  {}",
        found.join("\n  ")
    );
}

#[test]
fn the_history_check_finds_what_it_looks_for() {
    for history in [
        "// Every rule of issue 16, asserted.",
        "# see #16",
        "//! came in (commit f6790f3): faster",
        "# 54-56 -> 43-44 MiB RSS",
        "/// 85 → 16 ms",
        "// PR 12 moved this",
    ] {
        let text = comment(history, !history.starts_with('#')).expect("a comment");
        assert!(history_in(text).is_some(), "not found in {history:?}");
    }
    for fine in [
        "// PKCS#8 PEM, Ed25519 (ed25519) keys",
        "# cfn-lint exits 2 on errors, 4 on warnings",
        "/// \"30s\" → 30.",
        "// an issue with the pool: it retries",
        "let x = \"a // b\"; // the why",
        "echo \"${#arr[@]}\"",
    ] {
        let slashes = !fine.starts_with('#') && !fine.starts_with("echo");
        assert_eq!(
            comment(fine, slashes).and_then(history_in),
            None,
            "{fine:?}"
        );
    }
}

/// The numbers a cell says, as digits ("2,000" -> "2000"); a digit run inside a word
/// ("5xx", "HS256") is a name, not a number.
fn numbers(text: &str) -> Vec<String> {
    let chars: Vec<char> = text.chars().collect();
    let mut found = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        if !chars[i].is_ascii_digit() {
            i += 1;
            continue;
        }
        let start = i;
        while i < chars.len()
            && (chars[i].is_ascii_digit()
                || (chars[i] == ',' && chars.get(i + 1).is_some_and(char::is_ascii_digit)))
        {
            i += 1;
        }
        let before = start.checked_sub(1).map(|j| chars[j]);
        let after = chars.get(i).copied();
        if !before.is_some_and(|c| c.is_alphanumeric())
            && !after.is_some_and(|c| c.is_alphanumeric())
        {
            found.push(chars[start..i].iter().filter(|c| **c != ',').collect());
        }
    }
    found
}

/// Whether `text` holds `number` as a whole number (not as part of a longer one or a name).
fn contains_number(text: &str, number: &str) -> bool {
    text.match_indices(number).any(|(at, _)| {
        let before = text[..at].chars().next_back();
        let after = text[at + number.len()..].chars().next();
        let joined = |c: char| c.is_alphanumeric() || c == '_';
        !before.is_some_and(joined) && !after.is_some_and(joined)
    })
}

#[test]
fn every_number_in_the_test_table_is_in_the_test_it_describes() {
    let mut stale = Vec::new();
    for row in read("docs/testing.md")
        .lines()
        .filter(|l| l.starts_with("| `"))
    {
        let Some((files, what)) = row.trim_start_matches('|').split_once(" | ") else {
            continue;
        };
        let sources: String = backticked(files)
            .iter()
            .filter(|f| f.ends_with(".rs"))
            .filter_map(|f| fs::read_to_string(root().join(f)).ok())
            .collect();
        for number in numbers(what) {
            let grouped = |sep: &str| {
                let digits: Vec<char> = number.chars().collect();
                let mut out = String::new();
                for (i, d) in digits.iter().enumerate() {
                    if i > 0 && (digits.len() - i).is_multiple_of(3) {
                        out.push_str(sep);
                    }
                    out.push(*d);
                }
                out
            };
            if ![number.clone(), grouped("_"), grouped(",")]
                .iter()
                .any(|form| contains_number(&sources, form))
            {
                stale.push(format!("{number} in the row of {files}"));
            }
        }
    }
    assert!(
        stale.is_empty(),
        "docs/testing.md says numbers its tests do not contain; derive them from the test or \
         drop them:\n  {}",
        stale.join("\n  ")
    );
}
