//! The account and balance API over the real binary: the seed's balance
//! requests verbatim (003), the 2012 budget calls as curl GETs (000/001/004)
//! and the prepaid debit cycle.

mod common;

use common::Server;
use serde_json::{json, Value};

fn money(account: &Value) -> f64 {
    account["BalanceMap"]["*monetary"]
        .as_array()
        .map(|l| l.iter().map(|b| b["Value"].as_f64().unwrap()).sum())
        .unwrap_or(0.0)
}

#[test]
fn seed_003_balance_requests_work_verbatim() {
    let server = Server::start(json!({}));
    let mut c = server.client();
    let set = r#"{
        "method": "APIerSv1.SetBalance",
        "params": [{
            "Tenant": "cgrates.org", "Account": "1003", "BalanceType": "*monetary",
            "BalanceUUID": null, "BalanceID": "23456", "Directions": null, "Value": 12,
            "ExpiryTime": null, "RatingSubject": null, "Categories": null, "DestinationIds": null,
            "TimingIds": null, "Weight": null, "SharedGroups": null, "Blocker": null, "Disabled": null
        }],
        "id": 6
    }"#;
    c.send_raw(set.as_bytes());
    assert_eq!(
        c.read_reply().unwrap(),
        json!({"id": 6, "result": "OK", "error": null})
    );
    let add = r#"{
        "method": "APIerSv1.AddBalance",
        "params": [{
            "Tenant": "cgrates.org", "Account": "1003", "BalanceUuid": null, "BalanceId": "123456",
            "BalanceType": "*monetary", "Directions": null, "Value": 10, "ExpiryTime": null,
            "RatingSubject": null, "Categories": null, "DestinationIds": null, "TimingIds": null,
            "Weight": null, "SharedGroups": null, "Overwrite": false, "Blocker": null, "Disabled": null
        }],
        "id": 4
    }"#;
    c.send_raw(add.as_bytes());
    assert_eq!(
        c.read_reply().unwrap(),
        json!({"id": 4, "result": "OK", "error": null})
    );
    let debit = r#"{
        "method": "APIerSv1.DebitBalance",
        "params": [{
            "Tenant": "cgrates.org", "Account": "1003", "BalanceUuid": null, "BalanceId": "23456",
            "BalanceType": "*monetary", "Directions": null, "Value": 5, "ExpiryTime": null,
            "RatingSubject": null, "Categories": null, "DestinationIds": null, "TimingIds": null,
            "Weight": null, "SharedGroups": null, "Overwrite": false, "Blocker": null, "Disabled": null
        }],
        "id": 5
    }"#;
    c.send_raw(debit.as_bytes());
    assert_eq!(
        c.read_reply().unwrap(),
        json!({"id": 5, "result": "OK", "error": null})
    );
    // 3.4: the remaining balance is the sum of BalanceMap values from GetAccounts.
    let accounts = c.ok(
        "APIerSv2.GetAccounts",
        json!({"Tenant": "cgrates.org", "AccountIDs": ["1003"]}),
    );
    // The sample plan gave 1003 a "main" balance of 10: 10 + 7 + 10.
    assert_eq!(money(&accounts[0]), 27.0);
    let balances = accounts[0]["BalanceMap"]["*monetary"].as_array().unwrap();
    let by_id = |id: &str| balances.iter().find(|b| b["ID"] == id).unwrap()["Value"].clone();
    assert_eq!(by_id("23456"), json!(7));
    assert_eq!(by_id("123456"), json!(10));
    for (id, direction, value) in [(18, "*out", 100), (28, "*in", 600)] {
        let req = json!({
            "method": "APIerSv1.SetBalance",
            "params": [{
                "Tenant": "cgrates.org", "Account": "1001", "BalanceType": "*voice",
                "BalanceUUID": null, "BalanceID": format!("{id}d867c57-31b4-407d-afc7-fb4dc359ae4d"),
                "Directions": direction, "Value": value, "ExpiryTime": null, "RatingSubject": null,
                "Categories": null, "DestinationIds": null, "TimingIds": null, "Weight": null,
                "SharedGroups": null, "Blocker": null, "Disabled": null
            }],
            "id": id
        });
        c.send_raw(req.to_string().as_bytes());
        assert_eq!(
            c.read_reply().unwrap(),
            json!({"id": id, "result": "OK", "error": null})
        );
    }
    // 3.5: the zero-usage Debit answers an empty CallCost with the account summary.
    let debit_air = r#"{
        "method": "Responder.Debit",
        "params": [{
            "Direction": "*out", "Category": "", "Tenant": "cgrates.org", "Subject": "", "Account": "1001",
            "Destination": "", "TimeStart": "0001-01-01T00:00:00Z", "TimeEnd": "0001-01-01T00:00:00Z",
            "LoopIndex": 0, "DurationIndex": 0, "FallbackSubject": "", "RatingInfos": null, "Increments": null,
            "ToR": "", "ExtraFields": null, "MaxRate": 0, "MaxRateUnit": 0, "MaxCostSoFar": 0, "CgrID": "",
            "RunID": "", "ForceDuration": false, "PerformRounding": false, "DryRun": false, "DenyNegativeAccount": false
        }],
        "id": 16
    }"#;
    c.send_raw(debit_air.as_bytes());
    let reply = c.read_reply().unwrap();
    assert_eq!(reply["id"], 16);
    assert_eq!(reply["error"], Value::Null);
    let cc = &reply["result"];
    assert_eq!(cc["Cost"], json!(0));
    assert_eq!(cc["Subject"], "1001");
    assert_eq!(cc["Account"], "1001");
    assert_eq!(cc["RatedUsage"], json!(0));
    let summary = &cc["AccountSummary"];
    assert_eq!(summary["Tenant"], "cgrates.org");
    assert_eq!(summary["ID"], "1001");
    let voice: Vec<_> = summary["BalanceSummaries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|b| b["Type"] == "*voice")
        .collect();
    assert_eq!(voice.len(), 2);
}

#[test]
fn seed_curl_budget_calls_with_the_at_amount_form() {
    let server = Server::start(json!({}));
    let get = |path: &str| -> Value {
        let (status, body) = server.get(path);
        assert_eq!(status, 200, "{path}: {body}");
        serde_json::from_str(&body).unwrap()
    };
    let result = |v: Value| v.get("result").cloned().unwrap_or(v);
    // The sample plan gives vdf:rif 1000 money, 3600 s of landline voice and 1000 SMS.
    assert_eq!(
        result(get(
            "/debitbalance?cstmid=vdf&subj=rif&dest=0257@amount=100"
        )),
        json!(900)
    );
    assert_eq!(
        result(get("/debitsms?cstmid=vdf&subj=rif&dest=0257@amount=100")),
        json!(900)
    );
    assert_eq!(
        result(get(
            "/debitseconds?cstmid=vdf&subj=rif&dest=0257@amount=100"
        )),
        json!(3500)
    );
    assert_eq!(
        result(get(
            "/getmaxsessiontime?cstmid=vdf&subj=rif&dest=0257@amount=100"
        )),
        json!(100)
    );
    assert_eq!(
        result(get(
            "/addvolumediscountseconds?cstmid=vdf&subj=rif&dest=0257@amount=100"
        )),
        json!(100)
    );
    assert_eq!(
        result(get(
            "/resetvolumediscountseconds?cstmid=vdf&subj=rif&dest=0257"
        )),
        json!(0)
    );
    assert_eq!(
        result(get(
            "/addrecievedcallseconds?cstmid=vdf&subj=rif&dest=0257@amount=100"
        )),
        json!(100)
    );
    assert_eq!(
        result(get(
            "/addreceivedcallseconds?cstmid=vdf&subj=rif&dest=0257@amount=200"
        )),
        json!(0)
    );
    assert_eq!(
        result(get("/resetuserbudget?cstmid=vdf&subj=rif&dest=0257")),
        json!("OK")
    );
    let account = server.call(
        "APIerSv2.GetAccount",
        json!({"Tenant": "vdf", "Account": "rif"}),
    );
    assert_eq!(money(&account["result"]), 1000.0);
}

#[test]
fn prepaid_debit_cycle_is_idempotent_and_refundable() {
    let server = Server::start(json!({}));
    let mut c = server.client();
    let cd = json!({
        "Tenant": "cgrates.org", "Account": "1002", "Destination": "0723456789",
        "TimeStart": "2024-03-06T14:00:00Z", "TimeEnd": "2024-03-06T14:01:35Z",
        "CgrID": "call-abc", "RunID": "*default"
    });
    let first = c.ok("Responder.Debit", cd.clone());
    assert_eq!(first["Cost"], json!(0.2));
    let again = c.ok("Responder.Debit", cd.clone());
    assert_eq!(first, again);
    let account = c.ok(
        "APIerSv2.GetAccount",
        json!({"Tenant": "cgrates.org", "Account": "1002"}),
    );
    assert_eq!(money(&account), 9.8);
    let mut refund = cd.clone();
    refund["Charges"] = first["Charges"].clone();
    refund["CgrID"] = json!("");
    c.ok("Responder.RefundIncrements", refund);
    let account = c.ok(
        "APIerSv2.GetAccount",
        json!({"Tenant": "cgrates.org", "Account": "1002"}),
    );
    assert_eq!(money(&account), 10.0);
    // MaxDebit takes what 10 covers of a 3 hour mobile call: 5000 s.
    let mut long = cd.clone();
    long["TimeEnd"] = json!("2024-03-06T17:00:00Z");
    long["CgrID"] = json!("call-long");
    let partial = c.ok("Responder.MaxDebit", long.clone());
    assert_eq!(partial["RatedUsage"], json!(5_000_000_000_000i64));
    long["CgrID"] = json!("call-long-2");
    assert_eq!(c.err("Responder.Debit", long), "INSUFFICIENT_CREDIT");
}

#[test]
fn account_errors_use_cgrates_words() {
    let server = Server::start(json!({}));
    let mut c = server.client();
    let unknown = json!({"Tenant": "cgrates.org", "Account": "nobody", "Destination": "0723", "TimeStart": "2024-01-01T00:00:00Z", "TimeEnd": "2024-01-01T00:01:00Z"});
    assert_eq!(
        c.err("Responder.Debit", unknown.clone()),
        "ACCOUNT_NOT_FOUND"
    );
    assert_eq!(
        c.err("Responder.GetMaxSessionTime", unknown),
        "ACCOUNT_NOT_FOUND"
    );
    assert_eq!(
        c.err(
            "APIerSv1.SetBalance",
            json!({"Tenant": "cgrates.org", "Value": 1})
        ),
        "MANDATORY_IE_MISSING: [Account BalanceType]"
    );
    assert_eq!(
        c.err(
            "APIerSv2.GetAccount",
            json!({"Tenant": "cgrates.org", "Account": "nobody"})
        ),
        "NOT_FOUND"
    );
    assert_eq!(
        c.err(
            "APIerSv1.RemoveAccount",
            json!({"Tenant": "cgrates.org", "Account": "nobody"})
        ),
        "NOT_FOUND"
    );
    let unrated = json!({"Tenant": "cgrates.org", "Account": "1001", "Destination": "999", "TimeStart": "2024-01-01T00:00:00Z", "TimeEnd": "2024-01-01T00:01:00Z"});
    assert_eq!(
        c.err("Responder.Debit", unrated),
        "UNAUTHORIZED_DESTINATION"
    );
    let sms = json!({"Tenant": "vdf", "Account": "rif", "Amount": 5000});
    assert_eq!(c.err("Responder.DebitSMS", sms), "INSUFFICIENT_CREDIT");
    // Nothing changed.
    let account = c.ok(
        "APIerSv2.GetAccount",
        json!({"Tenant": "vdf", "Account": "rif"}),
    );
    assert_eq!(account["BalanceMap"]["*sms"][0]["Value"], json!(1000));
    c.ok(
        "APIerSv1.SetAccount",
        json!({"Tenant": "cgrates.org", "Account": "new", "ExtraOptions": {"AllowNegative": true}}),
    );
    let account = c.ok(
        "APIerSv1.GetAccount",
        json!({"Tenant": "cgrates.org", "Account": "new"}),
    );
    assert_eq!(account["AllowNegative"], true);
    assert_eq!(
        c.ok(
            "APIerSv1.RemoveAccount",
            json!({"Tenant": "cgrates.org", "Account": "new"})
        ),
        json!("OK")
    );
}

#[test]
fn accounts_survive_a_restart() {
    let tmp = tempfile::tempdir().unwrap();
    let server = Server::start_in(tmp.path(), json!({}));
    server.call(
        "Responder.DebitBalance",
        json!({"Tenant": "vdf", "Account": "rif", "Amount": 1.25}),
    );
    let status = server.stop();
    assert!(status.success());
    let server = Server::start_in(tmp.path(), json!({}));
    let account = server.call(
        "APIerSv2.GetAccount",
        json!({"Tenant": "vdf", "Account": "rif"}),
    );
    assert_eq!(money(&account["result"]), 998.75);
}
