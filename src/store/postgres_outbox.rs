//! The outbox on PostgreSQL, shared by every replica: a claim locks its rows with
//! `FOR UPDATE SKIP LOCKED` (so two replicas never take the same row and never wait for each
//! other's), then the sender's pacing row, so slots are handed out one claim at a time.

use std::collections::{HashMap, HashSet};

use jiff::Timestamp;
use sqlx::{PgConnection, PgPool, Row};

use super::StoreError;
use super::outbox::*;
use super::postgres::{Ts, pg_text, ts};
use super::sqlite_outbox::{body_for, check_field, invitation_states, tally};
use crate::sms::segments;

pub(super) use super::sqlite_outbox::Causes;

/// Queues `text` for contact `contact_id` at `to` inside the caller's transaction. None when a
/// row with the same dedupe key already exists (nothing is added).
pub(super) async fn insert(
    conn: &mut PgConnection,
    contact_id: i64,
    to: &str,
    text: &OutboxText,
    causes: Causes,
    now: Timestamp,
) -> Result<Option<i64>, StoreError> {
    let kind = text.kind;
    Ok(sqlx::query_scalar(
        "INSERT INTO outbox (contact_id, to_addr, body, segments, kind, priority, needs_consent,
                             quiet_hours, broadcast_id, session_id, request_id, dedupe_key,
                             not_before, state, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, 'queued', $14, $15)
         ON CONFLICT (dedupe_key) DO NOTHING
         RETURNING id",
    )
    .bind(contact_id)
    .bind(to)
    .bind(pg_text(&text.body))
    .bind(i32::try_from(text.segments.max(1)).unwrap_or(i32::MAX))
    .bind(kind.as_str())
    .bind(kind.priority())
    .bind(kind.needs_consent())
    .bind(kind.respects_quiet_hours())
    .bind(causes.broadcast_id)
    .bind(causes.session_id)
    .bind(causes.request_id)
    .bind(&text.dedupe_key)
    .bind(ts(text.not_before))
    .bind(ts(now))
    .bind(ts(now))
    .fetch_optional(conn)
    .await?)
}

/// A reminder is superseded once its session is no longer waiting as it was when the reminder
/// was queued: ended, or touched by a text from the resident since (the sweep that queues a
/// reminder leaves `updated_at` alone).
const SUPERSEDED: &str = "(o.kind = 'reminder' AND NOT EXISTS (SELECT 1 FROM sessions s
                           WHERE s.id = o.session_id AND s.status = 'active'
                             AND s.updated_at <= o.created_at))";

/// See [`super::Store::claim_outbox`].
pub(super) async fn claim(
    pool: &PgPool,
    spec: &ClaimSpec,
    policy: &dyn ClaimPolicy,
) -> Result<Claim, StoreError> {
    let mut tx = pool.begin().await?;
    let now = ts(spec.now);
    // A broadcast to a topic goes only to who still consents to it (or to everything) now,
    // not merely when it was queued.
    let consented = consent_sql(Dialect::Postgres, "b.topic");
    let rows = sqlx::query(&format!(
        "SELECT o.id, o.kind, o.to_addr, o.segments, o.body, o.attempts, o.contact_id,
                o.session_id, c.time_zone, c.opted_out, {consented} AS consented,
                c.invalid_at IS NOT NULL AS invalid, c.unreachable_at IS NOT NULL AS unreachable,
                {SUPERSEDED} AS superseded
         FROM outbox o JOIN contacts c ON c.id = o.contact_id
              LEFT JOIN broadcasts b ON b.id = o.broadcast_id
         WHERE o.state = 'queued' AND o.not_before <= $1
         ORDER BY o.priority, o.not_before, o.id LIMIT $2
         FOR UPDATE OF o SKIP LOCKED"
    ))
    .bind(now)
    .bind(i64::from(spec.max_rows))
    .fetch_all(&mut *tx)
    .await?;
    let mut out = Claim::default();
    let mut to_send = Vec::new();
    for r in &rows {
        let kind: String = r.get("kind");
        let kind = OutboxKind::parse(&kind)
            .ok_or_else(|| StoreError::Corrupt(format!("outbox kind {kind:?}")))?;
        let candidate = Candidate {
            id: r.get("id"),
            kind,
            to: r.get("to_addr"),
            segments: u32::try_from(r.get::<i32, _>("segments")).unwrap_or(1),
            time_zone: r.get("time_zone"),
            opted_out: r.get("opted_out"),
            consented: r.get("consented"),
            invalid: r.get("invalid"),
            unreachable: r.get("unreachable"),
            superseded: r.get("superseded"),
        };
        match policy.judge(&candidate) {
            Verdict::Send => to_send.push((candidate, r)),
            Verdict::Skip(reason) => {
                out.skipped += 1;
                sqlx::query(
                    "UPDATE outbox SET state = 'skipped', error = $1, updated_at = $2, done_at = $3
                     WHERE id = $4",
                )
                .bind(reason)
                .bind(now)
                .bind(now)
                .bind(candidate.id)
                .execute(&mut *tx)
                .await?;
            }
            Verdict::Hold(until) => {
                out.held += 1;
                sqlx::query("UPDATE outbox SET not_before = $1, updated_at = $2 WHERE id = $3")
                    .bind(ts(until))
                    .bind(now)
                    .bind(candidate.id)
                    .execute(&mut *tx)
                    .await?;
            }
        }
    }
    if !to_send.is_empty() {
        // The pacing row is locked last (after the outbox rows), by every replica in the same
        // order, so claims queue on it without deadlocking.
        sqlx::query(
            "INSERT INTO send_pacing (sender, next_slot_us) VALUES ($1, 0)
             ON CONFLICT (sender) DO NOTHING",
        )
        .bind(&spec.sender)
        .execute(&mut *tx)
        .await?;
        let next_free: i64 =
            sqlx::query_scalar("SELECT next_slot_us FROM send_pacing WHERE sender = $1 FOR UPDATE")
                .bind(&spec.sender)
                .fetch_one(&mut *tx)
                .await?;
        let segs: Vec<u32> = to_send.iter().map(|(c, _)| c.segments).collect();
        let (slots, next_free) = policy.pace(next_free, &segs);
        sqlx::query(
            "INSERT INTO send_pacing (sender, next_slot_us) VALUES ($1, $2)
             ON CONFLICT (sender) DO UPDATE SET next_slot_us = excluded.next_slot_us",
        )
        .bind(&spec.sender)
        .bind(next_free)
        .execute(&mut *tx)
        .await?;
        let (mut ids, mut attempts, mut leases) = (Vec::new(), Vec::new(), Vec::new());
        for ((c, r), slot_us) in to_send.iter().zip(slots) {
            let slot = Timestamp::from_microsecond(slot_us)
                .map_err(|e| StoreError::Corrupt(format!("send slot: {e}")))?;
            let attempt = u32::try_from(r.get::<i32, _>("attempts")).unwrap_or(0) + 1;
            ids.push(c.id);
            attempts.push(i32::try_from(attempt).unwrap_or(i32::MAX));
            leases.push(ts(slot + spec.lease));
            out.texts.push(ClaimedText {
                id: c.id,
                contact_id: r.get("contact_id"),
                session_id: r.get("session_id"),
                kind: c.kind,
                to: c.to.clone(),
                body: r.get("body"),
                segments: c.segments,
                attempt,
                slot,
            });
        }
        // One statement for the whole batch: a round trip per row would cost more than the
        // claim's reads.
        sqlx::query(
            "UPDATE outbox o SET state = 'sending', attempts = v.attempt, claimed_by = $1,
                    claimed_at = $2, lease_until = v.lease, updated_at = $2
             FROM unnest($3::bigint[], $4::int4[], $5::timestamptz[]) AS v(id, attempt, lease)
             WHERE o.id = v.id",
        )
        .bind(&spec.worker)
        .bind(now)
        .bind(&ids)
        .bind(&attempts)
        .bind(&leases)
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    Ok(out)
}

/// See [`super::Store::record_sends`]: every outcome in one transaction.
///
/// Texts Twilio accepted that open no invitation (nearly all of a broadcast) are recorded
/// together in three statements, whatever their number: a round trip per text made the
/// recorder, not Twilio, the limit of a short code. The rest (failures, retries, invitations,
/// a sid already known) go one at a time.
pub(super) async fn record(
    pool: &PgPool,
    from: &str,
    sends: &[RecordedSend],
) -> Result<(), StoreError> {
    let mut tx = pool.begin().await?;
    let ids: Vec<i64> = sends.iter().map(|s| s.id).collect();
    let pending: HashMap<i64, PlainRow> = sqlx::query(
        "SELECT id, contact_id, session_id, to_addr, body, kind
         FROM outbox
         WHERE id = ANY($1) AND state IN ('sending', 'in_doubt') AND session_state IS NULL",
    )
    .bind(&ids)
    .fetch_all(&mut *tx)
    .await?
    .into_iter()
    .map(|r| {
        (
            r.get("id"),
            PlainRow {
                contact_id: r.get("contact_id"),
                session_id: r.get("session_id"),
                to: r.get("to_addr"),
                body: r.get("body"),
                kind: r.get("kind"),
            },
        )
    })
    .collect();
    let mut plain = PlainSends::default();
    let mut one_by_one = Vec::new();
    let mut seen = HashSet::new();
    for s in sends {
        if !seen.insert(s.id) {
            // A second outcome for the same text changes nothing: the first one is recorded.
            continue;
        }
        match (&s.outcome, pending.get(&s.id)) {
            (
                SendOutcome::Sent {
                    sid,
                    status,
                    segments: billed,
                },
                Some(row),
            ) => plain.push(s, row, sid, status, *billed),
            _ => one_by_one.push(s),
        }
    }
    if !plain.ids.is_empty() {
        // A sid already in `messages` (a reconciled copy, or a double that repeats sids) is
        // not inserted here and is settled by the one-at-a-time path below.
        let inserted: HashMap<String, i64> = sqlx::query_as::<_, (i64, String)>(
            "INSERT INTO messages (direction, sid, contact_id, session_id, from_addr, to_addr,
                                   body, encoding, segments, status, status_rank, status_at,
                                   route, created_at)
             SELECT 'out', v.sid, v.contact_id, v.session_id, $1, v.to_addr, v.body, v.encoding,
                    v.segments, v.status, 1, v.at, v.route, v.at
             FROM unnest($2::text[], $3::bigint[], $4::bigint[], $5::text[], $6::text[],
                         $7::text[], $8::int4[], $9::text[], $10::timestamptz[], $11::text[])
                  AS v(sid, contact_id, session_id, to_addr, body, encoding, segments, status,
                       at, route)
             ON CONFLICT (sid) DO NOTHING
             RETURNING id, sid",
        )
        .bind(from)
        .bind(&plain.sids)
        .bind(&plain.contact_ids)
        .bind(&plain.session_ids)
        .bind(&plain.tos)
        .bind(&plain.bodies)
        .bind(&plain.encodings)
        .bind(&plain.segments)
        .bind(&plain.statuses)
        .bind(&plain.ats)
        .bind(&plain.routes)
        .fetch_all(&mut *tx)
        .await?
        .into_iter()
        .map(|(id, sid)| (sid, id))
        .collect();
        let (mut ids, mut sids, mut message_ids, mut ats) =
            (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        let mut taken = HashSet::new();
        for (i, s) in plain.sends.iter().enumerate() {
            match inserted.get(&plain.sids[i]) {
                // Two texts given one sid: only the first inserted row carries it.
                Some(&m) if taken.insert(m) => {
                    ids.push(plain.ids[i]);
                    sids.push(plain.sids[i].clone());
                    message_ids.push(m);
                    ats.push(plain.ats[i]);
                }
                _ => one_by_one.push(s),
            }
        }
        sqlx::query(
            "UPDATE outbox o SET state = 'sent', sid = v.sid, message_id = v.message_id,
                    error_code = NULL, error = NULL, lease_until = NULL, updated_at = v.at,
                    done_at = v.at
             FROM unnest($1::bigint[], $2::text[], $3::bigint[], $4::timestamptz[])
                  AS v(id, sid, message_id, at)
             WHERE o.id = v.id",
        )
        .bind(&ids)
        .bind(&sids)
        .bind(&message_ids)
        .bind(&ats)
        .execute(&mut *tx)
        .await?;
    }
    for s in one_by_one {
        record_in(&mut tx, s.id, from, &s.outcome, s.at).await?;
    }
    tx.commit().await?;
    Ok(())
}

/// An outbox row being recorded as sent, as read before the batch.
struct PlainRow {
    contact_id: i64,
    session_id: Option<i64>,
    to: String,
    body: String,
    kind: String,
}

/// The columns of the texts recorded together, one array per column.
#[derive(Default)]
struct PlainSends<'a> {
    sends: Vec<&'a RecordedSend>,
    ids: Vec<i64>,
    sids: Vec<String>,
    contact_ids: Vec<i64>,
    session_ids: Vec<Option<i64>>,
    tos: Vec<String>,
    bodies: Vec<String>,
    encodings: Vec<&'static str>,
    segments: Vec<i32>,
    statuses: Vec<String>,
    ats: Vec<Ts>,
    routes: Vec<String>,
}

impl<'a> PlainSends<'a> {
    fn push(
        &mut self,
        send: &'a RecordedSend,
        row: &PlainRow,
        sid: &str,
        status: &str,
        billed: Option<u32>,
    ) {
        let cost = segments::count(&row.body);
        self.sends.push(send);
        self.ids.push(send.id);
        self.sids.push(sid.to_string());
        self.contact_ids.push(row.contact_id);
        self.session_ids.push(row.session_id);
        self.tos.push(row.to.clone());
        self.bodies.push(pg_text(&row.body).into_owned());
        self.encodings.push(cost.encoding.as_str());
        self.segments.push(
            i32::try_from(billed.filter(|n| *n > 0).unwrap_or(cost.segments)).unwrap_or(i32::MAX),
        );
        self.statuses.push(status.to_string());
        self.ats.push(ts(send.at));
        self.routes.push(format!("outbox:{}", row.kind));
    }
}

/// Records the outcome of sending text `id` inside the caller's transaction.
async fn record_in(
    tx: &mut PgConnection,
    id: i64,
    from: &str,
    outcome: &SendOutcome,
    now: Timestamp,
) -> Result<(), StoreError> {
    let at = ts(now);
    let Some(row) = sqlx::query(
        "SELECT contact_id, session_id, to_addr, body, kind, session_state::text AS session_state
         FROM outbox WHERE id = $1 AND state IN ('sending', 'in_doubt')",
    )
    .bind(id)
    .fetch_optional(&mut *tx)
    .await?
    else {
        // Already recorded (a reconciliation got there first): nothing to change.
        return Ok(());
    };
    let contact_id: i64 = row.get("contact_id");
    match outcome {
        SendOutcome::Sent {
            sid,
            status,
            segments: billed,
        } => {
            let body: String = row.get("body");
            let cost = segments::count(&body);
            let mut session_id: Option<i64> = row.get("session_id");
            if let Some(state) = row.get::<Option<String>, _>("session_state") {
                session_id = Some(open_invitation(&mut *tx, contact_id, &state, now).await?);
            }
            let to: String = row.get("to_addr");
            let insert = |sid: Option<&str>| {
                sqlx::query_scalar::<_, i64>(
                    "INSERT INTO messages (direction, sid, contact_id, session_id, from_addr,
                                           to_addr, body, encoding, segments, status, status_rank,
                                           status_at, route, created_at)
                     VALUES ('out', $1, $2, $3, $4, $5, $6, $7, $8, $9, 1, $10, $11, $12)
                     ON CONFLICT (sid) DO NOTHING
                     RETURNING id",
                )
                .bind(sid.map(str::to_owned))
                .bind(contact_id)
                .bind(session_id)
                .bind(from)
                .bind(to.clone())
                .bind(pg_text(&body).into_owned())
                .bind(cost.encoding.as_str())
                .bind(
                    i32::try_from(billed.filter(|n| *n > 0).unwrap_or(cost.segments))
                        .unwrap_or(i32::MAX),
                )
                .bind(status.clone())
                .bind(at)
                .bind(format!("outbox:{}", row.get::<String, _>("kind")))
                .bind(at)
            };
            let message_id = match insert(Some(sid)).fetch_optional(&mut *tx).await? {
                Some(m) => m,
                None => {
                    let (known, known_to): (i64, String) =
                        sqlx::query_as("SELECT id, to_addr FROM messages WHERE sid = $1")
                            .bind(sid)
                            .fetch_one(&mut *tx)
                            .await?;
                    if known_to == to {
                        // The same message at Twilio (a reconciliation matched it).
                        known
                    } else {
                        tracing::warn!(
                            outbox = id,
                            sid,
                            "Twilio gave a MessageSid already recorded for another number: the \
                             text is kept without it"
                        );
                        insert(None).fetch_one(&mut *tx).await?
                    }
                }
            };
            sqlx::query(
                "UPDATE outbox SET state = 'sent', sid = $1, message_id = $2, error_code = NULL,
                        error = NULL, lease_until = NULL, updated_at = $3, done_at = $4,
                        session_id = $5
                 WHERE id = $6",
            )
            .bind(sid)
            .bind(message_id)
            .bind(at)
            .bind(at)
            .bind(session_id)
            .bind(id)
            .execute(&mut *tx)
            .await?;
        }
        SendOutcome::Retry {
            not_before,
            code,
            error,
        } => {
            sqlx::query(
                "UPDATE outbox SET state = 'queued', not_before = $1, error_code = $2, error = $3,
                        claimed_by = NULL, lease_until = NULL, updated_at = $4
                 WHERE id = $5",
            )
            .bind(ts(*not_before))
            .bind(code.and_then(|c| i32::try_from(c).ok()))
            .bind(pg_text(error))
            .bind(at)
            .bind(id)
            .execute(&mut *tx)
            .await?;
        }
        SendOutcome::Failed { code, error, fact } => {
            sqlx::query(
                "UPDATE outbox SET state = 'failed', error_code = $1, error = $2, lease_until = NULL,
                        updated_at = $3, done_at = $4
                 WHERE id = $5",
            )
            .bind(code.and_then(|c| i32::try_from(c).ok()))
            .bind(pg_text(error))
            .bind(at)
            .bind(at)
            .bind(id)
            .execute(&mut *tx)
            .await?;
            match fact {
                RecipientFact::Nothing => {}
                RecipientFact::OptedOut => {
                    sqlx::query(
                        "UPDATE contacts SET opted_out = true, updated_at = $1 WHERE id = $2",
                    )
                    .bind(at)
                    .bind(contact_id)
                    .execute(&mut *tx)
                    .await?;
                    sqlx::query(
                        "INSERT INTO consent_events (contact_id, kind, text, source, created_at)
                         VALUES ($1, 'opt_out', $2, $3, $4)",
                    )
                    .bind(contact_id)
                    .bind(pg_text(error))
                    .bind(format!("twilio:{}", code.unwrap_or(0)))
                    .bind(at)
                    .execute(&mut *tx)
                    .await?;
                }
                RecipientFact::Invalid => {
                    sqlx::query(
                        "UPDATE contacts SET invalid_at = COALESCE(invalid_at, $1) WHERE id = $2",
                    )
                    .bind(at)
                    .bind(contact_id)
                    .execute(&mut *tx)
                    .await?;
                }
            }
        }
    }
    Ok(())
}

/// Opens the session of an invitation that was just sent, so the resident's reply is its first
/// answer. A conversation the resident is still in is interrupted, as a keyword starting
/// another flow would.
async fn open_invitation(
    tx: &mut PgConnection,
    contact_id: i64,
    state: &str,
    now: Timestamp,
) -> Result<i64, StoreError> {
    let session = invitation_session(state, now)?;
    sqlx::query(
        "UPDATE sessions SET status = 'interrupted', ended_at = $1, updated_at = $1
         WHERE contact_id = $2 AND status = 'active'",
    )
    .bind(ts(now))
    .bind(contact_id)
    .execute(&mut *tx)
    .await?;
    let json = serde_json::to_string(&session)
        .map_err(|e| StoreError::Corrupt(format!("invitation session: {e}")))?;
    Ok(sqlx::query_scalar(
        "INSERT INTO sessions (contact_id, flow_id, flow_version, language, status, state,
                               started_at, updated_at, expires_at)
         VALUES ($1, $2, $3, $4, 'active', $5::jsonb, $6, $6, $7) RETURNING id",
    )
    .bind(contact_id)
    .bind(&session.flow)
    .bind(&session.version)
    .bind(&session.language)
    .bind(json)
    .bind(ts(now))
    .bind(session.expires_at.map(ts))
    .fetch_one(&mut *tx)
    .await?)
}

/// See [`super::Store::claim_in_doubt`].
pub(super) async fn claim_in_doubt(
    pool: &PgPool,
    worker: &str,
    now: Timestamp,
    lease: jiff::SignedDuration,
    limit: u32,
) -> Result<Vec<InDoubtText>, StoreError> {
    let mut tx = pool.begin().await?;
    let at = ts(now);
    sqlx::query(
        "UPDATE outbox SET state = 'in_doubt', updated_at = $1
         WHERE state = 'sending' AND lease_until < $2",
    )
    .bind(at)
    .bind(at)
    .execute(&mut *tx)
    .await?;
    let rows = sqlx::query(
        "UPDATE outbox SET claimed_by = $1, lease_until = $2, updated_at = $3
         WHERE id IN (SELECT id FROM outbox WHERE state = 'in_doubt' AND lease_until < $4
                      ORDER BY id LIMIT $5)
         RETURNING id, to_addr, body, claimed_at",
    )
    .bind(worker)
    .bind(ts(now + lease))
    .bind(at)
    .bind(at)
    .bind(i64::from(limit))
    .fetch_all(&mut *tx)
    .await?;
    tx.commit().await?;
    rows.iter()
        .map(|r| {
            Ok(InDoubtText {
                id: r.get("id"),
                to: r.get("to_addr"),
                body: r.get("body"),
                claimed_at: r.get::<Option<Ts>, _>("claimed_at").map_or(now, |t| t.0),
            })
        })
        .collect()
}

/// See [`super::Store::requeue_in_doubt`].
pub(super) async fn requeue(pool: &PgPool, id: i64, now: Timestamp) -> Result<(), StoreError> {
    let at = ts(now);
    sqlx::query(
        "UPDATE outbox SET state = 'queued', not_before = $1, claimed_by = NULL,
                lease_until = NULL, updated_at = $2
         WHERE id = $3 AND state = 'in_doubt'",
    )
    .bind(at)
    .bind(at)
    .bind(id)
    .execute(pool)
    .await?;
    Ok(())
}

/// The audience query: contacts who consent (to the topic, when `topic`) and are reachable,
/// narrowed by `audience`. Its value is `$1`, and the topic the next parameter.
// The `IN` names what the consent condition implies: only contacts with an opt-in can be in
// the audience, so the query starts from them instead of reading every contact ever seen (most
// residents who answered a survey never opted in).
fn audience_sql(audience: &Audience, topic: bool) -> Result<String, StoreError> {
    let mut filter = String::new();
    let topic_param = match audience {
        Audience::Everyone => "$1",
        Audience::Field { name, .. } => {
            check_field(name)?;
            filter.push_str(&format!(" AND c.fields->>'{name}' = $1"));
            "$2"
        }
        Audience::Phones(_) => {
            filter.push_str(" AND c.phone = ANY($1)");
            "$2"
        }
    };
    let consented = bulk_consent_sql(Dialect::Postgres, if topic { topic_param } else { "NULL" });
    Ok(format!(
        "SELECT c.id, c.phone, c.language, c.time_zone FROM contacts c
         WHERE c.id IN (SELECT e.contact_id FROM consent_events e WHERE e.kind = 'opt_in')
           AND {consented} AND c.invalid_at IS NULL AND c.unreachable_at IS NULL{filter}"
    ))
}

/// See [`super::Store::audience`].
pub(super) async fn audience(
    pool: &PgPool,
    audience: &Audience,
    topic: Option<&str>,
) -> Result<Vec<AudienceMember>, StoreError> {
    let mut conn = pool.acquire().await?;
    members(&mut conn, audience, topic).await
}

/// The audience query `sql` (built on [`audience_sql`]) with its parameters bound.
fn audience_query<'q>(
    sql: &'q str,
    audience: &'q Audience,
    topic: Option<&'q str>,
) -> sqlx::query::Query<'q, sqlx::Postgres, sqlx::postgres::PgArguments> {
    let mut q = sqlx::query(sql);
    match audience {
        Audience::Everyone => {}
        Audience::Field { value, .. } => q = q.bind(value),
        Audience::Phones(phones) => q = q.bind(phones),
    }
    if let Some(topic) = topic {
        q = q.bind(topic);
    }
    q
}

async fn members(
    conn: &mut PgConnection,
    audience: &Audience,
    topic: Option<&str>,
) -> Result<Vec<AudienceMember>, StoreError> {
    let sql = format!("{} ORDER BY c.id", audience_sql(audience, topic.is_some())?);
    Ok(audience_query(&sql, audience, topic)
        .fetch_all(conn)
        .await?
        .iter()
        .map(|r| AudienceMember {
            contact_id: r.get("id"),
            phone: r.get("phone"),
            language: r.get("language"),
            time_zone: r.get("time_zone"),
        })
        .collect())
}

/// See [`super::Store::audience_groups`].
pub(super) async fn audience_groups(
    pool: &PgPool,
    audience: &Audience,
    topic: Option<&str>,
) -> Result<Vec<AudienceGroup>, StoreError> {
    let sql = format!(
        "SELECT language, time_zone,
                CASE WHEN phone ~ '^\\+1[0-9]{{10}}$' THEN substr(phone, 3, 3) END AS area_code,
                COUNT(*) AS members
         FROM ({}) a GROUP BY 1, 2, 3 ORDER BY 1, 2, 3",
        audience_sql(audience, topic.is_some())?
    );
    audience_query(&sql, audience, topic)
        .fetch_all(pool)
        .await?
        .iter()
        .map(|r| {
            Ok(AudienceGroup {
                language: r.try_get("language")?,
                time_zone: r.try_get("time_zone")?,
                area_code: r.try_get("area_code")?,
                members: u64::try_from(r.try_get::<i64, _>("members")?).unwrap_or(0),
            })
        })
        .collect()
}

/// See [`super::Store::queue_broadcast`].
pub(super) async fn queue_broadcast(
    pool: &PgPool,
    b: &NewBroadcast,
) -> Result<(i64, i64), StoreError> {
    let mut tx = pool.begin().await?;
    let people = members(&mut tx, &b.audience, b.topic.as_deref()).await?;
    let texts: serde_json::Map<String, serde_json::Value> = b
        .texts
        .iter()
        .map(|(l, t)| (l.clone(), serde_json::Value::String(t.clone())))
        .collect();
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO broadcasts (texts, audience, send_at, status, recipients, created_by,
                                 created_at, flow_id, topic)
         VALUES ($1::jsonb, $2, $3, 'queued', $4, $5, $6, $7, $8) RETURNING id",
    )
    .bind(serde_json::Value::Object(texts).to_string())
    .bind(&b.audience_label)
    .bind(ts(b.send_at))
    .bind(i32::try_from(people.len()).unwrap_or(i32::MAX))
    .bind(&b.created_by)
    .bind(ts(b.now))
    .bind(b.invitation.as_ref().map(|i| &i.flow_id))
    .bind(&b.topic)
    .fetch_one(&mut *tx)
    .await?;
    let kind = if b.invitation.is_some() {
        OutboxKind::Invitation
    } else {
        OutboxKind::Broadcast
    };
    let sessions = invitation_states(b)?;
    let mut queued = 0;
    for p in &people {
        let body = body_for(&b.texts, p.language.as_deref());
        let text = OutboxText {
            kind,
            body: body.to_string(),
            segments: segments::count(body).segments,
            not_before: b.send_at,
            dedupe_key: Some(format!("broadcast:{id}:{}", p.contact_id)),
        };
        let causes = Causes {
            broadcast_id: Some(id),
            ..Causes::default()
        };
        if let Some(row) = insert(&mut tx, p.contact_id, &p.phone, &text, causes, b.now).await? {
            queued += 1;
            if !sessions.is_empty() {
                sqlx::query("UPDATE outbox SET session_state = $1::jsonb WHERE id = $2")
                    .bind(body_for(&sessions, p.language.as_deref()))
                    .bind(row)
                    .execute(&mut *tx)
                    .await?;
            }
        }
    }
    tx.commit().await?;
    Ok((id, queued))
}

/// Whether `r` names a resident forgotten while opted out: the number's hash is kept and no
/// contact has the number (one who texted again since is a contact, with their own consent).
async fn forgotten_opt_out(
    conn: &mut PgConnection,
    r: &ImportedConsent,
) -> Result<bool, StoreError> {
    Ok(sqlx::query(
        "SELECT 1 FROM forgotten_opt_outs
         WHERE phone_hash = $1 AND NOT EXISTS (SELECT 1 FROM contacts WHERE phone = $2)",
    )
    .bind(&r.erased_hash)
    .bind(&r.phone)
    .fetch_optional(&mut *conn)
    .await?
    .is_some())
}

/// See [`super::Store::forgotten_opt_outs_among`].
pub(super) async fn forgotten_opt_outs_among(
    pool: &PgPool,
    rows: &[ImportedConsent],
) -> Result<Vec<usize>, StoreError> {
    let mut conn = pool.acquire().await?;
    let mut out = Vec::new();
    for (i, r) in rows.iter().enumerate() {
        if forgotten_opt_out(&mut conn, r).await? {
            out.push(i);
        }
    }
    Ok(out)
}

/// See [`super::Store::import_consents`].
pub(super) async fn import_consents(
    pool: &PgPool,
    rows: &[ImportedConsent],
    now: Timestamp,
) -> Result<ConsentImport, StoreError> {
    let mut tx = pool.begin().await?;
    let at = ts(now);
    let mut done = ConsentImport::default();
    for (i, r) in rows.iter().enumerate() {
        if forgotten_opt_out(&mut tx, r).await? {
            done.forgotten_opt_outs.push(i);
            continue;
        }
        done.recorded += 1;
        let contact_id: i64 = sqlx::query_scalar(
            "INSERT INTO contacts (phone, created_at, updated_at) VALUES ($1, $2, $3)
             ON CONFLICT (phone) DO UPDATE SET phone = excluded.phone RETURNING id",
        )
        .bind(&r.phone)
        .bind(at)
        .bind(at)
        .fetch_one(&mut *tx)
        .await?;
        sqlx::query(
            "INSERT INTO consent_events (contact_id, kind, text, source, given_at, created_at,
                                         topic)
             VALUES ($1, 'opt_in', '', $2, $3, $4, $5)",
        )
        .bind(contact_id)
        .bind(&r.source)
        .bind(ts(r.given_at))
        .bind(at)
        .bind(&r.topic)
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    Ok(done)
}

/// See [`super::Store::broadcast_progress`].
pub(super) async fn progress(
    pool: &PgPool,
    id: i64,
) -> Result<Option<BroadcastProgress>, StoreError> {
    let Some(b) = sqlx::query("SELECT status, recipients FROM broadcasts WHERE id = $1")
        .bind(id)
        .fetch_optional(pool)
        .await?
    else {
        return Ok(None);
    };
    let mut p = BroadcastProgress {
        id,
        status: b.get("status"),
        recipients: i64::from(b.get::<i32, _>("recipients")),
        ..Default::default()
    };
    let rows = sqlx::query(
        "SELECT state, COUNT(*) AS n FROM outbox WHERE broadcast_id = $1 GROUP BY state",
    )
    .bind(id)
    .fetch_all(pool)
    .await?;
    for r in rows {
        let n: i64 = r.get("n");
        tally(&mut p, r.get::<&str, _>("state"), n);
    }
    Ok(Some(p))
}

/// See [`super::Store::cancel_broadcast`].
pub(super) async fn cancel(pool: &PgPool, id: i64, now: Timestamp) -> Result<i64, StoreError> {
    let mut tx = pool.begin().await?;
    let at = ts(now);
    sqlx::query(
        "UPDATE broadcasts SET status = 'cancelled', cancelled_at = $1 WHERE id = $2 AND status = 'queued'",
    )
    .bind(at)
    .bind(id)
    .execute(&mut *tx)
    .await?;
    let n = sqlx::query(
        "UPDATE outbox SET state = 'cancelled', updated_at = $1, done_at = $2
         WHERE broadcast_id = $3 AND state = 'queued'",
    )
    .bind(at)
    .bind(at)
    .bind(id)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    tx.commit().await?;
    Ok(i64::try_from(n).unwrap_or(i64::MAX))
}

/// See [`super::Store::release_to_doubt`].
pub(super) async fn release_to_doubt(
    pool: &PgPool,
    id: i64,
    now: Timestamp,
) -> Result<(), StoreError> {
    let at = ts(now);
    sqlx::query(
        "UPDATE outbox SET lease_until = $1, updated_at = $2 WHERE id = $3 AND state = 'sending'",
    )
    .bind(at)
    .bind(at)
    .bind(id)
    .execute(pool)
    .await?;
    Ok(())
}

/// See [`super::Store::record_delivery`].
pub(super) async fn record_delivery(
    pool: &PgPool,
    d: &DeliveryUpdate,
) -> Result<Option<bool>, StoreError> {
    let mut tx = pool.begin().await?;
    let at = ts(d.at);
    // Only forward: a late `sent` never overwrites `delivered`.
    let contact: Option<i64> = sqlx::query_scalar(
        "UPDATE messages SET status = $1, status_rank = $2, error_code = COALESCE($3, error_code),
                status_at = $4
         WHERE sid = $5 AND direction = 'out' AND status_rank < $6
         RETURNING contact_id",
    )
    .bind(&d.status)
    .bind(d.rank)
    .bind(d.error_code.and_then(|c| i32::try_from(c).ok()))
    .bind(at)
    .bind(&d.sid)
    .bind(d.rank)
    .fetch_optional(&mut *tx)
    .await?;
    let Some(contact) = contact else {
        let known: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM messages WHERE sid = $1 AND direction = 'out'",
        )
        .bind(&d.sid)
        .fetch_one(&mut *tx)
        .await?;
        return Ok((known > 0).then_some(false));
    };
    if d.unreachable {
        sqlx::query(
            "UPDATE contacts SET delivery_failures = delivery_failures + 1,
                    unreachable_at = CASE WHEN delivery_failures + 1 >= $1 THEN COALESCE(unreachable_at, $2)
                                          ELSE unreachable_at END
                 WHERE id = $3",
        )
        .bind(i32::try_from(d.unreachable_after).unwrap_or(i32::MAX))
        .bind(at)
        .bind(contact)
        .execute(&mut *tx)
        .await?;
    } else if d.delivered {
        sqlx::query(
            "UPDATE contacts SET delivery_failures = 0, unreachable_at = NULL WHERE id = $1",
        )
        .bind(contact)
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    Ok(Some(true))
}

/// See [`super::Store::broadcasts`] and [`super::Store::broadcast`] (`only`: that one).
pub(super) async fn broadcasts(
    pool: &PgPool,
    limit: u32,
    before: Option<i64>,
    only: Option<i64>,
) -> Result<Vec<BroadcastSummary>, StoreError> {
    let rows = sqlx::query(
        "SELECT id, texts::text AS texts, flow_id, audience, topic, send_at, status, recipients,
                created_by, created_at, cancelled_at
         FROM broadcasts
         WHERE ($1::bigint IS NULL OR id < $1) AND ($2::bigint IS NULL OR id = $2)
         ORDER BY id DESC LIMIT $3",
    )
    .bind(before)
    .bind(only)
    .bind(i64::from(limit))
    .fetch_all(pool)
    .await?;
    let mut out: Vec<BroadcastSummary> = rows
        .iter()
        .map(|r| {
            let id: i64 = r.get("id");
            BroadcastSummary {
                id,
                texts: super::sqlite_outbox::texts_of(r.get("texts")),
                flow_id: r.get("flow_id"),
                audience: r.get("audience"),
                topic: r.get("topic"),
                send_at: r.get::<Ts, _>("send_at").0,
                created_by: r.get("created_by"),
                created_at: r.get::<Ts, _>("created_at").0,
                cancelled_at: r.get::<Option<Ts>, _>("cancelled_at").map(|t| t.0),
                progress: BroadcastProgress {
                    id,
                    status: r.get("status"),
                    recipients: i64::from(r.get::<i32, _>("recipients")),
                    ..Default::default()
                },
            }
        })
        .collect();
    if let (Some(first), Some(last)) = (out.first(), out.last()) {
        // The listed broadcasts are one id range; the (broadcast_id, state) index covers it.
        let counts = sqlx::query(
            "SELECT broadcast_id, state, COUNT(*) AS n FROM outbox
             WHERE broadcast_id BETWEEN $1 AND $2 GROUP BY broadcast_id, state",
        )
        .bind(last.id)
        .bind(first.id)
        .fetch_all(pool)
        .await?;
        for c in counts {
            let id: i64 = c.get("broadcast_id");
            if let Some(b) = out.iter_mut().find(|b| b.id == id) {
                tally(&mut b.progress, c.get::<&str, _>("state"), c.get("n"));
            }
        }
    }
    Ok(out)
}
