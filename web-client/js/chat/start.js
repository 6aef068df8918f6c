// Before the chat: the pre-chat form (category, language, optional name and contact, the consent line from the
// start info) and, when the desk is closed or nobody serves the language, the offline-message form instead.
import { t, el, api, setText, setTextIsolated, clearText, showError, getLang, charCount, errorText, uuid } from '../common.js';
import { state, hooks, $, rememberChat } from './state.js';

export const CATEGORIES = ['inquiry', 'suggestion', 'complaint', 'other'];
const LANGS = ['ar', 'en'];
const OFFLINE_MAX = 4000; // docs/protocol.md §10.9, the server's default

/** Read the start info again (with the token, for my_chats and may_start). */
export async function loadStartInfo() {
  state.info = await api('GET', '/api/chat/start-info', { token: state.session?.token });
  return state.info;
}

/** A group of radio chips inside `fieldset`, built once; returns a getter for the chosen value. */
function choiceGroup(fieldset, name, values, labelKey, initial) {
  if (!fieldset.querySelector('input')) {
    const box = el('div', { class: 'chips' });
    for (const v of values) {
      const input = el('input', { type: 'radio', name, value: v, testid: `${name}-${v}`, checked: v === initial });
      box.append(el('label', { class: 'chip' }, input, el('span', { i18n: labelKey(v) })));
    }
    fieldset.append(box);
  }
  return () => fieldset.querySelector('input:checked')?.value || null;
}

const chosen = {};
/** The client_msg_id of the start being tried: kept until a start is acked, so that pressing the button again
 * after a lost connection answers with the chat the first press made instead of starting a second one. */
let startId = null;
/** The offline form last sent and its client_msg_id: the same form sent again (its answer lost) leaves one
 * message; a changed one is a new message. */
let offlineSent = { key: '', id: null };

function wireGroups() {
  chosen.category = choiceGroup($('start-category'), 'category', CATEGORIES, (v) => `chat.cat.${v}`, 'inquiry');
  chosen.lang = choiceGroup($('start-lang'), 'lang', LANGS, (v) => `chat.langName.${v}`, getLang());
  chosen.offCategory = choiceGroup($('offline-category'), 'off-category', CATEGORIES, (v) => `chat.cat.${v}`, 'inquiry');
  chosen.offLang = choiceGroup($('offline-lang'), 'off-lang', LANGS, (v) => `chat.langName.${v}`, getLang());
}

/** When the desk opens next, in the desk's time zone, in words of the page's language. */
function nextOpenText(info) {
  if (!info.next_open) return t('chat.closedNever');
  const locale = getLang() === 'ar' ? 'ar-BH-u-nu-latn' : 'en-GB';
  let when;
  try {
    when = new Intl.DateTimeFormat(locale, { weekday: 'long', hour: '2-digit', minute: '2-digit', timeZone: info.time_zone || undefined })
      .format(new Date(info.next_open));
  } catch {
    when = new Intl.DateTimeFormat(locale, { weekday: 'long', hour: '2-digit', minute: '2-digit' }).format(new Date(info.next_open));
  }
  return t('chat.closedUntil', { when });
}

export function minutes(ms) {
  return Math.max(1, Math.ceil(ms / 60_000));
}

/** Why the chosen language can't take a chat now (a sentence), or null when it can. */
export function unavailableText(info, lang) {
  const l = info?.langs?.[lang];
  if (!info || !l) return t('chat.unavailable.no_agents', { lang: t(`chat.langName.${lang}`) });
  if (!info.open || l.unavailable === 'closed') return nextOpenText(info);
  if (!l.unavailable) return null;
  return t(`chat.unavailable.${l.unavailable}`, { lang: t(`chat.langName.${lang}`) });
}

/** The start form shows what the chosen language offers now: the wait, or why not and the offline form. */
export function renderStart() {
  wireGroups();
  const info = state.info;
  const lang = chosen.lang();
  const why = unavailableText(info, lang);
  const notice = $('start-notice');
  if (why) {
    notice.className = 'notice warn';
    notice.dataset.kind = 'unavailable';
    notice.textContent = why;
  } else {
    const l = info.langs[lang];
    notice.className = 'notice info';
    notice.dataset.kind = 'open';
    if (l.waiting > 0 && l.estimate_ms) notice.textContent = `${t('chat.waitingNow', { n: l.waiting })} ${t('chat.estimate', { n: minutes(l.estimate_ms) })}`;
    else if (l.waiting > 0) notice.textContent = t('chat.waitingNow', { n: l.waiting });
    else notice.textContent = t('chat.noWait');
  }
  delete notice.dataset.i18n;
  $('start-fields').hidden = !!why;
  $('start-submit').hidden = !!why;
  $('start-offline').hidden = !why;
  $('start-offline').className = why ? 'primary' : 'quiet';
  const consent = info?.consent;
  const text = consent?.text?.[getLang()] || consent?.text?.ar || consent?.text?.en || t('chat.consentDefault');
  $('start-consent-text').textContent = text;
}

async function submitStart(ev) {
  ev.preventDefault();
  showError($('start-error'), null);
  if (!$('start-consent').checked) {
    setText($('start-error'), 'chat.consentNeeded');
    $('start-error').hidden = false;
    $('start-consent').focus();
    return;
  }
  startId ||= uuid();
  const fields = {
    category: chosen.category(), lang: chosen.lang(), consent: true,
    consent_version: state.info?.consent?.version ?? '', client_msg_id: startId,
  };
  const name = $('start-name').value.trim();
  const contact = $('start-contact').value.trim();
  if (name) fields.name = name;
  if (contact) fields.contact = contact;
  const button = $('start-submit');
  button.setAttribute('aria-busy', 'true');
  button.disabled = true;
  try {
    await state.client.whenReady(); // a quick click may come before the connection is up
    const ack = await state.client.send('chat_start', fields);
    startId = null;
    rememberChat(ack.chat);
    await hooks.openChat(ack.chat, { position: ack.position, estimate: ack.estimate_ms, fresh: true });
  } catch (err) {
    if (err.code === 'conflict') {
      // The situation changed since the page read it: read it again and say what it says now.
      try { await loadStartInfo(); } catch { /* keep the old info */ }
      const open = (state.info?.my_chats || []).find((c) => c.status !== 'ended');
      if (open) { await hooks.openChat(open.id, {}); return; }
      renderStart();
      setText($('start-error'), 'chat.startConflict');
      $('start-error').hidden = false;
    } else {
      showError($('start-error'), err);
    }
  } finally {
    button.removeAttribute('aria-busy');
    button.disabled = false;
  }
}

/** The offline form, with the reason the chat is not possible now. */
export function showOffline() {
  wireGroups();
  const lang = chosen.lang?.() || getLang();
  const off = $('offline-lang').querySelector(`input[value="${lang}"]`);
  if (off) off.checked = true;
  const why = unavailableText(state.info, lang);
  const node = $('offline-why');
  node.textContent = why || t('chat.offlineAnyTime');
  node.hidden = false;
  $('offline-form').hidden = false;
  $('offline-done').hidden = true;
  if (!$('offline-name').value) $('offline-name').value = $('start-name').value;
  if (!$('offline-contact').value) $('offline-contact').value = $('start-contact').value;
  renderCounter();
}

function renderCounter() {
  const n = charCount($('offline-text').value.trim());
  const c = $('offline-counter');
  c.textContent = `${n} / ${OFFLINE_MAX}`;
  c.classList.toggle('over', n > OFFLINE_MAX);
}

async function submitOffline(ev) {
  ev.preventDefault();
  const error = $('offline-error');
  showError(error, null);
  const text = $('offline-text').value.trim();
  const contact = $('offline-contact').value.trim();
  const fail = (key, focus) => { setText(error, key); error.hidden = false; $(focus).focus(); };
  if (!text) return fail('chat.offlineNeedText', 'offline-text');
  if (charCount(text) > OFFLINE_MAX) return fail('chat.offlineTooLong', 'offline-text');
  if (!contact) return fail('chat.offlineNeedContact', 'offline-contact');
  const body = { category: chosen.offCategory(), lang: chosen.offLang(), contact, text };
  const name = $('offline-name').value.trim();
  if (name) body.name = name;
  const key = JSON.stringify(body);
  if (offlineSent.key !== key) offlineSent = { key, id: uuid() };
  body.client_msg_id = offlineSent.id;
  try {
    await api('POST', '/api/chat/offline', { token: state.session.token, body });
    offlineSent = { key: '', id: null };
    $('offline-form').hidden = true;
    $('offline-why').hidden = true;
    $('offline-done').hidden = false;
    setTextIsolated($('offline-done-text'), 'chat.offlineDoneText', { contact });
    $('offline-done').focus();
    $('offline-text').value = '';
  } catch (err) {
    if (err.code === 'conflict') fail('chat.offlineTooMany', 'offline-text');
    else { error.textContent = errorText(err); error.hidden = false; }
  }
  return undefined;
}

export function wireStart() {
  wireGroups();
  $('start-form').addEventListener('submit', submitStart);
  $('start-lang').addEventListener('change', renderStart);
  $('start-offline').addEventListener('click', () => { hooks.show('offline'); showOffline(); $('offline-text').focus(); });
  $('offline-form').addEventListener('submit', submitOffline);
  $('offline-text').addEventListener('input', renderCounter);
  $('offline-back').addEventListener('click', () => hooks.showStart());
  clearText($('start-error'));
}
