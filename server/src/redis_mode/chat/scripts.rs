//! The live chat's Lua. Like the Q&A's, every script that reads or writes chat state starts with the fence
//! (ARGV[1] is the generation), and the commit gives each event its room seq, appends it to the room's history
//! stream and publishes it in the same atomic step (`EMIT`). Key names follow `chat::keys`.

use std::sync::LazyLock;

use redis::Script;

use crate::redis_mode::scripts::{emitting, fenced, EMIT, FENCE};

/// The live connections of a connection hash: the counts of nodes whose lease has not run out.
const LIVE: &str = r#"
local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local function live(key, now)
  local total = 0
  local all = redis.call('HGETALL', key)
  for i = 1, #all, 2 do
    local lease = tonumber(redis.call('HGET', 'mj:nodes', all[i]) or '0')
    if lease >= now then total = total + tonumber(all[i + 1]) end
  end
  return total
end
"#;

/// Commits a chat change computed in Rust, if what it was computed from is unchanged. ARGV[2] is JSON:
/// `{checks: [[key, version]], absent: [key], ops: [[op, key, ...]], bump: [key], events: [[prefix, room, head,
/// tail, maxlen, ttl?]], expire: [[chat prefix, at]], revoke: [[room, person]], publish}`. `checks` are the versions read (a missing key reads `0`); `absent` the
/// connection hashes that must have no live connection (an agent's or a citizen's last connection closed, and
/// none opened since, on any node); `bump` the versions this commit moves on; `expire` the ended chats it wrote,
/// every key of which ([`CHAT_PARTS`](super::keys::CHAT_PARTS)) is set to expire at `at` (ms) after the writes
/// and events, since a `SET` clears an expiry and a key first written after the end has none; `revoke` the
/// people who lose a room, published after the events on `mj:revoke`, which every node's bus hears (see `bus`).
/// Returns 1, 0 when something moved (the caller reloads and retries), or 2 when someone in `absent` has a
/// connection again.
const COMMIT: &str = r#"
local p = cjson.decode(ARGV[2])
for _, c in ipairs(p.checks) do
  if (redis.call('GET', c[1]) or '0') ~= c[2] then return 0 end
end
if #p.absent > 0 then
  local now = now_ms()
  for _, k in ipairs(p.absent) do
    if live(k, now) > 0 then return 2 end
  end
end
for _, op in ipairs(p.ops) do
  local c = op[1]
  if c == 'set' then redis.call('SET', op[2], op[3])
  elseif c == 'hset' then redis.call('HSET', op[2], op[3], op[4])
  elseif c == 'hdel' then redis.call('HDEL', op[2], op[3])
  elseif c == 'sadd' then redis.call('SADD', op[2], op[3])
  elseif c == 'srem' then redis.call('SREM', op[2], op[3])
  elseif c == 'rpush' then redis.call('RPUSH', op[2], op[3])
  elseif c == 'zadd' then redis.call('ZADD', op[2], op[3], op[4])
  end
end
for _, k in ipairs(p.bump) do redis.call('INCR', k) end
for _, e in ipairs(p.events) do
  emit(e[1], e[2], e[3], e[4], e[5], p.publish)
  if e[6] then redis.call('PEXPIRE', e[1] .. ':r:' .. e[2] .. ':log', e[6]) end
end
for _, x in ipairs(p.expire) do
  for _, part in ipairs(CHAT_PARTS) do redis.call('PEXPIREAT', x[1] .. part, x[2]) end
end
if #p.revoke > 0 then
  local t = redis.call('TIME')
  local stamp = t[1] .. string.format('%03d', math.floor(tonumber(t[2]) / 1000)) .. ' ' .. GEN .. ' '
  for _, r in ipairs(p.revoke) do redis.call(p.publish, 'mj:revoke', stamp .. r[1] .. ' ' .. r[2]) end
end
return 1
"#;

/// One chat for a command on it: `{header, version, posted, item, canned}` — `posted` the `:posted` entry of
/// ARGV[3] (empty if none or not asked), `item` the message or note it names, `canned` every canned response
/// if ARGV[4] is 1 (an agent's `/shortcut`). Nil if there is no such chat. ARGV: generation, chat prefix,
/// posted field, canned (1/0).
const LOAD_CHAT: &str = r#"
local P = ARGV[2]
local hdr = redis.call('GET', P .. ':hdr')
if not hdr then return false end
local posted, item = '', ''
if ARGV[3] ~= '' then
  posted = redis.call('HGET', P .. ':posted', ARGV[3]) or ''
  local kind, n = string.match(posted, '^(%a):(%d+)$')
  if kind == 'm' then item = redis.call('LINDEX', P .. ':msgs', tonumber(n) - 1) or ''
  elseif kind == 'n' then item = redis.call('LINDEX', P .. ':notes', tonumber(n) - 1) or '' end
end
local canned = {}
if ARGV[4] == '1' then canned = redis.call('HVALS', 'mj:{desk}:canned') end
return {hdr, redis.call('GET', P .. ':ver') or '0', posted, item, canned}
"#;

/// Headers and versions of chats: `{header or false, version}` per id in ARGV[2..].
const LOAD_CHATS: &str = r#"
local out = {}
for i = 2, #ARGV do
  local P = 'mj:{c:' .. ARGV[i] .. '}'
  out[#out + 1] = {redis.call('GET', P .. ':hdr') or false, redis.call('GET', P .. ':ver') or '0'}
end
return out
"#;

/// The desk with the open chats a command can touch. ARGV: generation, flags (`a`: every open chat; `s`: a
/// sweep's, the chats of away citizens and of agents whose connection is down), citizens' subs (their open
/// chats; separated by the unit separator, \x1f) or '', a chat id (its entry, header and version) or '', then agents' subs (the chats they hold).
/// Queued chats are always loaded (routing hands them out). Returns `{version, agents (flat), queues, waits,
/// open (flat), away (flat: chat id → since, of the open chats loaded), header or false, chat version, offline open count, the desk room's seq, generation}`.
const LOAD_DESK: &str = r#"
local D = 'mj:{desk}'
local flags = ARGV[2]
local open = {}
if string.find(flags, 'a', 1, true) then
  open = redis.call('HGETALL', D .. ':open')
else
  local ids, order = {}, {}
  local function add(list)
    for _, id in ipairs(list) do
      if not ids[id] then ids[id] = true; order[#order + 1] = id end
    end
  end
  add(redis.call('SMEMBERS', D .. ':waiting'))
  for citizen in string.gmatch(ARGV[3], '[^\31]+') do add(redis.call('SMEMBERS', D .. ':of:' .. citizen)) end
  if ARGV[4] ~= '' then add({ARGV[4]}) end
  for i = 5, #ARGV do add(redis.call('SMEMBERS', D .. ':held:' .. ARGV[i])) end
  if string.find(flags, 's', 1, true) then
    add(redis.call('HKEYS', D .. ':away'))
    for _, sub in ipairs(redis.call('SMEMBERS', D .. ':gone')) do add(redis.call('SMEMBERS', D .. ':held:' .. sub)) end
  end
  for _, id in ipairs(order) do
    local j = redis.call('HGET', D .. ':open', id)
    if j then open[#open + 1] = id; open[#open + 1] = j end
  end
end
local away = {}
for i = 1, #open, 2 do
  local since = redis.call('HGET', D .. ':away', open[i])
  if since then away[#away + 1] = open[i]; away[#away + 1] = since end
end
local hdr, cver = false, '0'
if ARGV[4] ~= '' then
  local P = 'mj:{c:' .. ARGV[4] .. '}'
  hdr = redis.call('GET', P .. ':hdr') or false
  cver = redis.call('GET', P .. ':ver') or '0'
end
return {redis.call('GET', D .. ':ver') or '0', redis.call('HGETALL', D .. ':agents'),
  redis.call('GET', D .. ':queues') or '', redis.call('GET', D .. ':waits') or '', open, away, hdr, cver,
  tostring(redis.call('SCARD', D .. ':offline:open')), redis.call('GET', D .. ':r:desk:seq') or '0', GEN}
"#;

/// One chat in full for a snapshot or a transcript, with the room's seq, consistently: `{generation, seq,
/// header or false, messages, notes, queues, waits, open entry, citizen away since}`. ARGV: generation, chat id, room tag (or ''),
/// notes (1/0).
const READ_CHAT: &str = r#"
local D = 'mj:{desk}'
local P = 'mj:{c:' .. ARGV[2] .. '}'
local hdr = redis.call('GET', P .. ':hdr')
if not hdr then return {GEN, '0', false} end
local seq = '0'
if ARGV[3] ~= '' then seq = redis.call('GET', P .. ':r:' .. ARGV[3] .. ':seq') or '0' end
local notes = {}
if ARGV[4] == '1' then notes = redis.call('LRANGE', P .. ':notes', 0, -1) end
return {GEN, seq, hdr, redis.call('LRANGE', P .. ':msgs', 0, -1), notes, redis.call('GET', D .. ':queues') or '',
  redis.call('GET', D .. ':waits') or '', redis.call('HGET', D .. ':open', ARGV[2]) or '',
  redis.call('HGET', D .. ':away', ARGV[2]) or ''}
"#;

/// One open chat for a citizen's presence: `{desk version, open entry or '', away since or '', its agent or ''}`.
/// ARGV: generation, chat id.
const LOAD_OPEN: &str = r#"
local D = 'mj:{desk}'
local open = redis.call('HGET', D .. ':open', ARGV[2]) or ''
local agent = ''
if open ~= '' then
  local sub = cjson.decode(open).agent
  if type(sub) == 'string' then agent = redis.call('HGET', D .. ':agents', sub) or '' end
end
return {redis.call('GET', D .. ':ver') or '0', open, redis.call('HGET', D .. ':away', ARGV[2]) or '', agent}
"#;

/// A small versioned record set of the desk (canned responses, offline messages): `{version, values}`.
/// ARGV: generation, hash key, version key.
const LOAD_SET: &str = r#"
return {redis.call('GET', ARGV[3]) or '0', redis.call('HVALS', ARGV[2])}
"#;

/// One offline message and a citizen's open ones: `{version, record or '', [open records]}`. ARGV: generation,
/// id or '', citizen sub or ''.
const LOAD_OFFLINE: &str = r#"
local D = 'mj:{desk}'
local record = ''
if ARGV[2] ~= '' then record = redis.call('HGET', D .. ':offline', ARGV[2]) or '' end
local mine = {}
if ARGV[3] ~= '' then
  local ids = redis.call('SMEMBERS', D .. ':offline:of:' .. ARGV[3])
  if #ids > 0 then
    for _, r in ipairs(redis.call('HMGET', D .. ':offline', unpack(ids))) do
      if r then mine[#mine + 1] = r end
    end
  end
end
return {redis.call('GET', D .. ':over') or '0', record, mine}
"#;

/// A page of the offline inbox, newest first: at most ARGV[3] records with an id below ARGV[2] ('' for no
/// bound) and, if ARGV[4] is not '', that status. Open ones come from `:offline:open` (a few); the others by
/// walking `:offline:ids` down a chunk at a time, so a page reads what it shows and what it skips on the way,
/// not the whole inbox. Messages stored before the index existed are indexed by the first page that finds it
/// short. Returns `{[records]}`. ARGV: generation, before, limit, status.
const OFFLINE_PAGE: &str = r#"
local D = 'mj:{desk}'
local H, I = D .. ':offline', D .. ':offline:ids'
local before, limit, status = tonumber(ARGV[2]), tonumber(ARGV[3]), ARGV[4]
if redis.call('ZCARD', I) < redis.call('HLEN', H) then
  for _, id in ipairs(redis.call('HKEYS', H)) do redis.call('ZADD', I, id, id) end
end
local out = {}
local function take(ids)
  if #ids == 0 then return end
  for _, r in ipairs(redis.call('HMGET', H, unpack(ids))) do
    if r and #out < limit and (status == '' or cjson.decode(r).status == status) then out[#out + 1] = r end
  end
end
if status == 'open' then
  local ids = {}
  for _, id in ipairs(redis.call('SMEMBERS', D .. ':offline:open')) do
    if not before or tonumber(id) < before then ids[#ids + 1] = tonumber(id) end
  end
  table.sort(ids, function(a, b) return a > b end)
  local page = {}
  for i = 1, math.min(#ids, limit) do page[i] = tostring(ids[i]) end
  take(page)
  return {out}
end
local top = before and ('(' .. ARGV[2]) or '+inf'
while #out < limit do
  local ids = redis.call('ZREVRANGEBYSCORE', I, top, '-inf', 'LIMIT', 0, 100)
  if #ids == 0 then break end
  take(ids)
  top = '(' .. ids[#ids]
end
return {out}
"#;

/// Sets a key behind the fence. ARGV: generation, key, value.
const SET: &str = r#"
redis.call('SET', ARGV[2], ARGV[3])
return 1
"#;

/// Publishes the channel, frame pairs of ARGV from `from` on: unsequenced frames (typing), stamped like an
/// event's (see `EMIT`) but never stored.
const PUBLISH_PAIRS: &str = r#"
local function publish_pairs(cmd, from)
  local t = redis.call('TIME')
  local stamp = t[1] .. string.format('%03d', math.floor(tonumber(t[2]) / 1000)) .. ' ' .. GEN .. ' '
  for i = from, #ARGV, 2 do redis.call(cmd, ARGV[i], stamp .. ARGV[i + 1]) end
end
"#;

/// Publishes unsequenced frames. ARGV: generation, publish command, then channel, frame pairs.
const EPHEMERAL: &str = r#"
publish_pairs(ARGV[2], 3)
return 1
"#;

/// A typing indicator: publishes the frames if ARGV[3] may type in the chat as side ARGV[4] (`a` its agent,
/// `c` its citizen, `n` nobody: only the refusal is wanted) — the chat has not ended, and an agent's is not
/// waiting, as `typing_side` has it. Returns 1; false if there is no such chat; the header if refused (the
/// rules in Rust then say why, see `typing`). ARGV: generation, chat prefix, sub, side, publish command, then
/// channel, frame pairs.
const TYPING: &str = r#"
local hdr = redis.call('GET', ARGV[2] .. ':hdr')
if not hdr then return false end
local c = cjson.decode(hdr)
local side, sub = ARGV[4], ARGV[3]
local ok = c.status ~= 'ended'
if side == 'a' then
  ok = ok and c.status ~= 'waiting' and type(c.agent) == 'table' and c.agent.sub == sub
elseif side == 'c' then
  ok = ok and type(c.citizen) == 'table' and c.citizen.sub == sub
else
  ok = false
end
if not ok then return hdr end
publish_pairs(ARGV[5], 6)
return 1
"#;

/// A receipt, when ARGV[3] is the chat's citizen (ARGV[4] `c`) or its agent (`a`) and the seqs it gives
/// (ARGV[5] delivered, ARGV[6] read; '' for none) are not beyond the chat's last: raises that side's receipt
/// as the rules do (`receipt`: never back, and what was read was delivered), in the header's text, moves the
/// chat's version on, and emits the events of ARGV[12..] (prefix, room, head, tail, maxlen each, see `plan`)
/// with the four values in place of the placeholders ARGV[8..11] (`receipts::PLACEHOLDERS`, in their order).
/// The header is read and spliced as text, never decoded (a decode cost more than the round trip it saves) nor
/// encoded again (cjson would change how numbers and empty lists are written): serde writes it compactly in
/// its fields' order and escapes every quote and backslash inside a string, so each pattern below (anchored
/// to the field before it where the key could recur, as `"agent"` does in the receipts) can only match the
/// header's own field, and a sub with a character JSON escapes never matches (the rules take it).
/// Returns `{1 if changed else 0, citizen delivered, citizen read, agent delivered, agent read}`; false if
/// there is no such chat; 0 if it is not this script's to decide (the rules then answer). ARGV: generation,
/// chat prefix, sub, side, delivered, read, publish command, the four placeholders, the events.
const RECEIPT: &str = r#"
local RECEIPTS = '"receipts":{"citizen":{"delivered":(%d+),"read":(%d+)},"agent":{"delivered":(%d+),"read":(%d+)}}'
local P = ARGV[2]
local hdr = redis.call('GET', P .. ':hdr')
if not hdr then return false end
local sub, side = ARGV[3], ARGV[4]
local mine
if side == 'c' and string.match(hdr, '^{"id":%d+,"citizen":{"sub":"([^"\\]*)"') == sub then mine = 1
elseif side == 'a' and string.match(hdr, '"status":"%a+","agent":{"sub":"([^"\\]*)"') == sub then mine = 3
else return 0 end
local delivered, read = tonumber(ARGV[5]), tonumber(ARGV[6])
if not delivered and not read then return 0 end
delivered, read = delivered or 0, read or 0
local last = tonumber(string.match(hdr, '"last_seq":(%d+)'))
if not last or math.max(delivered, read) > last then return 0 end
local a, z, cd, cr, ad, ar = string.find(hdr, RECEIPTS)
if not a then return 0 end
local v = {cd, cr, ad, ar}
local old_delivered, old_read = tonumber(v[mine]), tonumber(v[mine + 1])
local new_read = math.max(old_read, read)
local new_delivered = math.max(old_delivered, delivered, new_read)
if new_read == old_read and new_delivered == old_delivered then return {0, cd, cr, ad, ar} end
v[mine], v[mine + 1] = string.format('%d', new_delivered), string.format('%d', new_read)
local field = '"receipts":{"citizen":{"delivered":' .. v[1] .. ',"read":' .. v[2] .. '},"agent":{"delivered":'
  .. v[3] .. ',"read":' .. v[4] .. '}}'
redis.call('SET', P .. ':hdr', string.sub(hdr, 1, a - 1) .. field .. string.sub(hdr, z + 1), 'KEEPTTL')
redis.call('INCR', P .. ':ver')
local function fill(text)
  for i = 1, 4 do
    local at, to = string.find(text, ARGV[7 + i], 1, true)
    if at then text = string.sub(text, 1, at - 1) .. v[i] .. string.sub(text, to + 1) end
  end
  return text
end
for i = 12, #ARGV, 5 do emit(ARGV[i], ARGV[i + 1], fill(ARGV[i + 2]), fill(ARGV[i + 3]), ARGV[i + 4], ARGV[7]) end
return {1, v[1], v[2], v[3], v[4]}
"#;

/// A text message in one step, the plain case of [`ChatState::apply`](crate::chat::rules::ChatState::apply)'s
/// `send`: the sender is the chat's citizen (the chat not ended) or its agent (the chat active), the chat takes
/// more messages, and the `client_msg_id` (if any) posted nothing yet. It raises `last_seq` and `texts` in the
/// header's text, appends the message, indexes its `client_msg_id` and emits both rooms' events, filling the
/// seq and, for a citizen, the name the header gives them into the message and the frames built in Rust. Anything
/// else returns 0 and is left to the rules (`commands`). ARGV: generation, chat prefix, sub, side (`c`/`a`),
/// posted field or '', the most messages, publish, the seq's placeholder, the name's ('' for an agent), the
/// message as stored, then events (prefix, room, head, tail, maxlen each). Returns `{seq, name}` (the name as
/// JSON).
const SEND: &str = r#"
local P = ARGV[2]
local hdr = redis.call('GET', P .. ':hdr')
if not hdr then return 0 end
local sub, side = ARGV[3], ARGV[4]
local name = 'null'
if side == 'c' then
  local citizen, rest = string.match(hdr, '^{"id":%d+,"citizen":{"sub":"([^"\\]*)","name":(.)')
  if citizen ~= sub or string.match(hdr, '"status":"ended"') then return 0 end
  if rest == '"' then
    name = string.match(hdr, '^{"id":%d+,"citizen":{"sub":"[^"\\]*","name":("[^"\\]*"),')
    if not name then return 0 end
  elseif rest ~= 'n' then return 0 end
elseif side ~= 'a' or string.match(hdr, '"status":"active","agent":{"sub":"([^"\\]*)"') ~= sub then
  return 0
end
local a, z, last, texts = string.find(hdr, '"last_seq":(%d+),"texts":(%d+),')
if not a or tonumber(texts) >= tonumber(ARGV[6]) then return 0 end
local field = ARGV[5]
if field ~= '' and redis.call('HEXISTS', P .. ':posted', field) == 1 then return 0 end
local seq = string.format('%d', tonumber(last) + 1)
local counts = '"last_seq":' .. seq .. ',"texts":' .. string.format('%d', tonumber(texts) + 1) .. ','
redis.call('SET', P .. ':hdr', string.sub(hdr, 1, a - 1) .. counts .. string.sub(hdr, z + 1), 'KEEPTTL')
redis.call('INCR', P .. ':ver')
local function fill(text)
  local at, to = string.find(text, ARGV[8], 1, true)
  if at then text = string.sub(text, 1, at - 1) .. seq .. string.sub(text, to + 1) end
  if ARGV[9] == '' then return text end
  at, to = string.find(text, ARGV[9], 1, true)
  if at then text = string.sub(text, 1, at - 1) .. name .. string.sub(text, to + 1) end
  return text
end
redis.call('RPUSH', P .. ':msgs', fill(ARGV[10]))
if field ~= '' then redis.call('HSET', P .. ':posted', field, 'm:' .. seq) end
for i = 11, #ARGV, 5 do emit(ARGV[i], ARGV[i + 1], fill(ARGV[i + 2]), fill(ARGV[i + 3]), ARGV[i + 4], ARGV[7]) end
return {seq, name}
"#;

/// Records this node's count of connections in one connection hash and renews its lease. ARGV: node, lease
/// ms, key, count. Returns the live count across nodes.
const CONNECTIONS: &str = r#"
local now = now_ms()
redis.call('HSET', 'mj:nodes', ARGV[1], now + tonumber(ARGV[2]))
local keys = 'mj:node:' .. ARGV[1] .. ':keys'
if tonumber(ARGV[4]) > 0 then
  redis.call('HSET', ARGV[3], ARGV[1], ARGV[4])
  redis.call('SADD', keys, ARGV[3])
else
  redis.call('HDEL', ARGV[3], ARGV[1])
  redis.call('SREM', keys, ARGV[3])
end
return live(ARGV[3], now)
"#;

/// Renews this node's lease. ARGV: node, lease ms. Returns 1 if it was still valid, 0 if it had run out or was
/// gone (the node's counts may have been taken out: it reports them all again).
const LEASE: &str = r#"
local now = now_ms()
local was = tonumber(redis.call('HGET', 'mj:nodes', ARGV[1]) or '0')
redis.call('HSET', 'mj:nodes', ARGV[1], now + tonumber(ARGV[2]))
if was >= now then return 1 end
return 0
"#;

/// Takes out the counts of nodes whose lease ran out more than ARGV[1] ms ago (they died): returns the
/// connection hashes left with no live connection, whose people must now count as gone. Atomic, so of several
/// nodes sweeping at once one reaps each dead node.
const REAP: &str = r#"
local now = now_ms()
local out = {}
local nodes = redis.call('HGETALL', 'mj:nodes')
for i = 1, #nodes, 2 do
  if tonumber(nodes[i + 1]) + tonumber(ARGV[1]) < now then
    local set = 'mj:node:' .. nodes[i] .. ':keys'
    for _, key in ipairs(redis.call('SMEMBERS', set)) do
      redis.call('HDEL', key, nodes[i])
      if live(key, now) == 0 then out[#out + 1] = key end
    end
    redis.call('DEL', set)
    redis.call('HDEL', 'mj:nodes', nodes[i])
  end
end
return out
"#;

/// Forgets what is past the retention (`retention`), at most ARGV[3] of each kind. ARGV: generation, the cutoff
/// (ms: what ended or was settled at or before it is past), the most. Ended chats, from `:ended`: out of
/// `:chats` (the reports' index), and their keys deleted (they expire by themselves too; deleting them makes
/// the forgetting not wait on Redis' expiry nor differ with its clock); one still open on the desk is left
/// alone. Offline messages, from `:offline:settled`: each re-read, deleted only if it is still settled and its
/// latest settlement is past the cutoff, else noted again at its latest settlement; `:over` moves on if any
/// went, so a change computed from one that went is refused and reloads. Returns `{chats, offline}` forgotten.
const FORGET: &str = r#"
local D = 'mj:{desk}'
local cutoff, most = tonumber(ARGV[2]), tonumber(ARGV[3])
local chats, offline = 0, 0
for _, id in ipairs(redis.call('ZRANGEBYSCORE', D .. ':ended', '-inf', ARGV[2], 'LIMIT', 0, most)) do
  redis.call('ZREM', D .. ':ended', id)
  if redis.call('HEXISTS', D .. ':open', id) == 0 then
    local P = 'mj:{c:' .. id .. '}'
    for _, part in ipairs(CHAT_PARTS) do redis.call('DEL', P .. part) end
    chats = chats + redis.call('ZREM', D .. ':chats', id)
  end
end
for _, id in ipairs(redis.call('ZRANGEBYSCORE', D .. ':offline:settled', '-inf', ARGV[2], 'LIMIT', 0, most)) do
  redis.call('ZREM', D .. ':offline:settled', id)
  local record = redis.call('HGET', D .. ':offline', id)
  if record then
    local m = cjson.decode(record)
    local at = nil
    if m.status == 'answered' and type(m.answer) == 'table' then at = m.answer.at
    elseif m.status == 'closed' then at = m.closed_at end
    if type(at) == 'number' and at <= cutoff then
      redis.call('HDEL', D .. ':offline', id)
      redis.call('ZREM', D .. ':offline:ids', id)
      offline = offline + 1
    elseif type(at) == 'number' then
      redis.call('ZADD', D .. ':offline:settled', string.format('%.0f', at), id)
    end
  end
end
if offline > 0 then redis.call('INCR', D .. ':over') end
return {chats, offline}
"#;

/// [`CHAT_PARTS`](super::keys::CHAT_PARTS) as a Lua table, so the scripts and the key layout can't disagree.
fn chat_parts() -> String {
    let parts: Vec<String> = super::keys::CHAT_PARTS.iter().map(|p| format!("'{p}'")).collect();
    format!("local CHAT_PARTS = {{{}}}\n", parts.join(", "))
}

pub static COMMIT_SCRIPT: LazyLock<Script> =
    LazyLock::new(|| Script::new(&format!("{FENCE}{EMIT}{LIVE}{}{COMMIT}", chat_parts())));
pub static FORGET_SCRIPT: LazyLock<Script> = LazyLock::new(|| fenced(&format!("{}{FORGET}", chat_parts())));
pub static LOAD_CHAT_SCRIPT: LazyLock<Script> = LazyLock::new(|| fenced(LOAD_CHAT));
pub static LOAD_CHATS_SCRIPT: LazyLock<Script> = LazyLock::new(|| fenced(LOAD_CHATS));
pub static LOAD_DESK_SCRIPT: LazyLock<Script> = LazyLock::new(|| fenced(LOAD_DESK));
pub static READ_CHAT_SCRIPT: LazyLock<Script> = LazyLock::new(|| fenced(READ_CHAT));
pub static LOAD_OPEN_SCRIPT: LazyLock<Script> = LazyLock::new(|| fenced(LOAD_OPEN));
pub static LOAD_SET_SCRIPT: LazyLock<Script> = LazyLock::new(|| fenced(LOAD_SET));
pub static LOAD_OFFLINE_SCRIPT: LazyLock<Script> = LazyLock::new(|| fenced(LOAD_OFFLINE));
pub static OFFLINE_PAGE_SCRIPT: LazyLock<Script> = LazyLock::new(|| fenced(OFFLINE_PAGE));
pub static SET_SCRIPT: LazyLock<Script> = LazyLock::new(|| fenced(SET));
pub static EPHEMERAL_SCRIPT: LazyLock<Script> = LazyLock::new(|| fenced(&format!("{PUBLISH_PAIRS}{EPHEMERAL}")));
pub static RECEIPT_SCRIPT: LazyLock<Script> = LazyLock::new(|| emitting(RECEIPT));
pub static SEND_SCRIPT: LazyLock<Script> = LazyLock::new(|| emitting(SEND));
pub static TYPING_SCRIPT: LazyLock<Script> = LazyLock::new(|| fenced(&format!("{PUBLISH_PAIRS}{TYPING}")));
pub static CONNECTIONS_SCRIPT: LazyLock<Script> = LazyLock::new(|| Script::new(&format!("{LIVE}{CONNECTIONS}")));
pub static LEASE_SCRIPT: LazyLock<Script> = LazyLock::new(|| Script::new(&format!("{LIVE}{LEASE}")));
pub static REAP_SCRIPT: LazyLock<Script> = LazyLock::new(|| Script::new(&format!("{LIVE}{REAP}")));
