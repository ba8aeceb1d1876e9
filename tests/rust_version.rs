//! The declared minimum Rust version stays true: the workspace's
//! `rust-version` (Cargo.toml) is at least the `rust-version` of every
//! package `cargo metadata` resolves from Cargo.lock, so a toolchain that
//! meets ours can build every dependency we lock.

use std::process::Command;

use serde_json::Value;

/// `"1.85"` or `"1.85.0"` as `(1, 85, 0)`.
fn parse(version: &str) -> (u64, u64, u64) {
    let mut parts = version.split('.').map(|p| {
        p.parse::<u64>()
            .unwrap_or_else(|_| panic!("rust-version {version:?} is not a number"))
    });
    let mut next = || parts.next().unwrap_or(0);
    (next(), next(), next())
}

#[test]
fn declared_rust_version_is_at_least_every_locked_packages() {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let output = Command::new(cargo)
        .args([
            "metadata",
            "--format-version",
            "1",
            "--locked",
            "--manifest-path",
        ])
        .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.toml"))
        .output()
        .expect("cargo metadata runs");
    assert!(
        output.status.success(),
        "cargo metadata failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let metadata: Value = serde_json::from_slice(&output.stdout).expect("cargo metadata's JSON");
    let packages = metadata["packages"].as_array().expect("a package list");
    let version_of = |name: &str| {
        packages
            .iter()
            .find(|p| p["name"] == name && p["source"].is_null())
            .and_then(|p| p["rust_version"].as_str())
            .unwrap_or_else(|| panic!("workspace package {name} declares no rust-version"))
    };
    let declared = version_of("rumor");
    for member in ["rumor-crdt", "rumor-gossip", "rumor-fuzz", "rumor-benches"] {
        assert_eq!(version_of(member), declared, "{member}'s rust-version");
    }
    let needed = packages
        .iter()
        .filter_map(|p| {
            Some((
                p["rust_version"].as_str()?,
                p["name"].as_str()?,
                p["version"].as_str()?,
            ))
        })
        .max_by_key(|(rust, _, _)| parse(rust))
        .expect("packages that declare a rust-version");
    assert!(
        parse(declared) >= parse(needed.0),
        "rust-version = {declared:?} in Cargo.toml, but the locked {} {} needs Rust {}: \
         raise the workspace's rust-version (and the README's minimum)",
        needed.1,
        needed.2,
        needed.0
    );
}
