//! Group commit: the committers that gather queued changes into one
//! transaction each.
//!
//! A change is sent to the committer its account hashes to, so all changes
//! of one account go through one committer, in arrival order. A committer
//! has one batch in flight; whatever queues meanwhile is the next batch.
//! One batch is one READ COMMITTED transaction:
//!
//! 1. `BEGIN`, the advisory locks of all its accounts (one statement, in
//!    the order of their keys, so two nodes locking overlapping sets never
//!    deadlock), their rows and the records of their op ids: pipelined,
//!    one round trip, each read a statement after the locks so it sees
//!    every commit made before they were granted;
//! 2. the changes, in arrival order per account: each caller runs its own
//!    closure when handed its account's current in-transaction value (the
//!    closure stays with its caller: it borrows from it), changes of
//!    different accounts at the same time; a change whose op id is
//!    recorded, or was applied earlier in the batch, answers that reply
//!    and runs nothing; a change that fails is that change's answer only;
//! 3. one statement writing the final rows (upsert or delete) and the new
//!    op records, pipelined with `COMMIT`;
//! 4. once committed, each change gets its own answer. None is answered
//!    before: a refusal computed on a state that was never committed is no
//!    answer.
//!
//! A database failure fails the whole batch, or repeats it under the
//! rules of the module docs: rolled back (40001, 40P01, a unique violation
//! on an op record another node made first) or lost before `COMMIT` was
//! sent: the batch again; lost during `COMMIT`: again, but without the
//! changes that wrote and carry no op id (their outcome is unknown: they
//! are answered with the error). A batch is answered within
//! [`super::REQUEST_DEADLINE`], whatever the server does.

use super::failure::{backoff, DbFailure};
use super::{decode, MAX_ATTEMPTS, REQUEST_DEADLINE};
use crate::account::{Account, AccountError};
use deadpool_postgres::{Object, Pool};
use rustc_hash::FxHashMap;
use serde_json::Value;
use std::collections::VecDeque;
use std::future::Future;
use std::task::Poll;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::time::Instant;

/// Most changes in one transaction.
pub(super) const MAX_BATCH: usize = 512;

/// The advisory lock key of an account is `hashtextextended(id, LOCK_SEED)`
/// (the same keys as tollgate before group commit, so old and new nodes
/// exclude each other).
const LOCK_SEED: i64 = 7220319;

/// One change on its way. The caller keeps the closure and runs it when
/// handed its turn.
pub(super) struct Request {
    pub id: String,
    pub tenant: String,
    pub op: Option<String>,
    pub caller: mpsc::UnboundedSender<ToCaller>,
    /// When `update` was called: it is answered by this + [`REQUEST_DEADLINE`].
    pub arrived: Instant,
}

/// What a committer tells a caller.
pub(super) enum ToCaller {
    /// Apply the change to `value` (in the transaction) and answer through `back`.
    Turn { value: Option<Account>, back: Back },
    /// The change's answer, after its batch committed (or failed).
    Done(Result<Value, AccountError>),
}

/// A change applied by its caller: the new value, its JSON, the reply.
pub(super) struct Applied {
    pub value: Option<Account>,
    pub data: Option<String>,
    pub reply: Value,
}

impl Applied {
    /// Encodes the new value (on the caller's task, off the committer's).
    pub fn new(value: Option<Account>, reply: Value) -> Result<Applied, AccountError> {
        let data = value
            .as_ref()
            .map(serde_json::to_string)
            .transpose()
            .map_err(|e| AccountError::Store(format!("postgres: encoding the account: {e}")))?;
        Ok(Applied { value, data, reply })
    }
}

enum Outcome {
    Applied(Result<Applied, AccountError>),
    /// The caller went away (its request was dropped) without answering.
    Gone,
}

/// Carries one change's outcome back to its committer; dropped unanswered
/// (the caller gone, the message undelivered) it answers [`Outcome::Gone`].
pub(super) struct Back {
    idx: usize,
    tx: Option<mpsc::UnboundedSender<(usize, Outcome)>>,
}

impl Back {
    pub fn answer(mut self, applied: Result<Applied, AccountError>) {
        if let Some(tx) = self.tx.take() {
            let _ = tx.send((self.idx, Outcome::Applied(applied)));
        }
    }
}

impl Drop for Back {
    fn drop(&mut self) {
        if let Some(tx) = self.tx.take() {
            let _ = tx.send((self.idx, Outcome::Gone));
        }
    }
}

/// One committer: batch after batch until the store is dropped.
pub(super) async fn committer(pool: Pool, mut queue: mpsc::UnboundedReceiver<Request>) {
    let mut batch = Vec::with_capacity(64);
    while queue.recv_many(&mut batch, MAX_BATCH).await > 0 {
        commit(&pool, std::mem::take(&mut batch)).await;
    }
}

/// Where an attempt failed.
enum Failed {
    /// Before `COMMIT` was sent, or the server rolled back: nothing committed.
    Before(DbFailure),
    /// During `COMMIT`: unknown unless the server answered.
    Commit(DbFailure),
}

/// What an attempt got to, read when it fails or times out.
struct Progress {
    commit_sent: bool,
    /// Per change: applied, to be written.
    written: Vec<bool>,
}

/// A batch whose changes waited out their deadline behind a slow one
/// still gets this long for one attempt.
const LAST_CHANCE: Duration = Duration::from_millis(500);

/// Commits `batch`, repeating it as the rules allow, and answers every change.
async fn commit(pool: &Pool, mut batch: Vec<Request>) {
    let Some(arrived) = batch.iter().map(|r| r.arrived).min() else {
        return;
    };
    let deadline = (arrived + REQUEST_DEADLINE).max(Instant::now() + LAST_CHANCE);
    let mut attempt = 1;
    let mut last: Option<DbFailure> = None;
    loop {
        let mut progress = Progress {
            commit_sent: false,
            written: vec![false; batch.len()],
        };
        let result =
            tokio::time::timeout_at(deadline, attempt_batch(pool, &batch, &mut progress)).await;
        let failed = match result {
            Ok(Ok(answers)) => {
                for (request, answer) in batch.iter().zip(answers) {
                    let _ = request.caller.send(ToCaller::Done(answer));
                }
                return;
            }
            Ok(Err(failed)) => failed,
            Err(_) => {
                let mut f = DbFailure::timed_out(arrived.elapsed());
                if let Some(earlier) = &last {
                    f.text
                        .push_str(&format!(" (before that: {})", earlier.text));
                }
                if progress.commit_sent {
                    Failed::Commit(f)
                } else {
                    Failed::Before(f)
                }
            }
        };
        let (failure, again, unknown) = match failed {
            Failed::Before(f) => {
                let again = f.rolled_back_retryable() || f.connection || f.unique_violation();
                (f, again, false)
            }
            Failed::Commit(f) if f.rolled_back_retryable() => (f, true, false),
            Failed::Commit(f) if f.connection => (f, true, true),
            Failed::Commit(f) => (f, false, false),
        };
        let again = again && attempt < MAX_ATTEMPTS && Instant::now() + backoff(attempt) < deadline;
        if !again {
            tracing::error!(
                changes = batch.len(),
                attempt,
                sqlstate = failure.sqlstate(),
                error = %failure.text,
                "postgres batch failed"
            );
            for request in &batch {
                let _ = request
                    .caller
                    .send(ToCaller::Done(Err(failure.clone().into_error())));
            }
            return;
        }
        if unknown {
            // Written without an op id: repeating could apply it twice.
            let mut kept = Vec::with_capacity(batch.len());
            for (request, written) in batch.into_iter().zip(progress.written) {
                if written && request.op.is_none() {
                    let _ = request
                        .caller
                        .send(ToCaller::Done(Err(failure.clone().into_error())));
                } else {
                    kept.push(request);
                }
            }
            batch = kept;
            if batch.is_empty() {
                return;
            }
        }
        tracing::warn!(
            changes = batch.len(),
            attempt,
            sqlstate = failure.sqlstate(),
            error = %failure.text,
            "postgres batch failed, retrying"
        );
        tokio::time::sleep(backoff(attempt)).await;
        attempt += 1;
        last = Some(failure);
    }
}

/// A pooled connection that is closed, not returned, unless the attempt
/// finished cleanly: one left mid-transaction (failed, timed out,
/// cancelled) must never serve another batch.
struct Conn {
    object: Option<Object>,
    clean: bool,
}

impl Drop for Conn {
    fn drop(&mut self) {
        if !self.clean {
            if let Some(object) = self.object.take() {
                drop(Object::take(object));
            }
        }
    }
}

struct Statements {
    lock: tokio_postgres::Statement,
    rows: tokio_postgres::Statement,
    ops: tokio_postgres::Statement,
    write: tokio_postgres::Statement,
}

impl Statements {
    async fn prepare(client: &Object) -> Result<Self, tokio_postgres::Error> {
        Ok(Statements {
            lock: client
                .prepare_cached(&format!(
                    "SELECT count(pg_advisory_xact_lock(k)) FROM \
                     (SELECT DISTINCT hashtextextended(id, {LOCK_SEED}) AS k \
                      FROM unnest($1::text[]) AS t(id) ORDER BY k) AS keys"
                ))
                .await?,
            rows: client
                .prepare_cached("SELECT id, data FROM tollgate_accounts WHERE id = ANY($1::text[])")
                .await?,
            ops: client
                .prepare_cached("SELECT id, reply FROM tollgate_ops WHERE id = ANY($1::text[])")
                .await?,
            write: client
                .prepare_cached(
                    "WITH up AS (\
                       INSERT INTO tollgate_accounts (id, tenant, data) \
                       SELECT * FROM unnest($1::text[], $2::text[], $3::text[]) \
                       ON CONFLICT (id) DO UPDATE SET data = EXCLUDED.data RETURNING 1), \
                     del AS (DELETE FROM tollgate_accounts WHERE id = ANY($4::text[]) RETURNING 1), \
                     rec AS (INSERT INTO tollgate_ops (id, reply) \
                       SELECT * FROM unnest($5::text[], $6::text[]) RETURNING 1) \
                     SELECT (SELECT count(*) FROM up), (SELECT count(*) FROM del), \
                            (SELECT count(*) FROM rec)",
                )
                .await?,
        })
    }
}

/// Polls `a`, then `b`, each time until both are done, so requests they
/// send on a connection go out in this order (the server runs them in
/// this order: a read pipelined after the locks starts after they are
/// granted).
async fn in_order<A: Future, B: Future>(a: A, b: B) -> (A::Output, B::Output) {
    let mut a = std::pin::pin!(a);
    let mut b = std::pin::pin!(b);
    let mut out_a = None;
    let mut out_b = None;
    std::future::poll_fn(move |cx| {
        if out_a.is_none() {
            if let Poll::Ready(v) = a.as_mut().poll(cx) {
                out_a = Some(v);
            }
        }
        if out_b.is_none() {
            if let Poll::Ready(v) = b.as_mut().poll(cx) {
                out_b = Some(v);
            }
        }
        match (out_a.take(), out_b.take()) {
            (Some(x), Some(y)) => Poll::Ready((x, y)),
            (x, y) => {
                out_a = x;
                out_b = y;
                Poll::Pending
            }
        }
    })
    .await
}

fn before(e: tokio_postgres::Error) -> Failed {
    Failed::Before(DbFailure::of_pg(&e))
}

/// A row that does not read as expected: a bug or a foreign schema, not
/// worth repeating.
fn unreadable(e: tokio_postgres::Error) -> Failed {
    Failed::Before(DbFailure {
        code: None,
        connection: false,
        text: format!("postgres: unreadable row: {e}"),
    })
}

type Answer = Result<Value, AccountError>;

/// Who waits for whom within a batch: a change runs after the previous
/// change of its account and after the previous change with its op id.
struct Order {
    waiting: Vec<u8>,
    next_of_account: Vec<Option<usize>>,
    next_of_op: Vec<Option<usize>>,
}

impl Order {
    fn new(batch: &[Request]) -> Self {
        let n = batch.len();
        let mut order = Order {
            waiting: vec![0; n],
            next_of_account: vec![None; n],
            next_of_op: vec![None; n],
        };
        let mut last_of_account: FxHashMap<&str, usize> = FxHashMap::default();
        let mut last_of_op: FxHashMap<&str, usize> = FxHashMap::default();
        for (i, request) in batch.iter().enumerate() {
            if let Some(j) = last_of_account.insert(&request.id, i) {
                order.next_of_account[j] = Some(i);
                order.waiting[i] += 1;
            }
            if let Some(op) = &request.op {
                if let Some(j) = last_of_op.insert(op, i) {
                    order.next_of_op[j] = Some(i);
                    order.waiting[i] += 1;
                }
            }
        }
        order
    }

    fn ready(&self) -> VecDeque<usize> {
        (0..self.waiting.len())
            .filter(|&i| self.waiting[i] == 0)
            .collect()
    }

    /// `i` is done: whoever waited only for it is ready.
    fn release(&mut self, i: usize, ready: &mut VecDeque<usize>) {
        for next in [self.next_of_account[i], self.next_of_op[i]]
            .into_iter()
            .flatten()
        {
            self.waiting[next] -= 1;
            if self.waiting[next] == 0 {
                ready.push_back(next);
            }
        }
    }
}

/// One transaction for the whole batch; each change's answer, in order.
async fn attempt_batch(
    pool: &Pool,
    batch: &[Request],
    progress: &mut Progress,
) -> Result<Vec<Answer>, Failed> {
    let object = pool
        .get()
        .await
        .map_err(|e| Failed::Before(DbFailure::of_pool(&e)))?;
    let mut conn = Conn {
        object: Some(object),
        clean: false,
    };
    let Some(client) = conn.object.as_ref() else {
        return Err(Failed::Before(DbFailure {
            code: None,
            connection: true,
            text: "postgres: no connection".into(),
        }));
    };
    let statements = Statements::prepare(client).await.map_err(before)?;

    // Every account once, sorted; every op id once.
    let mut ids: Vec<&str> = batch.iter().map(|r| r.id.as_str()).collect();
    ids.sort_unstable();
    ids.dedup();
    let mut ops: Vec<&str> = batch.iter().filter_map(|r| r.op.as_deref()).collect();
    ops.sort_unstable();
    ops.dedup();
    let (begun, (locked, (rows, recorded))) = in_order(
        client.batch_execute("BEGIN ISOLATION LEVEL READ COMMITTED"),
        in_order(
            client.query(&statements.lock, &[&ids]),
            in_order(
                client.query(&statements.rows, &[&ids]),
                client.query(&statements.ops, &[&ops]),
            ),
        ),
    )
    .await;
    begun.map_err(before)?;
    locked.map_err(before)?;
    let rows = rows.map_err(before)?;
    let recorded = recorded.map_err(before)?;

    let mut tenants: FxHashMap<&str, &str> = FxHashMap::default();
    for request in batch {
        tenants.entry(&request.id).or_insert(&request.tenant);
    }
    // The in-transaction value of each account (or why it cannot be read).
    let mut values: FxHashMap<&str, Result<Option<Account>, AccountError>> =
        ids.iter().map(|id| (*id, Ok(None))).collect();
    for row in &rows {
        let id: &str = row.try_get(0).map_err(unreadable)?;
        let data: &str = row.try_get(1).map_err(unreadable)?;
        if let Some(value) = values.get_mut(id) {
            *value = decode(data).map(Some);
        }
    }
    // Replies by op id: recorded before, or applied earlier in this batch.
    let mut replies: FxHashMap<String, Answer> = FxHashMap::default();
    for row in &recorded {
        let op: String = row.try_get(0).map_err(unreadable)?;
        let reply: &str = row.try_get(1).map_err(unreadable)?;
        let reply =
            serde_json::from_str(reply).map_err(|e| AccountError::Store(format!("postgres: {e}")));
        replies.insert(op, reply);
    }

    // The changes: each account's in arrival order, accounts side by side.
    let n = batch.len();
    let mut answers: Vec<Option<Answer>> = vec![None; n];
    let mut order = Order::new(batch);
    let mut ready = order.ready();
    let (back_tx, mut back_rx) = mpsc::unbounded_channel();
    let mut in_flight = 0usize;
    // The JSON of each account changed, as the batch leaves it.
    let mut data: FxHashMap<&str, Option<String>> = FxHashMap::default();
    let mut new_ops: Vec<(&str, String)> = Vec::new();
    loop {
        while let Some(i) = ready.pop_front() {
            let request = &batch[i];
            if let Some(reply) = request.op.as_ref().and_then(|op| replies.get(op)) {
                answers[i] = Some(reply.clone());
                order.release(i, &mut ready);
                continue;
            }
            match values.get(request.id.as_str()) {
                Some(Ok(value)) => {
                    let back = Back {
                        idx: i,
                        tx: Some(back_tx.clone()),
                    };
                    // Undelivered (caller gone): the dropped Back says so.
                    let _ = request.caller.send(ToCaller::Turn {
                        value: value.clone(),
                        back,
                    });
                    in_flight += 1;
                }
                Some(Err(e)) => {
                    answers[i] = Some(Err(e.clone()));
                    order.release(i, &mut ready);
                }
                None => {
                    answers[i] = Some(Err(AccountError::Store(
                        "postgres: account missing from its batch".into(),
                    )));
                    order.release(i, &mut ready);
                }
            }
        }
        if in_flight == 0 {
            break;
        }
        // Never None: `back_tx` is held here.
        let Some((i, outcome)) = back_rx.recv().await else {
            break;
        };
        in_flight -= 1;
        let request = &batch[i];
        answers[i] = Some(match outcome {
            Outcome::Applied(Ok(applied)) => {
                values.insert(&request.id, Ok(applied.value));
                data.insert(&request.id, applied.data);
                progress.written[i] = true;
                if let Some(op) = &request.op {
                    replies.insert(op.clone(), Ok(applied.reply.clone()));
                    new_ops.push((op, applied.reply.to_string()));
                }
                Ok(applied.reply)
            }
            Outcome::Applied(Err(e)) => Err(e),
            Outcome::Gone => Err(AccountError::Store(
                "postgres: the change's caller went away".into(),
            )),
        });
        order.release(i, &mut ready);
    }

    // One statement writes everything, pipelined with COMMIT.
    let mut up_ids: Vec<&str> = Vec::new();
    let mut up_tenants: Vec<&str> = Vec::new();
    let mut up_data: Vec<String> = Vec::new();
    let mut deleted: Vec<&str> = Vec::new();
    for id in &ids {
        match data.remove(id) {
            Some(Some(json)) => {
                up_ids.push(id);
                up_tenants.push(tenants.get(id).copied().unwrap_or_default());
                up_data.push(json);
            }
            Some(None) => deleted.push(id),
            None => {}
        }
    }
    let (op_ids, op_replies): (Vec<&str>, Vec<String>) = new_ops.into_iter().unzip();
    let writes = !(up_ids.is_empty() && deleted.is_empty() && op_ids.is_empty());
    progress.commit_sent = true;
    let (written, committed) = in_order(
        async {
            if writes {
                client
                    .query(
                        &statements.write,
                        &[
                            &up_ids,
                            &up_tenants,
                            &up_data,
                            &deleted,
                            &op_ids,
                            &op_replies,
                        ],
                    )
                    .await
                    .map(drop)
            } else {
                Ok(())
            }
        },
        client.batch_execute("COMMIT"),
    )
    .await;
    match (written, committed) {
        (Ok(()), Ok(())) => {}
        // The server refused the write: the transaction was aborted and
        // COMMIT rolled it back.
        (Err(e), _) if e.as_db_error().is_some() => return Err(before(e)),
        // Never sent (the COMMIT that followed committed nothing).
        (Err(e), Ok(())) => {
            return Err(Failed::Before(DbFailure {
                code: None,
                connection: false,
                text: format!("postgres: the write was not sent: {e}"),
            }))
        }
        (Err(e), Err(_)) | (Ok(()), Err(e)) => return Err(Failed::Commit(DbFailure::of_pg(&e))),
    }
    conn.clean = true;
    Ok(answers
        .into_iter()
        .map(|a| a.unwrap_or_else(|| Err(AccountError::Store("postgres: change not run".into()))))
        .collect())
}
