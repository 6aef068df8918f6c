// The moderation queue: pending questions first, one primary action per question and the rest in a menu,
// search and filters, approve-all, inline forms, and focus that follows the question you act on.
import { getLang, t, el, userText, clear, setText, formatClock, showError, authorName } from '../common.js';
import { menuButton, toast } from '../ui.js';
import { state, hooks, $, placeNodes } from './state.js';

const STATUS_ORDER = { approved: 0, answered: 1, hidden: 2, merged: 3, withdrawn: 4, pending: 5 };
const LIVE = new Set(['pending', 'approved', 'answered', 'hidden']);
const nodes = new Map(); // question id → <li data-testid="mod-question">
let activeId = null; // the question the list's roving tab stop is on

export function resetQuestions() {
  nodes.clear();
  activeId = null;
  clear($('mod-pending'));
  clear($('mod-others'));
}

// ---------------------------------------------------------------------------------------------------------
// What is shown
// ---------------------------------------------------------------------------------------------------------

/** Case- and diacritic-insensitive, so "تسجيل" finds "التسجيل" and "Registration" finds "registration". */
function normalize(s) {
  return (s || '').toLocaleLowerCase().normalize('NFKD').replace(/[\u064B-\u065F\u0670\u0300-\u036f]/g, '');
}

function matchesSearch(q) {
  const query = normalize(state.query.trim());
  if (!query) return true;
  if (/^#?\d+$/.test(query)) return String(q.id) === query.replace('#', '');
  const hay = [q.text, q.author?.name, q.author?.pseudonym, ...(q.tags || []), q.answer?.text].map(normalize).join(' ');
  return hay.includes(query);
}

function matchesFilter(q) {
  return state.filter === 'all' || q.status === state.filter;
}

/** Pending questions matching the search, oldest first: the queue, and what "approve all shown" approves. */
export function shownPending() {
  if (state.filter !== 'all' && state.filter !== 'pending') return [];
  return [...state.questions.values()].filter((q) => q.status === 'pending' && matchesSearch(q))
    .sort((a, b) => a.created_at - b.created_at || a.id - b.id);
}

function shownOthers() {
  if (state.filter === 'pending') return [];
  // Grouped by status, oldest first within a group: items never jump because of vote counts (no misclicks).
  return [...state.questions.values()].filter((q) => q.status !== 'pending' && matchesFilter(q) && matchesSearch(q))
    .sort((a, b) => (STATUS_ORDER[a.status] ?? 9) - (STATUS_ORDER[b.status] ?? 9)
      || (state.pinned === b.id) - (state.pinned === a.id) || a.created_at - b.created_at || a.id - b.id);
}

/** Every question item on screen, in reading order (what J and K move through). */
export function visibleItems() {
  return [...document.querySelectorAll('#mod-questions [data-testid="mod-question"]')].filter((li) => !li.closest('[hidden]'));
}

export function renderQuestions() {
  const pending = shownPending();
  const others = shownOthers();
  const focus = rememberFocus();
  const showQueue = state.filter === 'all' || state.filter === 'pending';
  const showOthers = state.filter !== 'pending';
  placeNodes($('mod-pending'), pending.map(updatedNode));
  placeNodes($('mod-others'), others.map(updatedNode));
  const shown = new Set([...pending, ...others].map((q) => q.id));
  for (const id of [...nodes.keys()]) if (!shown.has(id)) nodes.delete(id);
  $('queue-section').hidden = !showQueue;
  $('others-section').hidden = !showOthers;
  $('queue-empty').hidden = pending.length > 0;
  $('others-empty').hidden = others.length > 0;
  setText($('queue-empty').querySelector('.state-title'), state.query ? 'mod.noMatch' : 'mod.queueNone');
  setText($('others-empty').querySelector('.state-title'), state.query ? 'mod.noMatch' : 'mod.othersNone');
  $('queue-count').textContent = String(pending.length);
  $('others-count').textContent = String(others.length);
  renderFilterTabs();
  renderApproveAll(pending.length);
  restoreFocus(focus);
  syncTabStop();
}

function renderFilterTabs() {
  const all = [...state.questions.values()];
  const count = (s) => all.filter((q) => q.status === s).length;
  for (const btn of document.querySelectorAll('[data-filter]')) {
    const f = btn.dataset.filter;
    setText(btn, `mod.filter.${f}`, { n: f === 'all' ? all.length : count(f) });
    btn.setAttribute('aria-pressed', String(state.filter === f));
  }
}

function renderApproveAll(n) {
  const btn = $('approve-all');
  if (state.bulk) {
    setText(btn, 'mod.approveAllStop');
    btn.disabled = false;
  } else {
    setText(btn, 'mod.approveAll', { n });
    btn.disabled = n === 0;
  }
}

// ---------------------------------------------------------------------------------------------------------
// Focus: it follows the question acted on, and falls to its neighbour when the question leaves the view
// ---------------------------------------------------------------------------------------------------------

function rememberFocus() {
  const a = document.activeElement;
  const item = a?.closest?.('[data-testid="mod-question"]');
  if (!item) return null;
  const items = visibleItems();
  return { id: item.dataset.id, testid: a === item ? null : a.dataset.testid, node: a, index: items.indexOf(item) };
}

function restoreFocus(f) {
  if (!f || (f.node.isConnected && document.activeElement === f.node)) return;
  const item = document.querySelector(`#mod-questions [data-testid="mod-question"][data-id="${f.id}"]`);
  if (item && !item.closest('[hidden]')) {
    const target = (f.testid && item.querySelector(`[data-testid="${f.testid}"]`)) || item;
    focusItem(target === item ? item : null, target);
    return;
  }
  // The question left this view (approved while showing "pending", hidden, merged): its neighbour takes over.
  const items = visibleItems();
  const next = items[Math.min(f.index, items.length - 1)];
  if (next) focusItem(next);
  else $('queue-heading').focus();
}

/** Focus a question (or `target` inside it) and make it the list's tab stop. */
export function focusItem(li, target = li) {
  const item = li || target?.closest('[data-testid="mod-question"]');
  if (!item) return;
  activeId = item.dataset.id;
  syncTabStop();
  target.focus();
  item.scrollIntoView({ block: 'nearest' });
}

/** One tab stop for the whole list (the active question); J/K and arrows move within it. */
function syncTabStop() {
  const items = visibleItems();
  if (!items.some((li) => li.dataset.id === activeId)) activeId = items[0]?.dataset.id ?? null;
  for (const li of items) {
    li.tabIndex = li.dataset.id === activeId ? 0 : -1;
    li.classList.toggle('is-active', li.dataset.id === activeId && li.contains(document.activeElement));
  }
}

document.addEventListener('focusin', (ev) => {
  const item = ev.target.closest?.('#mod-questions [data-testid="mod-question"]');
  if (item) { activeId = item.dataset.id; }
  syncTabStop();
});

// ---------------------------------------------------------------------------------------------------------
// One question
// ---------------------------------------------------------------------------------------------------------

function updatedNode(q) {
  let li = nodes.get(q.id);
  if (!li) {
    li = el('li', { class: 'entry mod-question', testid: 'mod-question', attrs: { tabindex: '-1' } },
      el('div', { class: 'entry-body' },
        el('div', { class: 'entry-meta' }),
        userText('p', '', { class: 'entry-text question-text', testid: 'question-text' }),
        el('div', { class: 'details' }),
        el('div', { class: 'entry-actions actions' }),
        el('div', { class: 'form-slot' }),
        el('p', { class: 'error', role: 'alert', hidden: true })));
    li.dataset.id = String(q.id);
    nodes.set(q.id, li);
    if (state.questionsLoaded) li.classList.add('flash');
  }
  li.dataset.status = q.status;
  li.classList.toggle('is-pinned', state.pinned === q.id);
  fillInfo(li, q);
  const actions = li.querySelector('.actions');
  const sig = [actionsSignature(q), getLang()].join('|');
  // Rebuild the buttons only when the available actions change, so focus stays put otherwise.
  if (actions.dataset.sig !== sig) {
    const focusedTestid = actions.contains(document.activeElement) ? document.activeElement.dataset.testid : null;
    actions.dataset.sig = sig;
    clear(actions);
    actions.append(...actionButtons(li, q));
    if (focusedTestid) (actions.querySelector(`[data-testid="${focusedTestid}"]`) || li).focus();
  }
  // The item's name for screen readers when it has the focus: its status and text.
  li.setAttribute('aria-label', `${t(`mod.status.${q.status}`)}: ${q.text}`);
  return li;
}

export function fillInfo(li, q) {
  const meta = li.querySelector('.entry-meta');
  clear(meta);
  const parts = [
    el('span', { class: 'mono', text: `#${q.id}` }),
    el('span', { class: `badge ${q.status === 'pending' ? 'warn' : q.status === 'approved' || q.status === 'answered' ? 'ok' : ''}`,
      testid: 'mod-status', i18n: `mod.status.${q.status}` }),
    q.held ? el('span', { class: 'badge warn', testid: 'held', i18n: `mod.held.${q.held}` }) : null,
    state.pinned === q.id ? el('span', { class: 'badge live', i18n: 'bc.nowAnswering' }) : null,
    userText('bdi', authorName(q), { class: 'author', testid: 'mod-author' }),
    q.anonymous && !q.author?.pseudonym ? el('span', { i18n: 'mod.anonFlag' }) : null,
    q.author?.sub && state.muted.has(q.author.sub) ? el('span', { class: 'badge danger', i18n: 'mod.mutedFlag' }) : null,
    el('span', { i18n: 'mod.votesN', args: { n: q.votes ?? 0 }, testid: 'mod-votes' }),
    el('span', { text: formatClock(q.created_at) }),
    q.edited ? el('span', { i18n: 'edited' }) : null];
  meta.append(...parts.filter(Boolean));
  li.querySelector('[data-testid="question-text"]').textContent = q.text;
  const details = li.querySelector('.details');
  clear(details);
  const detail = (testid, key, text) => el('p', { class: 'detail', testid },
    el('span', { i18n: key }), ' ', userText('bdi', text));
  if (q.original_text) details.append(detail('original-text', 'mod.original', q.original_text));
  if (q.matched_keywords?.length) {
    details.append(detail('matched-keywords', 'mod.keywords', q.matched_keywords.join(getLang() === 'ar' ? '، ' : ', ')));
  }
  if (q.hidden_reason) details.append(detail('hidden-reason', 'mod.hiddenReason', q.hidden_reason));
  if (q.merged_into) details.append(el('p', { class: 'detail', testid: 'merged-into', i18n: 'mod.mergedInto', args: { id: q.merged_into } }));
  if (q.tags?.length) details.append(detail('tags-shown', 'mod.tagsShown', q.tags.join(', ')));
  if (q.answer) {
    details.append(q.answer.live || !q.answer.text
      ? el('p', { class: 'answer', testid: 'answer-shown' }, el('span', { class: 'label', i18n: 'bc.answeredLive' }))
      : el('p', { class: 'answer', testid: 'answer-shown' },
        el('span', { class: 'label', i18n: 'bc.answerLabel' }), userText('span', q.answer.text, { class: 'user-text' })));
  }
}

function actionsSignature(q) {
  return [q.status, state.pinned === q.id, q.author?.sub && state.muted.has(q.author.sub), !!q.author?.sub,
    state.broadcast?.state].join('|');
}

/** Everything one can do to `q` now, by testid; `primary` is the one thing most likely next. */
function actionsFor(li, q) {
  const s = q.status;
  const pinned = state.pinned === q.id;
  const live = LIVE.has(s);
  const a = {};
  if (s === 'pending' || s === 'hidden') a.approve = { key: 'mod.approve', kbd: 'A', run: () => command(li, 'approve', q) };
  if (live && s !== 'hidden') {
    a[pinned ? 'unpin' : 'pin'] = { key: pinned ? 'mod.unpin' : 'mod.pin', kbd: 'P', run: () => command(li, pinned ? 'unpin' : 'pin', q) };
  }
  if (s === 'approved' || s === 'answered') {
    a['answer-live'] = { key: 'mod.answerLive', kbd: 'L', run: () => command(li, 'answer', q, { live: true }) };
    a.answer = { key: s === 'answered' ? 'mod.answerEdit' : 'mod.answer', kbd: 'N', run: () => openForm(li, q, 'answer') };
  }
  if (live && s !== 'hidden') a.hide = { key: 'mod.hide', kbd: 'H', run: () => openForm(li, q, 'hide') };
  if (live) a.edit = { key: 'mod.edit', kbd: 'E', run: () => openForm(li, q, 'edit') };
  if (live) a.tags = { key: 'mod.tags', run: () => openForm(li, q, 'tags') };
  if (s === 'pending' || s === 'approved') a.merge = { key: 'mod.merge', run: () => openForm(li, q, 'merge') };
  if (q.author?.sub) {
    const muted = state.muted.has(q.author.sub);
    a.mute = { key: muted ? 'mod.unmute' : 'mod.mute', pressed: muted, run: () => muteAuthor(li, q, !muted) };
  }
  let primary = null;
  if (s === 'pending') primary = 'approve';
  else if (s === 'approved') primary = pinned ? 'answer-live' : 'pin';
  else if (s === 'hidden') primary = 'approve';
  return { actions: a, primary };
}

function actionButtons(li, q) {
  const { actions, primary } = actionsFor(li, q);
  const out = [];
  if (primary) {
    const p = actions[primary];
    const btn = el('button', { type: 'button', class: `small ${q.status === 'hidden' ? '' : 'primary'}`, testid: primary, i18n: p.key,
      on: { click: p.run } });
    btn.setAttribute('aria-keyshortcuts', p.kbd);
    out.push(btn);
  }
  const rest = Object.entries(actions).filter(([testid]) => testid !== primary);
  if (rest.length) {
    const menu = menuButton({
      key: 'mod.more', testid: 'more', label: { key: 'mod.moreAria', args: { id: q.id } },
      items: rest.map(([testid, x]) => ({ testid, key: x.key, kbd: x.kbd, run: x.run, pressed: x.pressed })),
    });
    out.push(menu.wrap);
  }
  return out;
}

/** Run a shortcut on the question `li`: the same action its button or menu item would run. */
export function runAction(li, testid) {
  const q = state.questions.get(Number(li.dataset.id));
  if (!q) return false;
  const { actions } = actionsFor(li, q);
  const name = testid === 'pin' && state.pinned === q.id ? 'unpin' : testid;
  if (!actions[name]) return false;
  actions[name].run();
  return true;
}

/** Send a moderation command for `q`; errors show on the question. Resolves to whether it worked. */
export async function command(li, type, q, extra = {}) {
  const errNode = li.querySelector('.error');
  showError(errNode, null);
  const fields = { broadcast: state.openId, ...extra };
  if (type !== 'unpin') fields.question = q.id;
  try {
    const res = await state.client.send(type, fields);
    if (type === 'pin') state.pinned = q.id;
    if (type === 'unpin') state.pinned = null;
    applyAck(res);
    hooks.renderOpenHeader();
    renderQuestions();
    return true;
  } catch (err) {
    showError(errNode, err);
    return false;
  }
}

/** Apply a question returned in an ack right away (the matching event may still be on its way). */
function applyAck(res) {
  if (res?.question && typeof res.question === 'object') {
    const prev = state.questions.get(res.question.id) || {};
    state.questions.set(res.question.id, { ...prev, ...res.question });
  }
}

async function muteAuthor(li, q, muted) {
  const errNode = li.querySelector('.error');
  showError(errNode, null);
  try {
    await state.client.send('mute', { broadcast: state.openId, user: q.author.sub, muted });
    if (muted) state.muted.add(q.author.sub); else state.muted.delete(q.author.sub);
    renderQuestions();
    toast(muted ? 'mod.mutedToast' : 'mod.unmutedToast', { name: authorName(q) });
  } catch (err) {
    showError(errNode, err);
  }
}

// ---------------------------------------------------------------------------------------------------------
// Inline forms (no window.prompt: keyboard- and test-friendly)
// ---------------------------------------------------------------------------------------------------------

function parseTags(text) {
  // Accept the Arabic comma too.
  return [...new Set(text.split(/[,،]/).map((s) => s.trim()).filter(Boolean))];
}

function mergeTargets(q) {
  return [...state.questions.values()]
    .filter((o) => o.id !== q.id && ['approved', 'answered', 'pending'].includes(o.status))
    .sort((a, b) => a.id - b.id);
}

function formSpec(q, kind) {
  const area = (testid, value) => el('textarea', { testid, dir: 'auto', rows: 3, value: value ?? '' });
  const line = (testid, value) => el('input', { type: 'text', testid, dir: 'auto', value: value ?? '' });
  switch (kind) {
    case 'hide':
      return { label: 'mod.hideReason', hint: 'mod.hideHint', input: line('hide-reason-input', ''), submit: ['hide-submit', 'mod.hideSubmit'],
        run: (v) => ['hide', { reason: v.trim() }] };
    case 'answer':
      return { label: 'mod.answerLabel', input: area('answer-text-input', q.answer?.text),
        submit: ['answer-submit', 'mod.answerSubmit'], required: true, run: (v) => ['answer', { text: v.trim() }] };
    case 'edit':
      return { label: 'mod.editLabel', input: area('edit-text-input', q.text), submit: ['edit-submit', 'save'],
        required: true, run: (v) => ['mod_edit', { text: v.trim() }] };
    case 'tags':
      return { label: 'mod.tagsLabel', input: line('tags-input', (q.tags || []).join(', ')),
        submit: ['tags-submit', 'mod.tagsSubmit'], run: (v) => ['tag', { tags: parseTags(v) }] };
    case 'merge': {
      const select = el('select', { testid: 'merge-target' });
      for (const o of mergeTargets(q)) {
        const short = [...o.text].slice(0, 80).join('');
        select.append(el('option', { value: String(o.id), text: `#${o.id} — ${short}` }));
      }
      return { label: 'mod.mergeLabel', input: select, submit: ['merge-submit', 'mod.mergeSubmit'],
        empty: select.options.length === 0, run: (v) => ['merge', { into: Number(v) }] };
    }
    default:
      return null;
  }
}

export function openForm(li, q, kind) {
  const slot = li.querySelector('.form-slot');
  const errNode = li.querySelector('.error');
  showError(errNode, null);
  clear(slot);
  const spec = formSpec(q, kind);
  const inputId = `f-${kind}-${q.id}`;
  spec.input.id = inputId;
  // Back to the question when the form goes (it is where the next shortcut acts).
  const close = () => { clear(slot); if (li.isConnected) focusItem(li); };
  const submitBtn = el('button', { type: 'submit', class: 'small primary', testid: spec.submit[0], i18n: spec.submit[1],
    disabled: !!spec.empty });
  const form = el('form', { class: 'inline-form', noValidate: true, attrs: { 'data-form': kind } },
    el('label', { htmlFor: inputId, i18n: spec.label }),
    spec.input,
    spec.hint ? el('p', { class: 'hint', i18n: spec.hint }) : null,
    spec.empty ? el('p', { class: 'hint', i18n: 'mod.mergeNone' }) : null,
    el('div', { class: 'row' }, submitBtn,
      el('button', { type: 'button', class: 'small', testid: 'form-cancel', i18n: 'cancel', on: { click: close } })));
  form.addEventListener('keydown', (ev) => {
    if (ev.key === 'Escape') { ev.preventDefault(); close(); }
    if (ev.key === 'Enter' && (ev.ctrlKey || ev.metaKey)) { ev.preventDefault(); form.requestSubmit(); }
  });
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const value = spec.input.value;
    if (spec.required && !value.trim()) { showError(errNode, { code: 'bad_request' }); spec.input.focus(); return; }
    const [type, extra] = spec.run(value);
    submitBtn.setAttribute('aria-busy', 'true');
    const ok = await command(li, type, q, extra);
    submitBtn.setAttribute('aria-busy', 'false');
    if (ok) close();
  });
  slot.append(form);
  spec.input.focus();
}

// ---------------------------------------------------------------------------------------------------------
// Approve all shown: one approve after another, waiting out rate limits as the server asks
// ---------------------------------------------------------------------------------------------------------

const sleep = (ms) => new Promise((resolve) => { setTimeout(resolve, ms); });

export async function approveAllShown() {
  if (state.bulk) { state.bulk.cancelled = true; return; }
  const ids = shownPending().map((q) => q.id);
  if (!ids.length) return;
  const bulk = { done: 0, total: ids.length, cancelled: false, failed: 0 };
  state.bulk = bulk;
  const status = $('bulk-status');
  renderQuestions();
  for (const id of ids) {
    if (bulk.cancelled || state.bulk !== bulk) break;
    const q = state.questions.get(id);
    if (!q || q.status !== 'pending') { bulk.done += 1; continue; }
    setText(status, 'mod.approving', { done: bulk.done, total: bulk.total });
    for (;;) {
      try {
        applyAck(await state.client.send('approve', { broadcast: state.openId, question: id }));
        break;
      } catch (err) {
        if (err.code === 'rate_limited' && !bulk.cancelled) { await sleep(err.retryAfterMs ?? 1000); continue; }
        bulk.failed += 1;
        break;
      }
    }
    bulk.done += 1;
    renderQuestions();
  }
  state.bulk = null;
  setText(status, bulk.failed ? 'mod.approvedSomeFailed' : 'mod.approvedAll', { n: bulk.done - bulk.failed, failed: bulk.failed });
  renderQuestions();
}
