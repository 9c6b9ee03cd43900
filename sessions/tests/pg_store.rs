//! Sessions, call records and switch leases in PostgreSQL, as a cluster
//! shares them: one lease holder per switch, only it writes the switch's
//! sessions, one record per call. Each test works in a database of its
//! own on the cluster of TOLLGATE_TEST_PG_URL (skipped when unset, a
//! failure under CI).

use chrono::{TimeZone, Utc};
use rust_decimal_macros::dec;
use sessions::callinfo::{CallInfo, RequestType};
use sessions::lease;
use sessions::store::{PgSessions, StoreError};
use sessions::{Cdr, CdrFilter, Phase, SessionRecord};
use std::sync::Arc;
use std::time::Duration;
use tokio_postgres::NoTls;

/// A database of its own with tollgate's schema, and its nodes.
struct Db(pgschema::testing::TestDb);

impl Db {
    async fn create() -> Option<Db> {
        pgschema::testing::TestDb::migrated().map(Db)
    }

    fn node(&self, id: &str) -> PgSessions {
        PgSessions::connect(&self.0.url, Arc::from(id)).unwrap()
    }
}

async fn admin(url: &str) -> tokio_postgres::Client {
    let (client, conn) = tokio_postgres::connect(url, NoTls).await.unwrap();
    tokio::spawn(conn);
    client
}

fn session(uuid: &str, alias: &str) -> SessionRecord {
    SessionRecord {
        info: CallInfo {
            uuid: uuid.into(),
            request_type: RequestType::Prepaid,
            tenant: "cgrates.org".into(),
            category: "call".into(),
            account: "1001".into(),
            subject: "1001".into(),
            destination: "1002".into(),
            transfer_to: "1002".into(),
            dialplan: None,
            context: None,
            caller: "1001".into(),
            setup_time: None,
        },
        origin_host: Arc::from(alias),
        phase: Phase::Active,
        max_usage: 60,
        answer_time: None,
        debited_ns: 10_000_000_000,
        limit_ns: 0,
        loop_index: 1,
        charges: vec![],
        cost_debited: dec!(0.02),
        warned_low_balance: false,
        gone: None,
        settling: None,
    }
}

fn cdr(uuid: &str, account: &str, order: i64) -> Cdr {
    Cdr {
        cgr_id: uuid.into(),
        run_id: "*default".into(),
        origin_host: "fs1".into(),
        origin_id: uuid.into(),
        request_type: "*prepaid".into(),
        tenant: "cgrates.org".into(),
        category: "call".into(),
        account: account.into(),
        subject: account.into(),
        destination: "1002".into(),
        setup_time: Some(Utc.timestamp_opt(1_700_000_000, 0).unwrap()),
        answer_time: Some(Utc.timestamp_opt(1_700_000_002, 0).unwrap()),
        usage: 30_000_000_000,
        cost: dec!(0.06),
        charges: vec![],
        unpaid: false,
        disconnect_cause: "NORMAL_CLEARING".into(),
        extra_info: String::new(),
        order_id: order,
        estimated: false,
    }
}

const TTL: Duration = Duration::from_millis(600);

#[tokio::test]
async fn one_node_holds_a_switch_at_a_time() {
    let Some(db) = Db::create().await else { return };
    let (n1, n2) = (db.node("n1"), db.node("n2"));
    assert!(lease::acquire(&n1, "fs1", Some("127.0.0.1:1"), TTL)
        .await
        .unwrap()
        .is_some());
    assert!(lease::acquire(&n2, "fs1", None, TTL)
        .await
        .unwrap()
        .is_none());
    // Renewing is taking it again; another switch is free.
    assert!(lease::acquire(&n1, "fs1", Some("127.0.0.1:1"), TTL)
        .await
        .unwrap()
        .is_some());
    assert!(lease::acquire(&n2, "fs2", None, TTL)
        .await
        .unwrap()
        .is_some());
    assert_eq!(
        lease::holder(&n2, "fs1").await.unwrap(),
        Some(("n1".to_string(), Some("127.0.0.1:1".to_string())))
    );
    // Given back: the other takes it at once.
    lease::release(&n1, "fs1").await.unwrap();
    assert!(lease::acquire(&n2, "fs1", None, TTL)
        .await
        .unwrap()
        .is_some());
    assert!(lease::acquire(&n1, "fs1", None, TTL)
        .await
        .unwrap()
        .is_none());
    // Lapsed: taken over without being given back.
    tokio::time::sleep(TTL + Duration::from_millis(100)).await;
    assert!(lease::acquire(&n1, "fs1", None, TTL)
        .await
        .unwrap()
        .is_some());
    assert_eq!(
        lease::holder(&n2, "fs1").await.unwrap().map(|h| h.0),
        Some("n1".to_string())
    );
}

#[tokio::test]
async fn a_holder_stops_before_the_database_lets_another_take_over() {
    let Some(db) = Db::create().await else { return };
    let (n1, n2) = (db.node("n1"), db.node("n2"));
    let until = lease::acquire(&n1, "fs1", None, TTL)
        .await
        .unwrap()
        .unwrap();
    // Until n1's own deadline, nobody else can take the switch.
    while tokio::time::Instant::now() < until {
        assert!(lease::acquire(&n2, "fs1", None, TTL)
            .await
            .unwrap()
            .is_none());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn only_the_lease_holder_writes_a_switchs_sessions() {
    let Some(db) = Db::create().await else { return };
    let (n1, n2) = (db.node("n1"), db.node("n2"));
    lease::acquire(&n1, "fs1", None, TTL)
        .await
        .unwrap()
        .unwrap();
    let rec = session("u1", "fs1");
    n1.put_session("u1", "fs1", Some(&rec)).await.unwrap();
    assert_eq!(
        n2.put_session("u1", "fs1", Some(&rec)).await,
        Err(StoreError::NotOwner("fs1".into()))
    );
    assert_eq!(
        n2.put_session("u1", "fs1", None).await,
        Err(StoreError::NotOwner("fs1".into()))
    );
    // Every node reads it, with the node controlling its switch.
    assert_eq!(n2.session("u1").await.unwrap(), Some(rec.clone()));
    let all = n2.all_sessions().await.unwrap();
    assert_eq!((all.len(), &*all[0].node_id), (1, "n1"));
    // The lease moves: the old holder can no longer write or delete.
    lease::release(&n1, "fs1").await.unwrap();
    lease::acquire(&n2, "fs1", None, TTL)
        .await
        .unwrap()
        .unwrap();
    let mut stale = rec.clone();
    stale.loop_index = 9;
    assert!(matches!(
        n1.put_session("u1", "fs1", Some(&stale)).await,
        Err(StoreError::NotOwner(_))
    ));
    assert!(matches!(
        n1.put_session("u1", "fs1", None).await,
        Err(StoreError::NotOwner(_))
    ));
    assert_eq!(n1.session("u1").await.unwrap(), Some(rec));
    assert_eq!(&*n1.all_sessions().await.unwrap()[0].node_id, "n2");
    assert_eq!(n1.sessions_of("fs1").await.unwrap().len(), 1);
    n2.put_session("u1", "fs1", None).await.unwrap();
    n2.put_session("u1", "fs1", None).await.unwrap();
    assert!(!n1.has_session("u1").await.unwrap());
}

#[tokio::test]
async fn a_call_has_one_record_and_records_are_filtered_in_order() {
    let Some(db) = Db::create().await else { return };
    let n1 = db.node("n1");
    let first = cdr("c1", "1001", 10);
    n1.put_cdr("c1", &first).await.unwrap();
    let mut corrected = first.clone();
    corrected.cost = dec!(0.08);
    n1.put_cdr("c1", &corrected).await.unwrap();
    n1.put_cdr("c2", &cdr("c2", "1002", 20)).await.unwrap();
    n1.put_cdr("c3", &cdr("c3", "1001", 30)).await.unwrap();
    assert_eq!(n1.cdr("c1").await.unwrap(), Some(corrected.clone()));
    assert!(n1.has_cdr("c2").await.unwrap() && !n1.has_cdr("c9").await.unwrap());
    let all = n1.cdrs(&CdrFilter::default()).await.unwrap();
    let ids: Vec<_> = all.iter().map(|c| c.origin_id.as_str()).collect();
    assert_eq!(ids, ["c1", "c2", "c3"]);
    let of_1001 = CdrFilter {
        accounts: vec!["1001".into()],
        ..Default::default()
    };
    assert_eq!(n1.cdrs(&of_1001).await.unwrap().len(), 2);
    let page = CdrFilter {
        offset: 1,
        limit: Some(1),
        ..Default::default()
    };
    assert_eq!(n1.cdrs(&page).await.unwrap()[0].origin_id, "c2");
    let later = CdrFilter {
        order_id: sessions::Interval {
            start: Some(20),
            end: None,
        },
        cost: sessions::Interval {
            start: Some(dec!(0.06)),
            end: None,
        },
        ..Default::default()
    };
    let ids: Vec<_> = n1
        .cdrs(&later)
        .await
        .unwrap()
        .into_iter()
        .map(|c| c.origin_id)
        .collect();
    assert_eq!(ids, ["c2", "c3"]);
    // The columns a billing team queries.
    let client = admin(&db.0.url).await;
    let row = client
        .query_one(
            "SELECT cost::text, usage_ns, account FROM tollgate_cdrs WHERE origin_id = 'c1'",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(
        (
            row.get::<_, String>(0),
            row.get::<_, i64>(1),
            row.get::<_, String>(2)
        ),
        ("0.08".into(), 30_000_000_000, "1001".into())
    );
}
