//! The configuration file: one JSON object whose keys are all optional.
//!
//! Parsing is strict on purpose. An unknown key (a typo such as `"liste"`)
//! or a bad value stops start-up with a message naming the key path
//! (`listen.http: …`), because a server that silently ignores half of its
//! configuration is worse than one that refuses to start. Durations use Go
//! syntax (`10s`, `1m30s`, `3h`) like CGRateS. Relative paths are resolved
//! against the working directory of the process.
//!
//! Defaults (the file `conf/tollgate.json` spells them out):
//!
//! ```json
//! {
//!   "general":  {"timezone": "UTC", "default_tenant": "cgrates.org", "default_category": "call", "default_request_type": "*prepaid"},
//!   "listen":   {"rpc_json": "127.0.0.1:2001", "http": "127.0.0.1:8000", "idle_timeout": "10m", "max_connections": 1024, "max_connections_per_ip": 64, "request_timeout": "30s", "drain": "2s"},
//!   "tariffplan": "conf/tariffplans/sample",
//!   "store":    {"type": "embedded", "path": "data"},
//!   "sessions": {"debit_interval": "10s", "max_call_duration": "3h", "min_call_duration": "0s", "limit_grace": "10s", "max_session_time": "step_down"},
//!   "limits":   {"max_usage": "72h", "max_reply_bytes": 33554432},
//!   "freeswitch": [{"address": "127.0.0.1:8021", "password": "ClueCon", "alias": "fs1"}],
//!   "security": {"allow_remote_rpc_json": false},
//!   "cluster":  {"switch_lease": "5s"}
//! }
//! ```
//!
//! Beyond the contract keys, `listen` also takes `idle_timeout` (Go
//! duration, default `10m`), `max_connections` (per listener, default
//! 1024), `max_connections_per_ip` (default 64), `request_timeout`
//! (default `30s`) and `drain` (default `2s`: how long a stopping node
//! keeps serving with `/health` at 503), and `limits` bounds the work of one request (`max_usage`,
//! default `72h`; `max_reply_bytes`, default 32 MiB).
//!
//! `security` guards the listeners: with `api_token` set every HTTP request
//! but `GET /health` must carry it, and a listener bound beyond loopback is
//! refused at start-up unless guarded (`listen.http` needs `api_token`;
//! `listen.rpc_json`, which has no headers to carry one, needs
//! `allow_remote_rpc_json: true`).
//!
//! `cluster` names the node among several sharing one PostgreSQL store
//! (`node_id`, default `<hostname>:<listen.rpc_json port>`) and sets how
//! long its hold on a switch lasts unless renewed (`switch_lease`, > 0).

use chrono::TimeDelta;
use chrono_tz::Tz;
use serde::{Deserialize, Deserializer};
use std::collections::HashSet;
use std::net::{SocketAddr, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::time::Duration;
use thiserror::Error;

/// Why a configuration cannot be used. The text names the key.
#[derive(Debug, Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    /// The JSON is malformed, a key is unknown, or a value has the wrong type.
    #[error("config {path}: {key}: {message}")]
    Parse {
        path: String,
        key: String,
        message: String,
    },
    /// A value has the right type but is not acceptable.
    #[error("config {path}: {key}: {message}")]
    Invalid {
        path: String,
        key: String,
        message: String,
    },
}

/// The whole configuration, defaults filled in and every value checked.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub general: General,
    pub listen: Listen,
    /// Tariff plan folder loaded at start-up; `""` starts with an empty plan.
    #[serde(deserialize_with = "path_or_none")]
    pub tariffplan: Option<PathBuf>,
    pub store: Store,
    pub sessions: Sessions,
    pub freeswitch: Vec<FreeSwitch>,
    pub limits: Limits,
    pub security: Security,
    pub cluster: Cluster,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            general: General::default(),
            listen: Listen::default(),
            tariffplan: Some(PathBuf::from("conf/tariffplans/sample")),
            store: Store::default(),
            sessions: Sessions::default(),
            freeswitch: vec![FreeSwitch::default()],
            limits: Limits::default(),
            security: Security::default(),
            cluster: Cluster::default(),
        }
    }
}

/// `general`: time zone and the defaults of request fields.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct General {
    /// IANA zone in which tariff-plan timings are read.
    #[serde(deserialize_with = "timezone")]
    pub timezone: Tz,
    /// Tenant of a request that names none.
    #[serde(deserialize_with = "non_empty")]
    pub default_tenant: String,
    /// Category of a request that names none.
    #[serde(deserialize_with = "non_empty")]
    pub default_category: String,
    /// Request type of a session that names none (`*prepaid`, `*postpaid`, `*pseudoprepaid`, `*rated`).
    #[serde(deserialize_with = "request_type")]
    pub default_request_type: String,
}

impl Default for General {
    fn default() -> Self {
        General {
            timezone: Tz::UTC,
            default_tenant: "cgrates.org".into(),
            default_category: "call".into(),
            default_request_type: "*prepaid".into(),
        }
    }
}

/// `listen`: where the front ends bind. Loopback unless configured otherwise.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Listen {
    /// Raw TCP JSON-RPC (Go `net/rpc/jsonrpc` codec); `""` disables it.
    #[serde(deserialize_with = "listen_addr")]
    pub rpc_json: Option<SocketAddr>,
    /// HTTP (`POST /jsonrpc`, the GET endpoints, `/health`, `/metrics`); `""` disables it.
    #[serde(deserialize_with = "listen_addr")]
    pub http: Option<SocketAddr>,
    /// A connection with no complete request for this long is closed.
    #[serde(deserialize_with = "positive_std_duration")]
    pub idle_timeout: Duration,
    /// Connections served at once, per listener; more are refused with an error.
    #[serde(deserialize_with = "positive_usize")]
    pub max_connections: usize,
    /// Connections served at once from one client address, per listener.
    #[serde(deserialize_with = "positive_usize")]
    pub max_connections_per_ip: usize,
    /// Once the first byte of a request has arrived, the whole request must
    /// arrive within this; else the connection is closed.
    #[serde(deserialize_with = "positive_std_duration")]
    pub request_timeout: Duration,
    /// After SIGTERM (or Ctrl-C), how long the node goes on accepting and
    /// serving while `GET /health` answers `503 draining`, so that a load
    /// balancer takes it out of rotation before it stops accepting.
    #[serde(deserialize_with = "non_negative_std_duration")]
    pub drain: Duration,
}

impl Default for Listen {
    fn default() -> Self {
        Listen {
            rpc_json: Some(SocketAddr::from(([127, 0, 0, 1], 2001))),
            http: Some(SocketAddr::from(([127, 0, 0, 1], 8000))),
            idle_timeout: Duration::from_secs(600),
            max_connections: 1024,
            max_connections_per_ip: 64,
            request_timeout: Duration::from_secs(30),
            drain: Duration::from_secs(2),
        }
    }
}

/// `cluster`: this node among several sharing one PostgreSQL store.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Cluster {
    /// This node's name in the shared store (switch leases, logs); by
    /// default `<hostname>:<listen.rpc_json port>` (see [`Config::node_id`]).
    #[serde(deserialize_with = "node_id")]
    pub node_id: Option<String>,
    /// How long a node's hold on a switch lasts unless renewed; another
    /// node may take the switch over once it has run out.
    #[serde(deserialize_with = "positive_std_duration")]
    pub switch_lease: Duration,
}

impl Default for Cluster {
    fn default() -> Self {
        Cluster {
            node_id: None,
            switch_lease: Duration::from_secs(5),
        }
    }
}

/// The name of this host: `/proc/sys/kernel/hostname`, else `$HOSTNAME`,
/// else `localhost`.
pub fn hostname() -> String {
    let proc = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
    let proc = proc.trim();
    if !proc.is_empty() {
        return proc.to_string();
    }
    match std::env::var("HOSTNAME") {
        Ok(h) if !h.trim().is_empty() => h.trim().to_string(),
        _ => "localhost".to_string(),
    }
}

/// `limits`: the most work and memory one request may ask for.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Limits {
    /// The longest usage one request may rate, debit or ask the maximum
    /// session time for (`TimeEnd - TimeStart`, or GetMaxSessionTime's
    /// `Amount`); longer is refused with `MAX_USAGE_EXCEEDED` before any
    /// work. At least `sessions.max_call_duration`.
    #[serde(deserialize_with = "positive_duration")]
    pub max_usage: TimeDelta,
    /// The largest result one method may answer; a larger one is replaced
    /// by `SERVER_ERROR: reply larger than N bytes`.
    #[serde(deserialize_with = "positive_usize")]
    pub max_reply_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_usage: TimeDelta::hours(72),
            max_reply_bytes: 32 << 20,
        }
    }
}

/// `security`: the API token of the HTTP port, and whether the raw TCP
/// port (which cannot carry a token) may be reached from other hosts.
#[derive(Clone, PartialEq, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Security {
    /// Required on every HTTP request but `GET /health` when set (Bearer
    /// header, `tollgate_token` cookie or Basic password); required when
    /// `listen.http` is beyond loopback. Cookie-safe characters only.
    #[serde(deserialize_with = "api_token")]
    pub api_token: Option<String>,
    /// `listen.rpc_json` may be bound beyond loopback (anyone who reaches
    /// it can use every method: firewall it).
    pub allow_remote_rpc_json: bool,
}

/// The token never appears in logs or debug output.
impl std::fmt::Debug for Security {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Security")
            .field("api_token", &self.api_token.as_ref().map(|_| "<set>"))
            .field("allow_remote_rpc_json", &self.allow_remote_rpc_json)
            .finish()
    }
}

/// Whether `addr` can only be reached from this host (`0.0.0.0` and `::`
/// are every interface, so beyond loopback).
pub fn is_loopback(addr: &SocketAddr) -> bool {
    addr.ip().to_canonical().is_loopback()
}

/// `store`: where accounts and tariff-plan records ("StorDb") live.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase", deny_unknown_fields)]
pub enum Store {
    /// Files under `path` on this node.
    Embedded {
        #[serde(default = "default_store_path", deserialize_with = "path")]
        path: PathBuf,
    },
    /// A PostgreSQL database shared by several nodes.
    Postgres {
        #[serde(deserialize_with = "postgres_url")]
        url: String,
        /// How long idempotency records are kept (a retry of an older op
        /// is applied again); pruned every quarter of it. `0s` keeps them.
        #[serde(
            default = "default_ops_retention",
            deserialize_with = "non_negative_std_duration"
        )]
        ops_retention: Duration,
    },
}

fn default_ops_retention() -> Duration {
    rater::store::postgres::DEFAULT_OPS_RETENTION
}

fn default_store_path() -> PathBuf {
    PathBuf::from("data")
}

impl Default for Store {
    fn default() -> Self {
        Store::Embedded {
            path: default_store_path(),
        }
    }
}

impl Store {
    /// The node's own data folder (session journal): the embedded store's
    /// path, or `data` with PostgreSQL.
    pub fn data_dir(&self) -> PathBuf {
        match self {
            Store::Embedded { path } => path.clone(),
            Store::Postgres { .. } => default_store_path(),
        }
    }

    /// The account store this names.
    pub fn account_store(&self) -> rater::store::StoreConfig {
        match self {
            Store::Embedded { path } => rater::store::StoreConfig::Embedded {
                path: path.join("accounts"),
            },
            Store::Postgres { url, ops_retention } => rater::store::StoreConfig::Postgres {
                url: url.clone(),
                options: rater::store::postgres::PgOptions {
                    ops_retention: *ops_retention,
                },
            },
        }
    }
}

/// How GetMaxSessionTime searches the longest affordable call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MaxSessionTime {
    /// CGRateS 2012: try the requested duration, then 90 %, 80 % … of it.
    StepDown,
    /// The exact longest duration the balance pays for.
    Exact,
}

/// `sessions`: the prepaid call controller.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Sessions {
    #[serde(deserialize_with = "positive_duration")]
    pub debit_interval: TimeDelta,
    #[serde(deserialize_with = "positive_duration")]
    pub max_call_duration: TimeDelta,
    #[serde(deserialize_with = "non_negative_duration")]
    pub min_call_duration: TimeDelta,
    /// How far past the paid time the switch may let a call run if
    /// tollgate stops answering (the limit it holds is paid time + this).
    #[serde(deserialize_with = "non_negative_duration")]
    pub limit_grace: TimeDelta,
    pub max_session_time: MaxSessionTime,
    /// Announce a low balance once when the money left drops below a threshold.
    pub low_balance_warning: Option<LowBalanceWarning>,
    /// What a rater or store failure does to a call in progress.
    pub on_rater_error: OnRaterError,
    /// Leave refused calls to the dialplan (it reads `cgr_notify`) instead of killing them.
    pub reject_in_dialplan: bool,
    /// Simulated seconds per real second; only for tests against a sped-up simulated switch.
    #[serde(deserialize_with = "positive_f64")]
    pub clock_speed: f64,
    /// How long call records stay in the session journal before they move
    /// to the hourly archive files (`<store.path>/cdrs/`).
    #[serde(deserialize_with = "non_negative_duration")]
    pub cdr_retention: TimeDelta,
    /// How long a call found gone on resync waits for the switch's CDR
    /// (`POST /freeswitch/cdr`) before it is settled with an estimate.
    #[serde(deserialize_with = "non_negative_duration")]
    pub cdr_wait: TimeDelta,
}

/// `sessions.low_balance_warning`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LowBalanceWarning {
    /// Money below which the announcement plays.
    #[serde(with = "rust_decimal::serde::arbitrary_precision")]
    pub threshold: rust_decimal::Decimal,
    /// File played with `uuid_broadcast <uuid> playback::<file> aleg`.
    #[serde(deserialize_with = "non_empty")]
    pub file: String,
}

/// `sessions.on_rater_error`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum OnRaterError {
    /// Hang the call up (no free minutes).
    #[default]
    Hangup,
    /// Let it go on; the switch's own hangup timer still bounds it.
    Continue,
}

impl Default for Sessions {
    fn default() -> Self {
        Sessions {
            debit_interval: TimeDelta::seconds(10),
            max_call_duration: TimeDelta::hours(3),
            min_call_duration: TimeDelta::zero(),
            limit_grace: TimeDelta::seconds(10),
            max_session_time: MaxSessionTime::StepDown,
            low_balance_warning: None,
            on_rater_error: OnRaterError::Hangup,
            reject_in_dialplan: false,
            clock_speed: 1.0,
            cdr_retention: TimeDelta::hours(1),
            cdr_wait: TimeDelta::minutes(3),
        }
    }
}

/// One FreeSWITCH Event Socket to follow.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FreeSwitch {
    /// `host:port` of the Event Socket.
    #[serde(deserialize_with = "host_port")]
    pub address: String,
    #[serde(deserialize_with = "non_empty")]
    pub password: String,
    /// Name of this switch in logs and records; unique.
    #[serde(deserialize_with = "non_empty")]
    pub alias: String,
}

impl Default for FreeSwitch {
    fn default() -> Self {
        FreeSwitch {
            address: "127.0.0.1:8021".into(),
            password: "ClueCon".into(),
            alias: "fs1".into(),
        }
    }
}

impl Config {
    /// This node's id: `cluster.node_id`, else `<hostname>:<port>` with
    /// the port of `listen.rpc_json` (`0` when it is disabled).
    pub fn node_id(&self) -> String {
        if let Some(id) = &self.cluster.node_id {
            return id.clone();
        }
        let port = self.listen.rpc_json.map_or(0, |a| a.port());
        format!("{}:{port}", hostname())
    }

    /// Reads and checks a config file.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.display().to_string(),
            source,
        })?;
        Config::parse(&text, &path.display().to_string())
    }

    /// Parses and checks config text; `origin` names it in errors.
    pub fn parse(text: &str, origin: &str) -> Result<Config, ConfigError> {
        let de = &mut serde_json::Deserializer::from_str(text);
        let config: Config = serde_path_to_error::deserialize(de).map_err(|e| {
            let key = match e.path().to_string() {
                p if p == "." => "(top level)".to_string(),
                p => p,
            };
            ConfigError::Parse {
                path: origin.to_string(),
                key,
                message: e.inner().to_string(),
            }
        })?;
        config.validate(origin)?;
        Ok(config)
    }

    /// Checks that need more than one value.
    fn validate(&self, origin: &str) -> Result<(), ConfigError> {
        let invalid = |key: &str, message: String| ConfigError::Invalid {
            path: origin.to_string(),
            key: key.to_string(),
            message,
        };
        let s = &self.sessions;
        if s.min_call_duration > s.max_call_duration {
            return Err(invalid(
                "sessions.min_call_duration",
                "must not exceed sessions.max_call_duration".into(),
            ));
        }
        if self.limits.max_usage < s.max_call_duration {
            return Err(invalid(
                "limits.max_usage",
                "must not be less than sessions.max_call_duration".into(),
            ));
        }
        let mut aliases = HashSet::new();
        for (i, fs) in self.freeswitch.iter().enumerate() {
            if !aliases.insert(fs.alias.as_str()) {
                return Err(invalid(
                    &format!("freeswitch[{i}].alias"),
                    format!("alias {:?} is used twice", fs.alias),
                ));
            }
        }
        if let Some(addr) = self.listen.http {
            if !is_loopback(&addr) && self.security.api_token.is_none() {
                return Err(invalid(
                    "security.api_token",
                    format!(
                        "required because listen.http {addr} is beyond loopback \
                         (set a token, or bind listen.http to 127.0.0.1)"
                    ),
                ));
            }
        }
        if let Some(addr) = self.listen.rpc_json {
            if !is_loopback(&addr) && !self.security.allow_remote_rpc_json {
                return Err(invalid(
                    "security.allow_remote_rpc_json",
                    format!(
                        "must be true for listen.rpc_json {addr} beyond loopback \
                         (raw TCP carries no token: anyone who reaches it can use every method)"
                    ),
                ));
            }
        }
        if let (Some(a), Some(b)) = (self.listen.rpc_json, self.listen.http) {
            if a == b && a.port() != 0 {
                return Err(invalid(
                    "listen.http",
                    format!("{a} is also listen.rpc_json"),
                ));
            }
        }
        Ok(())
    }
}

// ---- value parsers: each error message says what was expected ----

fn non_empty<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    let s = String::deserialize(d)?;
    if s.trim().is_empty() {
        return Err(serde::de::Error::custom("must not be empty"));
    }
    Ok(s)
}

/// A token a browser can keep in a cookie: RFC 6265 cookie-octets
/// (visible ASCII but space, `"`, `,`, `;` and backslash).
fn api_token<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    let s = String::deserialize(d)?;
    if s.is_empty() {
        return Err(serde::de::Error::custom(
            "must not be empty (leave the key out for no token)",
        ));
    }
    let cookie_safe =
        |b: u8| (0x21..=0x7e).contains(&b) && !matches!(b, b'"' | b',' | b';' | b'\\');
    if !s.bytes().all(cookie_safe) {
        return Err(serde::de::Error::custom(
            "must be visible ASCII without spaces, quotes, commas, semicolons or backslashes \
             (it travels in a cookie)",
        ));
    }
    Ok(Some(s))
}

/// A node id: 1 to 128 visible ASCII characters.
fn node_id<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    let s = String::deserialize(d)?;
    if s.is_empty() || s.len() > 128 || !s.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(serde::de::Error::custom(format!(
            "{s:?} is not a node id (1 to 128 visible ASCII characters, no spaces; \
             leave the key out for <hostname>:<rpc_json port>)"
        )));
    }
    Ok(Some(s))
}

fn timezone<'de, D: Deserializer<'de>>(d: D) -> Result<Tz, D::Error> {
    let s = String::deserialize(d)?;
    s.parse::<Tz>().map_err(|_| {
        serde::de::Error::custom(format!(
            "{s:?} is not an IANA time zone (for example UTC or Europe/Bucharest)"
        ))
    })
}

fn request_type<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    const TYPES: [&str; 4] = ["*prepaid", "*postpaid", "*pseudoprepaid", "*rated"];
    let s = String::deserialize(d)?;
    if !TYPES.contains(&s.as_str()) {
        return Err(serde::de::Error::custom(format!(
            "{s:?} is not a request type (expected one of {})",
            TYPES.join(", ")
        )));
    }
    Ok(s)
}

fn listen_addr<'de, D: Deserializer<'de>>(d: D) -> Result<Option<SocketAddr>, D::Error> {
    let s = String::deserialize(d)?;
    if s.is_empty() {
        return Ok(None);
    }
    resolve(&s).map(Some).map_err(serde::de::Error::custom)
}

fn resolve(s: &str) -> Result<SocketAddr, String> {
    let err = || format!("{s:?} is not an address:port (for example 127.0.0.1:2001)");
    if let Ok(a) = s.parse::<SocketAddr>() {
        return Ok(a);
    }
    // Host names (such as localhost) must resolve locally.
    if !s.contains(':') {
        return Err(err());
    }
    s.to_socket_addrs()
        .ok()
        .and_then(|mut a| a.next())
        .ok_or_else(err)
}

fn host_port<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    let s = String::deserialize(d)?;
    let ok = s
        .rsplit_once(':')
        .is_some_and(|(host, port)| !host.is_empty() && port.parse::<u16>().is_ok());
    if !ok {
        return Err(serde::de::Error::custom(format!(
            "{s:?} is not host:port (for example 127.0.0.1:8021)"
        )));
    }
    Ok(s)
}

fn path<'de, D: Deserializer<'de>>(d: D) -> Result<PathBuf, D::Error> {
    let s = String::deserialize(d)?;
    if s.is_empty() {
        return Err(serde::de::Error::custom("path: must not be empty"));
    }
    Ok(PathBuf::from(s))
}

fn path_or_none<'de, D: Deserializer<'de>>(d: D) -> Result<Option<PathBuf>, D::Error> {
    let s = Option::<String>::deserialize(d)?;
    Ok(s.filter(|s| !s.is_empty()).map(PathBuf::from))
}

fn postgres_url<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    let s = String::deserialize(d)?;
    if !(s.starts_with("postgres://") || s.starts_with("postgresql://")) {
        return Err(serde::de::Error::custom(format!(
            "url: {s:?} is not a PostgreSQL URL (postgres://user:password@host:5432/db)"
        )));
    }
    Ok(s)
}

fn duration<'de, D: Deserializer<'de>>(d: D) -> Result<TimeDelta, D::Error> {
    let s = String::deserialize(d)?;
    rater::duration::parse_duration(&s).map_err(serde::de::Error::custom)
}

fn positive_duration<'de, D: Deserializer<'de>>(d: D) -> Result<TimeDelta, D::Error> {
    let v = duration(d)?;
    if v <= TimeDelta::zero() {
        return Err(serde::de::Error::custom("must be greater than 0s"));
    }
    Ok(v)
}

fn non_negative_duration<'de, D: Deserializer<'de>>(d: D) -> Result<TimeDelta, D::Error> {
    let v = duration(d)?;
    if v < TimeDelta::zero() {
        return Err(serde::de::Error::custom("must not be negative"));
    }
    Ok(v)
}

fn positive_std_duration<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    positive_duration(d)?
        .to_std()
        .map_err(serde::de::Error::custom)
}

fn non_negative_std_duration<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    non_negative_duration(d)?
        .to_std()
        .map_err(serde::de::Error::custom)
}

fn positive_f64<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
    let v = f64::deserialize(d)?;
    if v.is_finite() && v > 0.0 {
        Ok(v)
    } else {
        Err(serde::de::Error::custom(format!(
            "{v} must be a positive number"
        )))
    }
}

fn positive_usize<'de, D: Deserializer<'de>>(d: D) -> Result<usize, D::Error> {
    let v = usize::deserialize(d)?;
    if v == 0 {
        return Err(serde::de::Error::custom("must be at least 1"));
    }
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(text: &str) -> String {
        Config::parse(text, "t.json").unwrap_err().to_string()
    }

    #[test]
    fn empty_object_is_all_defaults() {
        assert_eq!(Config::parse("{}", "t").unwrap(), Config::default());
    }

    #[test]
    fn the_shipped_file_is_the_defaults() {
        let text = include_str!("../conf/tollgate.json");
        assert_eq!(Config::parse(text, "t").unwrap(), Config::default());
    }

    #[test]
    fn null_is_not_a_config_value() {
        let c = Config::parse(r#"{"general": null, "listen": {"http": null}}"#, "t");
        // A null for a non-optional value is refused by serde; nulls are
        // only "absent" in request bodies, not in the config.
        assert!(c.is_err());
    }

    #[test]
    fn unknown_keys_are_named() {
        let e = err(r#"{"listen": {"htp": "127.0.0.1:1"}}"#);
        assert!(e.contains("listen") && e.contains("htp"), "{e}");
        let e = err(r#"{"bogus": 1}"#);
        assert!(e.contains("bogus"), "{e}");
    }

    #[test]
    fn bad_values_are_named() {
        let e = err(r#"{"sessions": {"debit_interval": "10 parsecs"}}"#);
        assert!(e.contains("sessions.debit_interval"), "{e}");
        let e = err(r#"{"general": {"timezone": "Mars/Olympus"}}"#);
        assert!(e.contains("general.timezone"), "{e}");
        let e = err(r#"{"listen": {"http": "nowhere"}}"#);
        assert!(e.contains("listen.http"), "{e}");
        let e = err(r#"{"store": {"type": "mongo"}}"#);
        assert!(e.contains("store"), "{e}");
        let e = err(r#"{"store": {"type": "postgres", "url": "mysql://x"}}"#);
        assert!(e.contains("store: url:"), "{e}");
        let e = err(r#"{"freeswitch": [{"address": "x"}]}"#);
        assert!(e.contains("freeswitch[0].address"), "{e}");
        let e = err(r#"{"sessions": {"min_call_duration": "4h"}}"#);
        assert!(e.contains("sessions.min_call_duration"), "{e}");
        let e = err(r#"{"limits": {"max_usage": "2h"}}"#);
        assert!(e.contains("limits.max_usage"), "{e}");
        let e = err(r#"{"limits": {"max_reply_bytes": 0}}"#);
        assert!(e.contains("limits.max_reply_bytes"), "{e}");
        let e = err(r#"{"sessions": {"max_session_time": "guess"}}"#);
        assert!(e.contains("sessions.max_session_time"), "{e}");
    }

    #[test]
    fn store_variants_and_paths() {
        let c = Config::parse(
            r#"{"store": {"type": "postgres", "url": "postgres://u:p@h/db"}, "tariffplan": "/abs/tp"}"#,
            "t",
        )
        .unwrap();
        assert_eq!(
            c.store,
            Store::Postgres {
                url: "postgres://u:p@h/db".into(),
                ops_retention: Duration::from_secs(24 * 3600),
            }
        );
        assert_eq!(c.tariffplan, Some(PathBuf::from("/abs/tp")));
        let c = Config::parse(
            r#"{"store": {"type": "postgres", "url": "postgres://h/db", "ops_retention": "1h"}}"#,
            "t",
        )
        .unwrap();
        assert!(
            matches!(c.store, Store::Postgres { ops_retention, .. } if ops_retention == Duration::from_secs(3600))
        );
        let c = Config::parse(r#"{"store": {"type": "embedded"}, "tariffplan": ""}"#, "t").unwrap();
        assert_eq!(c.store, Store::default());
        assert_eq!(c.tariffplan, None);
    }

    #[test]
    fn security_guards_listeners_beyond_loopback() {
        let c = Config::default();
        assert_eq!(c.security.api_token, None);
        assert!(!c.security.allow_remote_rpc_json);
        let e = err(r#"{"listen": {"http": "0.0.0.0:8000"}}"#);
        assert!(
            e.contains("security.api_token") && e.contains("0.0.0.0:8000"),
            "{e}"
        );
        let e = err(r#"{"listen": {"http": "[::]:8000"}}"#);
        assert!(e.contains("security.api_token"), "{e}");
        let e = err(r#"{"listen": {"rpc_json": "0.0.0.0:2001"}}"#);
        assert!(e.contains("security.allow_remote_rpc_json"), "{e}");
        let e = err(r#"{"listen": {"rpc_json": "0.0.0.0:2001"}, "security": {"api_token": "t"}}"#);
        assert!(e.contains("security.allow_remote_rpc_json"), "{e}");
        let c = Config::parse(
            r#"{"listen": {"http": "0.0.0.0:8000", "rpc_json": "[::]:2001"},
                "security": {"api_token": "s3cret-token", "allow_remote_rpc_json": true}}"#,
            "t",
        )
        .unwrap();
        assert_eq!(c.security.api_token.as_deref(), Some("s3cret-token"));
        assert!(
            !format!("{c:?}").contains("s3cret"),
            "the token is not in debug output"
        );
        // Loopback, IPv4-mapped loopback and ::1 need neither.
        Config::parse(
            r#"{"listen": {"http": "[::ffff:127.0.0.1]:8000", "rpc_json": "[::1]:2001"}}"#,
            "t",
        )
        .unwrap();
        let e = err(r#"{"security": {"api_token": ""}}"#);
        assert!(e.contains("security.api_token"), "{e}");
        let e = err(r#"{"security": {"api_token": "a b"}}"#);
        assert!(
            e.contains("security.api_token") && e.contains("cookie"),
            "{e}"
        );
        let e = err(r#"{"security": {"api_tokn": "x"}}"#);
        assert!(e.contains("api_tokn"), "{e}");
    }

    #[test]
    fn durations_use_go_syntax() {
        let c = Config::parse(
            r#"{"sessions": {"debit_interval": "1m30s"}, "listen": {"idle_timeout": "250ms"}}"#,
            "t",
        )
        .unwrap();
        assert_eq!(c.sessions.debit_interval, TimeDelta::seconds(90));
        assert_eq!(c.listen.idle_timeout, Duration::from_millis(250));
        assert_eq!(
            Config::default().sessions.cdr_retention,
            TimeDelta::hours(1)
        );
        let c = Config::parse(r#"{"sessions": {"cdr_retention": "24h"}}"#, "t").unwrap();
        assert_eq!(c.sessions.cdr_retention, TimeDelta::hours(24));
        let e = Config::parse(r#"{"sessions": {"cdr_retention": "-1s"}}"#, "t").unwrap_err();
        assert!(e.to_string().contains("sessions.cdr_retention"), "{e}");
        assert_eq!(Config::default().sessions.cdr_wait, TimeDelta::minutes(3));
        let c = Config::parse(r#"{"sessions": {"cdr_wait": "0s"}}"#, "t").unwrap();
        assert_eq!(c.sessions.cdr_wait, TimeDelta::zero());
        let e = Config::parse(r#"{"sessions": {"cdr_wait": "-1s"}}"#, "t").unwrap_err();
        assert!(e.to_string().contains("sessions.cdr_wait"), "{e}");
    }

    #[test]
    fn cluster_and_drain() {
        let c = Config::default();
        assert_eq!(c.listen.drain, Duration::from_secs(2));
        assert_eq!(c.cluster.switch_lease, Duration::from_secs(5));
        assert_eq!(c.cluster.node_id, None);
        let port = c
            .node_id()
            .rsplit_once(':')
            .map(|(h, p)| (h.to_string(), p.to_string()));
        assert_eq!(port, Some((hostname(), "2001".to_string())));
        let c = Config::parse(
            r#"{"cluster": {"node_id": "n1", "switch_lease": "1500ms"}, "listen": {"drain": "0s"}}"#,
            "t",
        )
        .unwrap();
        assert_eq!(c.node_id(), "n1");
        assert_eq!(c.cluster.switch_lease, Duration::from_millis(1500));
        assert_eq!(c.listen.drain, Duration::ZERO);
        let c = Config::parse(r#"{"listen": {"rpc_json": ""}}"#, "t").unwrap();
        assert_eq!(c.node_id(), format!("{}:0", hostname()));
        for (text, key) in [
            (
                r#"{"cluster": {"switch_lease": "0s"}}"#,
                "cluster.switch_lease",
            ),
            (
                r#"{"cluster": {"switch_lease": "soon"}}"#,
                "cluster.switch_lease",
            ),
            (r#"{"cluster": {"node_id": ""}}"#, "cluster.node_id"),
            (r#"{"cluster": {"node_id": "a b"}}"#, "cluster.node_id"),
            (r#"{"cluster": {"nodeid": "n1"}}"#, "nodeid"),
            (r#"{"listen": {"drain": "-1s"}}"#, "listen.drain"),
        ] {
            let e = err(text);
            assert!(e.contains(key), "{text}: {e}");
        }
    }
}
