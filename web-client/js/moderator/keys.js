// Keyboard shortcuts of the moderator console (listed on the page, in #shortcuts). They act on the question
// that has the focus (or holds it); J/K and the arrow keys move between questions.
import { $ } from './state.js';
import { visibleItems, focusItem, runAction, approveAllShown } from './questions.js';

const ACTIONS = { a: 'approve', h: 'hide', p: 'pin', n: 'answer', l: 'answer-live', e: 'edit' };

function typing(target) {
  return target.closest?.('input, textarea, select, [contenteditable="true"]');
}

function currentItem() {
  return document.activeElement?.closest?.('#mod-questions [data-testid="mod-question"]') || null;
}

function move(step) {
  const items = visibleItems();
  if (!items.length) return;
  const at = items.indexOf(currentItem());
  const next = at < 0 ? (step > 0 ? 0 : items.length - 1) : Math.max(0, Math.min(items.length - 1, at + step));
  focusItem(items[next]);
}

export function wireShortcuts() {
  document.addEventListener('keydown', (ev) => {
    if (ev.defaultPrevented || ev.ctrlKey || ev.metaKey || ev.altKey) return;
    if (document.querySelector('dialog[open]') || typing(ev.target) || $('console').hidden || $('open-bc').hidden) return;
    const key = ev.key.length === 1 ? ev.key.toLowerCase() : ev.key;
    const onItem = currentItem();
    // Arrows move only from a question itself, so they keep scrolling the page elsewhere.
    const arrow = (ev.key === 'ArrowDown' || ev.key === 'ArrowUp') && onItem === document.activeElement;
    if (key === 'j' || (arrow && ev.key === 'ArrowDown')) { ev.preventDefault(); move(1); return; }
    if (key === 'k' || (arrow && ev.key === 'ArrowUp')) { ev.preventDefault(); move(-1); return; }
    if (key === '/') { ev.preventDefault(); $('mq-search').focus(); return; }
    if (key === '?') { ev.preventDefault(); $('shortcuts').focus(); return; }
    if (key === 'a' && ev.shiftKey) { ev.preventDefault(); approveAllShown(); return; }
    if (ACTIONS[key] && onItem && !ev.shiftKey) {
      if (runAction(onItem, ACTIONS[key])) ev.preventDefault();
    }
  });
  // Escape in the search box clears it and goes back to the list.
  $('mq-search').addEventListener('keydown', (ev) => {
    if (ev.key !== 'Escape') return;
    ev.target.value = '';
    ev.target.dispatchEvent(new Event('input'));
    move(1);
  });
}
