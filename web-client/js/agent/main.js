// Agent console (agent.html): sign in with a staff token, then work the desk live: availability and languages,
// the queue, several chats at once, the offline inbox, and for admins canned responses, hours, caps and the
// report. Rooms: `desk`, my own `user:<sub>` (chats assigned to me or taken from me), and each chat's staff room.
import { initPage, onLangChange, getLang, t, api, setText, showError, MajlisClient, MajlisError, bindConnStatus } from '../common.js';
import { createAnnouncer, toast, wireTabs } from '../ui.js';
import { state, hooks, $, isAdmin, userRoom } from './state.js';
import { applyDeskSnapshot, applyDeskEvent, renderDesk, renderStatus, renderQueue, renderChatList, wireStatus, heldChats } from './desk.js';
import { applyStaffSnapshot, applyStaffEvent, onTyping, renderPane, select, follow, unfollow, wireChats } from './chats.js';
import { wireComposer, loadCanned, onCanned } from './composer.js';
import { loadInbox, onOffline, renderInboxCount, wireInbox } from './inbox.js';
import { renderCannedAdmin, loadHours, renderAgents, wireAdmin } from './admin.js';
import { loadReport, wireReport } from './report.js';

const TOKEN_KEY = 'majlis.agentToken';
const STAFF_ROLES = new Set(['agent', 'admin']);

const announcer = createAnnouncer({
  assigned: { one: 'agent.announceAssigned', many: 'agent.announceAssignedMany' },
  message: { one: 'agent.announceMessage', many: 'agent.announceMessages' },
  queued: { one: 'agent.announceQueued', many: 'agent.announceQueuedMany' },
  notice: { one: 'chat.announceNotice', latest: true },
}, { intervalMs: 4000 });

let selectTab = () => {};
const opened = new Set(); // tabs shown at least once (loaded on first sight)

// ---------------------------------------------------------------------------------------------------------
// Sign-in
// ---------------------------------------------------------------------------------------------------------

/** `majlis token --role agent` gives a token; a link `/agent.html#token=…` signs in (kept for this tab only). */
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
  if (!STAFF_ROLES.has(user.role)) return showSignIn('agent.notAgent');
  sessionStorage.setItem(TOKEN_KEY, token);
  state.token = token;
  state.user = user;
  $('signin').hidden = true;
  $('console').hidden = false;
  $('sign-out').hidden = false;
  $('whoami').hidden = false;
  for (const node of document.querySelectorAll('.admin-only')) node.hidden = !isAdmin();
  renderWhoami();
  await loadCanned();
  startClient();
  renderDesk();
  renderPane();
  return undefined;
}

function renderWhoami() {
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
  state.client?.close();
  location.href = location.pathname;
}

// ---------------------------------------------------------------------------------------------------------
// Rooms
// ---------------------------------------------------------------------------------------------------------

function startClient() {
  const client = new MajlisClient({
    getToken: async (force) => {
      if (force) throw new MajlisError('unauthorized', 'token rejected');
      return state.token;
    },
  });
  state.client = client;
  bindConnStatus(document.querySelector('[data-testid="conn-status"]'), client);
  client.on('status', (s) => { state.conn = s; });
  client.on('snapshot', onSnapshot);
  client.on('event', onEvent);
  client.on('typing', onTyping);
  client.on('join_error', ({ room, error }) => {
    const m = /^chat:(\d+):staff$/.exec(room);
    if (m) unfollow(Number(m[1])); else showError($('desk-error'), error);
  });
  client.on('auth_failed', () => showSignIn('mod.tokenInvalid'));
  window.majlis.client = client;
  client.join('desk');
  client.join(userRoom());
  client.connect();
}

function say(what) {
  if (what) announcer.say(what.kind, what.text);
}

function onSnapshot(f) {
  if (f.room === 'desk') {
    applyDeskSnapshot(f.data);
    renderDesk();
    if (opened.has('tab-agents')) renderAgents();
  } else if (f.room === userRoom()) {
    if (f.data.agent) state.me = f.data.agent;
    heldChats(f.data.chats);
    for (const c of f.data.chats || []) follow(c.id);
    renderDesk();
  } else {
    applyStaffSnapshot(f);
  }
}

function onEvent(f) {
  if (f.room === 'desk') {
    say(applyDeskEvent(f.kind, f.data));
    if (f.kind === 'agent') renderStatus();
    renderQueue();
    renderChatList();
    if (f.kind === 'agent' && opened.has('tab-agents')) renderAgents();
    if ((f.kind === 'canned' || f.kind === 'canned_removed') && opened.has('tab-canned')) renderCannedAdmin();
    return;
  }
  if (f.room === userRoom()) {
    onPersonal(f.kind, f.data);
    return;
  }
  say(applyStaffEvent(f));
}

function onPersonal(kind, d) {
  if (kind === 'assigned') {
    const s = d.chat;
    heldChats([s]);
    follow(s.id);
    const name = s.citizen_name || t('agent.citizen');
    announcer.say('assigned', d.from ? t('agent.assignedFrom', { name, from: d.from }) : name);
    toast(d.from ? 'agent.toastTransferred' : 'agent.toastAssigned', { name, from: d.from || '' });
    if (!state.selected) select(s.id, false);
    renderChatList();
  } else if (kind === 'released') {
    unfollow(d.chat);
  } else if (kind === 'agent') {
    state.me = d;
    renderStatus();
    renderQueue();
  }
}

// ---------------------------------------------------------------------------------------------------------
// Start
// ---------------------------------------------------------------------------------------------------------

function onTab(id) {
  const first = !opened.has(id);
  opened.add(id);
  if (id === 'tab-inbox' && first) loadInbox();
  if (id === 'tab-canned') renderCannedAdmin();
  if (id === 'tab-hours' && first) loadHours();
  if (id === 'tab-agents') renderAgents();
  if (id === 'tab-report' && first) loadReport();
}

function wire() {
  $('signin-form').addEventListener('submit', (ev) => {
    ev.preventDefault();
    const token = $('token-input').value.trim();
    if (token) signIn(token);
  });
  $('sign-out').addEventListener('click', signOut);
  selectTab = wireTabs($('console-tabs'), onTab);
  hooks.selectTab = (id) => { if ($(id)?.getAttribute('aria-selected') !== 'true') selectTab(id); };
  hooks.select = select;
  hooks.supervise = (id) => { follow(id); select(id, true); };
  hooks.renderDesk = renderDesk;
  hooks.renderChatList = renderChatList;
  hooks.renderPane = renderPane;
  hooks.renderInboxCount = renderInboxCount;
  hooks.onOffline = onOffline;
  hooks.onCanned = onCanned;
  hooks.onAgents = () => {};
  wireStatus();
  wireChats();
  wireComposer();
  wireInbox();
  wireAdmin();
  wireReport();
  opened.add('tab-chats');
  onLangChange(() => {
    renderWhoami();
    renderDesk();
    renderPane();
    if (opened.has('tab-agents')) renderAgents();
    if (opened.has('tab-canned')) renderCannedAdmin();
  });
}

window.majlis = { state, client: null, getLang };
initPage();
wire();
const token = takeTokenFromUrl();
if (token) signIn(token); else showSignIn(null);
