//! Who pays and how much is left: accounts, balances, debits of rated
//! calls, max session time, and the 2012 budget calls. Everything here is
//! pure computation on an `Account` value; durability is the store's job.

pub mod balance;
pub mod debit;
pub mod error;
pub mod maxsession;
pub mod model;
pub mod ops;

pub use balance::{Balance, BalanceType};
pub use debit::{Charge, Debited};
pub use error::AccountError;
pub use maxsession::MaxSessionMethod;
pub use model::{Account, AccountKey, Counters};
pub use ops::{debit, max_debit, max_session_time, refund_charges, CallDebit};
