// For admins: the chat report over a period (chats by category, language and ending, waits, ratings, tags,
// offline messages), and the same as CSV.
import { t, el, api, showError, download } from '../common.js';
import { state, $ } from './state.js';

const DAY_MS = 86_400_000;

function range() {
  const from = $('report-from').valueAsNumber;
  const to = $('report-to').valueAsNumber;
  // The "to" day counts whole: up to the next midnight.
  return { from: Number.isFinite(from) ? from : Date.now() - 30 * DAY_MS, to: Number.isFinite(to) ? to + DAY_MS : Date.now() };
}

const minutes = (ms) => (ms === null || ms === undefined ? '—' : t('agent.minutes', { n: Math.round(ms / 6000) / 10 }));

function stat(label, value, testid) {
  return el('div', { class: 'stat', testid }, el('dt', { text: label }), el('dd', { text: String(value ?? '—') }));
}

function table(title, obj, labelOf) {
  const rows = Object.entries(obj || {});
  return el('section', { class: 'report-part' }, el('h3', { text: title }),
    rows.length
      ? el('dl', { class: 'stats-grid' }, ...rows.map(([k, v]) => stat(labelOf(k), v)))
      : el('p', { class: 'hint', i18n: 'agent.none' }));
}

function render(r) {
  const body = $('report-body');
  const avg = r.ratings?.average;
  body.replaceChildren(
    el('dl', { class: 'stats-grid' },
      stat(t('agent.r.chats'), r.chats, 'r-chats'), stat(t('agent.r.answered'), r.answered), stat(t('agent.r.open'), r.open),
      stat(t('agent.r.transferred'), r.transferred), stat(t('agent.r.waitMedian'), minutes(r.waits?.median_ms)),
      stat(t('agent.r.waitP90'), minutes(r.waits?.p90_ms)), stat(t('agent.r.ratings'), r.ratings?.count),
      stat(t('agent.r.average'), avg === null || avg === undefined ? '—' : avg.toFixed(2))),
    table(t('agent.r.byCategory'), r.by_category, (k) => t(`chat.cat.${k}`)),
    table(t('agent.r.byLang'), r.by_lang, (k) => t(`chat.langName.${k}`)),
    table(t('agent.r.byEnd'), r.by_end_reason, (k) => t(`agent.end.${k}`)),
    table(t('agent.r.byScore'), Object.fromEntries((r.ratings?.by_score || []).map((n, i) => [i + 1, n])), (k) => t(`chat.score.${k}`)),
    table(t('agent.r.byTag'), r.by_tag, (k) => k),
    table(t('agent.r.offline'), { total: r.offline?.total, open: r.offline?.open, answered: r.offline?.answered, closed: r.offline?.closed }, (k) => t(`agent.r.off.${k}`)));
}

export async function loadReport(ev) {
  ev?.preventDefault();
  showError($('report-error'), null);
  const { from, to } = range();
  try {
    render(await api('GET', `/api/chat/report?from=${from}&to=${to}`, { token: state.token }));
  } catch (err) {
    showError($('report-error'), err);
  }
}

export function wireReport() {
  const today = new Date();
  $('report-to').valueAsNumber = Date.UTC(today.getFullYear(), today.getMonth(), today.getDate());
  $('report-from').valueAsNumber = $('report-to').valueAsNumber - 30 * DAY_MS;
  $('report-form').addEventListener('submit', loadReport);
  $('report-csv').addEventListener('click', async () => {
    const { from, to } = range();
    try {
      await download(`/api/chat/report.csv?from=${from}&to=${to}`, 'chat-report.csv', state.token);
    } catch (err) {
      showError($('report-error'), err);
    }
  });
}
