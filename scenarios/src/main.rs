//! `weir-scenarios`: replays scenario files against a cluster and checks what
//! happened (`run`), or checks a saved history again (`check`).

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};
use weir_scenarios::backend::BackendKind;
use weir_scenarios::checker::{CheckConfig, DeliveryMode, check, check_pipeline};
use weir_scenarios::driver::{self, RunConfig};
use weir_scenarios::history::History;
use weir_scenarios::scenario::{Delivery, Scenario, TargetKind};

#[derive(Parser)]
#[command(name = "weir-scenarios", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Replay scenario files and check their histories; exits 1 on any violation.
    Run {
        /// Scenario files (TOML).
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// Where the brokers run.
        #[arg(long, value_enum, default_value_t = TargetKind::Processes)]
        target: TargetKind,
        /// Client libraries to run each file with (repeat for several).
        #[arg(long, value_enum, default_values_t = [BackendKind::Weir])]
        backend: Vec<BackendKind>,
        /// Seed of every random choice (printed, so a failure can be replayed).
        #[arg(long)]
        seed: Option<u64>,
        /// Multiplies produce counts and durations (e.g. 20 for a soak run).
        #[arg(long, default_value_t = 1.0)]
        scale: f64,
        /// Where runs keep their histories, broker logs and data.
        #[arg(long, default_value = "target/scenario-runs")]
        out: PathBuf,
        /// Keep the brokers' data directories of passing runs too.
        #[arg(long)]
        keep_data: bool,
    },
    /// Check a saved history (JSON lines) again.
    Check {
        history: PathBuf,
        /// The producers were idempotent: duplicates are violations.
        #[arg(long)]
        idempotent: bool,
        /// Check a group's deliveries in this mode.
        #[arg(long, value_enum)]
        delivery: Option<Delivery>,
        /// Check an exactly-once pipeline's history (`pipeline-<id>.jsonl`).
        #[arg(long, conflicts_with_all = ["idempotent", "delivery"])]
        pipeline: bool,
    },
}

fn main() -> ExitCode {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
    match run(Cli::parse()) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<bool> {
    match cli.command {
        Command::Run {
            files,
            target,
            backend,
            seed,
            scale,
            out,
            keep_data,
        } => {
            let seed = seed.unwrap_or_else(rand::random);
            anyhow::ensure!(scale > 0.0, "--scale must be positive");
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()
                .context("starting the runtime")?;
            let mut all_passed = true;
            for file in &files {
                let scenario = Scenario::load(file)?;
                for &backend in &backend {
                    let stem = file.file_stem().unwrap_or_default().to_string_lossy();
                    let config = RunConfig {
                        target,
                        backend,
                        seed,
                        scale,
                        dir: out.join(format!("{stem}-{backend}-{target}-{seed}")),
                    };
                    println!(
                        "=== {} ({}) on {target} with {backend}, seed {seed}",
                        scenario.name,
                        file.display()
                    );
                    let outcome = runtime.block_on(driver::run(&scenario, &config))?;
                    for check in &outcome.checks {
                        print!("{check}");
                    }
                    let verdict = if outcome.passed() { "PASS" } else { "FAIL" };
                    println!(
                        "=== {verdict} {} in {:.1} s (replay: --seed {seed}; history in {})",
                        scenario.name,
                        outcome.elapsed.as_secs_f64(),
                        config.dir.display()
                    );
                    if let Some(error) = &outcome.error {
                        println!("    {error}");
                    }
                    all_passed &= outcome.passed();
                    if outcome.passed() && !keep_data {
                        driver::remove_data(&config.dir);
                    }
                }
            }
            Ok(all_passed)
        }
        Command::Check {
            history,
            idempotent,
            delivery,
            pipeline,
        } => {
            let file = std::fs::File::open(&history)
                .with_context(|| format!("opening {}", history.display()))?;
            let history = History::read_jsonl(std::io::BufReader::new(file))?;
            let report = if pipeline {
                check_pipeline(&history)
            } else {
                check(
                    &history,
                    &CheckConfig {
                        idempotent,
                        delivery: delivery.map(DeliveryMode::from),
                        delivery_only: false,
                    },
                )
            };
            print!("{report}");
            Ok(report.is_ok())
        }
    }
}
