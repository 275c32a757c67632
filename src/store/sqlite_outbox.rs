//! The outbox on SQLite. Every claim runs in a `BEGIN IMMEDIATE` transaction: SQLite has one
//! writer, so two claims never see the same queued row.

use jiff::Timestamp;
use sqlx::{Row, SqliteConnection, SqlitePool};

use super::StoreError;
use super::outbox::*;
use super::sqlite::parse_ts;
use crate::sms::segments;

/// What caused an outbox row, kept with it.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct Causes {
    pub broadcast_id: Option<i64>,
    pub session_id: Option<i64>,
    pub request_id: Option<i64>,
}

/// Queues `text` for contact `contact_id` at `to` inside the caller's transaction. None when a
/// row with the same dedupe key already exists (nothing is added).
pub(super) async fn insert(
    conn: &mut SqliteConnection,
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
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'queued', ?, ?)
         ON CONFLICT (dedupe_key) DO NOTHING
         RETURNING id",
    )
    .bind(contact_id)
    .bind(to)
    .bind(&text.body)
    .bind(i64::from(text.segments.max(1)))
    .bind(kind.as_str())
    .bind(kind.priority())
    .bind(kind.needs_consent())
    .bind(kind.respects_quiet_hours())
    .bind(causes.broadcast_id)
    .bind(causes.session_id)
    .bind(causes.request_id)
    .bind(&text.dedupe_key)
    .bind(fixed_ts(text.not_before))
    .bind(fixed_ts(now))
    .bind(fixed_ts(now))
    .fetch_optional(conn)
    .await?)
}

/// A reminder is superseded once its session is no longer waiting as it was when the reminder
/// was queued: ended, or touched by a text from the resident since (the sweep that queues a
/// reminder leaves `updated_at` alone).
const SUPERSEDED: &str = "(o.kind = 'reminder' AND NOT EXISTS (SELECT 1 FROM sessions s
                           WHERE s.id = o.session_id AND s.status = 'active'
                             AND julianday(s.updated_at) <= julianday(o.created_at)))";

/// See [`super::Store::claim_outbox`].
pub(super) async fn claim(
    pool: &SqlitePool,
    spec: &ClaimSpec,
    policy: &dyn ClaimPolicy,
) -> Result<Claim, StoreError> {
    let mut tx = pool.begin_with("BEGIN IMMEDIATE").await?;
    let now = fixed_ts(spec.now);
    // A broadcast to a topic goes only to who still consents to it (or to everything) now,
    // not merely when it was queued.
    let consented = consent_sql(Dialect::Sqlite, "b.topic");
    let rows = sqlx::query(&format!(
        "SELECT o.id, o.kind, o.to_addr, o.segments, o.body, o.attempts, o.contact_id,
                o.session_id, c.time_zone, c.opted_out, {consented} AS consented,
                c.invalid_at IS NOT NULL AS invalid, c.unreachable_at IS NOT NULL AS unreachable,
                {SUPERSEDED} AS superseded
         FROM outbox o JOIN contacts c ON c.id = o.contact_id
              LEFT JOIN broadcasts b ON b.id = o.broadcast_id
         WHERE o.state = 'queued' AND o.not_before <= ?
         ORDER BY o.priority, o.not_before, o.id LIMIT ?"
    ))
    .bind(&now)
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
            segments: u32::try_from(r.get::<i64, _>("segments")).unwrap_or(1),
            time_zone: r.get("time_zone"),
            opted_out: r.get::<i64, _>("opted_out") != 0,
            consented: r.get::<i64, _>("consented") != 0,
            invalid: r.get::<i64, _>("invalid") != 0,
            unreachable: r.get::<i64, _>("unreachable") != 0,
            superseded: r.get::<i64, _>("superseded") != 0,
        };
        match policy.judge(&candidate) {
            Verdict::Send => to_send.push((candidate, r)),
            Verdict::Skip(reason) => {
                out.skipped += 1;
                sqlx::query(
                    "UPDATE outbox SET state = 'skipped', error = ?, updated_at = ?, done_at = ?
                     WHERE id = ?",
                )
                .bind(reason)
                .bind(&now)
                .bind(&now)
                .bind(candidate.id)
                .execute(&mut *tx)
                .await?;
            }
            Verdict::Hold(until) => {
                out.held += 1;
                sqlx::query("UPDATE outbox SET not_before = ?, updated_at = ? WHERE id = ?")
                    .bind(fixed_ts(until))
                    .bind(&now)
                    .bind(candidate.id)
                    .execute(&mut *tx)
                    .await?;
            }
        }
    }
    if !to_send.is_empty() {
        let next_free: i64 =
            sqlx::query_scalar("SELECT next_slot_us FROM send_pacing WHERE sender = ?")
                .bind(&spec.sender)
                .fetch_optional(&mut *tx)
                .await?
                .unwrap_or(0);
        let segs: Vec<u32> = to_send.iter().map(|(c, _)| c.segments).collect();
        let (slots, next_free) = policy.pace(next_free, &segs);
        sqlx::query(
            "INSERT INTO send_pacing (sender, next_slot_us) VALUES (?, ?)
             ON CONFLICT (sender) DO UPDATE SET next_slot_us = excluded.next_slot_us",
        )
        .bind(&spec.sender)
        .bind(next_free)
        .execute(&mut *tx)
        .await?;
        for ((c, r), slot_us) in to_send.iter().zip(slots) {
            let slot = Timestamp::from_microsecond(slot_us)
                .map_err(|e| StoreError::Corrupt(format!("send slot: {e}")))?;
            let attempt = u32::try_from(r.get::<i64, _>("attempts")).unwrap_or(0) + 1;
            sqlx::query(
                "UPDATE outbox SET state = 'sending', attempts = ?, claimed_by = ?,
                        claimed_at = ?, lease_until = ?, updated_at = ?
                 WHERE id = ?",
            )
            .bind(i64::from(attempt))
            .bind(&spec.worker)
            .bind(&now)
            .bind(fixed_ts(slot + spec.lease))
            .bind(&now)
            .bind(c.id)
            .execute(&mut *tx)
            .await?;
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
    }
    tx.commit().await?;
    Ok(out)
}

/// See [`super::Store::record_sends`]: every outcome in one transaction.
pub(super) async fn record(
    pool: &SqlitePool,
    from: &str,
    sends: &[RecordedSend],
) -> Result<(), StoreError> {
    let mut tx = pool.begin_with("BEGIN IMMEDIATE").await?;
    for s in sends {
        record_in(&mut tx, s.id, from, &s.outcome, s.at).await?;
    }
    tx.commit().await?;
    Ok(())
}

/// Records the outcome of sending text `id` inside the caller's transaction.
async fn record_in(
    tx: &mut SqliteConnection,
    id: i64,
    from: &str,
    outcome: &SendOutcome,
    now: Timestamp,
) -> Result<(), StoreError> {
    let at = fixed_ts(now);
    let Some(row) = sqlx::query(
        "SELECT contact_id, session_id, to_addr, body, kind, session_state FROM outbox
         WHERE id = ? AND state IN ('sending', 'in_doubt')",
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
                     VALUES ('out', ?, ?, ?, ?, ?, ?, ?, ?, ?, 1, ?, ?, ?)
                     ON CONFLICT (sid) DO NOTHING
                     RETURNING id",
                )
                .bind(sid.map(str::to_owned))
                .bind(contact_id)
                .bind(session_id)
                .bind(from)
                .bind(to.clone())
                .bind(body.clone())
                .bind(cost.encoding.as_str())
                .bind(i64::from(
                    billed.filter(|n| *n > 0).unwrap_or(cost.segments),
                ))
                .bind(status.clone())
                .bind(at.clone())
                .bind(format!("outbox:{}", row.get::<String, _>("kind")))
                .bind(at.clone())
            };
            let message_id = match insert(Some(sid)).fetch_optional(&mut *tx).await? {
                Some(m) => m,
                None => {
                    let (known, known_to): (i64, String) =
                        sqlx::query_as("SELECT id, to_addr FROM messages WHERE sid = ?")
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
                "UPDATE outbox SET state = 'sent', sid = ?, message_id = ?, error_code = NULL,
                        error = NULL, lease_until = NULL, updated_at = ?, done_at = ?,
                        session_id = ?
                 WHERE id = ?",
            )
            .bind(sid)
            .bind(message_id)
            .bind(&at)
            .bind(&at)
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
                "UPDATE outbox SET state = 'queued', not_before = ?, error_code = ?, error = ?,
                        claimed_by = NULL, lease_until = NULL, updated_at = ?
                 WHERE id = ?",
            )
            .bind(fixed_ts(*not_before))
            .bind(code.map(i64::from))
            .bind(error)
            .bind(&at)
            .bind(id)
            .execute(&mut *tx)
            .await?;
        }
        SendOutcome::Failed { code, error, fact } => {
            sqlx::query(
                "UPDATE outbox SET state = 'failed', error_code = ?, error = ?, lease_until = NULL,
                        updated_at = ?, done_at = ?
                 WHERE id = ?",
            )
            .bind(code.map(i64::from))
            .bind(error)
            .bind(&at)
            .bind(&at)
            .bind(id)
            .execute(&mut *tx)
            .await?;
            match fact {
                RecipientFact::Nothing => {}
                RecipientFact::OptedOut => {
                    sqlx::query("UPDATE contacts SET opted_out = 1, updated_at = ? WHERE id = ?")
                        .bind(&at)
                        .bind(contact_id)
                        .execute(&mut *tx)
                        .await?;
                    sqlx::query(
                        "INSERT INTO consent_events (contact_id, kind, text, source, created_at)
                         VALUES (?, 'opt_out', ?, ?, ?)",
                    )
                    .bind(contact_id)
                    .bind(error)
                    .bind(format!("twilio:{}", code.unwrap_or(0)))
                    .bind(&at)
                    .execute(&mut *tx)
                    .await?;
                }
                RecipientFact::Invalid => {
                    sqlx::query(
                        "UPDATE contacts SET invalid_at = COALESCE(invalid_at, ?) WHERE id = ?",
                    )
                    .bind(&at)
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
    tx: &mut SqliteConnection,
    contact_id: i64,
    state: &str,
    now: Timestamp,
) -> Result<i64, StoreError> {
    let session = invitation_session(state, now)?;
    let at = super::sqlite::ts(now);
    sqlx::query(
        "UPDATE sessions SET status = 'interrupted', ended_at = ?, updated_at = ?
         WHERE contact_id = ? AND status = 'active'",
    )
    .bind(&at)
    .bind(&at)
    .bind(contact_id)
    .execute(&mut *tx)
    .await?;
    let json = serde_json::to_string(&session)
        .map_err(|e| StoreError::Corrupt(format!("invitation session: {e}")))?;
    Ok(sqlx::query_scalar(
        "INSERT INTO sessions (contact_id, flow_id, flow_version, language, status, state,
                               started_at, updated_at, expires_at)
         VALUES (?, ?, ?, ?, 'active', ?, ?, ?, ?) RETURNING id",
    )
    .bind(contact_id)
    .bind(&session.flow)
    .bind(&session.version)
    .bind(&session.language)
    .bind(json)
    .bind(&at)
    .bind(&at)
    .bind(session.expires_at.map(super::sqlite::ts))
    .fetch_one(&mut *tx)
    .await?)
}

/// See [`super::Store::claim_in_doubt`].
pub(super) async fn claim_in_doubt(
    pool: &SqlitePool,
    worker: &str,
    now: Timestamp,
    lease: jiff::SignedDuration,
    limit: u32,
) -> Result<Vec<InDoubtText>, StoreError> {
    let mut tx = pool.begin_with("BEGIN IMMEDIATE").await?;
    let at = fixed_ts(now);
    sqlx::query(
        "UPDATE outbox SET state = 'in_doubt', updated_at = ?
         WHERE state = 'sending' AND lease_until < ?",
    )
    .bind(&at)
    .bind(&at)
    .execute(&mut *tx)
    .await?;
    let rows = sqlx::query(
        "UPDATE outbox SET claimed_by = ?, lease_until = ?, updated_at = ?
         WHERE id IN (SELECT id FROM outbox WHERE state = 'in_doubt' AND lease_until < ?
                      ORDER BY id LIMIT ?)
         RETURNING id, to_addr, body, claimed_at",
    )
    .bind(worker)
    .bind(fixed_ts(now + lease))
    .bind(&at)
    .bind(&at)
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
                claimed_at: parse_ts(r.get("claimed_at"))?.unwrap_or(now),
            })
        })
        .collect()
}

/// See [`super::Store::requeue_in_doubt`].
pub(super) async fn requeue(pool: &SqlitePool, id: i64, now: Timestamp) -> Result<(), StoreError> {
    let at = fixed_ts(now);
    sqlx::query(
        "UPDATE outbox SET state = 'queued', not_before = ?, claimed_by = NULL,
                lease_until = NULL, updated_at = ?
         WHERE id = ? AND state = 'in_doubt'",
    )
    .bind(&at)
    .bind(&at)
    .bind(id)
    .execute(pool)
    .await?;
    Ok(())
}

/// The audience query: contacts who consent (to the topic, when `topic`) and are reachable,
/// narrowed by `audience`. Its value is parameter `?1`, and the topic the next one.
// The `IN` names what the consent condition implies: only contacts with an opt-in can be in
// the audience, so the query starts from them instead of reading every contact ever seen (most
// residents who answered a survey never opted in).
fn audience_sql(audience: &Audience, topic: bool) -> Result<String, StoreError> {
    let mut filter = String::new();
    let topic_param = match audience {
        Audience::Everyone => "?1",
        Audience::Field { name, .. } => {
            check_field(name)?;
            filter.push_str(&format!(" AND json_extract(c.fields, '$.{name}') = ?1"));
            "?2"
        }
        Audience::Phones(_) => {
            filter.push_str(" AND c.phone IN (SELECT value FROM json_each(?1))");
            "?2"
        }
    };
    let consented = bulk_consent_sql(Dialect::Sqlite, if topic { topic_param } else { "NULL" });
    Ok(format!(
        "SELECT c.id, c.phone, c.language, c.time_zone FROM contacts c
         WHERE c.id IN (SELECT e.contact_id FROM consent_events e WHERE e.kind = 'opt_in')
           AND {consented} AND c.invalid_at IS NULL AND c.unreachable_at IS NULL{filter}"
    ))
}

/// Profile field names are letters, digits and `_` (they are spliced into a JSON path).
pub(super) fn check_field(name: &str) -> Result<(), StoreError> {
    if !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    {
        Ok(())
    } else {
        Err(StoreError::Invalid(format!(
            "field {name:?}: use letters, digits, - or _"
        )))
    }
}

/// See [`super::Store::audience`].
pub(super) async fn audience(
    pool: &SqlitePool,
    audience: &Audience,
    topic: Option<&str>,
) -> Result<Vec<AudienceMember>, StoreError> {
    let mut conn = pool.acquire().await?;
    members(&mut conn, audience, topic).await
}

/// The audience query of `audience` and `topic` (see [`audience_sql`]) wrapped by `wrap`, with
/// its parameters bound.
fn audience_query<'q>(
    sql: &'q str,
    audience: &'q Audience,
    topic: Option<&'q str>,
) -> sqlx::query::Query<'q, sqlx::Sqlite, sqlx::sqlite::SqliteArguments<'q>> {
    let mut q = sqlx::query(sql);
    match audience {
        Audience::Everyone => {}
        Audience::Field { value, .. } => q = q.bind(value),
        Audience::Phones(phones) => {
            q = q.bind(serde_json::to_string(phones).expect("strings serialise"))
        }
    }
    if let Some(topic) = topic {
        q = q.bind(topic);
    }
    q
}

async fn members(
    conn: &mut SqliteConnection,
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
    pool: &SqlitePool,
    audience: &Audience,
    topic: Option<&str>,
) -> Result<Vec<AudienceGroup>, StoreError> {
    let sql = format!(
        "SELECT language, time_zone,
                CASE WHEN phone GLOB '+1{digits}' THEN substr(phone, 3, 3) END AS area_code,
                COUNT(*) AS members
         FROM ({inner}) GROUP BY 1, 2, 3 ORDER BY 1, 2, 3",
        digits = "[0-9]".repeat(10),
        inner = audience_sql(audience, topic.is_some())?
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
    pool: &SqlitePool,
    b: &NewBroadcast,
) -> Result<(i64, i64), StoreError> {
    let mut tx = pool.begin_with("BEGIN IMMEDIATE").await?;
    let people = members(&mut tx, &b.audience, b.topic.as_deref()).await?;
    let texts: serde_json::Map<String, serde_json::Value> = b
        .texts
        .iter()
        .map(|(l, t)| (l.clone(), serde_json::Value::String(t.clone())))
        .collect();
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO broadcasts (texts, audience, send_at, status, recipients, created_by,
                                 created_at, flow_id, topic)
         VALUES (?, ?, ?, 'queued', ?, ?, ?, ?, ?) RETURNING id",
    )
    .bind(serde_json::Value::Object(texts).to_string())
    .bind(&b.audience_label)
    .bind(fixed_ts(b.send_at))
    .bind(i64::try_from(people.len()).unwrap_or(i64::MAX))
    .bind(&b.created_by)
    .bind(fixed_ts(b.now))
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
                sqlx::query("UPDATE outbox SET session_state = ? WHERE id = ?")
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

/// An invitation's session per language, as stored JSON (empty for a plain broadcast).
pub(super) fn invitation_states(b: &NewBroadcast) -> Result<Vec<(String, String)>, StoreError> {
    b.invitation.as_ref().map_or(Ok(Vec::new()), |i| {
        i.sessions
            .iter()
            .map(|(l, s)| {
                serde_json::to_string(s)
                    .map(|j| (l.clone(), j))
                    .map_err(|e| StoreError::Invalid(format!("invitation session: {e}")))
            })
            .collect()
    })
}

/// The text for a contact in `language`: theirs if the broadcast has it, else the first.
pub(super) fn body_for<'a>(texts: &'a [(String, String)], language: Option<&str>) -> &'a str {
    texts
        .iter()
        .find(|(l, _)| Some(l.as_str()) == language)
        .or(texts.first())
        .map_or("", |(_, t)| t.as_str())
}

/// Whether `r` names a resident forgotten while opted out: the number's hash is kept and no
/// contact has the number (one who texted again since is a contact, with their own consent).
async fn forgotten_opt_out(
    conn: &mut SqliteConnection,
    r: &ImportedConsent,
) -> Result<bool, StoreError> {
    Ok(sqlx::query(
        "SELECT 1 FROM forgotten_opt_outs
         WHERE phone_hash = ? AND NOT EXISTS (SELECT 1 FROM contacts WHERE phone = ?)",
    )
    .bind(&r.erased_hash)
    .bind(&r.phone)
    .fetch_optional(&mut *conn)
    .await?
    .is_some())
}

/// See [`super::Store::forgotten_opt_outs_among`].
pub(super) async fn forgotten_opt_outs_among(
    pool: &SqlitePool,
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
    pool: &SqlitePool,
    rows: &[ImportedConsent],
    now: Timestamp,
) -> Result<ConsentImport, StoreError> {
    let mut tx = pool.begin_with("BEGIN IMMEDIATE").await?;
    let at = super::sqlite::ts(now);
    let mut done = ConsentImport::default();
    for (i, r) in rows.iter().enumerate() {
        if forgotten_opt_out(&mut tx, r).await? {
            done.forgotten_opt_outs.push(i);
            continue;
        }
        done.recorded += 1;
        let contact_id: i64 = sqlx::query_scalar(
            "INSERT INTO contacts (phone, created_at, updated_at) VALUES (?, ?, ?)
             ON CONFLICT (phone) DO UPDATE SET phone = excluded.phone RETURNING id",
        )
        .bind(&r.phone)
        .bind(&at)
        .bind(&at)
        .fetch_one(&mut *tx)
        .await?;
        sqlx::query(
            "INSERT INTO consent_events (contact_id, kind, text, source, given_at, created_at,
                                         topic)
             VALUES (?, 'opt_in', '', ?, ?, ?, ?)",
        )
        .bind(contact_id)
        .bind(&r.source)
        .bind(super::sqlite::ts(r.given_at))
        .bind(&at)
        .bind(&r.topic)
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    Ok(done)
}

/// See [`super::Store::broadcast_progress`].
pub(super) async fn progress(
    pool: &SqlitePool,
    id: i64,
) -> Result<Option<BroadcastProgress>, StoreError> {
    let Some(b) = sqlx::query("SELECT status, recipients FROM broadcasts WHERE id = ?")
        .bind(id)
        .fetch_optional(pool)
        .await?
    else {
        return Ok(None);
    };
    let mut p = BroadcastProgress {
        id,
        status: b.get("status"),
        recipients: b.get("recipients"),
        ..Default::default()
    };
    let rows = sqlx::query(
        "SELECT state, COUNT(*) AS n FROM outbox WHERE broadcast_id = ? GROUP BY state",
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

pub(super) fn tally(p: &mut BroadcastProgress, state: &str, n: i64) {
    match state {
        "queued" => p.queued += n,
        "sending" => p.sending += n,
        "in_doubt" => p.in_doubt += n,
        "sent" => p.sent += n,
        "failed" => p.failed += n,
        "skipped" => p.skipped += n,
        _ => p.cancelled += n,
    }
}

/// See [`super::Store::cancel_broadcast`].
pub(super) async fn cancel(pool: &SqlitePool, id: i64, now: Timestamp) -> Result<i64, StoreError> {
    let mut tx = pool.begin_with("BEGIN IMMEDIATE").await?;
    let at = fixed_ts(now);
    sqlx::query(
        "UPDATE broadcasts SET status = 'cancelled', cancelled_at = ? WHERE id = ? AND status = 'queued'",
    )
    .bind(&at)
    .bind(id)
    .execute(&mut *tx)
    .await?;
    let n = sqlx::query(
        "UPDATE outbox SET state = 'cancelled', updated_at = ?, done_at = ?
         WHERE broadcast_id = ? AND state = 'queued'",
    )
    .bind(&at)
    .bind(&at)
    .bind(id)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    tx.commit().await?;
    Ok(i64::try_from(n).unwrap_or(i64::MAX))
}

/// See [`super::Store::release_to_doubt`].
pub(super) async fn release_to_doubt(
    pool: &SqlitePool,
    id: i64,
    now: Timestamp,
) -> Result<(), StoreError> {
    let at = fixed_ts(now);
    sqlx::query(
        "UPDATE outbox SET lease_until = ?, updated_at = ? WHERE id = ? AND state = 'sending'",
    )
    .bind(&at)
    .bind(&at)
    .bind(id)
    .execute(pool)
    .await?;
    Ok(())
}

/// See [`super::Store::record_delivery`].
pub(super) async fn record_delivery(
    pool: &SqlitePool,
    d: &DeliveryUpdate,
) -> Result<Option<bool>, StoreError> {
    let mut tx = pool.begin_with("BEGIN IMMEDIATE").await?;
    let at = fixed_ts(d.at);
    // Only forward: a late `sent` never overwrites `delivered`.
    let contact: Option<i64> = sqlx::query_scalar(
        "UPDATE messages SET status = ?, status_rank = ?, error_code = COALESCE(?, error_code),
                status_at = ?
         WHERE sid = ? AND direction = 'out' AND status_rank < ?
         RETURNING contact_id",
    )
    .bind(&d.status)
    .bind(d.rank)
    .bind(d.error_code.map(i64::from))
    .bind(&at)
    .bind(&d.sid)
    .bind(d.rank)
    .fetch_optional(&mut *tx)
    .await?;
    let Some(contact) = contact else {
        let known: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM messages WHERE sid = ? AND direction = 'out'")
                .bind(&d.sid)
                .fetch_one(&mut *tx)
                .await?;
        return Ok((known > 0).then_some(false));
    };
    if d.unreachable {
        sqlx::query(
            "UPDATE contacts SET delivery_failures = delivery_failures + 1,
                    unreachable_at = CASE WHEN delivery_failures + 1 >= ? THEN COALESCE(unreachable_at, ?)
                                          ELSE unreachable_at END
                 WHERE id = ?",
        )
        .bind(i64::from(d.unreachable_after))
        .bind(&at)
        .bind(contact)
        .execute(&mut *tx)
        .await?;
    } else if d.delivered {
        sqlx::query(
            "UPDATE contacts SET delivery_failures = 0, unreachable_at = NULL WHERE id = ?",
        )
        .bind(contact)
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    Ok(Some(true))
}

/// Texts per language from their stored JSON object.
pub(super) fn texts_of(json: &str) -> Vec<(String, String)> {
    serde_json::from_str::<serde_json::Map<String, serde_json::Value>>(json)
        .map(|m| {
            m.into_iter()
                .map(|(l, t)| (l, t.as_str().unwrap_or_default().to_string()))
                .collect()
        })
        .unwrap_or_default()
}

/// See [`super::Store::broadcasts`] and [`super::Store::broadcast`] (`only`: that one).
pub(super) async fn broadcasts(
    pool: &SqlitePool,
    limit: u32,
    before: Option<i64>,
    only: Option<i64>,
) -> Result<Vec<BroadcastSummary>, StoreError> {
    let rows = sqlx::query(
        "SELECT id, texts, flow_id, audience, topic, send_at, status, recipients, created_by,
                created_at, cancelled_at
         FROM broadcasts
         WHERE (?1 IS NULL OR id < ?1) AND (?2 IS NULL OR id = ?2)
         ORDER BY id DESC LIMIT ?3",
    )
    .bind(before)
    .bind(only)
    .bind(i64::from(limit))
    .fetch_all(pool)
    .await?;
    let mut out = Vec::with_capacity(rows.len());
    for r in &rows {
        let id: i64 = r.get("id");
        let time = |c: &str| -> Result<Timestamp, StoreError> {
            parse_ts(r.get(c))?.ok_or_else(|| StoreError::Corrupt(format!("broadcast {id}: {c}")))
        };
        out.push(BroadcastSummary {
            id,
            texts: texts_of(r.get("texts")),
            flow_id: r.get("flow_id"),
            audience: r.get("audience"),
            topic: r.get("topic"),
            send_at: time("send_at")?,
            created_by: r.get("created_by"),
            created_at: time("created_at")?,
            cancelled_at: parse_ts(r.get("cancelled_at"))?,
            progress: BroadcastProgress {
                id,
                status: r.get("status"),
                recipients: r.get("recipients"),
                ..Default::default()
            },
        });
    }
    if let (Some(first), Some(last)) = (out.first(), out.last()) {
        // The listed broadcasts are one id range; the (broadcast_id, state) index covers it.
        let counts = sqlx::query(
            "SELECT broadcast_id, state, COUNT(*) AS n FROM outbox
             WHERE broadcast_id BETWEEN ? AND ? GROUP BY broadcast_id, state",
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
