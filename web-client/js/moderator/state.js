// What the moderator console knows, shared by its modules, and the hooks through which one module asks another
// to re-render without importing it (the modules would otherwise import each other).

export const state = {
  token: null,
  user: null,
  client: null,
  broadcasts: [],
  openId: null,
  broadcast: null, // the open broadcast (kept current by room events)
  questions: new Map(),
  pinned: null,
  muted: new Set(),
  participants: 0,
  filter: 'all',
  query: '',
  stats: null,
  statsAt: 0,
  pauseSupported: true,
  bulk: null, // the running "approve all shown": { done, total, cancelled }
};

export const hooks = {
  renderQuestions: () => {},
  renderOpenHeader: () => {},
};

export const $ = (id) => document.getElementById(id);

export function modRoom(id) {
  return id ? `broadcast:${id}:moderation` : null;
}

export { placeNodes } from '../ui.js';
