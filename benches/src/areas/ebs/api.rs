//! ebsd's EC2 Query API through a signed keep-alive connection (volumes, attachments, snapshots), and
//! a one-shot NBD READ for restore-to-first-byte.

use std::io::{Read, Write};
use std::time::{Duration, Instant};

use ::tests::DaemonProcess;
use anyhow::{Context, bail};

use benches::client::{Body, Connection, Endpoint};

pub struct Api {
    endpoint: Endpoint,
    runtime: tokio::runtime::Runtime,
    conn: Connection,
    pub nbd: std::net::SocketAddr,
}

impl Api {
    pub fn new(daemon: &DaemonProcess) -> anyhow::Result<Self> {
        let (access_key, secret_key) = daemon.root_credentials();
        let addr = daemon.addr("api").to_string();
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
        let conn = runtime.block_on(Connection::open(&addr))?;
        let endpoint = Endpoint { name: "ebsd", addr, access_key, secret_key };
        Ok(Self { endpoint, runtime, conn, nbd: daemon.addr("nbd") })
    }

    /// One EC2 Query call; the response XML.
    pub fn call(&mut self, params: &str) -> anyhow::Result<String> {
        let body = format!("{params}&Version=2016-11-15");
        let head = self.endpoint.signed_head(
            "POST",
            "/",
            &[("content-type", "application/x-www-form-urlencoded; charset=utf-8")],
            "ec2",
        );
        let (conn, addr) = (&mut self.conn, &self.endpoint.addr);
        let (status, _) = self.runtime.block_on(async {
            let exchange =
                tokio::time::timeout(Duration::from_secs(60), conn.exchange(&head, body.as_bytes(), Body::Keep));
            match exchange.await {
                Ok(Ok(answer)) => Ok(answer),
                // The server closes idle keep-alive connections (fio runs in between): reconnect once.
                Ok(Err(_)) => {
                    *conn = Connection::open(addr).await?;
                    conn.exchange(&head, body.as_bytes(), Body::Keep).await
                }
                Err(elapsed) => Err(elapsed.into()),
            }
        })?;
        let text = String::from_utf8_lossy(self.conn.body()).into_owned();
        if status != 200 {
            bail!("{params}: HTTP {status}: {text}");
        }
        Ok(text)
    }

    /// CreateVolume (`spec` e.g. `VolumeType=gp3&Size=100`) + AttachVolume; the volume id.
    pub fn volume(&mut self, spec: &str) -> anyhow::Result<String> {
        let v = self.call(&format!("Action=CreateVolume&AvailabilityZone=us-east-1a&{spec}"))?;
        let id = field(&v, "volumeId").context("no volumeId")?;
        self.call(&format!("Action=AttachVolume&VolumeId={id}&InstanceId=i-0123456789abcdef0&Device=%2Fdev%2Fsdf"))?;
        Ok(id)
    }

    pub fn uri(&self, volume: &str) -> String {
        format!("nbd://{}/{volume}", self.nbd)
    }

    /// Detaches and deletes a volume (frees its disk space between rounds).
    pub fn delete_volume(&mut self, id: &str) -> anyhow::Result<()> {
        self.call(&format!("Action=DetachVolume&VolumeId={id}&Force=true"))?;
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            match self.call(&format!("Action=DeleteVolume&VolumeId={id}")) {
                Ok(_) => return Ok(()),
                Err(e) if Instant::now() > deadline => return Err(e),
                Err(_) => std::thread::sleep(Duration::from_millis(100)),
            }
        }
    }

    /// Takes a snapshot and waits until it completes; its id and the seconds it took.
    pub fn snapshot(&mut self, volume: &str) -> anyhow::Result<(String, f64)> {
        let started = Instant::now();
        let created = self.call(&format!("Action=CreateSnapshot&VolumeId={volume}"))?;
        let id = field(&created, "snapshotId").context("no snapshotId")?;
        loop {
            let d = self.call(&format!("Action=DescribeSnapshots&SnapshotId.1={id}"))?;
            match field(&d, "status").as_deref() {
                Some("completed") => return Ok((id, started.elapsed().as_secs_f64())),
                Some("pending") if started.elapsed() < Duration::from_secs(600) => {
                    std::thread::sleep(Duration::from_millis(5))
                }
                other => bail!("snapshot {id} ended {other:?}"),
            }
        }
    }

    pub fn delete_snapshot(&mut self, id: &str) -> anyhow::Result<()> {
        self.call(&format!("Action=DeleteSnapshot&SnapshotId={id}")).map(drop)
    }
}

pub fn field(xml: &str, name: &str) -> Option<String> {
    let start = xml.find(&format!("<{name}>"))? + name.len() + 2;
    let end = xml[start..].find(&format!("</{name}>"))? + start;
    Some(xml[start..end].to_string())
}

/// Fixed-newstyle handshake (NBD_OPT_EXPORT_NAME) and one 4 KiB READ: the first bytes a client sees.
pub fn nbd_read(addr: std::net::SocketAddr, export: &str, offset: u64) -> anyhow::Result<Vec<u8>> {
    let mut s = std::net::TcpStream::connect(addr)?;
    s.set_read_timeout(Some(Duration::from_secs(60)))?;
    s.set_nodelay(true)?;
    let mut hello = [0u8; 18];
    s.read_exact(&mut hello)?;
    s.write_all(&1u32.to_be_bytes())?;
    let mut opt = b"IHAVEOPT".to_vec();
    opt.extend_from_slice(&1u32.to_be_bytes());
    opt.extend_from_slice(&(export.len() as u32).to_be_bytes());
    opt.extend_from_slice(export.as_bytes());
    s.write_all(&opt)?;
    let mut info = [0u8; 8 + 2 + 124];
    s.read_exact(&mut info)?;
    let mut req = 0x2560_9513u32.to_be_bytes().to_vec();
    req.extend_from_slice(&0u16.to_be_bytes());
    req.extend_from_slice(&0u16.to_be_bytes());
    req.extend_from_slice(&1u64.to_be_bytes());
    req.extend_from_slice(&offset.to_be_bytes());
    req.extend_from_slice(&4096u32.to_be_bytes());
    s.write_all(&req)?;
    let mut reply = [0u8; 16];
    s.read_exact(&mut reply)?;
    if reply[4..8] != [0, 0, 0, 0] {
        bail!("NBD read failed: {reply:?}");
    }
    let mut data = vec![0u8; 4096];
    s.read_exact(&mut data)?;
    Ok(data)
}
