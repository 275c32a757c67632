//! API tokens: created and revoked with the real `civictext tokens` command, checked by the
//! real router, every use in the audit log, and never a token in the logs.

mod common;

use common::{TestApp, phone, spawn_app};
use reqwest::StatusCode;

async fn get(app: &TestApp, token: Option<&str>, path: &str) -> (StatusCode, String, String) {
    let mut req = app.client.get(app.url(path));
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let resp = req.send().await.expect("the gateway answers");
    let status = resp.status();
    let content_type = resp
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    (status, content_type, resp.text().await.unwrap())
}

#[tokio::test]
async fn a_created_token_is_printed_once_alone_on_the_last_line_and_only_its_hash_is_stored() {
    let app = spawn_app().await;
    let out = app.civictext(&[
        "tokens",
        "create",
        "--name",
        "Planning dept",
        "--scope",
        "results,requests",
    ]);
    let token = out.lines().last().unwrap();
    assert!(token.starts_with("ct_") && !token.contains(' '), "{out}");
    assert_eq!(out.matches(token).count(), 1, "{out}");

    let stored: Vec<(String, String, String)> = app
        .db()
        .rows("SELECT name, scopes, token_hash FROM api_tokens", &[])
        .await;
    assert_eq!(stored.len(), 1);
    let (name, scopes, hash) = &stored[0];
    assert_eq!(name, "Planning dept");
    assert_eq!(scopes, "results requests");
    assert_ne!(hash, token);
    assert!(!hash.contains(&token[3..]));
    let anywhere: i64 = app
        .db()
        .scalar(
            "SELECT COUNT(*) FROM api_tokens WHERE name LIKE $1 OR scopes LIKE $1 OR hint = $2",
            &[&format!("%{}%", &token[3..]), token],
        )
        .await;
    assert_eq!(anywhere, 0, "the token itself is stored");

    // The listing names it without showing it.
    let list = app.civictext(&["tokens", "list"]);
    assert!(
        list.contains("Planning dept") && list.contains("results,requests"),
        "{list}"
    );
    assert!(!list.contains(token), "{list}");
}

#[tokio::test]
async fn a_token_with_an_unknown_scope_or_no_name_is_refused() {
    let app = spawn_app().await;
    for refused in [
        ["tokens", "create", "--name", "X", "--scope", "everything"],
        ["tokens", "create", "--name", " ", "--scope", "results"],
    ] {
        assert!(
            !app.civictext_output(&refused).status.success(),
            "{refused:?}"
        );
    }
    assert_eq!(app.count("api_tokens", "TRUE").await, 0);
}

#[tokio::test]
async fn each_scope_reaches_what_it_should_and_gets_403_elsewhere() {
    let app = spawn_app().await;
    app.say(&phone(1), "PARKS").await;
    let results_routes = [
        "/api/v1/flows",
        "/api/v1/flows/park-survey",
        "/api/v1/flows/park-survey/summary",
        "/api/v1/responses",
    ];
    let requests_routes = ["/api/v1/requests"];
    let cases = [
        ("results", true, false, false),
        ("results:pii", true, false, true),
        ("requests", false, true, false),
        ("requests:write", false, true, false),
        ("broadcasts", false, false, false),
        ("results,requests", true, true, false),
    ];
    for (scopes, results, requests, pii) in cases {
        let token = app.token(scopes, scopes);
        for route in results_routes {
            let (status, ct, body) = get(&app, Some(&token), route).await;
            let want = if results {
                StatusCode::OK
            } else {
                StatusCode::FORBIDDEN
            };
            assert_eq!(status, want, "{scopes} on {route}: {body}");
            if !results {
                assert_eq!(ct, "application/problem+json");
                assert!(body.contains("`results`"), "{body}");
            }
        }
        for route in requests_routes {
            let (status, _, body) = get(&app, Some(&token), route).await;
            let want = if requests {
                StatusCode::OK
            } else {
                StatusCode::FORBIDDEN
            };
            assert_eq!(status, want, "{scopes} on {route}: {body}");
        }
        if results {
            let (_, _, body) = get(&app, Some(&token), "/api/v1/responses").await;
            assert_eq!(body.contains(&phone(1)), pii, "{scopes}: {body}");
        }
    }
}

#[tokio::test]
async fn a_missing_unknown_malformed_or_revoked_token_gets_401_as_problem_json() {
    let app = spawn_app().await;
    let token = app.token("Parks", "results");
    assert_eq!(
        get(&app, Some(&token), "/api/v1/flows").await.0,
        StatusCode::OK
    );

    let unknown = format!("{}x", &token[..token.len() - 1]);
    for t in [None, Some(unknown.as_str()), Some("")] {
        let (status, ct, body) = get(&app, t, "/api/v1/flows").await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{t:?}");
        assert_eq!(ct, "application/problem+json");
        let problem: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(problem["status"], 401);
        assert!(problem["title"].is_string() && problem["detail"].is_string());
    }
    // Not a Bearer token.
    let resp = app
        .client
        .get(app.url("/api/v1/flows"))
        .basic_auth("user", Some(&token))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    assert!(resp.headers().get("www-authenticate").is_some());

    let id: i64 = app.db().scalar("SELECT id FROM api_tokens", &[]).await;
    app.civictext(&["tokens", "revoke", &id.to_string()]);
    let (status, _, body) = get(&app, Some(&token), "/api/v1/flows").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(body.contains("revoked"), "{body}");
    // Revoking twice says so.
    assert!(
        !app.civictext_output(&["tokens", "revoke", &id.to_string()])
            .status
            .success()
    );
    let list = app.civictext(&["tokens", "list"]);
    assert!(list.contains("revoked"), "{list}");
}

#[tokio::test]
async fn every_use_of_the_api_is_recorded_with_its_token_route_status_and_time() {
    let app = spawn_app().await;
    let token = app.token("Audit me", "results");
    let id: i64 = app.db().scalar("SELECT id FROM api_tokens", &[]).await;
    get(&app, Some(&token), "/api/v1/flows/park-survey").await;
    get(&app, Some(&token), "/api/v1/requests").await;
    get(&app, None, "/api/v1/responses?flow=park-survey").await;

    let log: Vec<(Option<i64>, String, String, i32)> = app
        .db()
        .rows(
            "SELECT token_id, method, route, status FROM api_audit ORDER BY id",
            &[],
        )
        .await;
    assert_eq!(
        log,
        vec![
            (Some(id), "GET".into(), "/api/v1/flows/{flow}".into(), 200),
            (Some(id), "GET".into(), "/api/v1/requests".into(), 403),
            (None, "GET".into(), "/api/v1/responses".into(), 401),
        ]
    );
    let used: Option<String> = app
        .db()
        .scalar("SELECT CAST(last_used_at AS TEXT) FROM api_tokens", &[])
        .await;
    assert!(used.is_some());

    let out = app.civictext(&["tokens", "log"]);
    assert!(
        out.contains("/api/v1/flows/{flow}") && out.contains(&format!("token {id}")),
        "{out}"
    );
}
