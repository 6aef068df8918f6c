// Agent console (agent.html): sign in with a staff token, then work the desk live: availability and languages,
// the queue, several chats at once, the offline inbox, and for admins canned responses, hours, caps and the
// report. Rooms: `desk`, my own `user:<sub>` (chats assigned to me or taken from me), and each chat's staff room.
import { initPage, onLangChange, getLang, t, showError } from '../common.js';
import { startStaffConsole, staffClient } from '../staff.js';
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
// Rooms
// ---------------------------------------------------------------------------------------------------------

/** Signed in: the admin tabs for admins, the canned responses, then the desk's rooms. */
async function onSignedIn() {
  for (const node of document.querySelectorAll('.admin-only')) node.hidden = !isAdmin();
  await loadCanned();
  startClient();
  renderDesk();
  renderPane();
}

function startClient() {
  const client = staffClient(state);
  client.on('status', (s) => { state.conn = s; });
  client.on('snapshot', onSnapshot);
  client.on('event', onEvent);
  client.on('typing', onTyping);
  client.on('join_error', ({ room, error }) => {
    const m = /^chat:(\d+):staff$/.exec(room);
    if (m) unfollow(Number(m[1])); else showError($('desk-error'), error);
  });
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
    renderDesk();
    renderPane();
    if (opened.has('tab-agents')) renderAgents();
    if (opened.has('tab-canned')) renderCannedAdmin();
  });
}

window.majlis = { state, client: null, getLang };
initPage();
wire();
startStaffConsole({ state, tokenKey: TOKEN_KEY, roles: STAFF_ROLES, notStaffKey: 'agent.notAgent', onSignedIn });
