//! Snapshot lines, one fresh source volume per side and round so every "full" snapshot is full:
//! - full snapshot of `region` MiB written: MiB/s, against nbdcopy of the same volume to a local file
//!   (what a client-side full backup costs);
//! - incremental snapshot after 64 MiB changed: seconds, against a full snapshot of the same state;
//! - restore to first byte: lazy (CreateVolume from the snapshot, attach, first NBD read) against an
//!   eager restore (nbdcopy of the whole source into a new volume, then the same read).

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use ::tests::run_with_timeout;
use anyhow::bail;

use super::api::{Api, nbd_read};
use crate::harness::{Round, Workload};

const SOURCE: &str = "VolumeType=io2&Size=512&Iops=256000";
const CHANGED_MIB: u64 = 64;

pub fn workloads() -> [Workload<'static>; 3] {
    [
        Workload {
            area: "ebs",
            name: "full snapshot of 1 GiB written",
            unit: "MiB/s",
            higher_is_better: true,
            peer_name: "nbdcopy volume → file",
        },
        Workload {
            area: "ebs",
            name: "incremental snapshot, 64 MiB changed",
            unit: "s",
            higher_is_better: false,
            peer_name: "full snapshot of the same volume",
        },
        Workload {
            area: "ebs",
            name: "restore to first byte (lazy hydration)",
            unit: "ms",
            higher_is_better: false,
            peer_name: "eager restore (nbdcopy)",
        },
    ]
}

/// A source volume with `region_mib` written then `CHANGED_MIB` rewritten.
fn source(api: &mut Api, region_mib: u64, snapshot_between: bool) -> anyhow::Result<(String, Option<(String, f64)>)> {
    let id = api.volume(SOURCE)?;
    write(&api.uri(&id), 0, region_mib)?;
    let full = if snapshot_between { Some(api.snapshot(&id)?) } else { None };
    write(&api.uri(&id), 8, CHANGED_MIB)?;
    Ok((id, full))
}

/// Ours: full snapshot MiB/s, incremental seconds, lazy restore ms.
pub fn ours(api: &mut Api, region_mib: u64) -> anyhow::Result<Vec<Round>> {
    let (id, full) = source(api, region_mib, true)?;
    let (first, full_secs) = full.expect("taken");
    let (second, incremental_secs) = api.snapshot(&id)?;
    let started = Instant::now();
    let restored = api.volume(&format!("{SOURCE}&SnapshotId={second}"))?;
    let data = nbd_read(api.nbd, &restored, 8 << 20)?;
    let lazy_ms = started.elapsed().as_secs_f64() * 1e3;
    if data != nbd_read(api.nbd, &id, 8 << 20)? {
        bail!("the restored volume's first block differs from the source's");
    }
    for v in [&restored, &id] {
        api.delete_volume(v)?;
    }
    for s in [&second, &first] {
        api.delete_snapshot(s)?;
    }
    Ok(vec![(region_mib as f64 / full_secs).into(), incremental_secs.into(), lazy_ms.into()])
}

/// The peers: nbdcopy to a file (MiB/s), a full snapshot of the changed volume (s), eager restore (ms).
pub fn peer(api: &mut Api, region_mib: u64, work: &Path) -> anyhow::Result<Vec<Round>> {
    let (id, _) = source(api, region_mib, false)?;
    let file = work.join("backup.raw");
    let started = Instant::now();
    nbdcopy(&api.uri(&id), &file.display().to_string())?;
    let copy_secs = started.elapsed().as_secs_f64();
    std::fs::remove_file(&file)?;
    let (full, full_secs) = api.snapshot(&id)?;
    let started = Instant::now();
    let eager = api.volume(SOURCE)?;
    nbdcopy(&api.uri(&id), &api.uri(&eager))?;
    let data = nbd_read(api.nbd, &eager, 8 << 20)?;
    let eager_ms = started.elapsed().as_secs_f64() * 1e3;
    if data != nbd_read(api.nbd, &id, 8 << 20)? {
        bail!("the eagerly restored volume's first block differs from the source's");
    }
    for v in [&eager, &id] {
        api.delete_volume(v)?;
    }
    api.delete_snapshot(&full)?;
    Ok(vec![((region_mib + CHANGED_MIB) as f64 / copy_secs).into(), full_secs.into(), eager_ms.into()])
}

fn nbdcopy(from: &str, to: &str) -> anyhow::Result<()> {
    // Both destinations are fresh (a new volume, a new file) and read as zeros: nbdcopy need not
    // write the source's holes.
    let mut copy = Command::new("nbdcopy");
    copy.arg("--destination-is-zero").arg(from).arg(to);
    let (status, _, err) = run_with_timeout(&mut copy, Duration::from_secs(600));
    if !status.success() {
        bail!("nbdcopy {from} {to} failed: {err}");
    }
    Ok(())
}

/// Sequential 1 MiB writes of fresh data over `[offset_mib, offset_mib + mib)`.
fn write(uri: &str, offset_mib: u64, mib: u64) -> anyhow::Result<()> {
    let mut cmd = Command::new("fio");
    cmd.args(["--name=fill", "--ioengine=nbd", "--rw=write", "--bs=1m", "--iodepth=8", "--refill_buffers"])
        .arg(format!("--uri={uri}"))
        .arg(format!("--offset={offset_mib}m"))
        .arg(format!("--size={mib}m"));
    let (status, out, err) = run_with_timeout(&mut cmd, Duration::from_secs(600));
    if !status.success() {
        bail!("fio write on {uri} failed: {err}{out}");
    }
    Ok(())
}
