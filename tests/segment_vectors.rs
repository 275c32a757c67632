//! Segment counting checked against Twilio's message segment calculator
//! (`tests/data/twilio/segment_vectors.json`; its source and licence are in the README beside it).

use std::path::PathBuf;

use civictext::sms::segments::count;
use serde::Deserialize;

const VECTOR_COUNT: usize = 77;

#[derive(Debug, Deserialize)]
struct Vector {
    text: String,
    encoding: String,
    segments: u32,
    description: String,
    characters: Option<usize>,
    non_gsm_characters: Option<Vec<String>>,
}

fn vectors_path() -> PathBuf {
    PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/twilio/segment_vectors.json"
    ))
}

fn load_vectors() -> Vec<Vector> {
    let path = vectors_path();
    let json = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    serde_json::from_str(&json).unwrap_or_else(|e| panic!("cannot parse {}: {e}", path.display()))
}

#[test]
fn every_twilio_segment_vector_gets_the_same_encoding_and_segment_count() {
    let vectors = load_vectors();
    assert_eq!(vectors.len(), VECTOR_COUNT, "unexpected number of vectors");

    let mut failures = Vec::new();
    for (i, vector) in vectors.iter().enumerate() {
        let counted = count(&vector.text);
        let mut problems = Vec::new();
        if counted.encoding.as_str() != vector.encoding {
            problems.push(format!(
                "encoding {} (expected {})",
                counted.encoding.as_str(),
                vector.encoding
            ));
        }
        if counted.segments != vector.segments {
            problems.push(format!(
                "segments {} (expected {})",
                counted.segments, vector.segments
            ));
        }
        if let Some(characters) = vector.characters
            && counted.characters != characters
        {
            problems.push(format!(
                "characters {} (expected {characters})",
                counted.characters
            ));
        }
        if let Some(expected) = &vector.non_gsm_characters {
            let got: Vec<String> = counted.non_gsm.iter().map(char::to_string).collect();
            if &got != expected {
                problems.push(format!(
                    "non-GSM characters {got:?} (expected {expected:?})"
                ));
            }
        }
        if !problems.is_empty() {
            failures.push(format!(
                "#{i} {}: {}",
                vector.description,
                problems.join(", ")
            ));
        }
    }

    assert!(
        failures.is_empty(),
        "{} of {} segment vectors disagree:\n  {}",
        failures.len(),
        vectors.len(),
        failures.join("\n  ")
    );
}
