fn main() -> std::process::ExitCode {
    common::server::run_main(ebsd::run)
}
