//! PostgreSQL: chart data of the console's results page (see [`super::insights`]).

use sqlx::PgPool;
use sqlx::Row as _;

use super::StoreError;
use super::insights::{FlowInsights, LATEST_TEXTS};
use super::postgres::Ts;

pub(super) async fn flow_insights(
    pool: &PgPool,
    flow: &str,
    number_questions: &[String],
    text_questions: &[String],
) -> Result<FlowInsights, StoreError> {
    let mut out = FlowInsights::default();
    for r in sqlx::query(
        "SELECT date_bin('15 minutes', started_at, TIMESTAMPTZ '2000-01-01 00:00:00+00') AS quarter,
                COUNT(*) AS n
         FROM sessions WHERE flow_id = $1 GROUP BY quarter ORDER BY quarter",
    )
    .bind(flow)
    .fetch_all(pool)
    .await?
    {
        out.per_quarter_hour
            .push((r.try_get::<Ts, _>("quarter")?.0, r.try_get("n")?));
    }
    for r in sqlx::query(
        "SELECT language, COUNT(*) AS n FROM sessions WHERE flow_id = $1 GROUP BY language",
    )
    .bind(flow)
    .fetch_all(pool)
    .await?
    {
        out.languages
            .insert(r.try_get("language")?, r.try_get("n")?);
    }
    for r in sqlx::query(
        "SELECT (SELECT upper(btrim(m.body)) FROM messages m
                 WHERE m.session_id = s.id AND m.direction = 'in' AND m.route = 'keyword'
                 ORDER BY m.id LIMIT 1) AS keyword, COUNT(*) AS n
         FROM sessions s WHERE s.flow_id = $1 GROUP BY keyword",
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
             WHERE flow_id = $1 AND question = $2 AND category <> 'skipped' GROUP BY value",
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
             WHERE flow_id = $1 AND question = $2 AND category <> 'skipped'
             ORDER BY id DESC LIMIT $3",
        )
        .bind(flow)
        .bind(q)
        .bind(LATEST_TEXTS)
        .fetch_all(pool)
        .await?
        {
            texts.push((r.try_get("raw")?, r.try_get::<Ts, _>("answered_at")?.0));
        }
        out.texts.insert(q.clone(), texts);
    }
    Ok(out)
}
