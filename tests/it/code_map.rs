//! The README's promises about the tree stay true: every folder and file of the services'
//! sources, the test support and the benchmark, every test file and every top-level folder is
//! named (as a path in backticks) in the README or a `docs/` page it links; no path named in
//! docs/code-map.md is gone; the README's test command is the one CI runs; every ignored
//! test says how both runners include it.

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
