//! The `cache-compat` binary: the command line lives in src/cli/ (clap types and the thin
//! commands); the exit status is 0 (no finding), 1 (findings) or 2 (the tool could not do its job).

mod cli;

fn main() -> std::process::ExitCode {
    cli::main()
}
