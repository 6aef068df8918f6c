// Landing page: live and upcoming broadcasts, and joining by code (a wrong code is said right here).
import { initPage, onLangChange, api, el, clear, setText, setLocalized, formatTime, errorText } from './common.js';
import { setStateBlock } from './ui.js';

const REFRESH_MS = 30_000;
const CODE_RE = /^[A-Z0-9]{2,16}$/;
const state = { broadcasts: null, error: null };
const $ = (id) => document.getElementById(id);

function broadcastCard(b) {
  const title = el('h3');
  setLocalized(title, b.title);
  const desc = el('p', { class: 'user-text' });
  setLocalized(desc, b.description);
  const live = b.state === 'live';
  const badge = el('span', { class: `badge ${live ? 'live' : 'info'}`, i18n: `state.${b.state}` });
  const when = el('span', { class: 'hint', i18n: 'starts', args: { time: formatTime(b.starts_at) } });
  const link = el('a', {
    class: `button ${live ? 'primary' : ''}`,
    href: `broadcast.html?code=${encodeURIComponent(b.code)}`,
    testid: 'bc-join',
    i18n: live ? 'index.openLive' : 'index.open',
    attrs: { 'aria-describedby': `card-title-${b.id}` },
  });
  title.id = `card-title-${b.id}`;
  return el('li', { class: `card bc-card ${live ? 'is-live' : ''}`, testid: 'bc-card', attrs: { 'data-code': b.code } },
    el('div', { class: 'row' }, badge, b.state === 'scheduled' ? when : null),
    title,
    desc.textContent ? desc : null,
    el('div', { class: 'row spread' }, el('span', { class: 'hint mono', text: b.code }), link));
}

function render() {
  const list = $('broadcasts');
  const status = $('list-status');
  clear(list);
  if (state.error && !state.broadcasts) {
    status.hidden = false;
    setStateBlock(status, 'error', 'index.loadFailed', { raw: errorText(state.error) });
    return;
  }
  if (!state.broadcasts) return;
  status.hidden = state.broadcasts.length > 0;
  if (!state.broadcasts.length) setStateBlock(status, 'empty', 'index.none', 'index.noneHint');
  // Live sessions first: they are the ones people come for.
  const sorted = [...state.broadcasts].sort((a, b) => (a.state === 'live' ? 0 : 1) - (b.state === 'live' ? 0 : 1));
  for (const b of sorted) list.append(broadcastCard(b));
}

async function load() {
  try {
    const res = await api('GET', '/api/broadcasts');
    state.broadcasts = res.broadcasts || [];
    state.error = null;
  } catch (err) {
    state.error = err;
  }
  render();
}

function showJoinError(key, err) {
  const node = $('join-error');
  node.hidden = false;
  if (err) node.textContent = errorText(err); else setText(node, key);
  $('join-code').setAttribute('aria-invalid', 'true');
  $('join-code').focus();
}

function wireJoinForm() {
  const form = $('join-form');
  const input = $('join-code');
  input.addEventListener('input', () => { $('join-error').hidden = true; input.removeAttribute('aria-invalid'); });
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const code = input.value.trim().toUpperCase();
    if (!CODE_RE.test(code)) { showJoinError('index.joinInvalid'); return; }
    // Check first, so a mistyped code is said here rather than on a page of its own.
    const btn = $('join-submit');
    btn.setAttribute('aria-busy', 'true');
    try {
      await api('GET', `/api/broadcasts/${encodeURIComponent(code)}`);
      location.href = `broadcast.html?code=${encodeURIComponent(code)}`;
    } catch (err) {
      if (err.code === 'not_found') showJoinError('index.joinUnknown');
      else showJoinError(null, err);
    } finally {
      btn.setAttribute('aria-busy', 'false');
    }
  });
}

initPage();
wireJoinForm();
onLangChange(render);
load();
setInterval(load, REFRESH_MS);
window.majlis = { state, reload: load };
