fn main() -> std::process::ExitCode {
    common::server::run_main(s3d::run)
}
