// The broadcasts: the list, creating one, the open broadcast's bar (go live, pause, end with confirmation,
// archive, share) and its live statistics.
import { t, api, el, userText, clear, setText, setCount, setLocalized, formatTime, showError, download } from '../common.js';
import { confirmDialog, menuButton, toast } from '../ui.js';
import { state, hooks, $, modRoom } from './state.js';
import { resetQuestions } from './questions.js';

const STATS_EVERY_MS = 5000;
const STAT_FIELDS = [
  ['current', (s) => s.current_participants], ['peak', (s) => s.peak_participants],
  ['unique', (s) => s.unique_participants], ['asked', (s) => s.questions?.asked],
  ['pending', (s) => s.questions?.pending], ['approved', (s) => s.questions?.approved],
  ['answered', (s) => s.questions?.answered], ['hidden', (s) => s.questions?.hidden],
  ['merged', (s) => s.questions?.merged], ['withdrawn', (s) => s.questions?.withdrawn],
  ['votes', (s) => s.votes],
];

let statsTimer = 0;

// ---------------------------------------------------------------------------------------------------------
// The list
// ---------------------------------------------------------------------------------------------------------

export async function loadBroadcasts() {
  try {
    const res = await api('GET', '/api/broadcasts?all=true', { token: state.token });
    state.broadcasts = res.broadcasts || [];
    showError($('bc-list-error'), null);
  } catch (err) {
    showError($('bc-list-error'), err);
  }
  renderBroadcastList();
}

export function upsertBroadcast(b) {
  const i = state.broadcasts.findIndex((x) => x.id === b.id);
  if (i >= 0) state.broadcasts[i] = b; else state.broadcasts.unshift(b);
  if (b.id === state.openId) state.broadcast = b;
}

const STATE_BADGE = { live: 'live', scheduled: 'info', ended: '', archived: '' };

export function renderBroadcastList() {
  const list = $('bc-list');
  const focusedId = list.contains(document.activeElement)
    ? document.activeElement.closest('[data-testid="bc-item"]')?.dataset.id : null;
  clear(list);
  // Live first, then upcoming, then the rest; newest first within each.
  const rank = { live: 0, scheduled: 1, ended: 2, archived: 3 };
  const sorted = [...state.broadcasts].sort((a, b) => rank[a.state] - rank[b.state] || b.id - a.id);
  for (const b of sorted) list.append(broadcastItem(b));
  $('bc-list-empty').hidden = state.broadcasts.length > 0;
  if (focusedId) list.querySelector(`[data-testid="bc-item"][data-id="${focusedId}"] button`)?.focus();
}

function broadcastItem(b) {
  const title = el('strong');
  setLocalized(title, b.title);
  const isOpen = b.id === state.openId;
  const li = el('li', { class: 'bc-item', testid: 'bc-item' },
    el('div', { class: 'row spread' },
      el('div', { class: 'grow' }, title,
        el('div', { class: 'row hint' },
          el('span', { class: `badge ${STATE_BADGE[b.state] ?? ''}`, i18n: `state.${b.state}` }),
          el('span', { class: 'mono', text: b.code }),
          el('span', { text: formatTime(b.starts_at) }))),
      el('button', { type: 'button', class: `small ${isOpen ? 'quiet' : ''}`, testid: 'bc-open',
        i18n: isOpen ? 'mod.bcIsOpen' : 'mod.bcOpen', disabled: isOpen, on: { click: () => openBroadcast(b.id, { focus: true }) },
        attrs: { 'aria-describedby': `bc-title-${b.id}` } })));
  title.id = `bc-title-${b.id}`;
  li.dataset.id = String(b.id);
  li.dataset.state = b.state;
  li.dataset.code = b.code;
  if (isOpen) li.setAttribute('aria-current', 'true');
  return li;
}

// ---------------------------------------------------------------------------------------------------------
// Creating
// ---------------------------------------------------------------------------------------------------------

/** datetime-local gives local wall time without a zone; Date parses it as local time, which is what was meant. */
function localInputToMs(value) {
  if (!value) return null;
  const ms = new Date(value).getTime();
  return Number.isFinite(ms) ? ms : null;
}

export function openCreate() {
  showError($('create-error'), null);
  $('create-dialog').showModal();
  $('new-title-ar').focus();
}

export async function createBroadcast(ev) {
  ev.preventDefault();
  const v = (id) => $(id).value.trim();
  showError($('create-error'), null);
  const title = {};
  if (v('new-title-en')) title.en = v('new-title-en');
  if (v('new-title-ar')) title.ar = v('new-title-ar');
  if (!title.en && !title.ar) {
    $('create-error').hidden = false;
    setText($('create-error'), 'mod.needTitle');
    $('new-title-ar').focus();
    return;
  }
  const body = { title, premoderation: $('new-premod').checked, allow_anonymous: $('new-anon').checked };
  const description = {};
  if (v('new-desc-en')) description.en = v('new-desc-en');
  if (v('new-desc-ar')) description.ar = v('new-desc-ar');
  if (description.en || description.ar) body.description = description;
  const startsAt = localInputToMs($('new-start').value);
  if (startsAt !== null) body.starts_at = startsAt;
  const maxLen = parseInt($('new-maxlen').value, 10);
  if (Number.isFinite(maxLen)) body.max_question_len = maxLen;
  const btn = ev.submitter || document.querySelector('[data-testid="create-broadcast"]');
  btn.setAttribute('aria-busy', 'true');
  try {
    const b = await api('POST', '/api/broadcasts', { token: state.token, body });
    upsertBroadcast(b);
    $('create-form').reset();
    $('create-dialog').close();
    toast('mod.created', { code: b.code });
    await openBroadcast(b.id, { focus: true });
  } catch (err) {
    showError($('create-error'), err);
  } finally {
    btn.setAttribute('aria-busy', 'false');
  }
}

// ---------------------------------------------------------------------------------------------------------
// The open broadcast
// ---------------------------------------------------------------------------------------------------------

export async function openBroadcast(id, { focus = false } = {}) {
  if (id === state.openId) return;
  if (state.openId) state.client.leave(modRoom(state.openId));
  Object.assign(state, { openId: id, questions: new Map(), pinned: null, muted: new Set(), stats: null, statsAt: 0,
    participants: 0, questionsLoaded: false, bulk: null });
  state.broadcast = state.broadcasts.find((b) => b.id === id) || null;
  resetQuestions();
  history.replaceState(null, '', `${location.pathname}?b=${id}`);
  if (!state.broadcast) {
    try { state.broadcast = await api('GET', `/api/broadcasts/${id}`); } catch (err) { showError($('mq-error'), err); return; }
  }
  showError($('mq-error'), null);
  clear($('bulk-status'));
  $('open-none').hidden = true;
  $('open-bc').hidden = false;
  $('stats').hidden = false;
  renderBroadcastList();
  renderOpenHeader();
  hooks.renderQuestions();
  renderStats();
  state.client.join(modRoom(id));
  clearInterval(statsTimer);
  loadStats();
  statsTimer = setInterval(loadStats, STATS_EVERY_MS);
  // The queue is what a moderator came for: start there.
  if (focus) $('queue-heading').focus();
}

export function joinUrl(b) {
  return `${location.origin}/b/${encodeURIComponent(b.code)}`;
}

export function renderOpenHeader() {
  const b = state.broadcast;
  if (!b) return;
  setLocalized($('open-title'), b.title);
  const badge = $('open-state');
  badge.className = `badge ${STATE_BADGE[b.state] ?? ''}`;
  badge.dataset.state = b.state;
  setText(badge, `state.${b.state}`);
  $('open-code').textContent = b.code;
  setCount($('open-participants'), 'bc.participants', state.participants);
  $('open-participants').hidden = b.state !== 'live';
  const open = b.state === 'scheduled' || b.state === 'live';
  $('go-live').hidden = b.state !== 'scheduled';
  $('end').hidden = !open;
  $('end').className = b.state === 'live' ? '' : 'quiet';
  $('archive').hidden = b.state !== 'ended';
  const pause = $('pause');
  pause.hidden = !open || !state.pauseSupported;
  pause.setAttribute('aria-pressed', String(!!b.paused));
  setText(pause, b.paused ? 'mod.resume' : 'mod.pause');
  $('open-paused').hidden = !(b.paused && open);
  const pinned = state.questions.get(state.pinned);
  $('mod-pinned').hidden = !pinned;
  $('mod-pinned-text').textContent = pinned ? pinned.text : '';
  $('mod-pinned-answered').hidden = !pinned || pinned.status !== 'approved';
  document.title = `${$('open-title').textContent} — ${t('mod.title')}`;
}

async function patchBroadcast(body) {
  const b = state.broadcast;
  showError($('session-error'), null);
  const updated = await api('PATCH', `/api/broadcasts/${b.id}`, { token: state.token, body });
  upsertBroadcast(updated);
  renderBroadcastList();
  renderOpenHeader();
  hooks.renderQuestions();
  return updated;
}

async function setState(to) {
  try {
    await patchBroadcast({ state: to });
    toast(`mod.toast.${to}`);
  } catch (err) {
    showError($('session-error'), err);
  }
}

export async function goLive() {
  await setState('live');
  $('end').focus(); // Go live is gone; the next step of the lifecycle has the focus
}

export async function endBroadcast() {
  const ok = await confirmDialog({
    title: 'mod.endTitle', body: ['mod.endBody', 'mod.endUndo'], confirm: 'mod.endConfirm', danger: true, testid: 'end-dialog',
  });
  if (!ok) return;
  await setState('ended');
  $('open-title').setAttribute('tabindex', '-1');
  $('open-title').focus();
}

export async function archiveBroadcast() {
  const ok = await confirmDialog({ title: 'mod.archiveTitle', body: 'mod.archiveBody', confirm: 'mod.bcArchive', testid: 'archive-dialog' });
  if (!ok) return;
  await setState('archived');
  $('open-title').setAttribute('tabindex', '-1');
  $('open-title').focus();
}

export async function togglePause() {
  const paused = !state.broadcast?.paused;
  try {
    await patchBroadcast({ paused });
    toast(paused ? 'mod.toast.paused' : 'mod.toast.resumed');
  } catch (err) {
    // A server without pausing refuses the unknown field: stop offering it.
    if (err.code === 'bad_request') { state.pauseSupported = false; renderOpenHeader(); }
    showError($('session-error'), err);
  }
}

/** The share menu: presenter view, the citizens' link, the statistics as CSV. */
export function renderShareMenu() {
  const slot = $('share-menu');
  clear(slot);
  const menu = menuButton({
    key: 'mod.share', testid: 'share',
    items: [
      { testid: 'presenter-link', key: 'mod.presenterLink', run: () => window.open(`presenter.html?code=${encodeURIComponent(state.broadcast.code)}`, '_blank', 'noopener') },
      { testid: 'copy-join-link', key: 'mod.copy', run: copyJoinLink },
      { testid: 'stats-csv-menu', key: 'mod.statsCsv', run: downloadCsv },
    ],
  });
  slot.append(menu.wrap);
}

async function copyJoinLink() {
  const b = state.broadcast;
  if (!b) return;
  try {
    await navigator.clipboard.writeText(joinUrl(b));
    toast('mod.copied', { url: joinUrl(b) });
  } catch {
    // Clipboard needs a secure context: show the link so it can be copied by hand.
    toast('mod.copyByHand', { url: joinUrl(b) });
  }
}

// ---------------------------------------------------------------------------------------------------------
// Statistics
// ---------------------------------------------------------------------------------------------------------

export async function loadStats() {
  const id = state.openId;
  if (!id || document.hidden) return;
  try {
    const stats = await api('GET', `/api/broadcasts/${id}/stats`, { token: state.token });
    if (id !== state.openId) return;
    state.stats = stats;
    state.statsAt = Date.now();
    showError($('stats-error'), null);
    renderStats();
  } catch (err) {
    showError($('stats-error'), err);
  }
}

export function renderStats() {
  const s = state.stats;
  const grid = $('stats-grid');
  clear(grid);
  for (const [key, get] of STAT_FIELDS) {
    const value = s ? get(s) : null;
    grid.append(el('div', { class: 'stat', attrs: { 'data-stat': key } },
      el('dt', { i18n: `stats.${key}` }),
      el('dd', { testid: `stat-${key}`, text: value === null || value === undefined ? '—' : String(value) })));
  }
  const top = $('stats-top');
  clear(top);
  for (const q of s?.top_questions || []) {
    top.append(el('li', {}, userText('bdi', q.text), ' ', el('span', { class: 'hint', i18n: 'mod.votesN', args: { n: q.votes } })));
  }
  if (!s?.top_questions?.length) top.append(el('li', { class: 'hint', i18n: 'stats.noneYet' }));
  const tags = $('stats-tags');
  clear(tags);
  const byTag = Object.entries(s?.by_tag || {}).sort((a, b) => b[1] - a[1]);
  for (const [tag, n] of byTag) tags.append(el('li', {}, userText('bdi', tag), `: ${n}`));
  if (!byTag.length) tags.append(el('li', { class: 'hint', i18n: 'stats.noneYet' }));
  if (state.statsAt) setText($('stats-updated'), 'stats.updated', { time: formatTime(state.statsAt) });
}

/** The CSV needs the Bearer token, so a plain link cannot fetch it: fetch, then save the blob. */
export async function downloadCsv() {
  const b = state.broadcast;
  if (!b) return;
  try {
    await download(`/api/broadcasts/${b.id}/stats.csv`, `majlis-${b.code}-stats.csv`, state.token);
  } catch (err) {
    showError($('stats-error'), err);
  }
}
