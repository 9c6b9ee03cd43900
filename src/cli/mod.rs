//! The command line: `tollgate serve` (the default) and the console
//! commands that talk to a running server over its raw TCP JSON-RPC port.

pub mod client;
pub mod requests;

use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;

const ABOUT: &str =
    "Prepaid call controller for FreeSWITCH with a CGRateS-compatible rating engine";

const EXAMPLES: &str = "\
Examples:
  tollgate                                   # serve with conf/tollgate.json
  tollgate serve --config /etc/tollgate.json
  tollgate cost --tenant vdf --subject rif --destination 0256 \\
                --start 2012-02-02T17:30:00Z --duration 1h
  tollgate rpc Responder.GetCost '{\"Tenant\":\"vdf\",\"Subject\":\"rif\",\"Destination\":\"0256\"}'
  tollgate rpc ApierV1.GetTPIds
  tollgate load-tp conf/tariffplans/sample
  tollgate balance --tenant cgrates.org --account 1001

The console commands talk to a running server on --addr (default
127.0.0.1:2001, the listen.rpc_json of the default config). Set RUST_LOG
(for example RUST_LOG=debug) to change what the server logs.";

/// tollgate's command line.
#[derive(Debug, Parser)]
#[command(name = "tollgate", version, about = ABOUT, after_help = EXAMPLES)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the server (the default when no command is given).
    #[command(after_help = "\
Example:
  tollgate serve --config conf/tollgate.json

Every key of the config file is optional (see docs/server.md); an unknown
key or a bad value stops start-up with a message naming it. The server
prints the addresses it listens on, then logs to stderr. SIGINT or SIGTERM
stops it gracefully: GET /health answers 503 draining while it goes on
serving for listen.drain (default 2s), then no new connections, requests in
flight are answered, the store is flushed.")]
    Serve(ServeArgs),
    /// Call any JSON-RPC method of a running server and print the reply.
    #[command(after_help = "\
Examples:
  tollgate rpc Responder.GetCost '{\"Tenant\":\"vdf\",\"Subject\":\"rif\",\"Destination\":\"0256\",\"TimeStart\":\"2012-02-02T17:30:00Z\",\"TimeEnd\":\"2012-02-02T17:31:00Z\"}'
  tollgate rpc ApierV1.GetTPRate '{\"TPid\":\"SAMPLE_TP\",\"RateId\":\"SAMPLE_RATE_2\"}'
  tollgate rpc ApierV1.GetTPIds

The result is pretty-printed on stdout; an error is printed on stderr and
the exit status is 1.")]
    Rpc(RpcArgs),
    /// Ask the price of a call (Responder.GetCost).
    #[command(after_help = "\
Example (the seed's Python snippet, one hour of peak-time landline):
  tollgate cost --tenant vdf --category 0 --subject rif --destination 0256 \\
                --start 2012-02-02T17:30:00Z --duration 1h")]
    Cost(CostArgs),
    /// Show an account and its balances (APIerSv2.GetAccount).
    #[command(after_help = "\
Example:
  tollgate balance --tenant cgrates.org --account 1001")]
    Balance(BalanceArgs),
    /// Load a CGRateS tariff-plan folder into the running server
    /// (ApierV1.LoadTariffPlanFromFolder), atomically.
    #[command(after_help = "\
Example:
  tollgate load-tp conf/tariffplans/sample
  tollgate load-tp --dry-run /srv/tariffs/2024-05   # check only

A bad plan changes nothing; the error names file, line and column.")]
    LoadTp(LoadTpArgs),
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Config file (JSON).
    #[arg(long, short, default_value = "conf/tollgate.json")]
    pub config: PathBuf,
}

impl Default for ServeArgs {
    fn default() -> Self {
        ServeArgs {
            config: PathBuf::from("conf/tollgate.json"),
        }
    }
}

/// Where the server is.
#[derive(Debug, Args, Clone)]
pub struct Conn {
    /// The server's raw TCP JSON-RPC address (listen.rpc_json).
    #[arg(long, default_value = "127.0.0.1:2001", global = true)]
    pub addr: String,
    /// Give up after this long (Go duration).
    #[arg(long, default_value = "10s", global = true)]
    pub timeout: String,
}

#[derive(Debug, Args)]
pub struct RpcArgs {
    /// Service.Method, for example Responder.GetCost.
    pub method: String,
    /// The parameter object as JSON (default {}).
    #[arg(default_value = "{}")]
    pub params: String,
    #[command(flatten)]
    pub conn: Conn,
}

#[derive(Debug, Args)]
pub struct CostArgs {
    /// Tenant (default: the server's general.default_tenant).
    #[arg(long)]
    pub tenant: Option<String>,
    /// Category (default: the server's general.default_category).
    #[arg(long)]
    pub category: Option<String>,
    /// Rating subject.
    #[arg(long)]
    pub subject: String,
    /// Account (default: the subject).
    #[arg(long)]
    pub account: Option<String>,
    /// Dialled number.
    #[arg(long)]
    pub destination: String,
    /// Start of the call, RFC 3339 (default: now).
    #[arg(long)]
    pub start: Option<String>,
    /// Length of the call, Go duration (90s, 1m30s, 1h).
    #[arg(long, default_value = "60s")]
    pub duration: String,
    #[command(flatten)]
    pub conn: Conn,
}

#[derive(Debug, Args)]
pub struct BalanceArgs {
    /// Tenant.
    #[arg(long, default_value = "cgrates.org")]
    pub tenant: String,
    /// Account id.
    #[arg(long)]
    pub account: String,
    #[command(flatten)]
    pub conn: Conn,
}

#[derive(Debug, Args)]
pub struct LoadTpArgs {
    /// The tariff-plan folder (made absolute before it is sent).
    pub dir: PathBuf,
    /// Only check that the plan loads; change nothing.
    #[arg(long)]
    pub dry_run: bool,
    #[command(flatten)]
    pub conn: Conn,
}
