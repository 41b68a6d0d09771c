//! `imbridge`: parses the command line and hands over to the library.

use std::process::ExitCode;

use clap::Parser;

/// mimalloc instead of glibc's malloc: allocation and freeing were about a seventh of the
/// service's CPU time under callback load (the P1 profile in BENCHMARKS.md), much of it glibc
/// consolidating and unlinking free chunks across threads.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> ExitCode {
    match imbridge::cli::run(imbridge::cli::Cli::parse()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("imbridge: {err:#}");
            ExitCode::FAILURE
        }
    }
}
