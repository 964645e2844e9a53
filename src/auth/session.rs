//! JWT admin sessions: HS256 only, every claim required and checked, short
//! lifetimes, and a deny-list for logged-out tokens.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

use crate::tickets::Role;

pub const ISSUER: &str = "ticketd";
pub const AUDIENCE: &str = "ticketd-admin";
/// Clock skew tolerated on `exp` and `iat`, in seconds.
pub const LEEWAY_SECS: u64 = 5;
/// The shortest signing key accepted.
pub const MIN_KEY_BYTES: usize = 32;

/// The claims of a session token. Every field is required.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Claims {
    pub sub: String,
    pub iat: u64,
    pub exp: u64,
    pub iss: String,
    pub aud: String,
    pub jti: String,
    /// The role at login. Tokens issued before roles existed were admins'.
    #[serde(default = "admin_role")]
    pub role: Role,
}

fn admin_role() -> Role {
    Role::Admin
}

/// A freshly issued token.
pub struct Issued {
    pub token: String,
    pub claims: Claims,
}

/// Why a token was refused. The client only ever hears "unauthorized".
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("the session token is invalid")]
    Invalid,
    #[error("the session token has expired")]
    Expired,
    #[error("the session token was revoked (logged out)")]
    Revoked,
}

/// Signing keys, validation rules and the deny-list.
pub struct Sessions {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    ttl: Duration,
    /// jti → expiry (unix seconds). A std Mutex: held for a lookup or an
    /// insert, never across an `.await`.
    revoked: Mutex<HashMap<String, u64>>,
}

/// The signing key was refused.
#[derive(Debug, thiserror::Error)]
#[error("the JWT signing key is {0} bytes; at least {MIN_KEY_BYTES} are required")]
pub struct KeyTooShort(pub usize);

impl Sessions {
    pub fn new(secret: &[u8], ttl: Duration) -> Result<Sessions, KeyTooShort> {
        if secret.len() < MIN_KEY_BYTES {
            return Err(KeyTooShort(secret.len()));
        }
        let mut validation = Validation::new(Algorithm::HS256);
        validation.algorithms = vec![Algorithm::HS256];
        validation.leeway = LEEWAY_SECS;
        // Expiry is checked below against the caller's clock (so it is
        // testable); `exp` must still be present and numeric.
        validation.validate_exp = false;
        validation.validate_nbf = false;
        validation.set_issuer(&[ISSUER]);
        validation.set_audience(&[AUDIENCE]);
        validation.set_required_spec_claims(&["exp", "sub", "iss", "aud"]);
        Ok(Sessions {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            validation,
            ttl,
            revoked: Mutex::new(HashMap::new()),
        })
    }

    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    /// Issues a token for `user`, valid for the configured lifetime.
    pub fn issue(&self, user: &str, role: Role, now: u64) -> Issued {
        let jti: [u8; 16] = rand::random();
        let claims = Claims {
            sub: user.to_string(),
            iat: now,
            exp: now + self.ttl.as_secs(),
            iss: ISSUER.to_string(),
            aud: AUDIENCE.to_string(),
            jti: super::password::hex(&jti),
            role,
        };
        let token = jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .expect("HS256 signing cannot fail");
        Issued { token, claims }
    }

    /// Checks signature, algorithm, issuer, audience, expiry, issue time and
    /// the deny-list.
    pub fn verify(&self, token: &str, now: u64) -> Result<Claims, TokenError> {
        let data = jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation)
            .map_err(|_| TokenError::Invalid)?;
        let claims = data.claims;
        if claims.iat > now + LEEWAY_SECS || claims.jti.is_empty() || claims.sub.is_empty() {
            return Err(TokenError::Invalid);
        }
        if now > claims.exp + LEEWAY_SECS {
            return Err(TokenError::Expired);
        }
        if self.lock().contains_key(&claims.jti) {
            return Err(TokenError::Revoked);
        }
        Ok(claims)
    }

    /// Revokes a token until it would have expired anyway.
    pub fn revoke(&self, claims: &Claims, now: u64) {
        self.revoke_id(&claims.jti, claims.exp, now);
    }

    /// Revokes a token id that expires at `exp` (also used to restore the
    /// deny-list kept on disk).
    pub fn revoke_id(&self, jti: &str, exp: u64, now: u64) {
        let mut revoked = self.lock();
        revoked.retain(|_, exp| *exp + LEEWAY_SECS >= now);
        if exp + LEEWAY_SECS >= now {
            revoked.insert(jti.to_string(), exp);
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, u64>> {
        self.revoked.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sessions() -> Sessions {
        Sessions::new(&[7u8; 32], Duration::from_secs(900)).unwrap()
    }

    #[test]
    fn issues_and_verifies() {
        let s = sessions();
        let issued = s.issue("alice", Role::Agent, 1_000_000);
        let claims = s.verify(&issued.token, 1_000_010).unwrap();
        assert_eq!(claims.sub, "alice");
        assert_eq!(claims.exp, 1_000_900);
        assert_eq!(claims.role, Role::Agent);
    }

    #[test]
    fn refuses_expired_future_revoked_and_foreign() {
        let s = sessions();
        let issued = s.issue("alice", Role::Agent, 1_000_000);
        assert_eq!(
            s.verify(&issued.token, 1_000_906).err(),
            Some(TokenError::Expired)
        );
        assert_eq!(
            s.verify(&issued.token, 999_000).err(),
            Some(TokenError::Invalid)
        );
        s.revoke(&issued.claims, 1_000_001);
        assert_eq!(
            s.verify(&issued.token, 1_000_002).err(),
            Some(TokenError::Revoked)
        );
        let other = Sessions::new(&[8u8; 32], Duration::from_secs(900)).unwrap();
        let foreign = other.issue("alice", Role::Agent, 1_000_000);
        assert_eq!(
            s.verify(&foreign.token, 1_000_001).err(),
            Some(TokenError::Invalid)
        );
    }

    #[test]
    fn short_keys_are_refused() {
        assert!(Sessions::new(&[1u8; 31], Duration::from_secs(60)).is_err());
    }
}
