// Shared widgets on top of app.css, for every page (and the chat widget and agent console to come):
// throttled screen-reader announcements, toasts, menus, confirmation dialogs, lists kept in place, state blocks
// and tabs.
import { t, el, setText, clearText, announce } from './common.js';

// ---------------------------------------------------------------------------------------------------------
// Announcements
// ---------------------------------------------------------------------------------------------------------

const ANNOUNCE_TEXT_MAX = 140;

function shorten(text) {
  const chars = [...(text || '')];
  return chars.length > ANNOUNCE_TEXT_MAX ? `${chars.slice(0, ANNOUNCE_TEXT_MAX).join('')}…` : chars.join('');
}

/**
 * Screen-reader announcements that never flood a busy room. Messages are grouped by kind and spoken at most
 * once every `intervalMs` through the page's polite live region: one message of a kind is read in full (its
 * text shortened), several become a count ("5 new questions"). `kinds` maps a kind to
 * `{ one: key with {text}, many: plural key with {n}, latest: true }`; `latest` kinds keep only the newest
 * message (e.g. "now answering"). The first message after a quiet spell is spoken almost at once.
 */
export function createAnnouncer(kinds, { intervalMs = 5000, gatherMs = 400 } = {}) {
  const waiting = new Map(); // kind → texts, in arrival order
  let lastSpoken = 0;
  let timer = 0;

  function flush() {
    timer = 0;
    const parts = [];
    for (const [kind, texts] of waiting) {
      const spec = kinds[kind];
      if (!spec || !texts.length) continue;
      if (texts.length === 1 || spec.latest) parts.push(t(spec.one, { text: shorten(texts[texts.length - 1]) }));
      else parts.push(t(spec.many, { n: texts.length }));
    }
    waiting.clear();
    if (!parts.length) return;
    lastSpoken = Date.now();
    announce(parts.join(' '));
  }

  return {
    say(kind, text) {
      if (!waiting.has(kind)) waiting.set(kind, []);
      waiting.get(kind).push(text ?? '');
      if (timer) return;
      const wait = Math.max(gatherMs, lastSpoken + intervalMs - Date.now());
      timer = setTimeout(flush, wait);
    },
    /** Drop what is waiting (e.g. the view was replaced by a fresh snapshot). */
    reset() { waiting.clear(); clearTimeout(timer); timer = 0; },
  };
}

// ---------------------------------------------------------------------------------------------------------
// Toasts
// ---------------------------------------------------------------------------------------------------------

const TOAST_MS = 4500;
const TOASTS_SHOWN = 2; // more would cover the page on a phone; the newest matter

/** A short confirmation at the bottom of the screen, also spoken (the container is a polite status region). */
export function toast(key, args) {
  let box = document.getElementById('toasts');
  if (!box) {
    box = el('div', { id: 'toasts', class: 'toasts', role: 'status', attrs: { 'aria-live': 'polite' } });
    document.body.append(box);
  }
  const node = el('div', { class: 'toast', testid: 'toast', i18n: key, args });
  for (const old of [...box.children]) if (old.textContent === t(key, args)) old.remove(); // no repeats
  box.append(node);
  while (box.children.length > TOASTS_SHOWN) box.firstElementChild.remove();
  setTimeout(() => node.remove(), TOAST_MS);
  return node;
}

// ---------------------------------------------------------------------------------------------------------
// Menus
// ---------------------------------------------------------------------------------------------------------

let openMenu = null;

/**
 * A menu button: `items` are `{ testid, key, args, run, danger, kbd }` or `'sep'`. The items are always in
 * the DOM (hidden until opened), so scripts and tests can reach them. Keyboard: Enter, Space or ↓ open on the
 * first item, ↑ on the last; ↑/↓/Home/End move; Escape closes and returns focus; Tab closes.
 */
export function menuButton({ key, args, testid, items, label }) {
  const list = el('div', { class: 'menu-list', role: 'menu', hidden: true });
  const button = el('button', {
    type: 'button', class: 'small', testid, i18n: key, args,
    attrs: { 'aria-haspopup': 'menu', 'aria-expanded': 'false' },
  });
  if (label) setText(button, label.key, label.args, 'aria-label');
  const wrap = el('div', { class: 'menu' }, button, list);
  const entries = () => [...list.querySelectorAll('.menu-item:not(:disabled)')];

  function close(focusButton) {
    if (list.hidden) return;
    list.hidden = true;
    button.setAttribute('aria-expanded', 'false');
    if (openMenu === api) openMenu = null;
    if (focusButton) button.focus();
  }
  function open(which) {
    if (openMenu && openMenu !== api) openMenu.close(false);
    list.hidden = false;
    button.setAttribute('aria-expanded', 'true');
    openMenu = api;
    // Open upwards when there is no room below (the last question on a phone).
    delete list.dataset.up;
    const r = list.getBoundingClientRect();
    if (r.bottom > window.innerHeight && button.getBoundingClientRect().top > r.height) list.dataset.up = '1';
    const all = entries();
    (which === 'last' ? all[all.length - 1] : all[0])?.focus();
  }
  const api = { close, open, button, wrap };

  for (const item of items) {
    if (!item) continue;
    if (item === 'sep') { list.append(el('div', { class: 'menu-sep', role: 'separator' })); continue; }
    const node = el('button', {
      type: 'button', class: `menu-item${item.danger ? ' danger' : ''}`, role: 'menuitem', testid: item.testid,
      attrs: { tabindex: '-1' }, disabled: !!item.disabled,
    }, el('span', { i18n: item.key, args: item.args }), item.kbd ? el('kbd', { text: item.kbd, attrs: { 'aria-hidden': 'true' } }) : null);
    // An on/off item (mute) is a checkbox item: menu items may not carry aria-pressed.
    if (item.pressed !== undefined) { node.setAttribute('role', 'menuitemcheckbox'); node.setAttribute('aria-checked', String(item.pressed)); }
    node.addEventListener('click', () => { close(true); item.run(); });
    list.append(node);
  }

  button.addEventListener('click', () => { if (list.hidden) open('first'); else close(false); });
  button.addEventListener('keydown', (ev) => {
    if (ev.key === 'ArrowDown' || ev.key === 'ArrowUp') {
      ev.preventDefault();
      ev.stopPropagation();
      open(ev.key === 'ArrowUp' ? 'last' : 'first');
    }
  });
  list.addEventListener('keydown', (ev) => {
    const all = entries();
    const i = all.indexOf(document.activeElement);
    const go = (n) => { ev.preventDefault(); all[(n + all.length) % all.length]?.focus(); };
    if (ev.key === 'ArrowDown') go(i + 1);
    else if (ev.key === 'ArrowUp') go(i - 1);
    else if (ev.key === 'Home') go(0);
    else if (ev.key === 'End') go(all.length - 1);
    else if (ev.key === 'Escape') { ev.preventDefault(); close(true); } else if (ev.key === 'Tab') close(false);
    else return;
    ev.stopPropagation(); // the page's own shortcuts must not act while a menu has the keys
  });
  return api;
}

document.addEventListener('pointerdown', (ev) => {
  if (openMenu && !openMenu.wrap.contains(ev.target)) openMenu.close(false);
});

// ---------------------------------------------------------------------------------------------------------
// Dialogs
// ---------------------------------------------------------------------------------------------------------

/**
 * Shows a modal <dialog> titled `title` (focus stays inside, Escape closes it) with `content` below the title,
 * focuses `first`, and resolves once it closes, with what `answer()` says then. The dialog is removed and focus
 * goes back where it was.
 */
export function modalDialog({ title, args, content, first, testid, answer }) {
  return new Promise((resolve) => {
    const back = document.activeElement;
    const titleId = `dlg-${Math.random().toString(36).slice(2)}`;
    const dialog = el('dialog', { class: 'dialog', testid, attrs: { 'aria-labelledby': titleId } },
      el('h2', { id: titleId, i18n: title, args }), ...content);
    dialog.addEventListener('close', () => {
      dialog.remove();
      if (back?.isConnected) back.focus();
      resolve(answer());
    });
    document.body.append(dialog);
    dialog.showModal();
    first().focus();
  });
}

/**
 * A modal confirmation, resolving to true when confirmed. Cancel has the focus first, so Enter never destroys
 * by accident.
 */
export function confirmDialog({ title, body, confirm, cancel = 'cancel', danger = false, testid = 'confirm-dialog', args }) {
  const cancelBtn = el('button', { type: 'button', testid: 'confirm-cancel', i18n: cancel });
  const okBtn = el('button', { type: 'button', class: danger ? 'danger' : 'primary', testid: 'confirm-ok', i18n: confirm });
  let confirmed = false;
  cancelBtn.addEventListener('click', () => cancelBtn.closest('dialog').close());
  okBtn.addEventListener('click', () => { confirmed = true; okBtn.closest('dialog').close(); });
  const content = [...[].concat(body).map((key) => el('p', { i18n: key, args })), el('div', { class: 'dialog-actions' }, cancelBtn, okBtn)];
  return modalDialog({ title, args, content, first: () => cancelBtn, testid, answer: () => confirmed });
}

// ---------------------------------------------------------------------------------------------------------
// Lists
// ---------------------------------------------------------------------------------------------------------

/** Put `wanted` nodes into `list` in order, moving only the ones out of place (focus survives re-renders). */
export function placeNodes(list, wanted) {
  const keep = new Set(wanted);
  for (const child of [...list.children]) if (!keep.has(child)) child.remove();
  wanted.forEach((node, i) => {
    if (list.children[i] !== node) list.insertBefore(node, list.children[i] || null);
  });
}

// ---------------------------------------------------------------------------------------------------------
// State blocks and tabs
// ---------------------------------------------------------------------------------------------------------

/**
 * Fill a `.state` block (loading, empty, error, offline, ended, paused): a title and an optional sentence.
 * `text` may be a key or `{ raw }` (an error sentence already translated).
 */
export function setStateBlock(node, kind, title, text, args) {
  node.classList.add('state');
  node.dataset.kind = kind;
  let titleNode = node.querySelector('.state-title');
  if (!titleNode) { titleNode = el('p', { class: 'state-title' }); node.prepend(titleNode); }
  setText(titleNode, title, args);
  let textNode = node.querySelector('.state-text');
  if (text) {
    if (!textNode) { textNode = el('p', { class: 'state-text' }); titleNode.after(textNode); }
    if (text.raw !== undefined) { clearText(textNode); textNode.textContent = text.raw; } else setText(textNode, text, args);
  } else textNode?.remove();
  return node;
}

/**
 * Tabs: `[role=tablist]` of `[role=tab][aria-controls]`. Arrow keys move (mirrored in right-to-left), Home/End
 * jump; a tab selects when focused. `onSelect(id)` hears every change. Returns `select(tabId, focus)`.
 */
export function wireTabs(tablist, onSelect) {
  const tabs = () => [...tablist.querySelectorAll('[role="tab"]')];
  function select(id, focus = false) {
    for (const tab of tabs()) {
      const on = tab.id === id;
      tab.setAttribute('aria-selected', String(on));
      tab.tabIndex = on ? 0 : -1;
      const panel = document.getElementById(tab.getAttribute('aria-controls'));
      if (panel) panel.hidden = !on;
      if (on && focus) tab.focus();
    }
    onSelect?.(id);
  }
  tablist.addEventListener('click', (ev) => {
    const tab = ev.target.closest('[role="tab"]');
    if (tab) select(tab.id);
  });
  tablist.addEventListener('keydown', (ev) => {
    const all = tabs();
    const i = all.indexOf(document.activeElement);
    if (i < 0) return;
    const rtl = document.documentElement.dir === 'rtl';
    let next = null;
    if (ev.key === 'ArrowRight') next = rtl ? i - 1 : i + 1;
    else if (ev.key === 'ArrowLeft') next = rtl ? i + 1 : i - 1;
    else if (ev.key === 'Home') next = 0;
    else if (ev.key === 'End') next = all.length - 1;
    if (next === null) return;
    ev.preventDefault();
    select(all[(next + all.length) % all.length].id, true);
  });
  return select;
}
