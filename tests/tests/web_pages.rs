//! The web pages in a real headless Chromium: a citizen asks and votes, a moderator approves, pins and answers,
//! the presenter view shows the pinned question, Arabic is right-to-left, and user text stays text; on a phone
//! the feed comes first; keyboard-only use takes a handful of keys; axe-core finds nothing serious.
//!
//! Screenshots land in `target/screenshots/` for a person to look at.

use std::path::PathBuf;

use anyhow::Result;
use majlis_server::auth::Role;
use majlis_tests::browser::{js_str, Browser, Page};
use majlis_tests::{ask, id_of, TestServer};
use serde_json::{json, Value};

const CTRL: u32 = 2;
const SHIFT: u32 = 8;

fn shot(name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/screenshots");
    std::fs::create_dir_all(&dir).expect("screenshot dir");
    dir.join(format!("{name}.png"))
}

fn question(id: u64) -> String {
    format!("[data-testid=questions] [data-testid=question][data-id=\"{id}\"]")
}

fn mod_question(id: u64) -> String {
    format!("[data-testid=mod-question][data-id=\"{id}\"]")
}

fn mine_item(id: u64) -> String {
    format!("[data-testid=mine-item][data-id=\"{id}\"]")
}

/// Waits for the page's own client to be connected.
async fn connected(page: &Page) -> Result<()> {
    page.wait_for("document.querySelector('[data-testid=conn-status]')?.dataset.state === 'open'", "the connection")
        .await
}

/// Opens `path` with the interface in `lang` (the choice is kept in localStorage, as the language button does).
async fn open_in(page: &Page, server: &TestServer, lang: &str, path: &str) -> Result<()> {
    page.goto(&server.url("/favicon.svg")).await?;
    page.eval(&format!("localStorage.setItem('majlis.lang', {})", js_str(lang))).await?;
    page.goto(&server.url(path)).await
}

/// The id of the question in a list whose text is `text`.
async fn question_id_by_text(page: &Page, item: &str, text: &str) -> Result<u64> {
    let find = format!(
        "[...document.querySelectorAll('[data-testid={item}]')].find(e => e.querySelector('[data-testid=question-text],[data-testid=mine-text]')?.textContent === {})",
        js_str(text)
    );
    page.wait_for(&format!("{find}?.dataset.id > 0"), &format!("{item} '{text}'")).await?;
    let id = page.eval(&format!("Number({find}.dataset.id)")).await?;
    Ok(id.as_u64().unwrap_or_default())
}

/// Presses Tab until the focus is on `selector`; returns how many presses that took (at most `max`).
async fn tab_to(page: &Page, selector: &str, max: usize) -> Result<usize> {
    for presses in 1..=max {
        page.press("Tab", 0).await?;
        let there = page.eval(&format!("document.activeElement?.matches({}) ?? false", js_str(selector))).await?;
        if there == json!(true) {
            return Ok(presses);
        }
    }
    anyhow::bail!("{selector} not reached in {max} Tab presses")
}

async fn focused_is(page: &Page, condition: &str, what: &str) -> Result<()> {
    page.wait_for(&format!("(() => {{ const a = document.activeElement; return {condition}; }})()"), what).await
}

async fn patch_broadcast(server: &TestServer, id: u64, body: Value) -> Value {
    let response = server
        .http
        .patch(server.url(&format!("/api/broadcasts/{id}")))
        .bearer_auth(server.token(Role::Moderator, "Mod"))
        .json(&body)
        .send()
        .await
        .expect("PATCH broadcast");
    assert!(response.status().is_success(), "PATCH {body}: {}", response.status());
    response.json().await.expect("json")
}

/// A live broadcast with `n` questions asked by different citizens; returns (id, code, question ids).
async fn live_broadcast(server: &TestServer, settings: Value, texts: &[&str]) -> (u64, String, Vec<u64>) {
    let b = server.create_broadcast(settings).await;
    let (bid, code) = (id_of(&b), b["code"].as_str().unwrap_or_default().to_string());
    server.set_state(bid, "live").await;
    let mut ids = vec![];
    for (i, text) in texts.iter().enumerate() {
        let mut c = server.citizen(["Fatima", "Ahmed", "Maryam", "Yusuf", "Sara", "Ali"][i % 6]).await;
        ids.push(id_of(&ask(&mut c, bid, text).await));
    }
    (bid, code, ids)
}

#[tokio::test]
async fn a_broadcast_runs_end_to_end_in_the_browser() -> Result<()> {
    let server = TestServer::start().await;
    let b = server.create_broadcast(json!({"premoderation": true, "allow_anonymous": true})).await;
    let (bid, code) = (id_of(&b), b["code"].as_str().unwrap_or_default().to_string());
    server.set_state(bid, "live").await;
    let browser = Browser::launch().await?;

    // A citizen on a phone joins by link and asks.
    let citizen = browser.new_page(360, 780).await?;
    open_in(&citizen, &server, "en", &format!("/b/{code}")).await?;
    connected(&citizen).await?;
    let asked = "When does registration for the new housing units open?";
    citizen.type_into("[data-testid=ask-text]", asked).await?;
    citizen.click("[data-testid=ask-submit]").await?;
    let qid = question_id_by_text(&citizen, "mine-item", asked).await?;
    citizen
        .wait_for(
            &format!("document.querySelector('{}')?.dataset.status === 'pending'", mine_item(qid)),
            "awaiting review",
        )
        .await?;
    // The notice says what happened, and the focus is back in the box for the next question.
    citizen
        .wait_for("document.querySelector('[data-testid=ask-notice]').textContent.includes('review')", "the notice")
        .await?;
    focused_is(&citizen, "a?.dataset.testid === 'ask-text'", "the focus back in the ask box").await?;
    let hostile = "<img src=x onerror=alert(1)>";
    citizen.type_into("[data-testid=ask-text]", hostile).await?;
    citizen.click("[data-testid=ask-submit]").await?;
    let xss_id = question_id_by_text(&citizen, "mine-item", hostile).await?;
    citizen.click("[data-testid=tab-mine]").await?;
    citizen.screenshot(&shot("citizen-asked")).await?;

    // The moderator approves both from the console.
    let moderator = browser.new_page(1280, 900).await?;
    let token = server.token(Role::Moderator, "Amina");
    moderator.goto(&server.url(&format!("/moderator.html#token={token}"))).await?;
    connected(&moderator).await?;
    moderator.click(&format!("[data-testid=bc-item][data-id=\"{bid}\"] [data-testid=bc-open]")).await?;
    for id in [qid, xss_id] {
        moderator.wait_for(&format!("document.querySelector('{}')", mod_question(id)), "the pending question").await?;
        moderator.click(&format!("{} [data-testid=approve]", mod_question(id))).await?;
    }
    // Once approved, the "awaiting review" notice is no longer true and goes.
    citizen
        .wait_for("document.querySelector('[data-testid=ask-notice]').textContent === ''", "the stale notice gone")
        .await?;

    // A third question the moderator declines: the author's page says so at once, without a reload.
    let declined = "Is this the right place to ask about my electricity bill?";
    citizen.type_into("[data-testid=ask-text]", declined).await?;
    citizen.click("[data-testid=ask-submit]").await?;
    let declined_id = question_id_by_text(&citizen, "mine-item", declined).await?;
    let mut api_moderator = server.moderator().await;
    api_moderator.ok(json!({"type": "hide", "broadcast": bid, "question": declined_id, "reason": "off topic"})).await;
    citizen
        .wait_for(
            &format!("document.querySelector('{}')?.dataset.status === 'hidden'", mine_item(declined_id)),
            "not published",
        )
        .await?;
    citizen.screenshot(&shot("citizen-declined")).await?;

    // The citizen sees them published and upvotes the first.
    citizen.click("[data-testid=tab-questions]").await?;
    citizen.wait_for(&format!("document.querySelector('{}')", question(qid)), "the approved question").await?;
    // A moderator has acted on it, so it is no longer the author's to edit or withdraw.
    citizen
        .wait_for(
            &format!(
                "document.querySelector('{0}') && !document.querySelector('{0} [data-testid=edit]')",
                mine_item(qid)
            ),
            "no edit button on an approved question",
        )
        .await?;
    citizen.click(&format!("{} [data-testid=vote]", question(qid))).await?;
    citizen
        .wait_for(
            &format!("document.querySelector('{} [data-testid=votes]')?.dataset.count === '1'", question(qid)),
            "one vote",
        )
        .await?;
    // One vote is "1 vote", not "1 votes"; the button is described by that same text.
    assert_eq!(citizen.text(&format!("{} [data-testid=votes]", question(qid))).await?, "1 vote");
    let described = citizen
        .eval(&format!(
            "document.getElementById(document.querySelector('{} [data-testid=vote]').getAttribute('aria-describedby'))?.textContent",
            question(qid)
        ))
        .await?;
    assert_eq!(described, json!("1 vote"), "the vote button is described by the count beside it");
    assert_eq!(citizen.text(&format!("{} [data-testid=votes]", question(xss_id))).await?, "0 votes");
    citizen.screenshot(&shot("citizen-voted")).await?;
    let pressed = citizen
        .eval(&format!("document.querySelector('{} [data-testid=vote]').getAttribute('aria-pressed')", question(qid)))
        .await?;
    assert_eq!(pressed, json!("true"), "the vote button says it is pressed");
    let label = citizen
        .eval(&format!("document.querySelector('{} [data-testid=vote]').getAttribute('aria-label')", question(qid)))
        .await?;
    assert!(
        label.as_str().unwrap_or_default().contains(asked),
        "the vote button is labelled with the question: {label}"
    );
    assert!(
        label.as_str().unwrap_or_default().starts_with("Voted"),
        "the accessible name starts with the visible word: {label}"
    );

    // The hostile text is shown as text: no image element, no alert.
    citizen.wait_for(&format!("document.querySelector('{}')", question(xss_id)), "the hostile question").await?;
    let shown = citizen.text(&format!("{} [data-testid=question-text]", question(xss_id))).await?;
    assert_eq!(shown, hostile);
    assert_eq!(citizen.eval("document.querySelectorAll('[data-testid=questions] img').length").await?, json!(0));

    // The moderator pins and answers; a presenter screen shows the pinned question.
    moderator.click(&format!("{} [data-testid=pin]", mod_question(qid))).await?;
    let presenter = browser.new_page(1280, 720).await?;
    presenter.goto(&server.url(&format!("/presenter.html?code={code}"))).await?;
    presenter
        .wait_for(
            &format!(
                "document.querySelector('[data-testid=presenter-pinned-text]')?.textContent === {}",
                js_str(asked)
            ),
            "the pinned question on the presenter view",
        )
        .await?;
    assert_eq!(presenter.text("[data-testid=presenter-code]").await?.trim(), code);
    assert_eq!(presenter.text("[data-testid=presenter-votes]").await?, "1 vote");
    presenter.wait_for("document.querySelector('[data-testid=presenter-qr]')?.complete", "the QR code").await?;
    presenter.screenshot(&shot("presenter")).await?;
    citizen
        .wait_for(
            &format!("document.querySelector('[data-testid=pinned-text]')?.textContent === {}", js_str(asked)),
            "now answering on the citizen page",
        )
        .await?;
    // The asker's own list says the question is on screen now.
    citizen
        .wait_for(
            &format!("document.querySelector('{}')?.dataset.fate === 'on_screen'", mine_item(qid)),
            "on screen now",
        )
        .await?;

    // The written answer is in the menu of further actions.
    moderator.click(&format!("{} [data-testid=answer]", mod_question(qid))).await?;
    let answer = "Registration opens on 1 March through the eServices portal.";
    moderator.type_into(&format!("{} [data-testid=answer-text-input]", mod_question(qid)), answer).await?;
    moderator.click(&format!("{} [data-testid=answer-submit]", mod_question(qid))).await?;
    citizen
        .wait_for(
            &format!("[...document.querySelectorAll('[data-testid=answered] [data-testid=answer-text]')].some(e => e.textContent.includes({}))", js_str(answer)),
            "the written answer",
        )
        .await?;
    // The asker's page shows "answered" live, with the answer, in "My questions".
    citizen
        .wait_for(
            &format!("document.querySelector('{}')?.dataset.status === 'answered'", mine_item(qid)),
            "answered, live",
        )
        .await?;
    assert_eq!(citizen.text(&format!("{} [data-testid=mine-status]", mine_item(qid))).await?, "Answered");
    assert!(citizen.text(&format!("{} [data-testid=answer-text]", mine_item(qid))).await?.contains(answer));
    citizen.click("[data-testid=tab-mine]").await?;
    citizen.screenshot(&shot("citizen-mine-answered")).await?;
    citizen.click("[data-testid=tab-answered]").await?;
    citizen.screenshot(&shot("citizen-answered")).await?;
    moderator.screenshot(&shot("moderator")).await?;

    // Arabic: the page turns right-to-left.
    citizen.click("[data-testid=lang-switch]").await?;
    citizen
        .wait_for(
            "document.documentElement.dir === 'rtl' && document.documentElement.lang === 'ar'",
            "Arabic, right-to-left",
        )
        .await?;
    // Arabic counts take the dual, plural and singular forms by number: one vote is "صوت واحد" (one vote).
    citizen
        .wait_for(
            &format!(
                "document.querySelector('[data-testid=answered] [data-id=\"{qid}\"] [data-testid=votes]')?.textContent === {}",
                js_str("صوت واحد")
            ),
            "one vote, in Arabic",
        )
        .await?;
    citizen.screenshot(&shot("citizen-arabic")).await?;
    let overflow = citizen.eval("document.documentElement.scrollWidth > window.innerWidth + 1").await?;
    assert_eq!(overflow, json!(false), "no horizontal scrolling on a 360 px phone");

    // After the broadcast, the answer is in the public FAQ.
    server.set_state(bid, "ended").await;
    let faq = browser.new_page(1024, 800).await?;
    faq.goto(&server.url("/faq.html")).await?;
    faq.wait_for(&format!("document.body.textContent.includes({})", js_str(answer)), "the FAQ entry").await?;
    faq.screenshot(&shot("faq")).await?;

    assert!(citizen.dialogs().is_empty(), "a page opened a dialog (injected script ran?): {:?}", citizen.dialogs());
    assert!(citizen.exceptions().is_empty(), "uncaught exceptions: {:?}", citizen.exceptions());
    Ok(())
}

#[tokio::test]
async fn the_landing_page_lists_live_broadcasts_in_arabic_and_says_so_there_when_a_code_is_wrong() -> Result<()> {
    let server = TestServer::start().await;
    let b = server.create_broadcast(json!({"title": {"ar": "لقاء مباشر حول التمويل", "en": "Live: financing"}})).await;
    server.set_state(id_of(&b), "live").await;
    let browser = Browser::launch().await?;
    let page = browser.new_page(360, 740).await?;
    open_in(&page, &server, "ar", "/").await?;
    page.wait_for("document.documentElement.dir === 'rtl'", "right-to-left").await?;
    page.wait_for("document.body.textContent.includes('لقاء مباشر حول التمويل')", "the Arabic title").await?;
    page.screenshot(&shot("landing-arabic")).await?;

    // A code no session has: the message is right under the field, which keeps the focus.
    page.type_into("[data-testid=join-code]", "zz9zz9").await?;
    page.press("Enter", 0).await?;
    page.wait_for("!document.querySelector('[data-testid=join-error]').hidden", "the inline error").await?;
    assert!(
        page.eval("location.pathname").await?.as_str().unwrap_or_default().ends_with('/'),
        "still on the landing page"
    );
    focused_is(&page, "a?.dataset.testid === 'join-code'", "the code field").await?;
    assert_eq!(
        page.eval("document.querySelector('[data-testid=join-code]').getAttribute('aria-invalid')").await?,
        json!("true")
    );
    page.screenshot(&shot("landing-wrong-code-ar")).await?;

    // A right code goes to the session.
    page.type_into("[data-testid=join-code]", b["code"].as_str().unwrap_or_default()).await?;
    page.press("Enter", 0).await?;
    // The navigation may replace the page the wait was running in: then wait again in the new one.
    for attempt in 1..=3 {
        match page.wait_for("location.pathname.endsWith('/broadcast.html')", "the session page").await {
            Ok(()) => break,
            Err(e) if attempt < 3 && format!("{e:#}").contains("navigated") => continue,
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

#[tokio::test]
async fn on_a_phone_the_first_question_is_in_view_and_an_ended_session_shows_its_answers() -> Result<()> {
    let server = TestServer::start().await;
    let texts = [
        "متى يفتح باب التسجيل في مشروع الوحدات السكنية الجديدة؟",
        "Can I apply for the eServices housing loan if I already own land?",
        "What documents do I need for the Mazaya programme?",
    ];
    let (bid, code, ids) = live_broadcast(
        &server,
        json!({"description": {"en": "Put your questions to the ministry team, live."}}),
        &texts,
    )
    .await;
    let mut moderator = server.moderator().await;
    moderator.ok(json!({"type": "pin", "broadcast": bid, "question": ids[1]})).await;
    let browser = Browser::launch().await?;
    for lang in ["en", "ar"] {
        let page = browser.new_page(360, 740).await?;
        open_in(&page, &server, lang, &format!("/b/{code}")).await?;
        connected(&page).await?;
        page.wait_for("document.querySelector('[data-testid=questions] [data-testid=question]')", "the feed").await?;
        // Visible without scrolling: the whole first question, under the pinned one and the ask box.
        let bottom = page
            .eval("document.querySelector('[data-testid=questions] [data-testid=question]').getBoundingClientRect().bottom")
            .await?;
        assert!(
            bottom.as_f64().unwrap_or(f64::MAX) <= 740.0,
            "{lang}: the first question ends at {bottom} px, below the fold"
        );
        assert_eq!(page.eval("scrollY").await?, json!(0));
        page.screenshot(&shot(&format!("citizen-phone-live-{lang}"))).await?;
    }

    // Mixed direction: the English question in the Arabic page reads left-to-right, aligned to its own start,
    // and the author's name is isolated from the words around it.
    let page = browser.new_page(1280, 800).await?;
    open_in(&page, &server, "ar", &format!("/b/{code}")).await?;
    connected(&page).await?;
    let english = format!("{} [data-testid=question-text]", question(ids[2]));
    page.wait_for(&format!("document.querySelector('{english}')"), "the English question").await?;
    let seen = page
        .eval(&format!(
            "(() => {{ const p = document.querySelector('{english}'); const s = getComputedStyle(p);
               const author = document.querySelector('{} .author');
               return [p.getAttribute('dir'), s.direction, s.textAlign, s.unicodeBidi, s.fontStyle, author.tagName,
                       getComputedStyle(document.documentElement).direction]; }})()",
            question(ids[2])
        ))
        .await?;
    assert_eq!(
        seen,
        json!(["auto", "ltr", "start", "isolate", "normal", "BDI", "rtl"]),
        "isolated, by its own direction"
    );
    let every = page
        .eval("[...document.querySelectorAll('[data-testid=question-text],[data-testid=pinned-text],[data-testid=mine-text]')].every(e => e.getAttribute('dir') === 'auto')")
        .await?;
    assert_eq!(every, json!(true), "every piece of user text has dir=auto");
    let italic = page
        .eval("[...document.querySelectorAll('body *')].filter(e => getComputedStyle(e).fontStyle === 'italic').length")
        .await?;
    assert_eq!(italic, json!(0), "nothing is set in italics");
    page.screenshot(&shot("citizen-desktop-live-ar")).await?;

    // The end: the answers become the page, the ask box and "now answering" go, the FAQ is one tap away.
    moderator.ok(json!({"type": "answer", "broadcast": bid, "question": ids[0], "text": "في الأول من مارس."})).await;
    server.set_state(bid, "ended").await;
    page.wait_for("!document.querySelector('[data-testid=bc-ended]').hidden", "the ended state").await?;
    let ended = page
        .eval(
            "[document.getElementById('ask-card').hidden, document.querySelector('[data-testid=pinned]').hidden,
              document.querySelector('[data-testid=tab-answered]').getAttribute('aria-selected'),
              !!document.querySelector('[data-testid=ended-faq]')]",
        )
        .await?;
    assert_eq!(ended, json!([true, true, "true", true]));
    page.screenshot(&shot("citizen-desktop-ended-ar")).await?;
    let phone = browser.new_page(360, 740).await?;
    open_in(&phone, &server, "en", &format!("/b/{code}")).await?;
    phone.wait_for("!document.querySelector('[data-testid=bc-ended]').hidden", "the ended state").await?;
    phone.screenshot(&shot("citizen-phone-ended-en")).await?;
    Ok(())
}

#[tokio::test]
async fn a_citizen_asks_and_votes_with_the_keyboard_alone() -> Result<()> {
    let server = TestServer::start().await;
    let (_, code, ids) =
        live_broadcast(&server, json!({}), &["What documents do I need for the Mazaya programme?"]).await;
    let browser = Browser::launch().await?;
    let page = browser.new_page(360, 740).await?;
    open_in(&page, &server, "en", &format!("/b/{code}")).await?;
    connected(&page).await?;
    page.wait_for(&format!("document.querySelector('{}')", question(ids[0])), "the feed").await?;

    let to_box = tab_to(&page, "[data-testid=ask-text]", 8).await?;
    let asked = "Is there a priority for families with disabled members?";
    page.insert_text(asked).await?;
    page.press("Enter", CTRL).await?;
    let own = question_id_by_text(&page, "question", asked).await?;
    focused_is(&page, "a?.dataset.testid === 'ask-text'", "the focus staying in the ask box").await?;

    // From the box to the first question's vote button, and vote.
    let to_vote = tab_to(&page, &format!("{} [data-testid=vote]", question(ids[0])), 12).await?;
    page.press(" ", 0).await?;
    page.wait_for(
        &format!(
            "document.querySelector('{} [data-testid=vote]').getAttribute('aria-pressed') === 'true'",
            question(ids[0])
        ),
        "voted",
    )
    .await?;
    focused_is(&page, "a?.dataset.testid === 'vote'", "the focus staying on the vote button").await?;
    assert!(to_box + to_vote <= 16, "{to_box} + {to_vote} Tab presses to ask and vote");
    assert!(own > 0);
    page.screenshot(&shot("citizen-keyboard")).await?;
    Ok(())
}

#[tokio::test]
async fn a_moderator_approves_pins_and_answers_the_third_pending_question_in_a_handful_of_keys() -> Result<()> {
    let server = TestServer::start().await;
    let texts = [
        "متى يفتح باب التسجيل؟",
        "Can I apply if I already own land?",
        "What documents do I need for the Mazaya programme?",
        "كم تستغرق دراسة الطلب؟",
    ];
    let (bid, _, ids) = live_broadcast(&server, json!({"premoderation": true, "allow_anonymous": true}), &texts).await;
    let browser = Browser::launch().await?;
    let page = browser.new_page(1280, 800).await?;
    page.goto(&server.url(&format!("/moderator.html#token={}", server.token(Role::Moderator, "Amina")))).await?;
    connected(&page).await?;
    page.click(&format!("[data-testid=bc-item][data-id=\"{bid}\"] [data-testid=bc-open]")).await?;
    page.wait_for(&format!("document.querySelector('{}')", mod_question(ids[3])), "the queue").await?;
    // The queue is in view at 1280×800, and the shortcuts are listed on the page.
    let top =
        page.eval(&format!("document.querySelector('{}').getBoundingClientRect().top", mod_question(ids[0]))).await?;
    assert!(top.as_f64().unwrap_or(f64::MAX) < 800.0, "the first pending question starts at {top} px");
    assert!(page.text("[data-testid=shortcuts]").await?.contains("Approve"));
    page.screenshot(&shot("moderator-queue-en")).await?;

    let third = mod_question(ids[2]);
    let mut keys = 0;
    for _ in 0..3 {
        page.press("j", 0).await?;
        keys += 1;
    }
    focused_is(&page, &format!("a?.matches('{third}')"), "the third pending question").await?;
    page.press("a", 0).await?;
    keys += 1;
    page.wait_for(&format!("document.querySelector('{third}')?.dataset.status === 'approved'"), "approved").await?;
    focused_is(&page, &format!("a?.matches('{third}')"), "the focus following the question").await?;
    page.press("p", 0).await?;
    keys += 1;
    page.wait_for(&format!("document.querySelector('{third}')?.classList.contains('is-pinned')"), "pinned").await?;
    page.press("n", 0).await?;
    keys += 1;
    focused_is(&page, "a?.dataset.testid === 'answer-text-input'", "the answer box").await?;
    page.insert_text("Proof of income and the family record.").await?;
    page.press("Enter", CTRL).await?;
    keys += 1;
    page.wait_for(&format!("document.querySelector('{third}')?.dataset.status === 'answered'"), "answered").await?;
    focused_is(&page, &format!("a?.matches('{third}')"), "the focus back on the question").await?;
    assert_eq!(keys, 7, "three moves, approve, pin, answer, send");
    page.screenshot(&shot("moderator-keyboard-en")).await?;

    // Every new question is announced to moderators, including one published on arrival.
    patch_broadcast(&server, bid, json!({"premoderation": false})).await;
    let mut late = server.citizen("Late").await;
    ask(&mut late, bid, "Is the Mazaya programme open to renters?").await;
    page.wait_for("document.getElementById('announcer').textContent.includes('renters')", "the announcement").await?;

    // Approve all shown: the rest of the queue in one go.
    page.press("a", SHIFT).await?;
    page.wait_for(
        "document.querySelectorAll('[data-testid=mod-pending] [data-testid=mod-question]').length === 0",
        "an empty queue",
    )
    .await?;

    // Pause: new questions are refused, and the console says they are paused.
    page.click("[data-testid=pause]").await?;
    page.wait_for("document.querySelector('[data-testid=pause]').getAttribute('aria-pressed') === 'true'", "paused")
        .await?;
    let (_, b) = server.get_json(&format!("/api/broadcasts/{bid}"), None).await;
    assert_eq!(b["paused"], true);

    // End asks first, says it cannot be undone, and Escape keeps the broadcast live.
    page.click("[data-testid=bc-end]").await?;
    page.wait_for("document.querySelector('[data-testid=end-dialog]')?.open", "the confirmation").await?;
    assert!(page.text("[data-testid=end-dialog]").await?.contains("cannot be undone"));
    focused_is(&page, "a?.dataset.testid === 'confirm-cancel'", "Cancel, first").await?;
    page.screenshot(&shot("moderator-end-dialog-en")).await?;
    page.press("Escape", 0).await?;
    page.wait_for("!document.querySelector('[data-testid=end-dialog]')", "the dialog closed").await?;
    let (_, b) = server.get_json(&format!("/api/broadcasts/{bid}"), None).await;
    assert_eq!(b["state"], "live", "cancelled: still live");
    page.click("[data-testid=bc-end]").await?;
    page.click("[data-testid=end-dialog] [data-testid=confirm-ok]").await?;
    page.wait_for("document.querySelector('[data-testid=open-state]').dataset.state === 'ended'", "ended").await?;
    assert!(page.dialogs().is_empty(), "no window.confirm: {:?}", page.dialogs());
    assert!(page.exceptions().is_empty(), "uncaught exceptions: {:?}", page.exceptions());

    let phone = browser.new_page(360, 740).await?;
    phone.goto(&server.url(&format!("/moderator.html#token={}", server.token(Role::Moderator, "Amina")))).await?;
    phone.eval("localStorage.setItem('majlis.lang', 'ar')").await?;
    phone.goto(&server.url(&format!("/moderator.html?b={bid}"))).await?;
    phone.wait_for("document.querySelector('[data-testid=mod-question]')", "the questions").await?;
    phone.screenshot(&shot("moderator-phone-ar")).await?;
    Ok(())
}

#[tokio::test]
async fn a_long_pinned_question_fits_the_presenter_screen_which_thanks_everyone_at_the_end() -> Result<()> {
    let server = TestServer::start().await;
    let long: String = "متى يفتح باب التسجيل في مشروع الوحدات السكنية الجديدة في المحافظة الجنوبية، وهل يمكن للأسر التي لديها طلبات قديمة أن تحصل على أولوية في التخصيص، وما هي المستندات المطلوبة لإثبات الدخل؟ "
        .repeat(3)
        .chars()
        .take(300)
        .collect();
    assert_eq!(long.chars().count(), 300);
    let (bid, code, ids) = live_broadcast(&server, json!({}), &[&long, "How long does approval take?"]).await;
    let mut moderator = server.moderator().await;
    moderator.ok(json!({"type": "pin", "broadcast": bid, "question": ids[0]})).await;
    let browser = Browser::launch().await?;
    for lang in ["ar", "en"] {
        let page = browser.new_page(1280, 800).await?;
        open_in(&page, &server, lang, &format!("/presenter.html?code={code}&board=1&screen=1")).await?;
        page.wait_for(
            "document.querySelector('[data-testid=presenter-pinned-text]')?.textContent.length > 250",
            "the question",
        )
        .await?;
        page.wait_for("document.fonts.status === 'loaded'", "the fonts").await?;
        page.eval("new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))").await?;
        let fit = page
            .eval(
                "(() => { const box = document.querySelector('[data-testid=presenter-fit]');
                   const meta = document.querySelector('[data-testid=presenter-meta]').getBoundingClientRect();
                   return { overflow: box.scrollHeight > box.clientHeight + 1 || box.scrollWidth > box.clientWidth + 1,
                            metaInView: meta.top >= 0 && meta.bottom <= innerHeight,
                            pageScrolls: document.documentElement.scrollHeight > innerHeight,
                            controls: getComputedStyle(document.querySelector('[data-testid=presenter-controls]')).display,
                            board: document.querySelectorAll('[data-testid=board-item]').length }; })()",
            )
            .await?;
        assert_eq!(
            fit,
            json!({"overflow": false, "metaInView": true, "pageScrolls": false, "controls": "none", "board": 1}),
            "{lang}: the 300-character question fits with its author and votes, controls hidden"
        );
        page.screenshot(&shot(&format!("presenter-long-{lang}"))).await?;
    }

    server.set_state(bid, "ended").await;
    let page = browser.new_page(1280, 800).await?;
    open_in(&page, &server, "ar", &format!("/presenter.html?code={code}")).await?;
    page.wait_for("!document.querySelector('[data-testid=presenter-ended]').hidden", "the thank-you screen").await?;
    let gone = page
        .eval("[document.getElementById('presenter-stage').hidden, document.getElementById('presenter-join').hidden]")
        .await?;
    assert_eq!(gone, json!([true, true]), "no 'now answering' and no 'scan to ask' after the end");
    page.screenshot(&shot("presenter-ended-ar")).await?;
    Ok(())
}

#[tokio::test]
async fn a_page_speaks_the_first_of_the_browsers_languages_it_has_else_the_operators_default() -> Result<()> {
    let arabic = TestServer::start().await;
    let english = TestServer::start_with(|c| c.page_default_lang = "en".into()).await;
    let browser = Browser::launch().await?;
    for (server, languages, expected) in [
        (&arabic, &["fr-FR", "fr"][..], "ar"),
        (&arabic, &["fr-FR", "en-GB", "ar"][..], "en"),
        (&arabic, &["ur-PK", "ar-BH"][..], "ar"),
        (&english, &["fr-FR"][..], "en"),
        (&english, &["ar"][..], "ar"),
    ] {
        let page = browser.new_page(360, 740).await?;
        page.prefer_languages(languages).await?;
        page.goto(&server.url("/")).await?;
        let dir = if expected == "ar" { "rtl" } else { "ltr" };
        // After the page's modules ran: boot.js's choice is the one the page kept.
        let shown = page.eval("[document.documentElement.lang, document.documentElement.dir]").await?;
        assert_eq!(shown, json!([expected, dir]), "a browser asking for {languages:?}");
    }
    // The chat widget falls back the same way for a host page in neither language.
    for (server, fallback) in [(&arabic, "ar"), (&english, "en")] {
        let widget = server.http.get(server.url("/chat-widget.js")).send().await?.text().await?;
        assert!(widget.contains(&format!("var fallback = '{fallback}';")), "the widget falls back to {fallback}");
    }
    Ok(())
}

#[tokio::test]
async fn axe_core_finds_no_serious_problem_on_any_page_in_either_language() -> Result<()> {
    let server = TestServer::start().await;
    let (bid, code, ids) = live_broadcast(
        &server,
        json!({"premoderation": true, "allow_anonymous": true}),
        &["متى يفتح باب التسجيل؟", "Can I apply if I already own land?", "What documents do I need?"],
    )
    .await;
    let mut moderator = server.moderator().await;
    moderator.ok(json!({"type": "approve", "broadcast": bid, "question": ids[0]})).await;
    moderator.ok(json!({"type": "approve", "broadcast": bid, "question": ids[1]})).await;
    moderator.ok(json!({"type": "pin", "broadcast": bid, "question": ids[1]})).await;
    moderator.ok(json!({"type": "answer", "broadcast": bid, "question": ids[0], "text": "في الأول من مارس."})).await;
    let (old, _, old_ids) = live_broadcast(&server, json!({}), &["When were the last units handed over?"]).await;
    moderator.ok(json!({"type": "answer", "broadcast": old, "question": old_ids[0], "live": true})).await;
    server.set_state(old, "ended").await;
    let token = server.token(Role::Moderator, "Amina");

    let browser = Browser::launch().await?;
    let mut problems = vec![];
    for lang in ["ar", "en"] {
        for (width, height) in [(360, 740), (1280, 800)] {
            let page = browser.new_page(width, height).await?;
            let pages = [
                ("landing", "/".to_string(), "document.querySelector('[data-testid=bc-card]')"),
                ("citizen", format!("/broadcast.html?code={code}"), "document.querySelector('[data-testid=question]')"),
                (
                    "moderator",
                    format!("/moderator.html?b={bid}#token={token}"),
                    "document.querySelector('[data-testid=mod-question]')",
                ),
                (
                    "presenter",
                    format!("/presenter.html?code={code}&board=1"),
                    "document.querySelector('[data-testid=presenter-qr]')?.complete",
                ),
                ("faq", "/faq.html".to_string(), "document.querySelector('[data-testid=faq-item]')"),
            ];
            for (name, path, ready) in pages {
                open_in(&page, &server, lang, &path).await?;
                page.wait_for(ready, name).await?;
                if name == "citizen" {
                    // The tabs' other panels and the open ask box count too.
                    page.click("[data-testid=tab-mine]").await?;
                    page.eval("document.getElementById('ask-text').focus()").await?;
                }
                for found in page.axe_serious().await? {
                    problems.push(format!("{name} {lang} {width}px: {found}"));
                }
            }
        }
        // An open menu and the End confirmation are checked as well.
        let page = browser.new_page(1280, 800).await?;
        open_in(&page, &server, lang, &format!("/moderator.html?b={bid}#token={token}")).await?;
        page.wait_for(&format!("document.querySelector('{} [data-testid=more]')", mod_question(ids[1])), "a menu")
            .await?;
        page.click(&format!("{} [data-testid=more]", mod_question(ids[1]))).await?;
        for found in page.axe_serious().await? {
            problems.push(format!("menu {lang}: {found}"));
        }
        page.press("Escape", 0).await?;
        page.click("[data-testid=bc-end]").await?;
        page.wait_for("document.querySelector('[data-testid=end-dialog]')?.open", "the confirmation").await?;
        for found in page.axe_serious().await? {
            problems.push(format!("end dialog {lang}: {found}"));
        }
    }
    assert!(problems.is_empty(), "axe-core found serious or critical problems:\n{}", problems.join("\n"));

    // The same words in both languages.
    let page = browser.new_page(800, 600).await?;
    page.goto(&server.url("/")).await?;
    let missing = page
        .eval(
            "import('/js/strings.js').then(({ STRINGS }) => {
               const en = Object.keys(STRINGS.en), ar = Object.keys(STRINGS.ar);
               return [...en.filter(k => !ar.includes(k)), ...ar.filter(k => !en.includes(k))]; })",
        )
        .await?;
    assert_eq!(missing, json!([]), "keys missing in one language");
    Ok(())
}

/// A staff console, as its sign-in form sees it: whose tokens it takes, a role it refuses and the reason it gives,
/// and how it names the staff role in English and in Arabic.
struct Console {
    path: &'static str,
    staff: Role,
    other: Role,
    not_staff: &'static str,
    role: [&'static str; 2],
}

/// `console` signed in through its form: a token the server does not know and one of a role the console is not
/// for are refused with their reasons; the staff token is taken, the header says who is signed in (in the
/// language chosen, too), and signing out forgets the token.
async fn sign_in_by_the_form(browser: &std::sync::Arc<Browser>, server: &TestServer, console: Console) -> Result<()> {
    let page = browser.new_page(1024, 800).await?;
    open_in(&page, server, "en", console.path).await?;
    let signin_shown = "!document.getElementById('signin').hidden";
    page.wait_for(signin_shown, "the sign-in card").await?;
    let refused = |reason: &str| format!("document.getElementById('signin-error').textContent === {}", js_str(reason));
    let wrong = [
        ("not-a-token".to_string(), "This token was not accepted."),
        (server.token(console.other, "Other"), console.not_staff),
    ];
    for (token, reason) in wrong {
        page.type_into("[data-testid=token-input]", &token).await?;
        page.click("[data-testid=token-submit]").await?;
        page.wait_for(&refused(reason), reason).await?;
    }
    page.type_into("[data-testid=token-input]", &server.token(console.staff, "Noor")).await?;
    page.click("[data-testid=token-submit]").await?;
    let whoami =
        |text: &str| format!("document.querySelector('[data-testid=whoami]').textContent === {}", js_str(text));
    page.wait_for(&whoami(&format!("Signed in as Noor ({})", console.role[0])), "who is signed in").await?;
    connected(&page).await?;
    page.click("[data-testid=lang-switch]").await?;
    page.wait_for(&whoami(&format!("تم الدخول باسم Noor ({})", console.role[1])), "who is signed in, in Arabic")
        .await?;
    page.click("[data-testid=sign-out]").await?;
    page.goto(&server.url(console.path)).await?;
    page.wait_for(signin_shown, "the sign-in card again: the token is forgotten").await?;
    assert!(page.exceptions().is_empty(), "uncaught exceptions on {}: {:?}", console.path, page.exceptions());
    Ok(())
}

#[tokio::test]
async fn both_staff_consoles_sign_in_by_the_form_refuse_a_wrong_token_or_role_and_sign_out() -> Result<()> {
    let server = TestServer::start().await;
    let browser = Browser::launch().await?;
    let agent = Console {
        path: "/agent.html",
        staff: Role::Agent,
        other: Role::Moderator,
        not_staff: "This token is not an agent's or an administrator's. The moderator console is at /moderator.html.",
        role: ["agent", "موظف"],
    };
    sign_in_by_the_form(&browser, &server, agent).await?;
    let moderator = Console {
        path: "/moderator.html",
        staff: Role::Moderator,
        other: Role::Agent,
        not_staff: "This token does not belong to a moderator.",
        role: ["moderator", "مشرف"],
    };
    sign_in_by_the_form(&browser, &server, moderator).await
}
