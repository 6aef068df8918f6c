// A chat's messages as both sides see them (docs/protocol.md §10.4.3): one <li> per message, system notices
// worded in the reader's language, receipts under the reader's own last message. Shared by the citizen's chat
// and the agent console. User text is placed with textContent only, isolated for direction.
import { t, el, userText, formatClock, setTextIsolated, isolated } from '../common.js';

/** Unicode isolates around a name placed inside a translated sentence, so "Amina" never reorders Arabic. */
export function isolate(text) {
  return `\u2068${text ?? ''}\u2069`;
}

/** The translation key and the names of a system notice. */
function noticeKey(notice) {
  const n = notice || {};
  switch (n.type) {
    case 'joined': return ['chat.notice.joined', { agent: n.agent ?? '' }];
    case 'transferred': return ['chat.notice.transferred', { from: n.from ?? '', to: n.to ?? '' }];
    case 'requeued': return [`chat.notice.requeued.${n.reason}`, {}];
    case 'ended': return [`chat.notice.ended.${n.reason}`, {}];
    default: return ['chat.notice.other', {}];
  }
}

/** The sentence for a system notice, in the page's language (names isolated), e.g. to announce it. */
export function noticeText(notice) {
  const [key, args] = noticeKey(notice);
  return t(key, Object.fromEntries(Object.entries(args).map(([k, v]) => [k, isolate(v)])));
}

/**
 * The <li> of one message. `mine(m)` says whether the reader wrote it (their side); `sideName(m)` the name to
 * show. A message still being sent has no seq yet: `pending: true` and its client_msg_id.
 */
export function messageNode(m, { mine, sideName }) {
  if (m.kind === 'system') {
    return el('li', { class: 'msg msg-system', testid: 'msg', attrs: { 'data-seq': m.seq, 'data-kind': 'system' } },
      el('p', { class: 'msg-text' }, setTextIsolated(el('span'), ...noticeKey(m.notice)), ' ',
        el('time', { class: 'msg-time', text: formatClock(m.at), dateTime: new Date(m.at).toISOString() })));
  }
  const own = mine(m);
  const li = el('li', {
    class: `msg ${own ? 'msg-mine' : 'msg-theirs'}${m.pending ? ' is-pending' : ''}`, testid: 'msg',
    attrs: { 'data-kind': 'text', 'data-from': m.from, ...(m.seq ? { 'data-seq': m.seq } : {}), ...(m.client_msg_id ? { 'data-cid': m.client_msg_id } : {}) },
  });
  const meta = el('p', { class: 'msg-meta' },
    isolated(sideName(m), { class: 'msg-name', testid: 'msg-name' }),
    el('time', { class: 'msg-time', text: m.at ? formatClock(m.at) : '', dateTime: m.at ? new Date(m.at).toISOString() : undefined }));
  li.append(meta, userText('p', m.text, { class: 'msg-text', testid: 'msg-text' }));
  return li;
}

/** A note as staff see it: visibly not a message, and saying so in words. */
export function noteNode(n) {
  return el('li', { class: 'msg msg-note', testid: 'note', attrs: { 'data-note': n.id, 'data-after': n.after } },
    el('p', { class: 'msg-meta' },
      el('span', { class: 'badge warn', i18n: 'chat.noteBadge' }),
      isolated(n.author?.name || '', { class: 'msg-name' }),
      el('time', { class: 'msg-time', text: formatClock(n.at), dateTime: new Date(n.at).toISOString() })),
    userText('p', n.text, { class: 'msg-text', testid: 'note-text' }));
}

/**
 * The receipt line under the reader's last own message: sending, sent, delivered, read (by the other side's
 * receipts). Returns a status key or null.
 */
export function receiptKey(m, other) {
  if (m.pending) return 'chat.receipt.sending';
  if (!m.seq) return null;
  if ((other?.read ?? 0) >= m.seq) return 'chat.receipt.read';
  if ((other?.delivered ?? 0) >= m.seq) return 'chat.receipt.delivered';
  return 'chat.receipt.sent';
}

/**
 * Render `items` (messages, and for staff notes placed after their message seq) into `list`;
 * keeps the view at the bottom when the reader was there. `receipts` (the other side's) put a status under the
 * reader's last own message.
 */
export function renderLog(list, items, { mine, sideName, receipts }) {
  const atBottom = list.scrollHeight - list.scrollTop - list.clientHeight < 40;
  const nodes = [];
  let lastOwn = null;
  for (const item of items) {
    const node = item.note ? noteNode(item.note) : messageNode(item, { mine, sideName });
    if (!item.note && item.kind === 'text' && mine(item)) lastOwn = { node, m: item };
    nodes.push(node);
  }
  if (lastOwn) {
    const key = receiptKey(lastOwn.m, receipts);
    if (key) lastOwn.node.append(el('p', { class: 'msg-receipt', testid: 'receipt', i18n: key, attrs: { 'data-state': key.split('.').pop() } }));
  }
  const first = !list.dataset.rendered;
  list.replaceChildren(...nodes);
  list.dataset.rendered = '1';
  if (atBottom || first) list.scrollTop = list.scrollHeight;
}

/** Keep `list` at its latest message while the reader is there, also when the space around it changes. */
export function stickToBottom(list) {
  let atBottom = true;
  list.addEventListener('scroll', () => { atBottom = list.scrollHeight - list.scrollTop - list.clientHeight < 40; });
  if (globalThis.ResizeObserver) new ResizeObserver(() => { if (atBottom) list.scrollTop = list.scrollHeight; }).observe(list);
}

/** Messages in seq order, then the ones still being sent; notes (staff) after the message they follow. */
export function ordered(messages, pending = [], notes = []) {
  const out = [];
  const byAfter = new Map();
  for (const n of notes) {
    if (!byAfter.has(n.after)) byAfter.set(n.after, []);
    byAfter.get(n.after).push({ note: n });
  }
  for (const n of byAfter.get(0) || []) out.push(n);
  for (const m of [...messages].sort((a, b) => a.seq - b.seq)) {
    out.push(m);
    for (const n of byAfter.get(m.seq) || []) out.push(n);
  }
  const last = messages.length ? Math.max(...messages.map((m) => m.seq)) : 0;
  for (const [after, list] of byAfter) if (after > last) out.push(...list);
  out.push(...pending);
  return out;
}
