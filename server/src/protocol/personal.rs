//! The personal stream `user:<sub>`: one person's own news from every domain (the fate of their questions,
//! their chats), as a room only they may join.

use axum::extract::ws::Utf8Bytes;
use serde::Serialize;

use super::chat::UserPart;
use super::qa::QuestionView;
use super::snapshot_frame;
use crate::qa::Question;

/// The room name (and hub key) of `sub`'s personal stream.
pub fn room(sub: &str) -> String {
    format!("{PREFIX}{sub}")
}

/// The prefix of personal rooms' names.
pub const PREFIX: &str = "user:";

/// The stream's snapshot: `questions` are the person's own questions, newest first, each with whether it is
/// pinned now; `chat` the chat's part (their chats and desk state, `protocol::chat::user_part`).
pub fn snapshot(room: &str, epoch: &str, seq: u64, questions: &[(Question, bool)], chat: UserPart<'_>) -> Utf8Bytes {
    #[derive(Serialize)]
    struct Data<'a> {
        questions: Vec<QuestionView<'a>>,
        #[serde(flatten)]
        chat: UserPart<'a>,
    }
    let questions = questions.iter().map(|(q, pinned)| QuestionView::own(q, *pinned)).collect();
    snapshot_frame(room, epoch, seq, &Data { questions, chat })
}
