// For admins: canned responses (create, edit, delete), business hours (weekly spans, time zone, holidays) and
// each agent's cap on concurrent chats.
import { t, el, api, setText, showError, userText, isolated } from '../common.js';
import { confirmDialog, toast } from '../ui.js';
import { state, $ } from './state.js';

// ---------------------------------------------------------------------------------------------------------
// Canned responses
// ---------------------------------------------------------------------------------------------------------

let editing = null; // the Canned being edited, or null for a new one

export function renderCannedAdmin() {
  const items = state.canned.map((c) => el('li', { class: 'entry', testid: 'canned-item', attrs: { 'data-id': c.id } },
    el('div', { class: 'entry-body' },
      el('p', { class: 'entry-text' }, el('span', { class: 'mono', dir: 'ltr', text: `/${c.shortcut}` })),
      c.text?.ar ? userText('p', c.text.ar, { class: 'hint', lang: 'ar' }) : null,
      c.text?.en ? userText('p', c.text.en, { class: 'hint', lang: 'en' }) : null,
      el('div', { class: 'entry-actions' },
        el('button', { type: 'button', class: 'small', testid: 'canned-edit', i18n: 'edit', on: { click: () => openForm(c) } }),
        el('button', { type: 'button', class: 'small quiet', testid: 'canned-delete', i18n: 'agent.delete', on: { click: () => remove(c) } })))));
  $('canned-admin').replaceChildren(...items);
  $('canned-empty').hidden = items.length > 0;
}

function openForm(c = null) {
  editing = c;
  $('canned-form').hidden = false;
  $('canned-shortcut').value = c?.shortcut || '';
  $('canned-ar').value = c?.text?.ar || '';
  $('canned-en').value = c?.text?.en || '';
  showError($('canned-error'), null);
  $('canned-shortcut').focus();
}

async function save(ev) {
  ev.preventDefault();
  const shortcut = $('canned-shortcut').value.trim().replace(/^\//, '');
  const text = {};
  if ($('canned-ar').value.trim()) text.ar = $('canned-ar').value.trim();
  if ($('canned-en').value.trim()) text.en = $('canned-en').value.trim();
  const error = $('canned-error');
  if (!shortcut || (!text.ar && !text.en)) { setText(error, 'agent.cannedNeed'); error.hidden = false; return; }
  try {
    const saved = editing
      ? await api('PUT', `/api/chat/canned/${editing.id}`, { token: state.token, body: { shortcut, text } })
      : await api('POST', '/api/chat/canned', { token: state.token, body: { shortcut, text } });
    state.canned = [...state.canned.filter((c) => c.id !== saved.id), saved].sort((a, b) => a.shortcut.localeCompare(b.shortcut));
    $('canned-form').hidden = true;
    renderCannedAdmin();
    toast('agent.saved');
    $('canned-new').focus();
  } catch (err) {
    showError(error, err);
  }
}

async function remove(c) {
  const ok = await confirmDialog({ title: 'agent.deleteCannedTitle', body: 'agent.deleteCannedBody', confirm: 'agent.delete', danger: true });
  if (!ok) return;
  try {
    await api('DELETE', `/api/chat/canned/${c.id}`, { token: state.token });
    state.canned = state.canned.filter((x) => x.id !== c.id);
    renderCannedAdmin();
    $('canned-new').focus();
  } catch (err) {
    showError($('canned-error'), err);
    $('canned-form').hidden = false;
  }
}

// ---------------------------------------------------------------------------------------------------------
// Business hours
// ---------------------------------------------------------------------------------------------------------

const DAYS = ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'];

function buildDays() {
  const box = $('hours-days');
  if (box.childElementCount) return;
  for (const day of DAYS) {
    box.append(el('div', { class: 'field' },
      el('label', { htmlFor: `hours-${day}`, i18n: `agent.day.${day}` }),
      el('input', { id: `hours-${day}`, type: 'text', dir: 'ltr', testid: `hours-${day}`, autocomplete: 'off', attrs: { 'aria-describedby': 'hours-help' } })));
  }
}

export async function loadHours() {
  buildDays();
  try {
    const s = await api('GET', '/api/chat/hours');
    $('hours-zone').value = s.time_zone || '';
    for (const day of DAYS) $(`hours-${day}`).value = (s.week?.[day] || []).map((span) => `${span.open}-${span.close}`).join(', ');
    $('hours-holidays').value = (s.holidays || []).join('\n');
  } catch (err) {
    showError($('hours-error'), err);
  }
}

function parseSpans(text) {
  const spans = [];
  for (const part of text.split(',').map((p) => p.trim()).filter(Boolean)) {
    const m = /^(\d{1,2}:\d{2})\s*[-–]\s*(\d{1,2}:\d{2})$/.exec(part);
    if (!m) return null;
    const pad = (v) => v.padStart(5, '0');
    spans.push({ open: pad(m[1]), close: pad(m[2]) });
  }
  return spans;
}

async function saveHours(ev) {
  ev.preventDefault();
  const error = $('hours-error');
  showError(error, null);
  const week = {};
  for (const day of DAYS) {
    const spans = parseSpans($(`hours-${day}`).value);
    if (!spans) { setText(error, 'agent.hoursBad', { day: t(`agent.day.${day}`) }); error.hidden = false; $(`hours-${day}`).focus(); return; }
    week[day] = spans;
  }
  const holidays = $('hours-holidays').value.split(/\s+/).map((d) => d.trim()).filter(Boolean);
  try {
    await api('PUT', '/api/chat/hours', { token: state.token, body: { time_zone: $('hours-zone').value.trim(), week, holidays } });
    await loadHours();
    toast('agent.saved');
  } catch (err) {
    // The server says which part is wrong (in English); show it beside our sentence.
    showError(error, err);
    if (err.code === 'bad_request' && err.message) error.append(' ', el('bdi', { lang: 'en', text: err.message }));
  }
}

// ---------------------------------------------------------------------------------------------------------
// Agents' caps
// ---------------------------------------------------------------------------------------------------------

export function renderAgents() {
  const list = $('agents-list');
  if (list.contains(document.activeElement) && document.activeElement.tagName === 'INPUT') return; // an edit in progress
  const agents = [...state.agents.values()].sort((a, b) => a.name.localeCompare(b.name));
  list.replaceChildren(...agents.map((a) => {
    const id = `cap-${a.sub}`;
    const input = el('input', { id, type: 'number', min: 1, max: 20, step: 1, dir: 'ltr', class: 'cap-input', testid: 'cap-input', value: a.max_chats ?? '', placeholder: String(a.cap) });
    const save = el('button', { type: 'button', class: 'small', testid: 'cap-save', i18n: 'save', on: { click: () => saveCap(a, input) } });
    return el('li', { class: 'entry', testid: 'agent-item', attrs: { 'data-sub': a.sub } },
      el('div', { class: 'entry-body' },
        el('p', { class: 'entry-text' }, isolated(a.name)),
        el('p', { class: 'entry-meta' },
          el('span', { class: `badge ${a.availability === 'available' ? 'ok' : a.availability === 'away' ? 'warn' : ''}`, i18n: `agent.avail.${a.availability}` }),
          a.connected === false ? el('span', { class: 'badge danger', i18n: 'agent.disconnected' }) : null,
          el('span', { text: (a.languages || []).map((l) => t(`chat.langName.${l}`)).join(' · ') }),
          el('span', { text: t('agent.loadShort', { n: a.load, cap: a.cap }) }))),
      el('div', { class: 'row cap-row' }, el('label', { htmlFor: id, class: 'hint', i18n: 'agent.cap' }), input, save));
  }));
  $('agents-empty').hidden = agents.length > 0;
}

async function saveCap(a, input) {
  showError($('agents-error'), null);
  const raw = input.value.trim();
  const max = raw === '' ? null : Number(raw);
  try {
    const agent = await api('PUT', `/api/chat/agents/${encodeURIComponent(a.sub)}`, { token: state.token, body: { max_chats: max } });
    state.agents.set(agent.sub, agent);
    input.blur();
    renderAgents();
    toast('agent.saved');
  } catch (err) {
    showError($('agents-error'), err);
  }
}

export function wireAdmin() {
  $('canned-new').addEventListener('click', () => openForm(null));
  $('canned-cancel').addEventListener('click', () => { $('canned-form').hidden = true; $('canned-new').focus(); });
  $('canned-form').addEventListener('submit', save);
  $('hours-form').addEventListener('submit', saveHours);
}
