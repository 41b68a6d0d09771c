//! `imbridge-bench`: the figures of BENCHMARKS.md, one subcommand each. Every run prints the
//! machine, a table with the figure and its baseline measured in the same run, and the command
//! line that reproduces it. Loopback only; every loop is bounded by its arguments.
//!
//! Build once, then run any figure:
//! `cargo build --release --bin imbridge --bin imbridge-bench`
//! `target/release/imbridge-bench p1 --store embedded`

mod corpus;
mod http1;
mod load;
mod machine;
mod p1_ingest;
mod p2_unread;
mod p3_fanout;
mod p4_memory;
mod p4_soak;
mod p5_startup;
mod p6_inbox;
mod p7_routing;
mod p8_growth;
mod plot;
mod server;
mod stats;
mod stores;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(name = "imbridge-bench", about = "Benchmarks of imbridge (see BENCHMARKS.md)")]
struct Cli {
    #[command(subcommand)]
    figure: Figure,
}

#[derive(Debug, Subcommand)]
enum Figure {
    /// Callback ingestion: group commit vs the raw store ceiling vs one write per request.
    P1(p1_ingest::P1Args),
    /// Unread query: POST /v1/unread vs the raw store query on the same data.
    P2(p2_unread::P2Args),
    /// Notification fan-out to many recipients through the simulator: provider calls, time, 416s.
    P3(p3_fanout::P3Args),
    /// The service's memory at 1 000 concurrent connections.
    P4(p4_memory::P4Args),
    /// The service's memory over a long mixed load (default 30 min): does it level off? Writes a plot.
    P4Soak(p4_soak::P4SoakArgs),
    /// Start-up time to ready.
    P5(p5_startup::P5Args),
    /// Inbox: the first page of GET /v1/conversations vs the raw store query.
    P6(p6_inbox::P6Args),
    /// Customer-service routing: concurrent POST /v1/shops/{id}/chats vs POST /v1/chats, capacity checked.
    P7(p7_routing::P7Args),
    /// Cost growth: P2 and P6 and the seeding rate as one store grows to 10 M messages. Writes a plot.
    P8(p8_growth::P8Args),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let machine = machine::Machine::detect();
    println!("machine: {machine}");
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("a Tokio runtime");
    let outcome = runtime.block_on(async {
        match cli.figure {
            Figure::P1(args) => p1_ingest::run(args).await,
            Figure::P2(args) => p2_unread::run(args).await,
            Figure::P3(args) => p3_fanout::run(args).await,
            Figure::P4(args) => p4_memory::run(args).await,
            Figure::P4Soak(args) => p4_soak::run(args).await,
            Figure::P5(args) => p5_startup::run(args).await,
            Figure::P6(args) => p6_inbox::run(args).await,
            Figure::P7(args) => p7_routing::run(args).await,
            Figure::P8(args) => p8_growth::run(args).await,
        }
    });
    println!();
    println!("reproduce: {}", reproduce_command());
    println!("machine:   {machine}");
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("imbridge-bench: {err:#}");
            ExitCode::FAILURE
        }
    }
}

/// This invocation as a cargo command, shell-quoted, with any password in a URI hidden. A MongoDB
/// URI taken from the environment is shown as the variable it came from.
fn reproduce_command() -> String {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mongo_from_env = args.iter().any(|a| a == "mongo") && !args.iter().any(|a| a.starts_with("--mongo-uri"));
    let env = match std::env::var(stores::MONGO_URI_VAR) {
        Ok(uri) if mongo_from_env => format!("{}={} ", stores::MONGO_URI_VAR, shell_quote(&stores::redact(&uri))),
        _ => String::new(),
    };
    let args: Vec<String> = args.iter().map(|a| shell_quote(&stores::redact(a))).collect();
    format!("{env}cargo run --release --bin imbridge-bench -- {}", args.join(" "))
}

fn shell_quote(arg: &str) -> String {
    if !arg.is_empty() && arg.chars().all(|c| c.is_ascii_alphanumeric() || "-_./:=,@".contains(c)) {
        arg.to_owned()
    } else {
        format!("'{}'", arg.replace('\'', r"'\''"))
    }
}
