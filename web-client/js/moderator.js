// Moderator console: create and run broadcasts, moderate questions live, watch statistics.
import {
  initPage, onLangChange, getLang, t, api, el, userText, clear, setText, clearText, setLocalized, localized, formatTime,
  announce, showError, MajlisClient, MajlisError, bindConnStatus,
} from './common.js';

const TOKEN_KEY = 'majlis.staffToken';
const STAFF_ROLES = new Set(['moderator', 'admin']);
const STATS_EVERY_MS = 5000;
const STATUS_ORDER = { approved: 0, answered: 1, hidden: 2, merged: 3, withdrawn: 4, pending: 5 };
const STAT_FIELDS = [
  ['unique', (s) => s.unique_participants], ['peak', (s) => s.peak_participants],
  ['current', (s) => s.current_participants], ['asked', (s) => s.questions?.asked],
  ['pending', (s) => s.questions?.pending], ['approved', (s) => s.questions?.approved],
  ['answered', (s) => s.questions?.answered], ['hidden', (s) => s.questions?.hidden],
  ['merged', (s) => s.questions?.merged], ['withdrawn', (s) => s.questions?.withdrawn],
  ['votes', (s) => s.votes],
];

const $ = (id) => document.getElementById(id);

const state = {
  token: null,
  user: null,
  broadcasts: [],
  openId: null,
  broadcast: null, // the open broadcast (kept current by room events)
  questions: new Map(),
  pinned: null,
  muted: new Set(),
  filter: 'all',
  stats: null,
};

let client = null;
let statsTimer = 0;
const nodes = new Map(); // question id → <li data-testid="mod-question">

// ---------------------------------------------------------------------------------------------------------
// Sign-in
// ---------------------------------------------------------------------------------------------------------

/** The server prints `/moderator.html#token=…`; keep the token for this tab only, and out of the address bar. */
function takeTokenFromUrl() {
  const fromHash = new URLSearchParams(location.hash.slice(1)).get('token');
  if (fromHash) {
    sessionStorage.setItem(TOKEN_KEY, fromHash);
    history.replaceState(null, '', location.pathname + location.search);
  }
  return sessionStorage.getItem(TOKEN_KEY);
}

async function signIn(token) {
  showError($('signin-error'), null);
  let user;
  try {
    user = await api('GET', '/api/me', { token });
  } catch (err) {
    return showSignIn(err.code === 'unauthorized' ? 'mod.tokenInvalid' : null, err);
  }
  if (!STAFF_ROLES.has(user.role)) return showSignIn('mod.notStaff');
  sessionStorage.setItem(TOKEN_KEY, token);
  state.token = token;
  state.user = user;
  $('signin').hidden = true;
  $('console').hidden = false;
  $('sign-out').hidden = false;
  $('whoami').hidden = false;
  renderWhoami();
  startClient();
  await loadBroadcasts();
  const wanted = Number(new URLSearchParams(location.search).get('b'));
  if (wanted) openBroadcast(wanted);
  return undefined;
}

function renderWhoami() {
  // Re-run on language change: the translated role is an argument, not a key of its own.
  if (state.user) setText($('whoami'), 'mod.signedIn', { name: state.user.name, role: t(`role.${state.user.role}`) });
}

function showSignIn(key, err) {
  $('signin').hidden = false;
  $('console').hidden = true;
  const node = $('signin-error');
  if (key) { node.hidden = false; setText(node, key); } else showError(node, err || null);
  $('token-input').focus();
}

function signOut() {
  sessionStorage.removeItem(TOKEN_KEY);
  client?.close();
  location.href = location.pathname;
}

function startClient() {
  client = new MajlisClient({
    // Staff tokens cannot be refreshed from the page; a rejected token means signing in again.
    getToken: async (force) => {
      if (force) throw new MajlisError('unauthorized', 'token rejected');
      return state.token;
    },
  });
  bindConnStatus(document.querySelector('[data-testid="conn-status"]'), client);
  client.on('snapshot', onSnapshot);
  client.on('event', onEvent);
  client.on('join_error', ({ error }) => showError($('mq-error'), error));
  client.on('auth_failed', () => showSignIn('mod.tokenInvalid'));
  window.majlis.client = client;
  client.connect();
}

// ---------------------------------------------------------------------------------------------------------
// Broadcast list and creation
// ---------------------------------------------------------------------------------------------------------

async function loadBroadcasts() {
  try {
    const res = await api('GET', '/api/broadcasts?all=true', { token: state.token });
    state.broadcasts = res.broadcasts || [];
    showError($('bc-list-error'), null);
  } catch (err) {
    showError($('bc-list-error'), err);
  }
  renderBroadcastList();
}

function upsertBroadcast(b) {
  const i = state.broadcasts.findIndex((x) => x.id === b.id);
  if (i >= 0) state.broadcasts[i] = b; else state.broadcasts.unshift(b);
  if (b.id === state.openId) state.broadcast = b;
}

function renderBroadcastList() {
  const list = $('bc-list');
  const focusedTestid = list.contains(document.activeElement) ? document.activeElement.dataset.testid : null;
  const focusedId = document.activeElement?.closest?.('[data-testid="bc-item"]')?.dataset.id;
  clear(list);
  for (const b of state.broadcasts) list.append(broadcastItem(b));
  $('bc-list-empty').hidden = state.broadcasts.length > 0;
  // The list is rebuilt after every state change; put keyboard focus back where it was.
  if (focusedTestid && focusedId) {
    list.querySelector(`[data-testid="bc-item"][data-id="${focusedId}"] [data-testid="${focusedTestid}"]`)?.focus();
  }
}

function broadcastItem(b) {
  const title = el('strong');
  setLocalized(title, b.title);
  const act = (testid, key, enabled, fn) => el('button', {
    type: 'button', class: 'small', testid, i18n: key, disabled: !enabled, on: { click: fn },
  });
  const err = el('p', { class: 'error', role: 'alert', hidden: true });
  const patch = (to) => () => patchState(b, to, err);
  const li = el('li', { class: `bc-item ${b.id === state.openId ? 'is-open' : ''}`, testid: 'bc-item' },
    title,
    el('div', { class: 'row hint' },
      el('span', { class: `badge ${b.state === 'live' ? 'live' : ''}`, i18n: `state.${b.state}` }),
      el('span', { i18n: 'code', args: { code: b.code } }),
      el('span', { text: formatTime(b.starts_at) })),
    el('div', { class: 'row actions' },
      act('bc-open', 'mod.bcOpen', true, () => openBroadcast(b.id)),
      act('bc-live', 'mod.bcLive', b.state === 'scheduled', patch('live')),
      act('bc-end', 'mod.bcEnd', b.state === 'scheduled' || b.state === 'live', patch('ended')),
      act('bc-archive', 'mod.bcArchive', b.state === 'ended', patch('archived'))),
    err);
  li.dataset.id = String(b.id);
  li.dataset.state = b.state;
  li.dataset.code = b.code;
  if (b.id === state.openId) li.setAttribute('aria-current', 'true');
  return li;
}

async function patchState(b, to, errNode) {
  try {
    const updated = await api('PATCH', `/api/broadcasts/${b.id}`, { token: state.token, body: { state: to } });
    upsertBroadcast(updated);
    renderBroadcastList();
    if (updated.id === state.openId) renderOpenHeader();
  } catch (err) {
    showError(errNode, err);
  }
}

/** datetime-local gives local wall time without a zone; Date parses it as local time, which is what was meant. */
function localInputToMs(value) {
  if (!value) return null;
  const ms = new Date(value).getTime();
  return Number.isFinite(ms) ? ms : null;
}

async function createBroadcast(ev) {
  ev.preventDefault();
  const v = (id) => $(id).value.trim();
  showError($('create-error'), null);
  clearText($('create-notice'));
  const title = {};
  if (v('new-title-en')) title.en = v('new-title-en');
  if (v('new-title-ar')) title.ar = v('new-title-ar');
  if (!title.en && !title.ar) {
    $('create-error').hidden = false;
    setText($('create-error'), 'mod.needTitle');
    $('new-title-en').focus();
    return;
  }
  const body = {
    title,
    premoderation: $('new-premod').checked,
    allow_anonymous: $('new-anon').checked,
  };
  const description = {};
  if (v('new-desc-en')) description.en = v('new-desc-en');
  if (v('new-desc-ar')) description.ar = v('new-desc-ar');
  if (description.en || description.ar) body.description = description;
  const startsAt = localInputToMs($('new-start').value);
  if (startsAt !== null) body.starts_at = startsAt;
  const maxLen = parseInt($('new-maxlen').value, 10);
  if (Number.isFinite(maxLen)) body.max_question_len = maxLen;
  const btn = ev.submitter || document.querySelector('[data-testid="create-broadcast"]');
  btn.disabled = true;
  try {
    const b = await api('POST', '/api/broadcasts', { token: state.token, body });
    upsertBroadcast(b);
    renderBroadcastList();
    setText($('create-notice'), 'mod.created', { code: b.code });
    $('create-form').reset();
    openBroadcast(b.id);
  } catch (err) {
    showError($('create-error'), err);
  } finally {
    btn.disabled = false;
  }
}

// ---------------------------------------------------------------------------------------------------------
// The open broadcast
// ---------------------------------------------------------------------------------------------------------

function modRoom(id) {
  return id ? `broadcast:${id}:moderation` : null;
}

async function openBroadcast(id) {
  if (id === state.openId) return;
  if (state.openId) client.leave(modRoom(state.openId));
  state.openId = id;
  state.broadcast = state.broadcasts.find((b) => b.id === id) || null;
  state.questions = new Map();
  state.pinned = null;
  state.muted = new Set();
  state.stats = null;
  nodes.clear();
  clear($('mod-pending'));
  clear($('mod-others'));
  history.replaceState(null, '', `${location.pathname}?b=${id}`);
  if (!state.broadcast) {
    try { state.broadcast = await api('GET', `/api/broadcasts/${id}`); } catch (err) { showError($('mq-error'), err); return; }
  }
  showError($('mq-error'), null);
  $('open-none').hidden = true;
  $('open-bc').hidden = false;
  renderBroadcastList();
  renderOpenHeader();
  renderQuestions();
  renderStats();
  client.join(modRoom(id));
  clearInterval(statsTimer);
  loadStats();
  statsTimer = setInterval(loadStats, STATS_EVERY_MS);
}

function joinUrl(b) {
  return `${location.origin}/b/${encodeURIComponent(b.code)}`;
}

function renderOpenHeader() {
  const b = state.broadcast;
  if (!b) return;
  setLocalized($('open-title'), b.title);
  const badge = $('open-state');
  badge.className = `badge ${b.state === 'live' ? 'live' : ''}`;
  badge.dataset.state = b.state;
  setText(badge, `state.${b.state}`);
  setText($('open-code'), 'code', { code: b.code });
  $('presenter-link').href = `presenter.html?code=${encodeURIComponent(b.code)}`;
  $('join-link').href = joinUrl(b);
  $('join-link').textContent = joinUrl(b);
  const pinned = state.questions.get(state.pinned);
  $('mod-pinned').hidden = !pinned;
  $('mod-pinned-text').textContent = pinned ? pinned.text : '';
}

function onSnapshot(f) {
  if (f.room !== modRoom(state.openId)) return;
  const d = f.data;
  if (d.broadcast) { state.broadcast = d.broadcast; upsertBroadcast(d.broadcast); }
  state.questions = new Map((d.questions || []).map((q) => [q.id, q]));
  state.pinned = d.pinned ?? null;
  state.muted = new Set(d.muted || []);
  renderBroadcastList();
  renderOpenHeader();
  renderQuestions();
}

function onEvent(f) {
  if (f.room !== modRoom(state.openId)) return;
  const d = f.data;
  switch (f.kind) {
    case 'question': {
      const isNew = !state.questions.has(d.id);
      state.questions.set(d.id, d);
      if (isNew && d.status === 'pending') announce(t('bc.announceNew', { text: d.text }));
      break;
    }
    case 'question_removed':
      state.questions.delete(d.id);
      break;
    case 'votes': {
      const q = state.questions.get(d.id);
      if (q) q.votes = d.votes;
      break;
    }
    case 'pinned':
      state.pinned = d.id ?? null;
      if (state.questions.has(state.pinned)) announce(t('bc.announcePinned', { text: state.questions.get(state.pinned).text }));
      break;
    case 'broadcast':
      state.broadcast = d;
      upsertBroadcast(d);
      renderBroadcastList();
      break;
    case 'muted':
      if (d.muted) state.muted.add(d.user); else state.muted.delete(d.user);
      break;
    default:
      return;
  }
  renderOpenHeader();
  renderQuestions();
}

/** Apply a question returned in an ack right away (the matching event may still be on its way). */
function applyAck(res) {
  if (res?.question && typeof res.question === 'object') {
    const prev = state.questions.get(res.question.id) || {};
    state.questions.set(res.question.id, { ...prev, ...res.question });
    renderOpenHeader();
    renderQuestions();
  }
}

// ---------------------------------------------------------------------------------------------------------
// Question list
// ---------------------------------------------------------------------------------------------------------

function matchesFilter(q) {
  if (state.filter === 'all') return true;
  return q.status === state.filter;
}

function renderQuestions() {
  const all = [...state.questions.values()];
  const pending = all.filter((q) => q.status === 'pending').sort((a, b) => a.created_at - b.created_at || a.id - b.id);
  // Grouped by status, oldest first within a group: items never jump because of vote counts (no misclicks).
  const others = all.filter((q) => q.status !== 'pending' && matchesFilter(q))
    .sort((a, b) => (STATUS_ORDER[a.status] ?? 9) - (STATUS_ORDER[b.status] ?? 9)
      || a.created_at - b.created_at || a.id - b.id);
  const focus = rememberFocus();
  const showQueue = state.filter === 'all' || state.filter === 'pending';
  const showOthers = state.filter !== 'pending';
  placeNodes($('mod-pending'), showQueue ? pending.map(updatedNode) : []);
  placeNodes($('mod-others'), showOthers ? others.map(updatedNode) : []);
  const shown = new Set([...(showQueue ? pending : []), ...(showOthers ? others : [])].map((q) => q.id));
  for (const id of [...nodes.keys()]) if (!shown.has(id)) nodes.delete(id);
  $('queue-section').hidden = !showQueue;
  $('others-section').hidden = !showOthers;
  $('queue-empty').hidden = pending.length > 0;
  $('others-empty').hidden = others.length > 0;
  renderFilterTabs(all);
  restoreFocus(focus);
}

function renderFilterTabs(all) {
  const count = (s) => all.filter((q) => q.status === s).length;
  for (const btn of document.querySelectorAll('[data-filter]')) {
    const f = btn.dataset.filter;
    setText(btn, `mod.filter.${f}`, { n: f === 'all' ? all.length : count(f) });
    btn.setAttribute('aria-pressed', String(state.filter === f));
  }
}

function placeNodes(list, wanted) {
  const keep = new Set(wanted);
  for (const child of [...list.children]) if (!keep.has(child)) child.remove();
  wanted.forEach((node, i) => {
    if (list.children[i] !== node) list.insertBefore(node, list.children[i] || null);
  });
}

/** Where keyboard focus is, by question id and testid, so it can be put back after nodes move or rebuild. */
function rememberFocus() {
  const a = document.activeElement;
  const item = a?.closest?.('[data-testid="mod-question"]');
  return item ? { id: item.dataset.id, testid: a.dataset.testid, node: a } : null;
}

function restoreFocus(f) {
  if (!f || (f.node.isConnected && document.activeElement === f.node)) return;
  const item = document.querySelector(`[data-testid="mod-question"][data-id="${f.id}"]`);
  if (!item) return;
  const target = (f.testid && item.querySelector(`[data-testid="${f.testid}"]`)) || item.querySelector('button');
  target?.focus();
}

function updatedNode(q) {
  let li = nodes.get(q.id);
  if (!li) {
    li = el('li', { class: 'mod-question', testid: 'mod-question' },
      el('div', { class: 'info' }),
      el('div', { class: 'actions' }),
      el('div', { class: 'form-slot' }),
      el('p', { class: 'error', role: 'alert', hidden: true }));
    li.dataset.id = String(q.id);
    nodes.set(q.id, li);
  }
  li.dataset.status = q.status;
  li.classList.toggle('is-pinned', state.pinned === q.id);
  fillInfo(li.querySelector('.info'), q);
  const actions = li.querySelector('.actions');
  const sig = actionsSignature(q);
  // Rebuild the buttons only when the available actions change, so focus stays put otherwise.
  if (actions.dataset.sig !== sig) {
    actions.dataset.sig = sig;
    clear(actions);
    actions.append(...actionButtons(li, q));
  }
  return li;
}

function fillInfo(info, q) {
  clear(info);
  const meta = el('div', { class: 'meta' },
    el('span', { text: `#${q.id}` }),
    el('span', { class: `badge ${q.status === 'pending' ? 'warn' : q.status === 'approved' ? 'ok' : ''}`,
      testid: 'mod-status', i18n: `mod.status.${q.status}` }),
    q.held ? el('span', { class: 'badge warn', testid: 'held', i18n: `mod.held.${q.held}` }) : null,
    state.pinned === q.id ? el('span', { class: 'badge live', i18n: 'bc.nowAnswering' }) : null,
    userText('span', q.author?.name || t(q.anonymous || !q.author ? 'anonymous' : 'unnamed'), { class: 'author' }),
    q.author?.sub ? el('span', { dir: 'ltr', text: `(${q.author.sub})` }) : null,
    q.anonymous ? el('span', { i18n: 'mod.anonFlag' }) : null,
    q.author?.sub && state.muted.has(q.author.sub) ? el('span', { class: 'badge warn', i18n: 'mod.mutedFlag' }) : null,
    el('span', { i18n: 'mod.votesN', args: { n: q.votes ?? 0 }, testid: 'mod-votes' }),
    el('span', { text: formatTime(q.created_at) }),
    q.edited ? el('span', { i18n: 'edited' }) : null);
  info.append(meta, userText('p', q.text, { class: 'question-text', testid: 'question-text' }));
  const detail = (testid, key, args) => el('p', { class: 'detail user-text', testid, i18n: key, args, dir: 'auto' });
  if (q.original_text) info.append(detail('original-text', 'mod.original', { text: q.original_text }));
  if (q.matched_keywords?.length) {
    info.append(detail('matched-keywords', 'mod.keywords', { list: q.matched_keywords.join(getLang() === 'ar' ? '، ' : ', ') }));
  }
  if (q.hidden_reason) info.append(detail('hidden-reason', 'mod.hiddenReason', { text: q.hidden_reason }));
  if (q.merged_into) info.append(detail('merged-into', 'mod.mergedInto', { id: q.merged_into }));
  if (q.tags?.length) info.append(detail('tags-shown', 'mod.tagsShown', { list: q.tags.join(', ') }));
  if (q.answer) {
    info.append(q.answer.live || !q.answer.text
      ? el('p', { class: 'answer-box', testid: 'answer-shown', i18n: 'bc.answeredLive' })
      : detail('answer-shown', 'mod.answerShown', { text: q.answer.text }));
  }
}

function actionsSignature(q) {
  return [q.status, state.pinned === q.id, q.author?.sub && state.muted.has(q.author.sub), !!q.author?.sub].join('|');
}

function actionButtons(li, q) {
  const s = q.status;
  const live = s === 'pending' || s === 'approved' || s === 'answered' || s === 'hidden';
  const btn = (testid, key, fn, extra = {}) => el('button', {
    type: 'button', class: 'small', testid, i18n: key, on: { click: fn }, ...extra,
  });
  const out = [];
  if (s === 'pending' || s === 'hidden') out.push(btn('approve', 'mod.approve', () => command(li, 'approve', q)));
  if (s !== 'hidden' && live) out.push(btn('hide', 'mod.hide', () => openForm(li, q, 'hide')));
  if (live && s !== 'hidden') {
    if (state.pinned === q.id) out.push(btn('unpin', 'mod.unpin', () => command(li, 'unpin', q)));
    else out.push(btn('pin', 'mod.pin', () => command(li, 'pin', q)));
  }
  if (s === 'approved' || s === 'answered') {
    out.push(btn('answer', 'mod.answer', () => openForm(li, q, 'answer')));
    out.push(btn('answer-live', 'mod.answerLive', () => command(li, 'answer', q, { live: true })));
  }
  if (s === 'pending' || s === 'approved') out.push(btn('merge', 'mod.merge', () => openForm(li, q, 'merge')));
  if (live) {
    out.push(btn('edit', 'mod.edit', () => openForm(li, q, 'edit')));
    out.push(btn('tags', 'mod.tags', () => openForm(li, q, 'tags')));
  }
  if (q.author?.sub) {
    const muted = state.muted.has(q.author.sub);
    out.push(btn('mute', muted ? 'mod.unmute' : 'mod.mute', () => muteAuthor(li, q, !muted),
      { attrs: { 'aria-pressed': String(muted) } }));
  }
  return out;
}

/** Send a moderation command for `q`; errors show on the question item. */
async function command(li, type, q, extra = {}) {
  const errNode = li.querySelector('.error');
  showError(errNode, null);
  const fields = { broadcast: state.openId, ...extra };
  if (type !== 'unpin') fields.question = q.id;
  try {
    const res = await client.send(type, fields);
    if (type === 'pin') state.pinned = q.id;
    if (type === 'unpin') state.pinned = null;
    applyAck(res);
    if (type === 'pin' || type === 'unpin') { renderOpenHeader(); renderQuestions(); }
    return true;
  } catch (err) {
    showError(errNode, err);
    return false;
  }
}

async function muteAuthor(li, q, muted) {
  const errNode = li.querySelector('.error');
  showError(errNode, null);
  try {
    await client.send('mute', { broadcast: state.openId, user: q.author.sub, muted });
    if (muted) state.muted.add(q.author.sub); else state.muted.delete(q.author.sub);
    renderQuestions();
  } catch (err) {
    showError(errNode, err);
  }
}

// ---------------------------------------------------------------------------------------------------------
// Inline forms (no window.prompt: keyboard- and test-friendly)
// ---------------------------------------------------------------------------------------------------------

function parseTags(text) {
  // Accept the Arabic comma too.
  return [...new Set(text.split(/[,،]/).map((s) => s.trim()).filter(Boolean))];
}

function mergeTargets(q) {
  return [...state.questions.values()]
    .filter((o) => o.id !== q.id && ['approved', 'answered', 'pending'].includes(o.status))
    .sort((a, b) => a.id - b.id);
}

function formSpec(q, kind) {
  const area = (testid, value) => el('textarea', { testid, dir: 'auto', rows: 3, value: value ?? '' });
  const line = (testid, value) => el('input', { type: 'text', testid, dir: 'auto', value: value ?? '' });
  switch (kind) {
    case 'hide':
      return { label: 'mod.hideReason', input: line('hide-reason-input', ''), submit: ['hide-submit', 'mod.hideSubmit'],
        run: (v) => ['hide', { reason: v.trim() }] };
    case 'answer':
      return { label: 'mod.answerLabel', input: area('answer-text-input', q.answer?.text),
        submit: ['answer-submit', 'mod.answerSubmit'], required: true, run: (v) => ['answer', { text: v.trim() }] };
    case 'edit':
      return { label: 'mod.editLabel', input: area('edit-text-input', q.text), submit: ['edit-submit', 'save'],
        required: true, run: (v) => ['mod_edit', { text: v.trim() }] };
    case 'tags':
      return { label: 'mod.tagsLabel', input: line('tags-input', (q.tags || []).join(', ')),
        submit: ['tags-submit', 'mod.tagsSubmit'], run: (v) => ['tag', { tags: parseTags(v) }] };
    case 'merge': {
      const select = el('select', { testid: 'merge-target' });
      for (const o of mergeTargets(q)) {
        const short = [...o.text].slice(0, 80).join('');
        select.append(el('option', { value: String(o.id), text: `#${o.id} — ${short}` }));
      }
      return { label: 'mod.mergeLabel', input: select, submit: ['merge-submit', 'mod.mergeSubmit'],
        empty: select.options.length === 0, run: (v) => ['merge', { into: Number(v) }] };
    }
    default:
      return null;
  }
}

function openForm(li, q, kind) {
  const slot = li.querySelector('.form-slot');
  const errNode = li.querySelector('.error');
  showError(errNode, null);
  clear(slot);
  const spec = formSpec(q, kind);
  const inputId = `f-${kind}-${q.id}`;
  spec.input.id = inputId;
  const close = () => { clear(slot); li.querySelector(`[data-testid="${kind}"]`)?.focus(); };
  const submitBtn = el('button', { type: 'submit', class: 'small primary', testid: spec.submit[0], i18n: spec.submit[1],
    disabled: !!spec.empty });
  const form = el('form', { class: 'inline-form', noValidate: true, attrs: { 'data-form': kind } },
    el('label', { htmlFor: inputId, i18n: spec.label }),
    spec.input,
    spec.empty ? el('p', { class: 'hint', i18n: 'mod.mergeNone' }) : null,
    el('div', { class: 'row' }, submitBtn,
      el('button', { type: 'button', class: 'small', testid: 'form-cancel', i18n: 'cancel', on: { click: close } })));
  form.addEventListener('keydown', (ev) => { if (ev.key === 'Escape') close(); });
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const value = spec.input.value;
    if (spec.required && !value.trim()) { showError(errNode, { code: 'bad_request' }); spec.input.focus(); return; }
    const [type, extra] = spec.run(value);
    submitBtn.disabled = true;
    const ok = await command(li, type, q, extra);
    submitBtn.disabled = false;
    if (ok) close();
  });
  slot.append(form);
  spec.input.focus();
}

// ---------------------------------------------------------------------------------------------------------
// Statistics
// ---------------------------------------------------------------------------------------------------------

async function loadStats() {
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

function renderStats() {
  const s = state.stats;
  const grid = $('stats-grid');
  clear(grid);
  for (const [key, get] of STAT_FIELDS) {
    const value = s ? get(s) : null;
    grid.append(el('div', { attrs: { 'data-stat': key } },
      el('dt', { i18n: `stats.${key}` }),
      el('dd', { testid: `stat-${key}`, text: value === null || value === undefined ? '—' : String(value) })));
  }
  const top = $('stats-top');
  clear(top);
  for (const q of s?.top_questions || []) {
    top.append(el('li', {},
      userText('span', q.text), ' ',
      el('span', { class: 'hint', i18n: 'mod.votesN', args: { n: q.votes } })));
  }
  if (!s?.top_questions?.length) top.append(el('li', { class: 'empty', i18n: 'stats.noneYet' }));
  const tags = $('stats-tags');
  clear(tags);
  const byTag = Object.entries(s?.by_tag || {}).sort((a, b) => b[1] - a[1]);
  for (const [tag, n] of byTag) tags.append(el('li', {}, userText('span', tag), `: ${n}`));
  if (!byTag.length) tags.append(el('li', { class: 'empty', i18n: 'stats.noneYet' }));
  if (state.statsAt) setText($('stats-updated'), 'stats.updated', { time: formatTime(state.statsAt) });
}

/** The CSV needs the Bearer token, so a plain link cannot fetch it: fetch, then save the blob. */
async function downloadCsv() {
  const b = state.broadcast;
  if (!b) return;
  try {
    const res = await api('GET', `/api/broadcasts/${b.id}/stats.csv`, { token: state.token, raw: true });
    const blob = await res.blob();
    const url = URL.createObjectURL(blob);
    const a = el('a', { href: url, download: `majlis-${b.code}-stats.csv` });
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 10_000);
  } catch (err) {
    showError($('stats-error'), err);
  }
}

async function copyJoinLink() {
  const b = state.broadcast;
  if (!b) return;
  try {
    await navigator.clipboard.writeText(joinUrl(b));
    setText($('copy-join'), 'mod.copied');
    setTimeout(() => setText($('copy-join'), 'mod.copy'), 2000);
  } catch {
    // Clipboard needs a secure context; selecting the link lets the user copy it by hand.
    getSelection()?.selectAllChildren($('join-link'));
  }
}

// ---------------------------------------------------------------------------------------------------------
// Start
// ---------------------------------------------------------------------------------------------------------

function wire() {
  $('signin-form').addEventListener('submit', (ev) => {
    ev.preventDefault();
    const token = $('token-input').value.trim();
    if (token) signIn(token);
  });
  $('sign-out').addEventListener('click', signOut);
  $('create-form').addEventListener('submit', createBroadcast);
  $('bc-refresh').addEventListener('click', loadBroadcasts);
  $('stats-csv').addEventListener('click', downloadCsv);
  $('copy-join').addEventListener('click', copyJoinLink);
  $('mod-pinned-unpin').addEventListener('click', async () => {
    try { await client.send('unpin', { broadcast: state.openId }); state.pinned = null; renderOpenHeader(); renderQuestions(); } catch (err) { showError($('mq-error'), err); }
  });
  for (const btn of document.querySelectorAll('[data-filter]')) {
    btn.addEventListener('click', () => { state.filter = btn.dataset.filter; renderQuestions(); });
  }
  document.addEventListener('visibilitychange', () => { if (!document.hidden) loadStats(); });
  onLangChange(() => {
    renderWhoami();
    renderBroadcastList();
    renderOpenHeader();
    for (const [id, li] of nodes) fillInfo(li.querySelector('.info'), state.questions.get(id));
    renderStats();
  });
}

window.majlis = { state, client: null, getLang, localized };
initPage();
wire();
renderFilterTabs([]);
const token = takeTokenFromUrl();
if (token) signIn(token); else showSignIn(null);
