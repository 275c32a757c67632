//! API tokens and the audit log: the records, and the [`Store`] front for them.

use jiff::Timestamp;

use super::{Store, StoreError};

/// A token as stored (never the token itself).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenRecord {
    pub id: i64,
    /// Who it is for, e.g. "Planning dept".
    pub name: String,
    /// Space-separated scopes, as stored; parse with [`crate::auth::ScopeSet::parse`].
    pub scopes: String,
    /// The token's first characters.
    pub hint: String,
    pub created_at: Timestamp,
    pub last_used_at: Option<Timestamp>,
    pub revoked_at: Option<Timestamp>,
}

/// One use of the API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEntry {
    pub id: i64,
    /// None when the request carried no token or an unknown one.
    pub token_id: Option<i64>,
    pub method: String,
    /// The route's pattern (`/api/v1/flows/{flow}`), never the raw URL.
    pub route: String,
    pub status: u16,
    pub at: Timestamp,
}

/// A use of the API to record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewAuditEntry<'a> {
    pub token_id: Option<i64>,
    pub method: &'a str,
    pub route: &'a str,
    pub status: u16,
    pub at: Timestamp,
}

impl Store {
    /// Stores a new token's hash; returns its id.
    pub async fn create_token(
        &self,
        name: &str,
        scopes: &str,
        hash: &str,
        hint: &str,
        now: Timestamp,
    ) -> Result<i64, StoreError> {
        match self {
            Store::Sqlite(s) => s.create_token(name, scopes, hash, hint, now).await,
            Store::Postgres(s) => s.create_token(name, scopes, hash, hint, now).await,
        }
    }

    /// Every token, oldest first, revoked ones included.
    pub async fn list_tokens(&self) -> Result<Vec<TokenRecord>, StoreError> {
        match self {
            Store::Sqlite(s) => s.list_tokens().await,
            Store::Postgres(s) => s.list_tokens().await,
        }
    }

    /// Revokes token `id`; false when there is no such token or it was already revoked.
    pub async fn revoke_token(&self, id: i64, now: Timestamp) -> Result<bool, StoreError> {
        match self {
            Store::Sqlite(s) => s.revoke_token(id, now).await,
            Store::Postgres(s) => s.revoke_token(id, now).await,
        }
    }

    /// The token whose hash is `hash`, revoked or not.
    pub async fn find_token(&self, hash: &str) -> Result<Option<TokenRecord>, StoreError> {
        match self {
            Store::Sqlite(s) => s.find_token(hash).await,
            Store::Postgres(s) => s.find_token(hash).await,
        }
    }

    /// Records one use of the API (and, with a token, when it was last used).
    pub async fn record_use(&self, entry: &NewAuditEntry<'_>) -> Result<(), StoreError> {
        match self {
            Store::Sqlite(s) => s.record_use(entry).await,
            Store::Postgres(s) => s.record_use(entry).await,
        }
    }

    /// The audit log, newest first: at most `limit` entries, of one token if given.
    pub async fn audit_log(
        &self,
        token_id: Option<i64>,
        limit: i64,
    ) -> Result<Vec<AuditEntry>, StoreError> {
        match self {
            Store::Sqlite(s) => s.audit_log(token_id, limit).await,
            Store::Postgres(s) => s.audit_log(token_id, limit).await,
        }
    }
}
