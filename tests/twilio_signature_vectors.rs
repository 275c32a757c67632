//! Every X-Twilio-Signature case collected from Twilio's SDK test suites
//! (`tests/data/twilio/signature_vectors.json`; its source and licence are in the README beside
//! it), judged by our validator.

use std::path::PathBuf;

use civictext::channel::twilio::inbound::parse_form;
use civictext::channel::twilio::signature::{compute, string_to_sign, verify, verify_body};
use serde::Deserialize;

#[derive(Debug, Deserialize)]
struct Vector {
    name: String,
    auth_token: String,
    url: String,
    method: String,
    /// Decoded form parameters; SDKs that allow null values sign them as empty strings.
    #[serde(default)]
    params: Option<Vec<(String, Option<String>)>>,
    /// A raw JSON body, signed through the URL's `bodySHA256`.
    #[serde(default)]
    body: Option<String>,
    /// The form body the parameters came from, when the SDK test started from one.
    #[serde(default)]
    raw_form_body: Option<String>,
    expected_signature: String,
    expected_valid: bool,
    /// The URL the expected signature was computed over, when the file records it.
    #[serde(default)]
    signed_url: Option<String>,
    /// The exact text the expected signature was computed over, when the file records it.
    #[serde(default)]
    signed_string: Option<String>,
}

fn vectors_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/twilio/signature_vectors.json")
}

/// Checks one vector, returning what went wrong, if anything.
fn judge(v: &Vector) -> Vec<String> {
    let mut problems = Vec::new();
    let params: Vec<(String, String)> = v
        .params
        .clone()
        .unwrap_or_default()
        .into_iter()
        .map(|(k, value)| (k, value.unwrap_or_default()))
        .collect();

    if let Some(raw) = &v.raw_form_body {
        match parse_form(raw.as_bytes()) {
            Ok(parsed) if parsed == params => {}
            Ok(parsed) => problems.push(format!("raw_form_body parsed to {parsed:?}")),
            Err(e) => problems.push(format!("raw_form_body refused: {e}")),
        }
    }

    // The file's own record of what was signed must be what we would sign.
    if let Some(signed_url) = &v.signed_url {
        let signed_params: &[(String, String)] = if v.body.is_some() { &[] } else { &params };
        if let Some(expected) = &v.signed_string {
            let ours = string_to_sign(signed_url, signed_params);
            if &ours != expected {
                problems.push(format!(
                    "string to sign differs:\n      ours:     {ours:?}\n      expected: {expected:?}"
                ));
            }
        }
        let ours = compute(&v.auth_token, signed_url, signed_params);
        if ours != v.expected_signature {
            problems.push(format!(
                "compute over signed_url gives {ours}, expected {}",
                v.expected_signature
            ));
        }
    }

    // A GET request carries its parameters in the URL, so they are in `url` already; any `params`
    // a GET vector lists are a validator wrongly appending them, which must fail on its own merits.
    let valid = match &v.body {
        Some(body) => verify_body(
            &v.auth_token,
            &v.url,
            body.as_bytes(),
            &v.expected_signature,
        ),
        None => verify(&v.auth_token, &v.url, &params, &v.expected_signature),
    };
    if valid != v.expected_valid {
        problems.push(format!(
            "{} {} judged {valid}, expected {}",
            v.method, v.url, v.expected_valid
        ));
    }
    problems
}

#[test]
fn every_sdk_signature_vector_is_judged_as_the_sdk_judges_it() {
    let path = vectors_path();
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    let raw: Vec<serde_json::Value> = serde_json::from_str(&text).expect("a JSON array");
    let expected_count = raw.len();
    assert!(expected_count > 0, "{} holds no vectors", path.display());

    let mut checked = 0;
    let mut failures = Vec::new();
    for (i, value) in raw.into_iter().enumerate() {
        let vector: Vector = match serde_json::from_value(value) {
            Ok(v) => v,
            Err(e) => {
                failures.push(format!("#{i}: unreadable vector: {e}"));
                continue;
            }
        };
        checked += 1;
        for problem in judge(&vector) {
            failures.push(format!("#{i} {:?}: {problem}", vector.name));
        }
    }

    assert!(
        failures.is_empty(),
        "{} of {expected_count} vectors failed:\n  {}",
        failures.len(),
        failures.join("\n  ")
    );
    assert_eq!(checked, expected_count, "every vector must be checked");
}

#[test]
fn the_mixed_case_host_vectors_keep_the_host_as_written() {
    // twilio-node accepts these (it lower-cases the host before signing); we follow the other
    // SDKs, as documented on `signature`.
    let lower_host_signature = "RSOYDt4T1cUTdK1PDd93/VVr8B8=";
    let params: Vec<(String, String)> = [
        ("CallSid", "CA1234567890ABCDE"),
        ("Caller", "+14158675309"),
        ("Digits", "1234"),
        ("From", "+14158675309"),
        ("To", "+18005551212"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    for url in [
        "https://MyCompany.com/myapp.php?foo=1&bar=2",
        "https://MyCompany.com:1234/myapp.php?foo=1&bar=2",
    ] {
        assert!(
            !verify("12345", url, &params, lower_host_signature),
            "{url}"
        );
    }
}
