//! The web client, embedded in the binary (in debug builds read from `web-client/` on disk, so pages can be
//! edited without rebuilding).

use std::borrow::Cow;

use axum::extract::{Path, State};
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

async fn asset(State(app): State<AppState>, uri: Uri) -> Response {
    let path = uri.path().trim_start_matches('/');
    let path = if path.is_empty() { "index.html" } else { path };
    match Assets::get(path) {
        Some(file) => {
            let mime = file.metadata.mimetype().to_string();
            // Pages must pick up a new release at once; the small assets may be cached briefly.
            let cache = if path.ends_with(".html") { "no-cache" } else { "public, max-age=300" };
            // The chat page is the one page other sites may frame (the widget's iframe).
            let csp = if path == CHAT_PAGE {
                format!("{CSP_BASE}; frame-ancestors {}", app.config.chat_embed_origins)
            } else {
                format!("{CSP_BASE}; frame-ancestors 'none'")
            };
            let body = with_default_lang(path, file.data, &app.config.page_default_lang);
            (
                [
                    (header::CONTENT_TYPE, mime),
                    (header::CACHE_CONTROL, cache.to_string()),
                    (header::X_CONTENT_TYPE_OPTIONS, "nosniff".to_string()),
                    (header::CONTENT_SECURITY_POLICY, csp),
                ],
                body,
            )
                .into_response()
        }
        None => (StatusCode::NOT_FOUND, "not found").into_response(),
    }
}

/// The scripts that choose a page's language, and the line in each that names the fallback (`--page-default-lang`):
/// written as the operator set it, so the choice is made before the page is laid out, with no request more.
const LANG_CHOOSERS: [&str; 2] = ["js/boot.js", "chat-widget.js"];
const FALLBACK_LINE: &str = "var fallback = 'ar';";

fn with_default_lang(path: &str, data: Cow<'static, [u8]>, lang: &str) -> Cow<'static, [u8]> {
    if lang == "ar" || !LANG_CHOOSERS.contains(&path) {
        return data;
    }
    let text = String::from_utf8_lossy(&data);
    Cow::Owned(text.replacen(FALLBACK_LINE, &format!("var fallback = '{lang}';"), 1).into_bytes())
}

/// Defence in depth against injected markup: only our own scripts run, whatever text gets onto a page.
/// `frame-ancestors` is added per page: `'none'`, except for the chat page (`--chat-embed-origins`).
const CSP_BASE: &str =
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; \
                        connect-src 'self' ws: wss:; base-uri 'none'";

/// The page the chat widget (`/chat-widget.js`, a classic script any site includes) opens in its iframe.
const CHAT_PAGE: &str = "chat.html";
