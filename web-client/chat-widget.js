/*
 * Majlis chat widget: one script tag on any page adds a floating button that opens the live chat with the
 * ministry's customer service, in an iframe of this server's /chat.html.
 *
 *   <script src="https://majlis.example.gov/chat-widget.js" data-lang="ar" async></script>
 *
 * Attributes (all optional): data-lang "ar" | "en" (default: the host page's <html lang> if it is Arabic or
 * English, else the server's --page-default-lang, Arabic unless its operator chose English);
 * data-position "end" | "start" (the corner, in the reading direction; default "end").
 * The server must allow the host site to frame the chat (--chat-embed-origins, default any site).
 *
 * A classic script with no dependencies: it touches nothing on the host page but one element of its own, whose
 * shadow root holds the button and the panel, so neither the page's styles nor ours leak across.
 */
(function () {
  'use strict';
  if (window.__majlisChatWidget) return;
  window.__majlisChatWidget = true;

  var script = document.currentScript || document.querySelector('script[src*="chat-widget.js"]');
  if (!script) return;
  var origin = new URL(script.src, location.href).origin;
  // Written by the server as it serves this file (`--page-default-lang`); Arabic unless the operator says.
  var fallback = 'ar';
  var hostLang = (document.documentElement.lang || '').slice(0, 2).toLowerCase();
  var lang = script.getAttribute('data-lang') || hostLang;
  if (lang !== 'ar' && lang !== 'en') lang = fallback;
  var corner = script.getAttribute('data-position') === 'start' ? 'start' : 'end';
  var ACTIVE_KEY = 'majlis.chatWidget.active';

  var WORDS = {
    ar: { open: 'تحدث معنا', openAria: 'فتح المحادثة مع خدمة العملاء', close: 'إغلاق المحادثة',
      title: 'المحادثة مع خدمة العملاء', unread: function (n) { return n === 1 ? 'رسالة جديدة' : n === 2 ? 'رسالتان جديدتان' : n + ' رسائل جديدة'; } },
    en: { open: 'Chat with us', openAria: 'Open the chat with customer service', close: 'Close the chat',
      title: 'Chat with customer service', unread: function (n) { return n === 1 ? '1 new message' : n + ' new messages'; } },
  };

  var CSS = [
    ':host { all: initial; }',
    '.launcher { position: fixed; bottom: 1rem; inset-inline-end: 1rem; z-index: 2147483000; display: inline-flex; align-items: center;',
    '  gap: .5rem; min-height: 3.25rem; padding: 0 1.25rem; border: 0; border-radius: 999px; background: #931322; color: #fff;',
    '  font: 600 1rem/1.2 "Noto Sans Arabic", "Noto Sans", "Segoe UI", Tahoma, system-ui, sans-serif; cursor: pointer;',
    '  box-shadow: 0 8px 24px rgb(28 28 33 / 24%), 0 2px 6px rgb(28 28 33 / 12%); }',
    '.launcher:hover { background: #760e1a; }',
    '.launcher:focus-visible { outline: 3px solid #1a56db; outline-offset: 3px; }',
    '.launcher.at-start { inset-inline-end: auto; inset-inline-start: 1rem; }',
    '.icon { width: 1.4rem; height: 1.4rem; flex: none; }',
    '.badge { min-width: 1.4rem; height: 1.4rem; padding: 0 .35rem; border-radius: 999px; background: #fff; color: #931322;',
    '  font-size: .8125rem; font-weight: 700; display: inline-flex; align-items: center; justify-content: center; }',
    '.badge[hidden], .panel[hidden] { display: none; }',
    '.sr { position: absolute; width: 1px; height: 1px; overflow: hidden; clip: rect(0 0 0 0); white-space: nowrap; }',
    '.panel { position: fixed; z-index: 2147483001; bottom: 5.25rem; inset-inline-end: 1rem; width: min(24rem, calc(100vw - 2rem));',
    '  height: min(40rem, calc(100vh - 7rem)); border-radius: 14px; overflow: hidden; background: #f4f3ef;',
    '  box-shadow: 0 12px 40px rgb(28 28 33 / 28%), 0 2px 8px rgb(28 28 33 / 12%); }',
    '.panel.at-start { inset-inline-end: auto; inset-inline-start: 1rem; }',
    'iframe { width: 100%; height: 100%; border: 0; display: block; }',
    /* A phone: the chat takes the whole screen; it has its own close button. */
    '@media (max-width: 30rem) { .panel { inset: 0; width: 100%; height: 100%; border-radius: 0; }',
    '  :host([data-open]) .launcher { display: none; } }',
    '@media (prefers-reduced-motion: no-preference) { .panel { animation: rise .16s ease-out; }',
    '  @keyframes rise { from { opacity: 0; transform: translateY(.75rem); } to { opacity: 1; transform: none; } } }',
  ].join('\n');

  var host = document.createElement('div');
  host.setAttribute('data-majlis-chat', '');
  var root = host.attachShadow({ mode: 'open' });
  try {
    // A constructed sheet is not inline style, so a host page's strict style-src does not block it.
    var sheet = new CSSStyleSheet();
    sheet.replaceSync(CSS);
    root.adoptedStyleSheets = [sheet];
  } catch (e) {
    var style = document.createElement('style');
    style.textContent = CSS;
    root.appendChild(style);
  }

  var wrap = document.createElement('div');
  var button = document.createElement('button');
  button.type = 'button';
  button.className = 'launcher' + (corner === 'start' ? ' at-start' : '');
  button.setAttribute('data-testid', 'chat-launcher');
  button.setAttribute('aria-expanded', 'false');
  button.setAttribute('aria-controls', 'majlis-chat-panel');
  var svgNs = 'http://www.w3.org/2000/svg';
  var icon = document.createElementNS(svgNs, 'svg');
  icon.setAttribute('viewBox', '0 0 24 24');
  icon.setAttribute('class', 'icon');
  icon.setAttribute('aria-hidden', 'true');
  var path = document.createElementNS(svgNs, 'path');
  path.setAttribute('fill', 'currentColor');
  path.setAttribute('d', 'M4 4h16a2 2 0 0 1 2 2v10a2 2 0 0 1-2 2H9l-5 4v-4a2 2 0 0 1-2-2V6a2 2 0 0 1 2-2zm3 6.5a1.5 1.5 0 1 0 0 .01zm5 0a1.5 1.5 0 1 0 0 .01zm5 0a1.5 1.5 0 1 0 0 .01z');
  icon.appendChild(path);
  var label = document.createElement('span');
  label.setAttribute('data-testid', 'chat-launcher-label');
  var badge = document.createElement('span');
  badge.className = 'badge';
  badge.setAttribute('data-testid', 'chat-unread');
  badge.hidden = true;
  button.appendChild(icon);
  button.appendChild(label);
  button.appendChild(badge);

  var panel = document.createElement('div');
  panel.className = 'panel' + (corner === 'start' ? ' at-start' : '');
  panel.id = 'majlis-chat-panel';
  panel.setAttribute('role', 'dialog');
  panel.hidden = true;
  // New messages while the panel is closed are also told to screen readers on the host page.
  var live = document.createElement('span');
  live.className = 'sr';
  live.setAttribute('aria-live', 'polite');
  wrap.appendChild(panel);
  wrap.appendChild(button);
  wrap.appendChild(live);
  root.appendChild(wrap);

  var frame = null;
  var ready = false;
  var open = false;
  var unread = 0;

  function words() { return WORDS[lang]; }

  function render() {
    var w = words();
    wrap.setAttribute('dir', lang === 'ar' ? 'rtl' : 'ltr');
    wrap.setAttribute('lang', lang);
    label.textContent = open ? w.close : w.open;
    badge.textContent = String(unread);
    badge.hidden = open || unread < 1;
    var aria = open ? w.close : w.openAria;
    if (!open && unread > 0) aria += ' (' + w.unread(unread) + ')';
    button.setAttribute('aria-label', aria);
    panel.setAttribute('aria-label', w.title);
    if (frame) frame.title = w.title;
  }

  function post(type, data) {
    if (!frame || !frame.contentWindow || !ready) return;
    var message = { source: 'majlis-widget', type: type };
    for (var k in data || {}) message[k] = data[k];
    frame.contentWindow.postMessage(message, origin);
  }

  function ensureFrame() {
    if (frame) return;
    frame = document.createElement('iframe');
    frame.src = origin + '/chat.html?embed=1&lang=' + encodeURIComponent(lang);
    frame.setAttribute('data-testid', 'chat-frame');
    frame.setAttribute('allow', 'clipboard-write');
    frame.title = words().title;
    panel.appendChild(frame);
  }

  function openPanel() {
    ensureFrame();
    open = true;
    panel.hidden = false;
    host.setAttribute('data-open', '');
    button.setAttribute('aria-expanded', 'true');
    unread = 0;
    render();
    post('opened');
    frame.focus();
  }

  function closePanel() {
    open = false;
    panel.hidden = true;
    host.removeAttribute('data-open');
    button.setAttribute('aria-expanded', 'false');
    render();
    post('closed');
    button.focus();
  }

  button.addEventListener('click', function () { if (open) closePanel(); else openPanel(); });
  root.addEventListener('keydown', function (ev) { if (ev.key === 'Escape' && open) closePanel(); });

  window.addEventListener('message', function (ev) {
    if (ev.origin !== origin || !frame || ev.source !== frame.contentWindow) return;
    var d = ev.data || {};
    if (d.source !== 'majlis-chat') return;
    if (d.type === 'ready') {
      ready = true;
      if (open) post('opened');
    } else if (d.type === 'close') {
      if (open) closePanel();
    } else if (d.type === 'status') {
      var before = unread;
      unread = open ? 0 : Number(d.unread) || 0;
      if (unread > before) live.textContent = words().unread(unread);
      try {
        if (d.active) localStorage.setItem(ACTIVE_KEY, '1'); else localStorage.removeItem(ACTIVE_KEY);
      } catch (e) { /* storage blocked: the chat resumes when opened */ }
      render();
    } else if (d.type === 'lang' && (d.lang === 'ar' || d.lang === 'en')) {
      lang = d.lang;
      render();
    }
  });

  function mount() {
    document.body.appendChild(host);
    render();
    // A chat is going on (this page was reloaded or another page of the site opened): connect at once, so the
    // button can show new messages and the agent sees the citizen is still there.
    var active = false;
    try { active = localStorage.getItem(ACTIVE_KEY) === '1'; } catch (e) { /* not known */ }
    if (active) ensureFrame();
  }

  window.MajlisChat = { open: openPanel, close: closePanel };
  if (document.body) mount();
  else document.addEventListener('DOMContentLoaded', mount);
})();
