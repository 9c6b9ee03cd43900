//! Access to the HTTP port: with `security.api_token` set, every request
//! but `GET /health` (and the login form itself) must carry the token, as
//!
//! - `Authorization: Bearer <token>` (scripts, curl),
//! - the cookie `tollgate_token=<token>` (the console page: a browser's
//!   WebSocket upgrade carries cookies, not headers), set by
//!   `POST /ui/login`,
//! - or HTTP Basic auth whose password is the token, any user name (what
//!   FreeSWITCH's `mod_json_cdr` sends from its `cred` setting).
//!
//! A request without it is answered `401 {"error":"UNAUTHORIZED: …"}`
//! before it reaches any handler, so nothing changes; under `/ui` the
//! answer is the login page instead. Without a token configured the layer
//! lets everything through. Tokens are compared in constant time.

use crate::rpc::Api;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use std::sync::Arc;

/// The cookie the console page carries the token in.
pub const COOKIE: &str = "tollgate_token";

/// The largest login form read.
const MAX_FORM_BYTES: usize = 4096;

/// What a request's headers say about the token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Credentials {
    /// One of them is the token.
    Valid,
    /// None is given.
    Missing,
    /// Some are given, none is the token.
    Wrong,
}

/// Checks every place a token may be given (Bearer, cookie, Basic).
pub fn credentials(headers: &HeaderMap, token: &str) -> Credentials {
    let mut seen = false;
    let mut valid = false;
    for value in headers.get_all(header::AUTHORIZATION) {
        let Ok(value) = value.to_str() else {
            seen = true;
            continue;
        };
        let (scheme, rest) = value.trim().split_once(' ').unwrap_or((value, ""));
        let given = if scheme.eq_ignore_ascii_case("bearer") {
            Some(rest.trim().to_string())
        } else if scheme.eq_ignore_ascii_case("basic") {
            basic_password(rest.trim())
        } else {
            None
        };
        seen = true;
        // No early exit: every credential given is compared.
        valid |= given.is_some_and(|g| same(g.as_bytes(), token.as_bytes()));
    }
    for value in headers.get_all(header::COOKIE) {
        let Ok(value) = value.to_str() else { continue };
        for pair in value.split(';') {
            if let Some((name, given)) = pair.trim().split_once('=') {
                if name.trim() == COOKIE {
                    seen = true;
                    valid |= same(given.trim().as_bytes(), token.as_bytes());
                }
            }
        }
    }
    match (valid, seen) {
        (true, _) => Credentials::Valid,
        (false, true) => Credentials::Wrong,
        (false, false) => Credentials::Missing,
    }
}

/// Whether the headers carry `token`.
pub fn carries_token(headers: &HeaderMap, token: &str) -> bool {
    credentials(headers, token) == Credentials::Valid
}

/// The password of a Basic credential (`base64(user:password)`).
fn basic_password(encoded: &str) -> Option<String> {
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded)
        .ok()?;
    let text = String::from_utf8(decoded).ok()?;
    text.split_once(':')
        .map(|(_, password)| password.to_string())
}

/// Equality whose time depends only on the lengths, not on where the
/// first difference is (the token's length is not a secret worth hiding).
fn same(given: &[u8], token: &[u8]) -> bool {
    if given.len() != token.len() {
        return false;
    }
    let diff = given
        .iter()
        .zip(token)
        .fold(0u8, |acc, (a, b)| acc | (a ^ b));
    std::hint::black_box(diff) == 0
}

/// Whether `path` belongs to the console (answered with the login page).
fn is_ui(path: &str) -> bool {
    path == "/ui" || path.starts_with("/ui/")
}

/// The middleware: lets a request through when no token is configured,
/// for `GET /health` and the login form, or when it carries the token;
/// else answers 401 (the login page under `/ui`).
pub async fn require_token(State(api): State<Arc<Api>>, req: Request, next: Next) -> Response {
    let Some(token) = api.state.config.security.api_token.as_deref() else {
        return next.run(req).await;
    };
    let path = req.uri().path();
    let open = match *req.method() {
        Method::GET | Method::HEAD => path == "/health",
        Method::POST => path == "/ui/login",
        _ => false,
    };
    if open {
        return next.run(req).await;
    }
    let verdict = credentials(req.headers(), token);
    if verdict == Credentials::Valid {
        return next.run(req).await;
    }
    if is_ui(path) {
        let note = (verdict == Credentials::Wrong).then_some("The token was refused.");
        return login_page(StatusCode::UNAUTHORIZED, note);
    }
    let message = match verdict {
        Credentials::Wrong => "UNAUTHORIZED: wrong API token",
        _ => "UNAUTHORIZED: this server requires its API token (Authorization: Bearer <token>, the tollgate_token cookie, or Basic auth with the token as password)",
    };
    let body = serde_json::json!({ "error": message }).to_string();
    (
        StatusCode::UNAUTHORIZED,
        [
            (header::CONTENT_TYPE, "application/json"),
            (header::WWW_AUTHENTICATE, "Bearer realm=\"tollgate\""),
        ],
        body,
    )
        .into_response()
}

/// `POST /ui/login` with the form `token=<token>`: the right token gets
/// the cookie and a redirect to the console; a wrong one the login page
/// again, saying so.
pub async fn login(State(api): State<Arc<Api>>, body: Body) -> Response {
    let Some(token) = api.state.config.security.api_token.as_deref() else {
        // Nothing to log in to: the console is open.
        return redirect_to_console(None);
    };
    let given = match axum::body::to_bytes(body, MAX_FORM_BYTES).await {
        Ok(bytes) => form_value(&bytes, "token"),
        Err(_) => None,
    };
    if given.is_some_and(|g| same(g.as_bytes(), token.as_bytes())) {
        return redirect_to_console(Some(token));
    }
    login_page(StatusCode::UNAUTHORIZED, Some("The token was refused."))
}

/// `GET /ui/login`: the form, for a browser that wants to log in again.
pub async fn login_form() -> Response {
    login_page(StatusCode::OK, None)
}

fn redirect_to_console(token: Option<&str>) -> Response {
    let mut response = (StatusCode::SEE_OTHER, [(header::LOCATION, "/ui/")]).into_response();
    if let Some(token) = token {
        // The config accepts cookie-safe tokens only, so this cannot fail.
        let cookie = format!("{COOKIE}={token}; Path=/; HttpOnly; SameSite=Strict");
        if let Ok(value) = HeaderValue::from_str(&cookie) {
            response.headers_mut().insert(header::SET_COOKIE, value);
        }
    }
    response
}

/// The login page; `note` (fixed text, not escaped) says why it is shown.
fn login_page(status: StatusCode, note: Option<&str>) -> Response {
    let note = note
        .map(|n| format!("<p class=\"note\">{n}</p>\n"))
        .unwrap_or_default();
    let html = format!(
        r#"<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>tollgate: log in</title>
<style>
body {{ font-family: system-ui, sans-serif; max-width: 24rem; margin: 4rem auto; padding: 0 1rem; }}
input, button {{ font: inherit; padding: .4rem; }}
input {{ width: 100%; box-sizing: border-box; margin: .5rem 0; }}
.note {{ color: #b00020; }}
</style>
</head>
<body>
<h1>tollgate</h1>
{note}<form method="post" action="/ui/login">
<label for="token">API token (<code>security.api_token</code>)</label>
<input id="token" name="token" type="password" autocomplete="current-password" autofocus required>
<button type="submit">Log in</button>
</form>
</body>
</html>
"#
    );
    (
        status,
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        html,
    )
        .into_response()
}

/// The value of `name` in an `application/x-www-form-urlencoded` body.
fn form_value(body: &[u8], name: &str) -> Option<String> {
    let text = std::str::from_utf8(body).ok()?;
    text.split('&').find_map(|pair| {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        let decode = |s| super::query::form_decode(s).ok();
        (decode(key)? == name).then(|| decode(value))?
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(
                header::HeaderName::from_bytes(name.as_bytes()).unwrap(),
                HeaderValue::from_str(value).unwrap(),
            );
        }
        map
    }

    fn basic(user_password: &str) -> String {
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(user_password)
        )
    }

    #[test]
    fn every_way_of_giving_the_token() {
        let t = "s3cret";
        assert_eq!(credentials(&headers(&[]), t), Credentials::Missing);
        let ok = [
            ("authorization", "Bearer s3cret".to_string()),
            ("authorization", "bearer  s3cret ".to_string()),
            ("cookie", "a=b; tollgate_token=s3cret; c=d".to_string()),
            ("authorization", basic("fs1:s3cret")),
            ("authorization", basic(":s3cret")),
        ];
        for (name, value) in &ok {
            assert!(carries_token(&headers(&[(name, value)]), t), "{value}");
        }
        let wrong = [
            ("authorization", "Bearer s3cre".to_string()),
            ("authorization", "Bearer s3crets".to_string()),
            ("authorization", "Bearer".to_string()),
            ("authorization", "s3cret".to_string()),
            ("authorization", basic("s3cret:other")),
            ("authorization", basic("s3cret")),
            ("authorization", "Basic !!!".to_string()),
            ("cookie", "tollgate_token=nope".to_string()),
            ("cookie", "tollgate_token=".to_string()),
        ];
        for (name, value) in &wrong {
            assert_eq!(
                credentials(&headers(&[(name, value)]), t),
                Credentials::Wrong,
                "{value}"
            );
        }
        // Another cookie alone is no credential at all.
        assert_eq!(
            credentials(&headers(&[("cookie", "other=s3cret")]), t),
            Credentials::Missing
        );
        // A right one among wrong ones is enough.
        assert!(carries_token(
            &headers(&[
                ("authorization", "Bearer nope"),
                ("cookie", "tollgate_token=s3cret")
            ]),
            t
        ));
    }

    #[test]
    fn constant_time_equality_is_equality() {
        assert!(same(b"abc", b"abc"));
        assert!(!same(b"abc", b"abd"));
        assert!(!same(b"ab", b"abc"));
        assert!(same(b"", b""));
    }

    #[test]
    fn login_form_values_are_decoded() {
        assert_eq!(
            form_value(b"token=a%2Bb+c", "token").as_deref(),
            Some("a+b c")
        );
        assert_eq!(
            form_value(b"x=1&token=t&y=2", "token").as_deref(),
            Some("t")
        );
        assert_eq!(form_value(b"x=1", "token"), None);
        assert_eq!(form_value(b"token=%zz", "token"), None);
        assert_eq!(form_value(b"token", "token").as_deref(), Some(""));
    }
}
