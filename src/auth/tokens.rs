//! API tokens: generation, hashing, and scopes.
//!
//! A token is `ct_` followed by 43 base64url characters (256 random bits). Only its SHA-256
//! hash is stored; with that much entropy a slow password hash would add nothing.

use std::collections::BTreeSet;
use std::fmt;
use std::str::FromStr;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore as _;
use sha2::{Digest, Sha256};

/// What a token may reach.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Scope {
    /// Pseudonymous answers and summaries.
    Results,
    /// Answers with residents' phone numbers (includes `results`).
    ResultsPii,
    /// Read service requests.
    Requests,
    /// Change service requests' status (includes `requests`).
    RequestsWrite,
    /// Broadcasts.
    Broadcasts,
}

impl Scope {
    /// Every scope, in the order they are listed to users.
    pub const ALL: [Scope; 5] = [
        Scope::Results,
        Scope::ResultsPii,
        Scope::Requests,
        Scope::RequestsWrite,
        Scope::Broadcasts,
    ];

    /// The scope's name, as typed in `--scope` and stored.
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Results => "results",
            Scope::ResultsPii => "results:pii",
            Scope::Requests => "requests",
            Scope::RequestsWrite => "requests:write",
            Scope::Broadcasts => "broadcasts",
        }
    }

    /// The narrower scope a grant of this one includes, if any.
    fn implies(self) -> Option<Scope> {
        match self {
            Scope::ResultsPii => Some(Scope::Results),
            Scope::RequestsWrite => Some(Scope::Requests),
            _ => None,
        }
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A token or scope list that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error(
        "unknown scope {0:?}: use one of results, results:pii, requests, requests:write, broadcasts"
    )]
    UnknownScope(String),
    #[error("a token needs at least one scope")]
    NoScopes,
    #[error("a token needs a name (who it is for), e.g. --name \"Planning dept\"")]
    NoName,
}

impl FromStr for Scope {
    type Err = TokenError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        Scope::ALL
            .into_iter()
            .find(|scope| scope.as_str().eq_ignore_ascii_case(s))
            .ok_or_else(|| TokenError::UnknownScope(s.to_string()))
    }
}

/// The scopes granted to a token.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ScopeSet(BTreeSet<Scope>);

impl ScopeSet {
    /// Parses `results,requests` (commas or spaces between scopes).
    pub fn parse(list: &str) -> Result<ScopeSet, TokenError> {
        let set: BTreeSet<Scope> = list
            .split([',', ' '])
            .filter(|s| !s.trim().is_empty())
            .map(Scope::from_str)
            .collect::<Result<_, _>>()?;
        if set.is_empty() {
            return Err(TokenError::NoScopes);
        }
        Ok(ScopeSet(set))
    }

    /// True when the token was granted `scope`, or a scope that includes it.
    pub fn allows(&self, scope: Scope) -> bool {
        self.0
            .iter()
            .any(|&granted| granted == scope || granted.implies() == Some(scope))
    }

    /// The scopes as stored: space-separated.
    pub fn to_stored(&self) -> String {
        self.0
            .iter()
            .map(|s| s.as_str())
            .collect::<Vec<_>>()
            .join(" ")
    }
}

impl fmt::Display for ScopeSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = self.0.iter().map(|s| s.as_str()).collect();
        f.write_str(&names.join(","))
    }
}

/// The prefix of every token, so a leaked one is recognisable (secret scanners, logs).
pub const TOKEN_PREFIX: &str = "ct_";

/// A token just created: the secret (shown once) and what is stored about it.
#[derive(Debug, Clone)]
pub struct NewToken {
    /// The token to give the agency. Never stored.
    pub secret: String,
    /// SHA-256 of the token, hex: what is stored and looked up.
    pub hash: String,
    /// The token's first characters, to tell tokens apart in listings.
    pub hint: String,
}

impl NewToken {
    /// A fresh random token.
    pub fn generate() -> NewToken {
        let mut bytes = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut bytes);
        let secret = format!("{TOKEN_PREFIX}{}", URL_SAFE_NO_PAD.encode(bytes));
        NewToken {
            hash: hash_token(&secret),
            hint: secret.chars().take(TOKEN_PREFIX.len() + 6).collect(),
            secret,
        }
    }
}

/// The stored form of a token: SHA-256, lower-case hex.
pub fn hash_token(secret: &str) -> String {
    let digest = Sha256::digest(secret.as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_parse_with_commas_or_spaces_and_refuse_unknown_ones() {
        let set = ScopeSet::parse("results, requests").unwrap();
        assert!(set.allows(Scope::Results));
        assert!(set.allows(Scope::Requests));
        assert!(!set.allows(Scope::ResultsPii));
        assert_eq!(set.to_stored(), "results requests");
        assert_eq!(
            ScopeSet::parse("results,everything"),
            Err(TokenError::UnknownScope("everything".into()))
        );
        assert_eq!(ScopeSet::parse(" , "), Err(TokenError::NoScopes));
    }

    #[test]
    fn a_pii_or_write_scope_includes_the_narrower_one_but_not_the_reverse() {
        let pii = ScopeSet::parse("results:pii").unwrap();
        assert!(pii.allows(Scope::Results) && pii.allows(Scope::ResultsPii));
        assert!(!pii.allows(Scope::Requests));
        let write = ScopeSet::parse("requests:write").unwrap();
        assert!(write.allows(Scope::Requests) && write.allows(Scope::RequestsWrite));
        let plain = ScopeSet::parse("results requests").unwrap();
        assert!(!plain.allows(Scope::ResultsPii) && !plain.allows(Scope::RequestsWrite));
    }

    #[test]
    fn tokens_are_random_and_only_their_hash_is_kept() {
        let a = NewToken::generate();
        let b = NewToken::generate();
        assert_ne!(a.secret, b.secret);
        assert!(a.secret.starts_with(TOKEN_PREFIX));
        assert_eq!(a.secret.len(), TOKEN_PREFIX.len() + 43);
        assert_eq!(a.hash, hash_token(&a.secret));
        assert_eq!(a.hash.len(), 64);
        assert!(!a.hash.contains(&a.secret[3..]));
        assert!(a.secret.starts_with(&a.hint));
    }
}
