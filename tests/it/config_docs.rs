//! One source of truth for settings: what each binary's `--help` lists (its clap arguments,
//! each bound to an environment variable) is exactly what the README's configuration table
//! and docs/API.md name.

use std::{collections::BTreeSet, process::Command};

use testkit::process::workspace_binary;

/// The `[env: NAME]` entries of `<bin> <args> --help`.
fn help_vars(bin: &str, args: &[&str]) -> BTreeSet<String> {
    let out = Command::new(workspace_binary(bin))
        .args(args)
        .arg("--help")
        .env_clear()
        .output()
        .expect("run --help");
    assert!(out.status.success(), "{bin} --help failed");
    let help = String::from_utf8_lossy(&out.stdout).into_owned();
    help.split("[env: ")
        .skip(1)
        .map(|rest| {
            rest.chars()
                .take_while(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || *c == '_')
                .collect()
        })
        .collect()
}

/// The variables named in backticks in the rows of the table under `heading` in `doc`.
fn table_vars(doc: &str, heading: &str) -> BTreeSet<String> {
    table_rows(doc, heading).into_iter().collect()
}

/// The same, one entry per naming: a variable in two rows appears twice.
fn table_rows(doc: &str, heading: &str) -> Vec<String> {
    let section = doc
        .split(heading)
        .nth(1)
        .unwrap_or_else(|| panic!("no {heading:?} section"));
    section
        .lines()
        .skip_while(|l| !l.starts_with('|'))
        .take_while(|l| l.starts_with('|'))
        .filter_map(|l| l.split('|').nth(1))
        .flat_map(|cell| {
            cell.split('`')
                .skip(1)
                .step_by(2)
                .map(str::to_owned)
                .collect::<Vec<_>>()
        })
        .filter(|v| v.chars().all(|c| c.is_ascii_uppercase() || c == '_') && !v.is_empty())
        .collect()
}

#[test]
fn help_lists_every_setting_with_its_default() {
    for bin in ["auth", "task"] {
        let vars = help_vars(bin, &[]);
        for v in [
            "PORT",
            "DATABASE_URL",
            "APP_ENV",
            "TRUSTED_PROXY_HOPS",
            "JWT_ISSUER",
        ] {
            assert!(vars.contains(v), "{bin} --help lacks {v}: {vars:?}");
        }
    }
    assert!(help_vars("auth", &[]).contains("BCRYPT_COST"));
    assert!(help_vars("task", &[]).contains("AUTH_SERVICE_URL"));
    assert!(help_vars("task-management", &["router"]).contains("TASK_SERVICE_URL"));
}

#[test]
fn the_readme_and_the_reference_list_exactly_what_the_binaries_read() {
    let mut read = BTreeSet::new();
    for (bin, args) in [
        ("auth", &[][..]),
        ("task", &[][..]),
        ("task-management", &[][..]),
        ("task-management", &["router"][..]),
    ] {
        read.extend(help_vars(bin, args));
    }
    // The services' declared settings, as the Copilot manifest test reads them too.
    let declared: BTreeSet<String> = auth::config::env_vars()
        .into_iter()
        .chain(task::config::env_vars())
        .collect();
    assert!(declared.is_subset(&read), "{declared:?} vs {read:?}");

    let readme = include_str!("../../README.md");
    let documented = table_vars(readme, "## Configure");
    assert_eq!(documented, read, "README's configuration table vs --help");

    let reference = include_str!("../../docs/API.md");
    let referenced = table_vars(reference, "## Configuration");
    let missing: Vec<_> = read.difference(&referenced).collect();
    assert!(
        missing.is_empty(),
        "docs/API.md's configuration table lacks {missing:?}"
    );
}

#[test]
fn each_setting_has_one_row() {
    for (doc, text, heading) in [
        ("README.md", include_str!("../../README.md"), "## Configure"),
        (
            "docs/API.md",
            include_str!("../../docs/API.md"),
            "## Configuration",
        ),
    ] {
        let mut seen = BTreeSet::new();
        let twice: Vec<String> = table_rows(text, heading)
            .into_iter()
            .filter(|v| !seen.insert(v.clone()))
            .collect();
        assert!(
            twice.is_empty(),
            "{doc}'s configuration table has more than one row for {twice:?}"
        );
    }
}
