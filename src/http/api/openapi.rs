//! The OpenAPI 3.1 description, generated from the handlers, and a reference page rendered
//! from it by the binary itself (no scripts, nothing fetched from elsewhere).

use axum::http::header;
use axum::response::{Html, IntoResponse, Response};
use serde_json::Value;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use super::{flows, problem, requests, responses, summary};

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "An API token from `civictext tokens create`, as `Authorization: Bearer <token>`.",
                    ))
                    .build(),
            ),
        );
    }
}

/// The API's description.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "civictext agencies' API",
        description = "Results of the city's SMS conversations and the service requests residents filed. \
Every request needs an API token with the right scope: `results` (pseudonymous answers and \
summaries), `results:pii` (adds phone numbers), `requests` (read service requests), `requests:write` \
(change a request's status, which texts the resident). Errors are \
RFC 9457 problem details. Lists page by an opaque cursor: walking every page returns each row \
once, even while residents keep texting.",
    ),
    paths(
        flows::list, flows::one, summary::summary, responses::list, requests::list, requests::one,
        requests::update,
    ),
    components(schemas(problem::Problem)),
    modifiers(&BearerAuth),
    tags(
        (name = "results", description = "Flows, sessions with their answers, summaries"),
        (name = "requests", description = "Service requests"),
    )
)]
pub struct ApiDoc;

/// The description as JSON.
pub fn document() -> Value {
    serde_json::to_value(ApiDoc::openapi()).expect("the OpenAPI document serialises")
}

/// `GET /api/v1/openapi.json`.
pub async fn json() -> Response {
    (
        [(header::CONTENT_TYPE, "application/json")],
        serde_json::to_string_pretty(&document()).expect("JSON serialises"),
    )
        .into_response()
}

/// `GET /api/v1/docs`: the reference, as one HTML page.
pub async fn page() -> Html<String> {
    Html(render(&document()))
}

fn esc(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// A schema's short name: `Problem` for a `$ref`, `array of X`, or its type.
fn type_name(schema: &Value) -> String {
    if let Some(r) = schema.get("$ref").and_then(Value::as_str) {
        let name = r.rsplit('/').next().unwrap_or(r);
        return format!("<a href=\"#schema-{0}\">{0}</a>", esc(name));
    }
    if let Some(items) = schema.get("items") {
        return format!("array of {}", type_name(items));
    }
    if let Some(all) = schema.get("oneOf").and_then(Value::as_array) {
        return all.iter().map(type_name).collect::<Vec<_>>().join(" or ");
    }
    let kind = match schema.get("type") {
        Some(Value::String(t)) => t.clone(),
        Some(Value::Array(ts)) => ts
            .iter()
            .filter_map(Value::as_str)
            .collect::<Vec<_>>()
            .join(" or "),
        _ => "object".into(),
    };
    match (schema.get("format"), schema.get("enum")) {
        (_, Some(Value::Array(values))) => format!(
            "{} ({})",
            esc(&kind),
            values
                .iter()
                .filter_map(Value::as_str)
                .map(esc)
                .collect::<Vec<_>>()
                .join(", ")
        ),
        (Some(Value::String(f)), _) => format!("{} ({})", esc(&kind), esc(f)),
        _ => esc(&kind),
    }
}

fn text(value: Option<&Value>) -> String {
    esc(value.and_then(Value::as_str).unwrap_or(""))
}

/// Renders the OpenAPI document as a reference page.
pub fn render(doc: &Value) -> String {
    let mut out = String::from(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>civictext API reference</title><style>\
         body{font:16px/1.5 system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;color:#1b1b1b}\
         code,.path{font-family:ui-monospace,monospace}table{border-collapse:collapse;width:100%;margin:.5rem 0 1rem}\
         th,td{border:1px solid #ccc;padding:.3rem .5rem;text-align:left;vertical-align:top}\
         .op{border-top:2px solid #005ea2;margin-top:2rem}.method{font-weight:bold;text-transform:uppercase;color:#005ea2}\
         </style></head><body>",
    );
    let info = &doc["info"];
    out.push_str(&format!(
        "<h1>{} <small>{}</small></h1><p>{}</p><p>Machine-readable: <a href=\"openapi.json\">openapi.json</a> (OpenAPI {}).</p>",
        text(info.get("title")),
        text(info.get("version")),
        text(info.get("description")),
        text(doc.get("openapi")),
    ));
    out.push_str("<h2>Operations</h2>");
    if let Some(paths) = doc["paths"].as_object() {
        for (path, item) in paths {
            let Some(ops) = item.as_object() else {
                continue;
            };
            for (method, op) in ops {
                out.push_str(&format!(
                    "<section class=\"op\"><h3><span class=\"method\">{}</span> <span class=\"path\">{}</span></h3><p>{}</p><p>{}</p>",
                    esc(method),
                    esc(path),
                    text(op.get("summary")),
                    text(op.get("description")),
                ));
                if let Some(params) = op["parameters"].as_array().filter(|p| !p.is_empty()) {
                    out.push_str("<table><tr><th>Parameter</th><th>In</th><th>Type</th><th>Required</th><th>Description</th></tr>");
                    for p in params {
                        out.push_str(&format!(
                            "<tr><td><code>{}</code></td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                            text(p.get("name")),
                            text(p.get("in")),
                            type_name(&p["schema"]),
                            if p["required"].as_bool() == Some(true) { "yes" } else { "no" },
                            text(p.get("description")),
                        ));
                    }
                    out.push_str("</table>");
                }
                if let Some(resps) = op["responses"].as_object() {
                    out.push_str("<table><tr><th>Status</th><th>Meaning</th><th>Body</th></tr>");
                    for (status, r) in resps {
                        let bodies: Vec<String> = r["content"]
                            .as_object()
                            .map(|c| {
                                c.iter()
                                    .map(|(media, m)| {
                                        format!(
                                            "<code>{}</code>: {}",
                                            esc(media),
                                            type_name(&m["schema"])
                                        )
                                    })
                                    .collect()
                            })
                            .unwrap_or_default();
                        out.push_str(&format!(
                            "<tr><td>{}</td><td>{}</td><td>{}</td></tr>",
                            esc(status),
                            text(r.get("description")),
                            bodies.join("<br>"),
                        ));
                    }
                    out.push_str("</table>");
                }
                out.push_str("</section>");
            }
        }
    }
    out.push_str("<h2>Schemas</h2>");
    if let Some(schemas) = doc["components"]["schemas"].as_object() {
        for (name, schema) in schemas {
            out.push_str(&format!(
                "<h3 id=\"schema-{0}\">{0}</h3><p>{1}</p>",
                esc(name),
                text(schema.get("description"))
            ));
            let required: Vec<&str> = schema["required"]
                .as_array()
                .map(|r| r.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            if let Some(props) = schema["properties"].as_object() {
                out.push_str("<table><tr><th>Field</th><th>Type</th><th>Required</th><th>Description</th></tr>");
                for (field, p) in props {
                    out.push_str(&format!(
                        "<tr><td><code>{}</code></td><td>{}</td><td>{}</td><td>{}</td></tr>",
                        esc(field),
                        type_name(p),
                        if required.contains(&field.as_str()) {
                            "yes"
                        } else {
                            "no"
                        },
                        text(p.get("description")),
                    ));
                }
                out.push_str("</table>");
            } else {
                out.push_str(&format!("<p>{}</p>", type_name(schema)));
            }
        }
    }
    out.push_str("</body></html>\n");
    out
}
