//! The Python venv the tests read history and talk Flight SQL with: PyPI packages pinned,
//! created on first use, shared by every test crate (included by `#[path]`).
//!
//! Location: `$STADTPULS_PYTEST_VENV`, else `~/.cache/stadtpuls-pytest/venv`
//! (`scripts/test.sh` creates it too).

use std::path::PathBuf;
use std::process::Command;

/// The venv's python, after making sure `imports` (a Python import list, e.g.
/// `"pyarrow, duckdb"`) work, installing `packages` (pinned pip specs) if they do not.
///
/// # Panics
/// When the venv cannot be created or the packages cannot be installed: these tests need
/// them; they do not skip.
pub fn python_with(imports: &str, packages: &[&str]) -> PathBuf {
    let venv = std::env::var_os("STADTPULS_PYTEST_VENV").map_or_else(
        || {
            let home =
                std::env::var_os("HOME").map_or_else(|| PathBuf::from("/root"), PathBuf::from);
            home.join(".cache/stadtpuls-pytest/venv")
        },
        PathBuf::from,
    );
    let python = venv.join("bin/python");
    let ready = || {
        Command::new(&python)
            .args(["-c", &format!("import {imports}")])
            .status()
            .is_ok_and(|s| s.success())
    };
    if ready() {
        return python;
    }
    if !python.exists() {
        let status = Command::new("python3")
            .args(["-m", "venv"])
            .arg(&venv)
            .status()
            .expect("python3 -m venv");
        assert!(status.success(), "cannot create {}", venv.display());
    }
    let status = Command::new(venv.join("bin/pip"))
        .args(["install", "--quiet"])
        .args(packages)
        .status()
        .expect("pip");
    assert!(status.success(), "cannot install {packages:?}");
    assert!(ready(), "`import {imports}` still fails");
    python
}

/// The venv's python with pyarrow and DuckDB.
#[allow(dead_code)]
pub fn python_duckdb() -> PathBuf {
    python_with("pyarrow, duckdb", &["pyarrow==16.1.0", "duckdb==2.0.1"])
}
