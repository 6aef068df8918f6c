//! The Lua scripts. Each runs atomically in Redis, which is what makes a change, its seqs, its history entries
//! and its publication one step that no other node can interleave with.
//!
//! Keys are built inside the scripts from the broadcast's prefix, all under one hash tag (see `keys`).
//!
//! Every script that reads or writes domain state, or hands out ids or seqs, starts with [`FENCE`]: its first
//! argument is the generation the node believes in, and it refuses (`MJFENCED`) unless Redis still holds that
//! generation under its current run_id (see `fence`). [`ADOPT`] is how a node learns the generation, and how
//! the first node to notice a lost Redis state starts a new one.

use std::sync::LazyLock;

use redis::Script;

/// The error code of a script refused by the fence.
pub const FENCED: &str = "MJFENCED";

/// The fence, run before anything else: ARGV[1] is the generation the caller believes in. Redis' `run_id`
/// changes on every restart and differs on a promoted replica, so a restarted, rolled-back or failed-over Redis
/// can't carry `mj:instance` over; a flushed one has lost it.
pub(super) const FENCE: &str = r#"
local GEN = ARGV[1]
local RUN = string.match(redis.call('INFO', 'server'), 'run_id:(%x+)')
if redis.call('GET', 'mj:instance') ~= RUN .. ' ' .. GEN then
  return redis.error_reply('MJFENCED the generation moved on')
end
"#;

/// Learns the current generation, or starts one: if `mj:instance` names the current run_id, its generation;
/// if not (Redis restarted, rolled back, failed over or was flushed: what it holds may have lost acknowledged
/// writes), ARGV[1] becomes the new generation, and every id counter jumps to the next block of 2^32 above the
/// larger of what it holds and what the caller saw, so no id handed out before can come again. Atomic, so one
/// loss gives one new generation however many nodes notice it.
/// ARGV: a new generation token, then for each id counter its key and the highest id the caller saw.
/// Returns `{generation, started, TIME seconds, TIME microseconds, counters...}`, `started` being 0 if the
/// generation was there, 1 if this call started one after a possible loss, 2 if it started the first one of
/// an empty Redis that no caller knew ids of (a new installation: nothing to jump past).
const ADOPT: &str = r#"
local BLOCK = 4294967296
local LIMIT = 9007199254740992
local run = string.match(redis.call('INFO', 'server'), 'run_id:(%x+)')
local stored = redis.call('GET', 'mj:instance')
local gen, minted = nil, 0
if stored then
  local r, g = string.match(stored, '^(%x+) (%S+)$')
  if r == run then gen = g end
end
if not gen then
  minted = 2
  if stored then minted = 1 end
  for i = 2, #ARGV, 2 do
    local top = math.max(tonumber(redis.call('GET', ARGV[i]) or '0'), tonumber(ARGV[i + 1]))
    if top > 0 then
      local base = (math.floor(top / BLOCK) + 1) * BLOCK
      if base + BLOCK > LIMIT then return redis.error_reply('ERR ids exhausted below 2^53') end
      redis.call('SET', ARGV[i], string.format('%.0f', base))
      minted = 1
    end
  end
  gen = ARGV[1]
  redis.call('SET', 'mj:instance', run .. ' ' .. gen)
end
local t = redis.call('TIME')
local out = {gen, minted, t[1], t[2]}
for i = 2, #ARGV, 2 do out[#out + 1] = redis.call('GET', ARGV[i]) or '0' end
return out
"#;

/// The next id of a counter. ARGV: generation, counter key.
const ALLOC: &str = r#"
return redis.call('INCR', ARGV[2])
"#;

/// Reserves a broadcast code if free. ARGV: generation, code, broadcast id. Returns 1 if reserved.
const CLAIM_CODE: &str = r#"
return redis.call('HSETNX', 'mj:codes', ARGV[2], ARGV[3])
"#;

/// Stores a new broadcast. ARGV: generation, prefix, broadcast JSON, id.
const CREATE_BROADCAST: &str = r#"
redis.call('SET', ARGV[2] .. ':bc', ARGV[3])
redis.call('HSET', ARGV[2] .. ':meta', 'open', '1')
redis.call('SADD', 'mj:broadcasts', ARGV[4])
return 1
"#;

/// Gives an event the next seq of its room, appends it to the room's bounded history (the stream entry id is the
/// seq, so history reads are by seq) and publishes the frame. Shared by the scripts that emit events. The trim
/// is exact, not `~`: the approximate one keeps whole 100-entry nodes, so `--history-len` would mean nothing
/// below that, and the cost of exact trimming is one entry per event.
///
/// The published message is `<Redis time in ms> <generation> <frame>` (the history keeps the plain frame): the
/// time lets every node measure how far behind it dispatches, the generation lets it notice a new one before it
/// dispatches anything of it.
pub(super) const EMIT: &str = r#"
local STAMP
local function emit(P, room, head, tail, maxlen, publish)
  local r = P .. ':r:' .. room
  local seq = redis.call('INCR', r .. ':seq')
  local frame = head .. seq .. tail
  redis.call('XADD', r .. ':log', 'MAXLEN', maxlen, seq .. '-0', 'f', frame)
  if not STAMP then
    local t = redis.call('TIME')
    STAMP = t[1] .. string.format('%03d', math.floor(tonumber(t[2]) / 1000)) .. ' ' .. GEN .. ' '
  end
  redis.call(publish, r .. ':ch', STAMP .. frame)
  return seq
end
"#;

/// Commits a change computed in Rust, if the state it was computed from is unchanged: the broadcast's version
/// and the vote versions of the questions it read. ARGV[2] is JSON:
/// `{prefix, ver, vv: [id, v, ...], ops: [[op, ...]], events: [[room, head, tail, question, person?]], maxlen,
/// publish, pmaxlen, pttl, ownmax}`, and `settings: true` if the change touches the broadcast or its muted users.
/// An event with a `person` prefix goes to that person's own stream (room `own` under it), with its own bounds
/// (`pmaxlen` entries, kept `pttl` ms); the op `own` indexes a new question under its author (the `ownmax`
/// latest). One script spans the broadcast's and the authors' keys: Redis mode runs on one Redis (see `fence`).
/// A new question depends on nothing but those (and its own client id), so an ask carries `ask: {sver, asked,
/// cap}` instead of `ver`: it checks only the settings version, that its `asked` entry is still free and that
/// the broadcast holds fewer than `cap` questions, and it leaves `ver` alone, so asks don't conflict with each
/// other (they used to, all of them, and retried into a collapse at a few hundred a second).
/// An event naming a question gets that question's current vote count in place of the placeholder.
/// Returns 1, or 0 when the state moved on (the caller reloads and retries).
const COMMIT: &str = r#"
local p = cjson.decode(ARGV[2])
local P = p.prefix
if p.ask then
  if (redis.call('GET', P .. ':sver') or '0') ~= p.ask.sver then return 0 end
  if p.ask.asked ~= '' and redis.call('HEXISTS', P .. ':asked', p.ask.asked) == 1 then return 0 end
  if redis.call('HLEN', P .. ':q') >= p.ask.cap then return 0 end
elseif (redis.call('GET', P .. ':ver') or '0') ~= p.ver then return 0 end
for i = 1, #p.vv, 2 do
  if (redis.call('HGET', P .. ':vv', p.vv[i]) or '0') ~= p.vv[i + 1] then return 0 end
end
for _, op in ipairs(p.ops) do
  local c = op[1]
  if c == 'set' then redis.call('SET', P .. op[2], op[3])
  elseif c == 'del' then redis.call('DEL', P .. op[2])
  elseif c == 'hset' then redis.call('HSET', P .. op[2], op[3], op[4])
  elseif c == 'sadd' then redis.call('SADD', P .. op[2], op[3])
  elseif c == 'srem' then redis.call('SREM', P .. op[2], op[3])
  elseif c == 'own' then
    -- A new question in its author's index (their personal stream's snapshot): only the latest are kept.
    redis.call('ZADD', op[2] .. ':qs', op[3], op[4])
    redis.call('ZREMRANGEBYRANK', op[2] .. ':qs', 0, -(tonumber(p.ownmax) + 1))
  elseif c == 'merge' then
    -- The duplicate's voters join the target's (each person once), all in this one step.
    local dup, into = P .. ':voters:' .. op[2], P .. ':voters:' .. op[3]
    redis.call('SUNIONSTORE', into, into, dup)
    redis.call('DEL', dup)
    redis.call('HSET', P .. ':votes', op[3], redis.call('SCARD', into))
    redis.call('HSET', P .. ':votes', op[2], 0)
    redis.call('HINCRBY', P .. ':vv', op[2], 1)
    redis.call('HINCRBY', P .. ':vv', op[3], 1)
  end
end
for _, e in ipairs(p.events) do
  local tail = e[3]
  if e[4] ~= '' then
    -- A question's frame carries the count as it is now, not as it was when the change was computed.
    local votes = redis.call('HGET', P .. ':votes', e[4]) or '0'
    local a, z = string.find(tail, '"votes":4294967295', 1, true)
    if a then tail = string.sub(tail, 1, a - 1) .. '"votes":' .. votes .. string.sub(tail, z + 1) end
  end
  if e[5] then
    -- An author's own stream, under their own prefix; its log is kept for the personal retention.
    emit(e[5], e[1], e[2], tail, p.pmaxlen, p.publish)
    redis.call('PEXPIRE', e[5] .. ':r:' .. e[1] .. ':log', p.pttl)
  else
    emit(P, e[1], e[2], tail, p.maxlen, p.publish)
  end
end
if not p.ask then redis.call('INCR', P .. ':ver') end
if p.settings then redis.call('INCR', P .. ':sver') end
return 1
"#;

/// Publishes the current count of up to ARGV[7] questions whose votes changed (coalesced votes), those that
/// changed first going first (`:dirtyq`, scored by the order they were marked): a `votes` event to the
/// moderation room, and to the public room if the question is public now. Counts marked in the older `:dirty`
/// set (before the queue) join the queue first.
/// ARGV: generation, prefix, maxlen, publish, public room, moderation room, most questions.
/// Returns `{events published, questions still waiting}`.
const FLUSH: &str = r#"
local P = ARGV[2]
local q = P .. ':dirtyq'
for _, qid in ipairs(redis.call('SMEMBERS', P .. ':dirty')) do
  redis.call('ZADD', q, 'NX', redis.call('INCR', P .. ':dirtyn'), qid)
end
redis.call('DEL', P .. ':dirty')
local ids = redis.call('ZRANGE', q, 0, tonumber(ARGV[7]) - 1)
if #ids == 0 then return {0, 0} end
redis.call('ZREM', q, unpack(ids))
local published = 0
for _, qid in ipairs(ids) do
  local gate = redis.call('HGET', P .. ':meta', qid) or ''
  local tail = ',"kind":"votes","data":{"id":' .. qid .. ',"votes":' .. (redis.call('HGET', P .. ':votes', qid) or '0') .. '}}'
  if string.sub(gate, 1, 1) == 'p' then
    emit(P, 'pub', '{"type":"event","room":"' .. ARGV[5] .. '","seq":', tail, ARGV[3], ARGV[4])
    published = published + 1
  end
  emit(P, 'mod', '{"type":"event","room":"' .. ARGV[6] .. '","seq":', tail, ARGV[3], ARGV[4])
  published = published + 1
end
return {published, redis.call('ZCARD', q)}
"#;

/// One vote, the hot path, in one step: the same checks as `rules::vote` (broadcast open, merges followed,
/// a citizen can't see a hidden question, status takes votes), the voter set, the count, and if it changed the
/// `votes` event to each room that may see it. The frame is built exactly as `protocol::event` builds it.
/// With coalesced votes (ARGV[11] is 1) the question is only marked for the next flush instead. When the
/// voter's limit is used up (ARGV[12] is 0), a vote that would change something is refused and one that
/// would not (a retry) is answered as usual.
/// ARGV: generation, prefix, question, sub, value (1/0), moderator (1/0), maxlen, publish, public room,
/// moderation room, coalesce (1/0), allowed (1/0).
/// Returns `{'ok', question, votes, events published, changed (1/0)}`, `{'rate_limited'}` or `{code, message}`.
const VOTE: &str = r#"
local P = ARGV[2]
local meta = P .. ':meta'
local open = redis.call('HGET', meta, 'open')
if not open then return {'not_found', 'No such broadcast.'} end
if open ~= '1' then return {'conflict', 'This broadcast is closed for questions.'} end
local qid = ARGV[3]
local gate
for _ = 1, 10000 do
  gate = redis.call('HGET', meta, qid)
  if not gate then return {'not_found', 'No such question.'} end
  if string.sub(gate, 1, 2) ~= 'm:' then break end
  qid = string.sub(gate, 3)
end
local public = string.sub(gate, 1, 1) == 'p'
if not public and ARGV[6] ~= '1' then return {'not_found', 'No such question.'} end
if string.sub(gate, 2, 2) ~= '1' then return {'conflict', 'This question takes no votes.'} end
local voters = P .. ':voters:' .. qid
if ARGV[12] ~= '1' and (redis.call('SISMEMBER', voters, ARGV[4]) == 1) ~= (ARGV[5] == '1') then
  return {'rate_limited'}
end
local changed
if ARGV[5] == '1' then changed = redis.call('SADD', voters, ARGV[4]) else changed = redis.call('SREM', voters, ARGV[4]) end
local n = redis.call('SCARD', voters)
if changed == 1 then
  redis.call('HSET', P .. ':votes', qid, n)
  redis.call('HINCRBY', P .. ':vv', qid, 1)
  if ARGV[11] == '1' then
    if not redis.call('ZSCORE', P .. ':dirtyq', qid) then
      redis.call('ZADD', P .. ':dirtyq', redis.call('INCR', P .. ':dirtyn'), qid)
    end
    return {'ok', qid, tostring(n), '0', '1'}
  end
  local tail = ',"kind":"votes","data":{"id":' .. qid .. ',"votes":' .. n .. '}}'
  local published = 1
  if public then
    emit(P, 'pub', '{"type":"event","room":"' .. ARGV[9] .. '","seq":', tail, ARGV[7], ARGV[8])
    published = 2
  end
  emit(P, 'mod', '{"type":"event","room":"' .. ARGV[10] .. '","seq":', tail, ARGV[7], ARGV[8])
  return {'ok', qid, tostring(n), tostring(published), '1'}
end
return {'ok', qid, tostring(n), '0', '0'}
"#;

/// Everything needed to apply one command: the broadcast (prefix ARGV[2]), its version, pinned, muted, the
/// question count, the `asked` entry (ARGV[3], may be empty), the questions named in ARGV[5..] plus the asked
/// one, each with its count, vote version and (if ARGV[4] is 1) voters, and the settings version. Returns nil
/// if there is no such broadcast.
const LOAD: &str = r#"
local P = ARGV[2]
local bc = redis.call('GET', P .. ':bc')
if not bc then return false end
local asked = ''
if ARGV[3] ~= '' then asked = redis.call('HGET', P .. ':asked', ARGV[3]) or '' end
local ids = {}
for i = 5, #ARGV do ids[#ids + 1] = ARGV[i] end
if asked ~= '' then ids[#ids + 1] = asked end
local qs = {}
for _, id in ipairs(ids) do
  local q = redis.call('HGET', P .. ':q', id)
  if q then
    local voters = {}
    if ARGV[4] == '1' then voters = redis.call('SMEMBERS', P .. ':voters:' .. id) end
    qs[#qs + 1] = {q, redis.call('HGET', P .. ':votes', id) or '0', redis.call('HGET', P .. ':vv', id) or '0', voters}
  end
end
return {bc, redis.call('GET', P .. ':ver') or '0', redis.call('GET', P .. ':pinned') or '',
  redis.call('SMEMBERS', P .. ':muted'), tostring(redis.call('HLEN', P .. ':q')), asked, qs,
  redis.call('GET', P .. ':sver') or '0'}
"#;

/// A whole broadcast, consistently: for a snapshot of room ARGV[3] (its seq; its epoch is the generation) as
/// viewer ARGV[4] sees it (the questions they voted for), or with empty ARGV[3]/ARGV[4] for statistics.
/// Returns nil if there is no such broadcast, else `{generation, bc, seq, pinned, questions (flat hash),
/// votes (flat hash), muted, my votes, conc (flat), parts, peak}`.
const READ_ALL: &str = r#"
local P = ARGV[2]
local bc = redis.call('GET', P .. ':bc')
if not bc then return false end
local seq = '0'
if ARGV[3] ~= '' then seq = redis.call('GET', P .. ':r:' .. ARGV[3] .. ':seq') or '0' end
local qs = redis.call('HGETALL', P .. ':q')
local mine = {}
if ARGV[4] ~= '' then
  for i = 1, #qs, 2 do
    if redis.call('SISMEMBER', P .. ':voters:' .. qs[i], ARGV[4]) == 1 then mine[#mine + 1] = qs[i] end
  end
end
return {GEN, bc, seq, redis.call('GET', P .. ':pinned') or '', qs, redis.call('HGETALL', P .. ':votes'),
  redis.call('SMEMBERS', P .. ':muted'), mine, redis.call('HGETALL', P .. ':conc'),
  tostring(redis.call('SCARD', P .. ':parts')), redis.call('GET', P .. ':peak') or '0'}
"#;

/// A room's seq and its history after ARGV[3] (none if ARGV[3] is empty), consistently:
/// `{generation, seq, entries}`. ARGV: generation, the room's key base, the seq after which to read.
const REPLAY: &str = r#"
local r = ARGV[2]
local seq = redis.call('GET', r .. ':seq') or '0'
if ARGV[3] == '' then return {GEN, seq, {}} end
return {GEN, seq, redis.call('XRANGE', r .. ':log', (tonumber(ARGV[3]) + 1) .. '-0', '+')}
"#;

/// A GCRA limiter (the same algorithm as governor) on Redis' clock, so every node shares it. KEYS[1] the
/// limiter; ARGV: emission interval in ms, burst. Returns 0 if allowed, else the ms to wait.
const GCRA: &str = r#"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local interval, burst = tonumber(ARGV[1]), tonumber(ARGV[2])
local tat = tonumber(redis.call('GET', KEYS[1]) or now)
if tat < now then tat = now end
local next_tat = tat + interval
local allow_at = next_tat - interval * burst
if allow_at > now then return allow_at - now end
redis.call('SET', KEYS[1], next_tat, 'PX', math.max(1, next_tat - now))
return 0
"#;

/// Records this node's count of people in a broadcast's public room (ARGV: prefix, node, count, stale ms), drops
/// counts of nodes that stopped refreshing theirs, and keeps the peak. Returns the total across nodes.
const CONCURRENT: &str = r#"
local P = ARGV[1]
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('HSET', P .. ':conc', ARGV[2], ARGV[3] .. ':' .. now)
local total = 0
local all = redis.call('HGETALL', P .. ':conc')
for i = 1, #all, 2 do
  local count, at = string.match(all[i + 1], '(%d+):(%d+)')
  if tonumber(at) + tonumber(ARGV[4]) < now then redis.call('HDEL', P .. ':conc', all[i])
  else total = total + tonumber(count) end
end
if total > tonumber(redis.call('GET', P .. ':peak') or '0') then redis.call('SET', P .. ':peak', total) end
return total
"#;

/// A script that runs behind the fence.
pub(super) fn fenced(body: &str) -> Script {
    Script::new(&format!("{FENCE}{body}"))
}

/// A fenced script that emits events.
pub(super) fn emitting(body: &str) -> Script {
    Script::new(&format!("{FENCE}{EMIT}{body}"))
}

pub static COMMIT_SCRIPT: LazyLock<Script> = LazyLock::new(|| emitting(COMMIT));
pub static VOTE_SCRIPT: LazyLock<Script> = LazyLock::new(|| emitting(VOTE));
pub static FLUSH_SCRIPT: LazyLock<Script> = LazyLock::new(|| emitting(FLUSH));
pub static LOAD_SCRIPT: LazyLock<Script> = LazyLock::new(|| fenced(LOAD));
pub static READ_ALL_SCRIPT: LazyLock<Script> = LazyLock::new(|| fenced(READ_ALL));
pub static REPLAY_SCRIPT: LazyLock<Script> = LazyLock::new(|| fenced(REPLAY));
pub static ALLOC_SCRIPT: LazyLock<Script> = LazyLock::new(|| fenced(ALLOC));
pub static CLAIM_CODE_SCRIPT: LazyLock<Script> = LazyLock::new(|| fenced(CLAIM_CODE));
pub static CREATE_BROADCAST_SCRIPT: LazyLock<Script> = LazyLock::new(|| fenced(CREATE_BROADCAST));
pub static ADOPT_SCRIPT: LazyLock<Script> = LazyLock::new(|| Script::new(ADOPT));
pub static GCRA_SCRIPT: LazyLock<Script> = LazyLock::new(|| Script::new(GCRA));
pub static CONCURRENT_SCRIPT: LazyLock<Script> = LazyLock::new(|| Script::new(CONCURRENT));
