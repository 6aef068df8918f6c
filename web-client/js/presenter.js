// Presenter / big-screen view: the pinned question as large as its box allows, the join code and QR code, an
// optional board of the top questions (?board=1 or T), and a thank-you screen once the broadcast has ended.
// In full screen (F) or with ?screen=1 no control shows.
import {
  initPage, onLangChange, getLang, setLang, t, api, el, userText, clear, setText, setCount, setLocalized, errorText,
  getCitizenSession, MajlisClient, bindConnStatus, authorName,
} from './common.js';

const $ = (id) => document.getElementById(id);
const params = new URLSearchParams(location.search);
const BOARD_SIZE = 5;
const FIT_MIN_PX = 18;
const FIT_MAX_PX = 96;

const state = {
  code: (params.get('code') || '').trim().toUpperCase(),
  broadcast: null,
  questions: new Map(),
  pinned: null,
  participants: 0,
  board: params.get('board') === '1',
};

// A separate session key: the big screen must not share (and disturb) a citizen's own session in this browser.
const SESSION_KEY = 'majlis.presenterSession';

const isClosed = () => ['ended', 'archived'].includes(state.broadcast?.state);

/**
 * The largest type at which `text` fits its box, found by bisection (the box's size comes from the layout,
 * so a long question shrinks instead of running off the screen and hiding its author and votes).
 */
function fitText() {
  const box = $('presenter-fit');
  const text = $('presenter-pinned-text');
  if (text.hidden || !box.clientHeight) return;
  const max = Math.min(FIT_MAX_PX, Math.max(FIT_MIN_PX, box.clientWidth / 9));
  let lo = FIT_MIN_PX;
  let hi = max;
  const fits = (px) => {
    text.style.fontSize = `${px}px`;
    return text.scrollHeight <= box.clientHeight && text.scrollWidth <= box.clientWidth;
  };
  if (fits(hi)) return;
  for (let i = 0; i < 12 && hi - lo > 0.5; i++) {
    const mid = (lo + hi) / 2;
    if (fits(mid)) lo = mid; else hi = mid;
  }
  fits(lo);
}

function render() {
  const b = state.broadcast;
  if (b) {
    setLocalized($('presenter-title'), b.title);
    document.title = `${$('presenter-title').textContent} — ${t('app.name')}`;
  }
  const closed = isClosed();
  $('presenter-stage').hidden = closed;
  $('presenter-join').hidden = closed;
  $('presenter-ended').hidden = !closed;
  document.body.classList.toggle('is-ended', closed);
  if (closed) renderEnded();
  const notice = $('presenter-notice');
  notice.hidden = !(b?.paused && !closed);
  if (!notice.hidden) setText(notice, 'pres.paused');
  const q = state.pinned !== null ? state.questions.get(state.pinned) : null;
  $('presenter-pinned-text').textContent = q ? q.text : '';
  $('presenter-author').textContent = q ? authorName(q) : '';
  setCount($('presenter-votes'), 'bc.votes', q ? q.votes ?? 0 : 0);
  $('presenter-pinned-text').hidden = !q;
  $('presenter-meta').hidden = !q;
  $('presenter-waiting').hidden = !!q;
  setCount($('presenter-participants'), 'bc.participants', state.participants);
  renderBoard();
  fitText();
}

function renderBoard() {
  const on = state.board && !isClosed();
  $('presenter-board').hidden = !on;
  $('board-toggle').setAttribute('aria-pressed', String(state.board));
  if (!on) return;
  const top = [...state.questions.values()].filter((q) => q.status === 'approved' && q.id !== state.pinned)
    .sort((a, b) => b.votes - a.votes || a.created_at - b.created_at).slice(0, BOARD_SIZE);
  const list = $('board-list');
  clear(list);
  for (const q of top) {
    list.append(el('li', { testid: 'board-item' },
      setCount(el('span', { class: 'board-votes' }), 'bc.votes', q.votes ?? 0),
      userText('span', q.text, { class: 'board-text' })));
  }
  if (!top.length) list.append(el('li', { class: 'hint', i18n: 'pres.boardNone' }));
}

function renderEnded() {
  const answered = [...state.questions.values()].filter((q) => q.status === 'answered').length;
  setText($('ended-answered'), 'pres.endedAnswered', { n: answered });
  $('ended-url').textContent = `${location.host}/faq.html`;
}

function renderJoin() {
  const code = state.broadcast?.code || state.code;
  $('presenter-code').textContent = code;
  $('presenter-url').textContent = `${location.host}/b/${code}`;
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

function toggleFullscreen() {
  if (document.fullscreenElement) document.exitFullscreen(); else document.documentElement.requestFullscreen?.();
}

function toggleBoard() {
  state.board = !state.board;
  render();
}

/** With the controls hidden on the big screen, the keyboard still works: F, T and L. */
function wireKeys() {
  document.addEventListener('keydown', (ev) => {
    if (ev.ctrlKey || ev.metaKey || ev.altKey || ev.target.closest?.('input, textarea')) return;
    const key = ev.key.toLowerCase();
    if (key === 'f') toggleFullscreen();
    else if (key === 't') toggleBoard();
    else if (key === 'l') setLang(getLang() === 'ar' ? 'en' : 'ar');
  });
}

async function start() {
  initPage();
  if (params.get('screen') === '1') document.body.classList.add('is-screen');
  onLangChange(render);
  $('fullscreen').addEventListener('click', toggleFullscreen);
  $('board-toggle').addEventListener('click', toggleBoard);
  wireKeys();
  new ResizeObserver(fitText).observe($('presenter-fit'));
  // Arabic and Latin fonts load as they are first needed, and change how much room the text takes.
  document.fonts?.addEventListener?.('loadingdone', fitText);
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

window.majlis = { state, client: null, fitText };
start();
