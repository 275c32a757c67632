//! Who may use the agencies' API: scoped tokens (only their hashes are stored) and the audit log
//! of every use.

pub mod tokens;

pub use tokens::{NewToken, Scope, ScopeSet, TokenError, hash_token};
