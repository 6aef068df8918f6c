// The citizen's chat (chat.html), on its own or inside the widget's iframe (?embed=1): reads the start info,
// resumes an open chat (same token: the start info's my_chats), else shows the pre-chat form, or the offline
// form when nobody can take a chat.
import { initPage, setLang, onLangChange, getCitizenSession, MajlisClient, bindConnStatus, errorText } from '../common.js';
import { state, hooks, $, rememberedChat, tellHost } from './state.js';
import { wireStart, renderStart, loadStartInfo, showOffline } from './start.js';
import { wireTalk, openChat, closeChat, rerender, onSnapshot, onEvent, onTyping, onJoinError, setConn, setVisible } from './talk.js';
import { wireAfter } from './after.js';

const VIEWS = ['chat-loading', 'load-error', 'start', 'offline', 'chat'];

function show(view) {
  state.view = view;
  for (const id of VIEWS) $(id).hidden = id !== view;
  document.body.dataset.view = view;
}

async function showStart(focus = false) {
  closeChat();
  show('chat-loading');
  try {
    await loadStartInfo();
  } catch (err) {
    return loadFailed(err);
  }
  show('start');
  document.body.removeAttribute('data-ended');
  renderStart();
  if (focus) document.querySelector('#start-category input:checked, #start-category input')?.focus();
  tellHost('status', { active: false, unread: 0 });
  return undefined;
}

/** Focus the first thing to do, so a keyboard user opening the widget carries on inside the chat. */
function focusFirst() {
  if (!state.visible) return;
  const target = state.view === 'start' ? document.querySelector('#start-category input:checked')
    : state.view === 'chat' && !$('composer').hidden ? $('composer-text')
      : state.view === 'load-error' ? $('load-retry') : null;
  target?.focus();
}

function loadFailed(err) {
  show('load-error');
  $('load-error-text').textContent = errorText(err);
}

/** First screen: the open chat if there is one, else the last one while it waits for its rating, else the form. */
async function begin() {
  show('chat-loading');
  try {
    state.session = await getCitizenSession();
    await loadStartInfo();
  } catch (err) {
    return loadFailed(err);
  }
  if (!state.client) startClient();
  const open = (state.info.my_chats || []).find((c) => c.status === 'waiting' || c.status === 'active');
  if (open) return openChat(open.id, {});
  const last = rememberedChat();
  if (last) return openChat(last, { remembered: true });
  show('start');
  renderStart();
  if (state.embedded) focusFirst();
  return undefined;
}

function startClient() {
  const client = new MajlisClient({
    getToken: async (force) => {
      state.session = await getCitizenSession({ force });
      return state.session.token;
    },
  });
  state.client = client;
  bindConnStatus(document.querySelector('[data-testid="conn-status"]'), client);
  client.on('status', setConn);
  client.on('snapshot', onSnapshot);
  client.on('event', onEvent);
  client.on('typing', onTyping);
  client.on('join_error', onJoinError);
  window.majlis.client = client;
  client.connect();
}

function wireEmbedding() {
  const params = new URLSearchParams(location.search);
  state.embedded = params.get('embed') === '1' && window.parent !== window;
  if (!state.embedded) return;
  document.body.classList.add('is-embedded');
  state.visible = false;
  $('close-widget').hidden = false;
  $('close-widget').addEventListener('click', () => tellHost('close'));
  document.addEventListener('keydown', (ev) => {
    if (ev.key === 'Escape' && !document.querySelector('dialog[open]')) tellHost('close');
  });
  window.addEventListener('message', (ev) => {
    if (ev.source !== window.parent || ev.data?.source !== 'majlis-widget') return;
    if (ev.data.type === 'opened') {
      setVisible(true);
      focusFirst();
    } else if (ev.data.type === 'closed') setVisible(false);
    else if (ev.data.type === 'lang' && (ev.data.lang === 'ar' || ev.data.lang === 'en')) setLang(ev.data.lang);
  });
  tellHost('ready');
}

hooks.show = show;
hooks.showStart = showStart;
hooks.openChat = openChat;
window.majlis = { state, client: null };

initPage();
const wanted = new URLSearchParams(location.search).get('lang');
if (wanted === 'ar' || wanted === 'en') setLang(wanted);
wireEmbedding();
wireStart();
wireTalk();
wireAfter();
onLangChange(() => {
  if (state.view === 'start') renderStart();
  if (state.view === 'offline') showOffline();
  if (state.view === 'chat') rerender();
  tellHost('lang', { lang: document.documentElement.lang });
});
$('load-retry').addEventListener('click', begin);
begin();
