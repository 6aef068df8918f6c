//! Transcripts for the citizen and for staff.

use super::*;
use crate::chat::transcript::{build, plain_text, Audience, Entry};

/// A chat in Arabic: Amina joins, both write, Amina notes, Fatima ends it and rates it.
fn finished() -> World {
    let mut w = World::new();
    let (fatima, amina) = (citizen(1), agent("Amina"));
    w.available(&amina, &[ChatLang::Ar]);
    w.start(&fatima, ChatLang::Ar).unwrap();
    w.tick(MINUTE);
    w.chat(1, &fatima, send("متى يفتح التسجيل؟")).unwrap();
    w.chat(1, &amina, ChatCommand::Note { text: "سأل عن التسجيل".into(), client_msg_id: None }).unwrap();
    w.tick(MINUTE);
    w.chat(1, &amina, send("في الأول من مارس.\nشكراً لتواصلك.")).unwrap();
    w.chat(1, &amina, ChatCommand::Tag { tags: vec!["registration".into()] }).unwrap();
    w.end(1, &fatima).unwrap();
    w.chat(1, &fatima, ChatCommand::Rate { score: 5, comment: Some("ممتاز".into()) }).unwrap();
    w
}

#[test]
fn the_citizens_transcript_has_no_notes_tags_or_contact() {
    let w = finished();
    let t = build(&w.chats[&1], Audience::Citizen);
    assert!(t.staff.is_none());
    assert!(!t.entries.iter().any(|e| matches!(e, Entry::Note { .. })));
    let json = serde_json::to_string(&t).unwrap();
    for hidden in ["سأل عن التسجيل", "registration", "fatima@example.bh", "g-amina", "c-1"] {
        assert!(!json.contains(hidden), "{hidden} in {json}");
    }
    assert!(json.contains(r#""kind":"text""#) && json.contains(r#""kind":"system""#));
    assert!(json.contains(r#""notice":{"type":"joined","agent":"Amina"}"#), "{json}");
    assert_eq!(t.entries.len(), 4, "joined, question, answer, ended");
}

#[test]
fn the_staff_transcript_has_everything_with_notes_in_place() {
    let w = finished();
    let t = build(&w.chats[&1], Audience::Staff);
    let kinds: Vec<&str> = t
        .entries
        .iter()
        .map(|e| match e {
            Entry::Text { .. } => "text",
            Entry::System { .. } => "system",
            Entry::Note { .. } => "note",
        })
        .collect();
    assert_eq!(kinds, ["system", "text", "note", "text", "system"]);
    let staff = t.staff.as_ref().unwrap();
    assert_eq!(
        (staff.contact.as_deref(), staff.tags.as_slice()),
        (Some("fatima@example.bh"), &["registration".to_string()][..])
    );
}

#[test]
fn plain_text_is_in_the_chats_language_with_local_times() {
    let w = finished();
    let text = plain_text(&build(&w.chats[&1], Audience::Citizen), chrono_tz::Asia::Bahrain);
    // 1_780_000_000_000 ms is 2026-05-28 20:26:40 UTC, 23:26 in Bahrain.
    assert!(text.starts_with("نص المحادثة\n"), "{text}");
    assert!(text.contains("الفئة: استفسار"), "{text}");
    assert!(text.contains("البدء: 2026-05-28 23:26 (Asia/Bahrain)"), "{text}");
    assert!(text.contains("[23:27] Fatima: متى يفتح التسجيل؟"), "{text}");
    assert!(text.contains("[23:28] Amina (الموظف): في الأول من مارس.\n    شكراً لتواصلك."), "{text}");
    assert!(text.contains("— انضم Amina إلى المحادثة. —"), "{text}");
    assert!(text.contains("التقييم: 5/5 — ممتاز"), "{text}");
    assert!(!text.contains("سأل عن التسجيل"));
    let staff = plain_text(&build(&w.chats[&1], Audience::Staff), chrono_tz::UTC);
    assert!(staff.contains("[ملاحظة داخلية] Amina: سأل عن التسجيل"), "{staff}");
    assert!(staff.contains("وسيلة التواصل: fatima@example.bh"), "{staff}");
}

#[test]
fn an_english_chat_reads_in_english() {
    let mut w = World::new();
    let amina = agent("Amina");
    w.available(&amina, &[ChatLang::En]);
    let mut form = w.form(ChatLang::En);
    form.name = None;
    w.start_with(&citizen(1), form).unwrap();
    w.chat(1, &citizen(1), send("Hello")).unwrap();
    w.end(1, &amina).unwrap();
    let text = plain_text(&build(&w.chats[&1], Audience::Citizen), chrono_tz::UTC);
    assert!(text.starts_with("Chat transcript\nChat: 1\nCategory: Inquiry\nLanguage: English\n"), "{text}");
    assert!(text.contains("] Citizen: Hello"), "{text}");
    assert!(text.contains("— The agent ended the chat. —"), "{text}");
}

#[test]
fn only_the_chats_people_read_its_transcript() {
    use crate::chat::transcript::audience_for;
    let w = finished();
    let chat = w.header(1);
    assert_eq!(audience_for(&citizen(1), &chat), Some(Audience::Citizen));
    assert_eq!(audience_for(&agent("Amina"), &chat), Some(Audience::Staff));
    assert_eq!(audience_for(&admin("Noor"), &chat), Some(Audience::Staff));
    for stranger in [citizen(2), agent("Omar"), moderator("Musa")] {
        assert_eq!(audience_for(&stranger, &chat), None, "{}", stranger.sub);
    }
}
