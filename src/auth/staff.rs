//! Staff accounts of the console: roles and what each may do, Argon2id password hashes, random
//! secrets for sessions and links, and the sign-in throttle (a pure policy).

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jiff::{SignedDuration, Timestamp};
use rand::RngCore as _;

use super::hash_token;

/// What a staff member is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Role {
    /// Everything, including staff accounts and the audit log.
    Admin,
    /// Flows: edits, checks and publishes them, reads results, tries flows in the simulator, and
    /// invites residents to them.
    Editor,
    /// Results, with residents shown by pseudonym only.
    Analyst,
    /// The service-request queue, with residents' numbers.
    Caseworker,
}

/// Something a page shows or an action does, granted to some roles.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Permission {
    /// Flow results, charts and the responses table.
    Results,
    /// Residents' phone numbers (everyone else sees pseudonyms).
    Phones,
    /// The flow simulator.
    Simulator,
    /// The service-request queue and status changes.
    Requests,
    /// Staff accounts and the audit log.
    ManageStaff,
    /// Flow versions, their source, check results, cost tables and diffs.
    Flows,
    /// Editing flows: checking drafts, running their conversation tests, publishing.
    EditFlows,
    /// Composing, scheduling and cancelling broadcasts and survey invitations.
    Broadcasts,
}

impl Role {
    /// Every role, in the order forms list them.
    pub const ALL: [Role; 4] = [Role::Admin, Role::Editor, Role::Analyst, Role::Caseworker];

    /// The role named `s` (as stored and typed: `admin`, `editor`, `analyst`, `caseworker`).
    pub fn parse(s: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.as_str() == s)
    }

    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Editor => "editor",
            Role::Analyst => "analyst",
            Role::Caseworker => "caseworker",
        }
    }

    /// Whether this role may do `p`.
    pub fn may(self, p: Permission) -> bool {
        use Permission::*;
        match self {
            Role::Admin => true,
            Role::Editor => matches!(p, Results | Simulator | Flows | EditFlows | Broadcasts),
            Role::Analyst => matches!(p, Results | Simulator | Flows),
            Role::Caseworker => matches!(p, Requests | Phones),
        }
    }
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why an account or password was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StaffError {
    #[error("unknown role {0:?}: use admin, editor, analyst or caseworker")]
    UnknownRole(String),
    #[error("{0:?} is not an email address")]
    BadEmail(String),
    #[error("a password needs at least {MIN_PASSWORD} characters")]
    PasswordTooShort,
    #[error("a password may have at most {MAX_PASSWORD} characters")]
    PasswordTooLong,
    #[error("the password could not be hashed: {0}")]
    Hash(String),
}

/// Shortest password accepted (NIST SP 800-63B asks for at least 8; a passphrase is better).
pub const MIN_PASSWORD: usize = 10;
/// Longest password accepted, so hashing cannot be made to take long.
pub const MAX_PASSWORD: usize = 256;

/// An email as stored: trimmed and lower-cased, with one `@` and something either side.
pub fn normalize_email(email: &str) -> Result<String, StaffError> {
    let e = email.trim().to_lowercase();
    match e.split_once('@') {
        Some((local, domain))
            if !local.is_empty()
                && !domain.is_empty()
                && !domain.contains('@')
                && e.len() <= 254
                && !e.chars().any(|c| c.is_whitespace() || c.is_control()) =>
        {
            Ok(e)
        }
        _ => Err(StaffError::BadEmail(email.to_string())),
    }
}

/// Checks a new password's length (in characters).
pub fn check_password(password: &str) -> Result<(), StaffError> {
    let n = password.chars().count();
    if n < MIN_PASSWORD {
        Err(StaffError::PasswordTooShort)
    } else if n > MAX_PASSWORD {
        Err(StaffError::PasswordTooLong)
    } else {
        Ok(())
    }
}

/// The Argon2id hash of `password` with a fresh salt, as a PHC string. Takes tens of
/// milliseconds of CPU by design: call it off the async threads.
pub fn hash_password(password: &str) -> Result<String, StaffError> {
    check_password(password)?;
    let salt = SaltString::generate(&mut rand::rngs::OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| StaffError::Hash(e.to_string()))
}

/// Whether `password` matches the stored hash (false for a hash that does not parse).
pub fn verify_password(password: &str, stored: &str) -> bool {
    match PasswordHash::new(stored) {
        Ok(hash) => Argon2::default()
            .verify_password(password.as_bytes(), &hash)
            .is_ok(),
        Err(_) => false,
    }
}

/// A hash to verify against when the account does not exist or has no password, so that
/// answering "wrong password" takes as long as for a real account.
pub fn decoy_hash() -> &'static str {
    static DECOY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DECOY.get_or_init(|| hash_password("decoy password that matches nothing").unwrap_or_default())
}

/// A fresh random secret (256 bits, URL-safe) and its stored SHA-256 hash.
pub fn new_secret() -> (String, String) {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    let secret = URL_SAFE_NO_PAD.encode(bytes);
    let hash = hash_token(&secret);
    (secret, hash)
}

/// Failed sign-ins within [`THROTTLE_WINDOW`] after which an email is refused.
pub const MAX_FAILURES: i64 = 5;
/// How far back failed sign-ins count.
pub const THROTTLE_WINDOW: SignedDuration = SignedDuration::from_mins(15);

/// Since when failures count, at `now`.
pub fn throttle_since(now: Timestamp) -> Timestamp {
    now - THROTTLE_WINDOW
}

/// Whether a sign-in for an email with `recent_failures` failures in the window is refused
/// without even looking at the password (so guessing stays slow whatever is guessed).
pub fn throttled(recent_failures: i64) -> bool {
    recent_failures >= MAX_FAILURES
}

/// How long a signed-in session lasts.
pub const SESSION_LIFETIME: SignedDuration = SignedDuration::from_hours(12);
/// How long a set-password link works.
pub const LINK_LIFETIME: SignedDuration = SignedDuration::from_hours(72);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_password_hash_is_argon2id_and_only_the_same_password_matches() {
        let h = hash_password("correct horse battery").unwrap();
        assert!(h.starts_with("$argon2id$"), "{h}");
        assert!(verify_password("correct horse battery", &h));
        assert!(!verify_password("correct horse batterY", &h));
        assert!(!verify_password("correct horse battery", "not a hash"));
        assert_ne!(h, hash_password("correct horse battery").unwrap(), "salted");
    }

    #[test]
    fn short_passwords_are_refused() {
        assert_eq!(hash_password("short"), Err(StaffError::PasswordTooShort));
        assert_eq!(
            check_password(&"x".repeat(MAX_PASSWORD + 1)),
            Err(StaffError::PasswordTooLong)
        );
    }

    #[test]
    fn emails_are_lower_cased_and_must_have_an_at_sign() {
        assert_eq!(
            normalize_email(" Clerk@City.GOV ").unwrap(),
            "clerk@city.gov"
        );
        assert!(normalize_email("clerk").is_err());
        assert!(normalize_email("a@b@c").is_err());
        assert!(normalize_email("@city.gov").is_err());
    }

    #[test]
    fn only_admins_and_caseworkers_see_phone_numbers() {
        let phones: Vec<Role> = Role::ALL
            .into_iter()
            .filter(|r| r.may(Permission::Phones))
            .collect();
        assert_eq!(phones, [Role::Admin, Role::Caseworker]);
        assert!(!Role::Analyst.may(Permission::ManageStaff));
        assert!(!Role::Caseworker.may(Permission::Results));
    }

    #[test]
    fn admins_and_editors_may_text_residents_first() {
        let broadcasters: Vec<Role> = Role::ALL
            .into_iter()
            .filter(|r| r.may(Permission::Broadcasts))
            .collect();
        assert_eq!(broadcasters, [Role::Admin, Role::Editor]);
    }

    #[test]
    fn the_fifth_failure_in_the_window_throttles_the_email() {
        assert!(!throttled(MAX_FAILURES - 1));
        assert!(throttled(MAX_FAILURES));
    }
}
