//! The benchmark harness (issue #10 makes this one command for the whole suite). Each area has its own
//! load binary under `src/bin/` meanwhile.

fn main() {
    eprintln!("usage: cargo run --release -p benches --bin <area>   (see benches/src/bin/)");
    std::process::exit(2);
}
