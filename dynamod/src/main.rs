/// mimalloc instead of glibc malloc: a profile of the YCSB load showed glibc malloc at ~17 % of
/// dynamod's CPU (many small, short-lived allocations per request across tokio worker threads).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    common::server::run_main(dynamod::run)
}
