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

/// Every `stadtpuls_*` metric name the product registers (the quoted names in the
/// library crates' sources).
fn exported_metrics() -> std::collections::BTreeSet<String> {
    let mut names = std::collections::BTreeSet::new();
    let mut dirs = vec![repo().join("ingest/src"), repo().join("api/src")];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).expect("read dir") {
            let path = entry.expect("dir entry").path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let text = std::fs::read_to_string(&path).expect("read source");
                names.extend(metric_names(&text, "\"stadtpuls_"));
            }
        }
    }
    names
}

/// The `stadtpuls_*` names in `text` that start right after `prefix`'s quote (or anywhere
/// for an empty quote), histogram series suffixes removed.
fn metric_names(text: &str, prefix: &str) -> Vec<String> {
    let skip = prefix.len() - "stadtpuls_".len();
    text.match_indices(prefix)
        .map(|(at, _)| {
            let name: String = text[at + skip..]
                .chars()
                .take_while(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '_')
                .collect();
            ["_bucket", "_count", "_sum"]
                .iter()
                .find_map(|s| name.strip_suffix(s))
                .map_or(name.clone(), str::to_owned)
        })
        .collect()
}

/// The dashboard's queries are PromQL that promtool accepts (checked as recording rules),
/// and they and the alert rules name only metrics Stadtpuls exports.
#[test]
fn the_dashboard_and_the_alerts_query_metrics_that_exist() {
    let dashboard: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(repo().join("deploy/grafana/dashboards/stadtpuls.json"))
            .expect("read dashboard"),
    )
    .expect("dashboard is JSON");
    let exprs: Vec<String> = dashboard["panels"]
        .as_array()
        .expect("panels")
        .iter()
        .flat_map(|p| p["targets"].as_array().cloned().unwrap_or_default())
        .map(|t| {
            t["expr"]
                .as_str()
                .expect("expr")
                .replace("$__rate_interval", "5m")
        })
        .collect();
    assert!(exprs.len() >= 15, "{} queries", exprs.len());

    let dir = tempfile::tempdir().expect("tempdir");
    let rules = dir.path().join("dashboard_rules.yml");
    let body: String = exprs
        .iter()
        .enumerate()
        .map(|(i, e)| {
            format!(
                "      - record: dashboard:query_{i}\n        expr: {}\n",
                serde_json::Value::from(e.as_str())
            )
        })
        .collect();
    std::fs::write(
        &rules,
        format!("groups:\n  - name: dashboard\n    rules:\n{body}"),
    )
    .expect("write rules");
    let output = Command::new("promtool")
        .args(["check", "rules"])
        .arg(&rules)
        .output()
        .expect("promtool (scripts/test.sh installs Debian's prometheus package)");
    assert!(
        output.status.success(),
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );

    let exported = exported_metrics();
    assert!(
        exported.contains("stadtpuls_events_accepted_total"),
        "{exported:?}"
    );
    let alerts = std::fs::read_to_string(repo().join("deploy/alerts.yml")).expect("read alerts");
    let used: Vec<String> = exprs
        .iter()
        .flat_map(|e| metric_names(e, "stadtpuls_"))
        .chain(
            alerts
                .lines()
                .filter(|l| {
                    !l.trim_start().starts_with('#')
                        && !l.contains("summary:")
                        && !l.contains("description:")
                })
                .flat_map(|l| metric_names(l, "stadtpuls_")),
        )
        .collect();
    let unknown: Vec<&String> = used.iter().filter(|n| !exported.contains(*n)).collect();
    assert!(unknown.is_empty(), "not exported by Stadtpuls: {unknown:?}");
}
