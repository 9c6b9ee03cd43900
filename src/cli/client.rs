//! A minimal blocking JSON-RPC 1.0 client over raw TCP, for the console
//! commands: one request, one reply.

use serde::Deserialize;
use serde_json::Value;
use std::io::Write;
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;
use thiserror::Error;

#[derive(Debug, Error)]
pub enum ClientError {
    #[error("cannot connect to {addr}: {source} (is `tollgate serve` running? see --addr)")]
    Connect {
        addr: String,
        source: std::io::Error,
    },
    #[error("talking to {addr}: {message}")]
    Io { addr: String, message: String },
    /// The server answered with an error.
    #[error("{0}")]
    Rpc(String),
}

#[derive(Deserialize)]
struct Reply {
    result: Option<Value>,
    error: Option<Value>,
}

/// Sends `{"id":1,"method":…,"params":[…]}` and returns the result.
pub fn call(
    addr: &str,
    timeout: Duration,
    method: &str,
    params: &Value,
) -> Result<Value, ClientError> {
    let connect_err = |source| ClientError::Connect {
        addr: addr.to_string(),
        source,
    };
    let io = |e: &dyn std::fmt::Display| ClientError::Io {
        addr: addr.to_string(),
        message: e.to_string(),
    };
    let sock = addr
        .to_socket_addrs()
        .map_err(connect_err)?
        .next()
        .ok_or_else(|| {
            connect_err(std::io::Error::new(
                std::io::ErrorKind::NotFound,
                "no address",
            ))
        })?;
    let mut stream = TcpStream::connect_timeout(&sock, timeout).map_err(connect_err)?;
    stream.set_read_timeout(Some(timeout)).map_err(|e| io(&e))?;
    stream
        .set_write_timeout(Some(timeout))
        .map_err(|e| io(&e))?;
    let request = serde_json::json!({"id": 1, "method": method, "params": [params]});
    let mut bytes = serde_json::to_vec(&request).map_err(|e| io(&e))?;
    bytes.push(b'\n');
    stream.write_all(&bytes).map_err(|e| io(&e))?;
    stream.flush().map_err(|e| io(&e))?;
    let mut replies = serde_json::Deserializer::from_reader(&stream).into_iter::<Reply>();
    let reply = match replies.next() {
        Some(Ok(r)) => r,
        Some(Err(e)) => return Err(io(&e)),
        None => return Err(io(&"connection closed without a reply")),
    };
    match reply.error {
        None | Some(Value::Null) => Ok(reply.result.unwrap_or(Value::Null)),
        Some(Value::String(s)) => Err(ClientError::Rpc(s)),
        Some(other) => Err(ClientError::Rpc(other.to_string())),
    }
}
