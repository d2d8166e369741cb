//! Builds and finds the daemon binaries the areas start, so that `cargo run --release -p benches --
//! all` works on a fresh clone (cargo builds only `benches` for `cargo run`, not the daemons) and never
//! measures a daemon binary older than its sources.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::Context;

/// What cargo sets for a crate it runs, besides `CARGO_PKG_*` (cargo's "Environment variables Cargo
/// sets for crates").
const CRATE_VARIABLES: [&str; 6] = [
    "CARGO_MANIFEST_DIR",
    "CARGO_MANIFEST_PATH",
    "CARGO_CRATE_NAME",
    "CARGO_BIN_NAME",
    "CARGO_PRIMARY_PACKAGE",
    "OUT_DIR",
];

/// The daemons' packages, all built by [`build`].
const DAEMONS: [&str; 4] = ["s3d", "ebsd", "dynamod", "cache"];

/// Builds the release binaries of every daemon in one cargo invocation (cargo builds them in parallel and
/// does nothing for those already fresh). `benches` is in the same invocation so that cargo resolves the
/// same features as for `cargo run -p benches`, which compiled the daemons' libraries already (see
/// Cargo.toml): this build then only links the binaries. Without cargo (the harness run on its own) the
/// binaries already there are used.
pub fn build() -> anyhow::Result<()> {
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).parent().context("workspace root")?;
    let mut cmd = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    cmd.args(["build", "--release", "-p", "benches"]).current_dir(workspace);
    // `cargo run` gave this process the variables it sets for a crate (CARGO_PKG_NAME=benches, …). Some
    // build scripts (ring's) declare rerun-if-env-changed on them, so a build that inherits them reruns
    // those scripts and recompiles ring, rustls, common and every daemon (~40 s on a fresh clone).
    for (key, _) in std::env::vars_os() {
        let key = key.to_string_lossy();
        if key.starts_with("CARGO_PKG_") || CRATE_VARIABLES.contains(&key.as_ref()) {
            cmd.env_remove(key.as_ref());
        }
    }
    for name in DAEMONS {
        cmd.args(["-p", name]);
    }
    match cmd.status() {
        Ok(status) => {
            anyhow::ensure!(status.success(), "cargo build --release -p benches -p {} failed", DAEMONS.join(" -p "))
        }
        Err(e) if DAEMONS.iter().all(|n| candidates(n).iter().any(|p| p.exists())) => {
            eprintln!("cannot run cargo ({e}): using the daemon binaries already built");
        }
        Err(e) => return Err(e).context("cannot run cargo to build the daemons"),
    }
    Ok(())
}

/// The release binary `name` (a workspace package of the same name), built by [`build`]: next to this
/// executable (same target dir and profile) or under `$CARGO_TARGET_DIR/release`.
pub fn daemon(name: &str) -> anyhow::Result<PathBuf> {
    candidates(name)
        .into_iter()
        .find(|p| p.exists())
        .with_context(|| format!("{name} not found: build it with `cargo build --release -p {name}`"))
}

fn candidates(name: &str) -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Some(dir) = std::env::current_exe().ok().and_then(|p| p.parent().map(Path::to_path_buf)) {
        out.push(dir.join(name));
    }
    let target = std::env::var("CARGO_TARGET_DIR").map(PathBuf::from).unwrap_or_else(|_| {
        Path::new(env!("CARGO_MANIFEST_DIR")).parent().map(|w| w.join("target")).unwrap_or_else(|| "target".into())
    });
    out.push(target.join("release").join(name));
    out
}

/// Runs `benches/setup-peers.sh` (idempotent: installs only what is missing).
pub fn setup_peers() -> anyhow::Result<()> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("setup-peers.sh");
    let status =
        Command::new("bash").arg(&script).status().with_context(|| format!("cannot run {}", script.display()))?;
    anyhow::ensure!(status.success(), "{} failed", script.display());
    Ok(())
}
