// What the agent console knows, shared by its modules, and the hooks through which one module asks another to
// re-render without importing it.

export const state = {
  token: null,
  user: null,
  client: null,
  me: null, // my Agent on the desk (null until I set an availability)
  agents: new Map(), // sub → Agent
  queues: { ar: [], en: [] },
  open: new Map(), // id → OpenChat (the whole desk's open chats)
  offlineOpen: 0,
  chats: new Map(), // id → { chat: StaffChat, messages: Map, notes: Map, position, estimate, awaySince, unread, draft, mode, loaded }
  selected: null, // id of the chat in the pane
  canned: [],
  conn: 'idle',
};

export const hooks = {
  select: () => {}, // (id, focus) open a chat in the pane
  selectTab: () => {},
  supervise: () => {}, // (id) a supervisor follows any open chat
  renderDesk: () => {},
  renderChatList: () => {},
  renderPane: () => {},
  renderInboxCount: () => {},
  onOffline: () => {},
  onCanned: () => {},
  onAgents: () => {},
};

export const $ = (id) => document.getElementById(id);

export const isAdmin = () => state.user?.role === 'admin';
export const staffRoom = (id) => `chat:${id}:staff`;
export const userRoom = () => `user:${state.user.sub}`;

/** The console's record for chat `id`, made on first sight. */
export function chatEntry(id) {
  if (!state.chats.has(id)) {
    state.chats.set(id, { chat: null, messages: new Map(), notes: new Map(), position: null, estimate: null, awaySince: null,
      unread: 0, draft: '', mode: 'reply', loaded: false, summary: null });
  }
  return state.chats.get(id);
}

export { placeNodes } from '../ui.js';
