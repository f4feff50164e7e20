//! Compiles `src/copy.c` on every x86_64 target, so its tests run on the host; only a musl
//! target gets the `memcpy`/`memmove` symbols, which then take the place of musl's own in the
//! link. Other architectures (the flake's aarch64 images) keep their libc's.

fn main() {
    println!("cargo:rerun-if-changed=src/copy.c");
    let target_env = std::env::var("CARGO_CFG_TARGET_ENV").unwrap_or_default();
    let target_arch = std::env::var("CARGO_CFG_TARGET_ARCH").unwrap_or_default();
    if target_arch != "x86_64" {
        return;
    }
    let mut build = cc::Build::new();
    build
        .file("src/copy.c")
        .opt_level(2)
        // The compiler must not turn a copy loop in here into a call to memcpy: that would be
        // this memcpy calling itself.
        .flag_if_supported("-fno-tree-loop-distribute-patterns")
        .flag_if_supported("-fno-builtin");
    if target_env == "musl" {
        build.define("MUSL_MEMCPY_EXPORT", None);
    }
    build.compile("musl_memcpy");
}
