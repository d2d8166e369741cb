//! Finds (or builds) the daemon binaries the areas start, so that `cargo run --release -p benches --
//! all` works on a fresh clone: cargo builds only `benches` for `cargo run`, not the daemons.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::Context;

/// The release binary `name` (a workspace package of the same name): next to this executable (same
/// target dir and profile) or under `$CARGO_TARGET_DIR/release`; built with cargo when missing.
pub fn daemon(name: &str) -> anyhow::Result<PathBuf> {
    if let Some(found) = candidates(name).into_iter().find(|p| p.exists()) {
        return Ok(found);
    }
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).parent().context("workspace root")?;
    eprintln!("building {name}: cargo build --release -p {name}");
    let status = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .args(["build", "--release", "-p", name])
        .current_dir(workspace)
        .status()
        .with_context(|| format!("cannot run cargo to build {name}"))?;
    anyhow::ensure!(status.success(), "cargo build --release -p {name} failed");
    candidates(name)
        .into_iter()
        .find(|p| p.exists())
        .with_context(|| format!("{name} still not found after building it"))
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
