//! The platform crate's layers hold: no file of `platform/src/` imports from a module above its
//! own, by the list `platform/src/lib.rs` writes under "Layers" (read here, so the doc and the
//! check cannot drift). Every `crate::…`, `super::…` and `self::…` path counts — in `use`
//! items, in code and in macro input — except in comments, which link rather than depend.

use std::{fs, path::Path};

use proc_macro2::{TokenStream, TokenTree};
use syn::visit::{self, Visit};

const SRC: &str = "platform/src";

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// The layers `lib.rs` lists under its "Layers" heading, top first: the backticked name of
/// each numbered item (`//! 1. \`startup\` — …`).
fn layers(lib: &str) -> Vec<String> {
    lib.lines()
        .filter_map(|l| l.strip_prefix("//!"))
        .map(str::trim)
        .skip_while(|l| *l != "# Layers")
        .skip(1)
        .take_while(|l| !l.starts_with('#'))
        .filter_map(|l| {
            let (number, rest) = l.split_once(". `")?;
            number.parse::<u32>().ok()?;
            rest.split_once('`').map(|(name, _)| name.to_owned())
        })
        .collect()
}

/// The modules `lib.rs` declares (`pub mod x;`).
fn declared_modules(lib: &syn::File) -> Vec<String> {
    lib.items
        .iter()
        .filter_map(|item| match item {
            syn::Item::Mod(m) => Some(m.ident.to_string()),
            _ => None,
        })
        .collect()
}

/// One reference from a file to a top-level module of the crate.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Reference {
    file: String,
    line: usize,
    from: String,
    to: String,
}

/// Collects the top-level module every crate-relative path in one file names.
struct References<'f> {
    file: &'f str,
    /// The module the visitor is in: the file's own path, then any inline `mod` inside it.
    module: Vec<String>,
    found: Vec<Reference>,
}

impl References<'_> {
    /// `segments` (a path's idents, `crate`/`super`/`self` included) resolved from the
    /// current module: the top-level module it names, if it is crate-relative and names one.
    fn note(&mut self, segments: &[String], line: usize) {
        let mut base: Vec<String> = match segments.first().map(String::as_str) {
            Some("crate") => Vec::new(),
            Some("self" | "super") => self.module.clone(),
            _ => return,
        };
        let mut rest = &segments[1..];
        if segments[0] == "super" {
            base.pop();
        }
        while rest.first().is_some_and(|s| s == "super") {
            base.pop();
            rest = &rest[1..];
        }
        let Some(to) = base.first().or(rest.first()) else {
            return;
        };
        self.found.push(Reference {
            file: self.file.to_owned(),
            line,
            from: self.module[0].clone(),
            to: to.clone(),
        });
    }

    /// Every path of a `use` tree below `prefix`.
    fn use_tree(&mut self, tree: &syn::UseTree, prefix: &mut Vec<String>) {
        match tree {
            syn::UseTree::Path(p) => {
                prefix.push(p.ident.to_string());
                self.use_tree(&p.tree, prefix);
                prefix.pop();
            }
            syn::UseTree::Name(n) => self.use_leaf(prefix, &n.ident),
            syn::UseTree::Rename(r) => self.use_leaf(prefix, &r.ident),
            syn::UseTree::Glob(g) => {
                let line = g.star_token.spans[0].start().line;
                self.note(prefix, line);
            }
            syn::UseTree::Group(g) => {
                for tree in &g.items {
                    self.use_tree(tree, prefix);
                }
            }
        }
    }

    fn use_leaf(&mut self, prefix: &[String], ident: &syn::Ident) {
        let mut path = prefix.to_vec();
        path.push(ident.to_string());
        self.note(&path, ident.span().start().line);
    }

    /// Paths inside a macro's input, which syn leaves as tokens: `crate`, `self` or `super`
    /// followed by `::` and more.
    fn tokens(&mut self, tokens: TokenStream) {
        let trees: Vec<TokenTree> = tokens.into_iter().collect();
        let mut i = 0;
        while i < trees.len() {
            if let TokenTree::Group(g) = &trees[i] {
                self.tokens(g.stream());
            }
            let starts = matches!(&trees[i], TokenTree::Ident(id)
                if ["crate", "self", "super"].contains(&id.to_string().as_str()));
            let preceded_by_path =
                i >= 1 && matches!(&trees[i - 1], TokenTree::Punct(p) if p.as_char() == ':');
            if starts && !preceded_by_path {
                let line = trees[i].span().start().line;
                let mut segments = vec![trees[i].to_string()];
                let mut j = i + 1;
                while let (
                    Some(TokenTree::Punct(a)),
                    Some(TokenTree::Punct(b)),
                    Some(TokenTree::Ident(next)),
                ) = (trees.get(j), trees.get(j + 1), trees.get(j + 2))
                {
                    if a.as_char() != ':' || b.as_char() != ':' {
                        break;
                    }
                    segments.push(next.to_string());
                    j += 3;
                }
                if segments.len() > 1 {
                    self.note(&segments, line);
                }
                i = j;
                continue;
            }
            i += 1;
        }
    }
}

impl<'ast> Visit<'ast> for References<'_> {
    fn visit_item_mod(&mut self, m: &'ast syn::ItemMod) {
        self.module.push(m.ident.to_string());
        visit::visit_item_mod(self, m);
        self.module.pop();
    }

    fn visit_item_use(&mut self, u: &'ast syn::ItemUse) {
        self.use_tree(&u.tree, &mut Vec::new());
    }

    fn visit_path(&mut self, path: &'ast syn::Path) {
        if path.leading_colon.is_none() {
            let segments: Vec<String> = path.segments.iter().map(|s| s.ident.to_string()).collect();
            let line = path
                .segments
                .first()
                .map_or(0, |s| s.ident.span().start().line);
            self.note(&segments, line);
        }
        visit::visit_path(self, path);
    }

    fn visit_macro(&mut self, mac: &'ast syn::Macro) {
        self.tokens(mac.tokens.clone());
        visit::visit_macro(self, mac);
    }

    // Doc comments are attributes holding text: a link in one is not a dependency.
    fn visit_attribute(&mut self, _: &'ast syn::Attribute) {}
}

/// The `.rs` files below `dir`, relative to the repository root.
fn rust_files(dir: &Path, out: &mut Vec<String>) {
    let mut entries: Vec<_> = fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("list {}: {e}", dir.display()))
        .map(|e| e.expect("directory entry").path())
        .collect();
    entries.sort();
    for entry in entries {
        if entry.is_dir() {
            rust_files(&entry, out);
        } else if entry.extension().is_some_and(|x| x == "rs") {
            let rel = entry.strip_prefix(root()).expect("below the root");
            out.push(rel.to_string_lossy().into_owned());
        }
    }
}

/// The module path of a file below `platform/src`: `db/mod.rs` is `db`, `db/conn.rs` is
/// `db::conn`, `startup.rs` is `startup`.
fn module_of(file: &str) -> Vec<String> {
    let rel = file
        .strip_prefix(SRC)
        .and_then(|r| r.strip_prefix('/'))
        .and_then(|r| r.strip_suffix(".rs"))
        .unwrap_or_else(|| panic!("{file} is not a .rs file below {SRC}"));
    let mut module: Vec<String> = rel.split('/').map(str::to_owned).collect();
    if module.last().is_some_and(|m| m == "mod") {
        module.pop();
    }
    module
}

/// Every crate-relative reference in `source` (the text of `file`).
fn references(file: &str, source: &str) -> Vec<Reference> {
    let parsed = syn::parse_file(source).unwrap_or_else(|e| panic!("parse {file}: {e}"));
    let mut refs = References {
        file,
        module: module_of(file),
        found: Vec::new(),
    };
    refs.visit_file(&parsed);
    refs.found
}

/// The references in `files` (path, text) that go up: to a layer above the file's own, or
/// to a module in no layer.
fn upward(layers: &[String], files: &[(String, String)]) -> Vec<String> {
    let rank = |m: &str| layers.iter().position(|l| l == m);
    let mut found = Vec::new();
    for (file, source) in files {
        for r in references(file, source) {
            match (rank(&r.from), rank(&r.to)) {
                (Some(from), Some(to)) if to >= from => {}
                (Some(_), Some(_)) => found.push(format!(
                    "{}:{}: `{}` uses `{}`, a layer above it",
                    r.file, r.line, r.from, r.to
                )),
                _ => found.push(format!(
                    "{}:{}: `{}` uses `crate::{}`: name a module of a layer",
                    r.file, r.line, r.from, r.to
                )),
            }
        }
    }
    found
}

fn platform_sources() -> (String, Vec<(String, String)>) {
    let lib =
        fs::read_to_string(root().join(SRC).join("lib.rs")).expect("read platform/src/lib.rs");
    let mut files = Vec::new();
    rust_files(&root().join(SRC), &mut files);
    let sources = files
        .into_iter()
        .filter(|f| f != &format!("{SRC}/lib.rs"))
        .map(|f| {
            let text =
                fs::read_to_string(root().join(&f)).unwrap_or_else(|e| panic!("read {f}: {e}"));
            (f, text)
        })
        .collect();
    (lib, sources)
}

#[test]
fn lib_rs_places_every_module_of_the_platform_crate_in_one_layer() {
    let (lib, _) = platform_sources();
    let layers = layers(&lib);
    let parsed = syn::parse_file(&lib).expect("parse platform/src/lib.rs");
    let mut declared = declared_modules(&parsed);
    declared.sort();
    let mut listed = layers.clone();
    listed.sort();
    assert_eq!(
        listed, declared,
        "platform/src/lib.rs's \"Layers\" list names each module it declares once"
    );
}

#[test]
fn no_file_of_the_platform_crate_imports_from_a_layer_above_its_own() {
    let (lib, sources) = platform_sources();
    let layers = layers(&lib);
    let up = upward(&layers, &sources);
    assert!(
        up.is_empty(),
        "files of platform/src import from above their layer (platform/src/lib.rs, \"Layers\"):\n  {}",
        up.join("\n  ")
    );
    // The reading must see what is there, or a reading that found nothing would pass.
    let across = sources
        .iter()
        .flat_map(|(f, s)| references(f, s))
        .filter(|r| r.from != r.to && layers.contains(&r.from) && layers.contains(&r.to))
        .count();
    assert!(
        across > 0,
        "no reference from one layer to another found: the reading is broken"
    );
}

#[test]
fn the_check_sees_upward_paths_in_every_form() {
    let layers: Vec<String> = ["startup", "http", "db", "process"]
        .map(str::to_owned)
        .to_vec();
    for (file, source) in [
        ("platform/src/db/a.rs", "use crate::http::error::ApiError;"),
        (
            "platform/src/db/a.rs",
            "use crate::{process::config, http::server};",
        ),
        ("platform/src/db/a.rs", "fn f() { crate::startup::run(); }"),
        (
            "platform/src/db/a.rs",
            "fn f() { tracing::info!(\"{}\", crate::http::X); }",
        ),
        ("platform/src/db/mod.rs", "use super::http::server;"),
        (
            "platform/src/process/a.rs",
            "mod t { use super::super::super::db::Database; }",
        ),
        ("platform/src/http/a.rs", "use crate::Cause;"),
    ] {
        let found = upward(&layers, &[(file.to_owned(), source.to_owned())]);
        assert_eq!(found.len(), 1, "{file}: {source}: {found:?}");
    }
    for (file, source) in [
        (
            "platform/src/db/a.rs",
            "use crate::process::config; use super::conn::Conn;",
        ),
        ("platform/src/db/mod.rs", "mod tests { use super::*; }"),
        (
            "platform/src/startup.rs",
            "use crate::{db::Database, http::server};",
        ),
        (
            "platform/src/process/a.rs",
            "/// See [`crate::http::server`].\nfn f() {}",
        ),
        (
            "platform/src/process/a.rs",
            "fn f() { let s = \"crate::http\"; }",
        ),
    ] {
        let found = upward(&layers, &[(file.to_owned(), source.to_owned())]);
        assert!(found.is_empty(), "{file}: {source}: {found:?}");
    }
}
