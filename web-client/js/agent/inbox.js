// The offline inbox: messages citizens left while nobody could chat; answer one (recorded as sent to the
// contact the citizen left) or close it. Live through the desk's `offline` events.
import { t, el, api, setText, setTextIsolated, isolated, showError, userText, formatTime, charCount } from '../common.js';
import { confirmDialog, toast, placeNodes } from '../ui.js';
import { state, $ } from './state.js';
import { isolate } from '../chat/messages.js';

const PAGE = 50;
const ANSWER_MAX = 4000; // docs/protocol.md §10.9

const inbox = { status: 'open', items: new Map(), more: false, loaded: false };
const nodes = new Map();

export async function loadInbox(append = false) {
  showError($('inbox-error'), null);
  const before = append ? Math.min(...inbox.items.keys()) : null;
  const q = new URLSearchParams({ status: inbox.status, limit: String(PAGE) });
  if (before && Number.isFinite(before)) q.set('before', String(before));
  try {
    const res = await api('GET', `/api/chat/offline?${q}`, { token: state.token });
    if (!append) inbox.items = new Map();
    for (const m of res.messages || []) inbox.items.set(m.id, m);
    inbox.more = (res.messages || []).length === PAGE;
    inbox.loaded = true;
  } catch (err) {
    showError($('inbox-error'), err);
  }
  renderInbox();
}

/** A desk `offline` event: a message was left, answered or closed (from any console). */
export function onOffline(m) {
  const had = inbox.items.get(m.id);
  if (!had && m.status === 'open') state.offlineOpen += 1;
  else if (had?.status === 'open' && m.status !== 'open') state.offlineOpen = Math.max(0, state.offlineOpen - 1);
  if (m.status === inbox.status) inbox.items.set(m.id, m);
  else inbox.items.delete(m.id);
  renderInbox();
}

export function renderInboxCount() {
  $('inbox-count').textContent = String(state.offlineOpen);
}

function item(m) {
  let li = nodes.get(m.id);
  const focusedId = li?.contains(document.activeElement) ? document.activeElement.dataset.testid : null;
  const typing = li?.querySelector('textarea');
  if (typing && document.activeElement === typing && li.dataset.status === m.status) return li; // keep an answer being written
  li = li || el('li', { class: 'entry inbox-item', testid: 'inbox-item' });
  nodes.set(m.id, li);
  li.dataset.id = m.id;
  li.dataset.status = m.status;
  const who = el('p', { class: 'entry-meta' },
    el('span', { class: 'badge info', text: t(`chat.cat.${m.category}`) }),
    el('span', { text: t(`chat.langName.${m.lang}`), lang: m.lang }),
    isolated(m.name || t('agent.citizen'), { class: 'author' }),
    isolated(m.contact, { testid: 'inbox-contact' }),
    el('time', { text: formatTime(m.created_at) }));
  const body = el('div', { class: 'entry-body' }, who, userText('p', m.text, { class: 'entry-text', testid: 'inbox-text' }));
  if (m.answer) {
    body.append(el('div', { class: 'answer' },
      setTextIsolated(el('span', { class: 'label' }), 'agent.answeredBy', { name: m.answer.by?.name || '', to: m.answer.sent_to || '' }),
      userText('p', m.answer.text, { class: 'answer-text', lang: m.lang })));
  }
  if (m.status !== 'closed') {
    const actions = el('div', { class: 'entry-actions' });
    if (m.status === 'open') actions.append(el('button', { type: 'button', class: 'small primary', testid: 'inbox-answer', i18n: 'agent.answer', on: { click: () => openAnswer(li, m) } }));
    actions.append(el('button', { type: 'button', class: 'small', testid: 'inbox-close', i18n: 'agent.closeMessage', on: { click: () => closeMessage(m) } }));
    body.append(actions);
  }
  li.replaceChildren(body);
  if (focusedId) li.querySelector(`[data-testid="${focusedId}"]`)?.focus();
  return li;
}

function openAnswer(li, m) {
  if (li.querySelector('form')) { li.querySelector('textarea').focus(); return; }
  const id = `answer-${m.id}`;
  const error = el('p', { class: 'error', attrs: { role: 'alert' }, hidden: true });
  const area = el('textarea', { id, dir: 'auto', rows: 4, testid: 'inbox-answer-text', lang: m.lang });
  const form = el('form', { class: 'inline-form', novalidate: true },
    setTextIsolated(el('label', { htmlFor: id }), 'agent.answerTo', { to: m.contact }), area, error,
    el('div', { class: 'row' },
      el('button', { type: 'submit', class: 'primary small', testid: 'inbox-send', i18n: 'agent.sendAnswer' }),
      el('button', { type: 'button', class: 'small', i18n: 'cancel', on: { click: () => { form.remove(); li.querySelector('[data-testid=inbox-answer]')?.focus(); } } })));
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const text = area.value.trim();
    if (!text || charCount(text) > ANSWER_MAX) { setText(error, text ? 'agent.answerTooLong' : 'agent.answerEmpty'); error.hidden = false; area.focus(); return; }
    try {
      const updated = await api('POST', `/api/chat/offline/${m.id}/answer`, { token: state.token, body: { text } });
      toast('agent.answerSent', { to: isolate(updated.answer?.sent_to || m.contact) });
      onOffline(updated);
      $('inbox').querySelector('[data-testid=inbox-item] button')?.focus();
    } catch (err) {
      showError(error, err);
    }
  });
  li.querySelector('.entry-body').append(form);
  area.focus();
}

async function closeMessage(m) {
  const ok = await confirmDialog({ title: 'agent.closeMessageTitle', body: 'agent.closeMessageBody', confirm: 'agent.closeMessage' });
  if (!ok) return;
  try {
    onOffline(await api('POST', `/api/chat/offline/${m.id}/close`, { token: state.token }));
  } catch (err) {
    showError($('inbox-error'), err);
  }
}

function renderInbox() {
  const list = [...inbox.items.values()].sort((a, b) => b.id - a.id);
  for (const id of [...nodes.keys()]) if (!inbox.items.has(id)) nodes.delete(id);
  placeNodes($('inbox'), list.map(item));
  $('inbox-empty').hidden = !inbox.loaded || list.length > 0;
  $('inbox-more').hidden = !inbox.more;
  renderInboxCount();
}

export function wireInbox() {
  for (const b of $('inbox-filter').querySelectorAll('button')) {
    b.addEventListener('click', () => {
      inbox.status = b.dataset.status;
      for (const o of $('inbox-filter').querySelectorAll('button')) o.setAttribute('aria-pressed', String(o === b));
      loadInbox();
    });
  }
  $('inbox-more').addEventListener('click', () => loadInbox(true));
}
