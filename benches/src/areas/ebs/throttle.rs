//! Throttled volumes against their performance model (the peer is the model's number). Each round runs
//! on a fresh volume, so every round starts from the same full (1/50 s) peak bucket and none inherits
//! what the previous round left banked. gp2's burst credits are in `gp2.rs`.

use super::fio::Job;

pub struct Check {
    pub spec: &'static str,
    pub job: Job,
    pub modelled: f64,
}

pub const CHECKS: [Check; 3] = [
    Check {
        spec: "VolumeType=gp3&Size=100",
        job: Job { name: "gp3 100 GiB, 4 KiB randread qd32", rw: "randread", bs: "4k", iodepth: 32 },
        modelled: 3_000.0,
    },
    Check {
        spec: "VolumeType=gp3&Size=100",
        job: Job { name: "gp3 100 GiB, 1 MiB read qd8", rw: "read", bs: "1m", iodepth: 8 },
        modelled: 125.0,
    },
    Check {
        spec: "VolumeType=io1&Size=100&Iops=1000",
        job: Job { name: "io1 1,000 IOPS, 4 KiB randwrite qd32", rw: "randwrite", bs: "4k", iodepth: 32 },
        modelled: 1_000.0,
    },
];
