//! The conversation gateway: one inbound text in, replies out, everything stored in between.
//! Provider-neutral: the Twilio webhook (in `http`) translates to and from it.

pub mod consent;
pub mod dispatch;
pub mod flows;
pub mod reload;
pub mod replies;
pub mod requests;
pub mod sweep;

use std::sync::{Arc, RwLock};

use jiff::Timestamp;
use jiff::tz::TimeZone;

use crate::flow::Diagnostic;
use crate::store::{Handled, InboundText, Store, StoreError};
pub use dispatch::ThrottleRules;
pub use flows::FlowSet;
pub use replies::Replies;

/// Handles inbound texts against the current flows and the store.
#[derive(Debug)]
pub struct Gateway {
    pub store: Store,
    flows: RwLock<Arc<FlowSet>>,
    /// The errors of flow files that could not be loaded as they are now.
    flow_errors: RwLock<Vec<Diagnostic>>,
    pub replies: Replies,
    pub rules: ThrottleRules,
    /// Residents' local time zone, for "today" in date answers.
    pub time_zone: TimeZone,
}

impl Gateway {
    /// A gateway serving `flows` from `store`.
    pub fn new(store: Store, flows: FlowSet, replies: Replies, time_zone: TimeZone) -> Gateway {
        Gateway {
            store,
            flows: RwLock::new(Arc::new(flows)),
            flow_errors: RwLock::default(),
            replies,
            rules: ThrottleRules::default(),
            time_zone,
        }
    }

    /// The flows being served now.
    pub fn flows(&self) -> Arc<FlowSet> {
        self.flows.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Swaps in a new set of flows; texts already being handled finish on the old set.
    pub fn set_flows(&self, flows: FlowSet) {
        *self.flows.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(flows);
    }

    /// The errors of the flow files that are broken now (each serves its last good version,
    /// if it had one).
    pub fn flow_errors(&self) -> Vec<Diagnostic> {
        self.flow_errors
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Replaces the errors reported by [`Gateway::flow_errors`].
    pub fn set_flow_errors(&self, errors: Vec<Diagnostic>) {
        *self.flow_errors.write().unwrap_or_else(|e| e.into_inner()) = errors;
    }

    /// Handles one inbound text: decides, stores, and returns the replies, all committed.
    pub async fn handle(&self, msg: &InboundText) -> Result<Handled, StoreError> {
        let flows = self.flows();
        let replies = self.replies.clone();
        let rules = self.rules;
        let now = msg.received_at;
        let today = now.to_zoned(self.time_zone.clone()).date();
        let entropy = rand::random();
        let text = msg.body.clone();
        let media = msg.media.clone();
        let provider_command = msg.provider_command;
        let request = match requests::tracking_code_in(&msg.body) {
            Some(code) => self.store.service_request(&code).await?,
            None => None,
        };
        let handled = self
            .store
            .handle_inbound(msg, move |snapshot| {
                let input = dispatch::Input {
                    text: &text,
                    media: &media,
                    now,
                    today,
                    entropy,
                    provider_command,
                    request: request.as_ref(),
                };
                dispatch::decide(&flows, &replies, &rules, snapshot, &input)
            })
            .await?;
        self.without_stale_replays(msg, handled).await
    }

    /// A repeat delivery is answered with what was stored the first time, unless the resident's
    /// consent has changed since in a way that makes it stale (see [`consent::may_replay`]).
    async fn without_stale_replays(
        &self,
        msg: &InboundText,
        mut handled: Handled,
    ) -> Result<Handled, StoreError> {
        if handled.duplicate && !handled.replies.is_empty() {
            let history = self.store.consent_history(&msg.from).await?;
            if !consent::may_replay(&msg.sid, &history) {
                handled.replies.clear();
            }
        }
        Ok(handled)
    }

    /// Current time; one place, so the clock is read at the edge and nowhere else.
    pub fn now() -> Timestamp {
        Timestamp::now()
    }
}
