//! A real headless Chromium (Debian's `chromium`), driven over the DevTools protocol.
//!
//! Just enough of CDP for page tests: open a tab, navigate, run JavaScript, type, wait for the DOM to reach a
//! condition (a MutationObserver inside the page, not polling from here), take screenshots, and notice dialogs
//! (an `alert()` would mean injected script ran).

use std::collections::HashMap;
use std::path::Path;
use std::process::Stdio;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};
use tokio::sync::{mpsc, oneshot};
use tokio_tungstenite::tungstenite::Message;

/// The longest a page may take to reach an expected state.
pub const PAGE_WAIT: Duration = Duration::from_secs(15);

type Pending = Arc<Mutex<HashMap<u64, oneshot::Sender<Value>>>>;

pub struct Browser {
    _child: Child,
    _profile: tempfile::TempDir,
    outgoing: mpsc::UnboundedSender<String>,
    pending: Pending,
    /// Every CDP event received, for assertions such as "no dialog opened".
    events: Arc<Mutex<Vec<Value>>>,
    next_id: AtomicU64,
}

/// Finds Chromium, or says how to install it.
fn chromium_path() -> Result<String> {
    for candidate in ["chromium", "chromium-browser", "google-chrome"] {
        let found = std::process::Command::new("which").arg(candidate).output();
        if let Ok(out) = found {
            if out.status.success() {
                return Ok(String::from_utf8_lossy(&out.stdout).trim().to_string());
            }
        }
    }
    bail!("chromium not found on PATH: install it with `apt-get install -y chromium` (the browser tests need it)")
}

impl Browser {
    pub async fn launch() -> Result<Arc<Self>> {
        let profile = tempfile::tempdir()?;
        let mut child = Command::new(chromium_path()?)
            .args([
                "--headless=new",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-dev-shm-usage",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--disable-extensions",
                "--remote-debugging-port=0",
                // Several tabs act at once (citizen, moderator, presenter): none may be throttled as hidden.
                "--disable-background-timer-throttling",
                "--disable-renderer-backgrounding",
                "--disable-backgrounding-occluded-windows",
                "--lang=en-US",
            ])
            .arg(format!("--user-data-dir={}", profile.path().display()))
            .arg("about:blank")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .context("starting chromium")?;
        let stderr = child.stderr.take().context("chromium stderr")?;
        let url = tokio::time::timeout(PAGE_WAIT, devtools_url(stderr)).await.context("chromium did not start")??;
        let (ws, _) = tokio_tungstenite::connect_async(url.as_str()).await.context("connecting to DevTools")?;
        let (mut sink, mut stream) = ws.split();
        let (outgoing, mut to_send) = mpsc::unbounded_channel::<String>();
        tokio::spawn(async move {
            while let Some(text) = to_send.recv().await {
                if sink.send(Message::text(text)).await.is_err() {
                    break;
                }
            }
        });
        let pending: Pending = Arc::default();
        let events: Arc<Mutex<Vec<Value>>> = Arc::default();
        let (p, e) = (Arc::clone(&pending), Arc::clone(&events));
        tokio::spawn(async move {
            while let Some(Ok(Message::Text(text))) = stream.next().await {
                let Ok(message) = serde_json::from_str::<Value>(&text) else { continue };
                match message["id"].as_u64() {
                    Some(id) => {
                        if let Some(reply) = p.lock().expect("pending lock").remove(&id) {
                            let _ = reply.send(message);
                        }
                    }
                    None => e.lock().expect("events lock").push(message),
                }
            }
        });
        Ok(Arc::new(Browser {
            _child: child,
            _profile: profile,
            outgoing,
            pending,
            events,
            next_id: AtomicU64::new(1),
        }))
    }

    async fn call(&self, session: Option<&str>, method: &str, params: Value) -> Result<Value> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let mut message = json!({"id": id, "method": method, "params": params});
        if let Some(s) = session {
            message["sessionId"] = json!(s);
        }
        let (tx, rx) = oneshot::channel();
        self.pending.lock().expect("pending lock").insert(id, tx);
        self.outgoing.send(message.to_string()).map_err(|_| anyhow!("DevTools connection closed"))?;
        let reply = tokio::time::timeout(PAGE_WAIT * 2, rx).await.context(format!("{method} timed out"))??;
        if let Some(error) = reply.get("error") {
            bail!("{method} failed: {error}");
        }
        Ok(reply["result"].clone())
    }

    /// Opens a tab with a viewport of `width` × `height` CSS pixels.
    pub async fn new_page(self: &Arc<Self>, width: u32, height: u32) -> Result<Page> {
        let target = self.call(None, "Target.createTarget", json!({"url": "about:blank"})).await?;
        let target_id = target["targetId"].as_str().context("targetId")?.to_string();
        let attached =
            self.call(None, "Target.attachToTarget", json!({"targetId": target_id, "flatten": true})).await?;
        let session = attached["sessionId"].as_str().context("sessionId")?.to_string();
        let page = Page { browser: Arc::clone(self), session };
        page.call("Page.enable", json!({})).await?;
        page.call("Runtime.enable", json!({})).await?;
        page.call(
            "Emulation.setDeviceMetricsOverride",
            json!({"width": width, "height": height, "deviceScaleFactor": 1, "mobile": width < 600}),
        )
        .await?;
        Ok(page)
    }
}

async fn devtools_url(stderr: tokio::process::ChildStderr) -> Result<String> {
    let mut lines = BufReader::new(stderr).lines();
    while let Some(line) = lines.next_line().await? {
        if let Some(url) = line.split("DevTools listening on ").nth(1) {
            let url = url.trim().to_string();
            // Keep draining stderr so chromium never blocks on a full pipe.
            tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
            return Ok(url);
        }
    }
    bail!("chromium exited before it was ready")
}

/// One browser tab.
pub struct Page {
    browser: Arc<Browser>,
    session: String,
}

impl Page {
    async fn call(&self, method: &str, params: Value) -> Result<Value> {
        self.browser.call(Some(&self.session), method, params).await
    }

    /// The browser's preferred languages, as pages read them (`navigator.languages`), from the next page loaded.
    pub async fn prefer_languages(&self, languages: &[&str]) -> Result<()> {
        let list = serde_json::to_string(languages)?;
        let source = format!(
            "Object.defineProperty(Navigator.prototype, 'languages', {{ get: () => {list} }});
             Object.defineProperty(Navigator.prototype, 'language', {{ get: () => {list}[0] }});"
        );
        self.call("Page.addScriptToEvaluateOnNewDocument", json!({"source": source})).await?;
        Ok(())
    }

    pub async fn goto(&self, url: &str) -> Result<()> {
        self.call("Page.navigate", json!({"url": url})).await?;
        self.wait_for("document.readyState === 'complete'", "the page to load").await
    }

    /// Evaluates a JavaScript expression (awaiting a promise) and returns its value.
    pub async fn eval(&self, expression: &str) -> Result<Value> {
        let result = self
            .call("Runtime.evaluate", json!({"expression": expression, "awaitPromise": true, "returnByValue": true}))
            .await?;
        if let Some(exception) = result.get("exceptionDetails") {
            bail!("script failed: {expression}\n{exception}");
        }
        Ok(result["result"]["value"].clone())
    }

    /// Waits until `condition` (a JavaScript expression) is truthy, re-checking on every DOM change.
    pub async fn wait_for(&self, condition: &str, what: &str) -> Result<()> {
        let ms = PAGE_WAIT.as_millis();
        let script = format!(
            "new Promise((resolve, reject) => {{
                const check = () => {{ try {{ return !!({condition}); }} catch (e) {{ return false; }} }};
                if (check()) return resolve(true);
                const observer = new MutationObserver(() => {{ if (check()) {{ observer.disconnect(); resolve(true); }} }});
                observer.observe(document, {{subtree: true, childList: true, attributes: true, characterData: true}});
                const poll = setInterval(() => {{ if (check()) {{ clearInterval(poll); observer.disconnect(); resolve(true); }} }}, 250);
                setTimeout(() => {{ observer.disconnect(); clearInterval(poll); reject(new Error('timeout')); }}, {ms});
            }})"
        );
        self.eval(&script).await.with_context(|| format!("waiting for {what}: {condition}")).map(|_| ())
    }

    /// Clicks the element matching a CSS selector, once it exists and is enabled (as a person would wait).
    pub async fn click(&self, selector: &str) -> Result<()> {
        let sel = js_str(selector);
        self.wait_for(&format!("document.querySelector({sel}) && !document.querySelector({sel}).disabled"), selector)
            .await?;
        let found = self
            .eval(&format!("(() => {{ const el = document.querySelector({}); if (!el) return false; el.click(); return true; }})()", js_str(selector)))
            .await?;
        if found != json!(true) {
            bail!("nothing to click at {selector}");
        }
        Ok(())
    }

    /// Focuses a field and types into it as a keyboard would.
    pub async fn type_into(&self, selector: &str, text: &str) -> Result<()> {
        self.wait_for(&format!("document.querySelector({})", js_str(selector)), selector).await?;
        self.eval(&format!(
            "(() => {{ const el = document.querySelector({}); el.focus(); el.value = ''; }})()",
            js_str(selector)
        ))
        .await?;
        self.call("Input.insertText", json!({"text": text})).await?;
        Ok(())
    }

    /// Presses one key as a keyboard would: `key` is a DOM key name ("Tab", "Enter", "Escape", " ", "ArrowDown")
    /// or one character ("j"); `modifiers` is CDP's bit set (1 Alt, 2 Ctrl, 4 Meta, 8 Shift).
    pub async fn press(&self, key: &str, modifiers: u32) -> Result<()> {
        let (code, vk, text) = key_codes(key);
        let text = if modifiers & 2 != 0 { String::new() } else { text };
        let down = json!({"type": "keyDown", "key": key, "code": code, "windowsVirtualKeyCode": vk,
            "nativeVirtualKeyCode": vk, "text": text, "unmodifiedText": text, "modifiers": modifiers});
        self.call("Input.dispatchKeyEvent", down).await?;
        let up = json!({"type": "keyUp", "key": key, "code": code, "windowsVirtualKeyCode": vk,
            "nativeVirtualKeyCode": vk, "modifiers": modifiers});
        self.call("Input.dispatchKeyEvent", up).await?;
        Ok(())
    }

    /// Types text into whatever has the focus (one input event, as an input method would).
    pub async fn insert_text(&self, text: &str) -> Result<()> {
        self.call("Input.insertText", json!({"text": text})).await.map(|_| ())
    }

    /// Runs axe-core (vendored in `tests/assets/`) in the page and returns the violations whose impact is
    /// serious or critical, each as "rule: help (selectors)".
    pub async fn axe_serious(&self) -> Result<Vec<String>> {
        const AXE: &str = include_str!("../assets/axe.min.js");
        if self.eval("typeof window.axe === 'object'").await? != json!(true) {
            self.eval(&format!("{AXE}\n;true")).await.context("loading axe-core")?;
        }
        let found = self
            .eval(
                "axe.run(document, { resultTypes: ['violations'] }).then(r => r.violations
                    .filter(v => v.impact === 'serious' || v.impact === 'critical')
                    .map(v => `${v.id}: ${v.help} (${v.nodes.slice(0, 5).map(n => n.target.join(' ')).join(', ')})`))",
            )
            .await?;
        Ok(found
            .as_array()
            .map(|a| a.iter().filter_map(|v| v.as_str().map(str::to_string)).collect())
            .unwrap_or_default())
    }

    pub async fn text(&self, selector: &str) -> Result<String> {
        let value = self.eval(&format!("document.querySelector({})?.textContent ?? null", js_str(selector))).await?;
        value.as_str().map(str::to_string).with_context(|| format!("no element at {selector}"))
    }

    /// Makes this tab the visible one (`document.hidden` is false only in the front tab), as a person switching
    /// to it would.
    pub async fn bring_to_front(&self) -> Result<()> {
        self.call("Page.bringToFront", json!({})).await.map(|_| ())
    }

    pub async fn screenshot(&self, path: &Path) -> Result<()> {
        // Only the front tab renders frames to capture.
        self.call("Page.bringToFront", json!({})).await?;
        let shot = self.call("Page.captureScreenshot", json!({"format": "png"})).await?;
        let data = shot["data"].as_str().context("screenshot data")?;
        std::fs::write(path, base64_decode(data)?)?;
        Ok(())
    }

    /// JavaScript dialogs (alert, confirm, prompt) any page of this browser opened.
    pub fn dialogs(&self) -> Vec<String> {
        let events = self.browser.events.lock().expect("events lock");
        events
            .iter()
            .filter(|e| e["method"] == "Page.javascriptDialogOpening")
            .map(|e| e["params"]["message"].as_str().unwrap_or_default().to_string())
            .collect()
    }

    /// Uncaught exceptions thrown in this browser's pages.
    pub fn exceptions(&self) -> Vec<String> {
        let events = self.browser.events.lock().expect("events lock");
        events.iter().filter(|e| e["method"] == "Runtime.exceptionThrown").map(|e| e["params"].to_string()).collect()
    }
}

/// The DOM `code`, the Windows virtual key code and the typed text of a key, for `Page::press`.
fn key_codes(key: &str) -> (String, u32, String) {
    match key {
        "Tab" => ("Tab".into(), 9, String::new()),
        "Enter" => ("Enter".into(), 13, "\r".into()),
        "Escape" => ("Escape".into(), 27, String::new()),
        " " => ("Space".into(), 32, " ".into()),
        "ArrowDown" => ("ArrowDown".into(), 40, String::new()),
        "ArrowUp" => ("ArrowUp".into(), 38, String::new()),
        "/" => ("Slash".into(), 191, "/".into()),
        other => {
            let c = other.chars().next().unwrap_or(' ');
            let upper = c.to_ascii_uppercase();
            (format!("Key{upper}"), upper as u32, other.to_string())
        }
    }
}

/// A JavaScript string literal.
pub fn js_str(s: &str) -> String {
    serde_json::to_string(s).expect("BUG: strings always serialize")
}

fn base64_decode(input: &str) -> Result<Vec<u8>> {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = Vec::with_capacity(input.len() * 3 / 4);
    let (mut buffer, mut bits) = (0u32, 0u32);
    for byte in input.bytes().filter(|b| *b != b'=' && !b.is_ascii_whitespace()) {
        let value = ALPHABET.iter().position(|c| *c == byte).context("bad base64")? as u32;
        buffer = (buffer << 6) | value;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((buffer >> bits) as u8);
        }
    }
    Ok(out)
}
