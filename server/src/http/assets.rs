//! The web client, embedded in the binary (in debug builds read from `web-client/` on disk, so pages can be
//! edited without rebuilding).

use axum::extract::Path;
use axum::http::{header, StatusCode, Uri};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::Router;
use rust_embed::RustEmbed;

use super::AppState;

#[derive(RustEmbed)]
#[folder = "../web-client/"]
struct Assets;

pub fn router() -> Router<AppState> {
    Router::new().route("/b/{code}", get(join_link)).fallback(get(asset))
}

/// The short link printed and put in QR codes.
async fn join_link(Path(code): Path<String>) -> Redirect {
    let code: String = code.chars().filter(char::is_ascii_alphanumeric).take(16).collect();
    Redirect::to(&format!("/broadcast.html?code={code}"))
}

async fn asset(uri: Uri) -> Response {
    let path = uri.path().trim_start_matches('/');
    let path = if path.is_empty() { "index.html" } else { path };
    match Assets::get(path) {
        Some(file) => {
            let mime = file.metadata.mimetype().to_string();
            // Pages must pick up a new release at once; the small assets may be cached briefly.
            let cache = if path.ends_with(".html") { "no-cache" } else { "public, max-age=300" };
            (
                [
                    (header::CONTENT_TYPE, mime),
                    (header::CACHE_CONTROL, cache.to_string()),
                    (header::X_CONTENT_TYPE_OPTIONS, "nosniff".to_string()),
                    (header::CONTENT_SECURITY_POLICY, CSP.to_string()),
                ],
                file.data,
            )
                .into_response()
        }
        None => (StatusCode::NOT_FOUND, "not found").into_response(),
    }
}

/// Defence in depth against injected markup: only our own scripts run, whatever text gets onto a page.
const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; \
                   connect-src 'self' ws: wss:; frame-ancestors 'none'; base-uri 'none'";
