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
}
