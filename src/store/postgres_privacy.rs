//! PostgreSQL: retention, erasure and subject access (see [`super::privacy`]).

use std::collections::{BTreeMap, BTreeSet};

use jiff::Timestamp;
use sqlx::Row as _;
use sqlx::postgres::PgRow;

use super::StoreError;
use super::postgres::{PgStore, Ts, resident_key, ts};
use super::privacy::{
    ConsentRecord, ContactRecord, ForgetRequest, Forgotten, HeldAnswer, HeldMessage, HeldOutbox,
    HeldRequest, HeldSession, REDACT_BATCH, Redacted, erased_stand_in, scrub_state, without_number,
};

fn at(r: &PgRow, column: &str) -> Result<Timestamp, StoreError> {
    Ok(r.try_get::<Ts, _>(column)?.0)
}

fn opt_at(r: &PgRow, column: &str) -> Result<Option<Timestamp>, StoreError> {
    Ok(r.try_get::<Option<Ts>, _>(column)?.map(|t| t.0))
}

/// Media links out of a stored media list.
fn media_urls(json: &str) -> Vec<String> {
    serde_json::from_str::<Vec<serde_json::Value>>(json)
        .unwrap_or_default()
        .iter()
        .filter_map(|m| m.get("url").and_then(|u| u.as_str()).map(str::to_string))
        .collect()
}

impl PgStore {
    /// See [`super::Store::redact_before`]. Rows another replica's job (or a text) holds are
    /// skipped, not waited for: they are done by that replica, or by the next run.
    pub async fn redact_before(
        &self,
        cutoff: Timestamp,
        now: Timestamp,
    ) -> Result<Redacted, StoreError> {
        let mut done = Redacted::default();
        // (statement, whether it records when it redacted, the count it adds to)
        let statements: [(&str, bool, &mut u64); 3] = [
            (
                "UPDATE messages SET body = '', media = '[]'::jsonb, redacted_at = $3
                 WHERE id IN (SELECT id FROM messages
                              WHERE redacted_at IS NULL AND created_at < $1
                              LIMIT $2 FOR UPDATE SKIP LOCKED)",
                true,
                &mut done.messages,
            ),
            (
                "UPDATE answers SET raw = ''
                 WHERE id IN (SELECT id FROM answers
                              WHERE raw <> '' AND answered_at < $1
                              LIMIT $2 FOR UPDATE SKIP LOCKED)",
                false,
                &mut done.answers,
            ),
            (
                "UPDATE outbox SET body = ''
                 WHERE id IN (SELECT id FROM outbox
                              WHERE done_at IS NOT NULL AND body <> '' AND done_at < $1
                              LIMIT $2 FOR UPDATE SKIP LOCKED)",
                false,
                &mut done.outbox,
            ),
        ];
        for (sql, stamped, count) in statements {
            loop {
                let mut q = sqlx::query(sql).bind(ts(cutoff)).bind(REDACT_BATCH);
                if stamped {
                    q = q.bind(ts(now));
                }
                let changed = q.execute(self.pool()).await?.rows_affected();
                *count += changed;
                if changed < REDACT_BATCH as u64 {
                    break;
                }
            }
        }
        Ok(done)
    }

    /// See [`super::Store::is_forgotten_opt_out`].
    pub async fn is_forgotten_opt_out(&self, erased_hash: &str) -> Result<bool, StoreError> {
        Ok(
            sqlx::query("SELECT 1 FROM forgotten_opt_outs WHERE phone_hash = $1")
                .bind(erased_hash)
                .fetch_optional(self.pool())
                .await?
                .is_some(),
        )
    }

    /// See [`super::Store::forget_contact`]. Holds the resident's lock, so a text from them
    /// arriving meanwhile is handled before or after, never half-way.
    pub async fn forget_contact(&self, req: &ForgetRequest) -> Result<Forgotten, StoreError> {
        let mut tx = self.pool().begin().await?;
        sqlx::query("SELECT pg_advisory_xact_lock($1)")
            .bind(resident_key(&req.phone))
            .execute(&mut *tx)
            .await?;
        let mut out = forget_in(&mut tx, req).await?;
        tx.commit().await?;
        out.scrubbed = true;
        Ok(out)
    }

    /// See [`super::Store::contact_record`].
    pub async fn contact_record(&self, phone: &str) -> Result<Option<ContactRecord>, StoreError> {
        let pool = self.pool();
        let Some(c) = sqlx::query(
            "SELECT id, phone, language, time_zone, fields::text AS fields, opted_out,
                    created_at, updated_at
             FROM contacts WHERE phone = $1",
        )
        .bind(phone)
        .fetch_optional(pool)
        .await?
        else {
            return Ok(None);
        };
        let id: i64 = c.try_get("id")?;
        let fields: BTreeMap<String, String> =
            serde_json::from_str(c.try_get::<&str, _>("fields")?)
                .map_err(|e| StoreError::Corrupt(format!("contact fields: {e}")))?;
        let mut record = ContactRecord {
            phone: c.try_get("phone")?,
            language: c.try_get("language")?,
            time_zone: c.try_get("time_zone")?,
            fields,
            opted_out: c.try_get("opted_out")?,
            created_at: at(&c, "created_at")?,
            updated_at: at(&c, "updated_at")?,
            consent: Vec::new(),
            sessions: Vec::new(),
            messages: Vec::new(),
            service_requests: Vec::new(),
            outbox: Vec::new(),
        };
        for r in sqlx::query(
            "SELECT kind, topic, text, message_sid, source, created_at FROM consent_events
             WHERE contact_id = $1 ORDER BY id",
        )
        .bind(id)
        .fetch_all(pool)
        .await?
        {
            record.consent.push(ConsentRecord {
                kind: r.try_get("kind")?,
                topic: r.try_get("topic")?,
                text: r.try_get("text")?,
                message_sid: r.try_get("message_sid")?,
                source: r.try_get("source")?,
                at: at(&r, "created_at")?,
            });
        }
        let mut answers: BTreeMap<i64, Vec<HeldAnswer>> = BTreeMap::new();
        for r in sqlx::query(
            "SELECT session_id, question, raw, value, category, answered_at FROM answers
             WHERE contact_id = $1 ORDER BY session_id, answered_at, id",
        )
        .bind(id)
        .fetch_all(pool)
        .await?
        {
            answers
                .entry(r.try_get("session_id")?)
                .or_default()
                .push(HeldAnswer {
                    question: r.try_get("question")?,
                    raw: r.try_get("raw")?,
                    value: r.try_get("value")?,
                    category: r.try_get("category")?,
                    answered_at: at(&r, "answered_at")?,
                });
        }
        for r in sqlx::query(
            "SELECT id, flow_id, flow_version, language, status, started_at, ended_at
             FROM sessions WHERE contact_id = $1 ORDER BY id",
        )
        .bind(id)
        .fetch_all(pool)
        .await?
        {
            let sid: i64 = r.try_get("id")?;
            record.sessions.push(HeldSession {
                id: sid,
                flow: r.try_get("flow_id")?,
                flow_version: r.try_get("flow_version")?,
                language: r.try_get("language")?,
                status: r.try_get("status")?,
                started_at: at(&r, "started_at")?,
                ended_at: opt_at(&r, "ended_at")?,
                answers: answers.remove(&sid).unwrap_or_default(),
            });
        }
        for r in sqlx::query(
            "SELECT direction, body, media::text AS media, status, created_at, redacted_at
             FROM messages WHERE contact_id = $1 ORDER BY id",
        )
        .bind(id)
        .fetch_all(pool)
        .await?
        {
            record.messages.push(HeldMessage {
                direction: r.try_get("direction")?,
                body: r.try_get("body")?,
                media: media_urls(r.try_get("media")?),
                status: r.try_get("status")?,
                at: at(&r, "created_at")?,
                redacted_at: opt_at(&r, "redacted_at")?,
            });
        }
        for r in sqlx::query(
            "SELECT code, service, description, location, photo, status, status_notes, created_at
             FROM service_requests WHERE contact_id = $1 ORDER BY id",
        )
        .bind(id)
        .fetch_all(pool)
        .await?
        {
            record.service_requests.push(HeldRequest {
                code: r.try_get("code")?,
                service: r.try_get("service")?,
                description: r.try_get("description")?,
                location: r.try_get("location")?,
                photo: r.try_get("photo")?,
                status: r.try_get("status")?,
                status_notes: r.try_get("status_notes")?,
                created_at: at(&r, "created_at")?,
            });
        }
        for r in sqlx::query(
            "SELECT kind, body, state, created_at FROM outbox WHERE contact_id = $1 ORDER BY id",
        )
        .bind(id)
        .fetch_all(pool)
        .await?
        {
            record.outbox.push(HeldOutbox {
                kind: r.try_get("kind")?,
                body: r.try_get("body")?,
                state: r.try_get("state")?,
                created_at: at(&r, "created_at")?,
            });
        }
        Ok(Some(record))
    }
}

/// The erasure itself, inside the caller's transaction.
async fn forget_in(
    tx: &mut sqlx::PgConnection,
    req: &ForgetRequest,
) -> Result<Forgotten, StoreError> {
    let Some(c) = sqlx::query("SELECT id, opted_out FROM contacts WHERE phone = $1")
        .bind(&req.phone)
        .fetch_optional(&mut *tx)
        .await?
    else {
        return Ok(Forgotten::default());
    };
    let contact: i64 = c.try_get("id")?;
    let opted_out: bool = c.try_get("opted_out")?;
    let mut out = Forgotten {
        found: true,
        opt_out_kept: opted_out,
        ..Forgotten::default()
    };
    if opted_out {
        sqlx::query(
            "INSERT INTO forgotten_opt_outs (phone_hash, created_at) VALUES ($1, $2)
             ON CONFLICT (phone_hash) DO NOTHING",
        )
        .bind(&req.erased_hash)
        .bind(ts(req.now))
        .execute(&mut *tx)
        .await?;
    } else {
        // Opted in again since an earlier erasure: that opt-out no longer stands.
        sqlx::query("DELETE FROM forgotten_opt_outs WHERE phone_hash = $1")
            .bind(&req.erased_hash)
            .execute(&mut *tx)
            .await?;
    }

    // Anonymous answers, by session: their values stay, detached from the resident.
    let mut kept: BTreeMap<i64, (Vec<i64>, BTreeSet<String>)> = BTreeMap::new();
    for r in sqlx::query(
        "SELECT id, session_id, flow_id, flow_version, question FROM answers
         WHERE contact_id = $1",
    )
    .bind(contact)
    .fetch_all(&mut *tx)
    .await?
    {
        let key: (String, String, String) = (
            r.try_get("flow_id")?,
            r.try_get("flow_version")?,
            r.try_get("question")?,
        );
        if req.anonymous.contains(&key) {
            let entry = kept.entry(r.try_get("session_id")?).or_default();
            entry.0.push(r.try_get("id")?);
            entry.1.insert(key.2);
        }
    }
    if !kept.is_empty() {
        let stand_in: i64 = sqlx::query_scalar(
            "INSERT INTO contacts (phone, fields, opted_out, invalid_at, erased_at, created_at,
                                   updated_at)
             VALUES ($1, '{}'::jsonb, true, $2, $2, $2, $2) RETURNING id",
        )
        .bind(erased_stand_in())
        .bind(ts(req.now))
        .fetch_one(&mut *tx)
        .await?;
        for (session, (answer_ids, questions)) in &kept {
            let state: String =
                sqlx::query_scalar("SELECT state::text FROM sessions WHERE id = $1")
                    .bind(session)
                    .fetch_one(&mut *tx)
                    .await?;
            sqlx::query(
                "UPDATE sessions SET contact_id = $1, state = $2::jsonb,
                        status = CASE status WHEN 'active' THEN 'interrupted' ELSE status END,
                        ended_at = COALESCE(ended_at, $3), updated_at = $3, expires_at = NULL
                 WHERE id = $4",
            )
            .bind(stand_in)
            .bind(scrub_state(&state, questions)?)
            .bind(ts(req.now))
            .bind(session)
            .execute(&mut *tx)
            .await?;
            out.answers_kept += sqlx::query(
                "UPDATE answers SET contact_id = $1, raw = '', message_id = NULL
                 WHERE id = ANY($2)",
            )
            .bind(stand_in)
            .bind(answer_ids)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        }
    }

    let run = |sql: &'static str| sqlx::query(sql).bind(contact);
    run("DELETE FROM service_request_updates WHERE request_id IN
           (SELECT id FROM service_requests WHERE contact_id = $1)")
    .execute(&mut *tx)
    .await?;
    out.outbox = run("DELETE FROM outbox WHERE contact_id = $1
           OR session_id IN (SELECT id FROM sessions WHERE contact_id = $1)
           OR request_id IN (SELECT id FROM service_requests WHERE contact_id = $1)
           OR message_id IN (SELECT id FROM messages WHERE contact_id = $1)")
    .execute(&mut *tx)
    .await?
    .rows_affected();
    out.answers_removed = run("DELETE FROM answers WHERE contact_id = $1")
        .execute(&mut *tx)
        .await?
        .rows_affected();
    out.service_requests = run("DELETE FROM service_requests WHERE contact_id = $1")
        .execute(&mut *tx)
        .await?
        .rows_affected();
    out.messages = run("DELETE FROM messages WHERE contact_id = $1")
        .execute(&mut *tx)
        .await?
        .rows_affected();
    out.consent_events = run("DELETE FROM consent_events WHERE contact_id = $1")
        .execute(&mut *tx)
        .await?
        .rows_affected();
    out.sessions = run("DELETE FROM sessions WHERE contact_id = $1")
        .execute(&mut *tx)
        .await?
        .rows_affected();
    run("DELETE FROM contacts WHERE id = $1")
        .execute(&mut *tx)
        .await?;
    for r in sqlx::query("SELECT id, audience FROM broadcasts WHERE strpos(audience, $1) > 0")
        .bind(&req.phone)
        .fetch_all(&mut *tx)
        .await?
    {
        sqlx::query("UPDATE broadcasts SET audience = $1 WHERE id = $2")
            .bind(without_number(r.try_get("audience")?, &req.phone))
            .bind(r.try_get::<i64, _>("id")?)
            .execute(&mut *tx)
            .await?;
    }
    Ok(out)
}
