//! store-hammer: debits one account in a loop from several tasks and prints
//! each acknowledged debit, for crash and multi-process store tests and as
//! a small load tool.
//!
//! `store-hammer embedded DIR|postgres URL TENANT:ACCOUNT TASKS COUNT AMOUNT`
//! prints `ok OPID` after each durable debit, `insufficient OPID` when the
//! balance cannot cover one, then `done`.

use rater::account::{AccountError, AccountKey, BalanceType};
use rater::store::{self, StoreConfig};
use rust_decimal::Decimal;
use std::io::Write;
use std::str::FromStr;
use std::sync::Arc;

fn usage() -> ! {
    eprintln!("usage: store-hammer embedded DIR|postgres URL TENANT:ACCOUNT TASKS COUNT AMOUNT");
    std::process::exit(2)
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.len() != 6 {
        usage();
    }
    let config = match args[0].as_str() {
        "embedded" => StoreConfig::Embedded {
            path: args[1].clone().into(),
        },
        "postgres" => StoreConfig::Postgres {
            url: args[1].clone(),
            options: Default::default(),
        },
        _ => usage(),
    };
    let key = AccountKey::parse(&args[2]).unwrap_or_else(|| usage());
    let tasks: usize = args[3].parse().unwrap_or_else(|_| usage());
    let count: usize = args[4].parse().unwrap_or_else(|_| usage());
    let amount = Decimal::from_str(&args[5]).unwrap_or_else(|_| usage());
    let store = store::open(&config).await.unwrap_or_else(|e| {
        eprintln!("{e}");
        std::process::exit(1)
    });
    let out = Arc::new(std::sync::Mutex::new(std::io::stdout()));
    let pid = std::process::id();
    let mut handles = Vec::new();
    for task in 0..tasks {
        let (store, key, out) = (store.clone(), key.clone(), out.clone());
        handles.push(tokio::spawn(async move {
            for i in 0..count {
                let op = format!("hammer-{pid}-{task}-{i}");
                let result = store
                    .update(&key, Some(&op), &mut |acc| {
                        let acc = acc.as_mut().ok_or(AccountError::AccountNotFound)?;
                        let list = acc.balance_map.entry(BalanceType::Monetary).or_default();
                        let b = list.first_mut().ok_or(AccountError::InsufficientCredit)?;
                        if b.value < amount {
                            return Err(AccountError::InsufficientCredit);
                        }
                        b.value -= amount;
                        Ok(serde_json::json!({ "left": b.value.to_string() }))
                    })
                    .await;
                let line = match result {
                    Ok(_) => format!("ok {op}\n"),
                    Err(AccountError::InsufficientCredit) => format!("insufficient {op}\n"),
                    Err(e) => format!("error {op} {e}\n"),
                };
                if let Ok(mut out) = out.lock() {
                    let _ = out.write_all(line.as_bytes());
                    let _ = out.flush();
                }
            }
        }));
    }
    for h in handles {
        let _ = h.await;
    }
    println!("done");
}
