//! A simulated switch, an engine on a small tariff plan and an embedded
//! store, and the session controller between them, on a fast clock.
#![allow(dead_code)]

use integration::{CallSpec, FakeSwitch, SwitchConfig as SimConfig};
use rater::account::{AccountKey, BalanceType, MaxSessionMethod};
use rater::engine::{BalanceArgs, Engine};
use rater::store::embedded::EmbeddedStore;
use rust_decimal::Decimal;
use sessions::{Cdr, CdrFilter, Controller, SessionsConfig, SwitchConfig};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

/// Simulated seconds per real second in these tests.
pub const SPEED: f64 = 100.0;

/// How long a test waits (real time) for a call to end or a record to appear.
pub const WAIT: std::time::Duration = std::time::Duration::from_secs(20);

/// 0.01 per second in 1 s steps to 1002; 0.5 connect fee and 0.01/s to 1003; 9999 unrated.
pub const PLAN: &[(&str, &str)] = &[
    ("Destinations.csv", "D1002,1002\nD1003,1003\n"),
    (
        "Rates.csv",
        "RT_SEC,0,0.6,60s,1s,0s\nRT_CF,0.5,0.6,60s,1s,0s\n",
    ),
    (
        "DestinationRates.csv",
        "DR_SEC,D1002,RT_SEC,*up,4,0,\nDR_CF,D1003,RT_CF,*up,4,0,\n",
    ),
    ("RatingPlans.csv", "RP,DR_SEC,*any,10\nRP,DR_CF,*any,10\n"),
    (
        "RatingProfiles.csv",
        "cgrates.org,call,*any,2000-01-01T00:00:00Z,RP,\n",
    ),
];

pub fn plan() -> rater::TariffPlan {
    let dir = tempfile::tempdir().unwrap();
    for (name, text) in PLAN {
        std::fs::write(dir.path().join(name), text).unwrap();
    }
    rater::load_folder(dir.path(), chrono_tz::Tz::UTC).unwrap()
}

pub fn config(switches: &[&FakeSwitch]) -> SessionsConfig {
    config_at(SPEED, switches)
}

/// The controller's config at `speed` simulated seconds per real second.
pub fn config_at(speed: f64, switches: &[&FakeSwitch]) -> SessionsConfig {
    SessionsConfig {
        debit_interval: Duration::from_secs(10),
        max_session_method: MaxSessionMethod::Exact,
        clock_speed: speed,
        switches: switches
            .iter()
            .enumerate()
            .map(|(i, s)| SwitchConfig {
                address: s.addr().to_string(),
                password: "ClueCon".into(),
                alias: format!("fs{}", i + 1),
            })
            .collect(),
        ..SessionsConfig::default()
    }
}

pub async fn switch() -> FakeSwitch {
    switch_at(SPEED).await
}

pub async fn switch_at(speed: f64) -> FakeSwitch {
    FakeSwitch::start(SimConfig::with_speed(speed))
        .await
        .unwrap()
}

pub async fn engine(dir: &Path) -> Arc<Engine> {
    let store = Arc::new(EmbeddedStore::open(dir.join("accounts")).unwrap());
    Arc::new(Engine::new(plan(), store, MaxSessionMethod::Exact))
}

pub fn start(engine: &Arc<Engine>, cfg: SessionsConfig, dir: &Path) -> Controller {
    Controller::start(
        engine.clone(),
        cfg,
        &sessions::Storage::Journal(dir.join("sessions.journal")),
    )
    .unwrap()
}

pub async fn fund(engine: &Engine, account: &str, money: Decimal) {
    let args = BalanceArgs {
        tenant: "cgrates.org".into(),
        account: account.into(),
        balance_type: Some(BalanceType::Monetary),
        id: Some("main".into()),
        value: Some(money),
        ..Default::default()
    };
    engine.set_balance(&args).await.unwrap();
}

pub async fn money(engine: &Engine, account: &str) -> Decimal {
    let key = AccountKey::new("cgrates.org", account);
    engine
        .store()
        .get(&key)
        .await
        .unwrap()
        .map(|a| a.total(BalanceType::Monetary))
        .unwrap_or_default()
}

/// A prepaid call from `account` to `dest`.
pub fn prepaid(account: &str, dest: &str, talk: f64) -> CallSpec {
    CallSpec::new(account, dest)
        .var("cgr_reqtype", "*prepaid")
        .var("cgr_account", account)
        .ring(1.0)
        .talk(talk)
}

/// Seconds from answer to hangup, by the switch's clock.
pub fn talked(rec: &integration::CallRecord) -> f64 {
    (rec.ended_at.unwrap() - rec.answered_at.unwrap()) as f64 / 1e6
}

/// Waits (real time) until the controller has the call's record.
pub async fn cdr(ctl: &Controller, uuid: &str, timeout: Duration) -> Cdr {
    let filter = CdrFilter {
        origin_ids: vec![uuid.to_string()],
        ..Default::default()
    };
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if let Some(c) = ctl.cdrs(&filter).unwrap().into_iter().next() {
            return c;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no call record for {uuid}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Waits until the controller follows a switch connection.
pub async fn connected(ctl: &Controller, switches: i64) {
    for _ in 0..500 {
        if ctl
            .metrics()
            .switches_up
            .load(std::sync::atomic::Ordering::Relaxed)
            >= switches
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("the controller did not connect");
}

/// A grace longer than a reconnection takes at this clock speed (the
/// Event Socket client waits 250 ms of real time, 25 simulated seconds,
/// before its first attempt), for tests of what a cut does to the
/// billing rather than to the limit.
pub fn long_grace(cfg: &mut SessionsConfig) {
    cfg.limit_grace = Duration::from_secs(300);
}

/// A simulated switch, an engine whose account 1001 holds `money`, and a
/// controller following the switch (connected), with `tweak` applied to
/// the controller's config.
pub struct Rig {
    pub dir: tempfile::TempDir,
    pub sw: FakeSwitch,
    pub engine: Arc<Engine>,
    pub ctl: Controller,
}

pub async fn rig(money: Decimal, tweak: impl FnOnce(&mut SessionsConfig)) -> Rig {
    rig_at(SPEED, money, tweak).await
}

/// [`rig`] on a clock of `speed` simulated seconds per real second.
pub async fn rig_at(speed: f64, money: Decimal, tweak: impl FnOnce(&mut SessionsConfig)) -> Rig {
    let dir = tempfile::tempdir().unwrap();
    let sw = switch_at(speed).await;
    let engine = engine(dir.path()).await;
    fund(&engine, "1001", money).await;
    let mut cfg = config_at(speed, &[&sw]);
    tweak(&mut cfg);
    let ctl = start(&engine, cfg, dir.path());
    connected(&ctl, 1).await;
    Rig {
        dir,
        sw,
        engine,
        ctl,
    }
}

/// Waits until the controller holds no live session (the CDR of a call
/// is written before its session is dropped, so a moment may pass).
pub async fn no_sessions(ctl: &Controller) {
    for _ in 0..500 {
        if ctl.active_sessions().unwrap().is_empty() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("sessions left: {:?}", ctl.active_sessions().unwrap());
}
