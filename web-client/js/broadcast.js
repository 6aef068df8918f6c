// Citizen page: join a broadcast's public room, ask, vote, follow the pinned question and answers.
import {
  initPage, onLangChange, getLang, t, api, el, userText, clear, setText, setCount, clearText, setLocalized, formatTime, announce, charCount,
  uuid, errorText, showError, getCitizenSession, authorName, MajlisClient, bindConnStatus,
} from './common.js';

const CLOSED_STATES = new Set(['ended', 'archived']);
const EDITABLE = new Set(['pending', 'approved']);
const ERROR_CLEAR_MS = 8000;

const $ = (id) => document.getElementById(id);

const state = {
  code: new URLSearchParams(location.search).get('code')?.trim() || '',
  broadcast: null,
  questions: new Map(), // public questions by id
  pinned: null,
  participants: 0,
  mine: new Map(), // own questions by id, any status
  sending: new Map(), // client_msg_id → {text, anonymous} asks not yet acked
  myVotes: new Set(),
  voting: new Set(), // question ids with a vote in flight
  sort: 'top',
  stable: true,
  order: [], // ids in the order currently shown (stable mode keeps it until re-sort)
  updates: 0, // changes since the last sort, shown on the re-sort button
  session: null,
  loaded: false,
};

let client = null;
const nodes = new Map(); // id → <li> in the open list
const answeredNodes = new Map(); // id → <li> in the answered list

// ---------------------------------------------------------------------------------------------------------
// Sorting and stable mode
// ---------------------------------------------------------------------------------------------------------

function compare(a, b) {
  if (state.sort === 'top' && b.votes !== a.votes) return b.votes - a.votes;
  if (state.sort === 'top') return a.created_at - b.created_at || a.id - b.id; // older first among equals
  return b.created_at - a.created_at || b.id - a.id;
}

function openQuestions() {
  return [...state.questions.values()].filter((q) => q.status === 'approved');
}

/** Apply the chosen sort now (first load, sort buttons, re-sort button, or any change when not stable). */
function resort() {
  state.order = openQuestions().sort(compare).map((q) => q.id);
  state.updates = 0;
}

/** Stable mode: keep shown positions, drop questions that left, append newcomers at the end. */
function keepOrder() {
  const open = new Set(openQuestions().map((q) => q.id));
  const kept = state.order.filter((id) => open.has(id));
  const seen = new Set(kept);
  const added = openQuestions().filter((q) => !seen.has(q.id)).sort(compare).map((q) => q.id);
  state.order = kept.concat(added);
}

/** Something that could change the order happened. */
function noteChange() {
  if (state.stable) state.updates += 1;
}

// ---------------------------------------------------------------------------------------------------------
// Rendering
// ---------------------------------------------------------------------------------------------------------

function renderAll() {
  renderHeader();
  renderAskForm();
  renderPinned();
  renderQuestions();
  renderAnswered();
  renderMine();
}

function renderHeader() {
  const b = state.broadcast;
  if (!b) return;
  setLocalized($('bc-title'), b.title);
  setLocalized($('bc-desc'), b.description);
  $('bc-desc').hidden = !$('bc-desc').textContent;
  const badge = $('bc-state');
  badge.className = `badge ${b.state === 'live' ? 'live' : ''}`;
  badge.dataset.state = b.state;
  setText(badge, `state.${b.state}`);
  setText($('bc-starts'), 'starts', { time: formatTime(b.starts_at) });
  $('bc-starts').hidden = b.state !== 'scheduled';
  $('bc-ended').hidden = !CLOSED_STATES.has(b.state);
  setCount($('participants'), 'bc.participants', state.participants);
  document.title = `${$('bc-title').textContent} — ${t('app.name')}`;
}

function isClosed() {
  return !state.broadcast || CLOSED_STATES.has(state.broadcast.state);
}

function renderAskForm() {
  const b = state.broadcast;
  if (!b) return;
  $('ask-anon-wrap').hidden = !b.allow_anonymous;
  $('ask-closed').hidden = !isClosed();
  updateCounter();
}

function updateCounter() {
  const max = state.broadcast?.max_question_len ?? 300;
  const n = charCount($('ask-text').value.trim());
  const counter = $('ask-counter');
  counter.textContent = `${n} / ${max}`;
  counter.classList.toggle('over', n > max);
  $('ask-submit').disabled = isClosed() || n === 0 || n > max;
  $('ask-text').disabled = isClosed();
}

function authorLabel(q) {
  return authorName(q);
}

function renderPinned() {
  const q = state.pinned !== null ? state.questions.get(state.pinned) || state.mine.get(state.pinned) : null;
  $('pinned').hidden = !q;
  $('pinned-text').textContent = q ? q.text : '';
  $('pinned-author').textContent = q ? authorLabel(q) : '';
  setCount($('pinned-votes'), 'bc.votes', q ? q.votes ?? 0 : 0);
}

/** Build (once) the <li> for an open question; fillQuestion() keeps it current. */
function questionNode(q) {
  let li = nodes.get(q.id);
  if (li) return li;
  // The button's description is the count beside it, so a screen reader hears the same "3 votes" as is shown.
  const votesId = `votes-${q.id}`;
  const voteBtn = el('button', {
    type: 'button', class: 'small vote-btn', testid: 'vote', attrs: { 'aria-describedby': votesId },
    on: { click: () => toggleVote(q.id) },
  });
  li = el('li', { class: 'question', testid: 'question' },
    el('div', { class: 'vote-box' },
      el('span', { class: 'votes', testid: 'votes', id: votesId }),
      voteBtn),
    el('div', { class: 'body' },
      userText('p', '', { class: 'question-text', testid: 'question-text' }),
      el('div', { class: 'meta' })));
  li.dataset.id = String(q.id);
  nodes.set(q.id, li);
  return li;
}

function metaChildren(q) {
  const parts = [userText('span', authorLabel(q), { class: 'author' })];
  parts.push(el('span', { text: formatTime(q.created_at) }));
  if (state.pinned === q.id) parts.push(el('span', { class: 'badge live', i18n: 'bc.nowAnswering' }));
  if (state.mine.has(q.id)) parts.push(el('span', { class: 'badge mine', i18n: 'bc.yours' }));
  if (q.edited) parts.push(el('span', { i18n: 'edited' }));
  for (const tag of q.tags || []) parts.push(userText('span', `#${tag}`, { class: 'badge' }));
  return parts;
}

function fillQuestion(li, q) {
  li.dataset.status = q.status;
  li.classList.toggle('is-pinned', state.pinned === q.id);
  li.querySelector('[data-testid="question-text"]').textContent = q.text;
  setCount(li.querySelector('[data-testid="votes"]'), 'bc.votes', q.votes ?? 0);
  const btn = li.querySelector('[data-testid="vote"]');
  const voted = state.myVotes.has(q.id);
  btn.setAttribute('aria-pressed', String(voted));
  setText(btn, voted ? 'bc.voted' : 'bc.vote');
  // The accessible name starts with the visible word (WCAG 2.5.3), so voice control finds "Voted" too.
  setText(btn, voted ? 'bc.votedAria' : 'bc.voteAria', { text: q.text }, 'aria-label');
  // Not disabled while in flight: disabling would throw keyboard focus off the button.
  btn.setAttribute('aria-busy', String(state.voting.has(q.id)));
  btn.disabled = isClosed();
  const meta = li.querySelector('.meta');
  clear(meta);
  meta.append(...metaChildren(q));
}

/** Put `wanted` nodes into `list` in order, moving only the ones out of place (keeps focus where possible). */
function placeNodes(list, wanted) {
  const keep = new Set(wanted);
  for (const child of [...list.children]) if (!keep.has(child)) child.remove();
  wanted.forEach((node, i) => {
    if (list.children[i] !== node) list.insertBefore(node, list.children[i] || null);
  });
}

function renderQuestions() {
  if (state.stable) keepOrder(); else resort();
  const wanted = [];
  for (const id of state.order) {
    const q = state.questions.get(id);
    const li = questionNode(q);
    fillQuestion(li, q);
    wanted.push(li);
  }
  for (const id of [...nodes.keys()]) if (!state.order.includes(id)) nodes.delete(id);
  placeNodes($('questions'), wanted);
  $('questions-empty').hidden = wanted.length > 0;
  const resortBtn = $('resort');
  resortBtn.hidden = !(state.stable && state.updates > 0 && wanted.length > 0);
  setText(resortBtn, 'bc.resort', { n: state.updates });
}

function answerBox(q) {
  const box = el('div', { class: 'answer-box' });
  if (q.answer?.live || !q.answer?.text) {
    box.append(el('span', { class: 'label', testid: 'answer-text', i18n: 'bc.answeredLive' }));
  } else {
    box.append(el('span', { class: 'label', i18n: 'bc.answerLabel' }), ' ',
      userText('span', q.answer.text, { testid: 'answer-text' }));
  }
  return box;
}

let answeredSig = '';
function renderAnswered() {
  const answered = [...state.questions.values()].filter((q) => q.status === 'answered')
    .sort((a, b) => (b.answer?.at ?? 0) - (a.answer?.at ?? 0) || b.id - a.id);
  // Skip the rebuild when nothing shown changed (most events are vote counts on open questions).
  const sig = JSON.stringify([getLang(), state.pinned, answered.map((q) => [q.id, q.votes, q.text, q.answer, q.tags,
    q.edited, q.author, state.mine.has(q.id)])]);
  if (sig === answeredSig) return;
  answeredSig = sig;
  const wanted = answered.map((q) => {
    // Rebuilt each time: answered items are few and have no controls that could hold focus.
    const li = el('li', { class: 'question', testid: 'question' },
      el('div', { class: 'vote-box' }, setCount(el('span', { class: 'votes', testid: 'votes' }), 'bc.votes', q.votes ?? 0)),
      el('div', { class: 'body' },
        userText('p', q.text, { class: 'question-text', testid: 'question-text' }),
        el('div', { class: 'meta' }, ...metaChildren(q)),
        answerBox(q)));
    li.dataset.id = String(q.id);
    li.dataset.status = q.status;
    return li;
  });
  answeredNodes.clear();
  answered.forEach((q, i) => answeredNodes.set(q.id, wanted[i]));
  const list = $('answered');
  clear(list);
  list.append(...wanted);
  $('answered-empty').hidden = wanted.length > 0;
}

// ---------------------------------------------------------------------------------------------------------
// My questions
// ---------------------------------------------------------------------------------------------------------

let mineSig = '';
function renderMine(force = false) {
  // Rebuild only when my questions changed, so focus on Edit/Withdraw survives unrelated events.
  const sig = JSON.stringify([getLang(), isClosed(), [...state.sending.keys()],
    [...state.mine.values()].map((q) => [q.id, q.status, q.text, q.answer])]);
  if (sig === mineSig && !force) return;
  mineSig = sig;
  const list = $('mine');
  // Keep an open edit form alive across re-renders (events arrive while the user types).
  const editing = list.querySelector('[data-editing]');
  const editingId = editing?.dataset.id;
  const items = [];
  for (const [cmid, a] of state.sending) items.push(mineSendingItem(cmid, a));
  const mine = [...state.mine.values()].sort((a, b) => b.created_at - a.created_at || b.id - a.id);
  for (const q of mine) {
    if (editingId === String(q.id) && EDITABLE.has(q.status) && !q.moderated) items.push(editing);
    else items.push(mineItem(q));
  }
  placeNodes(list, items);
  $('mine-empty').hidden = items.length > 0;
}

function mineSendingItem(cmid, a) {
  const li = el('li', { class: 'mine-item', testid: 'mine-item' },
    userText('p', a.text, { class: 'question-text', testid: 'mine-text' }),
    el('span', { class: 'badge warn', testid: 'mine-status', i18n: 'bc.status.sending' }));
  li.dataset.status = 'sending';
  li.dataset.clientMsgId = cmid;
  return li;
}

function mineItem(q) {
  const statusClass = q.status === 'approved' || q.status === 'answered' ? 'ok' : 'warn';
  const li = el('li', { class: 'mine-item', testid: 'mine-item' },
    userText('p', q.text, { class: 'question-text', testid: 'mine-text' }),
    el('div', { class: 'row' },
      el('span', { class: `badge ${statusClass}`, testid: 'mine-status', i18n: `bc.status.${q.status}` }),
      q.anonymous || q.author === null ? el('span', { class: 'hint', i18n: 'anonymous' }) : null));
  li.dataset.id = String(q.id);
  li.dataset.status = q.status;
  if (q.status === 'answered') li.append(answerBox(q));
  if (EDITABLE.has(q.status) && !q.moderated && !isClosed()) {
    const err = el('p', { class: 'error', role: 'alert', hidden: true });
    li.append(el('div', { class: 'row actions' },
      el('button', { type: 'button', class: 'small', testid: 'edit', i18n: 'edit', on: { click: () => openEdit(li, q) } }),
      el('button', { type: 'button', class: 'small', testid: 'withdraw', i18n: 'withdraw',
        on: { click: (ev) => withdraw(q, ev.currentTarget, err) } })), err);
  }
  return li;
}

function openEdit(li, q) {
  li.dataset.editing = '1';
  const input = el('textarea', { testid: 'edit-text-input', dir: 'auto', rows: 3, value: q.text, id: `edit-${q.id}` });
  const err = el('p', { class: 'error', role: 'alert', hidden: true });
  const form = el('form', { class: 'inline-form', noValidate: true },
    el('label', { htmlFor: `edit-${q.id}`, i18n: 'bc.editLabel' }), input,
    el('div', { class: 'row' },
      el('button', { type: 'submit', class: 'small primary', testid: 'edit-submit', i18n: 'save' }),
      el('button', { type: 'button', class: 'small', testid: 'edit-cancel', i18n: 'cancel',
        on: { click: () => { delete li.dataset.editing; renderMine(true); } } })),
    err);
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const text = input.value.trim();
    const max = state.broadcast.max_question_len;
    if (!text || charCount(text) > max) { showError(err, { code: 'bad_request' }); return; }
    try {
      const res = await client.send('edit', { broadcast: state.broadcast.id, question: q.id, text });
      delete li.dataset.editing;
      upsertOwn(res.question);
      renderMine(true);
    } catch (e) {
      showError(err, e);
    }
  });
  li.querySelector('.actions')?.remove();
  li.append(form);
  input.focus();
}

async function withdraw(q, btn, err) {
  btn.disabled = true;
  try {
    await client.send('withdraw', { broadcast: state.broadcast.id, question: q.id });
    state.mine.set(q.id, { ...q, status: 'withdrawn' });
    state.questions.delete(q.id);
    renderAll();
  } catch (e) {
    btn.disabled = false;
    showError(err, e);
  }
}

/** An ack carried one of my questions: record it, and show it publicly if it is public. */
function upsertOwn(q) {
  state.mine.set(q.id, q);
  if (q.status === 'approved' || q.status === 'answered') {
    if (!state.questions.has(q.id)) noteChange();
    state.questions.set(q.id, { ...state.questions.get(q.id), ...q });
  }
  renderAll();
}

// ---------------------------------------------------------------------------------------------------------
// Actions
// ---------------------------------------------------------------------------------------------------------

let listErrorTimer = 0;
function showListError(err) {
  showError($('list-error'), err);
  clearTimeout(listErrorTimer);
  listErrorTimer = setTimeout(() => showError($('list-error'), null), ERROR_CLEAR_MS);
}

async function toggleVote(id) {
  if (state.voting.has(id)) return;
  const value = !state.myVotes.has(id);
  state.voting.add(id);
  renderQuestions();
  try {
    const res = await client.send('vote', { broadcast: state.broadcast.id, question: id, value });
    if (res.voted ?? value) state.myVotes.add(id); else state.myVotes.delete(id);
    const q = state.questions.get(id);
    if (q && typeof res.votes === 'number' && q.votes !== res.votes) { q.votes = res.votes; noteChange(); }
  } catch (err) {
    showListError(err);
  } finally {
    state.voting.delete(id);
    renderQuestions();
    renderPinned();
  }
}

let nameSwitch = Promise.resolve();

/** A changed display name needs a new token (the name is a claim in it), hence a new session. */
function applyName() {
  nameSwitch = nameSwitch.then(async () => {
    const wanted = $('name-input').value.trim();
    if (wanted === (state.session?.requested_name || '')) return;
    try {
      state.session = await getCitizenSession({ name: wanted, force: true });
      client.restart();
    } catch (err) {
      showError($('ask-error'), err);
    }
  });
  return nameSwitch;
}

async function submitAsk(ev) {
  ev.preventDefault();
  const textarea = $('ask-text');
  const text = textarea.value.trim();
  const max = state.broadcast.max_question_len;
  showError($('ask-error'), null);
  clearText($('ask-notice'));
  if (!text || charCount(text) > max || isClosed()) {
    showError($('ask-error'), { code: isClosed() ? 'conflict' : 'bad_request' });
    return;
  }
  await applyName();
  const fields = { broadcast: state.broadcast.id, text, client_msg_id: uuid() };
  if (state.broadcast.allow_anonymous) fields.anonymous = $('ask-anon').checked;
  state.sending.set(fields.client_msg_id, { text, anonymous: !!fields.anonymous });
  textarea.value = '';
  updateCounter();
  renderMine();
  if (client.state !== 'open') setText($('ask-notice'), 'bc.askQueued');
  try {
    const res = await client.send('ask', fields);
    state.sending.delete(fields.client_msg_id);
    const q = res.question;
    upsertOwn(q);
    // `duplicate` only means our own re-send after a reconnect reached the server twice: same message.
    const key = q.status === 'pending' ? 'bc.askSentPending' : 'bc.askSent';
    setText($('ask-notice'), key);
  } catch (err) {
    state.sending.delete(fields.client_msg_id);
    renderMine();
    // Give the text back so the user does not have to retype it.
    if (!textarea.value) { textarea.value = text; updateCounter(); }
    clearText($('ask-notice'));
    showError($('ask-error'), err);
  }
}

// ---------------------------------------------------------------------------------------------------------
// Room data
// ---------------------------------------------------------------------------------------------------------

function onSnapshot(f) {
  const d = f.data;
  // An in-memory server that restarted may reuse the id for another broadcast: never show that one here.
  if (d.broadcast && state.broadcast && d.broadcast.code.toUpperCase() !== state.broadcast.code.toUpperCase()) {
    client.close();
    $('page').hidden = true;
    showLoadError('bc.notFound');
    return;
  }
  state.broadcast = d.broadcast || state.broadcast;
  state.questions = new Map((d.questions || []).map((q) => [q.id, q]));
  state.pinned = d.pinned ?? null;
  state.participants = d.participants ?? state.participants;
  state.mine = new Map((d.mine || []).map((q) => [q.id, q]));
  state.myVotes = new Set(d.my_votes || []);
  resort();
  showPage();
  renderAll();
}

function onEvent(f) {
  const d = f.data;
  switch (f.kind) {
    case 'question': return onQuestion(d);
    case 'question_removed': {
      state.questions.delete(d.id);
      const own = state.mine.get(d.id);
      if (own && own.status !== 'withdrawn') state.mine.set(d.id, { ...own, status: 'hidden' });
      break;
    }
    case 'votes': {
      const q = state.questions.get(d.id);
      if (q && q.votes !== d.votes) { q.votes = d.votes; if (q.status === 'approved') noteChange(); }
      break;
    }
    case 'pinned': {
      state.pinned = d.id ?? null;
      const q = state.questions.get(state.pinned);
      if (q) announce(t('bc.announcePinned', { text: q.text }));
      break;
    }
    case 'broadcast':
      state.broadcast = d;
      break;
    default:
      return undefined;
  }
  return renderAll();
}

function onQuestion(q) {
  const prev = state.questions.get(q.id);
  state.questions.set(q.id, q);
  if (state.mine.has(q.id)) state.mine.set(q.id, { ...state.mine.get(q.id), ...q });
  const becameOpen = q.status === 'approved' && prev?.status !== 'approved';
  if (becameOpen && !prev) {
    noteChange();
    announce(t('bc.announceNew', { text: q.text }));
  } else if (becameOpen) {
    noteChange();
  }
  // The pinned event may arrive before the pinned (just approved) question itself.
  if (q.id === state.pinned && !prev) announce(t('bc.announcePinned', { text: q.text }));
  renderAll();
}

function showPage() {
  $('page-loading').hidden = true;
  $('page').hidden = false;
  state.loaded = true;
}

function showLoadError(key) {
  $('page-loading').hidden = true;
  $('load-error').hidden = false;
  setText($('load-error-text'), key);
}

// ---------------------------------------------------------------------------------------------------------
// Start
// ---------------------------------------------------------------------------------------------------------

function wireControls() {
  $('ask-form').addEventListener('submit', submitAsk);
  $('ask-text').addEventListener('input', () => {
    updateCounter();
    clearText($('ask-notice')); // the last "sent" message is about the previous question
  });
  $('ask-text').addEventListener('keydown', (ev) => {
    if (ev.key === 'Enter' && (ev.ctrlKey || ev.metaKey)) $('ask-form').requestSubmit();
  });
  $('name-input').addEventListener('change', applyName);
  const setSort = (sort) => {
    state.sort = sort;
    $('sort-top').setAttribute('aria-pressed', String(sort === 'top'));
    $('sort-new').setAttribute('aria-pressed', String(sort === 'new'));
    resort();
    renderQuestions();
  };
  $('sort-top').addEventListener('click', () => setSort('top'));
  $('sort-new').addEventListener('click', () => setSort('new'));
  $('stable').addEventListener('change', (ev) => {
    state.stable = ev.target.checked;
    resort();
    renderQuestions();
  });
  $('resort').addEventListener('click', () => {
    resort();
    renderQuestions();
    $('questions').querySelector('button')?.focus(); // the re-sort button disappears; keep focus in the list
  });
}

async function start() {
  initPage();
  wireControls();
  onLangChange(() => { if (state.loaded) renderAll(); });
  if (!state.code) { showLoadError('bc.noCode'); return; }
  try {
    state.broadcast = await api('GET', `/api/broadcasts/${encodeURIComponent(state.code)}`);
  } catch (err) {
    if (err.code === 'not_found') showLoadError('bc.notFound');
    else { $('page-loading').hidden = true; $('load-error').hidden = false; $('load-error-text').textContent = errorText(err); }
    return;
  }
  renderHeader();
  try {
    state.session = await getCitizenSession();
    $('name-input').value = state.session.requested_name || '';
  } catch (err) {
    showError($('ask-error'), err); // the client retries the session on connect
  }
  client = new MajlisClient({
    getToken: async (force) => {
      state.session = await getCitizenSession({ force });
      return state.session.token;
    },
  });
  bindConnStatus(document.querySelector('[data-testid="conn-status"]'), client);
  client.on('snapshot', onSnapshot);
  client.on('event', onEvent);
  client.on('presence', (f) => {
    state.participants = f.participants;
    setCount($('participants'), 'bc.participants', f.participants);
  });
  client.on('join_error', ({ error }) => {
    if (!state.loaded) showLoadError(error.code === 'not_found' ? 'bc.notFound' : 'err.unknown');
    else showListError(error);
  });
  window.majlis.client = client;
  client.join(`broadcast:${state.broadcast.id}`);
  client.connect();
}

window.majlis = { state, client: null };
start();
