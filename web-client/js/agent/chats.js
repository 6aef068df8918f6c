// The open chat's pane: the staff room `chat:<id>:staff` (snapshot and events), its messages and internal
// notes in one log (notes visibly different), the citizen typing, receipts, tags, and the chat's actions.
import { t, el, setText, setTextIsolated, isolated, clearText, showError, formatClock } from '../common.js';
import { state, hooks, $, staffRoom, chatEntry } from './state.js';
import { renderLog, ordered, isolate, noticeText, stickToBottom } from '../chat/messages.js';
import { typingWatch } from '../chat/typing.js';
import { chatActions } from './transfer.js';
import { loadDraft, renderMode } from './composer.js';

const RECEIPT_DELAY_MS = 300;
// Ended chats stay (for wrap-up notes and tags) until closed, but each holds a room on the connection (the
// server allows --max-rooms-per-connection): beyond this many the oldest ended ones are let go by themselves.
const ENDED_KEPT = 5;
let typingNow = new Set(); // chat ids whose citizen is typing
const typing = typingWatch((ids) => { typingNow = ids; renderTyping(); });
let receiptTimer = 0;

const idOf = (room) => Number(/^chat:(\d+):staff$/.exec(room)?.[1]) || null;
const holder = (c) => c?.agent?.sub === state.user.sub;

// ---------------------------------------------------------------------------------------------------------
// Room data; each returns what to announce, if anything
// ---------------------------------------------------------------------------------------------------------

export function applyStaffSnapshot(f) {
  const id = idOf(f.room);
  if (!id) return null;
  const e = chatEntry(id);
  const d = f.data;
  e.chat = d.chat;
  e.messages = new Map((d.messages || []).map((m) => [m.seq, m]));
  e.notes = new Map((d.notes || []).map((n) => [n.id, n]));
  e.position = d.position ?? null;
  e.estimate = d.estimate_ms ?? null;
  e.awaySince = d.citizen_away_since ?? null;
  e.loaded = true;
  if (state.selected === id) { renderPane(); queueReceipts(); }
  hooks.renderChatList();
  return null;
}

export function applyStaffEvent(f) {
  const id = idOf(f.room);
  if (!id || !state.chats.has(id)) return null;
  const e = state.chats.get(id);
  if (!e.loaded) return null;
  const d = f.data;
  let say = null;
  switch (f.kind) {
    case 'chat':
      e.chat = d;
      if (d.status !== 'waiting') { e.position = null; e.estimate = null; }
      if (d.status === 'ended') { typing.set(id, false); pruneEnded(); }
      break;
    case 'message': {
      const isNew = !e.messages.has(d.seq);
      e.messages.set(d.seq, d);
      if (isNew && d.kind === 'text' && d.from === 'citizen') {
        typing.set(id, false);
        if (state.selected !== id || document.hidden) e.unread += 1;
        say = { kind: 'message', text: `${d.name || t('agent.citizen')}: ${d.text}` };
      } else if (isNew && d.kind === 'system' && state.selected === id) {
        say = { kind: 'notice', text: noticeText(d.notice) };
      }
      queueReceipts();
      break;
    }
    case 'note':
      e.notes.set(d.id, d);
      break;
    case 'receipts':
      e.chat = { ...e.chat, receipts: d };
      break;
    case 'queue':
      e.position = d.position ?? null;
      e.estimate = d.estimate_ms ?? null;
      break;
    default:
      return null;
  }
  if (state.selected === id) renderPane();
  hooks.renderChatList();
  return say;
}

export function onTyping(f) {
  const id = idOf(f.room);
  if (!id || f.side !== 'citizen') return;
  typing.set(id, !!f.typing);
}

// ---------------------------------------------------------------------------------------------------------
// Rendering
// ---------------------------------------------------------------------------------------------------------

function renderTyping() {
  const node = $('pane-typing');
  const e = state.chats.get(state.selected);
  const who = e?.chat?.citizen?.name || t('agent.citizen');
  const on = state.selected && document.querySelector('#pane-body:not([hidden])') && typingNow.has(state.selected);
  if (on) setTextIsolated(node, 'chat.typing', { name: who });
  else clearText(node);
}

export function renderPane() {
  const id = state.selected;
  const e = id ? state.chats.get(id) : null;
  $('pane-none').hidden = !!e;
  $('pane-body').hidden = !e;
  document.getElementById('agent-layout').classList.toggle('has-pane', !!e);
  if (!e) return;
  const c = e.chat || e.summary || {};
  const name = c.citizen?.name || c.citizen_name || t('agent.citizen');
  const title = $('pane-title');
  title.replaceChildren(isolated(name));
  const meta = $('pane-meta');
  meta.replaceChildren(...[
    el('span', { class: `badge ${c.status === 'active' ? 'ok' : c.status === 'waiting' ? 'warn' : ''}`, testid: 'pane-status', i18n: `agent.status.${c.status || 'waiting'}` }),
    el('span', { class: 'badge info', text: c.category ? t(`chat.cat.${c.category}`) : '' }),
    el('span', { text: c.lang ? t(`chat.langName.${c.lang}`) : '', lang: c.lang }),
    el('span', { text: t('agent.chatNo', { id }) }),
    c.citizen?.contact ? el('span', { class: 'pane-contact' }, el('span', { i18n: 'agent.contact' }), ' ', isolated(c.citizen.contact, { testid: 'pane-contact' })) : null,
    c.agent && !holder(c) ? setTextIsolated(el('span'), 'agent.heldBy', { name: c.agent.name }) : null,
    c.created_at ? el('span', { text: t('agent.started', { time: formatClock(c.created_at) }) }) : null,
  ].filter(Boolean));

  // What the agent needs to know about the chat's state, one sentence.
  const notice = $('pane-notice');
  if (c.status === 'ended') setText(notice, 'agent.endedNotice');
  else if (e.awaySince) setText(notice, 'agent.awayNotice', { time: formatClock(e.awaySince) });
  else if (c.status === 'waiting') setText(notice, 'agent.waitingNotice');
  else if (c.agent && !holder(c)) setText(notice, 'agent.supervisingNotice');
  else clearText(notice);

  renderTags(e);
  const actions = $('pane-actions');
  const hadFocus = actions.contains(document.activeElement) ? document.activeElement.dataset.testid : null;
  actions.replaceChildren(...chatActions(id, c));
  // An action that changed the chat replaced its buttons: keep the focus on the same one, or the next sensible.
  if (hadFocus) (actions.querySelector(`[data-testid="${hadFocus}"]`) || actions.querySelector('button') || $('pane-title')).focus();

  const mayReply = c.status === 'active' && holder(c);
  const mayNote = c.status !== undefined;
  $('pane-composer').hidden = !mayNote;
  $('pane-composer').dataset.mayReply = mayReply ? '1' : '0';
  $('mode-reply').disabled = !mayReply;
  renderMode();
  renderTyping();
  // The log last, once everything around it has its size, so that it stays at its latest message.
  // Another chat in the pane: start at its latest message.
  if ($('pane-log').dataset.chat !== String(id)) { delete $('pane-log').dataset.rendered; $('pane-log').dataset.chat = String(id); }
  renderLog($('pane-log'), ordered([...e.messages.values()], [], [...e.notes.values()]), {
    mine: (m) => m.from === 'agent',
    sideName: (m) => (m.from === 'citizen' ? m.name || t('agent.citizen') : m.name || t('chat.agent')),
    receipts: c.receipts?.citizen,
  });

}

function renderTags(e) {
  const tags = e.chat?.tags || [];
  const list = $('tag-chips');
  list.replaceChildren(...tags.map((tag) => el('li', { class: 'tag-chip' },
    isolated(tag),
    el('button', {
      type: 'button', class: 'small quiet tag-remove', testid: 'tag-remove', text: '×',
      attrs: { 'aria-label': t('agent.removeTag', { tag: isolate(tag) }) },
      on: { click: () => setTags(tags.filter((x) => x !== tag)) },
    }))));
}

async function setTags(tags) {
  const id = state.selected;
  showError($('pane-error'), null);
  try {
    const ack = await state.client.send('chat_tag', { chat: id, tags });
    const e = state.chats.get(id);
    e.chat = { ...e.chat, tags: ack.tags };
    renderPane();
  } catch (err) {
    showError($('pane-error'), err);
  }
}

// ---------------------------------------------------------------------------------------------------------
// Selecting, receipts
// ---------------------------------------------------------------------------------------------------------

/** Open chat `id` in the pane. */
export function select(id, focus = false) {
  const prev = state.selected;
  if (prev && state.chats.has(prev)) state.chats.get(prev).draft = $('pane-text').value;
  state.selected = id;
  const e = state.chats.get(id);
  if (e) e.unread = 0;
  hooks.selectTab('tab-chats');
  renderPane();
  loadDraft();
  hooks.renderChatList();
  queueReceipts();
  if (e && window.matchMedia('(max-width: 59.99rem)').matches) $('pane').scrollIntoView({ block: 'start' });
  if (focus) {
    const mayType = !$('pane-composer').hidden;
    (mayType ? $('pane-text') : $('pane-title')).focus();
  }
}

/** Follow a chat's staff room (one I was assigned, took, or supervise). */
export function follow(id) {
  chatEntry(id).held = true;
  state.client.join(staffRoom(id));
}

function pruneEnded() {
  const ended = [...state.chats.entries()].filter(([id, e]) => e.chat?.status === 'ended' && id !== state.selected)
    .sort(([, a], [, b]) => (a.chat.ended_at ?? 0) - (b.chat.ended_at ?? 0));
  for (const [id] of ended.slice(0, Math.max(0, ended.length - ENDED_KEPT))) unfollow(id);
}

/** Stop following (released to someone else, or the agent closed an ended chat). */
export function unfollow(id) {
  state.client.leave(staffRoom(id));
  state.chats.delete(id);
  const hadFocus = $('pane').contains(document.activeElement) || document.activeElement === document.body;
  if (state.selected === id) {
    state.selected = null;
    renderPane();
  }
  hooks.renderChatList();
  // The chat went (handed on, closed): the focus goes to the list of chats, not to the page.
  if (hadFocus && state.selected === null) (document.querySelector('#my-chats [data-testid=chat-open]') || $('mine-title')).focus();
}

function queueReceipts() {
  clearTimeout(receiptTimer);
  receiptTimer = setTimeout(sendReceipts, RECEIPT_DELAY_MS);
}

/** Delivered for every chat I hold that got citizen messages; read for the one on screen. */
function sendReceipts() {
  if (state.conn !== 'open') return;
  for (const [id, e] of state.chats) {
    if (!e.loaded || !holder(e.chat) || e.chat.status === 'ended') continue;
    const last = Math.max(0, ...[...e.messages.values()].filter((m) => m.from !== 'agent').map((m) => m.seq));
    if (!last) continue;
    const mine = e.chat.receipts?.agent || { delivered: 0, read: 0 };
    const fields = { chat: id };
    if (last > mine.delivered) fields.delivered = last;
    if (state.selected === id && !document.hidden && last > mine.read) fields.read = last;
    if (!fields.delivered && !fields.read) continue;
    state.client.send('chat_receipt', fields).then((ack) => {
      if (ack.receipts && e.chat) e.chat = { ...e.chat, receipts: ack.receipts };
    }, () => {});
  }
}

/** Alt+↓ / Alt+↑: the next or previous chat of the list, from anywhere in the console. */
function stepChat(step) {
  const ids = [...document.querySelectorAll('#my-chats [data-testid=chat-item]')].map((li) => Number(li.dataset.id));
  if (!ids.length) return;
  const at = ids.indexOf(state.selected);
  select(ids[at < 0 ? 0 : (at + step + ids.length) % ids.length], true);
}

export function wireChats() {
  stickToBottom($('pane-log'));
  document.addEventListener('keydown', (ev) => {
    if (!ev.altKey || ev.ctrlKey || ev.metaKey || (ev.key !== 'ArrowDown' && ev.key !== 'ArrowUp')) return;
    if ($('console').hidden || document.querySelector('dialog[open]')) return;
    ev.preventDefault();
    stepChat(ev.key === 'ArrowDown' ? 1 : -1);
  });
  $('pane-back').addEventListener('click', () => {
    const id = state.selected;
    state.selected = null;
    renderPane();
    hooks.renderChatList();
    document.querySelector(`#my-chats [data-id="${id}"] button`)?.focus();
  });
  $('tag-input').addEventListener('keydown', (ev) => {
    if (ev.key !== 'Enter' && ev.key !== ',') return;
    ev.preventDefault();
    const value = ev.target.value.trim().toLowerCase();
    if (!value) return;
    const tags = state.chats.get(state.selected)?.chat?.tags || [];
    ev.target.value = '';
    if (!tags.includes(value)) setTags([...tags, value]);
  });
  document.addEventListener('visibilitychange', () => {
    if (document.hidden) return;
    // Back on the console: what the open chat received meanwhile is read now.
    const e = state.chats.get(state.selected);
    if (e?.unread) { e.unread = 0; hooks.renderChatList(); }
    queueReceipts();
  });
}
