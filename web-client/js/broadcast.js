// Citizen page: the live question feed first, a compact ask box, "My questions" with each one's fate, the
// pinned question and the answers. Joins the broadcast's public room and, when the server has it, the
// personal room `user:<sub>` (the fate of my own questions, with hide reasons).
import {
  initPage, onLangChange, getLang, t, api, el, userText, clear, setText, setCount, clearText, setLocalized, formatTime,
  formatClock, charCount, uuid, errorText, showError, getCitizenSession, renameCitizenSession, authorName, MajlisClient, bindConnStatus,
} from './common.js';
import { createAnnouncer, toast, wireTabs } from './ui.js';

const CLOSED_STATES = new Set(['ended', 'archived']);
const EDITABLE = new Set(['pending', 'approved']);
const ERROR_CLEAR_MS = 8000;
const CODE_RE = /^[A-Z0-9]{2,16}$/;

const $ = (id) => document.getElementById(id);

const state = {
  code: new URLSearchParams(location.search).get('code')?.trim() || '',
  broadcast: null,
  questions: new Map(), // public questions by id
  pinned: null,
  participants: 0,
  mine: new Map(), // own questions by id, any status (from the personal room when there is one)
  sending: new Map(), // client_msg_id → {text, anonymous} asks not yet acked
  myVotes: new Set(),
  voting: new Set(), // question ids with a vote in flight
  sort: 'top',
  order: [], // ids in the order shown: kept while people vote, until the reader asks for the new order
  updates: 0, // changes since the last sort, shown on the re-sort button
  session: null,
  loaded: false,
  conn: 'idle',
  userRoom: null, // the personal room joined, if any
  personal: null, // null: not known yet; true: the server has personal rooms; false: it has not
  tab: 'tab-questions',
  tabChosen: false, // the reader picked a tab: never switch it for them
  pendingNotice: null, // id of my question the "sent, awaiting review" notice is about
};

let client = null;
let selectTab = () => {};
const nodes = new Map(); // id → <li> in the open list
const announcer = createAnnouncer({
  question: { one: 'bc.announceNew', many: 'bc.announceNewMany' },
  pinned: { one: 'bc.announcePinned', latest: true },
});

const publicRoom = () => `broadcast:${state.broadcast.id}`;
const isClosed = () => !state.broadcast || CLOSED_STATES.has(state.broadcast.state);
const isPaused = () => !!state.broadcast?.paused && !isClosed();

// ---------------------------------------------------------------------------------------------------------
// Sorting: the order stays put while people vote, so nothing jumps under a reader's finger
// ---------------------------------------------------------------------------------------------------------

function compare(a, b) {
  if (state.sort === 'top' && b.votes !== a.votes) return b.votes - a.votes;
  if (state.sort === 'top') return a.created_at - b.created_at || a.id - b.id; // older first among equals
  return b.created_at - a.created_at || b.id - a.id;
}

function openQuestions() {
  return [...state.questions.values()].filter((q) => q.status === 'approved');
}

/** Apply the chosen sort now (first load, sort buttons, the re-sort button). */
function resort() {
  state.order = openQuestions().sort(compare).map((q) => q.id);
  state.updates = 0;
}

/** Keep shown positions, drop questions that left, put newcomers where the sort says (new ones on top). */
function keepOrder() {
  const open = new Set(openQuestions().map((q) => q.id));
  const kept = state.order.filter((id) => open.has(id));
  const seen = new Set(kept);
  const added = openQuestions().filter((q) => !seen.has(q.id)).sort(compare).map((q) => q.id);
  state.order = state.sort === 'new' ? added.concat(kept) : kept.concat(added);
}

function noteChange() {
  state.updates += 1;
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
  renderCounts();
}

function renderHeader() {
  const b = state.broadcast;
  if (!b) return;
  setLocalized($('bc-title'), b.title);
  setLocalized($('bc-desc'), b.description);
  $('bc-desc').hidden = !$('bc-desc').textContent;
  const badge = $('bc-state');
  badge.className = `badge ${b.state === 'live' ? 'live' : b.state === 'scheduled' ? 'info' : ''}`;
  badge.dataset.state = b.state;
  setText(badge, `state.${b.state}`);
  setText($('bc-starts'), 'starts', { time: formatTime(b.starts_at) });
  $('bc-starts').hidden = b.state !== 'scheduled';
  setCount($('participants'), 'bc.participants', state.participants);
  $('participants').hidden = isClosed();
  document.title = `${$('bc-title').textContent} — ${t('app.name')}`;
  const closed = isClosed();
  $('bc-ended').hidden = !closed;
  if (closed) {
    const answered = [...state.questions.values()].filter((q) => q.status === 'answered').length;
    setText($('bc-ended-text'), 'bc.endedCount', { n: answered });
  }
  $('ask-card').hidden = closed;
  $('page').classList.toggle('is-closed', closed); // no ask column any more: one column, centred
  renderNotice();
}

/** One sentence about the page's state, shown only while it is true: offline beats paused. */
function renderNotice() {
  const node = $('bc-notice');
  const offline = state.loaded && (state.conn === 'reconnecting' || state.conn === 'closed');
  if (offline) {
    node.className = 'notice error';
    node.dataset.kind = 'offline';
    setText(node, state.conn === 'closed' ? 'bc.offlineClosed' : 'bc.offline');
  } else if (isPaused()) {
    node.className = 'notice warn';
    node.dataset.kind = 'paused';
    setText(node, 'bc.paused');
  } else {
    delete node.dataset.kind;
    clearText(node);
  }
}

function renderAskForm() {
  const b = state.broadcast;
  if (!b) return;
  $('ask-anon-wrap').hidden = !b.allow_anonymous;
  const closedKey = isClosed() ? 'bc.askClosed' : isPaused() ? 'bc.paused' : null;
  const closedNode = $('ask-closed');
  closedNode.hidden = !closedKey;
  if (closedKey) setText(closedNode, closedKey); else clearText(closedNode);
  // The "sent, awaiting review" notice is true only while that question still waits.
  if (state.pendingNotice !== null) {
    const q = state.mine.get(state.pendingNotice);
    if (!q || q.status !== 'pending' || isClosed()) { state.pendingNotice = null; clearText($('ask-notice')); }
  }
  updateCounter();
}

function updateCounter() {
  const max = state.broadcast?.max_question_len ?? 300;
  const n = charCount($('ask-text').value.trim());
  const counter = $('ask-counter');
  counter.textContent = `${n} / ${max}`;
  counter.classList.toggle('over', n > max);
  // Never disabled for an empty box: a disabled button would drop keyboard focus after sending.
  const blocked = isClosed() || isPaused();
  $('ask-submit').disabled = blocked;
  $('ask-text').disabled = blocked;
  $('ask-form').classList.toggle('is-open', !blocked && (n > 0 || $('ask-form').contains(document.activeElement)));
}

function renderPinned() {
  const q = state.pinned !== null ? state.questions.get(state.pinned) || state.mine.get(state.pinned) : null;
  $('pinned').hidden = !q || isClosed();
  $('pinned-text').textContent = q ? q.text : '';
  $('pinned-author').textContent = q ? authorName(q) : '';
  setCount($('pinned-votes'), 'bc.votes', q ? q.votes ?? 0 : 0);
}

function renderCounts() {
  $('count-questions').textContent = String(openQuestions().length);
  $('count-answered').textContent = String([...state.questions.values()].filter((q) => q.status === 'answered').length);
  $('count-mine').textContent = String(state.mine.size + state.sending.size);
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
  li = el('li', { class: 'entry question', testid: 'question' },
    el('div', { class: 'entry-body' },
      userText('p', '', { class: 'entry-text question-text', testid: 'question-text' }),
      el('div', { class: 'entry-foot' },
        el('div', { class: 'entry-meta' }),
        el('div', { class: 'vote-box' }, el('span', { class: 'votes', testid: 'votes', id: votesId }), voteBtn))));
  li.dataset.id = String(q.id);
  nodes.set(q.id, li);
  return li;
}

function metaChildren(q) {
  const parts = [userText('bdi', authorName(q), { class: 'author' })];
  parts.push(el('span', { text: formatClock(q.created_at) }));
  if (state.pinned === q.id && !isClosed()) parts.push(el('span', { class: 'badge live', i18n: 'bc.nowAnswering' }));
  if (state.mine.has(q.id)) parts.push(el('span', { class: 'badge mine', i18n: 'bc.yours' }));
  if (q.edited) parts.push(el('span', { i18n: 'edited' }));
  for (const tag of q.tags || []) parts.push(userText('bdi', `#${tag}`, { class: 'badge' }));
  return parts;
}

function fillQuestion(li, q) {
  li.dataset.status = q.status;
  li.classList.toggle('is-pinned', state.pinned === q.id && !isClosed());
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
  btn.hidden = isClosed();
  const meta = li.querySelector('.entry-meta');
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
  keepOrder();
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
  setText($('questions-empty-text'), isClosed() ? 'bc.noQuestionsClosed' : 'bc.noQuestions');
  const resortBtn = $('resort');
  // Only worth offering when the order would change.
  const sorted = openQuestions().sort(compare).map((q) => q.id);
  const differs = sorted.some((id, i) => state.order[i] !== id);
  resortBtn.hidden = !(state.updates > 0 && differs);
  setText(resortBtn, 'bc.resort', { n: state.updates });
}

function answerBox(q) {
  const box = el('div', { class: 'answer' });
  if (q.answer?.live || !q.answer?.text) {
    box.append(el('span', { class: 'label', testid: 'answer-text', i18n: 'bc.answeredLive' }));
  } else {
    box.append(el('span', { class: 'label', i18n: 'bc.answerLabel' }), ' ',
      userText('span', q.answer.text, { testid: 'answer-text', class: 'user-text' }));
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
    const li = el('li', { class: 'entry question', testid: 'question' },
      el('div', { class: 'entry-body' },
        userText('p', q.text, { class: 'entry-text question-text', testid: 'question-text' }),
        el('div', { class: 'entry-foot' },
          el('div', { class: 'entry-meta' }, ...metaChildren(q)),
          setCount(el('span', { class: 'votes', testid: 'votes' }), 'bc.votes', q.votes ?? 0)),
        answerBox(q)));
    li.dataset.id = String(q.id);
    li.dataset.status = q.status;
    return li;
  });
  const list = $('answered');
  clear(list);
  list.append(...wanted);
  $('answered-empty').hidden = wanted.length > 0;
}

// ---------------------------------------------------------------------------------------------------------
// My questions, each with its fate
// ---------------------------------------------------------------------------------------------------------

/** What happened to my question, in a word: the badge's key and colour. */
function fate(q) {
  const onScreen = (q.pinned ?? state.pinned === q.id) && q.status === 'approved' && !isClosed();
  if (onScreen) return ['bc.fate.onScreen', 'live', 'on_screen'];
  switch (q.status) {
    case 'pending': return ['bc.status.pending', 'warn', 'pending'];
    case 'approved': return ['bc.status.approved', 'ok', 'approved'];
    case 'answered': return ['bc.status.answered', 'ok', 'answered'];
    case 'hidden': return [q.hidden_reason ? 'bc.fate.hiddenBecause' : 'bc.status.hidden', 'danger', 'hidden'];
    case 'merged': return ['bc.status.merged', '', 'merged'];
    default: return [`bc.status.${q.status}`, '', q.status];
  }
}

let mineSig = '';
function renderMine(force = false) {
  // Rebuild only when my questions changed, so focus on Edit/Withdraw survives unrelated events.
  const sig = JSON.stringify([getLang(), isClosed(), state.pinned, [...state.sending.keys()],
    [...state.mine.values()].map((q) => [q.id, q.status, q.text, q.answer, q.hidden_reason, q.pinned, q.votes, q.moderated])]);
  if (sig === mineSig && !force) return;
  mineSig = sig;
  const list = $('mine');
  const focused = list.contains(document.activeElement) ? document.activeElement : null;
  const focusedAt = focused && { id: focused.closest('[data-testid="mine-item"]')?.dataset.id, testid: focused.dataset.testid };
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
  if (focusedAt?.id && !focused.isConnected) {
    const item = list.querySelector(`[data-testid="mine-item"][data-id="${focusedAt.id}"]`);
    (item?.querySelector(`[data-testid="${focusedAt.testid}"]`) || item?.querySelector('button') || $('panel-mine')).focus();
  }
}

function mineSendingItem(cmid, a) {
  const li = el('li', { class: 'entry mine-item', testid: 'mine-item' },
    el('div', { class: 'entry-body' },
      userText('p', a.text, { class: 'entry-text question-text', testid: 'mine-text' }),
      el('div', { class: 'fate' }, el('span', { class: 'badge warn', testid: 'mine-status', i18n: 'bc.status.sending' }))));
  li.dataset.status = 'sending';
  li.dataset.clientMsgId = cmid;
  return li;
}

function mineItem(q) {
  const [key, colour, word] = fate(q);
  const body = el('div', { class: 'entry-body' },
    userText('p', q.text, { class: 'entry-text question-text', testid: 'mine-text' }),
    el('div', { class: 'fate' },
      el('span', { class: `badge ${colour}`, testid: 'mine-status', i18n: key, args: { text: q.hidden_reason || '' } }),
      q.status === 'approved' || q.status === 'answered'
        ? setCount(el('span', { class: 'hint' }), 'bc.votes', q.votes ?? 0) : null,
      q.anonymous || q.author === null ? el('span', { class: 'hint', i18n: 'bc.askedAnonymously' }) : null));
  const li = el('li', { class: 'entry mine-item', testid: 'mine-item' }, body);
  li.dataset.id = String(q.id);
  li.dataset.status = q.status;
  li.dataset.fate = word;
  if (q.status === 'answered') body.append(answerBox(q));
  if (q.status === 'pending' && !isClosed()) body.append(el('p', { class: 'hint', i18n: 'bc.fate.pendingHint' }));
  if (EDITABLE.has(q.status) && !q.moderated && !isClosed()) {
    const err = el('p', { class: 'error', role: 'alert', hidden: true });
    body.append(el('div', { class: 'entry-actions actions' },
      el('button', { type: 'button', class: 'small', testid: 'edit', i18n: 'edit', on: { click: () => openEdit(li, q) } }),
      el('button', { type: 'button', class: 'small quiet', testid: 'withdraw', i18n: 'withdraw',
        on: { click: (ev) => withdraw(q, ev.currentTarget, err) } })), err);
  }
  return li;
}

function openEdit(li, q) {
  li.dataset.editing = '1';
  const input = el('textarea', { testid: 'edit-text-input', dir: 'auto', rows: 3, value: q.text, id: `edit-${q.id}` });
  const err = el('p', { class: 'error', role: 'alert', hidden: true });
  const done = () => {
    delete li.dataset.editing;
    renderMine(true);
    $('mine').querySelector(`[data-testid="mine-item"][data-id="${q.id}"] [data-testid="edit"]`)?.focus()
      || $('panel-mine').focus();
  };
  const form = el('form', { class: 'inline-form', noValidate: true },
    el('label', { htmlFor: `edit-${q.id}`, i18n: 'bc.editLabel' }), input,
    el('div', { class: 'row' },
      el('button', { type: 'submit', class: 'small primary', testid: 'edit-submit', i18n: 'save' }),
      el('button', { type: 'button', class: 'small', testid: 'edit-cancel', i18n: 'cancel', on: { click: done } })),
    err);
  form.addEventListener('keydown', (ev) => { if (ev.key === 'Escape') done(); });
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const text = input.value.trim();
    const max = state.broadcast.max_question_len;
    if (!text || charCount(text) > max) { showError(err, { code: 'bad_request' }); input.focus(); return; }
    try {
      const res = await client.send('edit', { broadcast: state.broadcast.id, question: q.id, text });
      upsertOwn(res.question);
      done();
    } catch (e) {
      showError(err, e);
    }
  });
  li.querySelector('.actions')?.remove();
  li.querySelector('.entry-body').append(form);
  input.focus();
}

async function withdraw(q, btn, err) {
  btn.setAttribute('aria-busy', 'true');
  try {
    await client.send('withdraw', { broadcast: state.broadcast.id, question: q.id });
    state.mine.set(q.id, { ...q, status: 'withdrawn' });
    state.questions.delete(q.id);
    renderAll();
    $('panel-mine').focus(); // the buttons are gone with the question's chance to be published
    toast('bc.withdrawn');
  } catch (e) {
    btn.setAttribute('aria-busy', 'false');
    showError(err, e);
  }
}

const TOLD = { on_screen: 'bc.told.onScreen', answered: 'bc.told.answered', hidden: 'bc.told.hidden', merged: 'bc.told.merged' };

/** Tell the asker what just happened to one of their questions (a toast, which is spoken too). */
function noteFate(prev, next) {
  if (!prev || !next) return;
  const before = fate(prev)[2];
  const after = fate(next)[2];
  if (before === after) return;
  if (after === 'approved' && (before === 'pending' || before === 'hidden')) toast('bc.told.approved');
  else if (TOLD[after]) toast(TOLD[after]);
}

/** One of my questions, as the ack, the public room or the personal room tells it. */
function upsertOwn(q, { fromPersonal = false } = {}) {
  const prev = state.mine.get(q.id);
  const merged = { ...prev, ...q };
  // The public view has no hide reason or pinned flag: keep what the personal room said.
  if (!fromPersonal && prev) {
    if (prev.hidden_reason !== undefined && q.hidden_reason === undefined) merged.hidden_reason = prev.hidden_reason;
    if (prev.pinned !== undefined && q.pinned === undefined) merged.pinned = prev.pinned;
  }
  state.mine.set(q.id, merged);
  if (q.status === 'approved' || q.status === 'answered') {
    if (!state.questions.has(q.id)) noteChange();
    state.questions.set(q.id, { ...state.questions.get(q.id), ...q });
  } else if (state.questions.has(q.id)) {
    state.questions.delete(q.id);
  }
  noteFate(prev, merged);
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
  if (state.voting.has(id) || isClosed()) return;
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

/** A changed display name: renamed in place where the server can, else a new session (the name is in the token). */
function applyName() {
  nameSwitch = nameSwitch.then(async () => {
    const wanted = $('name-input').value.trim();
    if (wanted === (state.session?.requested_name || '')) return;
    try {
      const { session } = await renameCitizenSession(wanted);
      state.session = session;
      client.restart();
    } catch (err) {
      showError($('ask-error'), err);
    }
  });
  return nameSwitch;
}

function isPausedError(err) {
  return err?.code === 'conflict' && (isPaused() || /paused/i.test(err.message || ''));
}

async function submitAsk(ev) {
  ev.preventDefault();
  const textarea = $('ask-text');
  const text = textarea.value.trim();
  const max = state.broadcast.max_question_len;
  showError($('ask-error'), null);
  clearText($('ask-notice'));
  state.pendingNotice = null;
  if (isClosed() || isPaused()) { showError($('ask-error'), { code: 'conflict' }); return; }
  if (!text || charCount(text) > max) {
    $('ask-error').hidden = false;
    setText($('ask-error'), text ? 'bc.askTooLong' : 'bc.askEmpty');
    textarea.focus();
    return;
  }
  await applyName();
  const fields = { broadcast: state.broadcast.id, text, client_msg_id: uuid() };
  if (state.broadcast.allow_anonymous) fields.anonymous = $('ask-anon').checked;
  state.sending.set(fields.client_msg_id, { text, anonymous: !!fields.anonymous });
  textarea.value = '';
  textarea.focus(); // ready for the next question; the notice below says what happened to this one
  updateCounter();
  renderMine();
  renderCounts();
  if (client.state !== 'open') setText($('ask-notice'), 'bc.askQueued');
  try {
    const res = await client.send('ask', fields);
    state.sending.delete(fields.client_msg_id);
    const q = res.question;
    upsertOwn(q);
    renderAll();
    // `duplicate` only means our own re-send after a reconnect reached the server twice: same message.
    if (q.status === 'pending') {
      state.pendingNotice = q.id;
      setText($('ask-notice'), 'bc.askSentPending');
    } else {
      clearText($('ask-notice'));
      toast('bc.askSent');
    }
  } catch (err) {
    state.sending.delete(fields.client_msg_id);
    renderMine();
    renderCounts();
    // Give the text back so the user does not have to retype it.
    if (!textarea.value) { textarea.value = text; updateCounter(); }
    clearText($('ask-notice'));
    if (isPausedError(err)) { $('ask-error').hidden = false; setText($('ask-error'), 'bc.paused'); } else showError($('ask-error'), err);
  }
}

// ---------------------------------------------------------------------------------------------------------
// Room data
// ---------------------------------------------------------------------------------------------------------

function onSnapshot(f) {
  if (f.room === state.userRoom) return onPersonalSnapshot(f);
  if (f.room !== publicRoom()) return undefined;
  const d = f.data;
  // An in-memory server that restarted may reuse the id for another broadcast: never show that one here.
  if (d.broadcast && state.broadcast && d.broadcast.code.toUpperCase() !== state.broadcast.code.toUpperCase()) {
    client.close();
    $('page').hidden = true;
    showLoadError('bc.notFound');
    return undefined;
  }
  const wasClosed = isClosed();
  state.broadcast = d.broadcast || state.broadcast;
  state.questions = new Map((d.questions || []).map((q) => [q.id, q]));
  state.pinned = d.pinned ?? null;
  state.participants = d.participants ?? state.participants;
  // With a personal room, it is the authority on my questions; the public snapshot only fills gaps.
  if (!state.personal) state.mine = new Map((d.mine || []).map((q) => [q.id, q]));
  else for (const q of d.mine || []) if (!state.mine.has(q.id)) state.mine.set(q.id, q);
  state.myVotes = new Set(d.my_votes || []);
  announcer.reset();
  resort();
  const first = !state.loaded;
  showPage();
  if ((first || !wasClosed) && isClosed()) onClosed();
  renderAll();
  return undefined;
}

function onPersonalSnapshot(f) {
  state.personal = true;
  const own = f.data?.questions || [];
  const prev = state.mine;
  state.mine = new Map(own.map((q) => [q.id, { ...prev.get(q.id), ...q }]));
  for (const q of own) {
    if ((q.status === 'approved' || q.status === 'answered') && !state.questions.has(q.id)) state.questions.set(q.id, q);
  }
  if (state.loaded) renderAll();
}

function onEvent(f) {
  if (f.room === state.userRoom) {
    if (f.kind === 'question') { upsertOwn(f.data, { fromPersonal: true }); renderAll(); }
    return undefined;
  }
  const d = f.data;
  switch (f.kind) {
    case 'question': return onQuestion(d);
    case 'question_removed': {
      state.questions.delete(d.id);
      const own = state.mine.get(d.id);
      if (own && own.status !== 'withdrawn' && !state.personal) upsertOwn({ ...own, status: 'hidden' });
      break;
    }
    case 'votes': {
      const q = state.questions.get(d.id);
      if (q && q.votes !== d.votes) { q.votes = d.votes; if (q.status === 'approved') noteChange(); }
      const own = state.mine.get(d.id);
      if (own) own.votes = d.votes;
      break;
    }
    case 'pinned': {
      const before = state.pinned;
      state.pinned = d.id ?? null;
      const q = state.questions.get(state.pinned);
      if (q) announcer.say('pinned', q.text);
      const mine = state.mine.get(state.pinned);
      if (mine && before !== state.pinned && !state.personal) toast('bc.told.onScreen');
      break;
    }
    case 'broadcast': {
      const wasClosed = isClosed();
      state.broadcast = d;
      if (!wasClosed && isClosed()) onClosed();
      break;
    }
    default:
      return undefined;
  }
  return renderAll();
}

function onQuestion(q) {
  const prev = state.questions.get(q.id);
  state.questions.set(q.id, q);
  if (state.mine.has(q.id)) upsertOwn(q);
  const becameOpen = q.status === 'approved' && prev?.status !== 'approved';
  if (becameOpen) noteChange();
  if (becameOpen && !prev && !state.mine.has(q.id)) announcer.say('question', q.text);
  // The pinned event may arrive before the pinned (just approved) question itself.
  if (q.id === state.pinned && !prev) announcer.say('pinned', q.text);
  renderAll();
}

/** The broadcast just ended: the answers become the page; the ask box and the live parts go. */
function onClosed() {
  state.pendingNotice = null;
  clearText($('ask-notice'));
  if (!state.tabChosen) selectTab('tab-answered');
  const active = document.activeElement;
  if (!active || active === document.body || !active.isConnected || active.closest('#ask-card')) $('bc-ended').focus?.();
}

function showPage() {
  $('page-loading').hidden = true;
  $('page').hidden = false;
  state.loaded = true;
}

function showLoadError(key, err) {
  $('page-loading').hidden = true;
  $('load-error').hidden = false;
  setText($('load-error-title'), key);
  const text = $('load-error-text');
  if (err) text.textContent = errorText(err); else text.textContent = '';
  text.hidden = !err;
  $('retry-code').value = state.code.toUpperCase();
}

// ---------------------------------------------------------------------------------------------------------
// Start
// ---------------------------------------------------------------------------------------------------------

function wireControls() {
  $('ask-form').addEventListener('submit', submitAsk);
  $('ask-text').addEventListener('input', () => {
    updateCounter();
    showError($('ask-error'), null);
    if (state.pendingNotice === null) clearText($('ask-notice')); // a queued/failed note was about the last one
  });
  $('ask-form').addEventListener('focusin', updateCounter);
  $('ask-form').addEventListener('focusout', () => setTimeout(updateCounter, 0));
  $('ask-text').addEventListener('keydown', (ev) => {
    if (ev.key === 'Enter' && (ev.ctrlKey || ev.metaKey)) { ev.preventDefault(); $('ask-form').requestSubmit(); }
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
  $('resort').addEventListener('click', () => {
    resort();
    renderQuestions();
    $('questions').querySelector('button')?.focus(); // the re-sort button disappears; keep focus in the list
  });
  selectTab = wireTabs($('bc-tabs'), (id) => { state.tab = id; });
  $('bc-tabs').addEventListener('click', () => { state.tabChosen = true; });
  $('bc-tabs').addEventListener('keydown', () => { state.tabChosen = true; });
  $('retry-form').addEventListener('submit', (ev) => {
    ev.preventDefault();
    const code = $('retry-code').value.trim().toUpperCase();
    if (!CODE_RE.test(code)) {
      $('retry-error').hidden = false;
      setText($('retry-error'), 'index.joinInvalid');
      $('retry-code').focus();
      return;
    }
    location.href = `broadcast.html?code=${encodeURIComponent(code)}`;
  });
}

/** Join the personal room of whoever we are now (a new identity after a rename on an older server). */
function followIdentity(user) {
  if (state.personal === false || !user?.sub) return;
  const room = `user:${user.sub}`;
  if (room === state.userRoom) return;
  if (state.userRoom) client.leave(state.userRoom);
  state.userRoom = room;
  client.join(room);
}

async function start() {
  initPage();
  wireControls();
  onLangChange(() => { if (state.loaded) { renderAll(); renderMine(true); } });
  if (!state.code) { showLoadError('bc.noCode'); return; }
  try {
    state.broadcast = await api('GET', `/api/broadcasts/${encodeURIComponent(state.code)}`);
  } catch (err) {
    if (err.code === 'not_found') showLoadError('bc.notFound');
    else showLoadError('bc.loadFailed', err);
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
  client.on('status', (s) => { state.conn = s; renderNotice(); });
  client.on('auth', followIdentity);
  client.on('snapshot', onSnapshot);
  client.on('event', onEvent);
  client.on('presence', (f) => {
    if (f.room !== publicRoom()) return;
    state.participants = f.participants;
    setCount($('participants'), 'bc.participants', f.participants);
  });
  client.on('join_error', ({ room, error }) => {
    if (room === state.userRoom) {
      // An older server has no personal rooms: the public room's `mine` and events carry my questions.
      state.personal = false;
      client.leave(room);
      state.userRoom = null;
      return;
    }
    if (!state.loaded) showLoadError(error.code === 'not_found' ? 'bc.notFound' : 'bc.loadFailed', error);
    else showListError(error);
  });
  window.majlis.client = client;
  client.join(publicRoom());
  client.connect();
}

window.majlis = { state, client: null };
start();
