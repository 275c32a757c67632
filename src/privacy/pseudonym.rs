//! Pseudonyms: a stable stand-in for a resident's phone number that cannot be enumerated or
//! reversed without the installation's secret key.
//!
//! A pseudonym is HMAC-SHA256 of the number under the key, truncated to 96 bits. Phone numbers
//! are few enough (about 10^10 in a country) that a plain hash could be reversed by trying
//! them all; the key makes that impossible for anyone who only holds exports.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use rand::RngCore as _;
use sha2::Sha256;

/// The name the generated key is stored under.
pub const KEY_NAME: &str = "pseudonym_key";

/// Turns phone numbers into pseudonyms with one installation's key.
#[derive(Clone)]
pub struct Pseudonyms {
    /// The MAC keyed, with its domain taken in, once: an export computes one pseudonym per
    /// row, and keying costs as much as hashing a number.
    contact: Hmac<Sha256>,
    erased: Hmac<Sha256>,
}

impl std::fmt::Debug for Pseudonyms {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Pseudonyms(key hidden)")
    }
}

impl Pseudonyms {
    /// Pseudonyms under `key` (any non-empty secret string).
    pub fn new(key: &str) -> Pseudonyms {
        let keyed = |domain: &str| {
            let mut mac =
                Hmac::<Sha256>::new_from_slice(key.as_bytes()).expect("HMAC takes any key");
            mac.update(domain.as_bytes());
            mac.update(b"\0");
            mac
        };
        Pseudonyms {
            contact: keyed("contact"),
            erased: keyed("erased-number"),
        }
    }

    /// A fresh random key, for an installation that has none configured.
    pub fn generate_key() -> String {
        let mut bytes = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut bytes);
        URL_SAFE_NO_PAD.encode(bytes)
    }

    /// HMAC-SHA256 of `domain`, a NUL and `phone` under the key (`keyed` has taken in the
    /// first two).
    fn mac(keyed: &Hmac<Sha256>, phone: &str) -> [u8; 32] {
        let mut mac = keyed.clone();
        mac.update(phone.as_bytes());
        mac.finalize().into_bytes().into()
    }

    /// The resident's pseudonym, e.g. `r_3kq0V9x2Yb7tLm1A`: the same for the same number.
    pub fn of(&self, phone: &str) -> String {
        let digest = Self::mac(&self.contact, phone);
        format!("r_{}", URL_SAFE_NO_PAD.encode(&digest[..12]))
    }

    /// The keyed hash kept in place of an erased resident's number (a separate domain from
    /// [`Pseudonyms::of`], so the opt-out list cannot be joined to exported pseudonyms).
    pub fn erased_number(&self, phone: &str) -> String {
        let digest = Self::mac(&self.erased, phone);
        digest.iter().map(|b| format!("{b:02x}")).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pseudonym_is_stable_for_a_number_and_differs_between_numbers_and_keys() {
        let p = Pseudonyms::new("key-one");
        assert_eq!(p.of("+15025550123"), p.of("+15025550123"));
        assert_ne!(p.of("+15025550123"), p.of("+15025550124"));
        assert_ne!(
            p.of("+15025550123"),
            Pseudonyms::new("key-two").of("+15025550123")
        );
        assert!(p.of("+15025550123").starts_with("r_"));
        assert!(!p.of("+15025550123").contains("5550123"));
    }

    #[test]
    fn pseudonyms_and_erased_hashes_are_the_keyed_mac_of_domain_and_number() {
        // Pseudonyms handed out before must stay the same: the definition, spelled out.
        let mac = |domain: &str| {
            let mut m = Hmac::<Sha256>::new_from_slice(b"key-one").unwrap();
            m.update(format!("{domain}\0+15025550123").as_bytes());
            m.finalize().into_bytes()
        };
        let p = Pseudonyms::new("key-one");
        assert_eq!(
            p.of("+15025550123"),
            format!("r_{}", URL_SAFE_NO_PAD.encode(&mac("contact")[..12]))
        );
        let erased: String = mac("erased-number")
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert_eq!(p.erased_number("+15025550123"), erased);
    }

    #[test]
    fn the_erased_number_hash_is_not_the_pseudonym() {
        let p = Pseudonyms::new("k");
        assert!(
            !p.erased_number("+15025550123")
                .contains(&p.of("+15025550123")[2..])
        );
        assert_eq!(p.erased_number("+1502"), p.erased_number("+1502"));
    }

    #[test]
    fn generated_keys_are_random() {
        assert_ne!(Pseudonyms::generate_key(), Pseudonyms::generate_key());
    }
}
