// A chat's actions: transfer to another agent or back to the queue (each with an optional note, in a dialog),
// end (confirmed), and closing an ended chat's tab. The chat's agent and supervisors may; the server decides.
import { t, el, showError } from '../common.js';
import { confirmDialog, menuButton, modalDialog } from '../ui.js';
import { state, $, isAdmin } from './state.js';
import { unfollow } from './chats.js';

function fail(err) {
  showError($('pane-error'), err);
}

/** The buttons for chat `id` as it is now. */
export function chatActions(id, c) {
  const mine = c.agent?.sub === state.user.sub;
  const mayAct = mine || isAdmin();
  if (c.status === 'ended') {
    return [el('button', { type: 'button', class: 'small', testid: 'close-chat', i18n: 'agent.closeChat', on: { click: () => unfollow(id) } })];
  }
  if (!mayAct) return [];
  const out = [];
  if (c.status === 'active') {
    // Handing on is one idea with two destinations: one menu, so the bar keeps one button per idea.
    out.push(menuButton({
      key: 'agent.handOn', testid: 'hand-on',
      items: [
        { testid: 'transfer', key: 'agent.transfer', run: () => transferDialog(id, c) },
        { testid: 'requeue', key: 'agent.requeue', run: () => requeueDialog(id) },
      ],
    }).wrap);
  }
  out.push(el('button', { type: 'button', class: 'small danger', testid: 'end-chat', i18n: 'agent.end', on: { click: () => endChat(id) } }));
  return out;
}

async function endChat(id) {
  const ok = await confirmDialog({ title: 'agent.endTitle', body: 'agent.endBody', confirm: 'agent.end', danger: true });
  if (!ok) return;
  try {
    await state.client.send('chat_end', { chat: id });
  } catch (err) {
    fail(err);
  }
}

/** A modal form: a title, the fields, and Cancel / confirm; resolves with the form, or null when cancelled. */
function formDialog({ title, fields, confirm, testid }) {
  const cancel = el('button', { type: 'button', testid: 'dialog-cancel', i18n: 'cancel' });
  const ok = el('button', { type: 'submit', class: 'primary', testid: 'dialog-ok', i18n: confirm });
  const form = el('form', { method: 'dialog', novalidate: true }, ...fields, el('div', { class: 'dialog-actions' }, cancel, ok));
  let submitted = null;
  cancel.addEventListener('click', () => form.closest('dialog').close());
  form.addEventListener('submit', (ev) => { ev.preventDefault(); submitted = form; form.closest('dialog').close(); });
  const first = () => form.querySelector('select, textarea, input') || cancel;
  return modalDialog({ title, content: [form], first, testid, answer: () => submitted });
}

function noteField() {
  return el('div', { class: 'field' },
    el('label', { htmlFor: 'handover-note', i18n: 'agent.handoverNote' }),
    el('textarea', { id: 'handover-note', name: 'note', dir: 'auto', rows: 3, testid: 'handover-note' }));
}

/** Agents a chat may go to: available, connected, serving its language, under their cap, not its agent. */
function candidates(c) {
  return [...state.agents.values()].filter((a) => a.sub !== c.agent?.sub && a.availability === 'available' && a.connected !== false
    && (a.languages || []).includes(c.lang) && a.load < a.cap);
}

async function transferDialog(id, c) {
  const options = candidates(c);
  const select = el('select', { id: 'transfer-to', name: 'to', testid: 'transfer-to', required: true },
    ...options.map((a) => el('option', { value: a.sub, text: `${a.name} (${t('agent.loadShort', { n: a.load, cap: a.cap })})` })));
  const fields = options.length
    ? [el('div', { class: 'field' }, el('label', { htmlFor: 'transfer-to', i18n: 'agent.transferTo' }), select), noteField()]
    : [el('p', { class: 'notice warn', i18n: 'agent.nobodyToTransfer' })];
  const form = await formDialog({ title: 'agent.transferTitle', fields, confirm: options.length ? 'agent.transferOk' : 'cancel', testid: 'transfer-dialog' });
  if (!form || !options.length) return;
  const note = form.elements.note.value.trim();
  try {
    await state.client.send('chat_transfer', { chat: id, to: form.elements.to.value, ...(note ? { note } : {}) });
  } catch (err) {
    fail(err);
  }
}

async function requeueDialog(id) {
  const form = await formDialog({ title: 'agent.requeueTitle', fields: [el('p', { i18n: 'agent.requeueBody' }), noteField()], confirm: 'agent.requeueOk', testid: 'requeue-dialog' });
  if (!form) return;
  const note = form.elements.note.value.trim();
  try {
    await state.client.send('chat_requeue', { chat: id, ...(note ? { note } : {}) });
  } catch (err) {
    fail(err);
  }
}

