//! The key layout. Everything of one broadcast shares the hash tag `{b:<id>}`, so one script may touch all of it
//! and on a Redis Cluster it all lives on one shard (rooms' channels too, for sharded pub/sub).
//!
//! Under the prefix `mj:{b:<id>}`:
//! - `:bc` the broadcast (JSON); `:ver` the version every committed change but a new question increments;
//!   `:sver` the settings version, incremented by changes to the broadcast or its muted users (what an ask
//!   depends on);
//! - `:q` hash question id → question (JSON; its `votes` may be stale, `:votes` is the truth);
//! - `:votes` hash id → count; `:vv` hash id → vote version (bumped whenever the voters change);
//! - `:voters:<id>` set of subs; `:meta` hash id → vote gate (see `vote_gate`), and `open` → 1/0;
//! - `:pinned`, `:muted` (set), `:asked` hash `sub \x1f client_msg_id` → id;
//! - `:dirtyq` sorted set of questions whose coalesced vote count awaits a flush, scored by `:dirtyn` (INCR)
//!   so the first changed goes first (`:dirty`, the set it replaces, is drained into it by the flush);
//! - `:parts` set of participants, `:conc` hash node → `count:at_ms`, `:peak`;
//! - per room (`pub`, `mod`): `:r:<room>:seq`, `:r:<room>:log` (stream, entry id = seq), and the channel
//!   `:r:<room>:ch`. A room's epoch is the generation (below), not a key of its own.
//!
//! Global: `mj:next:broadcast`, `mj:next:question` (INCR), `mj:codes` (hash code → id), `mj:broadcasts` (set),
//! and `mj:instance`, `<run_id> <generation>`: the fence every script checks (see `fence`).

use crate::protocol::Room;
use crate::qa::rooms::{Audience, RoomRef};
use crate::qa::{BroadcastId, Question, Status};

pub const NEXT_BROADCAST: &str = "mj:next:broadcast";
pub const NEXT_QUESTION: &str = "mj:next:question";
pub const CODES: &str = "mj:codes";
pub const BROADCASTS: &str = "mj:broadcasts";
/// The channel where commits name who lost a room: `<time> <generation> <room> <person>` (see the bus).
pub const REVOKE_CHANNEL: &str = "mj:revoke";

/// Every id counter. A new generation makes each jump past anything it may have handed out before; a domain
/// that takes ids of its own adds its counter here.
pub const COUNTERS: [&str; 5] = [
    NEXT_QUESTION,
    NEXT_BROADCAST,
    super::chat::keys::NEXT_CHAT,
    super::chat::keys::NEXT_OFFLINE,
    super::chat::keys::NEXT_CANNED,
];

pub fn prefix(broadcast: BroadcastId) -> String {
    format!("mj:{{b:{broadcast}}}")
}

pub fn room_tag(audience: Audience) -> &'static str {
    match audience {
        Audience::Public => "pub",
        Audience::Moderation => "mod",
    }
}

/// The common prefix of a room's keys (as the scripts build them: `<prefix>:r:<room>`).
pub fn room_base(room: RoomRef) -> String {
    format!("{}:r:{}", prefix(room.broadcast), room_tag(room.audience))
}

/// The key prefix of one person's keys: their own stream and their questions' index share the hash tag
/// `{u:<sub>}`.
pub fn person_prefix(sub: &str) -> String {
    format!("mj:{{u:{sub}}}")
}

/// The tag of a person's own stream under [`person_prefix`] (its keys are `<prefix>:r:own:…`).
pub const OWN_ROOM: &str = "own";

/// The key base of any room a client may join, by its name (the hub's key); `None` for a name that is no room.
/// The live chat's rooms (`chat:<id>`, `chat:<id>:staff`, `desk`) are laid out in `chat::keys`.
pub fn room_base_of(key: &str) -> Option<String> {
    Some(match Room::parse(key)? {
        Room::Broadcast(room) => room_base(room),
        Room::Person(sub) => format!("{}:r:{OWN_ROOM}", person_prefix(&sub)),
        Room::Chat(room) => {
            let (prefix, tag) = super::chat::keys::room(&room)?;
            format!("{prefix}:r:{tag}")
        }
    })
}

/// The pub/sub channel of the room whose key base is `base`.
pub fn channel_of(base: &str) -> String {
    format!("{base}:ch")
}

/// The cluster-wide question limiter of one user.
pub fn question_rate(sub: &str) -> String {
    format!("mj:rl:q:{{{sub}}}")
}

/// The `:asked` field of one idempotent ask. The separator can't occur in a token's `sub` or a client id.
pub fn asked(sub: &str, client_msg_id: &str) -> String {
    format!("{sub}\u{1f}{client_msg_id}")
}

/// What the vote script needs to know of a question, kept beside it in `:meta`: `m:<id>` if merged into `<id>`,
/// else visibility (`p` public, `h` not) and whether it takes votes (`1`/`0`).
pub fn vote_gate(q: &Question) -> String {
    if let Some(into) = q.merged_into {
        return format!("m:{into}");
    }
    let visibility = if q.public { 'p' } else { 'h' };
    let votable = matches!(q.status, Status::Approved | Status::Answered | Status::Pending);
    format!("{visibility}{}", u8::from(votable))
}
