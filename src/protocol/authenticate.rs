//! `authenticate`: a socket becomes staff for as long as its token lives.
//!
//! ```json
//! {"event": "authenticate", "data": {"token": "<JWT from /api/auth/login>"}}
//! ```
//! Answers `authenticated` `{"user","role","expires_at"}`, or `error`
//! `unauthorized` (and the socket is anonymous). Afterwards staff commands
//! need no `token` field. When the token expires or is revoked (logged out
//! anywhere), the server sends `session_expired` `{"reason"}` and treats the
//! socket as anonymous again.

use serde_json::Value;

use super::{Caller, ProtocolError, Reply, Signed};
use crate::auth::Auth;
use crate::service::ErrorCode;
use crate::tickets::take_strings;

pub(super) fn parse(data: Value) -> Result<String, ProtocolError> {
    let [token] = take_strings(data, ["token"], &[])
        .map_err(|e| ProtocolError::new(ErrorCode::InvalidPayload, e.to_string()))?;
    Ok(token.unwrap_or_default())
}

pub(super) fn run(auth: &Auth, caller: &Caller, token: String) -> Result<Reply, ProtocolError> {
    match auth.verify(token.trim()) {
        Ok(identity) => {
            let reply = Reply::Authenticated {
                user: identity.name.clone(),
                role: identity.role.as_str(),
                expires_at: super::rfc3339(identity.expires_at),
            };
            caller.sign_in(Signed {
                token: token.trim().to_string(),
                identity,
            });
            Ok(reply)
        }
        Err(e) => {
            auth.refused(&e, "authenticate", Some(caller.addr));
            caller.sign_out();
            Err(ProtocolError::new(ErrorCode::Unauthorized, e.to_string()))
        }
    }
}
