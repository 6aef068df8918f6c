// Shared code for every Majlis page: translations (words in strings.js), DOM helpers, errors, the REST helper
// and citizen sessions. The WebSocket client is client.js (re-exported here); shared widgets are ui.js.
//
// Rule for the whole client: text that came from a user or from the server is only ever placed with
// textContent / createTextNode / setAttribute, never parsed as HTML.

import { STRINGS } from './strings.js';
import { MajlisError } from './client.js';

export { MajlisClient, MajlisError, wsUrl } from './client.js';

// ---------------------------------------------------------------------------------------------------------
// i18n
// ---------------------------------------------------------------------------------------------------------

const LANG_KEY = 'majlis.lang';
const langListeners = [];
let currentLang = detectLang();

/** The language boot.js chose in the page's <head> (the reader's choice, the browser's, the operator's). */
function detectLang() {
  return document.documentElement.lang === 'en' ? 'en' : 'ar';
}

export function getLang() {
  return currentLang;
}

const pluralRules = new Map();

/**
 * The CLDR plural category of the count `n` in `lang`: English has one/other; Arabic has zero, one, two,
 * few (3–10, 103–110, …), many (11–99, 111–199, …) and other (100–102, …), each with its own form of the noun.
 */
function pluralCategory(n, lang = currentLang) {
  if (!pluralRules.has(lang)) pluralRules.set(lang, new Intl.PluralRules(lang));
  return pluralRules.get(lang).select(Number(n) || 0);
}

/**
 * Translate `key`, replacing `{name}` placeholders from `args`. Missing keys show the key (visible in tests).
 * A string that depends on a count is an object of forms by plural category ({one, other} in English,
 * {zero, one, two, few, many, other} in Arabic); the count is `args.n`, and `other` is the fallback.
 */
export function t(key, args) {
  const lang = Object.hasOwn(STRINGS[currentLang] || {}, key) ? currentLang : 'en';
  let s = Object.hasOwn(STRINGS[lang], key) ? STRINGS[lang][key] : key;
  if (typeof s === 'object') s = s[pluralCategory(args?.n, lang)] ?? s.other;
  if (args) s = s.replace(/\{(\w+)\}/g, (m, name) => (name in args ? String(args[name]) : m));
  return s;
}

/** Exposed for the consistency check in tests: both languages must have the same keys. */
export const I18N_KEYS = { en: Object.keys(STRINGS.en), ar: Object.keys(STRINGS.ar) };

/**
 * Mark an element as translatable. The key (and args) live in data-* attributes so that a language
 * switch can re-translate the whole document with applyI18n() instead of every page re-rendering.
 * `attr` chooses where the text goes: 'text' (textContent), 'aria-label', 'placeholder', 'title', 'alt'.
 */
export function setText(node, key, args, attr = 'text') {
  if (attr === 'text') { delete node.dataset.i18nIso; delete node.dataset.i18nIsoArgs; }
  const slot = attr === 'text' ? 'i18n' : `i18n${attr.replace(/(^|-)(\w)/g, (m, d, c) => c.toUpperCase())}`;
  node.dataset[slot] = key;
  const argSlot = `${slot}Args`;
  if (args) node.dataset[argSlot] = JSON.stringify(args);
  else delete node.dataset[argSlot];
  translateNode(node);
  return node;
}

/**
 * Show a count with its noun in the right plural form ("1 vote", "2 votes"; صوت واحد، صوتان، 3 أصوات، 11 صوتًا),
 * `key` being a plural string with `{n}`. Digits stay Latin, as elsewhere on the pages; `data-count` keeps the
 * bare number for scripts and tests. Follows language switches like setText().
 */
export function setCount(node, key, n, attr = 'text') {
  const count = Number(n) || 0;
  node.dataset.count = String(count);
  return setText(node, key, { n: count }, attr);
}

/**
 * Like setText(), for a sentence around user text (a name): each string argument goes in its own <bdi>, so an
 * English name in an Arabic sentence (or the reverse) keeps its own direction, also where the line wraps.
 * Follows language switches like setText(). A numeric `n` stays a number (plural forms).
 */
export function setTextIsolated(node, key, args = {}) {
  delete node.dataset.i18n;
  node.dataset.i18nIso = key;
  node.dataset.i18nIsoArgs = JSON.stringify(args);
  translateNode(node);
  return node;
}

function fillIsolated(node) {
  const args = readArgs(node, 'i18nIso') || {};
  const marked = {};
  for (const [k, v] of Object.entries(args)) marked[k] = typeof v === 'string' ? `\u0000${k}\u0000` : v;
  const parts = t(node.dataset.i18nIso, marked).split('\u0000');
  node.replaceChildren(...parts.map((part, i) => (i % 2 ? isolated(args[part]) : document.createTextNode(part))));
}

/**
 * A <bdi> holding user text. Text without letters (a phone number, a reference) has no direction of its own and
 * would take the sentence's, so "+973 3300 0000" would read backwards in Arabic: it is set left to right.
 */
export function isolated(text, props = {}) {
  const value = text ?? '';
  return el('bdi', { ...props, text: value, dir: /\p{L}/u.test(value) ? undefined : 'ltr' });
}

/** Empty a node filled by setText(), so a later language switch does not bring the old text back. */
export function clearText(node) {
  delete node.dataset.i18n;
  delete node.dataset.i18nArgs;
  delete node.dataset.i18nIso;
  delete node.dataset.i18nIsoArgs;
  node.textContent = '';
}

const ATTR_SLOTS = [
  ['i18nAriaLabel', 'aria-label'],
  ['i18nPlaceholder', 'placeholder'],
  ['i18nTitle', 'title'],
  ['i18nAlt', 'alt'],
];

function readArgs(node, slot) {
  const raw = node.dataset[`${slot}Args`];
  if (!raw) return undefined;
  try { return JSON.parse(raw); } catch { return undefined; }
}

function translateNode(node) {
  const ds = node.dataset;
  if (ds.i18n) node.textContent = t(ds.i18n, readArgs(node, 'i18n'));
  else if (ds.i18nIso) fillIsolated(node);
  for (const [slot, attr] of ATTR_SLOTS) {
    if (ds[slot]) node.setAttribute(attr, t(ds[slot], readArgs(node, slot)));
  }
}

/** Translate every marked element under `root` (HTML uses data-i18n, data-i18n-aria-label, …). */
export function applyI18n(root = document) {
  const sel = '[data-i18n],[data-i18n-iso],[data-i18n-aria-label],[data-i18n-placeholder],[data-i18n-title],[data-i18n-alt]';
  if (root.matches?.(sel)) translateNode(root);
  root.querySelectorAll(sel).forEach(translateNode);
}

function applyDocumentLang() {
  const html = document.documentElement;
  html.lang = currentLang;
  html.dir = currentLang === 'ar' ? 'rtl' : 'ltr';
}

export function setLang(lang) {
  currentLang = lang === 'ar' ? 'ar' : 'en';
  try { localStorage.setItem(LANG_KEY, currentLang); } catch { /* not persisted, still switched */ }
  applyDocumentLang();
  applyI18n(document);
  for (const fn of langListeners) fn(currentLang);
}

/** Pages re-render language-dependent data (broadcast titles, dates) through this hook. */
export function onLangChange(fn) {
  langListeners.push(fn);
}

/** Common page start: set <html lang/dir>, translate static markup, wire the language button. */
export function initPage() {
  applyDocumentLang();
  applyI18n(document);
  const btn = document.querySelector('[data-testid="lang-switch"]');
  if (btn) btn.addEventListener('click', () => setLang(currentLang === 'ar' ? 'en' : 'ar'));
}

// ---------------------------------------------------------------------------------------------------------
// DOM helpers
// ---------------------------------------------------------------------------------------------------------

/**
 * Create an element. `props`: `testid`, `class`, `text` (textContent — the only way text goes in),
 * `i18n` (key) with `args`, `dir`, `lang`, `attrs` (setAttribute), `on` ({event: handler}), and any
 * other key is assigned as a DOM property (e.g. type, value, disabled, hidden).
 */
export function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(props)) {
    if (v === undefined || v === null) continue;
    if (k === 'testid') node.dataset.testid = v;
    else if (k === 'class') node.className = v;
    else if (k === 'text') node.textContent = String(v);
    else if (k === 'i18n' || k === 'args') continue;
    else if (k === 'attrs') for (const [a, av] of Object.entries(v)) node.setAttribute(a, String(av));
    else if (k === 'on') for (const [ev, fn] of Object.entries(v)) node.addEventListener(ev, fn);
    else if (k === 'dir' || k === 'lang' || k === 'role') node.setAttribute(k, v);
    else node[k] = v;
  }
  if (props.i18n) setText(node, props.i18n, props.args);
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    node.append(typeof c === 'string' ? document.createTextNode(c) : c);
  }
  return node;
}

/** An element holding user-written text: textContent only, and dir="auto" so Arabic and English both read right. */
export function userText(tag, text, props = {}) {
  return el(tag, { ...props, dir: 'auto', text: text ?? '' });
}

export function clear(node) {
  while (node.firstChild) node.removeChild(node.firstChild);
}

/** Pick the title/description in the UI language, falling back to the other one; returns {text, lang}. */
export function localized(obj) {
  if (!obj) return { text: '', lang: currentLang };
  const other = currentLang === 'ar' ? 'en' : 'ar';
  if (obj[currentLang]) return { text: obj[currentLang], lang: currentLang };
  if (obj[other]) return { text: obj[other], lang: other };
  return { text: '', lang: currentLang };
}

/** Fill `node` with localized text and mark its language, so screen readers pronounce it correctly. */
export function setLocalized(node, obj) {
  const { text, lang } = localized(obj);
  node.textContent = text;
  node.setAttribute('lang', lang);
  node.setAttribute('dir', lang === 'ar' ? 'rtl' : 'ltr');
}

/** Date/time in the UI language; Latin digits on purpose so numbers look the same to every reader and test. */
export function formatTime(ms) {
  if (ms === null || ms === undefined) return '';
  const locale = currentLang === 'ar' ? 'ar-BH-u-nu-latn' : 'en-GB';
  return new Intl.DateTimeFormat(locale, { dateStyle: 'medium', timeStyle: 'short' }).format(new Date(ms));
}

/** A time of today as a clock ("07:22"), an older one with its date. */
export function formatClock(ms) {
  if (ms === null || ms === undefined) return '';
  const d = new Date(ms);
  if (d.toDateString() !== new Date().toDateString()) return formatTime(ms);
  const locale = currentLang === 'ar' ? 'ar-BH-u-nu-latn' : 'en-GB';
  return new Intl.DateTimeFormat(locale, { timeStyle: 'short' }).format(d);
}

let announceTimer = 0;
/** Say something through the page's aria-live="polite" region. */
export function announce(message) {
  const region = document.getElementById('announcer');
  if (!region) return;
  // Clearing first and setting on the next tick makes screen readers repeat an identical message.
  region.textContent = '';
  clearTimeout(announceTimer);
  announceTimer = setTimeout(() => { region.textContent = message; }, 50);
}

/**
 * Author label. Public views: an anonymous question has no author; a citizen who gave no name has an empty one.
 * Staff views: an anonymous author comes as `{ sub, name: null, pseudonym }`, shown "Anonymous · 3F9A2C" (the
 * same pseudonym for the same person within a broadcast, so a moderator can tell repeat askers apart).
 */
export function authorName(q) {
  const a = q.author;
  if (a?.pseudonym) return t('anonymousAs', { id: a.pseudonym });
  if (!a) return t('anonymous');
  return a.name || t('unnamed');
}

/** Count characters the way the server does: Unicode scalar values, not UTF-16 units. */
export function charCount(text) {
  return [...text].length;
}

export function uuid() {
  if (globalThis.crypto?.randomUUID) return crypto.randomUUID();
  // Fallback for non-secure contexts (plain http on a LAN address), where randomUUID is unavailable.
  const bytes = new Uint8Array(16);
  if (globalThis.crypto?.getRandomValues) crypto.getRandomValues(bytes);
  else for (let i = 0; i < 16; i++) bytes[i] = Math.floor(Math.random() * 256);
  bytes[6] = (bytes[6] & 0x0f) | 0x40;
  bytes[8] = (bytes[8] & 0x3f) | 0x80;
  const hex = [...bytes].map((b) => b.toString(16).padStart(2, '0')).join('');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

// ---------------------------------------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------------------------------------

/** Translation key and arguments for an error (the server's message is English only, so translate by code). */
function errorKey(err) {
  const code = err?.code || 'unknown';
  if (code === 'rate_limited') {
    return ['err.rate_limited', { n: Math.max(1, Math.ceil((err.retryAfterMs ?? 1000) / 1000)) }];
  }
  const key = `err.${code}`;
  return [STRINGS.en[key] ? key : 'err.unknown', undefined];
}

/** The user-facing sentence for an error, in the UI language. */
export function errorText(err) {
  const [key, args] = errorKey(err);
  return t(key, args);
}

/** Put an error message in `node` (role=alert), or clear it when err is null. Follows language switches. */
export function showError(node, err) {
  if (!node) return;
  if (err) {
    const [key, args] = errorKey(err);
    setText(node, key, args);
  } else {
    clearText(node);
  }
  node.hidden = !err;
}

// ---------------------------------------------------------------------------------------------------------
// REST
// ---------------------------------------------------------------------------------------------------------

/** JSON REST call under /api/. Throws MajlisError (code from the error body, or network). */
export async function api(method, path, { body, token, raw = false } = {}) {
  const headers = {};
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  if (token) headers.Authorization = `Bearer ${token}`;
  let res;
  try {
    res = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  } catch {
    throw new MajlisError('network', 'network error');
  }
  if (!res.ok) {
    let code = httpStatusCode(res.status);
    let message = res.statusText;
    try {
      const j = await res.json();
      if (j?.error?.code) ({ code, message } = j.error);
    } catch { /* body was not JSON; keep the status-derived code */ }
    const retry = res.headers.get('Retry-After');
    throw new MajlisError(code, message, retry ? Number(retry) * 1000 : null);
  }
  if (raw) return res;
  if (res.status === 204) return null;
  return res.json();
}

/** Fetch `path` (with the token) and hand it to the browser as a download named `filename`. */
export async function download(path, filename, token) {
  const res = await api('GET', path, { token, raw: true });
  const url = URL.createObjectURL(await res.blob());
  const a = el('a', { href: url, download: filename });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

function httpStatusCode(status) {
  return ({ 400: 'bad_request', 401: 'unauthorized', 403: 'forbidden', 404: 'not_found', 405: 'not_supported', 409: 'conflict',
    413: 'too_large', 429: 'rate_limited', 503: 'unavailable' })[status] || 'internal';
}

// ---------------------------------------------------------------------------------------------------------
// Citizen session
// ---------------------------------------------------------------------------------------------------------

const SESSION_MARGIN_MS = 60_000;

/** expires_at is documented as epoch ms; accept seconds too (JWT `exp` style) rather than reuse a dead token. */
function expiryMs(expiresAt) {
  const n = Number(expiresAt);
  if (!Number.isFinite(n)) return 0;
  return n < 1e12 ? n * 1000 : n;
}

export function loadSession(key = 'majlis.session') {
  try {
    const s = JSON.parse(localStorage.getItem(key) || 'null');
    if (s?.token && expiryMs(s.expires_at) > Date.now() + SESSION_MARGIN_MS) return s;
  } catch { /* corrupt entry: get a new one */ }
  return null;
}

/**
 * A valid citizen session, reused from localStorage when it has not expired.
 * `name` (optional) is stored as `requested_name` so the page can tell whether the user changed it.
 */
export async function getCitizenSession({ key = 'majlis.session', name, force = false } = {}) {
  if (!force) {
    const s = loadSession(key);
    if (s) return s;
  }
  const wanted = name ?? loadRequestedName(key);
  const body = wanted ? { name: wanted } : {};
  const res = await api('POST', '/api/session', { body });
  const session = { ...res, requested_name: wanted || '' };
  try { localStorage.setItem(key, JSON.stringify(session)); } catch { /* works for this page only */ }
  return session;
}

/**
 * Change the display name of the stored citizen session. A server that can rename keeps the identity (`PATCH
 * /api/session`, same `sub`, so votes and "my questions" stay); one that cannot (404/405) gets a new session.
 * Resolves with the session and whether the identity was kept.
 */
export async function renameCitizenSession(name, { key = 'majlis.session' } = {}) {
  const current = loadSession(key);
  if (current) {
    try {
      const res = await api('PATCH', '/api/session', { token: current.token, body: { name } });
      const session = { ...res, requested_name: name };
      try { localStorage.setItem(key, JSON.stringify(session)); } catch { /* works for this page only */ }
      return { session, kept: res.user?.sub === current.user?.sub };
    } catch (err) {
      if (err.code !== 'not_found' && err.code !== 'not_supported') throw err;
    }
  }
  return { session: await getCitizenSession({ key, name, force: true }), kept: false };
}

function loadRequestedName(key) {
  try { return JSON.parse(localStorage.getItem(key) || 'null')?.requested_name || ''; } catch { return ''; }
}

/** Keep a connection indicator (data-testid="conn-status") in step with the client. */
export function bindConnStatus(node, client) {
  const render = (state) => {
    node.dataset.state = state;
    setText(node, `conn.${state}`);
  };
  render(client.state);
  client.on('status', render);
}
