//! Records the cargo profile the binary is built with, so `stadtpuls bench` can say whether
//! its figures come from the optimised `dist` profile (Cargo.toml) or from another build.

use std::path::Path;

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    // Cargo passes no profile name to the compiler, but lays builds out by profile:
    // OUT_DIR is <target>/[<triple>/]<profile dir>/build/<package>-<hash>/out, where the
    // profile dir is `debug` for dev and test, `release` for release and bench, and the
    // profile's own name for custom profiles such as `dist`.
    let out_dir = std::env::var("OUT_DIR").unwrap_or_default();
    let profile = match Path::new(&out_dir)
        .ancestors()
        .nth(3)
        .and_then(Path::file_name)
        .and_then(|name| name.to_str())
    {
        Some("debug") => "dev",
        Some(name) => name,
        None => "unknown",
    };
    println!("cargo:rustc-env=STADTPULS_BUILD_PROFILE={profile}");
    pack_relative_relocations();
}

/// Links the binary with its relative relocations packed (`DT_RELR`).
///
/// A position-independent executable carries one 24-byte relocation per pointer in its
/// read-only data (vtables, string tables of DataFusion and arrow): 5 MB of `.rela.dyn`,
/// which the dynamic loader reads once at start-up and which then stays resident — 5 of
/// the ~64 MB peak of the reference run (docs/performance.md). Packed, they take a few
/// kilobytes. Needs glibc ≥ 2.36 at run time (Debian 12, the container image's base; an
/// older one refuses to start the binary, naming the missing `GLIBC_ABI_DT_RELR`) and a
/// linker that knows the option (GNU ld ≥ 2.38, lld ≥ 15).
fn pack_relative_relocations() {
    let var = |name: &str| std::env::var(name).unwrap_or_default();
    if var("CARGO_CFG_TARGET_OS") == "linux" && var("CARGO_CFG_TARGET_ENV") == "gnu" {
        println!("cargo:rustc-link-arg-bins=-Wl,-z,pack-relative-relocs");
    }
}
