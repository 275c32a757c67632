//! Engine throughput on the youth survey: realistic resident scripts (valid answers, numbers,
//! labels, Spanish, replies that earn a re-prompt) replayed on one thread.
//!
//! `cargo bench --bench engine`. Prints a table and, last, one JSON line for tooling.
//!
//! A "step" is one call into the engine: `start` for the keyword, `step` for each reply after.
//! Latency is measured per conversation (one batch) with `Instant` and divided by its steps, so
//! the timer's own cost stays out of the figures. For scale, the same run measures what the
//! gateway does around every step anyway: a `serde_json` round trip of the session (it is stored
//! as JSON between texts), and folding the reply for keyword matching.

use std::collections::BTreeMap;
use std::hint::black_box;
use std::path::Path;
use std::time::{Duration, Instant};

use civictext::flow::Flow;
use civictext::flow::catalog::Catalog;
use civictext::flow::engine::{self, Context, Inbound, Media, Session, Status};

const WARM_UP: Duration = Duration::from_millis(500);
const MEASURE: Duration = Duration::from_secs(3);
const TARGET_STEPS_PER_SEC: f64 = 100_000.0;

/// A resident's conversation: the keyword, then each reply.
struct Script {
    contact: BTreeMap<String, String>,
    texts: Vec<String>,
    media: Vec<Vec<Media>>,
}

fn scripts() -> Vec<Script> {
    let long_story = "The street lights on our block have been out since spring and cars go \
                      too fast past the school, so nobody walks after dark. "
        .repeat(4);
    let raw: Vec<Vec<&str>> = vec![
        // Straight through in English, numbers and keys.
        vec!["PLAN", "17", "40202", "bus", "yes", "parks", "4", "yes"],
        // Number words, choice by number, the unsafe branch with a reason.
        vec![
            "VIZLOU",
            "twenty",
            "40203",
            "3",
            "no",
            "More lights on my street",
            "2",
            "no",
        ],
        // Spanish, labels as shown.
        vec![
            "PLANEA",
            "16",
            "40211",
            "Autobús",
            "no",
            "más luz en las calles",
            "Vivienda",
            "3",
            "sí",
        ],
        // Re-prompts: out of range, not a ZIP, unknown choice, unclear yes/no.
        vec![
            "plan",
            "old",
            "9",
            "17",
            "abc",
            "4020",
            "40202",
            "train",
            "Bike or walk",
            "maybe",
            "YES",
            "Jobs and training",
            "6",
            "5",
            "y",
        ],
        // Labels with punctuation and case, Spanish synonyms.
        vec![
            "Planea!",
            "22",
            "40208",
            "carro",
            "SI",
            "empleos",
            "1",
            "No gracias",
        ],
        // Emoji, a reply that is too long, then a short one.
        vec![
            "PLAN",
            "25 🙂",
            "my zip is 40205",
            "40205",
            "🚲",
            "walk",
            "no",
            &long_story,
            "Lights and slower cars",
            "three",
            "yes please",
        ],
    ];
    let contacts: Vec<BTreeMap<String, String>> = vec![
        BTreeMap::new(),
        [("zip".to_string(), "40202".to_string())].into(),
        [("language".to_string(), "es".to_string())].into(),
    ];
    let photo = vec![Media {
        url: "https://api.twilio.com/2010-04-01/Accounts/AC1/Messages/MM1/Media/ME1".into(),
        content_type: "image/jpeg".into(),
    }];
    let mut out = Vec::new();
    for (i, texts) in raw.iter().enumerate() {
        for (j, contact) in contacts.iter().enumerate() {
            let media = texts
                .iter()
                .enumerate()
                .map(|(k, _)| {
                    if (i + j + k) % 11 == 5 {
                        photo.clone()
                    } else {
                        vec![]
                    }
                })
                .collect();
            out.push(Script {
                contact: contact.clone(),
                texts: texts.iter().map(|s| s.to_string()).collect(),
                media,
            });
        }
    }
    out
}

/// Plays one script; returns the number of engine calls and, if asked, every session seen.
fn play(
    catalog: &Catalog,
    flow: &Flow,
    script: &Script,
    ctx_now: jiff::Timestamp,
    entropy: u64,
    mut keep: Option<&mut Vec<Session>>,
) -> usize {
    let ctx = Context {
        now: ctx_now,
        today: jiff::civil::date(2026, 6, 1),
        contact: &script.contact,
        entropy,
    };
    let (_, language) = catalog
        .by_keyword(&script.texts[0])
        .expect("the script starts with a keyword");
    let mut outcome = engine::start(flow, language, &ctx);
    let mut steps = 1;
    for (text, media) in script.texts.iter().zip(&script.media).skip(1) {
        if outcome.status == Status::Completed {
            break;
        }
        if let Some(k) = keep.as_deref_mut() {
            k.push(outcome.session.clone());
        }
        let inbound = Inbound { text, media };
        outcome = engine::step(flow, outcome.session, &inbound, &ctx);
        steps += 1;
        black_box(&outcome.effects);
    }
    black_box(outcome);
    steps
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    let i = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[i]
}

/// Runs `batch` over and over for `MEASURE`; returns (operations, elapsed, per-op ns samples).
fn measure(mut batch: impl FnMut(usize) -> usize) -> (usize, Duration, Vec<f64>) {
    let start = Instant::now();
    let mut i = 0;
    while start.elapsed() < WARM_UP {
        black_box(batch(i));
        i += 1;
    }
    let mut samples = Vec::new();
    let mut ops = 0;
    let mut busy = Duration::ZERO;
    while busy < MEASURE {
        let t = Instant::now();
        let n = batch(i);
        let dt = t.elapsed();
        busy += dt;
        ops += n;
        samples.push(dt.as_nanos() as f64 / n as f64);
        i += 1;
    }
    samples.sort_by(f64::total_cmp);
    (ops, busy, samples)
}

fn main() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("conversation-flows");
    let (catalog, checks) = civictext::flows_dir::load(&dir).expect("read conversation-flows");
    for c in &checks {
        assert!(
            c.diagnostics.iter().all(|d| !d.is_error()),
            "{} has errors",
            c.name
        );
    }
    let flow = catalog
        .get("youth-survey")
        .expect("conversation-flows/youth-survey.yaml loads")
        .clone();
    let scripts = scripts();
    let now = jiff::Timestamp::from_second(1_780_315_200).expect("valid time");

    // Every session the scripts pass through, and every reply, for the baselines.
    let mut sessions = Vec::new();
    let mut script_steps = 0;
    for (i, s) in scripts.iter().enumerate() {
        script_steps += play(&catalog, &flow, s, now, i as u64, Some(&mut sessions));
    }
    let replies: Vec<&str> = scripts
        .iter()
        .flat_map(|s| s.texts.iter().map(String::as_str))
        .collect();

    let (steps, elapsed, per_step) = measure(|i| {
        let s = &scripts[i % scripts.len()];
        play(&catalog, &flow, s, now, i as u64, None)
    });
    let (trips, json_elapsed, per_trip) = measure(|i| {
        let s = &sessions[i % sessions.len()];
        let json = serde_json::to_string(black_box(s)).expect("serialise");
        let back: Session = serde_json::from_str(black_box(&json)).expect("deserialise");
        black_box(back);
        1
    });
    let (folds, fold_elapsed, per_fold) = measure(|i| {
        let r = replies[i % replies.len()];
        black_box(civictext::sms::fold::fold(black_box(r)));
        1
    });

    let steps_per_sec = steps as f64 / elapsed.as_secs_f64();
    let ns_per_step = elapsed.as_nanos() as f64 / steps as f64;
    let json_ns = json_elapsed.as_nanos() as f64 / trips as f64;
    let fold_ns = fold_elapsed.as_nanos() as f64 / folds as f64;
    let (p50, p99) = (percentile(&per_step, 0.50), percentile(&per_step, 0.99));

    println!(
        "engine benchmark: flow `{}` ({}), {} scripts, {} steps per pass, one thread",
        flow.id,
        flow.source,
        scripts.len(),
        script_steps
    );
    println!();
    println!(
        "  {:<40} {:>12} {:>12} {:>12} {:>14}",
        "measure", "ns/op mean", "ns/op p50", "ns/op p99", "ops/s"
    );
    let row = |name: &str, mean: f64, samples: &[f64]| {
        println!(
            "  {:<40} {:>12.0} {:>12.0} {:>12.0} {:>14.0}",
            name,
            mean,
            percentile(samples, 0.5),
            percentile(samples, 0.99),
            1e9 / mean
        );
    };
    row("engine step (start or reply)", ns_per_step, &per_step);
    row("baseline: session JSON round trip", json_ns, &per_trip);
    row("baseline: fold the reply", fold_ns, &per_fold);
    println!();
    println!(
        "  engine step / JSON round trip: {:.2}x    engine step / fold: {:.1}x",
        ns_per_step / json_ns,
        ns_per_step / fold_ns
    );
    println!(
        "  {} steps in {:.2} s = {:.0} steps/s (target {:.0}): {}",
        steps,
        elapsed.as_secs_f64(),
        steps_per_sec,
        TARGET_STEPS_PER_SEC,
        if steps_per_sec >= TARGET_STEPS_PER_SEC {
            "MET"
        } else {
            "MISSED"
        }
    );
    println!(
        "{{\"bench\":\"engine\",\"flow\":\"{}\",\"steps\":{},\"steps_per_sec\":{:.0},\"ns_per_step\":{:.1},\"p50_ns\":{:.1},\"p99_ns\":{:.1},\"baseline_json_roundtrip_ns\":{:.1},\"baseline_fold_ns\":{:.1},\"ratio_step_to_json\":{:.3}}}",
        flow.id,
        steps,
        steps_per_sec,
        ns_per_step,
        p50,
        p99,
        json_ns,
        fold_ns,
        ns_per_step / json_ns
    );
}
