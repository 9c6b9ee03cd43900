//! `GET /cdrs.csv`: the records `CDRsV1.GetCDRs` answers, as CSV, with
//! the method's filter in the query. One real call through the simulated
//! switch (whose `mod_json_cdr` posts with Basic auth, the token as
//! password), then its row, its filters and the errors.

mod common;

use common::*;
use integration::{CallSpec, FakeSwitch, JsonCdrConfig, SwitchConfig};
use serde_json::{json, Value};
use std::time::{Duration, Instant};

const SPEED: f64 = 20.0;
const WAIT: Duration = Duration::from_secs(60);
const TOKEN: &str = "csv-token";
const HEADER: &str = "CGRID,RunID,OriginHost,OriginID,RequestType,Tenant,Category,Account,Subject,Destination,SetupTime,AnswerTime,Usage,Cost,Unpaid,DisconnectCause,ExtraInfo,OrderID";

/// `GET path` with the token as Bearer: (status, body).
fn get(server: &Server, path: &str) -> (u16, String) {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(server.http).unwrap();
    s.set_read_timeout(Some(TIMEOUT)).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\nAuthorization: Bearer {TOKEN}\r\n\r\n"
    )
    .unwrap();
    let mut text = String::new();
    s.read_to_string(&mut text).unwrap();
    let (head, body) = text.split_once("\r\n\r\n").unwrap();
    let status = head.split(' ').nth(1).unwrap().parse().unwrap();
    if status == 200 && path.starts_with("/cdrs.csv") {
        assert!(
            head.to_ascii_lowercase()
                .contains("content-type: text/csv; charset=utf-8"),
            "{head}"
        );
    }
    (status, body.to_string())
}

/// The CSV rows (header excluded), each split into fields.
fn rows(body: &str) -> Vec<Vec<String>> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .from_reader(body.as_bytes());
    let mut records = reader
        .records()
        .map(|r| r.unwrap().iter().map(str::to_string).collect::<Vec<_>>());
    assert_eq!(records.next().map(|h| h.join(",")).as_deref(), Some(HEADER));
    records.collect()
}

#[test]
fn without_switches_the_header_alone_and_bad_parameters_are_400() {
    let server = Server::start(json!({"security": {"api_token": TOKEN}}));
    let (status, body) = get(&server, "/cdrs.csv");
    assert_eq!(status, 200, "{body}");
    assert_eq!(body.trim_end(), HEADER);
    let (status, body) = get(&server, "/cdrs.csv?accounts=1001,1002&Limit=5&minusage=");
    assert_eq!((status, body.trim_end()), (200, HEADER));
    for (query, says) in [
        ("Acounts=1001", "Acounts"),
        ("SetupTimeStart=tuesday", "SetupTimeStart"),
        ("Limit=many", "Limit"),
        ("MinUsage=a%20while", "MinUsage"),
        ("MinCost=cheap", "MinCost"),
        ("Limit=1&limit=2", "Limit"),
        ("Accounts=%zz", "%zz"),
    ] {
        let (status, body) = get(&server, &format!("/cdrs.csv?{query}"));
        assert_eq!(status, 400, "{query}: {body}");
        let error: Value = serde_json::from_str(&body).unwrap();
        let text = error["error"].as_str().unwrap();
        assert!(text.contains(says), "{query}: {text}");
    }
}

#[test]
fn a_real_calls_record_is_one_row() {
    let http = free_addr();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let _in_runtime = rt.enter();
    let mut json_cdr = JsonCdrConfig::new(format!("http://{http}/freeswitch/cdr"))
        .retries(20, Duration::from_secs(5));
    json_cdr.cred = Some(format!("freeswitch:{TOKEN}"));
    let mut config = SwitchConfig::with_speed(SPEED);
    config.json_cdr = Some(json_cdr);
    let sw = rt.block_on(FakeSwitch::start(config)).unwrap();
    let server = Server::start(json!({
        "listen": {"http": http.to_string()},
        "freeswitch": [{"address": sw.addr().to_string(), "password": "ClueCon", "alias": "fs1"}],
        "sessions": {"clock_speed": SPEED, "limit_grace": "30s"},
        "security": {"api_token": TOKEN},
    }));
    // As Server::wait_connected, with the token /metrics now needs.
    let deadline = Instant::now() + WAIT;
    while !get(&server, "/metrics")
        .1
        .contains("tollgate_switches_connected 1")
    {
        assert!(
            Instant::now() < deadline,
            "tollgate did not connect to the switch"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    let fund = server.call(
        "APIerSv1.SetBalance",
        json!({"Tenant": "cgrates.org", "Account": "1001", "BalanceType": "*monetary", "BalanceID": "main", "Value": 1}),
    );
    assert_eq!(fund["result"], "OK", "{fund}");
    let spec = CallSpec::new("1001", "0723456789")
        .loopback()
        .partner_var("origination_caller_id_number", "1001")
        .var("cgr_reqtype", "*prepaid")
        .var("cgr_account", "1001")
        .bridge(&[("cgr_bleg", "1"), ("cgr_reqtype", "*none")])
        .ring(0.5)
        .talk(25.0);
    let uuid = sw.place_call(spec).unwrap();
    rt.block_on(sw.wait_for_end(&uuid, WAIT))
        .expect("call ends");
    let post = rt
        .block_on(sw.wait_cdr_post(&uuid, WAIT))
        .expect("the switch posts the call's CDR");
    // Basic auth with the token as password got the CDR in.
    assert!(post.attempts.iter().any(|a| a.ok()), "{:?}", post.attempts);
    let deadline = Instant::now() + WAIT;
    let record = loop {
        let reply = server.call("CDRsV1.GetCDRs", json!({"OriginIDs": [uuid]}));
        if let Some(r) = reply["result"].as_array().and_then(|l| l.first()) {
            break r.clone();
        }
        assert!(Instant::now() < deadline, "no record: {reply}");
        std::thread::sleep(Duration::from_millis(20));
    };
    let text = |k: &str| match &record[k] {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        v => v.to_string(),
    };
    let (status, body) = get(&server, &format!("/cdrs.csv?originids={uuid}"));
    assert_eq!(status, 200, "{body}");
    let found = rows(&body);
    assert_eq!(found.len(), 1, "{body}");
    let row = &found[0];
    for (i, column) in HEADER.split(',').enumerate() {
        assert_eq!(row[i], text(column), "{column}: {body} vs {record}");
    }
    assert_eq!(row[7], "1001");
    assert!(row[12].parse::<i64>().unwrap() > 0, "{body}");
    // Filters are the method's: this account, this host, a usage bound.
    let (_, body) = get(
        &server,
        "/cdrs.csv?Accounts=2002,1001&OriginHosts=fs1&MinUsage=1s",
    );
    assert!(rows(&body).iter().any(|r| r[3] == uuid), "{body}");
    let (_, body) = get(&server, "/cdrs.csv?Accounts=2002&Accounts=3003");
    assert_eq!(rows(&body).len(), 0, "{body}");
    let (_, body) = get(&server, "/cdrs.csv?MinUsage=1h");
    assert_eq!(rows(&body).len(), 0, "{body}");
}
