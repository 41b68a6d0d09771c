//! `imbridge`: parses the command line and hands over to the library.

use std::process::ExitCode;

use clap::Parser;

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
