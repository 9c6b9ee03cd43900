//! `mod_json_cdr`: one JSON CDR per channel, POSTed over HTTP when the
//! channel reports (`my_on_reporting`), built as
//! `switch_ivr_generate_json_cdr` builds it, retried as `process_cdr`
//! retries (FreeSWITCH `src/mod/event_handlers/mod_json_cdr/mod_json_cdr.c`,
//! `src/switch_ivr.c`).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::Serialize;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;

use crate::cause::str2cause;
use crate::channel::{Channel, Profile};
use crate::clock::{SimClock, SimTime};
use crate::events::Identity;

/// How the whole document is posted (`encode` in `json_cdr.conf.xml`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CdrEncoding {
    /// The module's default (`encode` unset or false): the JSON itself,
    /// `Content-Type: application/json`.
    #[default]
    None,
    /// `encode=true`: `cdr=<JSON, url-encoded>`,
    /// `Content-Type: application/x-www-form-urlencoded`.
    Url,
    /// `encode=base64`: `cdr=<JSON, base64>`,
    /// `Content-Type: application/x-www-form-base64-encoded`.
    Base64,
}

/// `json_cdr.conf.xml`, the HTTP part, with the module's defaults.
#[derive(Clone, Debug)]
pub struct JsonCdrConfig {
    /// `url`: `http://host:port/path` (plain HTTP only). The switch posts
    /// to `<url>?uuid=<channel uuid>` (appended as is, `%s?uuid=%s`).
    pub url: String,
    /// `retries`: attempts after the first (default 0: one attempt). After
    /// the last one fails the switch writes the CDR to `err-log-dir` and
    /// never posts it again.
    pub retries: u32,
    /// `delay`: simulated time between attempts (the module's default is 0,
    /// which it turns into 5 s as soon as `retries` is set; same here).
    pub delay: Duration,
    /// `log-b-leg` (default true): post channels with an originator caller
    /// profile (here the bridge's `loopback/9999-a` leg). When false they
    /// are skipped unless `force_process_cdr` is true on them.
    pub log_b_leg: bool,
    /// `encode` (default none: `application/json`).
    pub encode: CdrEncoding,
    /// `encode-values` (default true): every value in `variables` is
    /// url-encoded with `switch_url_encode` (`sofia/internal/1001@127.0.0.1`
    /// becomes `sofia/internal/1001%40127.0.0.1`, `"1001" <1001>`
    /// `%221001%22%20%3C1001%3E`).
    pub encode_values: bool,
    /// `cred` (`user:password`), sent as HTTP basic auth (`auth-scheme`
    /// basic, the default; the others are not simulated). None: no auth.
    pub cred: Option<String>,
    /// `timeout` (curl's `CURLOPT_TIMEOUT`): simulated time an attempt may
    /// take; None (the module's default, 0): no limit.
    pub timeout: Option<Duration>,
    /// Not `disable-100-continue` (default true): like libcurl 7.x, a body
    /// over 1024 bytes is announced with `Expect: 100-continue` and sent
    /// after `HTTP/1.1 100 Continue`, or after 1 s (real time) without it.
    pub expect_100_continue: bool,
    /// `queue-capacity` > 0 (default false): the CDRs go through a queue
    /// that one thread posts, one after the other, and the channel goes on
    /// at once. Without it (the default) the module posts from the
    /// channel's own thread in its reporting state, before the switch fires
    /// CHANNEL_HANGUP_COMPLETE: that event and CHANNEL_DESTROY wait until
    /// the post is done, retries and delays included.
    pub queue: bool,
}

impl JsonCdrConfig {
    /// The module's defaults, posting to `url`.
    pub fn new(url: impl Into<String>) -> Self {
        JsonCdrConfig {
            url: url.into(),
            retries: 0,
            delay: Duration::from_secs(5),
            log_b_leg: true,
            encode: CdrEncoding::None,
            encode_values: true,
            cred: None,
            timeout: None,
            expect_100_continue: true,
            queue: false,
        }
    }

    /// With `retries` attempts after the first, `delay` apart.
    pub fn retries(mut self, retries: u32, delay: Duration) -> Self {
        self.retries = retries;
        self.delay = delay;
        self
    }

    fn delay(&self) -> Duration {
        if self.retries > 0 && self.delay.is_zero() {
            Duration::from_secs(5)
        } else {
            self.delay
        }
    }
}

/// One attempt to post a CDR.
#[derive(Clone, Debug, Serialize)]
pub struct CdrAttempt {
    /// When it started (simulated µs since the epoch): a retry exactly
    /// `delay` after the previous attempt's `done`.
    pub at: SimTime,
    /// When its answer (or failure) came.
    pub done: SimTime,
    /// The HTTP status answered; None when there was no answer (connection
    /// refused, closed, timed out: curl's response code 0).
    pub status: Option<u16>,
    /// Why there was no answer.
    pub error: Option<String>,
}

impl CdrAttempt {
    /// A 2xx answer.
    pub fn ok(&self) -> bool {
        self.status.is_some_and(|s| (200..300).contains(&s))
    }
}

/// What became of a CDR.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CdrOutcome {
    /// Still being tried.
    Pending,
    /// An attempt got a 2xx.
    Delivered,
    /// Every attempt failed: the switch wrote it to `err-log-dir`.
    GaveUp,
}

/// A channel's CDR and its posting.
#[derive(Clone, Debug, Serialize)]
pub struct CdrPost {
    /// The channel's uuid.
    pub uuid: String,
    /// When the channel reported (simulated µs).
    pub at: SimTime,
    /// The request target: `<url>?uuid=<uuid>`.
    pub url: String,
    /// The `Content-Type` sent.
    pub content_type: String,
    /// The body as sent.
    pub body: String,
    /// The CDR document (before `encode`; values url-encoded when
    /// `encode_values`).
    pub cdr: serde_json::Value,
    /// Every attempt so far.
    pub attempts: Vec<CdrAttempt>,
    /// Where it stands.
    pub outcome: CdrOutcome,
}

impl CdrPost {
    /// A channel variable as posted (url-encoded when `encode_values`).
    pub fn variable(&self, name: &str) -> Option<&str> {
        self.cdr.get("variables")?.get(name)?.as_str()
    }

    /// A channel variable, url-decoded.
    pub fn variable_decoded(&self, name: &str) -> Option<String> {
        self.variable(name).map(url_decode)
    }
}

/// A job for the poster: a channel's CDR, ready to go.
pub(crate) struct CdrJob {
    index: usize,
}

/// The module inside the core: decides, builds and queues.
pub(crate) struct CdrSink {
    pub config: JsonCdrConfig,
    pub posts: Arc<Mutex<Vec<CdrPost>>>,
    pub changed: watch::Sender<u64>,
    tx: mpsc::UnboundedSender<CdrJob>,
}

impl CdrSink {
    pub(crate) fn new(config: JsonCdrConfig) -> (CdrSink, mpsc::UnboundedReceiver<CdrJob>) {
        let (tx, rx) = mpsc::unbounded_channel();
        (
            CdrSink {
                config,
                posts: Arc::new(Mutex::new(Vec::new())),
                changed: watch::Sender::new(0),
                tx,
            },
            rx,
        )
    }

    /// `my_on_reporting` and the reporting state's checks: posts `ch`'s CDR
    /// unless it is to be skipped; true when it does.
    pub(crate) fn report(&self, id: &Identity, ch: &Channel, at: SimTime) -> bool {
        if !should_report(&self.config, ch) {
            return false;
        }
        let json = generate(id, ch, self.config.encode_values);
        let cdr = serde_json::from_str(&json).unwrap_or_default();
        let (content_type, body) = match self.config.encode {
            CdrEncoding::None => ("application/json", json),
            CdrEncoding::Url => (
                "application/x-www-form-urlencoded",
                format!("cdr={}", url_encode(&json)),
            ),
            CdrEncoding::Base64 => (
                "application/x-www-form-base64-encoded",
                format!("cdr={}", base64(json.as_bytes())),
            ),
        };
        let post = CdrPost {
            uuid: ch.uuid.clone(),
            at,
            url: format!("{}?uuid={}", self.config.url, ch.uuid),
            content_type: content_type.to_owned(),
            body,
            cdr,
            attempts: Vec::new(),
            outcome: CdrOutcome::Pending,
        };
        let index = {
            let mut posts = self.posts.lock().unwrap_or_else(|p| p.into_inner());
            posts.push(post);
            posts.len() - 1
        };
        self.changed.send_modify(|n| *n += 1);
        self.tx.send(CdrJob { index }).is_ok()
    }
}

/// `switch_core_session_reporting_state` (`process_cdr`, `skip_cdr_causes`)
/// and `my_on_reporting` (`log-b-leg`, `force_process_cdr`).
fn should_report(config: &JsonCdrConfig, ch: &Channel) -> bool {
    let is_b = matches!(ch.other, Some(("originator", _)));
    let has_originatee = matches!(ch.other, Some(("originatee", _)));
    if let Some(v) = ch.vars.get("process_cdr").filter(|v| !v.is_empty()) {
        let skip = if v.eq_ignore_ascii_case("a_only") {
            is_b
        } else if v.eq_ignore_ascii_case("b_only") {
            has_originatee
        } else {
            !switch_true(v)
        };
        if skip {
            return false;
        }
    }
    if let (Some(skip), Some(cause)) = (ch.vars.get("skip_cdr_causes"), ch.hangup_cause) {
        if skip.split('|').any(|c| str2cause(c) == cause) {
            return false;
        }
    }
    if is_b && !config.log_b_leg {
        return ch.vars.get("force_process_cdr").is_some_and(switch_true);
    }
    true
}

/// `switch_true`.
fn switch_true(v: &str) -> bool {
    let v = v.trim();
    ["yes", "on", "true", "t", "enabled", "active", "allow"]
        .iter()
        .any(|t| v.eq_ignore_ascii_case(t))
        || v.parse::<i64>().is_ok_and(|n| n != 0)
}

/// A JSON value that keeps its keys in order, as cJSON prints them
/// (`serde_json`'s map sorts them).
enum J {
    S(String),
    O(Vec<(&'static str, J)>),
    V(Vec<(String, J)>),
    A(Vec<J>),
}

impl J {
    fn s(v: impl Into<String>) -> J {
        J::S(v.into())
    }

    /// `cJSON_PrintUnformatted`.
    fn print(&self, out: &mut String) {
        let key = |out: &mut String, k: &str| {
            out.push_str(&serde_json::Value::from(k).to_string());
            out.push(':');
        };
        match self {
            J::S(v) => out.push_str(&serde_json::Value::from(v.as_str()).to_string()),
            J::O(fields) => {
                out.push('{');
                for (i, (k, v)) in fields.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    key(out, k);
                    v.print(out);
                }
                out.push('}');
            }
            J::V(fields) => {
                out.push('{');
                for (i, (k, v)) in fields.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    key(out, k);
                    v.print(out);
                }
                out.push('}');
            }
            J::A(items) => {
                out.push('[');
                for (i, v) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    v.print(out);
                }
                out.push(']');
            }
        }
    }
}

/// `switch_ivr_generate_json_cdr`, printed unformatted, for the parts the
/// simulator knows: no `flags`/`caps` in `channel_data`, an empty
/// `callStats` (no RTP), no dialplan `extension` in the callflow.
fn generate(id: &Identity, ch: &Channel, encode_values: bool) -> String {
    let mut cdr = vec![
        ("core-uuid", J::s(&id.core_uuid)),
        ("switchname", J::s(&id.hostname)),
        (
            "channel_data",
            J::O(vec![
                ("state", J::s(ch.state.0)),
                ("direction", J::s(ch.direction())),
                ("state_number", J::s(ch.state.1.to_string())),
            ]),
        ),
        ("callStats", J::O(Vec::new())),
    ];
    let vars = ch
        .vars
        .iter()
        .filter(|(k, v)| !k.is_empty() && !v.is_empty())
        .map(|(k, v)| {
            let v = if encode_values {
                url_encode(v)
            } else {
                v.to_owned()
            };
            (k.to_owned(), J::S(v))
        })
        .collect();
    cdr.push(("variables", J::V(vars)));
    if !ch.apps.is_empty() {
        let apps = ch
            .apps
            .iter()
            .map(|(app, data, at)| {
                J::O(vec![
                    ("app_name", J::s(app)),
                    ("app_data", J::s(data)),
                    ("app_stamp", J::s(at.to_string())),
                ])
            })
            .collect();
        cdr.push(("app_log", J::O(vec![("applications", J::A(apps))])));
    }
    // Newest profile first, as `caller_profile->next` chains them.
    let mut flow = Vec::new();
    let current = std::iter::once((&ch.profile, true));
    let earlier = ch.earlier.iter().rev().map(|p| (p, false));
    let mut next_created = ch.profile.created;
    for (p, is_current) in current.chain(earlier) {
        let mut cp = profile_json(ch, p);
        if is_current {
            if let Some((kind, headers)) = &ch.other {
                let other = other_profile_json(headers);
                if *kind == "originator" {
                    let list = J::O(vec![("originator_caller_profiles", J::A(vec![other]))]);
                    cp.push(("originator", list));
                } else {
                    let list = J::O(vec![("originatee_caller_profiles", J::A(vec![other]))]);
                    cp.push(("originatee", list));
                }
            }
        }
        let t = |v: SimTime| J::s(v.to_string());
        // switch_channel_set_caller_profile: a new profile takes the
        // channel's created and answered (so far) times, the old one gets
        // its transfer time; the hangup stamps the current one only.
        let (answered, hungup, transferred) = if is_current {
            (
                ch.answered.unwrap_or(0),
                ch.hungup.unwrap_or(0),
                p.transferred,
            )
        } else {
            let answered = ch.answered.filter(|a| *a <= next_created).unwrap_or(0);
            (answered, 0, next_created)
        };
        let times = J::O(vec![
            ("created_time", t(ch.created)),
            ("profile_created_time", t(p.created)),
            ("progress_time", t(0)),
            ("progress_media_time", t(0)),
            ("answered_time", t(answered)),
            ("bridged_time", t(0)),
            ("last_hold_time", t(0)),
            ("hold_accum_time", t(0)),
            ("hangup_time", t(hungup)),
            ("resurrect_time", t(0)),
            ("transfer_time", t(transferred)),
        ]);
        next_created = p.created;
        flow.push(J::O(vec![
            ("dialplan", J::s(&p.dialplan)),
            ("profile_index", J::s(p.index.to_string())),
            ("caller_profile", J::O(cp)),
            ("times", times),
        ]));
    }
    cdr.push(("callflow", J::A(flow)));
    let mut out = String::new();
    J::O(cdr).print(&mut out);
    out
}

/// `switch_ivr_set_json_profile_data`.
fn profile_json(ch: &Channel, p: &Profile) -> Vec<(&'static str, J)> {
    let source = if ch.kind.loopback() {
        "mod_loopback"
    } else {
        "mod_sofia"
    };
    vec![
        ("username", J::s(&p.username)),
        ("dialplan", J::s(&p.dialplan)),
        ("caller_id_name", J::s(&p.cid_name)),
        ("ani", J::s(&p.cid_number)),
        ("aniii", J::s("")),
        ("caller_id_number", J::s(&p.cid_number)),
        ("network_addr", J::s(&p.network_addr)),
        ("rdnis", J::s(p.rdnis.as_deref().unwrap_or_default())),
        ("destination_number", J::s(&p.destination)),
        ("uuid", J::s(&ch.uuid)),
        ("source", J::s(source)),
        ("context", J::s(&p.context)),
        ("chan_name", J::s(&ch.name)),
    ]
}

/// The other leg's profile, from the `Other-Leg-*` snapshot the channel keeps.
fn other_profile_json(headers: &[(String, String)]) -> J {
    let get = |k: &str| {
        J::s(
            headers
                .iter()
                .find(|(h, _)| h.strip_prefix("Other-Leg-") == Some(k))
                .map(|(_, v)| v.clone())
                .unwrap_or_default(),
        )
    };
    J::O(vec![
        ("username", get("Username")),
        ("dialplan", get("Dialplan")),
        ("caller_id_name", get("Caller-ID-Name")),
        ("ani", get("ANI")),
        ("aniii", J::s("")),
        ("caller_id_number", get("Caller-ID-Number")),
        ("network_addr", get("Network-Addr")),
        ("rdnis", get("RDNIS")),
        ("destination_number", get("Destination-Number")),
        ("uuid", get("Unique-ID")),
        ("source", get("Source")),
        ("context", get("Context")),
        ("chan_name", get("Channel-Name")),
    ])
}

/// `switch_url_encode` (no double encoding: a `%XX` with upper-case hex
/// digits is kept as it is).
pub fn url_encode(s: &str) -> String {
    const UNSAFE: &[u8] = b"\r\n #%&+:;<=>?@[\\]^`{|}\"";
    const HEX: &[u8] = b"0123456789ABCDEF";
    let b = s.as_bytes();
    let mut out = String::with_capacity(b.len());
    for (i, &c) in b.iter().enumerate() {
        let kept_escape =
            c == b'%' && i + 2 < b.len() && HEX.contains(&b[i + 1]) && HEX.contains(&b[i + 2]);
        if !kept_escape && (!(b' '..=b'~').contains(&c) || UNSAFE.contains(&c)) {
            out.push('%');
            out.push(HEX[(c >> 4) as usize] as char);
            out.push(HEX[(c & 15) as usize] as char);
        } else {
            out.push(c as char);
        }
    }
    out
}

/// Percent-decoding (what a receiver does to `encode_values`' values).
pub fn url_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = |c: u8| (c as char).to_digit(16);
        if b[i] == b'%' && i + 2 < b.len() {
            if let (Some(h), Some(l)) = (hex(b[i + 1]), hex(b[i + 2])) {
                out.push((h * 16 + l) as u8);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn base64(data: &[u8]) -> String {
    const A: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, &c)| n | (c as u32) << (16 - 8 * i));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(A[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Called when the module is done with a channel's CDR: its uuid, and when
/// the last attempt ended.
pub(crate) type Reported = Arc<dyn Fn(&str, SimTime) + Send + Sync>;

/// The module's posting: each CDR on its own task (the session thread that
/// reports it), or one after the other with `queue` (the module's queue
/// thread); `retries + 1` attempts `delay` apart until one gets a 2xx.
pub(crate) async fn run_poster(
    config: JsonCdrConfig,
    posts: Arc<Mutex<Vec<CdrPost>>>,
    changed: watch::Sender<u64>,
    mut rx: mpsc::UnboundedReceiver<CdrJob>,
    clock: SimClock,
    stop: CancellationToken,
    reported: Reported,
) {
    let config = Arc::new(config);
    let changed = Arc::new(changed);
    loop {
        let job = tokio::select! {
            _ = stop.cancelled() => return,
            j = rx.recv() => match j { Some(j) => j, None => return },
        };
        let queued = config.queue;
        let (config, posts, changed, clock, stop, reported) = (
            config.clone(),
            posts.clone(),
            changed.clone(),
            clock.clone(),
            stop.clone(),
            reported.clone(),
        );
        let work = async move {
            tokio::select! {
                _ = stop.cancelled() => {}
                (uuid, done) = post_cdr(&config, &posts, &changed, &clock, job.index) => reported(&uuid, done),
            }
        };
        if queued {
            work.await;
        } else {
            tokio::spawn(work);
        }
    }
}

async fn post_cdr(
    config: &JsonCdrConfig,
    posts: &Mutex<Vec<CdrPost>>,
    changed: &watch::Sender<u64>,
    clock: &SimClock,
    index: usize,
) -> (String, SimTime) {
    let lock = || posts.lock().unwrap_or_else(|p| p.into_inner());
    let (reported_at, uuid, url, content_type, body) = {
        let p = &lock()[index];
        (
            p.at,
            p.uuid.clone(),
            p.url.clone(),
            p.content_type.clone(),
            p.body.clone(),
        )
    };
    let delay = crate::clock::secs_to_us(config.delay().as_secs_f64());
    // From the session thread, the first attempt is the reporting itself;
    // from the queue, whenever the queue gets to it.
    let mut done = if config.queue {
        clock.now().max(reported_at)
    } else {
        reported_at
    };
    for attempt in 0..=config.retries {
        // Stamped with its due time, as every timer of the simulator.
        let at = if attempt > 0 {
            clock.sleep_until(done + delay).await;
            done + delay
        } else {
            done
        };
        let send = http_post(config, &url, &content_type, &body);
        let result = match config.timeout.filter(|t| !t.is_zero()) {
            Some(t) => tokio::time::timeout(clock.to_real(t), send)
                .await
                .unwrap_or_else(|_| Err("timed out".to_owned())),
            None => send.await,
        };
        done = clock.now().max(at);
        let attempt = match result {
            Ok(status) => CdrAttempt {
                at,
                done,
                status: Some(status),
                error: None,
            },
            Err(e) => CdrAttempt {
                at,
                done,
                status: None,
                error: Some(e),
            },
        };
        let ok = attempt.ok();
        {
            let mut posts = lock();
            posts[index].attempts.push(attempt);
            if ok {
                posts[index].outcome = CdrOutcome::Delivered;
            }
        }
        changed.send_modify(|n| *n += 1);
        if ok {
            return (uuid, done);
        }
    }
    lock()[index].outcome = CdrOutcome::GaveUp;
    changed.send_modify(|n| *n += 1);
    (uuid, done)
}

/// A minimal HTTP/1.1 POST, with the headers libcurl sends for the module.
async fn http_post(
    config: &JsonCdrConfig,
    url: &str,
    content_type: &str,
    body: &str,
) -> Result<u16, String> {
    let rest = url
        .strip_prefix("http://")
        .ok_or_else(|| format!("unsupported url {url}"))?;
    let (authority, target) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => match rest.find('?') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, "/"),
        },
    };
    let target = if target.starts_with('?') {
        format!("/{target}")
    } else {
        target.to_owned()
    };
    let addr = if authority.contains(':') {
        authority.to_owned()
    } else {
        format!("{authority}:80")
    };
    let mut stream = TcpStream::connect(&addr)
        .await
        .map_err(|e| format!("connect {addr}: {e}"))?;
    let mut head = format!("POST {target} HTTP/1.1\r\nHost: {authority}\r\n");
    if let Some(cred) = &config.cred {
        head.push_str(&format!(
            "Authorization: Basic {}\r\n",
            base64(cred.as_bytes())
        ));
    }
    head.push_str("User-Agent: freeswitch-json/1.0\r\nAccept: */*\r\n");
    head.push_str(&format!(
        "Content-Type: {content_type}\r\nContent-Length: {}\r\n",
        body.len()
    ));
    let expect = config.expect_100_continue && body.len() > 1024;
    if expect {
        head.push_str("Expect: 100-continue\r\n");
    }
    head.push_str("\r\n");
    let io = |e: std::io::Error| e.to_string();
    stream.write_all(head.as_bytes()).await.map_err(io)?;
    let mut buf = Vec::new();
    if expect {
        // curl waits 1 s for the interim answer, then sends anyway.
        match tokio::time::timeout(Duration::from_secs(1), read_head(&mut stream, &mut buf)).await {
            Ok(Ok(status)) if status != 100 => return Ok(status),
            Ok(Err(e)) => return Err(e),
            _ => {}
        }
    }
    stream.write_all(body.as_bytes()).await.map_err(io)?;
    loop {
        let status = read_head(&mut stream, &mut buf).await?;
        if !(100..200).contains(&status) {
            // The answer's body is not read: curl throws it away.
            return Ok(status);
        }
    }
}

/// Reads one response head; returns its status and leaves what follows in `buf`.
async fn read_head(stream: &mut TcpStream, buf: &mut Vec<u8>) -> Result<u16, String> {
    loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end]).into_owned();
            buf.drain(..end + 4);
            let status = head
                .split_whitespace()
                .nth(1)
                .and_then(|s| s.parse().ok())
                .ok_or_else(|| format!("bad status line: {head:?}"))?;
            return Ok(status);
        }
        let mut chunk = [0u8; 4096];
        let n = stream.read(&mut chunk).await.map_err(|e| e.to_string())?;
        if n == 0 {
            return Err("connection closed before an answer".to_owned());
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_as_the_switch() {
        assert_eq!(
            url_encode("sofia/internal/1001@127.0.0.1"),
            "sofia/internal/1001%40127.0.0.1"
        );
        assert_eq!(url_encode("*prepaid"), "*prepaid");
        assert_eq!(url_encode("\"A\" <1>"), "%22A%22%20%3C1%3E");
        assert_eq!(url_encode("a%2Fb %zz"), "a%2Fb%20%25zz");
        assert_eq!(url_encode("é"), "%C3%A9");
        assert_eq!(url_decode("%22A%22%20%3C1%3E"), "\"A\" <1>");
        assert_eq!(base64(b"user:pass"), "dXNlcjpwYXNz");
        assert_eq!(base64(b"ab"), "YWI=");
        assert_eq!(base64(b"a"), "YQ==");
    }
}
