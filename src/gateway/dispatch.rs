//! What the gateway does with one inbound text, decided without IO: the compliance vocabulary
//! first, then the active session, then keywords, then the (throttled) default reply.

use jiff::{SignedDuration, Timestamp};

use super::consent;
use super::flows::FlowSet;
use super::replies::Replies;
use super::replies::Reply;
use crate::flow::engine::{self, Context, Effect, Inbound, Media, Outcome, Status};
use crate::flow::precedence::{self, During};
use crate::sms::vocabulary::{self, Command, Reading};
use crate::store::{Decision, RequestInfo, SessionEnd, SessionWrite, Snapshot, Throttle};

/// The route of a text that asked about the resident's own service request.
pub const REQUEST_STATUS: &str = "request_status";

/// The route of a text whose flow the engine stopped (a loop, too many texts): see
/// [`crate::flow::engine::Status::Failed`].
pub const FLOW_ERROR: &str = "flow_error";

/// Limits that keep the gateway from texting a robot (or a confused resident) forever.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ThrottleRules {
    /// At most one default reply per number per this long.
    pub default_reply_every: SignedDuration,
    /// Unanswerable texts allowed per window before the number is muted.
    pub burst: u32,
    pub window: SignedDuration,
    /// How long a muted number gets no replies to unanswerable texts.
    pub mute_for: SignedDuration,
}

impl Default for ThrottleRules {
    fn default() -> Self {
        ThrottleRules {
            default_reply_every: SignedDuration::from_mins(10),
            burst: 5,
            window: SignedDuration::from_hours(1),
            mute_for: SignedDuration::from_hours(24),
        }
    }
}

/// Everything a decision needs besides the stored snapshot.
#[derive(Debug, Clone)]
pub struct Input<'a> {
    pub text: &'a str,
    pub media: &'a [Media],
    pub now: Timestamp,
    pub today: jiff::civil::Date,
    pub entropy: u64,
    /// The provider's own reading of the text as opt-out, opt-in or help, obeyed whatever
    /// the body says.
    pub provider_command: Option<Command>,
    /// The service request whose tracking code the text is, if it is one (read beforehand:
    /// see [`super::requests::tracking_code_in`]).
    pub request: Option<&'a RequestInfo>,
}

/// Decides what one inbound text does. Pure: the same snapshot and input give the same decision.
pub fn decide(
    flows: &FlowSet,
    replies: &Replies,
    rules: &ThrottleRules,
    snapshot: &Snapshot,
    input: &Input,
) -> Decision {
    let contact = snapshot.contact.as_ref();
    let opted_out = contact.is_some_and(|c| c.opted_out);

    if let Some(d) = consent::command(replies, snapshot, input.text, input.provider_command) {
        return d;
    }
    if opted_out {
        return Decision {
            route: "opted_out",
            ..Decision::default()
        };
    }
    let d = conversation(flows, replies, rules, snapshot, input);
    with_opt_out_hint(d, replies, contact, input.text, input.now)
}

/// What a text that is not a compliance command does: answers the waiting question, starts a
/// flow, or gets the default reply.
fn conversation(
    flows: &FlowSet,
    replies: &Replies,
    rules: &ThrottleRules,
    snapshot: &Snapshot,
    input: &Input,
) -> Decision {
    let contact = snapshot.contact.as_ref();
    let contact_lang = contact.and_then(|c| c.language.as_deref());

    // The resident's own tracking code, sent at any point: the status of that request, and the
    // conversation (if any) left exactly as it was, its question still waiting. A code is
    // eight random characters the gateway gave this resident, so it is never a plausible
    // answer to a question; someone else's code is an ordinary text.
    if let (Some(request), Some(c)) = (input.request, contact)
        && request.contact_id == Some(c.id)
    {
        let lang = contact_lang.or(snapshot.session.as_ref().map(|s| s.state.language.as_str()));
        return Decision {
            replies: vec![replies.request_status(request, lang)],
            throttle: contact_reset(contact),
            route: REQUEST_STATUS,
            ..Decision::default()
        };
    }

    let ctx_contact = contact.map(|c| {
        let mut fields = c.fields.clone();
        if let Some(l) = &c.language {
            fields.entry("language".into()).or_insert_with(|| l.clone());
        }
        fields
    });
    let empty = Default::default();
    let ctx = Context {
        now: input.now,
        today: input.today,
        contact: ctx_contact.as_ref().unwrap_or(&empty),
        entropy: input.entropy,
    };
    let mut ended = None;
    // The flow a text interrupting the conversation starts; decided with the session below.
    let mut interrupting = None;

    if let Some(active) = &snapshot.session {
        let state = &active.state;
        let flow = flows.version(&state.flow, &state.version);
        if engine::is_expired(state, input.now) {
            ended = Some(SessionEnd::Expired);
        } else if let Some(flow) = flow {
            let inbound = Inbound {
                text: input.text,
                media: input.media,
            };
            match precedence::during_session(flows.catalog(), &flow, state.clone(), &inbound, &ctx)
            {
                During::Session(outcome) => {
                    return from_outcome(outcome, false, "session", contact_reset(contact));
                }
                During::Interrupt { flow, language } => {
                    interrupting = Some((flow.clone(), language.map(str::to_string)));
                    ended = Some(SessionEnd::Interrupted);
                }
            }
        } else {
            // The flow was removed and its version is gone: the conversation cannot go on.
            ended = Some(SessionEnd::Interrupted);
        }
    }

    // Without a conversation to answer, a phrase that folds into a keyword ("bike lane" for
    // BIKELANE) starts its flow too.
    let keyword = interrupting.or_else(|| flows.by_keyword(input.text));
    if let Some((flow, lang)) = keyword {
        let outcome = engine::start(&flow, lang.as_deref().or(contact_lang), &ctx);
        let mut d = from_outcome(outcome, true, "keyword", contact_reset(contact));
        d.end_session = ended;
        // A keyword in a language (PARQUES) is the resident telling us which one they speak.
        if let Some(l) = lang.filter(|l| Some(l.as_str()) != contact_lang) {
            d.language.get_or_insert(l);
        }
        return d;
    }

    let mut d = unmatched(flows, replies, rules, contact, contact_lang, input.now);
    d.end_session = ended;
    d
}

/// A text that meant something resets the robot counters.
fn contact_reset(contact: Option<&crate::store::Contact>) -> Option<Throttle> {
    contact
        .filter(|c| c.unmatched_count > 0 || c.muted_until.is_some())
        .map(|c| Throttle {
            unmatched_count: 0,
            unmatched_since: None,
            last_default_reply_at: c.last_default_reply_at,
            muted_until: None,
            opt_out_hint_at: c.opt_out_hint_at,
        })
}

/// The throttle fields as the contact has them (or a new contact's).
fn throttle_of(contact: Option<&crate::store::Contact>) -> Throttle {
    contact.map_or(
        Throttle {
            unmatched_count: 0,
            unmatched_since: None,
            last_default_reply_at: None,
            muted_until: None,
            opt_out_hint_at: None,
        },
        |c| Throttle {
            unmatched_count: c.unmatched_count,
            unmatched_since: c.unmatched_since,
            last_default_reply_at: c.last_default_reply_at,
            muted_until: c.muted_until,
            opt_out_hint_at: c.opt_out_hint_at,
        },
    )
}

/// The FCC's rule lets a sender answer an unclear revocation with one clarifying text; this
/// is how often a resident may get it.
pub const OPT_OUT_HINT_EVERY: SignedDuration = SignedDuration::from_hours(24);

/// Adds the "Reply STOP to stop all texts" line to `d` when `text` might have meant stop (a
/// STOP-family word inside an answer or a keyword) and the resident has not been told in the
/// last day. A muted number (robot protection) is told nothing; a default reply already says
/// how to opt out.
fn with_opt_out_hint(
    mut d: Decision,
    replies: &Replies,
    contact: Option<&crate::store::Contact>,
    text: &str,
    now: Timestamp,
) -> Decision {
    let Reading::MaybeOptOut { language } = vocabulary::read(text) else {
        return d;
    };
    if matches!(d.route, "muted" | "default_reply") {
        return d;
    }
    let mut throttle = d.throttle.unwrap_or_else(|| throttle_of(contact));
    if throttle
        .opt_out_hint_at
        .is_some_and(|last| now.duration_since(last) < OPT_OUT_HINT_EVERY)
    {
        return d;
    }
    let contact_lang = d
        .language
        .as_deref()
        .or(contact.and_then(|c| c.language.as_deref()));
    let lang = match language {
        "en" => contact_lang.or(Some("en")),
        other => Some(other),
    };
    d.replies.push(replies.render(Reply::OptOutHint, lang));
    throttle.opt_out_hint_at = Some(now);
    d.throttle = Some(throttle);
    d
}

fn from_outcome(
    o: Outcome,
    new: bool,
    route: &'static str,
    throttle: Option<Throttle>,
) -> Decision {
    let mut d = Decision {
        // A flow the engine had to stop is a fault staff must hear about: the route is logged
        // as an error and stored with the message.
        route: if o.status == Status::Failed {
            FLOW_ERROR
        } else {
            route
        },
        throttle,
        ..Decision::default()
    };
    for e in o.effects {
        match e {
            Effect::Send { text } => d.replies.push(text),
            Effect::Answer(a) => d.answers.push(a),
            Effect::SetContact { field, value } => {
                if field == "language" {
                    d.language = Some(value.clone());
                }
                d.fields.push((field, value));
            }
            Effect::FileRequest(r) => d.requests.push(r),
        }
    }
    d.session = Some(SessionWrite {
        state: o.session,
        ended: match o.status {
            Status::Waiting => None,
            Status::Completed => Some(SessionEnd::Completed),
            // Stored as cut short, like an interrupted conversation; the route says why.
            Status::Failed => Some(SessionEnd::Interrupted),
        },
        new,
    });
    d
}

fn unmatched(
    flows: &FlowSet,
    replies: &Replies,
    rules: &ThrottleRules,
    contact: Option<&crate::store::Contact>,
    lang: Option<&str>,
    now: Timestamp,
) -> Decision {
    let (mut count, mut since, last, muted) = contact.map_or((0, None, None, None), |c| {
        (
            c.unmatched_count,
            c.unmatched_since,
            c.last_default_reply_at,
            c.muted_until,
        )
    });
    let window_open = since.is_some_and(|s: Timestamp| now.duration_since(s) < rules.window);
    if !window_open {
        count = 0;
        since = Some(now);
    }
    count = count.saturating_add(1);
    let mut throttle = Throttle {
        unmatched_count: count,
        unmatched_since: since,
        last_default_reply_at: last,
        muted_until: muted.filter(|m| *m > now),
        opt_out_hint_at: contact.and_then(|c| c.opt_out_hint_at),
    };
    if throttle.muted_until.is_some() {
        return Decision {
            throttle: Some(throttle),
            route: "muted",
            ..Decision::default()
        };
    }
    if count > rules.burst {
        throttle.muted_until = now.checked_add(rules.mute_for).ok();
        return Decision {
            throttle: Some(throttle),
            route: "muted",
            ..Decision::default()
        };
    }
    let due = last.is_none_or(|l| now.duration_since(l) >= rules.default_reply_every);
    if !due {
        return Decision {
            throttle: Some(throttle),
            route: "throttled",
            ..Decision::default()
        };
    }
    throttle.last_default_reply_at = Some(now);
    let keywords = flows.keywords_for(lang);
    Decision {
        replies: vec![replies.render_default(lang, &keywords)],
        throttle: Some(throttle),
        route: "default_reply",
        ..Decision::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flow::catalog::{Catalog, SourceFile};
    use crate::store::ConsentChange;
    use crate::store::{ActiveSession, Contact};

    const FLOW: &str = "flow: poll\nkeywords: [VOTE]\nsteps:\n  - ask: q\n    type: yes_no\n    text: Bike lane?\n  - say: Thanks!\n";

    fn flows() -> FlowSet {
        let (catalog, _) = Catalog::build(vec![SourceFile {
            name: "poll.yaml".into(),
            text: FLOW.into(),
        }]);
        FlowSet::new(catalog, [])
    }

    fn at(secs: i64) -> Timestamp {
        Timestamp::from_second(1_800_000_000 + secs).unwrap()
    }

    fn input(text: &str, now: Timestamp) -> Input<'_> {
        Input {
            text,
            media: &[],
            now,
            today: jiff::civil::date(2027, 1, 15),
            entropy: 7,
            provider_command: None,
            request: None,
        }
    }

    fn contact(opted_out: bool) -> Contact {
        Contact {
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
        }
    }

    fn fresh() -> Snapshot {
        Snapshot {
            contact: None,
            session: None,
        }
    }

    fn run(snapshot: &Snapshot, text: &str, now: Timestamp) -> Decision {
        decide(
            &flows(),
            &Replies::default(),
            &ThrottleRules::default(),
            snapshot,
            &input(text, now),
        )
    }

    #[test]
    fn yes_is_an_answer_mid_flow_but_an_opt_in_for_an_opted_out_number() {
        let started = run(&fresh(), "VOTE", at(0));
        let state = started.session.unwrap().state;
        let in_flow = Snapshot {
            contact: Some(contact(false)),
            session: Some(ActiveSession { id: 1, state }),
        };
        let d = run(&in_flow, "yes", at(1));
        assert_eq!(d.route, "session");
        assert_eq!(d.answers[0].value, "yes");
        assert_eq!(d.consent, None);

        let opted_out = Snapshot {
            contact: Some(contact(true)),
            session: None,
        };
        let d = run(&opted_out, "yes", at(2));
        assert_eq!(d.consent, Some(ConsentChange::OptIn));
    }

    #[test]
    fn an_opted_out_number_gets_nothing_but_help_and_opt_in_replies() {
        let s = Snapshot {
            contact: Some(contact(true)),
            session: None,
        };
        assert!(run(&s, "VOTE", at(0)).replies.is_empty());
        assert!(
            run(&s, "STOP", at(0)).replies.is_empty(),
            "a second STOP is not confirmed again"
        );
        assert_eq!(run(&s, "HELP", at(0)).replies.len(), 1);
        assert_eq!(run(&s, "START", at(0)).replies.len(), 1);
    }

    #[test]
    fn unmatched_texts_get_one_default_reply_per_interval_then_the_number_is_muted() {
        let mut c = contact(false);
        let mut replies = Vec::new();
        for i in 0..8 {
            let s = Snapshot {
                contact: Some(c.clone()),
                session: None,
            };
            let d = run(&s, "hello?", at(i * 60));
            replies.push(d.replies.len());
            let t = d.throttle.unwrap();
            c.unmatched_count = t.unmatched_count;
            c.unmatched_since = t.unmatched_since;
            c.last_default_reply_at = t.last_default_reply_at;
            c.muted_until = t.muted_until;
        }
        assert_eq!(replies, vec![1, 0, 0, 0, 0, 0, 0, 0]);
        assert!(c.muted_until.is_some());
        let s = Snapshot {
            contact: Some(c.clone()),
            session: None,
        };
        assert!(
            run(&s, "hello?", at(30 * 60)).replies.is_empty(),
            "muted even after the interval"
        );
        let d = run(&s, "VOTE", at(30 * 60));
        assert_eq!(d.route, "keyword", "a keyword still works while muted");
        assert_eq!(d.throttle.unwrap().muted_until, None);
    }

    #[test]
    fn a_spanish_keyword_makes_spanish_the_residents_language_for_later_replies() {
        const BILINGUAL: &str = "flow: parks\nlanguages: [en, es]\nkeywords: { en: [PARKS], es: [PARQUES] }\nsteps:\n  - say: { en: Hi, es: Hola }\n";
        let (catalog, _) = Catalog::build(vec![SourceFile {
            name: "p.yaml".into(),
            text: BILINGUAL.into(),
        }]);
        let flows = FlowSet::new(catalog, []);
        let decide_with = |s: &Snapshot, text: &str| {
            decide(
                &flows,
                &Replies::default(),
                &ThrottleRules::default(),
                s,
                &input(text, at(0)),
            )
        };
        let d = decide_with(&fresh(), "parques");
        assert_eq!(d.language.as_deref(), Some("es"));
        assert_eq!(d.replies, vec!["Hola"]);

        let mut c = contact(false);
        c.language = Some("es".into());
        let s = Snapshot {
            contact: Some(c),
            session: None,
        };
        assert!(decide_with(&s, "STOP").replies[0].contains("Se dio de baja"));
        assert!(decide_with(&s, "hola?").replies[0].contains("no entendimos"));
    }

    #[test]
    fn the_default_reply_lists_the_keywords() {
        let d = run(&fresh(), "what is this", at(0));
        assert!(d.replies[0].contains("VOTE"), "{}", d.replies[0]);
    }

    #[test]
    fn an_expired_session_ends_and_the_text_is_handled_afresh() {
        let started = run(&fresh(), "VOTE", at(0));
        let mut state = started.session.unwrap().state;
        state.expires_at = Some(at(10));
        let s = Snapshot {
            contact: Some(contact(false)),
            session: Some(ActiveSession { id: 1, state }),
        };
        let d = run(&s, "yes", at(11));
        assert_eq!(d.end_session, Some(SessionEnd::Expired));
        assert!(d.answers.is_empty());
    }

    const HINT: &str = "Reply STOP to stop all texts from civictext.";

    /// A resident half-way through the poll, last told how to stop at `hinted` (if ever).
    fn mid_poll(hinted: Option<Timestamp>) -> Snapshot {
        let started = run(&fresh(), "VOTE", at(0));
        let mut contact = contact(false);
        contact.opt_out_hint_at = hinted;
        Snapshot {
            contact: Some(contact),
            session: Some(ActiveSession {
                id: 1,
                state: started.session.unwrap().state,
            }),
        }
    }

    #[test]
    fn the_clarifying_text_goes_at_most_once_a_day_and_records_when() {
        let day = 24 * 3600;
        let text = "I want to cancel";
        let never = run(&mid_poll(None), text, at(10));
        assert_eq!(never.replies.last().map(String::as_str), Some(HINT));
        assert_eq!(never.throttle.unwrap().opt_out_hint_at, Some(at(10)));
        assert_eq!(never.consent, None, "not an opt-out");

        let within = run(&mid_poll(Some(at(10))), text, at(10 + day - 1));
        assert!(!within.replies.iter().any(|r| r == HINT), "{within:?}");
        assert!(
            within
                .throttle
                .is_none_or(|t| t.opt_out_hint_at == Some(at(10))),
            "the day is counted from the last one sent"
        );

        let next_day = run(&mid_poll(Some(at(10))), text, at(10 + day));
        assert_eq!(next_day.replies.last().map(String::as_str), Some(HINT));
        assert_eq!(
            next_day.throttle.unwrap().opt_out_hint_at,
            Some(at(10 + day))
        );
    }

    #[test]
    fn a_muted_number_or_a_default_reply_gets_no_clarifying_text() {
        let mut muted = contact(false);
        muted.muted_until = Some(at(1000));
        let snapshot = Snapshot {
            contact: Some(muted),
            session: None,
        };
        let d = run(&snapshot, "tell the drivers to stop speeding", at(10));
        assert_eq!(d.route, "muted");
        assert!(d.replies.is_empty());

        // The default reply already ends "STOP to opt out".
        let d = run(&fresh(), "tell the drivers to stop speeding", at(10));
        assert_eq!(d.route, "default_reply");
        assert_eq!(d.replies.len(), 1, "{d:?}");
    }

    #[test]
    fn an_opt_out_or_a_plain_stop_noun_gets_no_clarifying_text() {
        let d = run(&mid_poll(None), "stop", at(10));
        assert_eq!(d.consent, Some(ConsentChange::OptOut));
        assert!(!d.replies.iter().any(|r| r == HINT));
        let d = run(&mid_poll(None), "the bus stop is broken", at(10));
        assert!(!d.replies.iter().any(|r| r == HINT), "{d:?}");
    }
}
