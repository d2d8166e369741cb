//! s3: s3d against SeaweedFS's S3 gateway and against the raw disk, in alternating A/B rounds.
//!
//! - PUT / GET / LIST / DELETE at 4 KiB, 1 MiB and 64 MiB with 1 and 32 clients: each round of a side
//!   PUTs for `secs`, GETs those objects back for `secs`, lists them (ListObjectsV2, pages of 1,000)
//!   and deletes them one by one, so the four lines come from the same objects.
//! - Multipart upload of 1 GiB (16 × 64 MiB parts, 4 in flight).
//! - SSE-S3 against unencrypted s3d (64 MiB PUT / GET).
//! - 64 MiB against the raw disk: PUT vs write + fsync of a file (what a durable PUT costs), GET vs
//!   reading it back, warm (page cache on both sides) and cold (caches dropped before each side), so
//!   a reader sees whether the disk or the protocol is the limit.

mod load;
mod peers;

use std::time::Instant;

use crate::harness::multi::ab_rounds_multi;
use crate::harness::{Line, Round, Workload};
use benches::client::Endpoint;

const BUCKET: &str = "bench";
const SIZES: [usize; 3] = [4 << 10, 1 << 20, 64 << 20];
const CLIENTS: [usize; 2] = [1, 32];
const MULTIPART: (usize, usize, usize) = (16, 64 << 20, 4);
/// 64 MiB objects per raw-disk round.
const RAW_OBJECTS: usize = 4;

pub struct S3Options {
    /// Seconds of each PUT and GET phase.
    pub secs: f64,
}

/// Rounds × sides × (size × clients runs + multipart + SSE + raw disk), for the progress bar.
pub fn steps(rounds: usize) -> u64 {
    (rounds * 2 * (SIZES.len() * CLIENTS.len() + 3)) as u64
}

pub fn run(rounds: usize, opts: &S3Options, progress: &indicatif::ProgressBar) -> anyhow::Result<Vec<Line>> {
    let started = Instant::now();
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    let bin = crate::harness::binaries::daemon("s3d")?;
    let daemon = crate::harness::children::start_daemon(&bin, &[], 2);
    let (ak, sk) = daemon.root_credentials();
    let metrics = daemon.addr("metrics").to_string();
    // s3d frees deleted blobs' space once it is idle (SeaweedFS, in a later vacuum): that work must
    // not land in the peer's round that follows, so each s3d round ends when it is done.
    let settled = |rounds: anyhow::Result<Vec<Round>>| -> anyhow::Result<Vec<Round>> {
        let rounds = rounds?;
        runtime.block_on(load::wait_for_reclaim(&metrics))?;
        Ok(rounds)
    };
    let ours =
        Endpoint { name: "s3d", addr: daemon.addr("api").to_string(), access_key: ak.clone(), secret_key: sk.clone() };
    runtime.block_on(load::create_bucket(&ours, BUCKET))?;
    progress.set_message("s3: starting SeaweedFS");
    let weed = runtime.block_on(peers::Seaweed::start(daemon.data_dir(), &ak, &sk, BUCKET))?;
    let seaweed = &weed.endpoint;
    let mut lines = Vec::new();
    let run_id = std::cell::Cell::new(0usize);
    let next_prefix = || {
        run_id.set(run_id.get() + 1);
        format!("run{}", run_id.get())
    };

    for size in SIZES {
        for clients in CLIENTS {
            let label = format!("{} × {clients} client{}", human(size), if clients == 1 { "" } else { "s" });
            progress.set_message(format!("s3: PUT/GET/LIST/DELETE {label}"));
            let (unit, _) = load::unit_of(size);
            let names: Vec<String> =
                ["PUT", "GET", "LIST", "DELETE"].iter().map(|op| format!("{op} {label}")).collect();
            let workloads = [
                workload(&names[0], unit, "SeaweedFS"),
                workload(&names[1], unit, "SeaweedFS"),
                workload(&names[2], "keys/s", "SeaweedFS"),
                workload(&names[3], "deletes/s", "SeaweedFS"),
            ];
            let side = |target: &Endpoint| {
                progress.inc(1);
                let prefix = next_prefix();
                runtime.block_on(put_get_list_delete(target, &prefix, size, clients, opts.secs))
            };
            let ran = ab_rounds_multi(&workloads, rounds, || settled(side(&ours)), || side(seaweed));
            lines.extend(ran?);
        }
    }

    progress.set_message("s3: multipart 1 GiB");
    let (parts, part_size, parallel) = MULTIPART;
    let name = format!("multipart 1 GiB ({parts} × {}, {parallel} in flight)", human(part_size));
    let upload = |target: &Endpoint| {
        progress.inc(1);
        let key = format!("multipart/{}", next_prefix());
        runtime.block_on(load::multipart(target, BUCKET, &key, parts, part_size, parallel)).map(|r| vec![r])
    };
    lines.extend(ab_rounds_multi(
        &[workload(&name, "MiB/s", "SeaweedFS")],
        rounds,
        || settled(upload(&ours)),
        || upload(seaweed),
    )?);

    progress.set_message("s3: SSE-S3 vs unencrypted");
    let size = 64 << 20;
    let sse = [
        workload("SSE-S3 PUT 64 MiB × 1 client", "MiB/s", "s3d unencrypted"),
        workload("SSE-S3 GET 64 MiB × 1 client", "MiB/s", "s3d unencrypted"),
    ];
    let put_get = |headers: &'static [(&'static str, &'static str)]| {
        progress.inc(1);
        let prefix = next_prefix();
        runtime.block_on(async {
            let (put, written) = load::put(&ours, BUCKET, &prefix, size, 1, opts.secs, headers).await?;
            let get = load::get(&ours, BUCKET, &written, size, opts.secs).await?;
            load::delete(&ours, BUCKET, &written).await?;
            Ok(vec![put, get])
        })
    };
    lines.extend(ab_rounds_multi(&sse, rounds, || settled(put_get(load::SSE_S3)), || settled(put_get(&[])))?);

    progress.set_message("s3: 64 MiB vs the raw disk");
    let cold = peers::can_drop_caches();
    if !cold {
        println!("s3: skipping the cold-cache GET line: dropping the page cache needs root");
    }
    let mut disk = vec![
        workload("PUT 64 MiB × 1 client (durable)", "MiB/s", "raw disk write+fsync"),
        workload("GET 64 MiB × 1 client, warm cache", "MiB/s", "raw disk read, warm"),
    ];
    if cold {
        disk.push(workload("GET 64 MiB × 1 client, cold cache", "MiB/s", "raw disk read, cold"));
    }
    let raw = peers::RawDisk::new(daemon.data_dir())?;
    let mut s3d_side = || {
        progress.inc(1);
        let prefix = next_prefix();
        settled(runtime.block_on(sequential_put_get(&ours, &prefix, size, RAW_OBJECTS, cold)))
    };
    let mut disk_side = || {
        progress.inc(1);
        if cold {
            peers::drop_caches()?;
        }
        raw.run(size, RAW_OBJECTS, cold)
    };
    lines.extend(ab_rounds_multi(&disk, rounds, &mut s3d_side, &mut disk_side)?);
    drop(weed);
    println!("s3: {:.0} s", started.elapsed().as_secs_f64());
    Ok(lines)
}

fn workload<'a>(name: &'a str, unit: &'a str, peer_name: &'a str) -> Workload<'a> {
    Workload { area: "s3", name, unit, higher_is_better: true, peer_name }
}

async fn put_get_list_delete(
    target: &Endpoint,
    prefix: &str,
    size: usize,
    clients: usize,
    secs: f64,
) -> anyhow::Result<Vec<Round>> {
    let (put, written) = load::put(target, BUCKET, prefix, size, clients, secs, &[]).await?;
    let get = load::get(target, BUCKET, &written, size, secs).await?;
    let list = load::list(target, BUCKET, &written).await?;
    let delete = load::delete(target, BUCKET, &written).await?;
    Ok(vec![put, get, list, delete])
}

/// `count` PUTs of `size` one after the other, GETs of each (warm), and when `cold` GETs again after
/// dropping the page cache; MiB/s of each pass. The objects are deleted afterwards.
async fn sequential_put_get(
    target: &Endpoint,
    prefix: &str,
    size: usize,
    count: usize,
    cold: bool,
) -> anyhow::Result<Vec<Round>> {
    if cold {
        peers::drop_caches()?;
    }
    let body = vec![0x5au8; size];
    let mib = size as f64 / (1 << 20) as f64;
    let mut conn = load::Conn::open(target).await?;
    let mut pass = async |method: &str| -> anyhow::Result<Round> {
        let started = Instant::now();
        let mut micros = Vec::new();
        for i in 0..count {
            let key = format!("/{BUCKET}/{prefix}/o{i}");
            let t = Instant::now();
            let send: &[u8] = if method == "PUT" { &body } else { &[] };
            let (status, got) = conn.call(method, &key, &[], send, false).await?;
            anyhow::ensure!(status == 200 && (method == "PUT" || got == size), "{method} {key}: {status}, {got} B");
            micros.push(t.elapsed().as_secs_f64() * 1e6);
        }
        Ok(Round {
            value: count as f64 * mib / started.elapsed().as_secs_f64(),
            latency: crate::harness::Latency::of_micros(micros),
        })
    };
    let mut rounds = vec![pass("PUT").await?, pass("GET").await?];
    if cold {
        peers::drop_caches()?;
        rounds.push(pass("GET").await?);
    }
    for i in 0..count {
        let (status, _) = conn.call("DELETE", &format!("/{BUCKET}/{prefix}/o{i}"), &[], &[], false).await?;
        anyhow::ensure!(status == 204, "DELETE: {status}");
    }
    Ok(rounds)
}

fn human(n: usize) -> String {
    match n {
        n if n >= 1 << 30 && n % (1 << 30) == 0 => format!("{} GiB", n >> 30),
        n if n >= 1 << 20 && n % (1 << 20) == 0 => format!("{} MiB", n >> 20),
        n if n >= 1 << 10 && n % (1 << 10) == 0 => format!("{} KiB", n >> 10),
        n => format!("{n} B"),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn sizes_read_as_people_write_them() {
        assert_eq!(super::human(4096), "4 KiB");
        assert_eq!(super::human(64 << 20), "64 MiB");
        assert_eq!(super::human(1 << 30), "1 GiB");
        assert_eq!(super::human(1000), "1000 B");
    }
}
