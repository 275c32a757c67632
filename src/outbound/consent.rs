//! Whether a text may go to a resident at the moment it is claimed. Pure.

use crate::store::OutboxKind;

/// What the store knows about the recipient when a text is claimed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Recipient {
    /// Opted out (STOP, or Twilio's 21610) and not back in.
    pub opted_out: bool,
    /// Has a recorded opt-in (START, a consent answer, an imported list).
    pub consented: bool,
    /// Twilio said the number cannot receive SMS.
    pub invalid: bool,
    /// Repeated carrier failures.
    pub unreachable: bool,
}

/// Why a text is not sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SkipReason {
    OptedOut,
    NoConsent,
    InvalidNumber,
    Unreachable,
}

impl SkipReason {
    /// Words stored with the skipped row.
    pub fn as_str(self) -> &'static str {
        match self {
            SkipReason::OptedOut => "opted out",
            SkipReason::NoConsent => "no recorded consent to texts they did not ask for",
            SkipReason::InvalidNumber => "the number cannot receive SMS",
            SkipReason::Unreachable => "the number has been unreachable repeatedly",
        }
    }
}

/// None when a text of `kind` may go to `r`, otherwise why not.
pub fn refuse(kind: OutboxKind, r: Recipient) -> Option<SkipReason> {
    if r.opted_out {
        Some(SkipReason::OptedOut)
    } else if r.invalid {
        Some(SkipReason::InvalidNumber)
    } else if kind.needs_consent() && !r.consented {
        Some(SkipReason::NoConsent)
    } else if kind.needs_consent() && r.unreachable {
        Some(SkipReason::Unreachable)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const OK: Recipient = Recipient {
        opted_out: false,
        consented: true,
        invalid: false,
        unreachable: false,
    };

    #[test]
    fn an_opt_out_stops_every_kind_of_text() {
        for kind in OutboxKind::ALL {
            let r = Recipient {
                opted_out: true,
                ..OK
            };
            assert_eq!(refuse(kind, r), Some(SkipReason::OptedOut), "{kind:?}");
        }
    }

    #[test]
    fn unsolicited_texts_need_a_recorded_opt_in_and_follow_ups_do_not() {
        let r = Recipient {
            consented: false,
            ..OK
        };
        assert_eq!(
            refuse(OutboxKind::Broadcast, r),
            Some(SkipReason::NoConsent)
        );
        assert_eq!(
            refuse(OutboxKind::Invitation, r),
            Some(SkipReason::NoConsent)
        );
        assert_eq!(refuse(OutboxKind::RequestUpdate, r), None);
        assert_eq!(refuse(OutboxKind::Reminder, r), None);
        assert_eq!(refuse(OutboxKind::Broadcast, OK), None);
    }

    #[test]
    fn broadcasts_skip_unreachable_numbers_and_nothing_goes_to_invalid_ones() {
        let unreachable = Recipient {
            unreachable: true,
            ..OK
        };
        assert_eq!(
            refuse(OutboxKind::Broadcast, unreachable),
            Some(SkipReason::Unreachable)
        );
        assert_eq!(refuse(OutboxKind::RequestUpdate, unreachable), None);
        let invalid = Recipient {
            invalid: true,
            ..OK
        };
        assert_eq!(
            refuse(OutboxKind::RequestUpdate, invalid),
            Some(SkipReason::InvalidNumber)
        );
    }
}
