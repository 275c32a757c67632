//! SQLite: retention, erasure and subject access (see [`super::privacy`]).

use std::collections::{BTreeMap, BTreeSet};

use jiff::Timestamp;
use sqlx::Row as _;
use sqlx::sqlite::SqliteRow;

use super::StoreError;
use super::privacy::{
    ConsentRecord, ContactRecord, ForgetRequest, Forgotten, HeldAnswer, HeldMessage, HeldOutbox,
    HeldRequest, HeldSession, REDACT_BATCH, Redacted, erased_stand_in, scrub_state, without_number,
};
use super::sqlite::{SqliteStore, parse_ts, ts};

fn at(r: &SqliteRow, column: &str) -> Result<Timestamp, StoreError> {
    parse_ts(r.try_get(column)?)?.ok_or_else(|| StoreError::Corrupt(format!("{column} missing")))
}

/// Media links out of a stored media list.
fn media_urls(json: &str) -> Vec<String> {
    serde_json::from_str::<Vec<serde_json::Value>>(json)
        .unwrap_or_default()
        .iter()
        .filter_map(|m| m.get("url").and_then(|u| u.as_str()).map(str::to_string))
        .collect()
}

impl SqliteStore {
    /// See [`super::Store::redact_before`]. Times are compared as stored text: at most a
    /// second off, which does not matter for a retention counted in days, and the index on
    /// the time can be used.
    pub async fn redact_before(
        &self,
        cutoff: Timestamp,
        now: Timestamp,
    ) -> Result<Redacted, StoreError> {
        let cutoff = ts(cutoff);
        let now = ts(now);
        let mut done = Redacted::default();
        // (statement, whether it records when it redacted, the count it adds to)
        let statements: [(&str, bool, &mut u64); 3] = [
            (
                "UPDATE messages SET body = '', media = '[]', redacted_at = ?3
                 WHERE id IN (SELECT id FROM messages
                              WHERE redacted_at IS NULL AND created_at < ?1 LIMIT ?2)",
                true,
                &mut done.messages,
            ),
            (
                "UPDATE answers SET raw = ''
                 WHERE id IN (SELECT id FROM answers
                              WHERE raw <> '' AND answered_at < ?1 LIMIT ?2)",
                false,
                &mut done.answers,
            ),
            (
                "UPDATE outbox SET body = ''
                 WHERE id IN (SELECT id FROM outbox
                              WHERE done_at IS NOT NULL AND body <> '' AND done_at < ?1
                              LIMIT ?2)",
                false,
                &mut done.outbox,
            ),
        ];
        for (sql, stamped, count) in statements {
            loop {
                let mut q = sqlx::query(sql).bind(&cutoff).bind(REDACT_BATCH);
                if stamped {
                    q = q.bind(&now);
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
            sqlx::query("SELECT 1 FROM forgotten_opt_outs WHERE phone_hash = ?")
                .bind(erased_hash)
                .fetch_optional(self.pool())
                .await?
                .is_some(),
        )
    }

    /// See [`super::Store::forget_contact`].
    pub async fn forget_contact(&self, req: &ForgetRequest) -> Result<Forgotten, StoreError> {
        let mut conn = self.pool().acquire().await?;
        // Deleted rows are overwritten with zeros, not only unlinked.
        sqlx::query("PRAGMA secure_delete = ON")
            .execute(&mut *conn)
            .await?;
        let mut forgotten = {
            let mut tx = sqlx::Connection::begin_with(&mut *conn, "BEGIN IMMEDIATE").await?;
            let out = forget_in(&mut tx, req).await?;
            tx.commit().await?;
            out
        };
        // A rebuilt file holds only live rows, and an emptied log no old page: no byte of the
        // deleted rows survives in either.
        sqlx::query("VACUUM").execute(&mut *conn).await?;
        // A TRUNCATE checkpoint gives up (busy) while another connection reads an older
        // snapshot of the log, as the gateway's own connections briefly do: tried again until
        // the log is empty.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        loop {
            let (busy, log): (i64, i64) = {
                let r = sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
                    .fetch_one(&mut *conn)
                    .await?;
                (r.try_get(0)?, r.try_get(1)?)
            };
            if busy == 0 && log <= 0 {
                forgotten.scrubbed = true;
                break;
            }
            if std::time::Instant::now() > deadline {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        Ok(forgotten)
    }

    /// See [`super::Store::contact_record`].
    pub async fn contact_record(&self, phone: &str) -> Result<Option<ContactRecord>, StoreError> {
        let pool = self.pool();
        let Some(c) = sqlx::query(
            "SELECT id, phone, language, time_zone, fields, opted_out, created_at, updated_at
             FROM contacts WHERE phone = ?",
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
            opted_out: c.try_get::<i64, _>("opted_out")? != 0,
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
             WHERE contact_id = ? ORDER BY id",
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
             WHERE contact_id = ?
             ORDER BY session_id, unixepoch(answered_at, 'subsec'), id",
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
             FROM sessions WHERE contact_id = ? ORDER BY id",
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
                ended_at: parse_ts(r.try_get("ended_at")?)?,
                answers: answers.remove(&sid).unwrap_or_default(),
            });
        }
        for r in sqlx::query(
            "SELECT direction, body, media, status, created_at, redacted_at FROM messages
             WHERE contact_id = ? ORDER BY id",
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
                redacted_at: parse_ts(r.try_get("redacted_at")?)?,
            });
        }
        for r in sqlx::query(
            "SELECT code, service, description, location, photo, status, status_notes, created_at
             FROM service_requests WHERE contact_id = ? ORDER BY id",
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
            "SELECT kind, body, state, created_at FROM outbox WHERE contact_id = ? ORDER BY id",
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
    tx: &mut sqlx::SqliteConnection,
    req: &ForgetRequest,
) -> Result<Forgotten, StoreError> {
    let now = ts(req.now);
    let Some(c) = sqlx::query("SELECT id, opted_out FROM contacts WHERE phone = ?")
        .bind(&req.phone)
        .fetch_optional(&mut *tx)
        .await?
    else {
        return Ok(Forgotten::default());
    };
    let contact: i64 = c.try_get("id")?;
    let opted_out = c.try_get::<i64, _>("opted_out")? != 0;
    let mut out = Forgotten {
        found: true,
        opt_out_kept: opted_out,
        ..Forgotten::default()
    };
    if opted_out {
        sqlx::query(
            "INSERT INTO forgotten_opt_outs (phone_hash, created_at) VALUES (?, ?)
             ON CONFLICT (phone_hash) DO NOTHING",
        )
        .bind(&req.erased_hash)
        .bind(&now)
        .execute(&mut *tx)
        .await?;
    } else {
        // Opted in again since an earlier erasure: that opt-out no longer stands.
        sqlx::query("DELETE FROM forgotten_opt_outs WHERE phone_hash = ?")
            .bind(&req.erased_hash)
            .execute(&mut *tx)
            .await?;
    }

    // Anonymous answers, by session: their values stay, detached from the resident.
    let mut kept: BTreeMap<i64, (Vec<i64>, BTreeSet<String>)> = BTreeMap::new();
    for r in sqlx::query(
        "SELECT id, session_id, flow_id, flow_version, question FROM answers WHERE contact_id = ?",
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
             VALUES (?, '{}', 1, ?2, ?2, ?2, ?2) RETURNING id",
        )
        .bind(erased_stand_in())
        .bind(&now)
        .fetch_one(&mut *tx)
        .await?;
        for (session, (answer_ids, questions)) in &kept {
            let state: String = sqlx::query_scalar("SELECT state FROM sessions WHERE id = ?")
                .bind(session)
                .fetch_one(&mut *tx)
                .await?;
            sqlx::query(
                "UPDATE sessions SET contact_id = ?, state = ?,
                        status = CASE status WHEN 'active' THEN 'interrupted' ELSE status END,
                        ended_at = COALESCE(ended_at, ?3), updated_at = ?3, expires_at = NULL
                 WHERE id = ?4",
            )
            .bind(stand_in)
            .bind(scrub_state(&state, questions)?)
            .bind(&now)
            .bind(session)
            .execute(&mut *tx)
            .await?;
            for id in answer_ids {
                sqlx::query(
                    "UPDATE answers SET contact_id = ?, raw = '', message_id = NULL WHERE id = ?",
                )
                .bind(stand_in)
                .bind(id)
                .execute(&mut *tx)
                .await?;
                out.answers_kept += 1;
            }
        }
    }

    let run = |sql: &'static str| sqlx::query(sql).bind(contact);
    run("DELETE FROM service_request_updates WHERE request_id IN
           (SELECT id FROM service_requests WHERE contact_id = ?)")
    .execute(&mut *tx)
    .await?;
    out.outbox = run("DELETE FROM outbox WHERE contact_id = ?1
           OR session_id IN (SELECT id FROM sessions WHERE contact_id = ?1)
           OR request_id IN (SELECT id FROM service_requests WHERE contact_id = ?1)
           OR message_id IN (SELECT id FROM messages WHERE contact_id = ?1)")
    .execute(&mut *tx)
    .await?
    .rows_affected();
    out.answers_removed = run("DELETE FROM answers WHERE contact_id = ?")
        .execute(&mut *tx)
        .await?
        .rows_affected();
    out.service_requests = run("DELETE FROM service_requests WHERE contact_id = ?")
        .execute(&mut *tx)
        .await?
        .rows_affected();
    out.messages = run("DELETE FROM messages WHERE contact_id = ?")
        .execute(&mut *tx)
        .await?
        .rows_affected();
    out.consent_events = run("DELETE FROM consent_events WHERE contact_id = ?")
        .execute(&mut *tx)
        .await?
        .rows_affected();
    out.sessions = run("DELETE FROM sessions WHERE contact_id = ?")
        .execute(&mut *tx)
        .await?
        .rows_affected();
    run("DELETE FROM contacts WHERE id = ?")
        .execute(&mut *tx)
        .await?;
    for r in sqlx::query("SELECT id, audience FROM broadcasts WHERE instr(audience, ?) > 0")
        .bind(&req.phone)
        .fetch_all(&mut *tx)
        .await?
    {
        sqlx::query("UPDATE broadcasts SET audience = ? WHERE id = ?")
            .bind(without_number(r.try_get("audience")?, &req.phone))
            .bind(r.try_get::<i64, _>("id")?)
            .execute(&mut *tx)
            .await?;
    }
    Ok(out)
}
