// The agent's composer: a reply to the citizen or an internal note (Alt+N switches; a note looks like one),
// canned responses by shortcut (type / and pick one with the arrow keys; Enter or Tab puts its text in the
// chat's language in the box), typing indicators, and sending with a client_msg_id (re-sent after a drop).
import { el, setText, showError, uuid, api } from '../common.js';
import { state, $ } from './state.js';
import { typingSender } from '../chat/typing.js';
import { renderPane } from './chats.js';

let typingOut = null;
let matches = [];
let active = -1;

function entry() {
  return state.chats.get(state.selected) || null;
}

function mayReply() {
  return $('pane-composer').dataset.mayReply === '1';
}

/** Show the selected chat's draft and mode. */
export function loadDraft() {
  const e = entry();
  $('pane-text').value = e?.draft || '';
  renderMode();
  closeList();
}

export function renderMode() {
  const e = entry();
  const note = !e || e.mode === 'note' || !mayReply();
  $('mode-reply').setAttribute('aria-pressed', String(!note));
  $('mode-note').setAttribute('aria-pressed', String(note));
  $('pane-composer').classList.toggle('is-note', note);
  setText($('pane-text-label'), note ? 'agent.noteLabel' : 'agent.replyLabel');
  setText($('pane-text'), note ? 'agent.notePlaceholder' : 'agent.replyPlaceholder', undefined, 'placeholder');
  setText($('pane-send'), note ? 'agent.addNote' : 'chat.send');
}

function setMode(mode) {
  const e = entry();
  if (!e) return;
  e.mode = mode === 'reply' && mayReply() ? 'reply' : 'note';
  renderMode();
  $('pane-text').focus();
}

// ---------------------------------------------------------------------------------------------------------
// Canned responses
// ---------------------------------------------------------------------------------------------------------

export async function loadCanned() {
  try {
    state.canned = (await api('GET', '/api/chat/canned', { token: state.token })).canned || [];
  } catch { state.canned = []; }
}

export function onCanned(kind, d) {
  if (kind === 'canned_removed') state.canned = state.canned.filter((c) => c.id !== d.id);
  else state.canned = [...state.canned.filter((c) => c.id !== d.id), d].sort((a, b) => a.shortcut.localeCompare(b.shortcut));
}

function cannedText(c) {
  const lang = entry()?.chat?.lang || 'ar';
  return c.text?.[lang] || null;
}

function closeList() {
  matches = [];
  active = -1;
  $('canned-list').hidden = true;
  $('pane-text').setAttribute('aria-expanded', 'false');
  $('pane-text').removeAttribute('aria-activedescendant');
}

function renderList() {
  const list = $('canned-list');
  list.replaceChildren(...matches.map((c, i) => {
    const text = cannedText(c);
    return el('li', {
      id: `canned-opt-${c.id}`, role: 'option', class: `canned-option${i === active ? ' is-active' : ''}`, testid: 'canned-option',
      attrs: { 'aria-selected': String(i === active), 'data-shortcut': c.shortcut, 'aria-disabled': String(!text) },
      on: { mousedown: (ev) => { ev.preventDefault(); pick(i); } },
    }, el('span', { class: 'canned-shortcut', dir: 'ltr', text: `/${c.shortcut}` }),
    text ? el('span', { class: 'canned-preview', dir: 'auto', text }) : el('span', { class: 'canned-preview hint', i18n: 'agent.cannedNoText' }));
  }));
  list.hidden = !matches.length;
  $('pane-text').setAttribute('aria-expanded', String(!!matches.length));
  if (active >= 0 && matches[active]) $('pane-text').setAttribute('aria-activedescendant', `canned-opt-${matches[active].id}`);
  else $('pane-text').removeAttribute('aria-activedescendant');
}

/** While the box holds only "/word", offer the canned responses whose shortcut starts with it. */
function suggest() {
  const value = $('pane-text').value;
  const m = /^\/([\p{L}\p{N}_-]*)$/u.exec(value);
  if (!m || entry()?.mode === 'note' || !mayReply()) { closeList(); return; }
  const prefix = m[1].toLowerCase();
  matches = state.canned.filter((c) => c.shortcut.startsWith(prefix)).slice(0, 8);
  active = matches.length ? 0 : -1;
  renderList();
}

function pick(i) {
  const c = matches[i];
  const text = c && cannedText(c);
  if (!text) return;
  $('pane-text').value = text;
  closeList();
  $('pane-text').focus();
}

// ---------------------------------------------------------------------------------------------------------
// Sending
// ---------------------------------------------------------------------------------------------------------

async function send(ev) {
  ev?.preventDefault();
  const e = entry();
  const box = $('pane-text');
  const text = box.value.trim();
  showError($('pane-error'), null);
  if (!e || !text) return;
  const note = e.mode === 'note' || !mayReply();
  const id = state.selected;
  box.value = '';
  e.draft = '';
  typingOut.stop();
  closeList();
  try {
    const ack = await state.client.send(note ? 'chat_note' : 'chat_send', { chat: id, text, client_msg_id: uuid() });
    if (ack.message) e.messages.set(ack.message.seq, ack.message);
    if (ack.note) e.notes.set(ack.note.id, ack.note);
    if (state.selected === id) renderPane();
  } catch (err) {
    if (state.selected === id && !box.value) box.value = text;
    showError($('pane-error'), err);
  }
  box.focus();
}

export function wireComposer() {
  const box = $('pane-text');
  typingOut = typingSender((typing) => {
    const e = entry();
    if (!e || e.mode === 'note' || !mayReply() || state.conn !== 'open') return;
    state.client.send('chat_typing', { chat: state.selected, typing }).catch(() => {});
  });
  $('pane-composer').addEventListener('submit', send);
  $('mode-reply').addEventListener('click', () => setMode('reply'));
  $('mode-note').addEventListener('click', () => setMode('note'));
  box.addEventListener('input', () => {
    const e = entry();
    if (e) e.draft = box.value;
    suggest();
    if (box.value.trim() && !box.value.startsWith('/')) typingOut.input(); else typingOut.stop();
    box.style.height = 'auto';
    box.style.height = `${Math.min(box.scrollHeight + 2, 200)}px`;
  });
  box.addEventListener('blur', () => { typingOut.stop(); setTimeout(closeList, 100); });
  box.addEventListener('keydown', (ev) => {
    if (ev.altKey && (ev.key === 'n' || ev.key === 'N' || ev.code === 'KeyN')) {
      ev.preventDefault();
      setMode(entry()?.mode === 'note' ? 'reply' : 'note');
      return;
    }
    if (matches.length) {
      if (ev.key === 'ArrowDown' || ev.key === 'ArrowUp') {
        ev.preventDefault();
        active = (active + (ev.key === 'ArrowDown' ? 1 : -1) + matches.length) % matches.length;
        renderList();
        return;
      }
      if ((ev.key === 'Enter' || ev.key === 'Tab') && active >= 0 && cannedText(matches[active])) {
        ev.preventDefault();
        pick(active);
        return;
      }
      if (ev.key === 'Escape') { ev.preventDefault(); closeList(); return; }
    }
    if (ev.key === 'Enter' && !ev.shiftKey && !ev.isComposing) send(ev);
  });
}
