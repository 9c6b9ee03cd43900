//! The session controller over the API: `SessionSv1.GetActiveSessions`
//! (the live calls), `SessionSv1.ForceDisconnect` (end one) and
//! `CDRsV1.GetCDRs` (call records, filtered as [`cdr_filter`] reads
//! CGRateS's `RPCCDRsFilter`). Without configured switches the lists are
//! empty and no call is found.

use crate::rpc::{ApiError, Obj, Params, RegistryBuilder};

mod cdr_filter;

pub use cdr_filter::DEFAULT_CDR_LIMIT;

pub fn register(r: &mut RegistryBuilder) {
    // Both read files (the session journal, the call record archive) or PostgreSQL.
    r.blocking(
        &["SessionSv1.GetActiveSessions"],
        |state, _params| match state.sessions.as_ref() {
            Some(s) => s
                .active_sessions()
                .map_err(|e| ApiError::ServerError(e.to_string())),
            None => Ok(vec![]),
        },
    );
    r.asynchronous(&["SessionSv1.ForceDisconnect"], |state, raw| async move {
        let uuid = call_id(&Params::new(&raw).obj("SessionFilter")?)?;
        let Some(sessions) = state.sessions.as_ref() else {
            return Err(ApiError::NotFound);
        };
        match sessions.force_disconnect(&uuid).await {
            Ok(()) => Ok("OK"),
            Err(sessions::ForceDisconnectError::NotFound) => Err(ApiError::NotFound),
            Err(sessions::ForceDisconnectError::Switch(why)) => Err(ApiError::ServerError(why)),
        }
    });
    r.blocking(
        &["CDRsV1.GetCDRs", "CdrsV1.GetCDRs", "APIerSv2.GetCDRs"],
        |state, params| {
            let filter = if params.raw().get().trim() == "null" {
                cdr_filter::everything()
            } else {
                cdr_filter::parse(&params.obj("RPCCDRsFilter")?, state.config.general.timezone)?
            };
            match state.sessions.as_ref() {
                Some(s) => s
                    .cdrs(&filter)
                    .map_err(|e| ApiError::ServerError(e.to_string())),
                None => Ok(vec![]),
            }
        },
    );
}

/// The call a ForceDisconnect names: `OriginID` (or `CGRID`, the same id
/// here), or CGRateS's filter form `{"Filters": ["*string:~*req.OriginID:<id>"]}`.
fn call_id(args: &Obj<'_>) -> Result<String, ApiError> {
    for field in ["OriginID", "CGRID"] {
        if let Some(id) = args.str(field)?.filter(|s| !s.is_empty()) {
            return Ok(id);
        }
    }
    for filter in args.strings("Filters")? {
        let mut parts = filter.splitn(3, ':');
        if let (Some("*string"), Some(path), Some(id)) = (parts.next(), parts.next(), parts.next())
        {
            let field = path
                .rsplit('.')
                .next()
                .unwrap_or(path)
                .trim_start_matches('~');
            if matches!(field, "OriginID" | "CGRID") && !id.is_empty() {
                return Ok(id.to_string());
            }
        }
    }
    Err(ApiError::MandatoryIeMissing(vec!["OriginID".into()]))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::value::RawValue;

    fn id(json: &str) -> Result<String, ApiError> {
        let raw = RawValue::from_string(json.to_string()).unwrap();
        call_id(&Params::new(&raw).obj("SessionFilter")?)
    }

    #[test]
    fn force_disconnect_names_its_call_in_every_form() {
        assert_eq!(id(r#"{"OriginID": "u1"}"#).unwrap(), "u1");
        assert_eq!(id(r#"{"cgrid": "u2"}"#).unwrap(), "u2");
        assert_eq!(
            id(r#"{"Filters": ["*string:~*req.OriginID:u3"]}"#).unwrap(),
            "u3"
        );
        assert_eq!(id(r#"{"Filters": ["*string:OriginID:u4"]}"#).unwrap(), "u4");
        assert!(matches!(
            id(r#"{"Filters": ["*prefix:~*req.Account:10"]}"#),
            Err(ApiError::MandatoryIeMissing(_))
        ));
        assert!(matches!(id("{}"), Err(ApiError::MandatoryIeMissing(_))));
    }
}
