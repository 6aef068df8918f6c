// What the citizen's chat page knows, shared by its modules, and the hooks through which one module asks
// another to act without importing it.

export const state = {
  session: null,
  client: null,
  info: null, // the start info (docs/protocol.md §10.7 StartInfo)
  chat: null, // ChatView of the current chat
  messages: new Map(), // seq → Message
  receipts: null,
  position: null,
  estimate: null,
  outbox: [], // { client_msg_id, text, at } sent but not acked (kept in localStorage per chat)
  view: 'loading', // loading | start | offline | chat
  conn: 'idle',
  embedded: false,
  visible: true, // the widget is open (or the page is standalone) and the tab is shown
  unread: 0,
};

export const hooks = {
  show: () => {},
  showStart: async () => {},
  openChat: async () => {},
};

export const $ = (id) => document.getElementById(id);

const CURRENT_KEY = 'majlis.chat.current';

/** The id of the chat this browser last had (to find an ended one again for its rating), or null. */
export function rememberedChat() {
  try { return Number(localStorage.getItem(CURRENT_KEY)) || null; } catch { return null; }
}

export function rememberChat(id) {
  try {
    if (id) localStorage.setItem(CURRENT_KEY, String(id)); else localStorage.removeItem(CURRENT_KEY);
  } catch { /* this page only */ }
}

/** Tell the host page (the widget) something: status for its button, or a request to close. */
export function tellHost(type, data = {}) {
  if (!state.embedded || window.parent === window) return;
  window.parent.postMessage({ source: 'majlis-chat', type, ...data }, '*');
}
