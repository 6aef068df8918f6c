//! The web pages in a real headless Chromium: a citizen asks and votes, a moderator approves, pins and answers,
//! the presenter view shows the pinned question, Arabic is right-to-left, and user text stays text.
//!
//! Screenshots land in `target/screenshots/` for a person to look at.

use std::path::PathBuf;

use anyhow::Result;
use majlis_server::auth::Role;
use majlis_tests::browser::{js_str, Browser, Page};
use majlis_tests::{id_of, TestServer};
use serde_json::json;

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

/// Waits for the page's own client to be connected.
async fn connected(page: &Page) -> Result<()> {
    page.wait_for("document.querySelector('[data-testid=conn-status]')?.dataset.state === 'open'", "the connection")
        .await
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

#[tokio::test]
async fn a_broadcast_runs_end_to_end_in_the_browser() -> Result<()> {
    let server = TestServer::start().await;
    let b = server.create_broadcast(json!({"premoderation": true, "allow_anonymous": true})).await;
    let (bid, code) = (id_of(&b), b["code"].as_str().unwrap_or_default().to_string());
    server.set_state(bid, "live").await;
    let browser = Browser::launch().await?;

    // A citizen on a phone joins by link and asks.
    let citizen = browser.new_page(360, 780).await?;
    citizen.goto(&server.url("/")).await?;
    citizen.eval("localStorage.setItem('majlis.lang', 'en')").await?;
    citizen.goto(&server.url(&format!("/b/{code}"))).await?;
    connected(&citizen).await?;
    let asked = "When does registration for the new housing units open?";
    citizen.type_into("[data-testid=ask-text]", asked).await?;
    citizen.click("[data-testid=ask-submit]").await?;
    let qid = question_id_by_text(&citizen, "mine-item", asked).await?;
    citizen
        .wait_for(
            &format!(
                "document.querySelector('[data-testid=mine-item][data-id=\"{qid}\"]')?.dataset.status === 'pending'"
            ),
            "awaiting review",
        )
        .await?;
    let hostile = "<img src=x onerror=alert(1)>";
    citizen.type_into("[data-testid=ask-text]", hostile).await?;
    citizen.click("[data-testid=ask-submit]").await?;
    let xss_id = question_id_by_text(&citizen, "mine-item", hostile).await?;
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

    // A third question the moderator declines: the author's page says so at once, without a reload.
    let declined = "Is this the right place to ask about my electricity bill?";
    citizen.type_into("[data-testid=ask-text]", declined).await?;
    citizen.click("[data-testid=ask-submit]").await?;
    let declined_id = question_id_by_text(&citizen, "mine-item", declined).await?;
    let mut api_moderator = server.moderator().await;
    api_moderator.ok(json!({"type": "hide", "broadcast": bid, "question": declined_id, "reason": "off topic"})).await;
    citizen
        .wait_for(
            &format!(
                "document.querySelector('[data-testid=mine-item][data-id=\"{declined_id}\"]')?.dataset.status === 'hidden'"
            ),
            "not published",
        )
        .await?;
    citizen.eval("document.querySelector('[data-testid=mine]').scrollIntoView()").await?;
    citizen.screenshot(&shot("citizen-declined")).await?;

    // The citizen sees them published and upvotes the first.
    citizen.wait_for(&format!("document.querySelector('{}')", question(qid)), "the approved question").await?;
    // A moderator has acted on it, so it is no longer the author's to edit or withdraw.
    citizen
        .wait_for(
            &format!(
                "document.querySelector('[data-testid=mine-item][data-id=\"{qid}\"]') && \
                 !document.querySelector('[data-testid=mine-item][data-id=\"{qid}\"] [data-testid=edit]')"
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
    citizen.eval(&format!("document.querySelector('{}').scrollIntoView()", question(qid))).await?;
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
async fn the_landing_page_lists_live_broadcasts_in_arabic_right_to_left() -> Result<()> {
    let server = TestServer::start().await;
    let b = server.create_broadcast(json!({"title": {"ar": "لقاء مباشر حول التمويل", "en": "Live: financing"}})).await;
    server.set_state(id_of(&b), "live").await;
    let browser = Browser::launch().await?;
    let page = browser.new_page(360, 740).await?;
    page.goto(&server.url("/")).await?;
    page.eval("localStorage.setItem('majlis.lang', 'ar')").await?;
    page.goto(&server.url("/")).await?;
    page.wait_for("document.documentElement.dir === 'rtl'", "right-to-left").await?;
    page.wait_for("document.body.textContent.includes('لقاء مباشر حول التمويل')", "the Arabic title").await?;
    page.screenshot(&shot("landing-arabic")).await?;
    Ok(())
}
