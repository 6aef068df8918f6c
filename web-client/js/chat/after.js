// After the end: the rating (1 to 5 and an optional comment, once), the transcript (plain text and JSON),
// and a way to start a new chat.
import { el, setText, clearText, showError, download } from '../common.js';
import { state, hooks, $, rememberChat } from './state.js';

const SCORES = [1, 2, 3, 4, 5];

function stars() {
  const box = $('rate-stars');
  if (box.querySelector('input')) return;
  const row = el('div', { class: 'star-row' });
  for (const n of SCORES) {
    const input = el('input', { type: 'radio', name: 'score', value: String(n), testid: `rate-${n}`, class: 'sr-only' });
    row.append(el('label', { class: 'star', attrs: { 'data-score': n } }, input,
      el('span', { class: 'star-mark', attrs: { 'aria-hidden': 'true' } }), el('span', { class: 'sr-only', i18n: `chat.score.${n}` })));
  }
  box.append(row, el('p', { class: 'hint star-legend', id: 'rate-legend-text', i18n: 'chat.scoreHint' }));
}

/** Show or hide the part after the end, as the chat's state says. */
export function renderAfter(over) {
  const after = $('after');
  after.hidden = !over;
  if (!over) return;
  stars();
  const c = state.chat;
  setText($('after-text'), c.rating ? 'chat.afterRated' : 'chat.afterText');
  const rated = !!c.rating;
  $('rate-form').hidden = rated;
  if (rated) setText($('rated'), 'chat.rated', { n: c.rating.score });
  else clearText($('rated'));
}

async function rate(ev) {
  ev.preventDefault();
  const error = $('rate-error');
  showError(error, null);
  const score = Number($('rate-form').querySelector('input[name="score"]:checked')?.value);
  if (!score) {
    setText(error, 'chat.rateNeedScore');
    error.hidden = false;
    $('rate-form').querySelector('input[name="score"]')?.focus();
    return;
  }
  const fields = { chat: state.chat.id, score };
  const comment = $('rate-comment').value.trim();
  if (comment) fields.comment = comment;
  try {
    const ack = await state.client.send('chat_rate', fields);
    state.chat = { ...state.chat, rating: ack.rating };
    renderAfter(true);
    $('rated').setAttribute('tabindex', '-1');
    $('rated').focus();
  } catch (err) {
    showError(error, err);
  }
}

async function transcript(kind) {
  const id = state.chat?.id;
  if (!id) return;
  try {
    await download(`/api/chat/chats/${id}/transcript.${kind}`, `chat-${id}.${kind}`, state.session.token);
  } catch (err) {
    showError($('rate-error'), err);
  }
}

export function wireAfter() {
  $('rate-form').addEventListener('submit', rate);
  $('transcript-txt').addEventListener('click', () => transcript('txt'));
  $('transcript-json').addEventListener('click', () => transcript('json'));
  $('new-chat').addEventListener('click', () => { rememberChat(null); hooks.showStart(true); });
}
