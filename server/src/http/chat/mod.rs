//! The live chat over REST (docs/protocol.md §10.7): the start info and business hours (`desk_info.rs`), the
//! offline inbox (`offline.rs`), canned responses (`canned.rs`), transcripts and the ministry's report
//! (`records.rs`).
//!
//! Handlers only read the request, ask the chat store and encode the answer: the rules (who may, what is valid)
//! are the domain's, and every change that is an event (an offline message, a canned response, an agent's cap)
//! is published by the store in the same atomic step as the change itself.

mod canned;
mod desk_info;
mod offline;
mod records;

use std::collections::BTreeMap;

use axum::extract::rejection::QueryRejection;
use axum::extract::{DefaultBodyLimit, FromRequestParts, Path, Query};
use axum::http::request::Parts;
use axum::http::{header, HeaderValue};
use axum::middleware;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::Router;

use super::AppState;
use crate::error::{Error, Result};

/// The routes; `max_body_bytes` bounds every body (`--chat-max-body-bytes`).
pub fn router(max_body_bytes: usize) -> Router<AppState> {
    Router::new()
        .route("/api/chat/start-info", get(desk_info::start_info))
        .route("/api/chat/hours", get(desk_info::hours).put(desk_info::set_hours))
        .route("/api/chat/agents/{sub}", put(desk_info::set_cap))
        .route("/api/chat/offline", get(offline::inbox).post(offline::submit))
        .route("/api/chat/offline/{id}/answer", post(offline::answer))
        .route("/api/chat/offline/{id}/close", post(offline::close))
        .route("/api/chat/canned", get(canned::list).post(canned::create))
        .route("/api/chat/canned/{id}", put(canned::replace).delete(canned::remove))
        .route("/api/chat/chats/{id}/transcript.json", get(records::transcript_json))
        .route("/api/chat/chats/{id}/transcript.txt", get(records::transcript_text))
        .route("/api/chat/report", get(records::report))
        .route("/api/chat/report.csv", get(records::report_csv))
        .layer(DefaultBodyLimit::max(max_body_bytes))
        .layer(middleware::map_response(no_store))
}

/// What the chat's REST serves is personal (one's chats, transcripts, contacts) or changes by the minute (the
/// queue, the inbox): no browser or proxy keeps a copy.
async fn no_store(mut response: Response) -> Response {
    response.headers_mut().entry(header::CACHE_CONTROL).or_insert(HeaderValue::from_static("no-store"));
    response
}

/// A path's one parameter, as text. axum's own `Path` refuses a segment that is not UTF-8 once decoded with plain
/// text in its own words; such an address names nothing: `not_found`, with an error body like every refusal.
pub struct Key(pub String);

impl<S: Send + Sync> FromRequestParts<S> for Key {
    type Rejection = Error;
    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self> {
        match Path::<String>::from_request_parts(parts, state).await {
            Ok(Path(key)) => Ok(Key(key)),
            Err(_) => Err(Error::not_found("Nothing is at this address.")),
        }
    }
}

/// A record id from a path. Read here rather than by axum's `Path<u64>`, whose refusal is plain text in the
/// parser's words: what isn't an id names nothing (`what` is the sentence, e.g. "No such chat.").
fn path_id(key: &str, what: &str) -> Result<u64> {
    key.parse().map_err(|_| Error::not_found(what))
}

/// A query string's parameters, each at most once, with plain sentences for what is wrong with them.
struct Params(BTreeMap<String, String>);

impl Params {
    /// The parameters of `query`; any not in `allowed`, or given twice, is `bad_request`; an empty one is absent.
    fn of(query: Result<Query<Vec<(String, String)>>, QueryRejection>, allowed: &[&str]) -> Result<Self> {
        let Query(pairs) = query.map_err(|_| Error::bad_request("The query string could not be read."))?;
        let mut params = BTreeMap::new();
        for (name, value) in pairs {
            if !allowed.contains(&name.as_str()) {
                let name: String = name.chars().take(40).collect();
                return Err(Error::bad_request(format!("\"{name}\" is not a parameter this accepts.")));
            }
            // An empty value (`?from=&to=`, a form's blank field) is the parameter left out.
            if value.is_empty() {
                continue;
            }
            if params.insert(name.clone(), value).is_some() {
                return Err(Error::bad_request(format!("The \"{name}\" parameter is given twice.")));
            }
        }
        Ok(Params(params))
    }

    fn text(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(String::as_str)
    }

    /// A whole number (0 or more), if given.
    fn number(&self, name: &str) -> Result<Option<u64>> {
        self.text(name)
            .map(|v| {
                v.parse().map_err(|_| {
                    Error::bad_request(format!("The \"{name}\" parameter must be a whole number (0 or more)."))
                })
            })
            .transpose()
    }
}

/// A download: `body` as `content_type`, saved as `filename`.
fn download(content_type: &'static str, filename: &str, body: String) -> Response {
    let disposition = format!("attachment; filename=\"{filename}\"");
    ([(header::CONTENT_TYPE, content_type.to_string()), (header::CONTENT_DISPOSITION, disposition)], body)
        .into_response()
}
