//! The ministry's figures.

use super::*;
use crate::chat::offline::{self, OfflineForm};
use crate::chat::report::{report, report_csv};
use crate::chat::EndReason;

#[test]
fn the_report_counts_chats_waits_ratings_and_offline_messages_of_the_period() {
    let mut w = World::with(ChatPolicy { default_agent_cap: 1, ..ChatPolicy::default() });
    let amina = agent("Amina");
    w.available(&amina, &[ChatLang::Ar, ChatLang::En]);
    let from = w.now;
    w.start(&citizen(1), ChatLang::Ar).unwrap();
    let mut complaint = w.form(ChatLang::En);
    complaint.category = Category::Complaint;
    w.start_with(&citizen(2), complaint).unwrap();
    w.start(&citizen(3), ChatLang::Ar).unwrap();
    // Started together: the Arabic chat 3 goes before the English chat 2 (ties go to Arabic).
    w.tick(4 * MINUTE);
    w.end(1, &amina).unwrap();
    w.tick(2 * MINUTE);
    w.end(3, &amina).unwrap();
    w.end(2, &citizen(2)).unwrap();
    w.chat(1, &citizen(1), ChatCommand::Rate { score: 5, comment: None }).unwrap();
    w.chat(2, &citizen(2), ChatCommand::Rate { score: 2, comment: None }).unwrap();
    w.chat(2, &amina, ChatCommand::Tag { tags: vec!["=cmd()".into(), "loans".into()] }).unwrap();
    let form = OfflineForm {
        category: Category::Suggestion,
        lang: ChatLang::Ar,
        name: None,
        contact: "+973 1700 0000".into(),
        text: "اقتراح".into(),
        client_msg_id: None,
    };
    let mut note = offline::submit(1, &citizen(4), form, 0, &w.policy, w.now).unwrap();
    note.close(&amina, w.now).unwrap();
    let chats: Vec<Chat> = w.chats.values().map(|s| s.chat.clone()).collect();
    let r = report(&chats, [&note], from, w.now + 1);
    assert_eq!((r.chats, r.open, r.answered, r.transferred), (3, 0, 3, 0));
    assert_eq!((r.by_category[&Category::Inquiry], r.by_category[&Category::Complaint]), (2, 1));
    assert_eq!(r.by_category[&Category::Suggestion], 0, "every category is listed");
    assert_eq!((r.by_lang[&ChatLang::Ar], r.by_lang[&ChatLang::En]), (2, 1));
    assert_eq!((r.by_end_reason[&EndReason::Agent], r.by_end_reason[&EndReason::Citizen]), (2, 1));
    // First waits: 0, 4 and 6 minutes.
    assert_eq!((r.waits.count, r.waits.median_ms, r.waits.p90_ms), (3, Some(4 * MINUTE), Some(6 * MINUTE)));
    assert_eq!((r.ratings.count, r.ratings.average, r.ratings.by_score), (2, Some(3.5), [0, 1, 0, 0, 1]));
    assert_eq!((r.offline.total, r.offline.closed, r.offline.by_category[&Category::Suggestion]), (1, 1, 1));
    let csv = report_csv(&r);
    assert!(csv.starts_with("metric,value\nfrom,"), "{csv}");
    assert!(csv.contains("\ncategory:complaint,1\n") && csv.contains("\nrating_average,3.50\n"), "{csv}");
    // The whole cell quoted, as in the broadcast statistics: one field for every CSV reader, and a cell that
    // starts with "tag:" is never a spreadsheet formula.
    assert!(csv.contains("\n\"tag:=cmd()\",1\n"), "{csv}");
    // Outside the period: nothing.
    let empty = report(&chats, [&note], w.now + 1, w.now + 2);
    assert_eq!((empty.chats, empty.waits.median_ms, empty.ratings.average), (0, None, None));
}
