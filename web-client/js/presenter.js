// Presenter / big-screen view: the pinned question, large, with the join code and QR code.
import {
  initPage, onLangChange, t, api, setText, setCount, setLocalized, errorText, getCitizenSession, MajlisClient, bindConnStatus, authorName,
} from './common.js';

const $ = (id) => document.getElementById(id);

const state = {
  code: (new URLSearchParams(location.search).get('code') || '').trim().toUpperCase(),
  broadcast: null,
  questions: new Map(),
  pinned: null,
  participants: 0,
};

// A separate session key: the big screen must not share (and disturb) a citizen's own session in this browser.
const SESSION_KEY = 'majlis.presenterSession';

function render() {
  const b = state.broadcast;
  if (b) {
    setLocalized($('presenter-title'), b.title);
    document.title = `${$('presenter-title').textContent} — ${t('app.name')}`;
  }
  const q = state.pinned !== null ? state.questions.get(state.pinned) : null;
  $('presenter-pinned-text').textContent = q ? q.text : '';
  $('presenter-author').textContent = q ? authorName(q) : '';
  setCount($('presenter-votes'), 'bc.votes', q ? q.votes ?? 0 : 0);
  $('presenter-pinned-text').hidden = !q;
  $('presenter-meta').hidden = !q;
  $('presenter-waiting').hidden = !!q;
  setCount($('presenter-participants'), 'bc.participants', state.participants);
}

function renderJoin() {
  const code = state.broadcast?.code || state.code;
  $('presenter-code').textContent = code;
  $('presenter-url').textContent = `${location.origin}/b/${code}`;
  $('presenter-qr').src = `/api/broadcasts/${encodeURIComponent(code)}/qr.svg`;
}

function onSnapshot(f) {
  const d = f.data;
  // An in-memory server that restarted may reuse the id for another broadcast: never show that one here.
  if (d.broadcast && state.broadcast && d.broadcast.code.toUpperCase() !== state.broadcast.code.toUpperCase()) {
    window.majlis.client?.close();
    showError({ code: 'not_found' });
    return;
  }
  state.broadcast = d.broadcast || state.broadcast;
  state.questions = new Map((d.questions || []).map((q) => [q.id, q]));
  state.pinned = d.pinned ?? null;
  state.participants = d.participants ?? state.participants;
  render();
}

function onEvent(f) {
  const d = f.data;
  if (f.kind === 'question') state.questions.set(d.id, d);
  else if (f.kind === 'question_removed') state.questions.delete(d.id);
  else if (f.kind === 'votes') { const q = state.questions.get(d.id); if (q) q.votes = d.votes; }
  else if (f.kind === 'pinned') state.pinned = d.id ?? null;
  else if (f.kind === 'broadcast') state.broadcast = d;
  render();
}

function showError(err) {
  const node = $('load-error');
  node.hidden = false;
  if (err.code === 'not_found') setText(node, 'bc.notFound'); else node.textContent = errorText(err);
}

async function start() {
  initPage();
  onLangChange(render);
  $('fullscreen').addEventListener('click', () => {
    if (document.fullscreenElement) document.exitFullscreen(); else document.documentElement.requestFullscreen?.();
  });
  if (!state.code) { $('load-error').hidden = false; setText($('load-error'), 'bc.noCode'); return; }
  renderJoin();
  render();
  try {
    state.broadcast = await api('GET', `/api/broadcasts/${encodeURIComponent(state.code)}`);
  } catch (err) {
    showError(err);
    return;
  }
  renderJoin();
  render();
  const client = new MajlisClient({
    getToken: async (force) => (await getCitizenSession({ key: SESSION_KEY, force })).token,
  });
  bindConnStatus(document.querySelector('[data-testid="conn-status"]'), client);
  client.on('snapshot', onSnapshot);
  client.on('event', onEvent);
  client.on('presence', (f) => { state.participants = f.participants; render(); });
  client.on('join_error', ({ error }) => showError(error));
  window.majlis.client = client;
  // A screen, not a person: the audience's participant count and the statistics leave it out.
  client.join(`broadcast:${state.broadcast.id}`, { observer: true });
  client.connect();
}

window.majlis = { state, client: null };
start();
