//! A bad configuration stops start-up with a message naming the key.

use std::process::Command;

fn start_with(config: &str) -> (bool, String) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tollgate.json");
    std::fs::write(&path, config).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_tollgate"))
        .args(["serve", "--config"])
        .arg(&path)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).to_string(),
    )
}

#[test]
fn errors_name_the_key_and_exit_non_zero() {
    for (config, key) in [
        (r#"{"listen": {"rpc_jsn": "127.0.0.1:0"}}"#, "rpc_jsn"),
        (
            r#"{"sessions": {"debit_interval": "ten seconds"}}"#,
            "sessions.debit_interval",
        ),
        (
            r#"{"general": {"timezone": "Atlantis/Capital"}}"#,
            "general.timezone",
        ),
        (r#"{"listen": {"http": "here"}}"#, "listen.http"),
        (
            r#"{"store": {"type": "postgres", "url": "mysql://x"}}"#,
            "store",
        ),
        (r#"{"freeswitch": [{"alias": ""}]}"#, "freeswitch[0].alias"),
        (
            r#"{"general": {"default_tenant": 5}}"#,
            "general.default_tenant",
        ),
        (r#"{"surprise": true}"#, "surprise"),
        (r#"{"listen": "#, "line 1"),
    ] {
        let (ok, stderr) = start_with(config);
        assert!(!ok, "{config} should be refused");
        assert!(
            stderr.contains(key),
            "{config}: stderr lacks {key:?}: {stderr}"
        );
    }
}

#[test]
fn a_bad_tariff_plan_stops_start_up_with_the_loader_message() {
    let plan = tempfile::tempdir().unwrap();
    std::fs::write(plan.path().join("Rates.csv"), "RT,0,abc,60s,1s,0s\n").unwrap();
    let config = serde_json::json!({
        "listen": {"rpc_json": "127.0.0.1:0", "http": "127.0.0.1:0"},
        "tariffplan": plan.path(),
        "store": {"type": "embedded", "path": plan.path().join("data")},
    });
    let (ok, stderr) = start_with(&config.to_string());
    assert!(!ok);
    assert!(
        stderr.contains("Rates.csv line 1, column 3 (Rate)"),
        "{stderr}"
    );
}

#[test]
fn a_missing_config_file_is_named() {
    let out = Command::new(env!("CARGO_BIN_EXE_tollgate"))
        .args(["serve", "--config", "/nonexistent/tollgate.json"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("/nonexistent/tollgate.json"));
}

#[test]
fn a_node_following_switches_on_postgres_needs_an_id_of_its_own() {
    // Checked before anything is opened: the database need not exist.
    let config = r#"{
        "listen": {"rpc_json": "127.0.0.1:0"},
        "store": {"type": "postgres", "url": "postgres://postgres@127.0.0.1:1/none"},
        "freeswitch": [{"address": "127.0.0.1:8021", "password": "ClueCon", "alias": "fs1"}]
    }"#;
    let (ok, stderr) = start_with(config);
    assert!(!ok);
    assert!(stderr.contains("cluster.node_id"), "{stderr}");
    assert!(stderr.contains("fixed port"), "{stderr}");
}
