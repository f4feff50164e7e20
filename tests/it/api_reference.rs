//! docs/API.md is the API reference a clone carries: every operation of the generated
//! OpenAPI documents is in it, with every status the operation documents, and it names no
//! operation the services do not have.

use std::collections::BTreeSet;

use serde_json::Value;

const REFERENCE: &str = include_str!("../../docs/API.md");

fn spec(name: &str) -> Value {
    let path = format!("{}/openapi/{name}.json", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(&path).expect("committed spec"))
        .expect("spec is JSON")
}

/// `(METHOD /path, [statuses])` for every operation in the specs.
fn operations() -> Vec<(String, BTreeSet<String>)> {
    let mut ops = Vec::new();
    for name in ["auth", "task"] {
        let spec = spec(name);
        for (path, item) in spec["paths"].as_object().expect("paths") {
            for (method, op) in item.as_object().expect("path item") {
                let statuses = op["responses"]
                    .as_object()
                    .map(|r| r.keys().cloned().collect())
                    .unwrap_or_default();
                ops.push((format!("{} {path}", method.to_uppercase()), statuses));
            }
        }
    }
    ops
}

/// The row of the reference's tables that documents `operation`.
fn row(operation: &str) -> Option<&'static str> {
    REFERENCE
        .lines()
        .find(|l| l.starts_with('|') && l.contains(&format!("`{operation}`")))
}

#[test]
fn every_operation_is_documented_with_its_statuses() {
    let ops = operations();
    assert!(ops.len() >= 13, "found the operations: {ops:?}");
    let mut missing = Vec::new();
    for (op, statuses) in &ops {
        let Some(row) = row(op) else {
            missing.push(format!("{op}: no row"));
            continue;
        };
        // The success status and every documented error, except the 500 every operation
        // can answer (the reference states that once).
        for status in statuses.iter().filter(|s| *s != "500") {
            if !row.contains(status.as_str()) {
                missing.push(format!("{op}: status {status}"));
            }
        }
    }
    assert!(missing.is_empty(), "docs/API.md lacks: {missing:#?}");
}

#[test]
fn the_reference_names_only_real_operations() {
    let real: BTreeSet<String> = operations().into_iter().map(|(op, _)| op).collect();
    let methods = ["GET", "POST", "PUT", "DELETE"];
    let named: BTreeSet<String> = REFERENCE
        .lines()
        .filter(|l| l.starts_with("| `"))
        .flat_map(|l| {
            l.split('`')
                .skip(1)
                .step_by(2)
                .map(str::to_owned)
                .collect::<Vec<_>>()
        })
        .filter(|s| methods.iter().any(|m| s.starts_with(&format!("{m} /"))))
        // Served beside the API, not part of it.
        .filter(|s| !s.ends_with("/docs") && !s.ends_with("/openapi.json"))
        .collect();
    let unknown: Vec<_> = named.difference(&real).collect();
    assert!(
        unknown.is_empty(),
        "docs/API.md names operations the specs lack: {unknown:?}"
    );
}
