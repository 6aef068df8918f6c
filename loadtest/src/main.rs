//! `majlis-loadtest`: parses the command line, runs the scenario, prints the summary and writes the report.

use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::Parser;
use majlis_loadtest::report::summary;
use majlis_loadtest::workers::REPORT_PREFIX;
use majlis_loadtest::{Cli, Command, Common, Report};

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(true) => ExitCode::SUCCESS,
        // The run finished but a correctness check failed (missing events, errors, a wrong count).
        Ok(false) => ExitCode::from(2),
        Err(e) => {
            eprintln!("majlis-loadtest: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn common(command: &Command) -> &Common {
    match command {
        Command::Broadcast { common, .. }
        | Command::Chat { common, .. }
        | Command::Connections { common, .. }
        | Command::ReconnectStorm { common, .. }
        | Command::Votes { common, .. } => common,
    }
}

fn run(cli: Cli) -> Result<bool> {
    let common = common(&cli.command).clone();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(majlis_loadtest::threads(&common).max(1))
        .enable_all()
        .build()
        .context("starting the runtime")?;
    let argv: Vec<String> = std::env::args().skip(1).collect();
    let report = runtime.block_on(majlis_loadtest::dispatch(cli.command, &argv))?;
    // Client tasks still winding down must not hold the exit.
    runtime.shutdown_timeout(std::time::Duration::from_secs(2));
    if common.worker.is_some() {
        println!("{REPORT_PREFIX}{}", serde_json::to_string(&report)?);
        return Ok(true);
    }
    print!("{}", summary(&report));
    write_files(&common, &report)?;
    Ok(report.all_checks_pass())
}

fn write_files(common: &Common, report: &Report) -> Result<()> {
    if let Some(path) = &common.json {
        let json = serde_json::to_string_pretty(report)?;
        std::fs::write(path, json).with_context(|| format!("writing {}", path.display()))?;
        println!("  report     {}", path.display());
    }
    if let (Some(path), Some(svg)) = (&common.svg, &report.svg) {
        std::fs::write(path, svg).with_context(|| format!("writing {}", path.display()))?;
        println!("  plot       {}", path.display());
    }
    Ok(())
}
