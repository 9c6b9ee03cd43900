//! The operator console (`/ui/`) in a real browser: headless Chromium
//! driven through chromedriver (WebDriver, `fantoccini`), against the real
//! binary and the simulated switch.
//!
//! chromedriver is looked up as `TOLLGATE_CHROMEDRIVER`, then
//! `/usr/bin/chromedriver`, then on `PATH`. Without it the tests print
//! "skipped: chromedriver not installed" and pass, unless
//! `TOLLGATE_BROWSER_TESTS=1` (scripts/test.sh sets it): then they fail.
//! Each page's screenshot goes to `target/console-screenshots/`; the live
//! page with a call up is also written to `docs/console-live.png` when
//! `TOLLGATE_UPDATE_SCREENSHOT=1`.

mod common;

use common::*;
use fantoccini::{Client, ClientBuilder, Locator};
use integration::{FakeSwitch, HangupBy, SwitchConfig};
use rust_decimal::Decimal;
use serde_json::{json, Value};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

const SPEED: f64 = 10.0;
const WAIT: Duration = Duration::from_secs(20);

/// One browser at a time: the machines have 2 cores.
static BROWSER: Mutex<()> = Mutex::new(());

fn chromedriver_path() -> Option<PathBuf> {
    if let Ok(p) = std::env::var("TOLLGATE_CHROMEDRIVER") {
        return Some(PathBuf::from(p));
    }
    let usual = Path::new("/usr/bin/chromedriver");
    if usual.exists() {
        return Some(usual.to_path_buf());
    }
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|d| d.join("chromedriver"))
            .find(|p| p.exists())
    })
}

/// chromedriver on a free port, killed when dropped.
struct Driver {
    child: Child,
    url: String,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts chromedriver, or `None` (skip) when it is not installed and the
/// browser tests are not required.
fn driver() -> Option<Driver> {
    let Some(path) = chromedriver_path() else {
        if std::env::var("TOLLGATE_BROWSER_TESTS").as_deref() == Ok("1") {
            panic!("TOLLGATE_BROWSER_TESTS=1 but chromedriver is not installed (apt-get install chromium chromium-driver)");
        }
        eprintln!("skipped: chromedriver not installed");
        return None;
    };
    let addr = free_addr();
    let child = Command::new(&path)
        .arg(format!("--port={}", addr.port()))
        // Dates typed in the page are local times: make local UTC.
        .env("TZ", "UTC")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("start {}: {e}", path.display()));
    let driver = Driver {
        child,
        url: format!("http://{addr}"),
    };
    let deadline = Instant::now() + WAIT;
    while TcpStream::connect(addr).is_err() {
        assert!(Instant::now() < deadline, "chromedriver did not listen");
        std::thread::sleep(Duration::from_millis(50));
    }
    Some(driver)
}

async fn browser(driver: &Driver) -> Client {
    let mut caps = serde_json::Map::new();
    let mut chrome = json!({"args": [
        "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
        "--window-size=1280,800", "--lang=en-US",
    ]});
    if Path::new("/usr/bin/chromium").exists() {
        chrome["binary"] = json!("/usr/bin/chromium");
    }
    caps.insert("goog:chromeOptions".into(), chrome);
    let connector = hyper_util::client::legacy::connect::HttpConnector::new();
    ClientBuilder::new(connector)
        .capabilities(caps)
        .connect(&driver.url)
        .await
        .expect("a Chromium session")
}

/// Polls `f` every 50 ms until it gives `Some`, for at most `within`.
async fn until<T, F, Fut>(what: &str, within: Duration, mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + within;
    loop {
        if let Some(v) = f().await {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The text of the element with this id (`None` when there is none).
async fn text(c: &Client, id: &str) -> Option<String> {
    let v = c
        .execute(
            "const e = document.getElementById(arguments[0]); return e ? e.textContent : null;",
            vec![json!(id)],
        )
        .await
        .unwrap();
    v.as_str().map(str::to_string)
}

async fn exists(c: &Client, css: &str) -> bool {
    !c.find_all(Locator::Css(css)).await.unwrap().is_empty()
}

async fn set_value(c: &Client, id: &str, value: &str) {
    c.execute(
        "document.getElementById(arguments[0]).value = arguments[1];",
        vec![json!(id), json!(value)],
    )
    .await
    .unwrap();
}

async fn click(c: &Client, id: &str) {
    c.find(Locator::Id(id))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
}

/// Accepts the confirm() a click opened.
async fn accept_confirm(c: &Client) {
    until("a confirm dialog", WAIT, || async {
        c.accept_alert().await.ok()
    })
    .await;
}

/// Waits for the page's WebSocket to be up.
async fn wait_connected(c: &Client) {
    until("the page to connect to /ws", WAIT, || async {
        (text(c, "ws-status").await.as_deref() == Some("connected")).then_some(())
    })
    .await;
}

async fn error_bar(c: &Client) -> Option<String> {
    let shown = c
        .execute(
            "return document.getElementById('error-bar').hidden ? null : document.getElementById('error-text').textContent;",
            vec![],
        )
        .await
        .unwrap();
    shown.as_str().map(str::to_string)
}

async fn screenshot(c: &Client, name: &str) -> Vec<u8> {
    let png = c.screenshot().await.unwrap();
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/console-screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join(format!("{name}.png")), &png).unwrap();
    png
}

/// A switch at `SPEED` and a server following it (at the same speed).
fn rig() -> (tokio::runtime::Runtime, FakeSwitch, Server) {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let sw = rt
        .block_on(FakeSwitch::start(SwitchConfig::with_speed(SPEED)))
        .unwrap();
    let server = Server::start(json!({
        "freeswitch": [{"address": sw.addr().to_string(), "password": "ClueCon", "alias": "fs1"}],
        "sessions": {"clock_speed": SPEED},
    }));
    server.wait_connected();
    (rt, sw, server)
}

/// `GET` with the response head: (status, head, body).
fn get_with_head(addr: SocketAddr, path: &str) -> (u16, String, String) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(WAIT)).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut raw = Vec::new();
    let _ = s.read_to_end(&mut raw);
    let text = String::from_utf8_lossy(&raw).to_string();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head.split(' ').nth(1).unwrap().parse().unwrap();
    (status, head.to_ascii_lowercase(), body.to_string())
}

fn ui(server: &Server) -> String {
    format!("http://{}/ui/", server.http)
}

// ---------- runs today: the page itself ----------

#[test]
fn the_console_is_served_from_the_binary() {
    let server = Server::start(json!({}));
    let (status, head, _) = get_with_head(server.http, "/ui");
    assert!((300..400).contains(&status), "{head}");
    assert!(head.contains("location: /ui/"), "{head}");
    for (path, kind, marker) in [
        ("/ui/", "text/html", "tollgate console"),
        (
            "/ui/app.js",
            "text/javascript",
            "tollgate_subscribeSessions",
        ),
        ("/ui/app.css", "text/css", "#error-bar"),
    ] {
        let (status, head, body) = get_with_head(server.http, path);
        assert_eq!(status, 200, "{path}: {head}");
        assert!(head.contains(&format!("content-type: {kind}")), "{head}");
        assert!(head.contains("cache-control: no-cache"), "{head}");
        assert!(body.contains(marker), "{path}");
        // Nothing from elsewhere: the page works without internet.
        assert!(
            !body.contains("http://") && !body.contains("https://"),
            "{path}"
        );
    }
}

#[test]
fn every_page_renders_and_the_plan_summary_matches_health() {
    let _one = BROWSER.lock().unwrap_or_else(|e| e.into_inner());
    let Some(driver) = driver() else { return };
    let server = Server::start(json!({}));
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let c = browser(&driver).await;
        c.goto(&ui(&server)).await.unwrap();
        assert_eq!(c.title().await.unwrap(), "tollgate console");
        for tab in ["live", "accounts", "cdrs", "rates"] {
            click(&c, &format!("tab-{tab}")).await;
            let shown = c
                .find(Locator::Id(&format!("page-{tab}")))
                .await
                .unwrap()
                .is_displayed()
                .await
                .unwrap();
            assert!(shown, "{tab} page shown");
            if tab == "rates" {
                let (_, health) = server.get("/health");
                let health: Value = serde_json::from_str(&health).unwrap();
                let want = health["tariffplan"]["destinations"].to_string();
                until("the plan summary", WAIT, || async {
                    (text(&c, "plan-summary")
                        .await
                        .is_some_and(|t| !t.is_empty()))
                    .then_some(())
                })
                .await;
                let got = c
                    .find(Locator::Css("[data-testid=plan-destinations]"))
                    .await
                    .unwrap()
                    .text()
                    .await
                    .unwrap();
                assert_eq!(got, want);
                // Reload from the configured folder (no folder typed).
                let loads = health["tariffplan"]["loads_since_start"].as_u64().unwrap();
                click(&c, "reload-btn").await;
                accept_confirm(&c).await;
                until("the reload's answer", WAIT, || async {
                    text(&c, "reload-result")
                        .await
                        .filter(|t| t.starts_with("OK"))
                })
                .await;
                let (_, health) = server.get("/health");
                let health: Value = serde_json::from_str(&health).unwrap();
                assert_eq!(
                    health["tariffplan"]["loads_since_start"].as_u64(),
                    Some(loads + 1)
                );
            }
            screenshot(&c, tab).await;
        }
        c.close().await.unwrap();
    });
}

#[test]
fn a_closed_socket_is_shown_in_the_error_bar() {
    let _one = BROWSER.lock().unwrap_or_else(|e| e.into_inner());
    let Some(driver) = driver() else { return };
    let server = Server::start(json!({}));
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let c = browser(&driver).await;
        c.goto(&ui(&server)).await.unwrap();
        drop(server);
        let shown = until("the error bar", WAIT, || async { error_bar(&c).await }).await;
        // Either the socket's close, or a request it left unanswered.
        assert!(
            shown.to_lowercase().contains("connection to the server"),
            "{shown}"
        );
        assert_ne!(
            text(&c, "ws-status").await.as_deref(),
            Some("connected"),
            "the status says the socket is down"
        );
        c.close().await.unwrap();
    });
}

// ---------- need /ws, SessionSv1.ForceDisconnect, /cdrs.csv, the token ----------

#[test]
fn a_placed_call_appears_live_within_a_second_and_leaves_when_it_ends() {
    let _one = BROWSER.lock().unwrap_or_else(|e| e.into_inner());
    let Some(driver) = driver() else { return };
    let (rt, sw, server) = rig();
    let _in_runtime = rt.enter();
    fund(&server, "1001", 10.0);
    rt.block_on(async {
        let c = browser(&driver).await;
        c.goto(&ui(&server)).await.unwrap();
        wait_connected(&c).await;
        // 40 s of talk at speed 10: 4 s up.
        let uuid = sw.place_call(recorded_call("1001").talk(40.0)).unwrap();
        let placed = Instant::now();
        let row = format!("[data-testid='live-row-{uuid}']");
        until("the call on the live page", WAIT, || async {
            exists(&c, &row).await.then_some(())
        })
        .await;
        assert!(
            placed.elapsed() <= Duration::from_secs(1),
            "shown after {:?}",
            placed.elapsed()
        );
        assert_eq!(text(&c, "live-count").await.as_deref(), Some("1"));
        // Answered, ticking, paying: the screenshot for the README.
        until("a debit shown", WAIT, || async {
            let paid = c
                .execute(
                    "const r = document.querySelector(arguments[0]); return r ? r.children[4].textContent : '';",
                    vec![json!(row)],
                )
                .await
                .unwrap();
            paid.as_str()
                .and_then(|p| p.parse::<f64>().ok())
                .filter(|p| *p > 0.0)
        })
        .await;
        tokio::time::sleep(Duration::from_millis(1100)).await;
        let png = screenshot(&c, "live-call-up").await;
        if std::env::var("TOLLGATE_UPDATE_SCREENSHOT").as_deref() == Ok("1") {
            let docs = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/console-live.png");
            std::fs::write(docs, &png).unwrap();
        }
        sw.wait_for_end(&uuid, WAIT).await.expect("the call ends");
        until("the call to leave the live page", WAIT, || async {
            (!exists(&c, &row).await).then_some(())
        })
        .await;
        assert_eq!(text(&c, "live-count").await.as_deref(), Some("0"));
        assert_eq!(error_bar(&c).await, None);
        c.close().await.unwrap();
    });
}

#[test]
fn ending_a_call_from_the_page_hangs_it_up_and_bills_it() {
    let _one = BROWSER.lock().unwrap_or_else(|e| e.into_inner());
    let Some(driver) = driver() else { return };
    let (rt, sw, server) = rig();
    let _in_runtime = rt.enter();
    fund(&server, "1001", 10.0);
    rt.block_on(async {
        let c = browser(&driver).await;
        c.goto(&ui(&server)).await.unwrap();
        wait_connected(&c).await;
        let uuid = sw.place_call(recorded_call("1001").talk_forever()).unwrap();
        let button = format!("[data-testid='end-{uuid}']");
        until("the call's End button", WAIT, || async {
            exists(&c, &button).await.then_some(())
        })
        .await;
        // Let it talk a little (2 s real, 20 s simulated).
        tokio::time::sleep(Duration::from_secs(2)).await;
        c.find(Locator::Css(&button))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        accept_confirm(&c).await;
        let rec = sw.wait_for_end(&uuid, WAIT).await.expect("the call ends");
        assert_eq!(rec.hangup_by, Some(HangupBy::UuidKill), "{rec:?}");
        let cdr = wait_record(&server, &uuid, WAIT);
        assert!(decimal(&cdr["Cost"]) > Decimal::ZERO, "{cdr}");
        assert_eq!(
            money(&server, "1001"),
            Decimal::from(10) - decimal(&cdr["Cost"])
        );
        until("the call to leave the live page", WAIT, || async {
            (!exists(&c, &button).await).then_some(())
        })
        .await;
        assert_eq!(error_bar(&c).await, None);
        c.close().await.unwrap();
    });
}

#[test]
fn a_top_up_from_the_page_changes_the_balance_and_the_store() {
    let _one = BROWSER.lock().unwrap_or_else(|e| e.into_inner());
    let Some(driver) = driver() else { return };
    let server = Server::start(json!({}));
    fund(&server, "1001", 1.0);
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let c = browser(&driver).await;
        c.goto(&format!("{}#accounts", ui(&server))).await.unwrap();
        wait_connected(&c).await;
        set_value(&c, "acct-account", "1001").await;
        click(&c, "acct-search").await;
        until("the balance", WAIT, || async {
            (text(&c, "acct-monetary").await.as_deref() == Some("1")).then_some(())
        })
        .await;
        set_value(&c, "topup-amount", "2.5").await;
        click(&c, "topup-btn").await;
        accept_confirm(&c).await;
        until("the new balance", WAIT, || async {
            (text(&c, "acct-monetary").await.as_deref() == Some("3.5")).then_some(())
        })
        .await;
        assert_eq!(money(&server, "1001"), Decimal::new(35, 1));
        screenshot(&c, "accounts-after-top-up").await;
        // A debit the same way, and an error in words for a missing account.
        set_value(&c, "topup-amount", "0.5").await;
        click(&c, "debit-btn").await;
        accept_confirm(&c).await;
        until("the debited balance", WAIT, || async {
            (text(&c, "acct-monetary").await.as_deref() == Some("3")).then_some(())
        })
        .await;
        assert_eq!(money(&server, "1001"), Decimal::from(3));
        assert_eq!(error_bar(&c).await, None);
        set_value(&c, "acct-account", "nobody-here").await;
        click(&c, "acct-search").await;
        let shown = until("the error bar", WAIT, || async { error_bar(&c).await }).await;
        assert!(shown.contains("NOT_FOUND"), "{shown}");
        c.close().await.unwrap();
    });
}

#[test]
fn the_csv_download_holds_the_call() {
    let _one = BROWSER.lock().unwrap_or_else(|e| e.into_inner());
    let Some(driver) = driver() else { return };
    let (rt, sw, server) = rig();
    let _in_runtime = rt.enter();
    fund(&server, "1001", 10.0);
    let uuid = sw.place_call(recorded_call("1001").talk(15.0)).unwrap();
    rt.block_on(sw.wait_for_end(&uuid, WAIT))
        .expect("the call ends");
    let cdr = wait_record(&server, &uuid, WAIT);
    rt.block_on(async {
        let c = browser(&driver).await;
        c.goto(&format!("{}#cdrs", ui(&server))).await.unwrap();
        wait_connected(&c).await;
        set_value(&c, "cdr-account", "1001").await;
        click(&c, "cdr-search").await;
        let row = format!(
            "[data-testid='cdr-{uuid}-{}']",
            cdr["RunID"].as_str().unwrap()
        );
        until("the record on the page", WAIT, || async {
            exists(&c, &row).await.then_some(())
        })
        .await;
        screenshot(&c, "cdrs-filtered").await;
        let href = c
            .find(Locator::Id("cdr-csv"))
            .await
            .unwrap()
            .attr("href")
            .await
            .unwrap()
            .expect("the CSV link");
        assert!(href.starts_with("/cdrs.csv?"), "{href}");
        assert!(href.contains("Accounts=1001"), "{href}");
        let (status, body) = server.get(&href);
        assert_eq!(status, 200, "{body}");
        let mut lines = body.lines();
        assert!(
            lines
                .next()
                .unwrap()
                .starts_with("CGRID,RunID,OriginHost,OriginID"),
            "{body}"
        );
        let line = lines
            .find(|l| l.contains(&uuid))
            .unwrap_or_else(|| panic!("{uuid} in {body}"));
        assert!(line.contains(",1001,"), "{line}");
        c.close().await.unwrap();
    });
}

#[test]
fn the_cost_calculator_shows_what_get_cost_answers() {
    let _one = BROWSER.lock().unwrap_or_else(|e| e.into_inner());
    let Some(driver) = driver() else { return };
    let server = Server::start(json!({}));
    let want = server.call(
        "Responder.GetCost",
        json!({"Tenant": "vdf", "Subject": "rif", "Account": "rif", "Destination": "0256",
               "TimeStart": "2012-02-02T17:30:00Z", "TimeEnd": "2012-02-02T18:30:00Z"}),
    );
    let want = &want["result"];
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let c = browser(&driver).await;
        c.goto(&format!("{}#rates", ui(&server))).await.unwrap();
        wait_connected(&c).await;
        set_value(&c, "rate-tenant", "vdf").await;
        set_value(&c, "rate-subject", "rif").await;
        set_value(&c, "rate-dest", "0256").await;
        // Local time is UTC (TZ for chromedriver and its browser).
        set_value(&c, "rate-start", "2012-02-02T17:30:00").await;
        set_value(&c, "rate-duration", "3600").await;
        click(&c, "rate-calc").await;
        let shown = until("the cost", WAIT, || async {
            text(&c, "rate-cost").await.filter(|t| !t.is_empty())
        })
        .await;
        assert_eq!(decimal(&json!(shown)), decimal(&want["Cost"]));
        assert_eq!(decimal(&want["Cost"]), Decimal::new(369, 2));
        let spans = c
            .find_all(Locator::Css("#rate-timespans tbody tr"))
            .await
            .unwrap()
            .len();
        assert_eq!(spans, want["Timespans"].as_array().unwrap().len());
        assert_eq!(error_bar(&c).await, None);
        screenshot(&c, "rates-cost").await;
        c.close().await.unwrap();
    });
}

#[test]
fn a_wrong_token_is_refused_and_the_right_one_opens_the_console() {
    let _one = BROWSER.lock().unwrap_or_else(|e| e.into_inner());
    let Some(driver) = driver() else { return };
    let server = Server::start(json!({"security": {"api_token": "s3cret"}}));
    let (status, _, _) = get_with_head(server.http, "/ui/app.js");
    assert_eq!(status, 401);
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let c = browser(&driver).await;
        c.goto(&ui(&server)).await.unwrap();
        // The login page, not the console.
        assert!(
            !exists(&c, "#tab-live").await,
            "the console without a token"
        );
        let login = |token: &'static str| {
            let c = c.clone();
            async move {
                let input = c.find(Locator::Css("input[name=token]")).await.unwrap();
                input.send_keys(token).await.unwrap();
                c.form(Locator::Css("form"))
                    .await
                    .unwrap()
                    .submit()
                    .await
                    .unwrap();
            }
        };
        screenshot(&c, "login").await;
        login("wrong").await;
        until("the refusal", WAIT, || async {
            let page = c.source().await.unwrap().to_lowercase();
            page.contains("refused").then_some(())
        })
        .await;
        assert!(!exists(&c, "#tab-live").await);
        login("s3cret").await;
        until("the console", WAIT, || async {
            exists(&c, "#tab-live").await.then_some(())
        })
        .await;
        assert!(c.current_url().await.unwrap().path().starts_with("/ui/"));
        wait_connected(&c).await;
        c.close().await.unwrap();
    });
}
