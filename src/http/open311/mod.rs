//! `/open311/v2`: service requests in the Open311 GeoReport v2 shape 311 systems speak.
//! Every call answers in JSON or XML as its path's extension says (`services.json`,
//! `services.xml`); errors are Open311's list of `{code, description}`.
//!
//! The service types are what the served flows file; requests are those residents filed by
//! text and those other systems posted here. Discovery and services are public; a request's
//! address, description, coordinates and photo are shown only to an `api_key` with the
//! `requests` scope, and filing one needs `requests:write`.

pub mod format;
pub mod requests;
pub mod services;

use axum::Router;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use crate::http::AppState;
use format::{Format, Node, Open311Error, respond};

/// The specification this endpoint follows.
const SPECIFICATION: &str = "http://wiki.open311.org/GeoReport_v2";
/// When this endpoint's shape last changed.
const CHANGESET: &str = "2026-12-02T00:00:00Z";

/// The Open311 routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/open311/v2/{file}", get(top).post(post))
        .route("/open311/v2/services/{file}", get(service))
        .route("/open311/v2/requests/{file}", get(requests::one))
}

fn unknown(format: Format) -> Response {
    Open311Error::not_found(
        format,
        "Open311 GeoReport v2 offers discovery, services and requests, as .json or .xml.",
    )
    .into_response()
}

/// `GET discovery | services | requests .{json,xml}`.
async fn top(
    State(state): State<AppState>,
    Path(file): Path<String>,
    RawQuery(raw): RawQuery,
) -> Response {
    let Some((name, format)) = Format::split(&file) else {
        return unknown(Format::Json);
    };
    match name {
        "discovery" => discovery(&state, format),
        "services" => {
            let all = services::services(state.gateway.flows().catalog());
            let node = Node::List("service", all.iter().map(|s| s.summary()).collect());
            respond(StatusCode::OK, format, "services", &node)
        }
        "requests" => requests::list(&state, format, raw)
            .await
            .unwrap_or_else(IntoResponse::into_response),
        _ => unknown(format),
    }
}

/// `POST requests.{json,xml}`, a form as the specification has it.
async fn post(State(state): State<AppState>, Path(file): Path<String>, body: String) -> Response {
    match Format::split(&file) {
        Some(("requests", format)) => requests::create(&state, format, &body)
            .await
            .unwrap_or_else(IntoResponse::into_response),
        Some((_, format)) => Open311Error::new(
            StatusCode::METHOD_NOT_ALLOWED,
            format,
            "Only requests can be posted.",
        )
        .into_response(),
        None => unknown(Format::Json),
    }
}

/// `GET services/{code}.{json,xml}`: a service's definition with its attributes.
async fn service(State(state): State<AppState>, Path(file): Path<String>) -> Response {
    let Some((code, format)) = Format::split(&file) else {
        return unknown(Format::Json);
    };
    let all = services::services(state.gateway.flows().catalog());
    match all.iter().find(|s| s.code == code) {
        Some(s) => respond(
            StatusCode::OK,
            format,
            "service_definition",
            &s.definition(),
        ),
        None => {
            Open311Error::not_found(format, format!("There is no service {code}.")).into_response()
        }
    }
}

fn discovery(state: &AppState, format: Format) -> Response {
    let base = state
        .webhook
        .public_url
        .as_deref()
        .map_or_else(|| "/open311/v2".to_string(), |u| format!("{u}/open311/v2"));
    let contact = format!(
        "{}: {}",
        state.gateway.replies.organization(None),
        state.gateway.replies.help_contact(None)
    );
    let node = Node::Object(vec![
        ("changeset", Node::Text(CHANGESET.into())),
        ("contact", Node::Text(contact)),
        (
            "key_service",
            Node::Text("Ask the city's staff for an api_key (civictext tokens create).".into()),
        ),
        (
            "endpoints",
            Node::List(
                "endpoint",
                vec![Node::Object(vec![
                    ("specification", Node::Text(SPECIFICATION.into())),
                    ("url", Node::Text(base)),
                    ("changeset", Node::Text(CHANGESET.into())),
                    ("type", Node::Text("production".into())),
                    (
                        "formats",
                        Node::List(
                            "format",
                            vec![
                                Node::Text("text/xml".into()),
                                Node::Text("application/json".into()),
                            ],
                        ),
                    ),
                ])],
            ),
        ),
    ]);
    respond(StatusCode::OK, format, "discovery", &node)
}
