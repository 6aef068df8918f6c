// Classic (non-module) script loaded in <head>: sets <html lang/dir> before the body is laid out so an
// Arabic reader never sees the page flip from left-to-right to right-to-left. Mirrors getLang() in common.js.
(function () {
  var lang = 'en';
  try {
    var stored = localStorage.getItem('majlis.lang');
    if (stored === 'ar' || stored === 'en') lang = stored;
    else if ((navigator.language || '').toLowerCase().indexOf('ar') === 0) lang = 'ar';
  } catch (e) {
    // Storage may be blocked (private mode); the default is fine.
  }
  document.documentElement.lang = lang;
  document.documentElement.dir = lang === 'ar' ? 'rtl' : 'ltr';
})();
