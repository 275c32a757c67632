//! What a hostile or slow HTTP client can do to the gateway: clients that never finish their
//! headers, trickle their body or announce a huge one, idle connections by the thousand, and
//! content types that only look like a form. Raw TCP where the client must misbehave.

mod common;

use std::time::{Duration, Instant};

use common::{SMS_PATH, TestApp, encode_form, new_sid, phone, sms_params, spawn_app_with};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Reads whatever the server sends until it closes the connection (or `limit` passes); returns
/// what was read and when the connection closed, if it did.
async fn read_until_closed(
    mut reader: tokio::net::tcp::OwnedReadHalf,
    limit: Duration,
) -> (String, Option<Instant>) {
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        match tokio::time::timeout_at(deadline, reader.read(&mut buf)).await {
            Err(_) => return (String::from_utf8_lossy(&got).into_owned(), None),
            Ok(Ok(0)) | Ok(Err(_)) => {
                return (
                    String::from_utf8_lossy(&got).into_owned(),
                    Some(Instant::now()),
                );
            }
            Ok(Ok(n)) => got.extend_from_slice(&buf[..n]),
        }
    }
}

/// The start of a webhook request with the given Content-Length, headers complete.
fn webhook_head(content_length: usize) -> String {
    format!(
        "POST {SMS_PATH} HTTP/1.1\r\nHost: sms.example.gov\r\n\
         Content-Type: application/x-www-form-urlencoded\r\nX-Twilio-Signature: x\r\n\
         Content-Length: {content_length}\r\n\r\n"
    )
}

/// Writes `bytes` one per second (stopping early when the server has closed the connection);
/// returns the reader's outcome.
async fn trickle(
    app: &TestApp,
    prefix: &[u8],
    bytes: &[u8],
    listen: Duration,
) -> (String, Option<Instant>, Instant) {
    let stream = TcpStream::connect(app.addr).await.unwrap();
    let (reader, mut writer) = stream.into_split();
    let started = Instant::now();
    let read = tokio::spawn(read_until_closed(reader, listen));
    if !prefix.is_empty() {
        writer.write_all(prefix).await.unwrap();
    }
    for b in bytes {
        if read.is_finished() || writer.write_all(&[*b]).await.is_err() {
            break;
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    let (got, closed) = read.await.unwrap();
    (got, closed, started)
}

#[tokio::test]
async fn a_client_sending_its_headers_one_byte_a_second_is_disconnected_within_the_header_timeout()
{
    let app = spawn_app_with(|s| s.header_read_timeout = 2).await;
    let head = webhook_head(10);
    let (_, closed, started) =
        trickle(&app, b"", &head.as_bytes()[..12], Duration::from_secs(14)).await;
    let closed = closed.expect("the connection was still open after 12 bytes in 12 seconds");
    let after = closed - started;
    assert!(
        after >= Duration::from_millis(1500) && after < Duration::from_secs(5),
        "closed after {after:?}, with a 2 s header timeout"
    );
}

#[tokio::test]
async fn a_connection_that_sends_nothing_or_idles_after_a_request_is_closed_at_the_header_timeout()
{
    let app = spawn_app_with(|s| s.header_read_timeout = 2).await;

    let silent = TcpStream::connect(app.addr).await.unwrap();
    let started = Instant::now();
    let (reader, _writer) = silent.into_split();
    let (_, closed) = read_until_closed(reader, Duration::from_secs(10)).await;
    let after = closed.expect("a silent connection stayed open for 10 s") - started;
    assert!(after < Duration::from_secs(5), "closed after {after:?}");

    // Kept alive after a request, it has the same time to start the next one.
    let kept = TcpStream::connect(app.addr).await.unwrap();
    let (reader, mut writer) = kept.into_split();
    writer
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let started = Instant::now();
    let (got, closed) = read_until_closed(reader, Duration::from_secs(10)).await;
    assert!(got.starts_with("HTTP/1.1 200"), "{got}");
    let after = closed.expect("an idle kept-alive connection stayed open for 10 s") - started;
    assert!(after < Duration::from_secs(5), "closed after {after:?}");
}

#[tokio::test]
async fn a_body_trickled_a_byte_a_second_is_answered_408_at_the_request_timeout() {
    let app = spawn_app_with(|s| {
        s.request_timeout = 3;
        s.webhook_deadline = 2;
    })
    .await;
    let body = encode_form(&sms_params(&phone(1), "PARKS", &new_sid()));
    let head = webhook_head(body.len());
    let (got, closed, started) = trickle(
        &app,
        head.as_bytes(),
        &body.as_bytes()[..12],
        Duration::from_secs(14),
    )
    .await;
    assert!(got.starts_with("HTTP/1.1 408"), "{got:?}");
    let after = closed.expect("the connection stayed open") - started;
    assert!(after < Duration::from_secs(6), "answered after {after:?}");
    app.assert_nothing_stored().await;
}

#[tokio::test]
async fn a_declared_hundred_megabyte_body_is_refused_413_before_any_of_it_is_sent() {
    let app = spawn_app().await;
    for length in [100 * 1024 * 1024, 64 * 1024 + 1] {
        let stream = TcpStream::connect(app.addr).await.unwrap();
        let (reader, mut writer) = stream.into_split();
        writer
            .write_all(webhook_head(length).as_bytes())
            .await
            .unwrap();
        let (got, _) = read_until_closed(reader, Duration::from_secs(2)).await;
        assert!(
            got.starts_with("HTTP/1.1 413"),
            "Content-Length {length}: {got:?}"
        );
    }
    app.assert_nothing_stored().await;
}

use common::spawn_app;

#[tokio::test]
async fn clients_beyond_the_connection_limit_wait_until_a_connection_closes() {
    let app = spawn_app_with(|s| {
        s.max_connections = 4;
        s.header_read_timeout = 30;
    })
    .await;
    let mut idle = Vec::new();
    for _ in 0..4 {
        idle.push(TcpStream::connect(app.addr).await.unwrap());
    }
    // Let the server take all four before the fifth client arrives.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let url = app.url("/healthz");
    let fifth = tokio::spawn(async move { reqwest::get(url).await.map(|r| r.status()) });
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(
        !fifth.is_finished(),
        "a fifth connection was served beside four open ones with max_connections = 4"
    );
    drop(idle.pop());
    let status = tokio::time::timeout(Duration::from_secs(5), fifth)
        .await
        .expect("the fifth client was not served after a connection closed")
        .unwrap()
        .unwrap();
    assert_eq!(status, 200);
}

#[tokio::test]
async fn a_webhook_is_answered_while_a_thousand_idle_connections_are_open() {
    // Both ends of every connection live in this process: 2,000 descriptors and more.
    rlimit::increase_nofile_limit(8192).expect("the open-files limit can be raised");
    let (soft, _) = rlimit::getrlimit(rlimit::Resource::NOFILE).unwrap();
    assert!(soft >= 2200, "the open-files limit is only {soft}");
    let app = spawn_app_with(|s| s.header_read_timeout = 60).await;
    let mut idle = Vec::with_capacity(1000);
    for i in 0..1000 {
        let mut stream = TcpStream::connect(app.addr).await.unwrap();
        if i % 2 == 0 {
            // Half of them start a request and never finish it.
            stream.write_all(b"POST /webhooks/twi").await.unwrap();
        }
        idle.push(stream);
    }
    let started = Instant::now();
    let reply = tokio::time::timeout(Duration::from_secs(10), app.say(&phone(2), "PARKS"))
        .await
        .expect("the webhook was not answered within 10 s");
    assert_eq!(reply[0], "Welcome to the Riverside Park survey.");
    assert!(started.elapsed() < Duration::from_secs(10));
    // The idle connections are still open: the webhook did not get in by pushing them out.
    let mut open = 0;
    let mut buf = [0u8; 16];
    for stream in &idle {
        match stream.try_read(&mut buf) {
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => open += 1,
            _ => {}
        }
    }
    assert_eq!(open, 1000);
}

#[tokio::test]
async fn the_form_content_type_is_matched_as_http_defines_it() {
    let app = spawn_app().await;
    for (content_type, expected) in [
        ("APPLICATION/X-WWW-FORM-URLENCODED", 200),
        ("Application/x-www-form-urlencoded; Charset=\"utf-8\"", 200),
        ("application/x-www-form-urlencoded;charset=UTF-8", 200),
        ("application/x-www-form-urlencodedX", 415),
        ("application/x-www-form-urlencoded-evil", 415),
        ("application/x-www-form-urlencoded+json", 415),
        ("application/x-www-form-urlencoded, text/plain", 415),
    ] {
        let params = sms_params(&phone(3), "HELP", &new_sid());
        let sig = civictext::channel::twilio::signature::compute(
            common::TEST_TOKEN,
            &format!("{}{SMS_PATH}", common::PUBLIC_URL),
            &params,
        );
        let (status, body) = app
            .post_raw(
                SMS_PATH,
                Some(content_type),
                encode_form(&params).into_bytes(),
                Some(&sig),
            )
            .await;
        assert_eq!(status, expected, "{content_type}: {body}");
    }
    assert_eq!(app.count("messages", "direction = 'in'").await, 3);
}
