//! argon2id password hashes: parsing with a strength floor, hashing with
//! OWASP's parameters, and verification that costs the same whether or not
//! the user exists.

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};

/// OWASP's minimum for argon2id: 19 MiB, 2 passes, 1 lane.
pub const MIN_MEMORY_KIB: u32 = 19_456;
pub const MIN_ITERATIONS: u32 = 2;
pub const MIN_PARALLELISM: u32 = 1;

/// A stored hash that passed the strength checks (a PHC string).
#[derive(Clone)]
pub struct StoredHash(String);

impl std::fmt::Debug for StoredHash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("StoredHash(..)")
    }
}

/// Why a hash was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HashError {
    #[error("not a PHC hash string")]
    Malformed,
    #[error("not argon2id (found {0})")]
    NotArgon2id(String),
    #[error(
        "parameters below OWASP's minimum for argon2id (need m >= {MIN_MEMORY_KIB}, t >= {MIN_ITERATIONS}, p >= {MIN_PARALLELISM}; found m={m}, t={t}, p={p})"
    )]
    TooWeak { m: u32, t: u32, p: u32 },
}

impl StoredHash {
    /// Parses a PHC string and refuses anything but argon2id at or above
    /// OWASP's minimum (verification uses the parameters inside the hash, so
    /// a weak hash must be refused here).
    pub fn parse(phc: &str) -> Result<StoredHash, HashError> {
        let phc = phc.trim();
        let hash = PasswordHash::new(phc).map_err(|_| HashError::Malformed)?;
        if hash.algorithm != argon2::ARGON2ID_IDENT {
            return Err(HashError::NotArgon2id(hash.algorithm.to_string()));
        }
        let params = Params::try_from(&hash).map_err(|_| HashError::Malformed)?;
        if hash.hash.is_none() || hash.salt.is_none() {
            return Err(HashError::Malformed);
        }
        let (m, t, p) = (params.m_cost(), params.t_cost(), params.p_cost());
        if m < MIN_MEMORY_KIB || t < MIN_ITERATIONS || p < MIN_PARALLELISM {
            return Err(HashError::TooWeak { m, t, p });
        }
        Ok(StoredHash(phc.to_string()))
    }

    /// Checks a password (CPU-heavy: call from a blocking thread).
    pub fn verify(&self, password: &str) -> bool {
        match PasswordHash::new(&self.0) {
            Ok(hash) => Argon2::default()
                .verify_password(password.as_bytes(), &hash)
                .is_ok(),
            Err(_) => false,
        }
    }

    pub fn as_phc(&self) -> &str {
        &self.0
    }

    /// The hash's argon2 parameters (memory KiB, passes, lanes).
    pub fn params(&self) -> (u32, u32, u32) {
        PasswordHash::new(&self.0)
            .ok()
            .and_then(|h| Params::try_from(&h).ok())
            .map_or((MIN_MEMORY_KIB, MIN_ITERATIONS, MIN_PARALLELISM), |p| {
                (p.m_cost(), p.t_cost(), p.p_cost())
            })
    }
}

fn hasher() -> Argon2<'static> {
    let params = Params::new(MIN_MEMORY_KIB, MIN_ITERATIONS, MIN_PARALLELISM, None)
        .expect("OWASP parameters are valid");
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

/// Hashes a password with argon2id and OWASP's parameters, random salt.
pub fn hash_password(password: &str) -> String {
    let salt_bytes: [u8; 16] = rand::random();
    let salt = SaltString::encode_b64(&salt_bytes).expect("16 bytes make a valid salt");
    hasher()
        .hash_password(password.as_bytes(), &salt)
        .expect("argon2 hashing with valid parameters")
        .to_string()
}

/// A hash of a random password, verified against when the user does not
/// exist, so a wrong user costs the same time as a wrong password: with the
/// strongest parameters among `admins` (each at least OWASP's), so an
/// unknown name never answers faster than the slowest real one.
pub fn dummy<'a>(admins: impl IntoIterator<Item = &'a StoredHash>) -> StoredHash {
    let (m, t, p) = admins.into_iter().map(StoredHash::params).fold(
        (MIN_MEMORY_KIB, MIN_ITERATIONS, MIN_PARALLELISM),
        |(m, t, p), (m2, t2, p2)| (m.max(m2), t.max(t2), p.max(p2)),
    );
    let params = Params::new(m, t, p, None).expect("parameters of a hash that verified");
    let password: [u8; 16] = rand::random();
    let salt_bytes: [u8; 16] = rand::random();
    let salt = SaltString::encode_b64(&salt_bytes).expect("16 bytes make a valid salt");
    let phc = Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
        .hash_password(hex(&password).as_bytes(), &salt)
        .expect("argon2 hashing with valid parameters")
        .to_string();
    StoredHash(phc)
}

/// Lower-case hex.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_with_owasp_parameters() {
        let phc = hash_password("correct horse");
        assert!(phc.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{phc}");
        let stored = StoredHash::parse(&phc).unwrap();
        assert!(stored.verify("correct horse"));
        assert!(!stored.verify("wrong"));
    }

    #[test]
    fn refuses_weak_or_foreign_hashes() {
        let weak = "$argon2id$v=19$m=4096,t=3,p=1$c2FsdHNhbHRzYWx0$W8oVbH3Fk0VYrHfhH7GqXAE8XrHdtYnGkm9Sj8xbGmo";
        assert!(matches!(
            StoredHash::parse(weak),
            Err(HashError::TooWeak { m: 4096, .. })
        ));
        let argon2i = "$argon2i$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0$W8oVbH3Fk0VYrHfhH7GqXAE8XrHdtYnGkm9Sj8xbGmo";
        assert!(matches!(
            StoredHash::parse(argon2i),
            Err(HashError::NotArgon2id(_))
        ));
        assert_eq!(
            StoredHash::parse("admin123").err(),
            Some(HashError::Malformed)
        );
    }
}
