//! `X-Twilio-Signature`: verification must accept what Twilio's algorithm signs, refuse anything
//! else, and never panic on a header or URL an attacker chose.

use arbitrary::{Arbitrary, Unstructured};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use civictext::channel::twilio::signature::{
    BODY_SHA256_PARAM, compute, string_to_sign, verify, verify_body,
};

#[derive(Debug, Arbitrary)]
struct Input {
    auth_token: String,
    url: String,
    params: Vec<(String, String)>,
    header: String,
    body: Vec<u8>,
    flip: u8,
}

pub fn check(data: &[u8]) {
    let Ok(input) = Input::arbitrary_take_rest(Unstructured::new(data)) else {
        return;
    };
    let Input {
        auth_token,
        url,
        mut params,
        header,
        body,
        flip,
    } = input;

    // A header the fuzzer chose: judged, never a panic, and an empty one is never valid.
    let _ = verify(&auth_token, &url, &params, &header);
    let _ = verify_body(&auth_token, &url, &body, &header);
    assert!(!verify(&auth_token, &url, &params, ""));

    // The signature Twilio would send is accepted, whatever order the parameters arrive in.
    let signature = compute(&auth_token, &url, &params);
    let signed = string_to_sign(&url, &params);
    assert!(signed.starts_with(url.as_str()));
    assert!(
        verify(&auth_token, &url, &params, &signature),
        "our own signature refused for {url:?} {params:?}"
    );
    params.reverse();
    assert!(verify(&auth_token, &url, &params, &signature));

    // One bit changed anywhere in the MAC, and it is refused.
    let mut mac = STANDARD.decode(&signature).expect("our own base64");
    assert_eq!(mac.len(), 20);
    let bit = usize::from(flip) % (mac.len() * 8);
    mac[bit / 8] ^= 1 << (bit % 8);
    let tampered = STANDARD.encode(&mac);
    assert!(
        !verify(&auth_token, &url, &params, &tampered),
        "a tampered signature accepted for {url:?}"
    );

    // A JSON body signed through `bodySHA256`: accepted as sent, refused with one byte more.
    let base: String = url.chars().filter(|&c| c != '#').collect();
    let digest = sha256_hex(&body);
    let separator = if base.contains('?') { '&' } else { '?' };
    let body_url = format!("{base}{separator}{BODY_SHA256_PARAM}={digest}");
    let body_signature = compute(&auth_token, &body_url, &[]);
    let query = body_url.split_once('?').map(|(_, q)| q).unwrap_or("");
    let carried = form_urlencoded::parse(query.as_bytes())
        .filter(|(k, _)| k == BODY_SHA256_PARAM)
        .count();
    if carried == 1 {
        assert!(
            verify_body(&auth_token, &body_url, &body, &body_signature),
            "a correctly signed body refused at {body_url:?}"
        );
    }
    let mut longer = body.clone();
    longer.push(0);
    assert!(!verify_body(
        &auth_token,
        &body_url,
        &longer,
        &body_signature
    ));
}

fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest as _;
    sha2::Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}
