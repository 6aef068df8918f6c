//! The live chat's pages in a real headless Chromium: the widget opens the chat on a host page; a citizen and
//! an agent (the console, or a protocol client) complete a chat that ends with a rating; Arabic is right-to-left
//! and mixed-direction text is isolated; every page fits a 360 px phone; axe-core finds nothing serious in
//! either language; a citizen starts a chat and sends a message with the keyboard alone; a start whose ack
//! was lost opens the one chat it made, and an offline form sent again after a lost answer leaves one message.
//!
//! Screenshots land in `target/screenshots/` for a person to look at.

use std::path::PathBuf;

use anyhow::{bail, Result};
use majlis_server::auth::Role;
use majlis_tests::browser::{js_str, Browser, Page};
use majlis_tests::{Client, TestServer};

use serde_json::{json, Value};

fn shot(name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/screenshots");
    std::fs::create_dir_all(&dir).expect("screenshot dir");
    dir.join(format!("{name}.png"))
}

/// A server on which one browser (one citizen) may start as many chats as a test needs.
async fn server() -> TestServer {
    TestServer::start_with(|c| {
        c.chat.starts_per_hour = 10_000;
        c.chat.starts_burst = 10_000;
    })
    .await
}

/// Business hours round the clock, so that the desk is open whenever the tests run.
async fn open_all_week(server: &TestServer) {
    let day = json!([{"open": "00:00", "close": "24:00"}]);
    let week: serde_json::Map<String, Value> =
        ["sun", "mon", "tue", "wed", "thu", "fri", "sat"].iter().map(|d| (d.to_string(), day.clone())).collect();
    let response = server
        .http
        .put(server.url("/api/chat/hours"))
        .bearer_auth(server.token(Role::Admin, "Admin"))
        .json(&json!({"time_zone": "Asia/Bahrain", "week": week, "holidays": []}))
        .send()
        .await
        .expect("PUT hours");
    assert!(response.status().is_success(), "PUT /api/chat/hours: {}", response.status());
}

/// An agent on the desk through the protocol, available in both languages; returns the client and its `sub`.
async fn agent_on_desk(server: &TestServer, name: &str) -> (Client, String) {
    let mut agent = Client::connect(&server.ws_url()).await;
    let me = agent.ok(json!({"type": "auth", "token": server.token(Role::Agent, name)})).await;
    agent.ok(json!({"type": "agent_status", "availability": "available", "languages": ["ar", "en"]})).await;
    (agent, me["user"]["sub"].as_str().unwrap_or_default().to_string())
}

async fn create_canned(server: &TestServer, shortcut: &str, ar: &str, en: &str) {
    let response = server
        .http
        .post(server.url("/api/chat/canned"))
        .bearer_auth(server.token(Role::Admin, "Admin"))
        .json(&json!({"shortcut": shortcut, "text": {"ar": ar, "en": en}}))
        .send()
        .await
        .expect("POST canned");
    assert_eq!(response.status(), 201, "POST /api/chat/canned");
}

/// Opens `path` with the interface in `lang` (kept in localStorage, as the language button does).
async fn open_in(page: &Page, server: &TestServer, lang: &str, path: &str) -> Result<()> {
    page.goto(&server.url("/favicon.svg")).await?;
    page.eval(&format!("localStorage.setItem('majlis.lang', {})", js_str(lang))).await?;
    page.goto(&server.url(path)).await
}

async fn connected(page: &Page) -> Result<()> {
    page.wait_for("document.querySelector('[data-testid=conn-status]')?.dataset.state === 'open'", "the connection")
        .await
}

/// The citizen's chat page, showing the pre-chat form with a chat possible.
async fn chat_page(page: &Page, server: &TestServer, lang: &str) -> Result<()> {
    open_in(page, server, lang, &format!("/chat.html?lang={lang}")).await?;
    page.wait_for(
        "document.body.dataset.view === 'start' && !document.getElementById('start-submit').hidden",
        "the pre-chat form",
    )
    .await?;
    connected(page).await
}

/// Fills the pre-chat form (consent ticked) and starts; returns the chat's id once its room is joined.
async fn start_chat(page: &Page, name: &str) -> Result<u64> {
    if !name.is_empty() {
        page.type_into("[data-testid=start-name]", name).await?;
    }
    page.eval("document.querySelector('[data-testid=start-consent]').checked = true").await?;
    page.click("[data-testid=start-submit]").await?;
    chat_id(page).await
}

async fn chat_id(page: &Page) -> Result<u64> {
    page.wait_for("document.body.dataset.view === 'chat' && window.majlis.state.chat?.id > 0", "the conversation")
        .await?;
    Ok(page.eval("window.majlis.state.chat.id").await?.as_u64().unwrap_or_default())
}

/// No horizontal scrolling: the page is no wider than its viewport.
async fn assert_fits(page: &Page, what: &str) -> Result<()> {
    let widths = page.eval("[document.scrollingElement.scrollWidth, window.innerWidth]").await?;
    let (scroll, inner) = (widths[0].as_u64().unwrap_or(0), widths[1].as_u64().unwrap_or(0));
    if scroll > inner {
        bail!("{what}: {scroll} px wide in a {inner} px viewport");
    }
    Ok(())
}

async fn assert_axe_clean(page: &Page, what: &str) -> Result<()> {
    let found = page.axe_serious().await?;
    if !found.is_empty() {
        bail!("axe-core on {what}: {found:#?}");
    }
    Ok(())
}

/// A message in the page's log whose text is `text`.
fn msg_with(text: &str) -> String {
    format!(
        "[...document.querySelectorAll('[data-testid=msg] [data-testid=msg-text]')].find(e => e.textContent === {})",
        js_str(text)
    )
}

/// The widget's parts live in its shadow root.
const LAUNCHER: &str =
    "document.querySelector('[data-majlis-chat]')?.shadowRoot?.querySelector('[data-testid=chat-launcher]')";
const FRAME: &str =
    "document.querySelector('[data-majlis-chat]')?.shadowRoot?.querySelector('[data-testid=chat-frame]')";

#[tokio::test]
async fn the_widget_script_opens_the_chat_on_a_host_page() -> Result<()> {
    let server = server().await;
    open_all_week(&server).await;
    let (mut agent, _) = agent_on_desk(&server, "Amina").await;
    let browser = Browser::launch().await?;

    for (width, height) in [(1280, 800), (360, 740)] {
        let page = browser.new_page(width, height).await?;
        page.goto(&server.url("/chat-example.html")).await?;
        page.wait_for(LAUNCHER, "the floating button").await?;
        // The host page's language (Arabic) is the widget's.
        assert_eq!(
            page.eval(&format!("{LAUNCHER}.querySelector('[data-testid=chat-launcher-label]').textContent")).await?,
            json!("تحدث معنا")
        );
        assert_eq!(page.eval(&format!("{LAUNCHER}.getAttribute('aria-expanded')")).await?, json!("false"));
        page.screenshot(&shot(&format!("widget-closed-ar-{width}"))).await?;

        page.eval(&format!("{LAUNCHER}.click()")).await?;
        page.wait_for(
            &format!("{FRAME}?.contentDocument?.body?.dataset.view === 'start' && !{FRAME}.contentDocument.getElementById('start-submit').hidden"),
            "the chat in the widget's frame",
        )
        .await?;
        assert_eq!(page.eval(&format!("{FRAME}.contentDocument.documentElement.dir")).await?, json!("rtl"));
        assert_eq!(page.eval(&format!("{LAUNCHER}.getAttribute('aria-expanded')")).await?, json!("true"));
        // The keyboard carries on inside the chat: its first field has the focus.
        page.wait_for(
            &format!("{FRAME}.contentDocument.activeElement?.name === 'category'"),
            "the focus on the chat's first field",
        )
        .await?;
        assert_fits(&page, "the host page with the chat open").await?;
        page.screenshot(&shot(&format!("widget-open-ar-{width}"))).await?;

        // Switching the chat to English switches the widget's button too.
        page.eval(&format!("{FRAME}.contentDocument.querySelector('[data-testid=lang-switch]').click()")).await?;
        page.wait_for(&format!("{FRAME}.contentDocument.documentElement.lang === 'en'"), "English in the frame")
            .await?;
        page.screenshot(&shot(&format!("widget-open-en-{width}"))).await?;

        // The chat's own close button closes the panel and gives the focus back to the floating button.
        page.eval(&format!("{FRAME}.contentDocument.querySelector('[data-testid=close-widget]').click()")).await?;
        page.wait_for(&format!("{LAUNCHER}.getAttribute('aria-expanded') === 'false'"), "the panel closed").await?;
        page.wait_for(
            "document.querySelector('[data-majlis-chat]').shadowRoot.activeElement?.dataset.testid === 'chat-launcher'",
            "the focus back on the floating button",
        )
        .await?;
        assert_eq!(
            page.eval(&format!("{LAUNCHER}.querySelector('[data-testid=chat-launcher-label]').textContent")).await?,
            json!("Chat with us")
        );
        page.screenshot(&shot(&format!("widget-closed-en-{width}"))).await?;
        assert!(page.exceptions().is_empty(), "uncaught exceptions: {:?}", page.exceptions());
    }

    // A chat in the widget; with the panel closed, the agent's message shows on the button and is told.
    let page = browser.new_page(1280, 800).await?;
    page.goto(&server.url("/chat-example.html")).await?;
    page.wait_for(LAUNCHER, "the floating button").await?;
    page.eval(&format!("{LAUNCHER}.click()")).await?;
    let frame_doc = format!("{FRAME}.contentDocument");
    page.wait_for(
        &format!("{frame_doc}?.body?.dataset.view === 'start' && !{frame_doc}.getElementById('start-submit').hidden"),
        "the form",
    )
    .await?;
    page.eval(&format!(
        "(() => {{ const d = {frame_doc}; d.querySelector('[data-testid=start-consent]').checked = true; d.querySelector('[data-testid=start-submit]').click(); }})()"
    ))
    .await?;
    page.wait_for(&format!("{FRAME}.contentWindow.majlis.state.chat?.status === 'active'"), "the chat in the widget")
        .await?;
    let chat = page.eval(&format!("{FRAME}.contentWindow.majlis.state.chat.id")).await?;
    page.eval(&format!("{LAUNCHER}.click()")).await?;
    page.wait_for(&format!("{LAUNCHER}.getAttribute('aria-expanded') === 'false'"), "the panel closed").await?;
    agent.ok(json!({"type": "chat_send", "chat": chat, "text": "Are you still there?"})).await;
    let badge = "document.querySelector('[data-majlis-chat]').shadowRoot.querySelector('[data-testid=chat-unread]')";
    page.wait_for(&format!("!{badge}.hidden && {badge}.textContent === '1'"), "one new message on the button").await?;
    let label = page.eval(&format!("{LAUNCHER}.getAttribute('aria-label')")).await?;
    assert_eq!(label, json!("فتح المحادثة مع خدمة العملاء (رسالة جديدة)"), "the button says there is a new message");
    page.screenshot(&shot("widget-unread-ar-1280")).await?;
    // The host page reloads: the chat is still going on, and opening the widget shows it again.
    page.goto(&server.url("/chat-example.html")).await?;
    page.wait_for(LAUNCHER, "the floating button").await?;
    page.eval(&format!("{LAUNCHER}.click()")).await?;
    page.wait_for(&format!("{FRAME}.contentWindow.majlis?.state.chat?.id === {chat}"), "the same chat resumed").await?;
    page.wait_for(
        &format!("{frame_doc}.querySelector('[data-testid=messages]').textContent.includes('Are you still there?')"),
        "its history",
    )
    .await?;
    Ok(())
}

#[tokio::test]
async fn a_citizen_and_an_agent_complete_a_chat_that_ends_with_a_rating() -> Result<()> {
    let server = server().await;
    open_all_week(&server).await;
    create_canned(&server, "greet", "أهلاً بك، كيف أستطيع مساعدتك؟", "Hello, how can I help?").await;
    let browser = Browser::launch().await?;

    // The agent signs in to the console with a token and goes available (both languages are ticked).
    let console = browser.new_page(1280, 800).await?;
    let token = server.token(Role::Agent, "Amina");
    open_in(&console, &server, "en", &format!("/agent.html#token={token}")).await?;
    connected(&console).await?;
    console.click("[data-testid=avail-available]").await?;
    console
        .wait_for(
            "document.querySelector('[data-testid=avail-available]').getAttribute('aria-pressed') === 'true'",
            "available",
        )
        .await?;

    // A citizen on an Arabic phone starts a complaint.
    let citizen = browser.new_page(360, 740).await?;
    chat_page(&citizen, &server, "ar").await?;
    citizen.click("[data-testid=category-complaint]").await?;
    let chat = start_chat(&citizen, "فاطمة").await?;

    // The chat reaches the console live, and opens in the pane.
    let item = format!("[data-testid=chat-item][data-id=\"{chat}\"]");
    console.wait_for(&format!("document.querySelector('{item}')"), "the new chat in the list").await?;
    console
        .wait_for("document.querySelector('[data-testid=pane-title]')?.textContent === 'فاطمة'", "the chat in the pane")
        .await?;
    citizen
        .wait_for("document.querySelector('[data-testid=chat-who]')?.dataset.status === 'active'", "the agent's name")
        .await?;
    assert!(citizen.text("[data-testid=chat-who]").await?.contains("Amina"));

    // The agent answers with a canned response by its shortcut, in the chat's language.
    console.type_into("[data-testid=pane-text]", "/gr").await?;
    console
        .wait_for("!document.querySelector('[data-testid=canned-list]').hidden", "the canned responses offered")
        .await?;
    console.press("Enter", 0).await?;
    console
        .wait_for(
            "document.querySelector('[data-testid=pane-text]').value === 'أهلاً بك، كيف أستطيع مساعدتك؟'",
            "the canned text",
        )
        .await?;
    console.press("Enter", 0).await?;
    citizen.wait_for(&msg_with("أهلاً بك، كيف أستطيع مساعدتك؟"), "the agent's message").await?;
    // ... and a screen reader hears it.
    citizen
        .wait_for(
            "document.querySelector('[data-testid=announcer]').textContent.includes('أهلاً بك، كيف أستطيع مساعدتك؟')",
            "the message announced",
        )
        .await?;

    // The citizen replies; the agent has it on screen, so the citizen's message shows as read.
    let question = "انقطعت المياه منذ أمس في المبنى 12";
    citizen.type_into("[data-testid=composer-text]", question).await?;
    citizen.press("Enter", 0).await?;
    console.wait_for(&msg_with(question), "the citizen's message on the console").await?;
    citizen
        .wait_for("document.querySelector('[data-testid=receipt]')?.dataset.state === 'delivered'", "delivered")
        .await?;
    console.bring_to_front().await?; // the agent looks at the console
    citizen.wait_for("document.querySelector('[data-testid=receipt]')?.dataset.state === 'read'", "read").await?;

    // The agent types: the citizen sees it.
    console.type_into("[data-testid=pane-text]", "لحظة من فضلك").await?;
    citizen
        .wait_for("document.querySelector('[data-testid=typing]').textContent.includes('Amina')", "the agent typing")
        .await?;
    console.press("Enter", 0).await?;

    // An internal note, visibly a note on the console, never on the citizen's page.
    let note = "Checked with the water department: outage in block 12.";
    console.click("[data-testid=mode-note]").await?;
    console.type_into("[data-testid=pane-text]", note).await?;
    console.press("Enter", 0).await?;
    console
        .wait_for(
            &format!(
                "[...document.querySelectorAll('[data-testid=note-text]')].some(e => e.textContent === {})",
                js_str(note)
            ),
            "the note on the console",
        )
        .await?;
    console.click("[data-testid=mode-reply]").await?;
    console.type_into("[data-testid=tag-input]", "water").await?;
    console.press("Enter", 0).await?;
    console.wait_for("document.querySelector('[data-testid=tags]').textContent.includes('water')", "the tag").await?;
    let after = "تم إبلاغ قسم المياه.";
    console.type_into("[data-testid=pane-text]", after).await?;
    console.press("Enter", 0).await?;
    citizen.wait_for(&msg_with(after), "the message after the note").await?;
    let leaked = citizen.eval(&format!("document.documentElement.innerHTML.includes({})", js_str(note))).await?;
    assert_eq!(leaked, json!(false), "the citizen's page must never hold a note");
    citizen.screenshot(&shot("chat-conversation-ar-360")).await?;
    console.screenshot(&shot("agent-chat-en-1280")).await?;

    // The agent ends the chat (confirmed); the citizen rates it.
    console.click("#pane-actions [data-testid=end-chat]").await?;
    console.click("[data-testid=confirm-ok]").await?;
    citizen.wait_for("!document.querySelector('[data-testid=after]').hidden", "the end of the chat").await?;
    assert!(citizen.eval("document.querySelector('[data-testid=composer]').hidden").await? == json!(true));
    citizen.click("[data-testid=rate-5]").await?;
    citizen.type_into("[data-testid=rate-comment]", "شكراً لكم").await?;
    citizen.click("[data-testid=rate-submit]").await?;
    citizen.wait_for("document.querySelector('[data-testid=rated]').textContent !== ''", "the rating thanked").await?;
    citizen.screenshot(&shot("chat-rated-ar-360")).await?;

    // The citizen's transcript is there, as text and JSON, and holds no note.
    let transcript = citizen
        .eval(&format!(
            "fetch('/api/chat/chats/{chat}/transcript.json', {{ headers: {{ Authorization: 'Bearer ' + window.majlis.state.session.token }} }}).then(r => r.json())"
        ))
        .await?;
    assert_eq!(transcript["chat"], json!(chat));
    assert!(!transcript.to_string().contains(note), "a citizen's transcript has no notes");
    console
        .wait_for(&format!("document.querySelector('{item}')?.dataset.status === 'ended'"), "ended on the console")
        .await?;
    console.screenshot(&shot("agent-ended-en-1280")).await?;
    assert!(citizen.exceptions().is_empty(), "uncaught exceptions: {:?}", citizen.exceptions());
    assert!(citizen.dialogs().is_empty(), "no script dialog may open: {:?}", citizen.dialogs());
    Ok(())
}

#[tokio::test]
async fn arabic_is_right_to_left_and_mixed_text_is_isolated() -> Result<()> {
    let server = server().await;
    open_all_week(&server).await;
    let (mut agent, _) = agent_on_desk(&server, "Amina Al-Sayed").await;
    let browser = Browser::launch().await?;
    let citizen = browser.new_page(360, 740).await?;
    chat_page(&citizen, &server, "ar").await?;
    assert_eq!(citizen.eval("document.documentElement.dir").await?, json!("rtl"));
    let chat = start_chat(&citizen, "Fatima فاطمة").await?;

    let english = "Your request HR-2291 is approved (see step 3).";
    let hostile = "<img src=x onerror=alert(1)>";
    for text in [english, hostile] {
        agent.ok(json!({"type": "chat_send", "chat": chat, "text": text})).await;
    }
    citizen.wait_for(&msg_with(hostile), "the agent's messages").await?;
    // English inside the Arabic page runs left to right in its own box, aligned by its own direction.
    let dir = citizen
        .eval(&format!(
            "(() => {{ const e = {}; return [e.getAttribute('dir'), getComputedStyle(e).direction]; }})()",
            msg_with(english)
        ))
        .await?;
    assert_eq!(dir, json!(["auto", "ltr"]));
    // Names are isolated too.
    let name_tag = citizen.eval("document.querySelector('.msg-theirs [data-testid=msg-name]').tagName").await?;
    assert_eq!(name_tag, json!("BDI"));
    // User text stays text.
    let images = citizen.eval("document.querySelectorAll('[data-testid=messages] img').length").await?;
    assert_eq!(images, json!(0));
    assert!(citizen.dialogs().is_empty(), "no script dialog may open: {:?}", citizen.dialogs());
    citizen.screenshot(&shot("chat-mixed-direction-ar-360")).await?;
    Ok(())
}

#[tokio::test]
async fn every_chat_page_fits_a_phone_and_passes_axe_in_both_languages() -> Result<()> {
    let server = server().await;
    open_all_week(&server).await;
    let browser = Browser::launch().await?;

    for lang in ["ar", "en"] {
        // With nobody on the desk the page offers the offline message instead of the chat.
        let page = browser.new_page(360, 740).await?;
        open_in(&page, &server, lang, &format!("/chat.html?lang={lang}")).await?;
        page.wait_for(
            "document.body.dataset.view === 'start' && !document.getElementById('start-offline').hidden",
            "the offline offer",
        )
        .await?;
        assert_fits(&page, "the closed chat").await?;
        assert_axe_clean(&page, &format!("chat.html, nobody on the desk ({lang})")).await?;
        page.screenshot(&shot(&format!("chat-unavailable-{lang}-360"))).await?;
        page.click("[data-testid=start-offline]").await?;
        page.wait_for("document.body.dataset.view === 'offline'", "the offline form").await?;
        assert_axe_clean(&page, &format!("the offline form ({lang})")).await?;
        page.type_into("[data-testid=offline-text]", "أرجو الاتصال بي بخصوص طلب الوحدة السكنية").await?;
        page.type_into("[data-testid=offline-contact]", "+973 3300 0000").await?;
        page.click("[data-testid=offline-submit]").await?;
        page.wait_for("!document.querySelector('[data-testid=offline-done]').hidden", "the message received").await?;
        page.screenshot(&shot(&format!("chat-offline-sent-{lang}-360"))).await?;
    }

    let (mut agent, _) = agent_on_desk(&server, "Amina").await;
    let token = server.token(Role::Admin, "Huda");
    for lang in ["ar", "en"] {
        for (width, height) in [(360, 740), (1280, 800)] {
            let page = browser.new_page(width, height).await?;
            chat_page(&page, &server, lang).await?;
            assert_fits(&page, "the pre-chat form").await?;
            assert_axe_clean(&page, &format!("the pre-chat form ({lang}, {width})")).await?;
            page.screenshot(&shot(&format!("chat-start-{lang}-{width}"))).await?;
            let chat = start_chat(&page, "").await?;
            agent.ok(json!({"type": "chat_send", "chat": chat, "text": "Hello — مرحبًا، how can I help?"})).await;
            page.wait_for(&msg_with("Hello — مرحبًا، how can I help?"), "the agent's message").await?;
            page.type_into(
                "[data-testid=composer-text]",
                "I applied for a housing unit in 2019 and have heard nothing since.",
            )
            .await?;
            page.press("Enter", 0).await?;
            page.wait_for("document.querySelector('[data-testid=receipt]')?.dataset.state === 'sent'", "sent").await?;
            assert_fits(&page, "the conversation").await?;
            assert_axe_clean(&page, &format!("the conversation ({lang}, {width})")).await?;
            page.screenshot(&shot(&format!("chat-conversation-{lang}-{width}"))).await?;

            // The console, signed in, with this chat open (as a supervisor) and the queue beside it.
            let console = browser.new_page(width, height).await?;
            open_in(&console, &server, lang, &format!("/agent.html#token={token}")).await?;
            connected(&console).await?;
            console
                .wait_for(
                    &format!("document.querySelector('[data-testid=open-item][data-id=\"{chat}\"]')"),
                    "the open chat",
                )
                .await?;
            assert_fits(&console, "the console").await?;
            assert_axe_clean(&console, &format!("agent.html ({lang}, {width})")).await?;
            console.screenshot(&shot(&format!("agent-desk-{lang}-{width}"))).await?;
            console.click(&format!("[data-testid=open-item][data-id=\"{chat}\"] [data-testid=supervise]")).await?;
            console.wait_for(&msg_with("Hello — مرحبًا، how can I help?"), "the chat in the pane").await?;
            assert_fits(&console, "the console with a chat").await?;
            assert_axe_clean(&console, &format!("agent.html with a chat ({lang}, {width})")).await?;
            console.screenshot(&shot(&format!("agent-pane-{lang}-{width}"))).await?;
            for tab in ["inbox", "canned", "hours", "agents", "report"] {
                console.click(&format!("[data-testid=tab-{tab}]")).await?;
                console.wait_for(&format!("!document.getElementById('panel-{tab}').hidden"), tab).await?;
                assert_axe_clean(&console, &format!("agent.html {tab} ({lang}, {width})")).await?;
                assert_fits(&console, tab).await?;
                if width == 1280 || tab == "inbox" {
                    console.screenshot(&shot(&format!("agent-{tab}-{lang}-{width}"))).await?;
                }
            }
            agent.ok(json!({"type": "chat_end", "chat": chat})).await;
            page.wait_for("!document.querySelector('[data-testid=after]').hidden", "the end").await?;
            assert_axe_clean(&page, &format!("the ended chat ({lang}, {width})")).await?;
            page.screenshot(&shot(&format!("chat-ended-{lang}-{width}"))).await?;
            page.click("[data-testid=new-chat]").await?;
            page.wait_for("document.body.dataset.view === 'start'", "the form again").await?;
        }
    }
    Ok(())
}

#[tokio::test]
async fn a_citizen_starts_a_chat_and_sends_with_the_keyboard_alone() -> Result<()> {
    let server = server().await;
    open_all_week(&server).await;
    let (_agent, _) = agent_on_desk(&server, "Amina").await;
    let browser = Browser::launch().await?;
    let page = browser.new_page(360, 740).await?;
    chat_page(&page, &server, "en").await?;

    let mut keys = 0;
    // Tab to the consent box (the category and language radios are one stop each), tick it, start.
    for _ in 0..12 {
        page.press("Tab", 0).await?;
        keys += 1;
        if page.eval("document.activeElement?.dataset.testid === 'start-consent'").await? == json!(true) {
            break;
        }
    }
    assert_eq!(
        page.eval("document.activeElement?.dataset.testid").await?,
        json!("start-consent"),
        "the consent box by Tab"
    );
    page.press(" ", 0).await?;
    page.press("Tab", 0).await?;
    page.press("Enter", 0).await?;
    keys += 3;
    chat_id(&page).await?;
    // The focus goes to the message box: type and press Enter.
    page.wait_for("document.activeElement?.dataset.testid === 'composer-text'", "the focus in the message box").await?;
    page.insert_text("Hello, I have a question about my application.").await?;
    page.press("Enter", 0).await?;
    keys += 1;
    page.wait_for(&msg_with("Hello, I have a question about my application."), "the message sent").await?;
    assert!(keys <= 12, "{keys} keys to start a chat and send a message");
    Ok(())
}

/// The texts of the chat's text messages as its staff room holds them (snapshot), in order.
async fn staff_texts(server: &TestServer, chat: u64) -> Vec<String> {
    let mut admin = server.client(Role::Admin, "Supervisor").await;
    let snapshot = admin.join(&format!("chat:{chat}:staff")).await;
    snapshot["data"]["messages"]
        .as_array()
        .map(|m| m.iter().filter_map(|m| m["text"].as_str().map(str::to_string)).collect())
        .unwrap_or_default()
}

#[tokio::test]
async fn the_chat_resumes_after_the_tab_is_closed_and_sends_what_was_not_acknowledged_once() -> Result<()> {
    let server = server().await;
    open_all_week(&server).await;
    let (mut agent, _) = agent_on_desk(&server, "Amina").await;
    let browser = Browser::launch().await?;
    let page = browser.new_page(360, 740).await?;
    chat_page(&page, &server, "en").await?;
    let chat = start_chat(&page, "Fatima").await?;

    // Written while the connection is down: shown as sending, sent once it is back.
    page.eval("window.majlis.client.ws.close()").await?;
    page.type_into("[data-testid=composer-text]", "Sent while offline").await?;
    page.press("Enter", 0).await?;
    page.wait_for(
        &format!("{}?.closest('[data-testid=msg]').dataset.seq > 0", msg_with("Sent while offline")),
        "the message acknowledged",
    )
    .await?;

    // Written, then the tab closes before the server could acknowledge it: the outbox keeps it.
    page.eval("window.majlis.client.close()").await?;
    page.type_into("[data-testid=composer-text]", "Sent before the tab closed").await?;
    page.press("Enter", 0).await?;
    page.wait_for("localStorage.getItem('majlis.chat.outbox.' + window.majlis.state.chat.id)?.includes('Sent before the tab closed')", "the outbox")
        .await?;
    page.goto("about:blank").await?;

    // Meanwhile the agent writes.
    agent.ok(json!({"type": "chat_send", "chat": chat, "text": "Are you still there?"})).await;

    // Back with the same token: the same chat, its whole history, and the kept message sent once.
    page.goto(&server.url("/chat.html?lang=en")).await?;
    assert_eq!(chat_id(&page).await?, chat, "the same chat resumes");
    page.wait_for(&msg_with("Are you still there?"), "the agent's message from while away").await?;
    page.wait_for(
        &format!("{}?.closest('[data-testid=msg]').dataset.seq > 0", msg_with("Sent before the tab closed")),
        "the kept message sent",
    )
    .await?;
    page.wait_for("!localStorage.getItem('majlis.chat.outbox.' + window.majlis.state.chat.id)", "the outbox empty")
        .await?;
    let texts = staff_texts(&server, chat).await;
    for text in ["Sent while offline", "Sent before the tab closed"] {
        assert_eq!(texts.iter().filter(|t| *t == text).count(), 1, "{text:?} arrives exactly once: {texts:?}");
    }
    let order: Vec<&String> = texts.iter().filter(|t| t.starts_with("Sent")).collect();
    assert_eq!(order, ["Sent while offline", "Sent before the tab closed"], "in the order written");
    Ok(())
}

#[tokio::test]
async fn a_start_whose_ack_was_lost_with_the_connection_opens_the_one_chat_it_made() -> Result<()> {
    // Three open chats allowed: a start sent again that made a chat would show as a second one.
    let server = TestServer::start_with(|c| {
        c.chat.starts_per_hour = 10_000;
        c.chat.starts_burst = 10_000;
        c.chat.max_open_per_citizen = 3;
    })
    .await;
    open_all_week(&server).await;
    let (_agent, _) = agent_on_desk(&server, "Amina").await;
    let browser = Browser::launch().await?;
    let page = browser.new_page(360, 740).await?;
    chat_page(&page, &server, "en").await?;
    // The connection is closed the moment the start goes out: the server makes the chat, and its ack never
    // reaches the page (a closing socket delivers nothing more).
    page.eval(
        "(() => { const ws = window.majlis.client.ws; const send = ws.send.bind(ws);
           ws.send = (data) => { send(data); if (data.includes('\"chat_start\"')) ws.close(); }; })()",
    )
    .await?;
    let chat = start_chat(&page, "Fatima").await?;
    let token = page.eval("window.majlis.state.session.token").await?;
    let (_, info) = server.get_json("/api/chat/start-info", token.as_str()).await;
    let mine: Vec<u64> = info["my_chats"].as_array().into_iter().flatten().filter_map(|c| c["id"].as_u64()).collect();
    assert_eq!(mine, [chat], "the start sent again on the next connection made no second chat: {info}");
    Ok(())
}

#[tokio::test]
async fn an_offline_message_whose_answer_was_lost_is_left_once_when_sent_again() -> Result<()> {
    let server = TestServer::start_with(|c| {
        c.chat.offline_burst = 1;
        c.chat.offline_per_hour = 1;
    })
    .await;
    open_all_week(&server).await;
    let browser = Browser::launch().await?;
    let page = browser.new_page(360, 740).await?;
    open_in(&page, &server, "en", "/chat.html?lang=en").await?;
    page.wait_for(
        "document.body.dataset.view === 'start' && !document.getElementById('start-offline').hidden",
        "the offline offer",
    )
    .await?;
    page.click("[data-testid=start-offline]").await?;
    page.wait_for("document.body.dataset.view === 'offline'", "the offline form").await?;
    // The first answer is lost on the way back: the server kept the message, the page hears a network error.
    page.eval(
        "(() => { const fetch = window.fetch; let lost = false;
           window.fetch = async (path, init) => { const r = await fetch(path, init);
             if (!lost && String(path).includes('/api/chat/offline')) { lost = true; throw new TypeError('lost'); }
             return r; }; })()",
    )
    .await?;
    page.type_into("[data-testid=offline-text]", "Please call me about my housing application").await?;
    page.type_into("[data-testid=offline-contact]", "+973 3300 0000").await?;
    page.click("[data-testid=offline-submit]").await?;
    page.wait_for("!document.querySelector('[data-testid=offline-error]').hidden", "the error").await?;
    // Sent again as it was: her one message an hour is used up, and the page still hears it was received.
    page.click("[data-testid=offline-submit]").await?;
    page.wait_for("!document.querySelector('[data-testid=offline-done]').hidden", "the message received").await?;
    let (_, inbox) = server.get_json("/api/chat/offline", Some(&server.token(Role::Agent, "Amina"))).await;
    assert_eq!(inbox["messages"].as_array().map(Vec::len), Some(1), "one message: {inbox}");
    Ok(())
}

/// A citizen through the protocol who starts a chat (the consent version read from the start info).
async fn citizen_chat(server: &TestServer, name: &str, lang: &str) -> (Client, u64) {
    let (_, info) = server.get_json("/api/chat/start-info", None).await;
    let version = info["consent"]["version"].as_str().unwrap_or_default().to_string();
    let mut citizen = server.citizen(name).await;
    let ack = citizen
        .ok(json!({"type": "chat_start", "category": "inquiry", "lang": lang, "name": name, "consent": true, "consent_version": version}))
        .await;
    (citizen, ack["chat"].as_u64().unwrap_or_default())
}

/// Signs `page` in to the console with a new token of `role`, and makes it available in both languages.
async fn console_signed_in(page: &Page, server: &TestServer, role: Role, name: &str, lang: &str) -> Result<()> {
    let token = server.token(role, name);
    open_in(page, server, lang, &format!("/agent.html#token={token}")).await?;
    connected(page).await?;
    page.click("[data-testid=avail-available]").await?;
    page.wait_for("document.querySelector('[data-testid=my-load]')?.hidden === false", "on the desk").await
}

#[tokio::test]
async fn an_agent_transfers_a_chat_from_the_console_and_answers_the_offline_inbox() -> Result<()> {
    let server = server().await;
    open_all_week(&server).await;
    let browser = Browser::launch().await?;
    let console = browser.new_page(1280, 800).await?;
    console_signed_in(&console, &server, Role::Agent, "Amina", "en").await?;
    let (_citizen, chat) = citizen_chat(&server, "Ali", "en").await;
    let item = format!("[data-testid=chat-item][data-id=\"{chat}\"]");
    console.wait_for(&format!("document.querySelector('{item}')"), "the chat routed to the console").await?;

    // Huda comes on the desk; the console transfers the chat to her with a note.
    let (mut huda, huda_sub) = agent_on_desk(&server, "Huda").await;
    huda.join(&format!("user:{huda_sub}")).await;
    console
        .wait_for(
            "document.querySelectorAll('#pane-actions [data-testid=transfer]').length === 1",
            "the transfer action",
        )
        .await?;
    console.click("[data-testid=hand-on]").await?;
    console.click("#pane-actions [data-testid=transfer]").await?;
    console
        .wait_for("document.querySelector('[data-testid=transfer-to]')?.options.length === 1", "Huda offered")
        .await?;
    console.type_into("[data-testid=handover-note]", "Ali asks about his 2019 application.").await?;
    console.screenshot(&shot("agent-transfer-en-1280")).await?;
    console.click("[data-testid=dialog-ok]").await?;
    let assigned = huda.next_matching("assigned", |f| f["kind"] == "assigned").await;
    assert_eq!(assigned["data"]["from"], json!("Amina"));
    // The chat leaves Amina's console; Huda has the note, internal.
    console.wait_for(&format!("!document.querySelector('{item}')"), "the chat gone from the console").await?;
    console
        .wait_for(
            "document.activeElement?.id === 'mine-title' || document.activeElement?.dataset.testid === 'chat-open'",
            "the focus on the list of chats",
        )
        .await?;
    let staff = huda.join(&format!("chat:{chat}:staff")).await;
    let notes = staff["data"]["notes"].to_string();
    assert!(notes.contains("Ali asks about his 2019 application."), "the handover note: {notes}");

    // A message left while nobody could chat, answered from the inbox.
    let citizen = server.token(Role::Citizen, "Maryam");
    let response = server
        .http
        .post(server.url("/api/chat/offline"))
        .bearer_auth(&citizen)
        .json(&json!({"category": "suggestion", "lang": "ar", "contact": "+973 3300 0000", "text": "أقترح إرسال رسالة نصية عند كل خطوة"}))
        .send()
        .await?;
    assert_eq!(response.status(), 201);
    console.click("[data-testid=tab-inbox]").await?;
    console.wait_for("document.querySelector('[data-testid=inbox-item]')", "the offline message").await?;
    let contact = console.eval("(() => { const e = document.querySelector('[data-testid=inbox-contact]'); return [e.textContent, getComputedStyle(e).direction]; })()").await?;
    assert_eq!(contact, json!(["+973 3300 0000", "ltr"]), "a phone number reads left to right");
    console.click("[data-testid=inbox-answer]").await?;
    console.type_into("[data-testid=inbox-answer-text]", "شكرًا لاقتراحك، سنرفعه إلى الفريق المختص.").await?;
    console.click("[data-testid=inbox-send]").await?;
    console.wait_for("!document.querySelector('[data-testid=inbox-item]')", "gone from the open messages").await?;
    console.click("[data-testid=inbox-answered]").await?;
    console
        .wait_for("document.querySelector('[data-testid=inbox-item][data-status=answered]')", "listed as answered")
        .await?;
    console.screenshot(&shot("agent-inbox-answered-en-1280")).await?;
    assert!(console.exceptions().is_empty(), "uncaught exceptions: {:?}", console.exceptions());
    Ok(())
}

#[tokio::test]
async fn an_admin_sets_canned_responses_hours_and_caps_from_the_console() -> Result<()> {
    let server = server().await;
    open_all_week(&server).await;
    let (_agent, agent_sub) = agent_on_desk(&server, "Huda").await;
    let browser = Browser::launch().await?;
    let console = browser.new_page(1280, 800).await?;
    console_signed_in(&console, &server, Role::Admin, "Salman", "ar").await?;
    let admin = server.token(Role::Admin, "Check");

    console.click("[data-testid=tab-canned]").await?;
    console.click("[data-testid=canned-new]").await?;
    console.type_into("[data-testid=canned-shortcut]", "docs").await?;
    console.type_into("[data-testid=canned-ar]", "يرجى إرفاق نسخة من البطاقة الذكية.").await?;
    console.type_into("[data-testid=canned-en]", "Please attach a copy of your ID card.").await?;
    console.click("[data-testid=canned-save]").await?;
    console.wait_for("document.querySelector('[data-testid=canned-item]')", "the new canned response").await?;
    let (_, canned) = server.get_json("/api/chat/canned", Some(&admin)).await;
    assert_eq!(canned["canned"][0]["shortcut"], json!("docs"));

    console.click("[data-testid=tab-hours]").await?;
    console.wait_for("document.querySelector('[data-testid=hours-sun]')?.value === '00:00-24:00'", "the hours").await?;
    console.type_into("[data-testid=hours-fri]", "").await?;
    console.type_into("[data-testid=hours-sat]", "08:00-12:00, 16:00-20:00").await?;
    console.type_into("[data-testid=hours-holidays]", "2026-12-16\n2026-12-17").await?;
    // The canned response's "Saved" toast may still be showing: clear it so the next one is the hours'.
    console.eval("document.querySelectorAll('[data-testid=toast]').forEach((n) => n.remove())").await?;
    console.click("[data-testid=hours-save]").await?;
    console.wait_for("document.querySelector('[data-testid=toast]')", "saved").await?;
    let (_, hours) = server.get_json("/api/chat/hours", None).await;
    assert_eq!(hours["week"]["fri"], json!([]));
    assert_eq!(hours["week"]["sat"], json!([{"open": "08:00", "close": "12:00"}, {"open": "16:00", "close": "20:00"}]));
    assert_eq!(hours["holidays"], json!(["2026-12-16", "2026-12-17"]));
    console.screenshot(&shot("agent-hours-saved-ar-1280")).await?;

    console.click("[data-testid=tab-agents]").await?;
    let row = format!("[data-testid=agent-item][data-sub=\"{agent_sub}\"]");
    console.wait_for(&format!("document.querySelector('{row}')"), "Huda on the list").await?;
    console.type_into(&format!("{row} [data-testid=cap-input]"), "5").await?;
    console.click(&format!("{row} [data-testid=cap-save]")).await?;
    console
        .wait_for(&format!("document.querySelector('{row}')?.textContent.includes('0/5')"), "the new cap on the list")
        .await?;
    console.click("[data-testid=tab-report]").await?;
    console.wait_for("document.querySelector('[data-testid=r-chats]')", "the report").await?;
    assert!(console.exceptions().is_empty(), "uncaught exceptions: {:?}", console.exceptions());
    Ok(())
}

#[tokio::test]
async fn a_waiting_citizen_sees_the_queue_move_and_may_leave_it() -> Result<()> {
    let server = server().await;
    open_all_week(&server).await;
    let (mut agent, agent_sub) = agent_on_desk(&server, "Huda").await;
    let response = server
        .http
        .put(server.url(&format!("/api/chat/agents/{agent_sub}")))
        .bearer_auth(server.token(Role::Admin, "Admin"))
        .json(&json!({"max_chats": 1}))
        .send()
        .await?;
    assert!(response.status().is_success(), "PUT cap: {}", response.status());
    // The only agent is busy with someone else: the next two wait.
    let (_first, first_chat) = citizen_chat(&server, "Ali", "ar").await;
    let (_second, _) = citizen_chat(&server, "Sara", "ar").await;
    let browser = Browser::launch().await?;

    for (lang, width, height) in [("ar", 360, 740), ("en", 1280, 800)] {
        let page = browser.new_page(width, height).await?;
        chat_page(&page, &server, lang).await?;
        page.click("[data-testid=lang-ar]").await?; // the Arabic queue, whatever the page's language
        start_chat(&page, "").await?;
        page.wait_for("!document.querySelector('[data-testid=queue-box]').hidden", "the queue").await?;
        page.wait_for("window.majlis.state.position === 2", "second in the queue").await?;
        assert_fits(&page, "waiting").await?;
        assert_axe_clean(&page, &format!("waiting ({lang}, {width})")).await?;
        page.screenshot(&shot(&format!("chat-waiting-{lang}-{width}"))).await?;
        // Leaving the queue is confirmed first, and ends the chat.
        page.click("[data-testid=leave-queue]").await?;
        page.click("[data-testid=confirm-ok]").await?;
        page.wait_for("!document.querySelector('[data-testid=after]').hidden", "out of the queue").await?;
        page.click("[data-testid=new-chat]").await?;
        page.wait_for("document.body.dataset.view === 'start'", "the form again").await?;
        page.goto("about:blank").await?;
    }

    // Third in the queue, then the queue moves as the agent frees up and the chat reaches the agent.
    let page = browser.new_page(360, 740).await?;
    chat_page(&page, &server, "en").await?;
    page.click("[data-testid=lang-ar]").await?;
    start_chat(&page, "Fatima").await?;
    page.wait_for("window.majlis.state.position === 2", "second in the queue").await?;
    agent.ok(json!({"type": "chat_end", "chat": first_chat})).await;
    page.wait_for("window.majlis.state.position === 1", "next in the queue").await?;
    assert!(page.text("[data-testid=queue-position]").await?.contains("next"));
    page.wait_for(
        "document.querySelector('[data-testid=announcer]').textContent.includes('next')",
        "the move announced",
    )
    .await?;
    Ok(())
}

#[tokio::test]
async fn only_the_chat_page_may_be_framed_and_only_by_the_sites_named() {
    let csp = |response: &reqwest::Response| {
        response.headers().get("content-security-policy").and_then(|v| v.to_str().ok()).unwrap_or_default().to_string()
    };
    let server = TestServer::start().await;
    for (path, ancestors) in [
        ("/chat.html", "frame-ancestors *"),
        ("/agent.html", "frame-ancestors 'none'"),
        ("/", "frame-ancestors 'none'"),
    ] {
        let response = server.http.get(server.url(path)).send().await.expect("GET page");
        assert!(csp(&response).ends_with(ancestors), "{path}: {}", csp(&response));
    }
    let widget = server.http.get(server.url("/chat-widget.js")).send().await.expect("GET widget");
    assert_eq!(widget.status(), 200);
    assert!(widget.headers()["content-type"].to_str().unwrap_or_default().contains("javascript"));

    let server =
        TestServer::start_with(|c| c.chat_embed_origins = "https://www.housing.gov.bh https://eservices.gov.bh".into())
            .await;
    let response = server.http.get(server.url("/chat.html")).send().await.expect("GET chat");
    assert!(
        csp(&response).ends_with("frame-ancestors https://www.housing.gov.bh https://eservices.gov.bh"),
        "{}",
        csp(&response)
    );
}
