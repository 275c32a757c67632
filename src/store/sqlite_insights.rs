//! SQLite: chart data of the console's results page (see [`super::insights`]).

use sqlx::Row as _;
use sqlx::SqlitePool;

use super::StoreError;
use super::insights::{FlowInsights, LATEST_TEXTS};
use super::sqlite::parse_ts;

pub(super) async fn flow_insights(
    pool: &SqlitePool,
    flow: &str,
    number_questions: &[String],
    text_questions: &[String],
) -> Result<FlowInsights, StoreError> {
    let mut out = FlowInsights::default();
    // Stored times are RFC 3339 in UTC (`2026-03-01T13:47:05.2Z`): the hour is the first 14
    // characters, the minute the next two.
    for r in sqlx::query(
        "SELECT substr(started_at, 1, 14)
                || printf('%02d', CAST(substr(started_at, 15, 2) AS INTEGER) / 15 * 15)
                || ':00Z' AS quarter,
                COUNT(*) AS n
         FROM sessions WHERE flow_id = ? GROUP BY quarter ORDER BY quarter",
    )
    .bind(flow)
    .fetch_all(pool)
    .await?
    {
        let quarter: Option<String> = r.try_get("quarter")?;
        let at = parse_ts(quarter)?
            .ok_or_else(|| StoreError::Corrupt("a session without a start".into()))?;
        out.per_quarter_hour.push((at, r.try_get("n")?));
    }
    for r in sqlx::query(
        "SELECT language, COUNT(*) AS n FROM sessions WHERE flow_id = ? GROUP BY language",
    )
    .bind(flow)
    .fetch_all(pool)
    .await?
    {
        out.languages
            .insert(r.try_get("language")?, r.try_get("n")?);
    }
    for r in sqlx::query(
        "SELECT (SELECT upper(trim(m.body)) FROM messages m
                 WHERE m.session_id = s.id AND m.direction = 'in' AND m.route = 'keyword'
                 ORDER BY m.id LIMIT 1) AS keyword, COUNT(*) AS n
         FROM sessions s WHERE s.flow_id = ? GROUP BY keyword",
    )
    .bind(flow)
    .fetch_all(pool)
    .await?
    {
        out.keywords.insert(r.try_get("keyword")?, r.try_get("n")?);
    }
    for q in number_questions {
        let mut values = Vec::new();
        for r in sqlx::query(
            "SELECT value, COUNT(*) AS n FROM answers
             WHERE flow_id = ? AND question = ? AND category <> 'skipped' GROUP BY value",
        )
        .bind(flow)
        .bind(q)
        .fetch_all(pool)
        .await?
        {
            values.push((r.try_get("value")?, r.try_get("n")?));
        }
        out.numbers.insert(q.clone(), values);
    }
    for q in text_questions {
        let mut texts = Vec::new();
        for r in sqlx::query(
            "SELECT raw, answered_at FROM answers
             WHERE flow_id = ? AND question = ? AND category <> 'skipped'
             ORDER BY id DESC LIMIT ?",
        )
        .bind(flow)
        .bind(q)
        .bind(LATEST_TEXTS)
        .fetch_all(pool)
        .await?
        {
            let at = parse_ts(r.try_get("answered_at")?)?
                .ok_or_else(|| StoreError::Corrupt("answer without time".into()))?;
            texts.push((r.try_get("raw")?, at));
        }
        out.texts.insert(q.clone(), texts);
    }
    Ok(out)
}
