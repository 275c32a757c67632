//! Checks in the database that every acknowledged text was stored exactly once.

use std::collections::HashMap;

use super::load::Outcome;
use super::plan::Plan;
use crate::store::AuditRows;

/// What the database holds compared with what was acknowledged.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Verdict {
    /// Acknowledged answers with no stored answer row, plus acknowledged texts not stored and
    /// replies sent but not stored.
    pub lost: u64,
    /// Texts, replies, answers or sessions stored more than once.
    pub duplicated: u64,
    /// Acknowledged answers found stored (out of the acknowledged ones).
    pub answers_found: u64,
    pub answers_acked: u64,
}

/// Compares the run's acknowledgements with the stored `rows`.
pub fn check(plan: &Plan, outcome: &Outcome, rows: &AuditRows) -> Verdict {
    let mut inbound: HashMap<&str, (u64, Option<i64>, i64)> = HashMap::new();
    for (sid, session, replies) in &rows.inbound {
        let e = inbound.entry(sid.as_str()).or_insert((0, *session, 0));
        e.0 += 1;
        e.2 += replies;
    }
    let mut answers: HashMap<(&str, &str), u64> = HashMap::new();
    for (sid, question, _) in &rows.answers {
        *answers
            .entry((sid.as_str(), question.as_str()))
            .or_default() += 1;
    }
    let mut v = Verdict::default();
    for (resident, acked) in plan.residents.iter().zip(&outcome.acked) {
        let mut sessions = std::collections::BTreeSet::new();
        for (step, &replies) in resident.steps.iter().zip(acked) {
            match inbound.get(step.sid.as_str()) {
                None => v.lost += 1,
                Some(&(count, session, stored_replies)) => {
                    v.duplicated += count - 1;
                    sessions.extend(session);
                    let replies = i64::from(replies);
                    v.lost += (replies - stored_replies).max(0) as u64;
                    v.duplicated += (stored_replies - replies).max(0) as u64;
                }
            }
            if let Some(q) = step.question {
                v.answers_acked += 1;
                match answers.get(&(step.sid.as_str(), q)) {
                    None => v.lost += 1,
                    Some(&n) => {
                        v.answers_found += 1;
                        v.duplicated += n - 1;
                    }
                }
            }
        }
        // One survey, one session: a second one means a text was handled twice.
        v.duplicated += sessions.len().saturating_sub(1) as u64;
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bench::plan;

    #[test]
    fn missing_rows_are_lost_and_extra_rows_duplicated() {
        let plan = plan::build(1, 1, "t", "http://127.0.0.1:1");
        let steps = &plan.residents[0].steps;
        // The first three texts were acknowledged, with 2, 1 and 1 replies.
        let outcome = Outcome {
            acked: vec![vec![2, 1, 1]],
            ..Outcome::default()
        };
        let stored = |sid: &str, replies| (sid.to_string(), Some(1), replies);
        let answer = |i: usize| {
            (
                steps[i].sid.clone(),
                steps[i].question.unwrap().to_string(),
                1,
            )
        };
        let complete = AuditRows {
            inbound: vec![
                stored(&steps[0].sid, 2),
                stored(&steps[1].sid, 1),
                stored(&steps[2].sid, 1),
            ],
            answers: vec![answer(1), answer(2)],
        };
        let v = check(&plan, &outcome, &complete);
        assert_eq!(
            (v.lost, v.duplicated, v.answers_found, v.answers_acked),
            (0, 0, 2, 2)
        );

        // An answer missing, a reply missing, a reply stored twice, an answer stored twice.
        let broken = AuditRows {
            inbound: vec![
                stored(&steps[0].sid, 1),
                stored(&steps[1].sid, 2),
                stored(&steps[2].sid, 1),
            ],
            answers: vec![answer(1), answer(1)],
        };
        let v = check(&plan, &outcome, &broken);
        assert_eq!((v.lost, v.duplicated), (2, 2));

        // A text acknowledged but not stored at all, and a second session for the resident.
        let mut gone = complete.clone();
        gone.inbound.remove(2);
        gone.answers.remove(1);
        gone.inbound[1].1 = Some(2);
        let v = check(&plan, &outcome, &gone);
        assert_eq!((v.lost, v.duplicated), (2, 1));
    }
}
