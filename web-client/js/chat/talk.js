// The conversation: the chat's room `chat:<id>` (snapshot and events), the queue while waiting, messages with
// receipts, the agent typing, the composer (messages kept in an outbox in localStorage until acked, re-sent with
// the same client_msg_id after a reconnect or a reload), ending the chat.
import { t, el, setText, setTextIsolated, clearText, showError, uuid, charCount } from '../common.js';
import { createAnnouncer, confirmDialog } from '../ui.js';
import { state, hooks, $, tellHost, rememberChat } from './state.js';
import { renderLog, ordered, noticeText, stickToBottom } from './messages.js';
import { typingSender, typingWatch } from './typing.js';
import { minutes } from './start.js';
import { renderAfter } from './after.js';

const MAX_LEN = 2000; // docs/protocol.md §10.9, the server's default
const RECEIPT_DELAY_MS = 300;

const announcer = createAnnouncer({
  message: { one: 'chat.announceMessage', many: 'chat.announceMessages' },
  notice: { one: 'chat.announceNotice', latest: true },
  queue: { one: 'chat.announceQueue', latest: true },
}, { intervalMs: 3000 });

let chatId = null;
let loaded = false;
let remembered = false; // opened from this browser's memory, not from the start info's open chats
const inflight = new Set(); // client_msg_ids sent from this page (the client re-sends them itself)
let typingOut = null;
const typingIn = typingWatch((who) => renderTyping(who));
let receiptTimer = 0;

const room = () => `chat:${chatId}`;
const outboxKey = () => `majlis.chat.outbox.${chatId}`;
const ended = () => state.chat?.status === 'ended';

function saveOutbox() {
  try {
    if (state.outbox.length) localStorage.setItem(outboxKey(), JSON.stringify(state.outbox));
    else localStorage.removeItem(outboxKey());
  } catch { /* kept in memory only */ }
}

function loadOutbox() {
  try { return JSON.parse(localStorage.getItem(outboxKey()) || '[]').filter((m) => m?.client_msg_id && m.text); } catch { return []; }
}

/** Open chat `id`: join its room (the snapshot brings the history), show the conversation. */
export async function openChat(id, { position = null, estimate = null, remembered: fromMemory = false } = {}) {
  if (chatId && chatId !== id) state.client.leave(room());
  chatId = id;
  loaded = false;
  remembered = fromMemory;
  state.chat = null;
  state.messages = new Map();
  state.receipts = null;
  state.position = position;
  state.estimate = estimate;
  state.outbox = loadOutbox();
  announcer.reset();
  typingIn.clear();
  rememberChat(id);
  hooks.show('chat');
  $('chat-who').textContent = '';
  setText($('chat-sub'), 'loading');
  renderLog($('messages'), [], { mine: () => true, sideName: () => '', receipts: null });
  $('after').hidden = true;
  state.client.join(room());
}

export function currentChat() {
  return chatId;
}

/** Leave the current chat's room (back to the form). */
export function closeChat() {
  if (chatId) state.client?.leave(room());
  chatId = null;
  loaded = false;
  typingIn.clear();
}

// ---------------------------------------------------------------------------------------------------------
// Room data
// ---------------------------------------------------------------------------------------------------------

export function onSnapshot(f) {
  if (!chatId || f.room !== room()) return;
  const d = f.data;
  state.chat = d.chat;
  state.messages = new Map((d.messages || []).map((m) => [m.seq, m]));
  state.receipts = d.receipts || null;
  state.position = d.position ?? null;
  state.estimate = d.estimate_ms ?? null;
  const first = !loaded;
  loaded = true;
  // A remembered chat that ended and was rated is done with: this visit starts afresh.
  if (first && remembered && ended() && d.chat.rating) {
    closeChat();
    rememberChat(null);
    hooks.showStart();
    return;
  }
  announcer.reset();
  // What the server has is sent; what it lacks goes again, with the same client_msg_id.
  const known = new Set([...state.messages.values()].map((m) => m.client_msg_id).filter(Boolean));
  state.outbox = state.outbox.filter((m) => !known.has(m.client_msg_id));
  saveOutbox();
  if (!ended()) for (const m of state.outbox) if (!inflight.has(m.client_msg_id)) transmit(m);
  render();
  if (first) {
    if (ended()) $('after-title').focus();
    else $('composer-text').focus({ preventScroll: true });
  }
  queueReceipts();
  tellHost('status', { active: !ended(), unread: state.unread });
}

export function onEvent(f) {
  if (!chatId || f.room !== room() || !loaded) return;
  const d = f.data;
  switch (f.kind) {
    case 'chat': {
      const wasEnded = ended();
      state.chat = d;
      if (d.status !== 'waiting') { state.position = null; state.estimate = null; }
      if (!wasEnded && ended()) {
        typingOut?.stop();
        typingIn.clear();
        tellHost('status', { active: false, unread: state.unread });
        // The composer goes away: the focus goes to what comes next (rating, transcript), not to the page.
        const focusAfter = $('chat').contains(document.activeElement) || document.activeElement === document.body;
        render();
        if (focusAfter) $('after-title').focus();
        return;
      }
      break;
    }
    case 'message': {
      const isNew = !state.messages.has(d.seq);
      state.messages.set(d.seq, d);
      if (d.client_msg_id) {
        state.outbox = state.outbox.filter((m) => m.client_msg_id !== d.client_msg_id);
        saveOutbox();
      }
      if (isNew && d.kind === 'system') announcer.say('notice', noticeText(d.notice));
      else if (isNew && d.from === 'agent') {
        typingIn.set('agent', false);
        announcer.say('message', `${d.name || t('chat.agent')}: ${d.text}`);
        if (!state.visible || document.hidden) {
          state.unread += 1;
          tellHost('status', { active: !ended(), unread: state.unread });
        }
      }
      queueReceipts();
      break;
    }
    case 'receipts':
      state.receipts = d;
      break;
    case 'queue': {
      const moved = d.position !== state.position;
      state.position = d.position ?? null;
      state.estimate = d.estimate_ms ?? null;
      if (moved && state.position) announcer.say('queue', queueText());
      break;
    }
    default:
      return;
  }
  render();
}

export function onTyping(f) {
  if (!chatId || f.room !== room() || f.side !== 'agent' || ended()) return;
  typingIn.set('agent', !!f.typing);
}

/** The chat's room could not be joined (another person's chat, or one the server no longer has). */
export function onJoinError({ room: r }) {
  if (!chatId || r !== room()) return;
  closeChat();
  rememberChat(null);
  hooks.showStart();
}

// ---------------------------------------------------------------------------------------------------------
// Rendering
// ---------------------------------------------------------------------------------------------------------

function queueText() {
  return t('chat.position', { n: state.position });
}

/** Draw the conversation again (e.g. in the other language). */
export function rerender() {
  render();
}

function render() {
  const c = state.chat;
  if (!c) return;
  const who = $('chat-who');
  if (c.status === 'waiting') setText(who, 'chat.waitingTitle');
  else if (c.status === 'active') setTextIsolated(who, 'chat.with', { agent: c.agent?.name || t('chat.agent') });
  else setText(who, 'chat.endedTitle');
  who.dataset.status = c.status;
  setText($('chat-sub'), 'chat.sub', { category: t(`chat.cat.${c.category}`), id: c.id });

  const waiting = c.status === 'waiting';
  $('queue-box').hidden = !waiting;
  if (waiting) {
    if (state.position) setText($('queue-position'), 'chat.position', { n: state.position });
    else setText($('queue-position'), 'chat.positionSoon');
    if (state.estimate) setText($('queue-estimate'), 'chat.estimate', { n: minutes(state.estimate) });
    else clearText($('queue-estimate'));
    $('queue-estimate').hidden = !state.estimate;
  }
  renderNotice();

  const over = ended();
  $('composer').hidden = over;
  document.body.toggleAttribute('data-ended', over);
  // One control per action: "leave the queue" sits in the queue box while waiting, "end" in the bar after.
  $('chat-actions').replaceChildren(...(c.status === 'active' ? [el('button', {
    type: 'button', class: 'small', testid: 'end-chat', i18n: 'chat.end', on: { click: endChat },
  })] : []));
  renderAfter(over);
  // The log last, once everything around it has its size, so that it stays at its latest message.
  const pending = state.outbox.map((m) => ({ kind: 'text', from: 'citizen', text: m.text, at: m.at, pending: true, client_msg_id: m.client_msg_id }));
  renderLog($('messages'), ordered([...state.messages.values()], pending), {
    mine: (m) => m.from === 'citizen',
    sideName: (m) => (m.from === 'citizen' ? t('chat.you') : m.name || t('chat.agent')),
    receipts: state.receipts?.agent,
  });
}

function renderNotice() {
  const node = $('chat-notice');
  const offline = loaded && (state.conn === 'reconnecting' || state.conn === 'closed');
  if (offline && !ended()) setText(node, 'chat.offline');
  else clearText(node);
}

export function setConn(s) {
  state.conn = s;
  renderNotice();
}

function renderTyping(who) {
  const node = $('typing');
  if (who.has('agent') && !ended()) setTextIsolated(node, 'chat.typing', { name: state.chat?.agent?.name || t('chat.agent') });
  else clearText(node);
}

// ---------------------------------------------------------------------------------------------------------
// Sending
// ---------------------------------------------------------------------------------------------------------

function transmit(m) {
  inflight.add(m.client_msg_id);
  state.client.send('chat_send', { chat: chatId, text: m.text, client_msg_id: m.client_msg_id }).then((ack) => {
    inflight.delete(m.client_msg_id);
    if (ack.message) state.messages.set(ack.message.seq, ack.message);
    state.outbox = state.outbox.filter((o) => o.client_msg_id !== m.client_msg_id);
    saveOutbox();
    render();
  }, (err) => {
    inflight.delete(m.client_msg_id);
    // Refused for good (chat ended, too long, too fast): take it out and give the text back to edit.
    state.outbox = state.outbox.filter((o) => o.client_msg_id !== m.client_msg_id);
    saveOutbox();
    const box = $('composer-text');
    if (!box.value.trim()) box.value = m.text;
    showError($('composer-error'), err);
    render();
  });
}

function send(ev) {
  ev?.preventDefault();
  const box = $('composer-text');
  const text = box.value.trim();
  showError($('composer-error'), null);
  if (!text || !chatId || ended()) return;
  if (charCount(text) > MAX_LEN) {
    setText($('composer-error'), 'chat.tooLong', { n: MAX_LEN });
    $('composer-error').hidden = false;
    return;
  }
  const m = { client_msg_id: uuid(), text, at: Date.now() };
  state.outbox.push(m);
  saveOutbox();
  box.value = '';
  grow(box);
  typingOut?.stop();
  render();
  transmit(m);
  box.focus();
}

function grow(box) {
  box.style.height = 'auto';
  box.style.height = `${Math.min(box.scrollHeight + 2, 160)}px`;
}

/** Tell the agent what reached this page, and what was shown (only while the chat is on screen). */
function queueReceipts() {
  clearTimeout(receiptTimer);
  receiptTimer = setTimeout(sendReceipts, RECEIPT_DELAY_MS);
}

function sendReceipts() {
  if (!chatId || !loaded || state.conn !== 'open') return;
  const last = Math.max(0, ...[...state.messages.values()].filter((m) => m.from !== 'citizen').map((m) => m.seq));
  if (!last) return;
  const mine = state.receipts?.citizen || { delivered: 0, read: 0 };
  const fields = { chat: chatId };
  if (last > mine.delivered) fields.delivered = last;
  if (state.visible && !document.hidden && last > mine.read) fields.read = last;
  if (!fields.delivered && !fields.read) return;
  state.client.send('chat_receipt', fields).then((ack) => {
    if (ack.receipts) { state.receipts = ack.receipts; render(); }
  }, () => { /* a later message or reconnect sends them again */ });
}

export function setVisible(visible) {
  state.visible = visible;
  if (visible) {
    state.unread = 0;
    tellHost('status', { active: !!chatId && !ended(), unread: 0 });
    queueReceipts();
  }
}

async function endChat() {
  const waiting = state.chat?.status === 'waiting';
  const ok = await confirmDialog({
    title: waiting ? 'chat.leaveQueueTitle' : 'chat.endTitle',
    body: waiting ? 'chat.leaveQueueBody' : 'chat.endBody',
    confirm: waiting ? 'chat.leaveQueue' : 'chat.end',
    cancel: 'chat.keepChatting',
    danger: true,
  });
  if (!ok) return;
  try {
    await state.client.send('chat_end', { chat: chatId });
  } catch (err) {
    showError($('composer-error'), err);
  }
}

export function wireTalk() {
  const box = $('composer-text');
  stickToBottom($('messages'));
  typingOut = typingSender((typing) => {
    if (chatId && !ended() && state.conn === 'open') state.client.send('chat_typing', { chat: chatId, typing }).catch(() => {});
  });
  $('composer').addEventListener('submit', send);
  box.addEventListener('keydown', (ev) => {
    if (ev.key === 'Enter' && !ev.shiftKey && !ev.isComposing) send(ev);
  });
  box.addEventListener('input', () => { grow(box); if (box.value.trim()) typingOut.input(); else typingOut.stop(); });
  box.addEventListener('blur', () => typingOut.stop());
  $('leave-queue').addEventListener('click', endChat);
  document.addEventListener('visibilitychange', () => { if (!document.hidden) queueReceipts(); });
  window.addEventListener('focus', queueReceipts);
}
