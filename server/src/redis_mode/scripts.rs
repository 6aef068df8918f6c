//! The Lua scripts. Each runs atomically in Redis, which is what makes a change, its seqs, its history entries
//! and its publication one step that no other node can interleave with.
//!
//! Keys are built inside the scripts from the broadcast's prefix, all under one hash tag (see `keys`).

use std::sync::LazyLock;

use redis::Script;

/// Gives an event the next seq of its room, appends it to the room's bounded history (the stream entry id is the
/// seq, so history reads are by seq) and publishes the frame. Shared by the scripts that emit events. The trim
/// is exact, not `~`: the approximate one keeps whole 100-entry nodes, so `--history-len` would mean nothing
/// below that, and the cost of exact trimming is one entry per event.
const EMIT: &str = r#"
local function emit(P, room, head, tail, maxlen, publish)
  local r = P .. ':r:' .. room
  local seq = redis.call('INCR', r .. ':seq')
  local frame = head .. seq .. tail
  redis.call('XADD', r .. ':log', 'MAXLEN', maxlen, seq .. '-0', 'f', frame)
  redis.call(publish, r .. ':ch', frame)
  return seq
end
"#;

/// Commits a change computed in Rust, if the state it was computed from is unchanged: the broadcast's version
/// and the vote versions of the questions it read. ARGV[1] is JSON:
/// `{prefix, ver, vv: [id, v, ...], ops: [[op, ...]], events: [[room, head, tail, question]], maxlen, publish}`.
/// An event naming a question gets that question's current vote count in place of the placeholder.
/// Returns 1, or 0 when the state moved on (the caller reloads and retries).
const COMMIT: &str = r#"
local p = cjson.decode(ARGV[1])
local P = p.prefix
if (redis.call('GET', P .. ':ver') or '0') ~= p.ver then return 0 end
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
  emit(P, e[1], e[2], tail, p.maxlen, p.publish)
end
redis.call('INCR', P .. ':ver')
return 1
"#;

/// Publishes the current count of up to ARGV[6] questions whose votes changed (coalesced votes), those that
/// changed first going first (`:dirtyq`, scored by the order they were marked): a `votes` event to the
/// moderation room, and to the public room if the question is public now. Counts marked in the older `:dirty`
/// set (before the queue) join the queue first.
/// ARGV: prefix, maxlen, publish, public room, moderation room, most questions.
/// Returns `{events published, questions still waiting}`.
const FLUSH: &str = r#"
local P = ARGV[1]
local q = P .. ':dirtyq'
for _, qid in ipairs(redis.call('SMEMBERS', P .. ':dirty')) do
  redis.call('ZADD', q, 'NX', redis.call('INCR', P .. ':dirtyn'), qid)
end
redis.call('DEL', P .. ':dirty')
local ids = redis.call('ZRANGE', q, 0, tonumber(ARGV[6]) - 1)
if #ids == 0 then return {0, 0} end
redis.call('ZREM', q, unpack(ids))
local published = 0
for _, qid in ipairs(ids) do
  local gate = redis.call('HGET', P .. ':meta', qid) or ''
  local tail = ',"kind":"votes","data":{"id":' .. qid .. ',"votes":' .. (redis.call('HGET', P .. ':votes', qid) or '0') .. '}}'
  if string.sub(gate, 1, 1) == 'p' then
    emit(P, 'pub', '{"type":"event","room":"' .. ARGV[4] .. '","seq":', tail, ARGV[2], ARGV[3])
    published = published + 1
  end
  emit(P, 'mod', '{"type":"event","room":"' .. ARGV[5] .. '","seq":', tail, ARGV[2], ARGV[3])
  published = published + 1
end
return {published, redis.call('ZCARD', q)}
"#;

/// One vote, the hot path, in one step: the same checks as `rules::vote` (broadcast open, merges followed,
/// a citizen can't see a hidden question, status takes votes), the voter set, the count, and if it changed the
/// `votes` event to each room that may see it. The frame is built exactly as `protocol::event` builds it.
/// With coalesced votes (ARGV[10] is 1) the question is only marked for the next flush instead. When the
/// voter's limit is used up (ARGV[11] is 0), a vote that would change something is refused and one that
/// would not (a retry) is answered as usual.
/// ARGV: prefix, question, sub, value (1/0), moderator (1/0), maxlen, publish, public room, moderation room,
/// coalesce (1/0), allowed (1/0).
/// Returns `{'ok', question, votes, events published, changed (1/0)}`, `{'rate_limited'}` or `{code, message}`.
const VOTE: &str = r#"
local P = ARGV[1]
local meta = P .. ':meta'
local open = redis.call('HGET', meta, 'open')
if not open then return {'not_found', 'No such broadcast.'} end
if open ~= '1' then return {'conflict', 'This broadcast is closed for questions.'} end
local qid = ARGV[2]
local gate
for _ = 1, 10000 do
  gate = redis.call('HGET', meta, qid)
  if not gate then return {'not_found', 'No such question.'} end
  if string.sub(gate, 1, 2) ~= 'm:' then break end
  qid = string.sub(gate, 3)
end
local public = string.sub(gate, 1, 1) == 'p'
if not public and ARGV[5] ~= '1' then return {'not_found', 'No such question.'} end
if string.sub(gate, 2, 2) ~= '1' then return {'conflict', 'This question takes no votes.'} end
local voters = P .. ':voters:' .. qid
if ARGV[11] ~= '1' and (redis.call('SISMEMBER', voters, ARGV[3]) == 1) ~= (ARGV[4] == '1') then
  return {'rate_limited'}
end
local changed
if ARGV[4] == '1' then changed = redis.call('SADD', voters, ARGV[3]) else changed = redis.call('SREM', voters, ARGV[3]) end
local n = redis.call('SCARD', voters)
if changed == 1 then
  redis.call('HSET', P .. ':votes', qid, n)
  redis.call('HINCRBY', P .. ':vv', qid, 1)
  if ARGV[10] == '1' then
    if not redis.call('ZSCORE', P .. ':dirtyq', qid) then
      redis.call('ZADD', P .. ':dirtyq', redis.call('INCR', P .. ':dirtyn'), qid)
    end
    return {'ok', qid, tostring(n), '0', '1'}
  end
  local tail = ',"kind":"votes","data":{"id":' .. qid .. ',"votes":' .. n .. '}}'
  local published = 1
  if public then
    emit(P, 'pub', '{"type":"event","room":"' .. ARGV[8] .. '","seq":', tail, ARGV[6], ARGV[7])
    published = 2
  end
  emit(P, 'mod', '{"type":"event","room":"' .. ARGV[9] .. '","seq":', tail, ARGV[6], ARGV[7])
  return {'ok', qid, tostring(n), tostring(published), '1'}
end
return {'ok', qid, tostring(n), '0', '0'}
"#;

/// Everything needed to apply one command: the broadcast, its version, pinned, muted, the question count, the
/// `asked` entry (ARGV[2], may be empty) and the questions named in ARGV[4..] plus the asked one, each with its
/// count, vote version and (if ARGV[3] is 1) voters. Returns nil if there is no such broadcast.
const LOAD: &str = r#"
local P = ARGV[1]
local bc = redis.call('GET', P .. ':bc')
if not bc then return false end
local asked = ''
if ARGV[2] ~= '' then asked = redis.call('HGET', P .. ':asked', ARGV[2]) or '' end
local ids = {}
for i = 4, #ARGV do ids[#ids + 1] = ARGV[i] end
if asked ~= '' then ids[#ids + 1] = asked end
local qs = {}
for _, id in ipairs(ids) do
  local q = redis.call('HGET', P .. ':q', id)
  if q then
    local voters = {}
    if ARGV[3] == '1' then voters = redis.call('SMEMBERS', P .. ':voters:' .. id) end
    qs[#qs + 1] = {q, redis.call('HGET', P .. ':votes', id) or '0', redis.call('HGET', P .. ':vv', id) or '0', voters}
  end
end
return {bc, redis.call('GET', P .. ':ver') or '0', redis.call('GET', P .. ':pinned') or '',
  redis.call('SMEMBERS', P .. ':muted'), tostring(redis.call('HLEN', P .. ':q')), asked, qs}
"#;

/// A whole broadcast, consistently: for a snapshot of room ARGV[2] (its epoch, created if absent, and seq) as
/// viewer ARGV[3] sees it (the questions they voted for), or with empty ARGV[2]/ARGV[3] for statistics.
/// Returns nil if there is no such broadcast, else
/// `{bc, epoch, seq, pinned, questions (flat hash), votes (flat hash), muted, my votes, conc (flat), parts, peak}`.
const READ_ALL: &str = r#"
local P = ARGV[1]
local bc = redis.call('GET', P .. ':bc')
if not bc then return false end
local epoch, seq = '', '0'
if ARGV[2] ~= '' then
  local r = P .. ':r:' .. ARGV[2]
  redis.call('SET', r .. ':epoch', ARGV[4], 'NX')
  epoch = redis.call('GET', r .. ':epoch')
  seq = redis.call('GET', r .. ':seq') or '0'
end
local qs = redis.call('HGETALL', P .. ':q')
local mine = {}
if ARGV[3] ~= '' then
  for i = 1, #qs, 2 do
    if redis.call('SISMEMBER', P .. ':voters:' .. qs[i], ARGV[3]) == 1 then mine[#mine + 1] = qs[i] end
  end
end
return {bc, epoch, seq, redis.call('GET', P .. ':pinned') or '', qs, redis.call('HGETALL', P .. ':votes'),
  redis.call('SMEMBERS', P .. ':muted'), mine, redis.call('HGETALL', P .. ':conc'),
  tostring(redis.call('SCARD', P .. ':parts')), redis.call('GET', P .. ':peak') or '0'}
"#;

/// A room's position and the history after ARGV[2], consistently: `{epoch or '', seq, entries}`.
const REPLAY: &str = r#"
local r = ARGV[1]
local epoch = redis.call('GET', r .. ':epoch') or ''
local seq = redis.call('GET', r .. ':seq') or '0'
return {epoch, seq, redis.call('XRANGE', r .. ':log', (tonumber(ARGV[2]) + 1) .. '-0', '+')}
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

pub static COMMIT_SCRIPT: LazyLock<Script> = LazyLock::new(|| Script::new(&format!("{EMIT}{COMMIT}")));
pub static VOTE_SCRIPT: LazyLock<Script> = LazyLock::new(|| Script::new(&format!("{EMIT}{VOTE}")));
pub static FLUSH_SCRIPT: LazyLock<Script> = LazyLock::new(|| Script::new(&format!("{EMIT}{FLUSH}")));
pub static LOAD_SCRIPT: LazyLock<Script> = LazyLock::new(|| Script::new(LOAD));
pub static READ_ALL_SCRIPT: LazyLock<Script> = LazyLock::new(|| Script::new(READ_ALL));
pub static REPLAY_SCRIPT: LazyLock<Script> = LazyLock::new(|| Script::new(REPLAY));
pub static GCRA_SCRIPT: LazyLock<Script> = LazyLock::new(|| Script::new(GCRA));
pub static CONCURRENT_SCRIPT: LazyLock<Script> = LazyLock::new(|| Script::new(CONCURRENT));
