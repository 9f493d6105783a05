//! The deployment files as their consumers take them: the compose stack's and the
//! Kubernetes bundle's `stadtpuls.toml` pass `stadtpuls config check` laid out as in the
//! image (beside the registries and zones it ships), and the Kubernetes manifests validate
//! against the Kubernetes API's schemas with `kubernetes-validate` (PyPI, in the test venv).
//! The alert rules have their own judge, promtool (`scripts/test.sh`).

#[path = "support/pyvenv.rs"]
mod pyvenv;

use std::path::{Path, PathBuf};
use std::process::Command;

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for entry in std::fs::read_dir(from).expect("read dir") {
        let entry = entry.expect("dir entry");
        std::fs::copy(entry.path(), to.join(entry.file_name())).expect("copy");
    }
}

/// `config` as the image has it: /etc/stadtpuls/stadtpuls.toml beside `registries/` and
/// `zones/` (deploy/Dockerfile copies the demo's there).
fn image_layout(config: &Path) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("tempdir");
    copy_dir(
        &repo().join("config/demo/registries"),
        &dir.path().join("registries"),
    );
    copy_dir(&repo().join("config/demo/zones"), &dir.path().join("zones"));
    let path = dir.path().join("stadtpuls.toml");
    std::fs::copy(config, &path).expect("copy config");
    (dir, path)
}

fn config_check(config: &Path) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_stadtpuls"))
        .args(["config", "check"])
        .arg(config)
        .output()
        .expect("run stadtpuls config check")
}

#[test]
fn the_compose_and_kubernetes_configs_pass_config_check_in_the_image_layout() {
    for file in ["deploy/stadtpuls.toml", "deploy/k8s/stadtpuls.toml"] {
        let (_dir, config) = image_layout(&repo().join(file));
        let output = config_check(&config);
        assert!(
            output.status.success(),
            "{file}: {}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }
    // The check is a real one: the same layout without its registries fails.
    let (dir, config) = image_layout(&repo().join("deploy/k8s/stadtpuls.toml"));
    std::fs::remove_dir_all(dir.path().join("registries")).expect("rm registries");
    assert!(!config_check(&config).status.success());
}

/// The manifests the StatefulSet and the config must agree on.
#[test]
fn the_statefulset_mounts_what_the_kubernetes_config_names() {
    let manifests =
        std::fs::read_to_string(repo().join("deploy/k8s/stadtpuls.yaml")).expect("read manifests");
    let config =
        std::fs::read_to_string(repo().join("deploy/k8s/stadtpuls.toml")).expect("read config");
    assert!(manifests.contains("mountPath: /var/lib/stadtpuls\n"));
    assert!(config.contains("dir = \"/var/lib/stadtpuls/state\""));
    assert!(
        config.contains("bind = \"0.0.0.0:8080\"") && manifests.contains("containerPort: 8080")
    );
    assert!(
        config.contains("flight_bind = \"0.0.0.0:50051\"")
            && manifests.contains("containerPort: 50051")
    );
    assert!(manifests.contains("mountPath: /etc/stadtpuls/stadtpuls.toml"));
}

#[test]
fn the_kubernetes_manifests_validate_against_the_api_schemas() {
    let python = pyvenv::python_with("kubernetes_validate", &["kubernetes-validate==1.37.0"]);
    let validate = |file: &Path| {
        Command::new(python.with_file_name("kubernetes-validate"))
            .args(["--strict", "--kubernetes-version", "1.33"])
            .arg(file)
            .output()
            .expect("run kubernetes-validate")
    };
    let output = validate(&repo().join("deploy/k8s/stadtpuls.yaml"));
    let text = String::from_utf8_lossy(&output.stdout).into_owned()
        + &String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{text}");
    for kind in [
        "statefulset/stadtpuls",
        "service/stadtpuls",
        "poddisruptionbudget/stadtpuls",
        "persistentvolumeclaim/stadtpuls-data",
        "secret/stadtpuls-secrets",
    ] {
        assert!(
            text.contains(&format!("passed for resource {kind}")),
            "{kind}: {text}"
        );
    }
    // And it refuses what the API server would: here a replica count that is no number.
    let dir = tempfile::tempdir().expect("tempdir");
    let bad = dir.path().join("bad.yaml");
    let manifests = std::fs::read_to_string(repo().join("deploy/k8s/stadtpuls.yaml"))
        .expect("read manifests")
        .replace("  replicas: 2\n", "  replicas: two\n");
    std::fs::write(&bad, manifests).expect("write");
    assert!(!validate(&bad).status.success());
}
