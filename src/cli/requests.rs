//! The requests the console commands send, built without any I/O so they
//! can be tested on their own.

use super::{BalanceArgs, CostArgs, LoadTpArgs};
use chrono::{DateTime, SecondsFormat, Utc};
use rater::duration::parse_duration;
use serde_json::{json, Map, Value};
use thiserror::Error;

#[derive(Debug, Error, PartialEq)]
pub enum RequestError {
    #[error("--start: {0:?} is not an RFC 3339 time (for example 2012-02-02T17:30:00Z)")]
    Start(String),
    #[error("--duration: {0}")]
    Duration(String),
    #[error("params: not JSON: {0}")]
    Params(String),
    #[error("{0}: {1}")]
    Path(String, String),
}

/// `tollgate rpc METHOD PARAMS`: the parameter must be JSON.
pub fn rpc(method: &str, params: &str) -> Result<(String, Value), RequestError> {
    let params: Value =
        serde_json::from_str(params).map_err(|e| RequestError::Params(e.to_string()))?;
    Ok((method.to_string(), params))
}

/// `tollgate cost …` → `Responder.GetCost`.
pub fn cost(args: &CostArgs, now: DateTime<Utc>) -> Result<(String, Value), RequestError> {
    let start = match &args.start {
        None => now,
        Some(s) => DateTime::parse_from_rfc3339(s)
            .map_err(|_| RequestError::Start(s.clone()))?
            .with_timezone(&Utc),
    };
    let duration =
        parse_duration(&args.duration).map_err(|e| RequestError::Duration(e.to_string()))?;
    let mut cd = Map::new();
    let mut put = |k: &str, v: &Option<String>| {
        if let Some(v) = v {
            cd.insert(k.into(), Value::String(v.clone()));
        }
    };
    put("Tenant", &args.tenant);
    put("Category", &args.category);
    put("Subject", &Some(args.subject.clone()));
    put(
        "Account",
        &Some(args.account.clone().unwrap_or_else(|| args.subject.clone())),
    );
    put("Destination", &Some(args.destination.clone()));
    let fmt = |t: DateTime<Utc>| t.to_rfc3339_opts(SecondsFormat::AutoSi, true);
    cd.insert("TimeStart".into(), Value::String(fmt(start)));
    cd.insert("TimeEnd".into(), Value::String(fmt(start + duration)));
    Ok(("Responder.GetCost".into(), Value::Object(cd)))
}

/// `tollgate balance …` → `APIerSv2.GetAccount`.
pub fn balance(args: &BalanceArgs) -> (String, Value) {
    (
        "APIerSv2.GetAccount".into(),
        json!({"Tenant": args.tenant, "Account": args.account}),
    )
}

/// `tollgate load-tp DIR` → `ApierV1.LoadTariffPlanFromFolder` with an
/// absolute path (the server may run in another directory).
pub fn load_tp(args: &LoadTpArgs) -> Result<(String, Value), RequestError> {
    let dir = std::path::absolute(&args.dir)
        .map_err(|e| RequestError::Path(args.dir.display().to_string(), e.to_string()))?;
    let mut params = json!({"FolderPath": dir.display().to_string()});
    if args.dry_run {
        params["DryRun"] = Value::Bool(true);
    }
    Ok(("ApierV1.LoadTariffPlanFromFolder".into(), params))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::Conn;

    fn conn() -> Conn {
        Conn {
            addr: "127.0.0.1:2001".into(),
            timeout: "10s".into(),
        }
    }

    #[test]
    fn cost_builds_a_descriptor() {
        let args = CostArgs {
            tenant: Some("vdf".into()),
            category: None,
            subject: "rif".into(),
            account: None,
            destination: "0256".into(),
            start: Some("2012-02-02T17:30:00Z".into()),
            duration: "1h".into(),
            conn: conn(),
        };
        let (m, p) = cost(&args, Utc::now()).unwrap();
        assert_eq!(m, "Responder.GetCost");
        assert_eq!(
            p.to_string(),
            r#"{"Account":"rif","Destination":"0256","Subject":"rif","Tenant":"vdf","TimeEnd":"2012-02-02T18:30:00Z","TimeStart":"2012-02-02T17:30:00Z"}"#
        );
        let bad = CostArgs {
            start: Some("noon".into()),
            ..args
        };
        assert!(cost(&bad, Utc::now()).is_err());
    }

    #[test]
    fn balance_asks_get_account() {
        let (m, p) = balance(&BalanceArgs {
            tenant: "cgrates.org".into(),
            account: "1001".into(),
            conn: conn(),
        });
        assert_eq!(m, "APIerSv2.GetAccount");
        assert_eq!(p, json!({"Tenant": "cgrates.org", "Account": "1001"}));
    }

    #[test]
    fn load_tp_sends_an_absolute_path() {
        let (m, p) = load_tp(&LoadTpArgs {
            dir: "conf/tariffplans/sample".into(),
            dry_run: true,
            conn: conn(),
        })
        .unwrap();
        assert_eq!(m, "ApierV1.LoadTariffPlanFromFolder");
        assert!(p["FolderPath"].as_str().unwrap().starts_with('/'));
        assert_eq!(p["DryRun"], true);
    }
}
