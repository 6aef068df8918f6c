// Classic (non-module) script loaded in <head>: sets <html lang/dir> before the body is laid out so an
// Arabic reader never sees the page flip from left-to-right to right-to-left. The one place the language is
// chosen: the reader's own choice (the language button, kept in localStorage), else the first of the browser's
// languages that is Arabic or English, else the operator's (`--page-default-lang`); common.js reads it here.
(function () {
  // Written by the server as it serves this file (`--page-default-lang`); Arabic unless the operator says.
  var fallback = 'ar';
  var lang = null;
  try {
    var stored = localStorage.getItem('majlis.lang');
    if (stored === 'ar' || stored === 'en') lang = stored;
  } catch (e) {
    // Storage may be blocked (private mode): the browser's languages decide.
  }
  var asked = (navigator.languages && navigator.languages.length) ? navigator.languages : [navigator.language || ''];
  for (var i = 0; !lang && i < asked.length; i++) {
    var code = String(asked[i]).slice(0, 2).toLowerCase();
    if (code === 'ar' || code === 'en') lang = code;
  }
  lang = lang || fallback;
  document.documentElement.lang = lang;
  document.documentElement.dir = lang === 'ar' ? 'rtl' : 'ltr';
})();
