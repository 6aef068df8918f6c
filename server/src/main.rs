//! `majlis`: the server binary. Parses the command line, sets up logging, and calls the library.

use std::sync::Arc;

use anyhow::Context;
use clap::{Parser, Subcommand};
use majlis_server::auth::{staff_sub, Role, TokenKeys, User};
use majlis_server::{App, Config};
use tracing_subscriber::EnvFilter;

/// jemalloc gives memory back to the system a few seconds after it is freed; glibc's malloc kept a shedding
/// burst's peak (hundreds of MiB of queued frames) for the rest of the process's life.
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// Majlis: live chat and live-broadcast Q&A. With no subcommand, serves (same as `majlis serve`).
#[derive(Parser)]
#[command(version, args_conflicts_with_subcommands = true)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    serve: Config,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server (the default).
    Serve(Box<Config>),
    /// Mint a staff token (moderator, agent or admin) signed with --jwt-secret.
    Token(TokenArgs),
}

#[derive(clap::Args)]
struct TokenArgs {
    /// The staff member's role.
    #[arg(long, env = "MAJLIS_TOKEN_ROLE", value_enum, default_value = "moderator")]
    role: Role,
    /// The name shown to citizens and in logs.
    #[arg(long, env = "MAJLIS_TOKEN_NAME")]
    name: String,
    /// Lifetime of the token, in hours.
    #[arg(long, env = "MAJLIS_TOKEN_TTL_HOURS", default_value_t = 12)]
    ttl_hours: u64,
    /// The secret the servers verify tokens with (the same as their --jwt-secret).
    #[arg(long, env = "MAJLIS_JWT_SECRET", hide_env_values = true)]
    jwt_secret: String,
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Some(Command::Token(args)) => mint(args),
        Some(Command::Serve(config)) => serve(*config),
        None => serve(cli.serve),
    }
}

fn mint(args: TokenArgs) -> anyhow::Result<()> {
    let user = User { sub: staff_sub(args.role, &args.name), name: args.name, role: args.role };
    let (token, _) = TokenKeys::new(args.jwt_secret.as_bytes()).mint(&user, args.ttl_hours * 3600)?;
    println!("{token}");
    Ok(())
}

fn init_logging(format: &str) {
    let filter = EnvFilter::try_from_env("MAJLIS_LOG").unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter);
    if format == "json" {
        builder.json().init();
    } else {
        builder.init();
    }
}

fn serve(config: Config) -> anyhow::Result<()> {
    let mut runtime = tokio::runtime::Builder::new_multi_thread();
    runtime.enable_all();
    if config.worker_threads > 0 {
        runtime.worker_threads(config.worker_threads);
    }
    let runtime = runtime.build().context("starting the async runtime")?;
    let served = runtime.block_on(run(config));
    // Whatever is still running after the drain (a task stuck on an unreachable Redis) is dropped, not waited for.
    runtime.shutdown_timeout(std::time::Duration::from_secs(1));
    served
}

async fn run(mut config: Config) -> anyhow::Result<()> {
    init_logging(&config.log_format);
    let generated_secret = config.jwt_secret.is_none();
    if generated_secret {
        config.jwt_secret = Some(TokenKeys::random_secret());
    }
    let listener =
        tokio::net::TcpListener::bind(config.listen).await.with_context(|| format!("binding {}", config.listen))?;
    let bound = listener.local_addr()?;
    let public_url = config.public_url(bound);
    let app = App::new(config, public_url.clone()).context("starting (keyword file, Redis options)")?;
    print_welcome(&app, &public_url, generated_secret)?;
    majlis_server::run(listener, Arc::clone(&app), shutdown_signal()).await?;
    Ok(())
}

fn print_welcome(app: &App, url: &str, generated_secret: bool) -> anyhow::Result<()> {
    let moderator =
        User { sub: staff_sub(Role::Moderator, "Moderator"), name: "Moderator".into(), role: Role::Moderator };
    let (token, _) = app.tokens.mint(&moderator, 12 * 3600)?;
    let agent = User { sub: staff_sub(Role::Agent, "Agent"), name: "Agent".into(), role: Role::Agent };
    let (agent_token, _) = app.tokens.mint(&agent, 12 * 3600)?;
    let admin = User { sub: staff_sub(Role::Admin, "Supervisor"), name: "Supervisor".into(), role: Role::Admin };
    let (admin_token, _) = app.tokens.mint(&admin, 12 * 3600)?;
    let mode = if app.config.redis_url.is_some() { "Redis mode" } else { "in-memory store" };
    let me = how_to_run_me();
    println!("\nMajlis is running ({mode}).");
    println!("  Open:               {url}/");
    println!("  Moderator console:  {url}/moderator.html#token={token}");
    println!("  Chat agent console: {url}/agent.html#token={agent_token}");
    println!("  Chat supervisor:    {url}/agent.html#token={admin_token}");
    println!("  (these links are valid for 12 hours; the chat desk keeps business hours, see the README)");
    if generated_secret {
        println!("  No --jwt-secret given: a random one was generated, so tokens end with this process. To mint");
        println!("  staff tokens of your own, start with a fixed secret and use the same one to mint:");
        println!("    export MAJLIS_JWT_SECRET=$(openssl rand -hex 32)");
        println!("    {me} token --role moderator --name NAME");
    } else {
        println!("  Mint staff tokens with the same MAJLIS_JWT_SECRET: {me} token --role moderator --name NAME");
    }
    println!();
    Ok(())
}

/// How the operator runs this binary again, as they started it: through cargo (which sets
/// `CARGO_MANIFEST_DIR` for what it runs), or by the path they used.
fn how_to_run_me() -> String {
    if std::env::var_os("CARGO_MANIFEST_DIR").is_some() {
        return "cargo run --release --".into();
    }
    let invoked = std::env::args().next().unwrap_or_else(|| "majlis".into());
    // A bare name was found on PATH; anything else is a path that works from the same directory.
    if invoked.contains('/') {
        invoked
    } else {
        "majlis".into()
    }
}

/// Resolves on Ctrl-C or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = terminate => {},
    }
}
