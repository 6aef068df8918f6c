// Landing page: live/upcoming broadcasts and the join-by-code form.
import { initPage, onLangChange, api, el, clear, setText, setLocalized, formatTime, showError } from './common.js';

const REFRESH_MS = 30_000;
const state = { broadcasts: null };

function broadcastCard(b) {
  const title = el('h3');
  setLocalized(title, b.title);
  const desc = el('p', { class: 'user-text' });
  setLocalized(desc, b.description);
  const badge = el('span', { class: `badge ${b.state === 'live' ? 'live' : ''}`, i18n: `state.${b.state}` });
  const when = el('span', { i18n: 'starts', args: { time: formatTime(b.starts_at) } });
  const code = el('span', { i18n: 'code', args: { code: b.code } });
  const link = el('a', {
    class: 'button primary',
    href: `broadcast.html?code=${encodeURIComponent(b.code)}`,
    testid: 'bc-join',
    i18n: 'index.open',
  });
  return el('li', { class: 'card bc-card', testid: 'bc-card', attrs: { 'data-code': b.code } },
    title,
    el('div', { class: 'row meta' }, badge, b.state === 'scheduled' ? when : null, code),
    desc.textContent ? desc : null,
    el('div', { class: 'row' }, link));
}

function render() {
  const list = document.getElementById('broadcasts');
  const status = document.getElementById('list-status');
  clear(list);
  if (!state.broadcasts) return;
  status.hidden = state.broadcasts.length > 0;
  if (!state.broadcasts.length) setText(status, 'index.none');
  for (const b of state.broadcasts) list.append(broadcastCard(b));
}

async function load() {
  const errNode = document.getElementById('list-error');
  try {
    const res = await api('GET', '/api/broadcasts');
    state.broadcasts = res.broadcasts || [];
    showError(errNode, null);
    render();
  } catch (err) {
    showError(errNode, err);
    document.getElementById('list-status').hidden = true;
  }
}

function wireJoinForm() {
  const form = document.getElementById('join-form');
  const input = document.getElementById('join-code');
  const errNode = document.getElementById('join-error');
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    const code = input.value.trim().toUpperCase();
    if (!/^[A-Z0-9]{2,16}$/.test(code)) {
      errNode.hidden = false;
      setText(errNode, 'index.joinInvalid');
      input.focus();
      return;
    }
    location.href = `broadcast.html?code=${encodeURIComponent(code)}`;
  });
}

initPage();
wireJoinForm();
onLangChange(render);
load();
setInterval(load, REFRESH_MS);
window.majlis = { state, reload: load };
