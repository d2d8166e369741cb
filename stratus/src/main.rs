//! `stratus up` starts the four daemons, each in its own process (this same binary, re-executed with a
//! daemon's name), prints every endpoint and the credentials to use, and stops them all on Ctrl-C / SIGTERM.
//! `stratus s3d|ebsd|dynamod|cache …` runs one daemon in the foreground.

use std::path::PathBuf;
use std::process::{ExitCode, Stdio};
use std::time::Duration;

use anyhow::Context;
use clap::{Parser, Subcommand};
use common::config::defaults;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};
use tokio::sync::mpsc;

#[derive(Parser)]
#[command(name = "stratus", about = "A storage cloud on one machine: S3, EBS, DynamoDB and Redis-compatible daemons")]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Start all four daemons with embedded defaults.
    Up(UpArgs),
    /// Run the S3 daemon.
    S3d(s3d::Args),
    /// Run the EBS daemon.
    Ebsd(ebsd::Args),
    /// Run the DynamoDB daemon.
    Dynamod(dynamod::Args),
    /// Run the cache daemon.
    Cache(cache::Args),
}

#[derive(clap::Args)]
struct UpArgs {
    /// Root data directory for the whole suite.
    #[arg(long, env = "STRATUS_DATA_DIR", default_value = defaults::DATA_DIR)]
    data_dir: PathBuf,
    /// Optional TOML configuration file passed to every daemon.
    #[arg(long, env = "STRATUS_CONFIG")]
    config: Option<PathBuf>,
}

const DAEMONS: [&str; 4] = ["s3d", "ebsd", "dynamod", "cache"];
/// Listeners each daemon announces: API + metrics, plus NBD (ebsd) and memcached (cache).
const LISTENERS: usize = 2 + 3 + 2 + 3;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("tokio runtime");
    let result = runtime.block_on(async {
        match cli.command {
            Cmd::Up(args) => up(args).await,
            Cmd::S3d(args) => s3d::run(args).await,
            Cmd::Ebsd(args) => ebsd::run(args).await,
            Cmd::Dynamod(args) => dynamod::run(args).await,
            Cmd::Cache(args) => cache::run(args).await,
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn up(args: UpArgs) -> anyhow::Result<()> {
    // Create the credential store before the daemons race to do it.
    let credentials = common::CredentialStore::open(&args.data_dir)?;
    let exe = std::env::current_exe().context("cannot find the stratus binary")?;
    let (lines_tx, mut lines) = mpsc::channel::<(&'static str, String)>(64);
    let mut children: Vec<(&'static str, Child)> = Vec::new();
    for name in DAEMONS {
        let mut cmd = Command::new(&exe);
        cmd.arg(name).arg("--data-dir").arg(&args.data_dir);
        if let Some(config) = &args.config {
            cmd.arg("--config").arg(config);
        }
        let mut child = cmd.stdout(Stdio::piped()).stdin(Stdio::null()).kill_on_drop(true).spawn()?;
        let stdout = child.stdout.take().expect("piped stdout");
        let tx = lines_tx.clone();
        tokio::spawn(async move {
            let mut reader = BufReader::new(stdout).lines();
            while let Ok(Some(line)) = reader.next_line().await {
                if tx.send((name, line)).await.is_err() {
                    break;
                }
            }
        });
        children.push((name, child));
    }
    drop(lines_tx);

    let mut endpoints = Vec::new();
    let ready = tokio::time::timeout(Duration::from_secs(120), async {
        while endpoints.len() < LISTENERS {
            match lines.recv().await {
                Some((_, line)) if line.contains(" listening on ") => endpoints.push(line),
                Some((name, line)) => println!("[{name}] {line}"),
                None => break,
            }
        }
    })
    .await;
    if ready.is_err() || endpoints.len() < LISTENERS {
        stop_all(&mut children).await;
        anyhow::bail!("not every daemon started (see the errors above)");
    }
    endpoints.sort();
    print_banner(&args.data_dir, &endpoints, credentials.root());

    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    let exited = tokio::select! {
        _ = tokio::signal::ctrl_c() => None,
        _ = term.recv() => None,
        name = first_exit(&mut children) => Some(name),
    };
    if let Some(name) = exited {
        eprintln!("{name} exited; stopping the others");
    }
    let clean = stop_all(&mut children).await;
    if exited.is_some() || !clean {
        anyhow::bail!("the suite did not stop cleanly");
    }
    println!("stratus stopped");
    Ok(())
}

async fn first_exit(children: &mut [(&'static str, Child)]) -> &'static str {
    loop {
        for (name, child) in children.iter_mut() {
            if let Ok(Some(_)) = child.try_wait() {
                return name;
            }
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// SIGTERM to every daemon, then waits (SIGKILL after 20 s). True when all exited with status 0.
async fn stop_all(children: &mut [(&'static str, Child)]) -> bool {
    for (_, child) in children.iter() {
        if let Some(pid) = child.id() {
            // SAFETY: plain kill(2) on a child we spawned and have not reaped yet.
            unsafe { libc::kill(pid as libc::pid_t, libc::SIGTERM) };
        }
    }
    let mut clean = true;
    for (name, child) in children.iter_mut() {
        match tokio::time::timeout(Duration::from_secs(20), child.wait()).await {
            Ok(Ok(status)) if status.success() => {}
            Ok(Ok(status)) => {
                eprintln!("{name} exited with {status}");
                clean = false;
            }
            _ => {
                eprintln!("{name} did not stop in time; killing it");
                let _ = child.kill().await;
                clean = false;
            }
        }
    }
    clean
}

fn print_banner(data_dir: &std::path::Path, endpoints: &[String], root: &common::credentials::User) {
    println!();
    println!("Stratus is up. Data: {}", data_dir.display());
    for line in endpoints {
        println!("  {line}");
    }
    println!();
    println!(
        "Credentials (user {}, stored in {}):",
        root.name,
        data_dir.join(common::credentials::USERS_FILE).display()
    );
    println!("  export AWS_ACCESS_KEY_ID={}", root.access_key);
    println!("  export AWS_SECRET_ACCESS_KEY={}", root.secret_key.expose());
    println!("  export AWS_DEFAULT_REGION=us-east-1");
    println!();
    println!("Press Ctrl-C to stop.");
}
