//! One document, two wire formats: Open311 GeoReport v2 answers every call in JSON or XML as
//! the path's extension says, with the same fields. Handlers build a [`Node`] tree once and it
//! is written out in either.

use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::Value;

/// The format a path asks for: `requests.json` or `requests.xml`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Json,
    Xml,
}

impl Format {
    /// Splits `name.json` / `name.xml` into the name and its format.
    pub fn split(file: &str) -> Option<(&str, Format)> {
        if let Some(name) = file.strip_suffix(".json") {
            Some((name, Format::Json))
        } else {
            file.strip_suffix(".xml").map(|name| (name, Format::Xml))
        }
    }
}

/// A value in an Open311 document.
#[derive(Debug, Clone, PartialEq)]
pub enum Node {
    /// Absent: `null` in JSON, an empty element in XML (as the specification's examples).
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Text(String),
    /// A list, and the element name of each item in XML (`service`, `request` ...).
    List(&'static str, Vec<Node>),
    /// Named fields in order.
    Object(Vec<(&'static str, Node)>),
}

impl Node {
    /// Text, or null when absent.
    pub fn opt(text: Option<impl Into<String>>) -> Node {
        text.map_or(Node::Null, |t| Node::Text(t.into()))
    }

    fn json(&self) -> Value {
        match self {
            Node::Null => Value::Null,
            Node::Bool(b) => Value::Bool(*b),
            Node::Int(i) => Value::from(*i),
            Node::Float(f) => serde_json::Number::from_f64(*f).map_or(Value::Null, Value::Number),
            Node::Text(t) => Value::String(t.clone()),
            Node::List(_, items) => Value::Array(items.iter().map(Node::json).collect()),
            Node::Object(fields) => Value::Object(
                fields
                    .iter()
                    .map(|(k, v)| ((*k).to_string(), v.json()))
                    .collect(),
            ),
        }
    }

    fn xml(&self, out: &mut String) {
        match self {
            Node::Null => {}
            Node::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
            Node::Int(i) => out.push_str(&i.to_string()),
            Node::Float(f) => out.push_str(&f.to_string()),
            Node::Text(t) => escape(t, out),
            Node::List(item, items) => {
                for i in items {
                    element(item, i, out);
                }
            }
            Node::Object(fields) => {
                for (k, v) in fields {
                    element(k, v, out);
                }
            }
        }
    }
}

fn element(name: &str, node: &Node, out: &mut String) {
    out.push('<');
    out.push_str(name);
    out.push('>');
    node.xml(out);
    out.push_str("</");
    out.push_str(name);
    out.push('>');
}

/// XML text, with characters XML 1.0 cannot carry at all dropped.
fn escape(text: &str, out: &mut String) {
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\t' | '\n' | '\r' => out.push(c),
            c if c < ' ' || c == '\u{FFFE}' || c == '\u{FFFF}' => {}
            c => out.push(c),
        }
    }
}

/// `node` as a response in `format`, under the root element `root` in XML.
pub fn respond(status: StatusCode, format: Format, root: &str, node: &Node) -> Response {
    match format {
        Format::Json => (
            status,
            [(header::CONTENT_TYPE, "application/json; charset=utf-8")],
            node.json().to_string(),
        )
            .into_response(),
        Format::Xml => {
            let mut out = String::from("<?xml version=\"1.0\" encoding=\"utf-8\"?>");
            element(root, node, &mut out);
            (
                status,
                [(header::CONTENT_TYPE, "text/xml; charset=utf-8")],
                out,
            )
                .into_response()
        }
    }
}

/// An Open311 error: the HTTP status and, in the body, a list of `{code, description}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Open311Error {
    pub status: StatusCode,
    pub description: String,
    /// The format to answer in (JSON when the path named neither).
    pub format: Format,
}

impl Open311Error {
    pub fn new(status: StatusCode, format: Format, description: impl Into<String>) -> Self {
        Open311Error {
            status,
            description: description.into(),
            format,
        }
    }

    /// 400.
    pub fn bad_request(format: Format, description: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, format, description)
    }

    /// 404.
    pub fn not_found(format: Format, description: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, format, description)
    }

    /// 500: logged in full, said in general.
    pub fn internal(format: Format, error: &dyn std::fmt::Display) -> Self {
        tracing::error!(error = %error, "Open311 request failed");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            format,
            "The request failed on the server; it has been logged.",
        )
    }
}

impl IntoResponse for Open311Error {
    fn into_response(self) -> Response {
        let node = Node::List(
            "error",
            vec![Node::Object(vec![
                ("code", Node::Int(i64::from(self.status.as_u16()))),
                ("description", Node::Text(self.description)),
            ])],
        );
        respond(self.status, self.format, "errors", &node)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_document_reads_alike_in_json_and_xml() {
        let node = Node::List(
            "request",
            vec![Node::Object(vec![
                ("service_request_id", Node::Text("AB12-CD34".into())),
                ("status_notes", Node::Null),
                ("lat", Node::Float(38.25)),
                ("description", Node::Text("<a> & \u{1}b".into())),
            ])],
        );
        assert_eq!(
            node.json(),
            serde_json::json!([{
                "service_request_id": "AB12-CD34",
                "status_notes": null,
                "lat": 38.25,
                "description": "<a> & \u{1}b",
            }])
        );
        let mut xml = String::new();
        element("service_requests", &node, &mut xml);
        assert_eq!(
            xml,
            "<service_requests><request><service_request_id>AB12-CD34</service_request_id>\
             <status_notes></status_notes><lat>38.25</lat>\
             <description>&lt;a&gt; &amp; b</description></request></service_requests>"
        );
    }
}
