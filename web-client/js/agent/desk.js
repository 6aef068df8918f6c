// The desk: my availability and languages, the live queue (take a chat), my chats, and for supervisors every
// open chat. Fed by the `desk` room and my own `user:<sub>` room.
import { t, el, setText, setTextIsolated, setCount, showError, formatClock, isolated } from '../common.js';
import { placeNodes } from '../ui.js';
import { state, hooks, $, isAdmin, chatEntry } from './state.js';

const LANGS = ['ar', 'en'];

// ---------------------------------------------------------------------------------------------------------
// Room data
// ---------------------------------------------------------------------------------------------------------

export function applyDeskSnapshot(d) {
  state.agents = new Map((d.agents || []).map((a) => [a.sub, a]));
  state.queues = { ar: [], en: [], ...(d.queues || {}) };
  state.open = new Map((d.open || []).map((c) => [c.id, c]));
  state.offlineOpen = d.offline_open ?? 0;
  const mine = state.agents.get(state.user.sub);
  if (mine) state.me = mine;
  hooks.onAgents();
}

/** A desk event; returns what the console should announce, if anything. */
export function applyDeskEvent(kind, d) {
  switch (kind) {
    case 'agent':
      state.agents.set(d.sub, d);
      if (d.sub === state.user.sub) state.me = d;
      hooks.onAgents();
      return null;
    case 'queue': {
      const before = new Set((state.queues[d.lang] || []).map((q) => q.chat));
      state.queues[d.lang] = d.waiting || [];
      const added = state.queues[d.lang].filter((q) => !before.has(q.chat));
      return added.length ? { kind: 'queued', text: added.map((q) => q.citizen_name || t('agent.citizen')).join(', ') } : null;
    }
    case 'open':
      state.open.set(d.id, d);
      return null;
    case 'closed':
      state.open.delete(d.chat);
      return null;
    case 'offline':
      hooks.onOffline(d);
      return null;
    case 'canned':
    case 'canned_removed':
      hooks.onCanned(kind, d);
      return null;
    default:
      return null;
  }
}

// ---------------------------------------------------------------------------------------------------------
// My status
// ---------------------------------------------------------------------------------------------------------

function chosenLangs() {
  return [...$('my-langs').querySelectorAll('input:checked')].map((i) => i.value);
}

export function renderStatus() {
  const me = state.me;
  const availability = me?.availability || 'offline';
  for (const b of $('availability').querySelectorAll('button')) b.setAttribute('aria-pressed', String(b.dataset.availability === availability));
  const langs = new Set(me?.languages || []);
  for (const box of $('my-langs').querySelectorAll('input')) {
    if (document.activeElement !== box) box.checked = me ? langs.has(box.value) : box.checked;
  }
  const load = $('my-load');
  if (me) {
    setText(load, 'agent.load', { n: me.load, cap: me.cap });
    load.className = `badge ${me.load >= me.cap ? 'warn' : 'ok'}`;
  }
  load.hidden = !me;
  setText($('desk-hint'), `agent.hint.${availability}`);
  document.body.dataset.availability = availability;
}

async function setAvailability(availability, languages = chosenLangs()) {
  showError($('desk-error'), null);
  if (availability === 'available' && !languages.length) {
    setText($('desk-error'), 'agent.needLang');
    $('desk-error').hidden = false;
    $('my-langs').querySelector('input')?.focus();
    return;
  }
  try {
    await state.client.whenReady();
    const ack = await state.client.send('agent_status', { availability, languages });
    if (ack.agent) { state.me = ack.agent; state.agents.set(ack.agent.sub, ack.agent); }
    renderStatus();
    hooks.renderDesk();
  } catch (err) {
    showError($('desk-error'), err);
  }
}

export function wireStatus() {
  for (const b of $('availability').querySelectorAll('button')) {
    b.addEventListener('click', () => setAvailability(b.dataset.availability));
  }
  $('my-langs').addEventListener('change', () => {
    const availability = state.me?.availability || 'offline';
    setAvailability(availability);
  });
  // First visit: offer the languages of the interface; the agent changes them before going available.
  for (const box of $('my-langs').querySelectorAll('input')) box.checked = true;
}

// ---------------------------------------------------------------------------------------------------------
// The queue
// ---------------------------------------------------------------------------------------------------------

const queueNodes = new Map();

function queueItem(q, lang) {
  const li = queueNodes.get(q.chat) || el('li', { class: 'entry queue-item', testid: 'queue-item' });
  queueNodes.set(q.chat, li);
  li.dataset.id = q.chat;
  li.dataset.lang = lang;
  li.dataset.pos = q.position;
  const mayServe = !!state.me && state.me.availability !== 'offline' && (state.me.languages || []).includes(lang) && state.me.load < state.me.cap;
  const take = el('button', { type: 'button', class: 'small primary', testid: 'take', i18n: 'agent.take', disabled: !mayServe,
    on: { click: () => take(q.chat) } });
  setText(take, 'agent.takeAria', { name: q.citizen_name || t('agent.citizen') }, 'aria-label');
  const meta = el('p', { class: 'entry-meta' },
    el('span', { class: 'badge info', text: t(`chat.cat.${q.category}`) }),
    el('span', { text: t(`chat.langName.${lang}`), lang }),
    el('span', { i18n: 'agent.waitingSince', args: { time: formatClock(q.since) } }));
  if (q.citizen_away_since) meta.append(el('span', { class: 'badge warn', i18n: 'agent.citizenAway' }));
  const had = li.contains(document.activeElement) ? document.activeElement.dataset.testid : null;
  li.replaceChildren(
    el('div', { class: 'entry-body' },
      el('p', { class: 'entry-text' }, el('span', { class: 'queue-pos', text: `${q.position}. ` }), isolated(q.citizen_name || t('agent.citizen'))),
      meta),
    el('div', { class: 'entry-side' }, take));
  if (had === 'take') take.focus();
  return li;
}

async function take(id) {
  showError($('desk-error'), null);
  try {
    await state.client.send('chat_take', { chat: id });
    hooks.select(id, true);
  } catch (err) {
    showError($('desk-error'), err);
  }
}

export function renderQueue() {
  const items = [];
  for (const lang of LANGS) for (const q of state.queues[lang] || []) items.push(queueItem(q, lang));
  // The fronts of the languages' queues first.
  items.sort((a, b) => Number(a.dataset.pos) - Number(b.dataset.pos));
  const ids = new Set(items.map((n) => Number(n.dataset.id)));
  for (const id of [...queueNodes.keys()]) if (!ids.has(id)) queueNodes.delete(id);
  placeNodes($('queue'), items);
  const n = items.length;
  $('queue-count').textContent = String(n);
  $('queue-empty').hidden = n > 0;
}

// ---------------------------------------------------------------------------------------------------------
// My chats and, for supervisors, every open chat
// ---------------------------------------------------------------------------------------------------------

const listNodes = new Map();

function chatItem(id) {
  const entry = state.chats.get(id);
  const c = entry.chat || entry.summary || {};
  const name = c.citizen?.name || c.citizen_name || c.name || t('agent.citizen');
  const li = listNodes.get(id) || el('li', { class: 'chat-item', testid: 'chat-item' });
  listNodes.set(id, li);
  li.dataset.id = id;
  li.dataset.status = c.status || '';
  const button = el('button', {
    type: 'button', class: 'chat-item-button', testid: 'chat-open',
    attrs: { 'aria-current': state.selected === id ? 'true' : 'false' },
    on: { click: () => hooks.select(id, true) },
  },
  el('span', { class: 'chat-item-name' }, isolated(name)),
  el('span', { class: 'chat-item-meta' },
    el('span', { text: c.category ? t(`chat.cat.${c.category}`) : '' }),
    el('span', { text: c.lang ? t(`chat.langName.${c.lang}`) : '', lang: c.lang }),
    c.status === 'ended' ? el('span', { class: 'badge', i18n: 'agent.ended' }) : null,
    entry.awaySince ? el('span', { class: 'badge warn', i18n: 'agent.citizenAway' }) : null));
  if (entry.unread) {
    const badge = el('span', { class: 'unread', testid: 'unread', text: String(entry.unread) });
    setCount(badge, 'agent.unread', entry.unread, 'aria-label');
    badge.textContent = String(entry.unread);
    button.append(badge);
  }
  const focused = li.contains(document.activeElement);
  li.replaceChildren(button);
  if (focused) button.focus();
  return li;
}

export function renderChatList() {
  const ids = [...state.chats.keys()].filter((id) => state.chats.get(id).held !== false);
  ids.sort((a, b) => {
    const ea = state.chats.get(a).chat?.status === 'ended';
    const eb = state.chats.get(b).chat?.status === 'ended';
    return Number(ea) - Number(eb) || a - b;
  });
  for (const id of [...listNodes.keys()]) if (!ids.includes(id)) listNodes.delete(id);
  placeNodes($('my-chats'), ids.map(chatItem));
  $('my-chats-empty').hidden = ids.length > 0;
  const live = ids.filter((id) => state.chats.get(id).chat?.status !== 'ended').length;
  $('chats-count').textContent = String(live);
  renderAllOpen();
}

function renderAllOpen() {
  $('all-open-card').hidden = !isAdmin();
  if (!isAdmin()) return;
  const items = [...state.open.values()].sort((a, b) => a.created_at - b.created_at).map((c) => {
    const li = el('li', { class: 'entry', testid: 'open-item', attrs: { 'data-id': c.id } },
      el('div', { class: 'entry-body' },
        el('p', { class: 'entry-text' }, isolated(c.citizen_name || t('agent.citizen'))),
        el('p', { class: 'entry-meta' },
          el('span', { text: t(`chat.cat.${c.category}`) }),
          c.agent_name ? setTextIsolated(el('span'), 'agent.heldBy', { name: c.agent_name }) : el('span', { i18n: 'chat.waitingTitle' }))),
      el('div', { class: 'entry-side' }, el('button', {
        type: 'button', class: 'small', testid: 'supervise', i18n: 'agent.supervise', on: { click: () => hooks.supervise(c.id) },
      })));
    return li;
  });
  $('all-open').replaceChildren(...items);
  $('all-open-empty').hidden = items.length > 0;
}

/** My own room's snapshot lists the chats I hold: make sure each has a record (main joins their rooms). */
export function heldChats(list) {
  for (const s of list || []) {
    const e = chatEntry(s.id);
    e.summary = s;
    e.held = true;
  }
}

export function renderDesk() {
  renderStatus();
  renderQueue();
  renderChatList();
  hooks.renderInboxCount();
}
