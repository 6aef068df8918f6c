// The staff consoles' start (agent.html, moderator.html): sign in with a staff token, who is signed in, signing
// out, and the protocol client on that token. Each console says which token key and roles are its own, and what
// it starts once signed in; the markup of the sign-in card and the header's tools is the same on both pages.
import { onLangChange, t, api, setText, showError, MajlisClient, MajlisError, bindConnStatus } from './common.js';

const $ = (id) => document.getElementById(id);

/**
 * Start a console: wire the sign-in form and the sign-out button, then sign in with the token of the link
 * (`/agent.html#token=…`, as `majlis token` prints it), or the one kept for this tab, or ask for one.
 * `state` is the console's own (its `token` and `user` are set here); `roles` are the roles that may sign in,
 * `notStaffKey` the message for any other; `onSignedIn()` starts the console once the server knows the token.
 */
export function startStaffConsole({ state, tokenKey, roles, notStaffKey, onSignedIn }) {
  async function signIn(token) {
    showError($('signin-error'), null);
    let user;
    try {
      user = await api('GET', '/api/me', { token });
    } catch (err) {
      return showSignIn(err.code === 'unauthorized' ? 'mod.tokenInvalid' : null, err);
    }
    if (!roles.has(user.role)) return showSignIn(notStaffKey);
    sessionStorage.setItem(tokenKey, token);
    state.token = token;
    state.user = user;
    $('signin').hidden = true;
    $('console').hidden = false;
    $('sign-out').hidden = false;
    $('whoami').hidden = false;
    renderWhoami(state.user);
    await onSignedIn();
    return undefined;
  }

  $('signin-form').addEventListener('submit', (ev) => {
    ev.preventDefault();
    const token = $('token-input').value.trim();
    if (token) signIn(token);
  });
  $('sign-out').addEventListener('click', () => signOut(state, tokenKey));
  onLangChange(() => renderWhoami(state.user));
  const token = takeTokenFromUrl(tokenKey);
  if (token) signIn(token); else showSignIn(null);
}

/**
 * The console's protocol client, kept in `state.client` (and `window.majlis.client`, for the tests), with the
 * header's connection status. The console adds its own handlers and rooms, then connects.
 */
export function staffClient(state) {
  const client = new MajlisClient({
    // Staff tokens cannot be refreshed from the page; a rejected token means signing in again.
    getToken: async (force) => {
      if (force) throw new MajlisError('unauthorized', 'token rejected');
      return state.token;
    },
  });
  state.client = client;
  bindConnStatus(document.querySelector('[data-testid="conn-status"]'), client);
  client.on('auth_failed', () => showSignIn('mod.tokenInvalid'));
  window.majlis.client = client;
  return client;
}

/** Keep the link's token for this tab only, and take it out of the address bar. */
function takeTokenFromUrl(tokenKey) {
  const fromHash = new URLSearchParams(location.hash.slice(1)).get('token');
  if (fromHash) {
    sessionStorage.setItem(tokenKey, fromHash);
    history.replaceState(null, '', location.pathname + location.search);
  }
  return sessionStorage.getItem(tokenKey);
}

function renderWhoami(user) {
  if (user) setText($('whoami'), 'mod.signedIn', { name: user.name, role: t(`role.${user.role}`) });
}

function showSignIn(key, err) {
  $('signin').hidden = false;
  $('console').hidden = true;
  const node = $('signin-error');
  if (key) { node.hidden = false; setText(node, key); } else showError(node, err || null);
  $('token-input').focus();
}

function signOut(state, tokenKey) {
  sessionStorage.removeItem(tokenKey);
  state.client?.close();
  location.href = location.pathname;
}
