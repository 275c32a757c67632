//! Delivery status callbacks: Twilio POSTs one to a message's `StatusCallback` URL each time the
//! message moves on (queued, sent, delivered, undelivered, failed, ...). The body is form-encoded
//! and signed like any other webhook; parse it with [`parse_form`](super::inbound::parse_form).

use std::fmt;

use super::inbound::{InboundError, required, single};

/// Where a message stands, as Twilio reports it (`MessageStatus`, or the older `SmsStatus`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MessageStatus {
    /// Accepted by a Messaging Service, not yet given a sender.
    Accepted,
    /// Scheduled to be sent later.
    Scheduled,
    /// Scheduling cancelled before it was sent.
    Canceled,
    /// Waiting in Twilio's queue.
    Queued,
    /// Being handed to the carrier.
    Sending,
    /// Handed to the carrier.
    Sent,
    /// The carrier could not take it, or it expired in the queue.
    Failed,
    /// The carrier confirmed delivery to the handset.
    Delivered,
    /// The carrier reported it could not deliver it.
    Undelivered,
    /// An inbound message being received.
    Receiving,
    /// An inbound message received.
    Received,
    /// Read by the recipient (channels with read receipts only).
    Read,
    /// Some parts of a multi-part message were delivered.
    PartiallyDelivered,
}

impl MessageStatus {
    /// Every status, in Twilio's spelling order.
    pub const ALL: [Self; 13] = [
        Self::Accepted,
        Self::Scheduled,
        Self::Canceled,
        Self::Queued,
        Self::Sending,
        Self::Sent,
        Self::Failed,
        Self::Delivered,
        Self::Undelivered,
        Self::Receiving,
        Self::Received,
        Self::Read,
        Self::PartiallyDelivered,
    ];

    /// Twilio's spelling of the status, such as `undelivered`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Accepted => "accepted",
            Self::Scheduled => "scheduled",
            Self::Canceled => "canceled",
            Self::Queued => "queued",
            Self::Sending => "sending",
            Self::Sent => "sent",
            Self::Failed => "failed",
            Self::Delivered => "delivered",
            Self::Undelivered => "undelivered",
            Self::Receiving => "receiving",
            Self::Received => "received",
            Self::Read => "read",
            Self::PartiallyDelivered => "partially_delivered",
        }
    }

    /// The status Twilio spells `s`, if it is one.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|status| status.as_str() == s)
    }

    /// True once the status can no longer change to another (except `delivered` to `read`).
    pub fn is_final(self) -> bool {
        matches!(
            self,
            Self::Canceled
                | Self::Failed
                | Self::Delivered
                | Self::Undelivered
                | Self::Received
                | Self::Read
                | Self::PartiallyDelivered
        )
    }

    /// How far along an outbound message is, for ordering callbacks that arrive out of order:
    /// a callback with a lower rank than the stored status is stale. Queued-like statuses are
    /// 1, `sending` 2, `sent` 3, outcomes (delivered, undelivered, failed, canceled, partially
    /// delivered) 4, `read` 5; inbound statuses 0.
    pub fn rank(self) -> i32 {
        match self {
            Self::Receiving | Self::Received => 0,
            Self::Accepted | Self::Scheduled | Self::Queued => 1,
            Self::Sending => 2,
            Self::Sent => 3,
            Self::Delivered
            | Self::Undelivered
            | Self::Failed
            | Self::Canceled
            | Self::PartiallyDelivered => 4,
            Self::Read => 5,
        }
    }

    /// True if the message did not reach the resident.
    pub fn is_failure(self) -> bool {
        matches!(self, Self::Failed | Self::Undelivered)
    }
}

impl fmt::Display for MessageStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a status callback was refused. Each message is meant for a `400 Bad Request` body.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StatusError {
    /// A parameter is missing, empty or repeated.
    #[error(transparent)]
    Form(#[from] InboundError),
    /// `MessageStatus` is not a status Twilio documents.
    #[error("unknown MessageStatus {0:?}")]
    UnknownStatus(String),
    /// `ErrorCode` is not a number.
    #[error("ErrorCode is not a number: {0:?}")]
    InvalidErrorCode(String),
}

/// One delivery status callback.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusCallback {
    /// The message this is about (`MessageSid`, or the older `SmsSid`).
    pub message_sid: String,
    /// The account (`AccountSid`), if given.
    pub account_sid: Option<String>,
    /// Where the message stands now.
    pub status: MessageStatus,
    /// Twilio's error code for a failed or undelivered message (`ErrorCode`), such as 30003
    /// (unreachable handset) or 30007 (carrier filtering).
    pub error_code: Option<u32>,
    /// Every parameter as received (`To`, `From`, `RawDlrDoneDate`, ...).
    pub params: Vec<(String, String)>,
}

impl StatusCallback {
    /// Reads the callback out of its form parameters.
    pub fn from_params(params: Vec<(String, String)>) -> Result<Self, StatusError> {
        let message_sid = match single(&params, "MessageSid")? {
            Some(_) => required(&params, "MessageSid")?,
            None => required(&params, "SmsSid").map_err(|e| match e {
                InboundError::Missing(_) => InboundError::Missing("MessageSid"),
                other => other,
            })?,
        }
        .to_owned();
        let raw_status = match single(&params, "MessageStatus")? {
            Some(_) => required(&params, "MessageStatus")?,
            None => required(&params, "SmsStatus").map_err(|e| match e {
                InboundError::Missing(_) => InboundError::Missing("MessageStatus"),
                other => other,
            })?,
        };
        let status = MessageStatus::parse(raw_status)
            .ok_or_else(|| StatusError::UnknownStatus(raw_status.to_owned()))?;
        let error_code = match single(&params, "ErrorCode")? {
            None | Some("") => None,
            Some(raw) => Some(
                raw.parse::<u32>()
                    .map_err(|_| StatusError::InvalidErrorCode(raw.to_owned()))?,
            ),
        };
        let account_sid = single(&params, "AccountSid")?.map(str::to_owned);
        Ok(Self {
            message_sid,
            account_sid,
            status,
            error_code,
            params,
        })
    }

    /// Parses a whole callback body: form decoding, then [`from_params`](Self::from_params).
    pub fn from_form(body: &[u8]) -> Result<Self, StatusError> {
        Self::from_params(super::inbound::parse_form(body)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn ranks_only_move_forward_through_a_messages_life() {
        use MessageStatus::*;
        let life = [Queued, Sending, Sent, Delivered, Read];
        assert!(life.windows(2).all(|w| w[0].rank() < w[1].rank()));
        assert_eq!(Undelivered.rank(), Delivered.rank());
        assert_eq!(Failed.rank(), Delivered.rank());
        assert!(Accepted.rank() < Sent.rank());
    }

    #[test]
    fn a_delivered_callback_parses() {
        let body = b"SmsSid=SM1&SmsStatus=delivered&MessageStatus=delivered&To=%2B15558675310\
&MessageSid=SM1&AccountSid=AC1&From=%2B15017122661&ApiVersion=2010-04-01&RawDlrDoneDate=2503201254";
        let cb = StatusCallback::from_form(body).expect("valid");
        assert_eq!(cb.message_sid, "SM1");
        assert_eq!(cb.account_sid.as_deref(), Some("AC1"));
        assert_eq!(cb.status, MessageStatus::Delivered);
        assert_eq!(cb.error_code, None);
        assert!(cb.status.is_final());
        assert_eq!(cb.params.len(), 9);
    }

    #[test]
    fn an_undelivered_callback_carries_its_error_code() {
        let cb = StatusCallback::from_params(pairs(&[
            ("MessageSid", "SM1"),
            ("MessageStatus", "undelivered"),
            ("ErrorCode", "30003"),
        ]))
        .expect("valid");
        assert_eq!(cb.status, MessageStatus::Undelivered);
        assert!(cb.status.is_failure());
        assert_eq!(cb.error_code, Some(30003));
    }

    #[test]
    fn every_status_round_trips_through_its_spelling() {
        for status in MessageStatus::ALL {
            assert_eq!(MessageStatus::parse(status.as_str()), Some(status));
            assert_eq!(status.to_string(), status.as_str());
        }
        for (raw, status) in [
            ("queued", MessageStatus::Queued),
            ("sent", MessageStatus::Sent),
            ("failed", MessageStatus::Failed),
        ] {
            assert_eq!(MessageStatus::parse(raw), Some(status));
            assert!(!status.is_final() || status == MessageStatus::Failed);
        }
        assert_eq!(MessageStatus::parse("Delivered"), None);
    }

    #[test]
    fn older_parameter_names_are_accepted() {
        let cb = StatusCallback::from_params(pairs(&[("SmsSid", "SM9"), ("SmsStatus", "sent")]))
            .expect("valid");
        assert_eq!(cb.message_sid, "SM9");
        assert_eq!(cb.status, MessageStatus::Sent);
    }

    #[test]
    fn malformed_callbacks_are_refused_with_a_reason() {
        let cases: [(&[(&str, &str)], &str); 6] = [
            (&[("MessageStatus", "sent")], "missing MessageSid parameter"),
            (&[("MessageSid", "SM1")], "missing MessageStatus parameter"),
            (
                &[("MessageSid", "SM1"), ("MessageStatus", "lost")],
                "unknown MessageStatus \"lost\"",
            ),
            (
                &[
                    ("MessageSid", "SM1"),
                    ("MessageStatus", "failed"),
                    ("ErrorCode", "30x"),
                ],
                "ErrorCode is not a number: \"30x\"",
            ),
            (
                &[("MessageSid", ""), ("MessageStatus", "failed")],
                "empty MessageSid parameter",
            ),
            (
                &[
                    ("MessageSid", "SM1"),
                    ("MessageStatus", "sent"),
                    ("MessageStatus", "failed"),
                ],
                "repeated MessageStatus parameter",
            ),
        ];
        for (params, message) in cases {
            let err = StatusCallback::from_params(pairs(params)).unwrap_err();
            assert_eq!(err.to_string(), message);
        }
        assert!(matches!(
            StatusCallback::from_form(b"MessageSid=%zz").unwrap_err(),
            StatusError::Form(InboundError::InvalidPercentEscape { offset: 11 })
        ));
    }
}
