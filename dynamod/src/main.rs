fn main() -> std::process::ExitCode {
    common::server::run_main(dynamod::run)
}
