// Public FAQ: answered questions of ended and archived broadcasts, grouped by broadcast, with search.
import { initPage, onLangChange, api, el, userText, clear, setText, setLocalized, formatTime, errorText } from './common.js';
import { setStateBlock } from './ui.js';

const $ = (id) => document.getElementById(id);
const state = { groups: null, query: '', error: null };

/** Case- and diacritic-insensitive match, so "تسجيل" finds "التسجيل" and "Registration" finds "registration". */
function normalize(s) {
  return (s || '').toLocaleLowerCase().normalize('NFKD').replace(/[\u064B-\u065F\u0670\u0300-\u036f]/g, '');
}

function matches(item, query) {
  if (!query) return true;
  return normalize(`${item.question} ${item.answer?.text || ''} ${(item.tags || []).join(' ')}`).includes(query);
}

function faqItem(item) {
  // Each question is shown in its own language, whatever the page language is.
  const dir = item.lang === 'ar' ? 'rtl' : 'ltr';
  const answer = item.answer?.live || !item.answer?.text
    ? el('p', { class: 'answer', testid: 'faq-answer' }, el('span', { class: 'label', i18n: 'faq.live' }))
    : el('div', { class: 'answer' }, userText('p', item.answer.text, { testid: 'faq-answer', class: 'user-text' }));
  const li = el('li', { class: 'faq-item', testid: 'faq-item', lang: item.lang, dir },
    el('p', { class: 'faq-q user-text', testid: 'faq-question', text: item.question }),
    answer,
    item.tags?.length ? el('p', { class: 'faq-tags' }, ...item.tags.map((tag) => userText('bdi', `#${tag}`, { class: 'badge' }))) : null);
  li.dataset.id = String(item.id);
  return li;
}

function render() {
  const root = $('faq');
  const status = $('faq-status');
  clear(root);
  if (state.error) { status.hidden = false; setStateBlock(status, 'error', 'faq.loadFailed', { raw: errorText(state.error) }); return; }
  if (!state.groups) return;
  const query = normalize(state.query.trim());
  let shown = 0;
  for (const g of state.groups) {
    const items = (g.items || []).filter((it) => matches(it, query));
    if (!items.length) continue;
    shown += items.length;
    const title = el('h2');
    setLocalized(title, g.broadcast.title);
    const when = g.broadcast.ended_at || g.broadcast.starts_at;
    root.append(el('section', { class: 'card faq-group', testid: 'faq-group', attrs: { 'data-code': g.broadcast.code } },
      el('div', { class: 'card-head' }, title, el('span', { class: 'hint', text: formatTime(when) })),
      el('ul', { class: 'list' }, ...items.map(faqItem))));
  }
  status.hidden = shown > 0;
  const any = state.groups.some((g) => g.items?.length);
  if (!shown) setStateBlock(status, 'empty', any ? 'faq.noMatch' : 'faq.none', any ? 'faq.noMatchHint' : 'faq.noneHint');
  if (query) setText($('faq-count'), 'faq.count', { n: shown }); else setText($('faq-count'), 'faq.searchHint');
}

async function load() {
  try {
    const res = await api('GET', '/api/faq');
    state.groups = res.groups || [];
    state.error = null;
  } catch (err) {
    state.error = err;
  }
  render();
}

initPage();
onLangChange(render);
$('faq-search').addEventListener('input', (ev) => { state.query = ev.target.value; render(); });
window.majlis = { state };
load();
