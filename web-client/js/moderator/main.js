// Moderator console: sign in, then run broadcasts and moderate their questions live (the queue first).
import { initPage, onLangChange, getLang, setCount, showError, localized } from '../common.js';
import { startStaffConsole, staffClient } from '../staff.js';
import { createAnnouncer } from '../ui.js';
import { state, hooks, $, modRoom } from './state.js';
import { renderQuestions, fillInfo, approveAllShown } from './questions.js';
import {
  loadBroadcasts, upsertBroadcast, renderBroadcastList, openCreate, createBroadcast, openBroadcast, renderOpenHeader,
  goLive, endBroadcast, archiveBroadcast, togglePause, renderShareMenu, loadStats, renderStats, downloadCsv,
} from './session.js';
import { wireShortcuts } from './keys.js';

const TOKEN_KEY = 'majlis.staffToken';
const STAFF_ROLES = new Set(['moderator', 'admin']);

hooks.renderQuestions = renderQuestions;
hooks.renderOpenHeader = renderOpenHeader;

// Moderators hear of every new question, approved on arrival or not, in summaries when the room is busy.
const announcer = createAnnouncer({
  pending: { one: 'mod.announcePending', many: 'mod.announcePendingMany' },
  published: { one: 'mod.announcePublished', many: 'mod.announcePublishedMany' },
});

// ---------------------------------------------------------------------------------------------------------
// Signed in
// ---------------------------------------------------------------------------------------------------------

/** Signed in: connect, list the broadcasts, and open the one the link names (`?b=<id>`). */
async function onSignedIn() {
  startClient();
  await loadBroadcasts();
  const wanted = Number(new URLSearchParams(location.search).get('b'));
  if (wanted) openBroadcast(wanted);
}

function startClient() {
  const client = staffClient(state);
  client.on('snapshot', onSnapshot);
  client.on('event', onEvent);
  client.on('presence', (f) => {
    if (f.room !== modRoom(state.openId) && f.room !== `broadcast:${state.openId}`) return;
    state.participants = f.participants;
    setCount($('open-participants'), 'bc.participants', f.participants);
  });
  client.on('join_error', ({ error }) => showError($('mq-error'), error));
  client.connect();
}

// ---------------------------------------------------------------------------------------------------------
// Room data
// ---------------------------------------------------------------------------------------------------------

function onSnapshot(f) {
  if (f.room !== modRoom(state.openId)) return;
  const d = f.data;
  if (d.broadcast) upsertBroadcast(d.broadcast);
  state.questions = new Map((d.questions || []).map((q) => [q.id, q]));
  state.pinned = d.pinned ?? null;
  state.muted = new Set(d.muted || []);
  state.participants = d.participants ?? state.participants;
  announcer.reset();
  renderBroadcastList();
  renderOpenHeader();
  renderQuestions();
  state.questionsLoaded = true;
}

function onEvent(f) {
  if (f.room !== modRoom(state.openId)) return;
  const d = f.data;
  switch (f.kind) {
    case 'question': {
      const isNew = !state.questions.has(d.id);
      state.questions.set(d.id, d);
      if (isNew && d.status === 'pending') announcer.say('pending', d.text);
      else if (isNew && d.status === 'approved') announcer.say('published', d.text);
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
      break;
    case 'broadcast':
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

// ---------------------------------------------------------------------------------------------------------
// Start
// ---------------------------------------------------------------------------------------------------------

async function pinnedCommand(type, extra = {}) {
  try {
    await state.client.send(type, { broadcast: state.openId, ...extra });
    if (type === 'unpin') state.pinned = null;
    renderOpenHeader();
    renderQuestions();
  } catch (err) {
    showError($('session-error'), err);
  }
}

function wire() {
  $('new-broadcast').addEventListener('click', openCreate);
  $('create-form').addEventListener('submit', createBroadcast);
  $('create-cancel').addEventListener('click', () => $('create-dialog').close());
  $('bc-refresh').addEventListener('click', loadBroadcasts);
  $('stats-csv').addEventListener('click', downloadCsv);
  $('go-live').addEventListener('click', goLive);
  $('end').addEventListener('click', endBroadcast);
  $('archive').addEventListener('click', archiveBroadcast);
  $('pause').addEventListener('click', togglePause);
  $('approve-all').addEventListener('click', approveAllShown);
  $('mod-pinned-unpin').addEventListener('click', () => pinnedCommand('unpin'));
  $('mod-pinned-answered').addEventListener('click', () => pinnedCommand('answer', { question: state.pinned, live: true }));
  $('mq-search').addEventListener('input', (ev) => { state.query = ev.target.value; renderQuestions(); });
  for (const btn of document.querySelectorAll('[data-filter]')) {
    btn.addEventListener('click', () => { state.filter = btn.dataset.filter; renderQuestions(); });
  }
  document.addEventListener('visibilitychange', () => { if (!document.hidden) loadStats(); });
  wireShortcuts();
  renderShareMenu();
  onLangChange(() => {
    renderBroadcastList();
    renderOpenHeader();
    renderShareMenu();
    for (const li of document.querySelectorAll('[data-testid="mod-question"]')) {
      const q = state.questions.get(Number(li.dataset.id));
      if (q) fillInfo(li, q);
    }
    renderQuestions();
    renderStats();
  });
}

window.majlis = { state, client: null, getLang, localized };
initPage();
wire();
renderQuestions();
startStaffConsole({ state, tokenKey: TOKEN_KEY, roles: STAFF_ROLES, notStaffKey: 'mod.notStaff', onSignedIn });
