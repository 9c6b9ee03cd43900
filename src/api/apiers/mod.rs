//! `APIerSv1`/`APIerSv2`: balances and accounts (CGRateS's modern API).

pub mod accounts;
pub mod balances;
