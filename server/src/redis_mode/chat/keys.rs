//! The live chat's key layout. The desk and everything that isn't one chat's share the hash tag `{desk}`; each
//! chat has its own `{c:<id>}`; a person's stream stays under `{u:<sub>}` (see `redis_mode::keys`). A commit
//! script may span several tags: Redis mode runs on one Redis (see `fence`).
//!
//! Under `mj:{desk}` — the desk, as parts of one versioned document (`:ver`, incremented by every desk commit):
//! - `:agents` hash sub → `Agent` (JSON), `:queues` (JSON, both languages), `:waits` (JSON);
//! - `:open` hash chat id → `OpenChat` (JSON), with indexes kept by the same commits so a command loads only the
//!   open chats it can touch: `:waiting` (set of queued ids), `:held:<sub>` (set: an agent's chats), `:of:<sub>`
//!   (set: a citizen's open chats), `:gone` (set: agents whose connection is down);
//! - `:away` hash chat id → since when its citizen has been away: kept apart from the open entry and written
//!   without moving the desk's version, so a storm of reconnecting citizens doesn't conflict with routing (the
//!   open entries are stored without it, and it is merged back on load);
//! - `:chats` sorted set of every chat id by creation time (reports); `:ended` sorted set of the ended chats by
//!   `ended_at`, from which the retention takes them out of `:chats` (`retention`);
//! - `:canned` hash id → `Canned`, version `:cver`; `:offline` hash id → `OfflineMessage`, version `:over`,
//!   `:offline:open` (set of open ids), `:offline:of:<sub>` (set: a citizen's open ones), `:offline:ids`
//!   (sorted set of every id, by id: the inbox's pages), `:offline:settled` (sorted set of the answered or
//!   closed ones by their latest settlement, for the retention); `:hours` the
//!   schedule (JSON), version `:hver`;
//! - `:conns:<sub>` the connections authenticated as `sub`, per node (hash node → count);
//! - the room `desk`: `:r:desk:seq`, `:r:desk:log`, `:r:desk:ch`.
//!
//! Under `mj:{c:<id>}` — one chat: `:hdr` its header (`Chat`, JSON), `:ver` its version (every commit that
//! writes the chat increments it), `:msgs` list of messages (index = seq − 1), `:notes` list of notes (index =
//! id − 1), `:posted` hash `sub \x1f client_msg_id` → `m:<seq>` or `n:<id>`; rooms `chat:<id>` (`:r:cit`) and `chat:<id>:staff` (`:r:staff`).
//! Once the chat ended, every one of these keys ([`CHAT_PARTS`]) expires at its end plus the retention.
//!
//! Nodes: `mj:nodes` hash node → lease expiry (Redis ms); `mj:node:<node>:keys` the connection hashes the node
//! has counts in, so whoever finds its lease expired can take them out. Ids: `mj:next:chat`, `mj:next:offline`,
//! `mj:next:canned`, in `keys::COUNTERS`.

use crate::chat::desk::OpenChat;
use crate::chat::rooms::ChatRoom;
use crate::chat::ChatId;

pub const DESK: &str = "mj:{desk}";
pub const NEXT_CHAT: &str = "mj:next:chat";
pub const NEXT_OFFLINE: &str = "mj:next:offline";
pub const NEXT_CANNED: &str = "mj:next:canned";

/// The room tags under a chat's prefix.
pub const CITIZEN_ROOM: &str = "cit";
pub const STAFF_ROOM: &str = "staff";
/// The desk room's tag under [`DESK`].
pub const DESK_ROOM: &str = "desk";

/// Every key of one chat, under its prefix ([`chat`]): what the commits on an ended chat give an expiry and
/// what the retention deletes. A key a chat gains must be named here, or it would outlive its chat.
pub const CHAT_PARTS: [&str; 9] =
    [":hdr", ":ver", ":msgs", ":notes", ":posted", ":r:cit:seq", ":r:cit:log", ":r:staff:seq", ":r:staff:log"];

pub fn chat(id: ChatId) -> String {
    format!("mj:{{c:{id}}}")
}

pub fn desk(part: &str) -> String {
    format!("{DESK}:{part}")
}

/// The connections authenticated as `sub` across nodes (staff and citizens alike).
pub fn conns(sub: &str) -> String {
    format!("{DESK}:conns:{sub}")
}

/// Whose connections a connection hash counts, read back from its key (for a dead node's connections).
pub fn conns_of(key: &str) -> Option<&str> {
    key.strip_prefix(DESK).and_then(|k| k.strip_prefix(":conns:")).filter(|sub| !sub.is_empty())
}

/// The key prefix and room tag of a chat room (`person` rooms live under `redis_mode::keys`).
pub fn room(room: &ChatRoom) -> Option<(String, &'static str)> {
    match room {
        ChatRoom::Citizen(id) => Some((chat(*id), CITIZEN_ROOM)),
        ChatRoom::Staff(id) => Some((chat(*id), STAFF_ROOM)),
        ChatRoom::Desk => Some((DESK.to_string(), DESK_ROOM)),
        ChatRoom::User(_) => None,
    }
}

/// The key base of a chat room by its name (`chat:<id>`, `chat:<id>:staff`, `desk`).
pub fn room_base_of(name: &str) -> Option<String> {
    let (prefix, tag) = room(&ChatRoom::parse(name)?)?;
    Some(format!("{prefix}:r:{tag}"))
}

/// The `:away` mark of an open chat: since when its citizen is away, and a `+` once the desk was told
/// (`OpenChat::citizen_away_shown`); `None` while they are here.
pub fn away_mark(open: &OpenChat) -> Option<String> {
    let since = open.citizen_away_since?;
    Some(if open.citizen_away_shown { format!("{since}+") } else { since.to_string() })
}

/// Puts an `:away` mark (`""`: none) back on an open chat, which is stored without it.
pub fn read_away_mark(open: &mut OpenChat, mark: &str) {
    let (since, shown) = mark.strip_suffix('+').map_or((mark, false), |since| (since, true));
    open.citizen_away_since = since.parse().ok();
    open.citizen_away_shown = shown && open.citizen_away_since.is_some();
}

/// The `:posted` field of one idempotent message or note.
pub fn posted(sub: &str, client_msg_id: &str) -> String {
    format!("{sub}\u{1f}{client_msg_id}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connection_keys_name_whose_they_are() {
        assert_eq!(conns_of(&conns("g-amina")), Some("g-amina"));
        assert_eq!(conns_of("mj:{c:12}:hdr"), None);
    }

    #[test]
    fn an_away_mark_keeps_whether_the_desk_was_told() {
        let mut open: OpenChat = serde_json::from_value(serde_json::json!({
            "citizen": "c-1", "name": null, "category": "inquiry", "lang": "ar", "created_at": 1, "agent": null,
            "citizen_away_since": null
        }))
        .expect("an open chat");
        assert_eq!(away_mark(&open), None);
        for (since, shown, mark) in [(7, false, "7"), (7, true, "7+")] {
            (open.citizen_away_since, open.citizen_away_shown) = (Some(since), shown);
            assert_eq!(away_mark(&open).as_deref(), Some(mark));
            let mut back = OpenChat { citizen_away_since: None, citizen_away_shown: !shown, ..open.clone() };
            read_away_mark(&mut back, mark);
            assert_eq!(back, open);
        }
        read_away_mark(&mut open, "");
        assert_eq!((open.citizen_away_since, open.citizen_away_shown), (None, false));
    }

    #[test]
    fn chat_rooms_have_their_own_keys() {
        assert_eq!(room_base_of("chat:12").as_deref(), Some("mj:{c:12}:r:cit"));
        assert_eq!(room_base_of("chat:12:staff").as_deref(), Some("mj:{c:12}:r:staff"));
        assert_eq!(room_base_of("desk").as_deref(), Some("mj:{desk}:r:desk"));
        assert_eq!(room_base_of("user:c-1"), None);
    }
}
