//! `fake-freeswitch`: the simulated FreeSWITCH as a process.
//!
//! ```text
//! fake-freeswitch [--listen 127.0.0.1:8021] [--password ClueCon] [--scenario FILE] [--speed X]
//!                 [--load-calls N --load-rate R [--load-template FILE] [--load-at S]]
//!                 [--exit-when-idle] [--records FILE]
//!                 [--json-cdr-url URL [--json-cdr-retries N] [--json-cdr-delay S]
//!                  [--json-cdr-log-b-leg BOOL] [--json-cdr-encode-values BOOL]
//!                  [--json-cdr-queue]]
//! ```
//!
//! Prints `fake-freeswitch: listening on ADDR …` on stderr once it accepts
//! connections. At exit (SIGINT, SIGTERM, or when idle with
//! `--exit-when-idle`) it writes every call's record as a JSON array to
//! stdout (or `--records FILE`); SIGUSR1 prints them without exiting. The
//! `api sim_records` command gives the same over the Event Socket.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;
use integration::{CallSpec, FakeSwitch, JsonCdrConfig, LoadSpec, Scenario, SwitchConfig};

#[derive(Debug, Parser)]
#[command(
    name = "fake-freeswitch",
    about = "A simulated FreeSWITCH speaking the Event Socket protocol"
)]
struct Args {
    /// Address to listen on (port 0: any free port).
    #[arg(long, default_value = "127.0.0.1:8021")]
    listen: SocketAddr,
    /// Event Socket password.
    #[arg(long, default_value = "ClueCon")]
    password: String,
    /// Scenario file (JSON, see integration/README.md).
    #[arg(long)]
    scenario: Option<PathBuf>,
    /// Clock scale factor: simulated seconds per real second.
    #[arg(long, default_value_t = 1.0)]
    speed: f64,
    /// FreeSWITCH-Hostname in events.
    #[arg(long, default_value = "fake-freeswitch")]
    hostname: String,
    /// HEARTBEAT interval, simulated seconds (0: none).
    #[arg(long, default_value_t = 20.0)]
    heartbeat: f64,
    /// How long after its CHANNEL_CREATE a channel shows in `show channels`,
    /// simulated milliseconds (FreeSWITCH 1.10.12: about 20).
    #[arg(long, default_value_t = 20.0)]
    channel_table_lag: f64,
    /// Load: number of calls to start.
    #[arg(long)]
    load_calls: Option<u64>,
    /// Load: calls started per simulated second.
    #[arg(long, default_value_t = 10.0)]
    load_rate: f64,
    /// Load: offset of the first call, simulated seconds.
    #[arg(long, default_value_t = 0.0)]
    load_at: f64,
    /// Load: call template (a CallSpec JSON file; `{n}` is the call number).
    #[arg(long)]
    load_template: Option<PathBuf>,
    /// Exit once every scenario and load call has ended.
    #[arg(long)]
    exit_when_idle: bool,
    /// Write the records there at exit instead of stdout.
    #[arg(long)]
    records: Option<PathBuf>,
    /// mod_json_cdr: POST each channel's JSON CDR to this http:// URL
    /// (`?uuid=<uuid>` is appended).
    #[arg(long)]
    json_cdr_url: Option<String>,
    /// mod_json_cdr `retries`: attempts after the first.
    #[arg(long, default_value_t = 0)]
    json_cdr_retries: u32,
    /// mod_json_cdr `delay`: simulated seconds between attempts.
    #[arg(long, default_value_t = 5.0)]
    json_cdr_delay: f64,
    /// mod_json_cdr `log-b-leg`: also post channels with an originator.
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
    json_cdr_log_b_leg: bool,
    /// mod_json_cdr `encode-values`: url-encode the variables' values.
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
    json_cdr_encode_values: bool,
    /// mod_json_cdr `queue-capacity` > 0: post from a queue, one CDR after
    /// the other, instead of holding each channel's CHANNEL_HANGUP_COMPLETE
    /// until its post is done.
    #[arg(long)]
    json_cdr_queue: bool,
}

fn load_spec(args: &Args) -> Result<Option<LoadSpec>, String> {
    let Some(calls) = args.load_calls else {
        return Ok(None);
    };
    let template = match &args.load_template {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
            serde_json::from_str::<CallSpec>(&text)
                .map_err(|e| format!("{}: {e}", path.display()))?
        }
        None => LoadSpec::default().template,
    };
    let load = LoadSpec {
        calls,
        rate: args.load_rate,
        at: args.load_at,
        template,
    };
    load.validate()?;
    Ok(Some(load))
}

fn write_records(switch: &FakeSwitch, path: Option<&PathBuf>, pretty: bool) {
    let records = switch.records();
    let json = if pretty {
        serde_json::to_string_pretty(&records)
    } else {
        serde_json::to_string(&records)
    }
    .unwrap_or_else(|e| format!("\"cannot encode records: {e}\""));
    match path {
        Some(p) => {
            if let Err(e) = std::fs::write(p, json + "\n") {
                eprintln!("fake-freeswitch: cannot write {}: {e}", p.display());
            }
        }
        None => println!("{json}"),
    }
}

#[tokio::main]
async fn main() {
    let args = Args::parse();
    if let Err(e) = run(args).await {
        eprintln!("fake-freeswitch: {e}");
        std::process::exit(2);
    }
}

async fn run(args: Args) -> Result<(), String> {
    let mut scenario = match &args.scenario {
        Some(path) => Scenario::from_file(path)?,
        None => Scenario::default(),
    };
    if let Some(load) = load_spec(&args)? {
        if scenario.load.is_some() {
            return Err("both the scenario and the flags define a load".into());
        }
        scenario.load = Some(load);
    }
    if !(args.heartbeat.is_finite() && args.heartbeat >= 0.0) {
        return Err(format!("bad --heartbeat {}", args.heartbeat));
    }
    if !(args.channel_table_lag.is_finite() && args.channel_table_lag >= 0.0) {
        return Err(format!(
            "bad --channel-table-lag {}",
            args.channel_table_lag
        ));
    }
    if !(args.json_cdr_delay.is_finite() && args.json_cdr_delay >= 0.0) {
        return Err(format!("bad --json-cdr-delay {}", args.json_cdr_delay));
    }
    let json_cdr = args.json_cdr_url.as_ref().map(|url| JsonCdrConfig {
        retries: args.json_cdr_retries,
        delay: Duration::from_secs_f64(args.json_cdr_delay),
        log_b_leg: args.json_cdr_log_b_leg,
        encode_values: args.json_cdr_encode_values,
        queue: args.json_cdr_queue,
        ..JsonCdrConfig::new(url.clone())
    });
    if let Some(url) = &args.json_cdr_url {
        if !url.starts_with("http://") {
            return Err(format!("--json-cdr-url {url}: only http:// is simulated"));
        }
    }
    let config = SwitchConfig {
        listen: args.listen,
        password: args.password.clone(),
        speed: args.speed,
        hostname: args.hostname.clone(),
        heartbeat: Duration::from_secs_f64(args.heartbeat),
        channel_table_lag: Duration::from_secs_f64(args.channel_table_lag / 1000.0),
        scenario,
        json_cdr,
        ..Default::default()
    };
    let switch = FakeSwitch::start(config)
        .await
        .map_err(|e| format!("cannot start on {}: {e}", args.listen))?;
    eprintln!(
        "fake-freeswitch: listening on {} (speed {})",
        switch.addr(),
        args.speed,
    );
    wait_for_exit(&switch, &args).await;
    write_records(&switch, args.records.as_ref(), true);
    switch.shutdown().await;
    Ok(())
}

#[cfg(unix)]
async fn wait_for_exit(switch: &FakeSwitch, args: &Args) {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate()).expect("SIGTERM handler");
    let mut usr1 = signal(SignalKind::user_defined1()).expect("SIGUSR1 handler");
    loop {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => return,
            _ = term.recv() => return,
            _ = usr1.recv() => write_records(switch, None, false),
            idle = switch.wait_idle(Duration::from_secs(3600)), if args.exit_when_idle => {
                if idle {
                    return;
                }
            }
        }
    }
}

#[cfg(not(unix))]
async fn wait_for_exit(switch: &FakeSwitch, args: &Args) {
    loop {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => return,
            idle = switch.wait_idle(Duration::from_secs(3600)), if args.exit_when_idle => {
                if idle {
                    return;
                }
            }
        }
    }
}
