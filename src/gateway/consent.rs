//! Consent policy, pure: what an opt-out, opt-in or help text does (the resident's own words or
//! the provider's signal), and whether a repeat delivery may still be answered as it was.

use super::replies::{Replies, Reply};
use crate::sms::vocabulary::{self, Command, Recognized};
use crate::store::{ConsentChange, ConsentHistory, Decision, SessionEnd, Snapshot};

/// The decision for a text that is an opt-out, opt-in or help command, or `None` when it is not
/// one (it then goes to the conversation).
///
/// `provider` is the provider's own reading of the text (Twilio Advanced Opt-Out's
/// `OptOutType`). It is obeyed whatever the body says, and without a reply: the provider has
/// already sent the resident its own confirmation or help text, and a second one would be
/// one too many (for an opt-out, the provider would refuse to deliver it anyway).
pub fn command(
    replies: &Replies,
    snapshot: &Snapshot,
    text: &str,
    provider: Option<Command>,
) -> Option<Decision> {
    let contact = snapshot.contact.as_ref();
    let opted_out = contact.is_some_and(|c| c.opted_out);
    let contact_lang = contact.and_then(|c| c.language.as_deref());
    let (r, silent) = match provider {
        Some(command) => (
            Recognized {
                command,
                language: "en",
                only_when_opted_out: false,
            },
            true,
        ),
        None => (vocabulary::recognize(text)?, false),
    };
    // STOP, HELP and START are used by everyone: answer in the resident's own language;
    // a word only one language uses (ALTO, AYUDA) says which language to answer in.
    let lang = match r.language {
        "en" => contact_lang.or(Some("en")),
        other => Some(other),
    };
    let mut d = match r.command {
        Command::OptOut => {
            let mut d = Decision {
                consent: Some(ConsentChange::OptOut),
                end_session: snapshot.session.as_ref().map(|_| SessionEnd::OptedOut),
                route: if silent {
                    "provider_opt_out"
                } else {
                    "opt_out"
                },
                ..Decision::default()
            };
            // One confirmation: a number that had already opted out hears nothing more.
            if !opted_out {
                d.replies.push(replies.render(Reply::OptedOut, lang));
            }
            d
        }
        Command::OptIn if !r.only_when_opted_out || opted_out => Decision {
            consent: opted_out.then_some(ConsentChange::OptIn),
            replies: vec![replies.render(Reply::OptedIn, lang)],
            route: if silent { "provider_opt_in" } else { "opt_in" },
            ..Decision::default()
        },
        Command::Help => Decision {
            replies: vec![replies.render(Reply::Help, lang)],
            route: if silent { "provider_help" } else { "help" },
            ..Decision::default()
        },
        Command::OptIn => return None,
    };
    if silent {
        d.replies.clear();
    }
    Some(d)
}

/// Whether a repeat delivery of the text `sid` may be answered with the replies stored the
/// first time, given the resident's consent now.
///
/// A text that changed consent to everything (STOP, START) is answered again only while what
/// it set still holds: a late retry of an old STOP after the resident texted START again must
/// not tell them they are unsubscribed. Any other text, an answer that gave or withdrew consent
/// to one topic among them, is answered again only while the resident is not opted out.
pub fn may_replay(sid: &str, consent: &ConsentHistory) -> bool {
    let whole: Vec<_> = consent
        .changes
        .iter()
        .filter(|e| e.topic.is_none())
        .collect();
    match whole.iter().rposition(|e| e.sid.as_deref() == Some(sid)) {
        Some(at) => {
            let set = whole[at].change;
            whole[at + 1..].iter().all(|e| e.change == set)
        }
        None => !consent.opted_out,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::ConsentChange::{OptIn, OptOut};
    use crate::store::ConsentEvent;

    fn history(opted_out: bool, changes: &[(ConsentChange, &str)]) -> ConsentHistory {
        ConsentHistory {
            opted_out,
            changes: changes
                .iter()
                .map(|(c, s)| ConsentEvent {
                    change: *c,
                    topic: None,
                    sid: Some(s.to_string()),
                })
                .collect(),
        }
    }

    /// `history` with an answer `sid` that gave (`OptIn`) or withdrew (`OptOut`) `topic`.
    fn with_answer(
        mut h: ConsentHistory,
        change: ConsentChange,
        topic: &str,
        sid: &str,
    ) -> ConsentHistory {
        h.changes.push(ConsentEvent {
            change,
            topic: Some(topic.into()),
            sid: Some(sid.into()),
        });
        h
    }

    #[test]
    fn a_start_retried_after_a_topic_was_withdrawn_is_confirmed_again() {
        let h = with_answer(
            history(false, &[(OptOut, "A"), (OptIn, "B")]),
            OptOut,
            "youth-events",
            "W",
        );
        assert!(h.changes[2].is_withdrawal());
        assert!(may_replay("B", &h), "the resident is still subscribed");
        assert!(!may_replay("A", &h));
    }

    #[test]
    fn an_answer_that_gave_or_withdrew_a_topic_is_answered_again_while_not_opted_out() {
        let yes = with_answer(history(false, &[]), OptIn, "youth-events", "Y");
        let no = with_answer(yes.clone(), OptOut, "youth-events", "N");
        assert!(may_replay("Y", &no), "the next question is still the reply");
        assert!(may_replay("N", &no));
        let mut stopped = with_answer(no, OptOut, "youth-events", "N2");
        stopped.changes.push(ConsentEvent {
            change: OptOut,
            topic: None,
            sid: Some("S".into()),
        });
        stopped.opted_out = true;
        assert!(!may_replay("N", &stopped));
    }

    #[test]
    fn a_stop_retried_after_start_is_not_confirmed_again_but_the_start_is() {
        let h = history(false, &[(OptOut, "A"), (OptIn, "B")]);
        assert!(!may_replay("A", &h));
        assert!(may_replay("B", &h));
    }

    #[test]
    fn a_stop_retried_while_still_opted_out_is_confirmed_again() {
        assert!(may_replay("A", &history(true, &[(OptOut, "A")])));
        assert!(may_replay(
            "A",
            &history(true, &[(OptOut, "A"), (OptOut, "C")])
        ));
        assert!(
            !may_replay(
                "A",
                &history(true, &[(OptOut, "A"), (OptIn, "B"), (OptOut, "C")])
            ),
            "STOP C was confirmed; A's confirmation is stale"
        );
    }

    #[test]
    fn an_ordinary_text_is_answered_again_only_while_not_opted_out() {
        assert!(may_replay("X", &history(false, &[])));
        assert!(!may_replay("X", &history(true, &[(OptOut, "A")])));
        assert!(may_replay(
            "X",
            &history(false, &[(OptOut, "A"), (OptIn, "B")])
        ));
    }

    fn snapshot(opted_out: bool) -> Snapshot {
        Snapshot {
            contact: Some(crate::store::Contact {
                id: 1,
                phone: "+15025550123".into(),
                language: None,
                fields: Default::default(),
                opted_out,
                unmatched_count: 0,
                unmatched_since: None,
                last_default_reply_at: None,
                muted_until: None,
                opt_out_hint_at: None,
            }),
            session: None,
        }
    }

    #[test]
    fn the_providers_signal_is_obeyed_whatever_the_body_says_and_not_answered_twice() {
        let r = Replies::default();
        let d = command(&r, &snapshot(false), "weekly", Some(Command::OptOut)).unwrap();
        assert_eq!(d.consent, Some(ConsentChange::OptOut));
        assert!(d.replies.is_empty());
        let d = command(&r, &snapshot(true), "hello", Some(Command::OptIn)).unwrap();
        assert_eq!(d.consent, Some(ConsentChange::OptIn));
        assert!(d.replies.is_empty());
        let d = command(&r, &snapshot(false), "4", Some(Command::Help)).unwrap();
        assert_eq!((d.consent, d.route), (None, "provider_help"));
        assert!(command(&r, &snapshot(false), "weekly", None).is_none());
    }
}
