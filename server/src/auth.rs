//! Identity: signed tokens (JWT, HS256), roles and users. The REST extractors that read them are in `http::extract`.
//!
//! **Invariant:** a role is only ever taken from a verified token; nothing a client sends in a command can raise it.

use std::time::{SystemTime, UNIX_EPOCH};

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Citizen,
    Moderator,
    Agent,
    Admin,
}

impl Role {
    /// May curate broadcasts: create them, moderate questions, read statistics.
    pub fn is_moderator(self) -> bool {
        matches!(self, Role::Moderator | Role::Admin)
    }
    pub fn is_staff(self) -> bool {
        !matches!(self, Role::Citizen)
    }
}

/// Who is acting. Cheap to clone; carried by every connection after `auth`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct User {
    pub sub: String,
    pub name: String,
    pub role: Role,
}

#[derive(Debug, Serialize, Deserialize)]
struct Claims {
    sub: String,
    name: String,
    role: Role,
    exp: u64,
}

/// Signs and verifies tokens with one HS256 secret.
pub struct TokenKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
}

impl TokenKeys {
    pub fn new(secret: &[u8]) -> Self {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.leeway = 5;
        TokenKeys { encoding: EncodingKey::from_secret(secret), decoding: DecodingKey::from_secret(secret), validation }
    }

    /// A random secret for a server that was given none: tokens then die with the process, which is what the
    /// in-memory default wants anyway (its data dies too).
    pub fn random_secret() -> String {
        use rand::distr::{Alphanumeric, SampleString};
        Alphanumeric.sample_string(&mut rand::rng(), 48)
    }

    /// Mints a token valid for `ttl_secs`; returns it with its expiry (Unix seconds).
    pub fn mint(&self, user: &User, ttl_secs: u64) -> Result<(String, u64)> {
        let exp = unix_secs() + ttl_secs;
        let claims = Claims { sub: user.sub.clone(), name: user.name.clone(), role: user.role, exp };
        let token =
            jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding).map_err(Error::internal)?;
        Ok((token, exp))
    }

    /// Any failure (bad signature, expired, malformed) is just `unauthorized`: the client can't do more with detail.
    pub fn verify(&self, token: &str) -> Result<User> {
        let data = jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation)
            .map_err(|_| Error::unauthorized())?;
        let c = data.claims;
        Ok(User { sub: c.sub, name: c.name, role: c.role })
    }
}

pub fn unix_secs() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

pub fn unix_millis() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
}

/// A fresh random subject for an anonymous citizen session.
pub fn new_citizen_sub() -> String {
    format!("c-{:016x}", rand::random::<u64>())
}

/// A staff subject derived from the name, so re-minting a token for the same person keeps their identity.
pub fn staff_sub(role: Role, name: &str) -> String {
    let slug: String = name.chars().filter(|c| c.is_alphanumeric()).flat_map(char::to_lowercase).take(24).collect();
    let prefix = match role {
        Role::Citizen => "c",
        Role::Moderator => "m",
        Role::Agent => "g",
        Role::Admin => "a",
    };
    format!("{prefix}-{slug}")
}

/// Stable pseudonyms for people who chose to be anonymous: the same person gets the same handle within one
/// scope (a broadcast), different handles in different scopes, and nobody without the server's secret can
/// link a handle to the person or to their handles elsewhere. Keyed by the token secret, so every node of a
/// cluster computes the same handle.
pub struct Pseudonyms {
    key: ring::hmac::Key,
}

/// The prefix of a pseudonymous handle, e.g. `anon:3f9a2c1b`.
pub const PSEUDONYM_PREFIX: &str = "anon:";

impl Pseudonyms {
    pub fn new(secret: &[u8]) -> Self {
        // A key of its own, derived from the secret, so a handle is never a MAC an attacker could use as a token.
        let derived = ring::hmac::sign(&ring::hmac::Key::new(ring::hmac::HMAC_SHA256, secret), b"majlis pseudonyms v1");
        Pseudonyms { key: ring::hmac::Key::new(ring::hmac::HMAC_SHA256, derived.as_ref()) }
    }

    /// `anon:` and 8 hex digits, for `sub` within `scope`.
    pub fn handle(&self, scope: &str, sub: &str) -> String {
        let tag = ring::hmac::sign(&self.key, format!("{scope}\u{1f}{sub}").as_bytes());
        let hex: String = tag.as_ref()[..4].iter().map(|b| format!("{b:02x}")).collect();
        format!("{PSEUDONYM_PREFIX}{hex}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pseudonym_is_stable_in_its_scope_and_unlinkable_across_scopes() {
        let p = Pseudonyms::new(b"secret");
        let a = p.handle("broadcast:1", "c-1");
        assert_eq!(a, p.handle("broadcast:1", "c-1"));
        assert!(a.starts_with(PSEUDONYM_PREFIX) && a.len() == PSEUDONYM_PREFIX.len() + 8, "{a}");
        assert_ne!(a, p.handle("broadcast:2", "c-1"));
        assert_ne!(a, p.handle("broadcast:1", "c-2"));
        assert_ne!(a, Pseudonyms::new(b"other secret").handle("broadcast:1", "c-1"));
    }
}
