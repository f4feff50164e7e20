//! Generates the clients from the committed specs, so that a spec that no longer matches
//! how the clients are used fails the build of every crate that uses them.

use std::{env, fs, path::PathBuf};

fn main() {
    let out = PathBuf::from(env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    for (spec, module) in [("auth.json", "auth.rs"), ("task.json", "task.rs")] {
        let path = PathBuf::from("../openapi").join(spec);
        println!("cargo:rerun-if-changed={}", path.display());
        let text =
            fs::read_to_string(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
        let spec = serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("{} is not an OpenAPI 3.0 document: {e}", path.display()));
        let tokens = progenitor::Generator::new(
            progenitor::GenerationSettings::default()
                .with_interface(progenitor::InterfaceStyle::Builder)
                .with_tag(progenitor::TagStyle::Merged),
        )
        .generate_tokens(&spec)
        .unwrap_or_else(|e| panic!("generating a client from {}: {e}", path.display()));
        let file = syn::parse2(tokens).expect("progenitor emits valid Rust");
        fs::write(out.join(module), prettyplease::unparse(&file))
            .unwrap_or_else(|e| panic!("writing {module}: {e}"));
    }
}
