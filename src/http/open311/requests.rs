//! Open311 service requests: read them (`requests.json`, `requests/{id}.json`) and file one
//! from another system (`POST requests.json` with an `api_key`).

use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use jiff::{SignedDuration, Timestamp};

use super::format::{Format, Node, Open311Error, respond};
use super::services::{Fills, Service, services};
use crate::auth::{Scope, ScopeSet, hash_token};
use crate::http::AppState;
use crate::store::results::{RequestFilter, RequestRow};
use crate::store::{NewAuditEntry, NewRequest};

/// Most requests one list returns, as the specification suggests.
const MAX_LIST: i64 = 1000;
/// The window a list covers when the client gives no dates.
const DEFAULT_WINDOW: SignedDuration = SignedDuration::from_hours(90 * 24);

/// Form or query parameters, in order, decoded.
fn params(raw: &str) -> Vec<(String, String)> {
    form_urlencoded::parse(raw.as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

fn param<'a>(all: &'a [(String, String)], name: &str) -> Option<&'a str> {
    all.iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.trim())
        .filter(|v| !v.is_empty())
}

/// The Open311 time format: W3C date-time, UTC.
fn w3c(t: Timestamp) -> String {
    t.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
}

fn date(
    format: Format,
    name: &str,
    value: Option<&str>,
) -> Result<Option<Timestamp>, Open311Error> {
    value
        .map(|v| {
            v.parse::<Timestamp>().map_err(|_| {
                Open311Error::bad_request(
                    format,
                    format!("{name} must be a W3C date-time such as 2026-01-01T00:00:00Z"),
                )
            })
        })
        .transpose()
}

/// What a caller's `api_key` lets it do.
#[derive(Debug, Clone)]
struct Key {
    token_id: i64,
    name: String,
    scopes: ScopeSet,
}

/// Checks the `api_key` given, if any: None without one; a 403 for one that is unknown or
/// revoked (the specification's answer to an invalid key).
async fn key(
    state: &AppState,
    format: Format,
    given: Option<&str>,
) -> Result<Option<Key>, Open311Error> {
    let Some(secret) = given else {
        return Ok(None);
    };
    let token = state
        .gateway
        .store
        .find_token(&hash_token(secret))
        .await
        .map_err(|e| Open311Error::internal(format, &e))?;
    match token {
        Some(t) if t.revoked_at.is_none() => {
            let scopes =
                ScopeSet::parse(&t.scopes).map_err(|e| Open311Error::internal(format, &e))?;
            Ok(Some(Key {
                token_id: t.id,
                name: t.name,
                scopes,
            }))
        }
        _ => Err(Open311Error::new(
            StatusCode::FORBIDDEN,
            format,
            "Invalid api_key.",
        )),
    }
}

/// Records a keyed use in the API's audit log; the answer is withheld if it cannot be.
async fn audited(
    state: &AppState,
    key: Option<&Key>,
    method: &str,
    route: &str,
    format: Format,
    response: Response,
) -> Response {
    let Some(key) = key else {
        return response;
    };
    let entry = NewAuditEntry {
        token_id: Some(key.token_id),
        method,
        route,
        status: response.status().as_u16(),
        at: Timestamp::now(),
    };
    match state.gateway.store.record_use(&entry).await {
        Ok(()) => response,
        Err(e) => Open311Error::internal(format, &e).into_response(),
    }
}

/// A request as Open311 shows it. Without a key with the `requests` scope only its public
/// record is shown: what was reported and where it stands, not where, nor the resident's
/// words or photo.
fn request_node(r: &RequestRow, all: &[Service], agency: &str, full: bool) -> Node {
    let name = all
        .iter()
        .find(|s| s.code == r.service)
        .map_or_else(|| r.service.clone(), |s| s.name.clone());
    let private = |value: Node| if full { value } else { Node::Null };
    Node::Object(vec![
        ("service_request_id", Node::Text(r.code.clone())),
        (
            "status",
            Node::Text(
                if r.status == "closed" {
                    "closed"
                } else {
                    "open"
                }
                .into(),
            ),
        ),
        ("status_notes", Node::opt(r.status_notes.clone())),
        ("service_name", Node::Text(name)),
        ("service_code", Node::Text(r.service.clone())),
        ("description", private(Node::opt(r.description.clone()))),
        ("agency_responsible", Node::Text(agency.into())),
        ("service_notice", Node::Null),
        ("requested_datetime", Node::Text(w3c(r.created_at))),
        (
            "updated_datetime",
            Node::Text(w3c(r.updated_at.unwrap_or(r.created_at))),
        ),
        ("expected_datetime", Node::Null),
        ("address", private(Node::opt(r.location.clone()))),
        ("address_id", Node::Null),
        ("zipcode", Node::Null),
        ("lat", private(r.lat.map_or(Node::Null, Node::Float))),
        ("long", private(r.lon.map_or(Node::Null, Node::Float))),
        ("media_url", private(Node::opt(r.photo.clone()))),
    ])
}

/// `GET requests.{json,xml}`.
pub async fn list(
    state: &AppState,
    format: Format,
    raw: Option<String>,
) -> Result<Response, Open311Error> {
    let q = params(raw.as_deref().unwrap_or(""));
    let key = key(state, format, param(&q, "api_key")).await?;
    let full = key
        .as_ref()
        .is_some_and(|k| k.scopes.allows(Scope::Requests));
    let store = &state.gateway.store;
    let internal = |e: crate::store::StoreError| Open311Error::internal(format, &e);
    let rows: Vec<RequestRow> = if let Some(ids) = param(&q, "service_request_id") {
        // A list of ids overrides every other parameter.
        let mut rows = Vec::new();
        for id in ids.split(',').map(str::trim).filter(|i| !i.is_empty()) {
            if let Some(r) = store.request_by_code(id).await.map_err(internal)? {
                rows.push(r);
            }
        }
        rows
    } else {
        let closed = match param(&q, "status") {
            None => None,
            Some("open") => Some(false),
            Some("closed") => Some(true),
            Some(_) => {
                return Err(Open311Error::bad_request(
                    format,
                    "status must be open or closed",
                ));
            }
        };
        let end = date(format, "end_date", param(&q, "end_date"))?;
        let start = date(format, "start_date", param(&q, "start_date"))?;
        let start = start.or_else(|| Some(end.unwrap_or_else(Timestamp::now) - DEFAULT_WINDOW));
        let filter = RequestFilter {
            service: param(&q, "service_code").map(str::to_string),
            status: None,
            closed,
            since: start,
            // end_date is inclusive.
            until: end.map(|e| e + SignedDuration::from_micros(1)),
        };
        store
            .requests_page(&filter, None, MAX_LIST)
            .await
            .map_err(internal)?
            .map_err(|e| Open311Error::internal(format, &e))?
            .rows
    };
    let all = services(state.gateway.flows().catalog());
    let agency = state.gateway.replies.organization(None).to_string();
    let node = Node::List(
        "request",
        rows.iter()
            .map(|r| request_node(r, &all, &agency, full))
            .collect(),
    );
    let response = respond(StatusCode::OK, format, "service_requests", &node);
    Ok(audited(
        state,
        key.as_ref(),
        "GET",
        "/open311/v2/requests",
        format,
        response,
    )
    .await)
}

/// `GET requests/{id}.{json,xml}`: a list of one, as the specification has it.
pub async fn one(
    State(state): State<AppState>,
    Path(file): Path<String>,
    RawQuery(raw): RawQuery,
) -> Response {
    let Some((id, format)) = Format::split(&file) else {
        return Open311Error::not_found(Format::Json, "Use requests/{id}.json or .xml.")
            .into_response();
    };
    let result = async {
        let q = params(raw.as_deref().unwrap_or(""));
        let key = key(&state, format, param(&q, "api_key")).await?;
        let full = key
            .as_ref()
            .is_some_and(|k| k.scopes.allows(Scope::Requests));
        let row = state
            .gateway
            .store
            .request_by_code(id)
            .await
            .map_err(|e| Open311Error::internal(format, &e))?
            .ok_or_else(|| {
                Open311Error::not_found(format, format!("There is no service request {id}."))
            })?;
        let all = services(state.gateway.flows().catalog());
        let agency = state.gateway.replies.organization(None).to_string();
        let node = Node::List("request", vec![request_node(&row, &all, &agency, full)]);
        let response = respond(StatusCode::OK, format, "service_requests", &node);
        Ok::<_, Open311Error>(
            audited(
                &state,
                key.as_ref(),
                "GET",
                "/open311/v2/requests/{id}",
                format,
                response,
            )
            .await,
        )
    }
    .await;
    result.unwrap_or_else(IntoResponse::into_response)
}

/// `POST requests.{json,xml}`: files a request from another system. Needs an `api_key` with
/// the `requests:write` scope. Its required attributes must be given, as `attribute[code]`
/// or, for those the flow maps to a standard field, as that field (`address_string` or
/// `lat`/`long`, `media_url`, `description`).
pub async fn create(
    state: &AppState,
    format: Format,
    body: &str,
) -> Result<Response, Open311Error> {
    let p = params(body);
    let Some(key) = key(state, format, param(&p, "api_key")).await? else {
        return Err(Open311Error::new(
            StatusCode::FORBIDDEN,
            format,
            "api_key is required to file a request.",
        ));
    };
    let response = file(state, format, &p, &key)
        .await
        .unwrap_or_else(IntoResponse::into_response);
    Ok(audited(
        state,
        Some(&key),
        "POST",
        "/open311/v2/requests",
        format,
        response,
    )
    .await)
}

async fn file(
    state: &AppState,
    format: Format,
    p: &[(String, String)],
    key: &Key,
) -> Result<Response, Open311Error> {
    if !key.scopes.allows(Scope::RequestsWrite) {
        return Err(Open311Error::new(
            StatusCode::FORBIDDEN,
            format,
            "This api_key may not file requests (it needs the requests:write scope).",
        ));
    }
    let code = param(p, "service_code")
        .ok_or_else(|| Open311Error::bad_request(format, "service_code is required."))?;
    let all = services(state.gateway.flows().catalog());
    let service = all
        .iter()
        .find(|s| s.code == code)
        .ok_or_else(|| Open311Error::bad_request(format, format!("There is no service {code}.")))?;
    let coordinate = |name: &str, range: f64| -> Result<Option<f64>, Open311Error> {
        param(p, name)
            .map(|v| {
                v.parse::<f64>()
                    .ok()
                    .filter(|x| x.is_finite() && x.abs() <= range)
                    .ok_or_else(|| {
                        Open311Error::bad_request(format, format!("{name} must be a WGS84 number."))
                    })
            })
            .transpose()
    };
    let (lat, lon) = (coordinate("lat", 90.0)?, coordinate("long", 180.0)?);
    if lat.is_some() != lon.is_some() {
        return Err(Open311Error::bad_request(
            format,
            "Give lat and long together.",
        ));
    }
    let attribute = |code: &str| param(p, &format!("attribute[{code}]")).map(str::to_string);
    let standard = |fills: Fills| -> Option<String> {
        service
            .attributes
            .iter()
            .filter(|a| a.fills == Some(fills))
            .find_map(|a| attribute(&a.code))
    };
    let address = param(p, "address_string")
        .map(str::to_string)
        .or_else(|| standard(Fills::Address));
    let media = param(p, "media_url")
        .map(str::to_string)
        .or_else(|| standard(Fills::Media));
    let description = param(p, "description")
        .map(str::to_string)
        .or_else(|| standard(Fills::Description));
    if address.is_none() && lat.is_none() && param(p, "address_id").is_none() {
        return Err(Open311Error::bad_request(
            format,
            "A location is required: lat and long, or address_string.",
        ));
    }
    for a in service.attributes.iter().filter(|a| a.required) {
        let given = match a.fills {
            Some(Fills::Address) => address.is_some() || lat.is_some(),
            Some(Fills::Media) => media.is_some(),
            Some(Fills::Description) => description.is_some(),
            None => attribute(&a.code).is_some(),
        };
        if !given {
            return Err(Open311Error::bad_request(
                format,
                format!("attribute[{}] is required: {}", a.code, a.description),
            ));
        }
    }
    for (name, value) in [("media_url", &media)] {
        if let Some(v) = value
            && !(v.starts_with("https://") || v.starts_with("http://"))
        {
            return Err(Open311Error::bad_request(
                format,
                format!("{name} must be a URL."),
            ));
        }
    }
    let answers: serde_json::Map<String, serde_json::Value> = service
        .attributes
        .iter()
        .filter_map(|a| Some((a.code.clone(), attribute(&a.code)?.into())))
        .collect();
    let mut request = NewRequest {
        code: String::new(),
        flow_id: service.flow.id.clone(),
        service: service.code.clone(),
        description,
        location: address,
        photo: media,
        lat,
        lon,
        attributes: (!answers.is_empty()).then(|| serde_json::Value::Object(answers).to_string()),
        channel: "open311".into(),
        at: Timestamp::now(),
    };
    // Codes are 40 random bits: a clash is rare, and another draw settles it.
    for attempt in 0..4 {
        request.code = crate::flow::engine::tracking_code(rand::random(), attempt);
        if state
            .gateway
            .store
            .file_request(&request)
            .await
            .map_err(|e| Open311Error::internal(format, &e))?
        {
            tracing::info!(code = %request.code, service = %request.service, by = %key.name, "service request filed through Open311");
            let node = Node::List(
                "request",
                vec![Node::Object(vec![
                    ("service_request_id", Node::Text(request.code.clone())),
                    ("service_notice", Node::Null),
                    ("account_id", Node::Null),
                ])],
            );
            return Ok(respond(
                StatusCode::CREATED,
                format,
                "service_requests",
                &node,
            ));
        }
    }
    Err(Open311Error::internal(
        format,
        &"no free tracking code after four draws",
    ))
}
