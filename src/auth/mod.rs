//! Who may use the agencies' API (scoped tokens, only their hashes stored, every use audited)
//! and the staff console (accounts with roles, Argon2id passwords, sessions).

pub mod staff;
pub mod tokens;

pub use tokens::{NewToken, Scope, ScopeSet, TokenError, hash_token};
