//! The `kindling` executable: the library's command line, plus `kindling bench` — the benchmark
//! harness lives here, outside the server's library.

mod bench;

fn main() -> std::process::ExitCode {
    kindling::cli::main(bench::main)
}
