// Parley console: the live stream, the composer, uploads and dialogs.
// Everything visible is rendered by the server; this script only puts
// server-made fragments in place, so no customer text is ever turned into
// markup here. It runs under a strict content security policy: no inline
// script, no eval.
(function () {
  'use strict';

  var body = document.body;

  // The server renders times in the user's zone; until they pick one in
  // settings, it is the browser's.
  try {
    var tz = Intl.DateTimeFormat().resolvedOptions().timeZone;
    if (tz && document.cookie.indexOf('parley_tz=') < 0) {
      document.cookie = 'parley_tz=' + encodeURIComponent(tz) + '; path=/; SameSite=Lax; max-age=31536000';
    }
  } catch (e) { /* no Intl: UTC it is */ }

  // fragment parses one server-rendered element. A <template> parses
  // without running anything in it.
  function fragment(html) {
    var t = document.createElement('template');
    t.innerHTML = html.trim();
    return t.content.firstElementChild;
  }

  function process(el) {
    if (window.htmx && el) { window.htmx.process(el); }
  }

  function alertText(text) {
    var box = document.getElementById('alerts');
    if (!box) { return; }
    var p = document.createElement('p'), close = document.createElement('button');
    p.className = 'alert';
    p.textContent = text + ' ';
    close.type = 'button';
    close.className = 'alert-close';
    close.setAttribute('data-close-alert', '');
    close.setAttribute('aria-label', box.dataset.dismiss || 'Dismiss');
    close.textContent = '×';
    p.appendChild(close);
    box.replaceChildren(p);
  }

  // Panel requests carry the panel token from the body's hx-headers.
  function extraHeaders() {
    var raw = body.getAttribute('hx-headers');
    if (!raw) { return {}; }
    try { return JSON.parse(raw); } catch (e) { return {}; }
  }

  // ---- the thread -------------------------------------------------------

  function thread() { return document.getElementById('thread'); }

  // separators puts a day label before the first message of each day.
  function separators(list) {
    if (!list) { return; }
    list.querySelectorAll('li.day-sep').forEach(function (el) { el.remove(); });
    var prev = '';
    list.querySelectorAll('li.msg').forEach(function (li) {
      if (li.dataset.day && li.dataset.day !== prev) {
        var sep = document.createElement('li');
        sep.className = 'day-sep';
        sep.setAttribute('role', 'separator');
        sep.textContent = li.dataset.dayLabel || li.dataset.day;
        li.before(sep);
        prev = li.dataset.day;
      }
    });
  }

  function nearBottom(el) { return el.scrollHeight - el.scrollTop - el.clientHeight < 120; }
  function toBottom(el) { if (el) { el.scrollTop = el.scrollHeight; } }

  // older says whether a rendering of a message is older than the one
  // shown: the answer to a send and the stream's news of it race, and the
  // later state must win.
  function older(el, shown) {
    var v = Number(el.dataset.version || 0), sv = Number(shown.dataset.version || 0);
    return v < sv || (v === sv && Number(el.dataset.rank || 0) < Number(shown.dataset.rank || 0));
  }

  // upsertMessage puts a message in place: replaces it if shown (new
  // ticks, a downloaded file), appends it if its conversation is open.
  function upsertMessage(html) {
    var el = fragment(html);
    if (!el || !el.id) { return; }
    var old = document.getElementById(el.id);
    var list = thread();
    if (old) {
      if (older(el, old)) { return; }
      old.replaceWith(el);
    } else if (list && list.dataset.conversation === el.dataset.conversation) {
      var stick = nearBottom(list);
      list.appendChild(el);
      if (stick) { toBottom(list); }
      if (el.classList.contains('msg-in')) { seen(); }
    } else {
      return;
    }
    process(el);
    separators(list);
  }

  // seen marks the open conversation read when a customer's message comes
  // in while the agent is looking at it, as WhatsApp does.
  function seen() {
    var list = thread();
    if (list && window.htmx && document.visibilityState === 'visible') { window.htmx.trigger(list, 'inbound'); }
  }
  document.addEventListener('visibilitychange', function () {
    var c = conversation();
    var row = c && document.getElementById('conv-' + c.dataset.conversation);
    if (row && row.querySelector('.badge')) { seen(); }
  });

  // ---- the inbox --------------------------------------------------------

  function filter() { return document.getElementById('inbox-filter'); }

  // matches says whether a row belongs in the inbox as filtered. With a
  // search under way only rows already listed are updated.
  function matches(row) {
    var f = filter();
    if (!f) { return false; }
    var scope = (f.querySelector('input[name=scope]:checked') || {}).value || 'all';
    var status = (f.querySelector('select[name=status]') || {}).value || 'open';
    if (row.dataset.status !== status) { return false; }
    if (scope === 'mine' && row.dataset.assignee !== body.dataset.user) { return false; }
    if (scope === 'unassigned' && (row.dataset.assignee || row.dataset.team)) { return false; }
    return true;
  }

  function upsertRow(html) {
    var row = fragment(html);
    var list = document.getElementById('inbox-list');
    if (!row || !list) { return; }
    var old = document.getElementById(row.id);
    var searching = (filter() && filter().querySelector('input[name=q]') || {}).value;
    if (old && old.classList.contains('active')) {
      row.classList.add('active');
      row.querySelector('a').setAttribute('aria-current', 'page');
    }
    if (!matches(row)) { if (old) { old.remove(); } return; }
    if (old) {
      old.remove();
    } else if (searching) {
      return;
    }
    var empty = list.querySelector('li.empty');
    if (empty) { empty.remove(); }
    // Most recent first.
    var last = Number(row.dataset.last || 0);
    var before = Array.prototype.find.call(list.children, function (li) { return Number(li.dataset.last || 0) <= last; });
    list.insertBefore(row, before || null);
    process(row);
    refreshWindow(row);
  }

  function removeRow(id) {
    var old = document.getElementById('conv-' + id);
    if (old) { old.remove(); }
  }

  // ---- the conversation -------------------------------------------------

  function conversation() { return document.getElementById('conversation'); }

  // refreshWindow follows the window of the open conversation. A window
  // that stays open only gets its time left renewed; the composer is
  // reloaded only when the window opens or closes, so a customer writing
  // while the agent types costs the agent neither focus nor draft.
  function refreshWindow(row) {
    var c = conversation(), comp = document.getElementById('composer');
    if (!c || !comp || row.id !== 'conv-' + c.dataset.conversation) { return; }
    var closes = row.dataset.windowCloses || '';
    if (closes === (comp.dataset.windowCloses || '')) { return; }
    if (comp.dataset.windowOpen === 'true' && Number(closes) > Date.now()) {
      comp.dataset.windowCloses = closes;
      renewWindowState();
      watchWindow();
      return;
    }
    reloadComposer();
  }

  // renewWindowState fetches the composer again but swaps in only its line
  // about the window, with the time left.
  function renewWindowState() {
    var c = conversation();
    if (!c || !document.getElementById('window-state') || !window.htmx) { return; }
    window.htmx.ajax('GET', '/console/c/' + c.dataset.conversation + '/composer',
      { target: '#window-state', select: '#window-state', swap: 'outerHTML', headers: extraHeaders() });
  }

  // reloadComposer renders the composer again, keeping what the agent was
  // doing in it: the draft, the mode, the quoted message and the focus.
  function reloadComposer() {
    var c = conversation(), comp = document.getElementById('composer');
    if (!c || !comp || !window.htmx) { return; }
    if (comp.dataset.uploading) { comp.dataset.reloadAfterUpload = '1'; return; }
    var text = comp.querySelector('textarea'), draft = text.value, focused = document.activeElement === text;
    var modeNow = mode(comp), replyTo = comp.querySelector('input[name=reply_to]').value;
    window.htmx.ajax('GET', '/console/c/' + c.dataset.conversation + '/composer', { target: '#composer', swap: 'outerHTML', headers: extraHeaders() })
      .then(function () {
        var fresh = document.getElementById('composer');
        if (!fresh) { return; }
        var t = fresh.querySelector('textarea');
        if (draft) { t.value = draft; }
        var radio = fresh.querySelector('input[name=mode][value="' + modeNow + '"]');
        if (radio) { radio.checked = true; }
        fresh.querySelector('input[name=reply_to]').value = replyTo;
        setupComposer();
        if (focused && !t.disabled) { t.focus(); }
      });
  }

  // When the window closes while the conversation is open, say so; until
  // then, keep the time left current.
  var windowTimer = null, windowTicker = null;
  function watchWindow() {
    clearTimeout(windowTimer);
    clearInterval(windowTicker);
    var comp = document.getElementById('composer');
    if (!comp || comp.dataset.windowOpen !== 'true') { return; }
    var left = Number(comp.dataset.windowCloses || 0) - Date.now();
    if (left > 0 && left < 2147483647) { windowTimer = setTimeout(reloadComposer, left + 1000); }
    windowTicker = setInterval(renewWindowState, 60000);
  }

  function refreshSidebar(contactID) {
    var c = conversation();
    if (!c || c.dataset.contact !== contactID || !window.htmx) { return; }
    if (!c.querySelector('.sidebar')) { return; }
    window.htmx.ajax('GET', '/console/c/' + c.dataset.conversation + '/sidebar', { target: '#conversation .sidebar', swap: 'outerHTML', headers: extraHeaders() });
  }

  // ---- the live stream ----------------------------------------------------

  function connect(url) {
    if (!window.EventSource) { return; }
    var es = new EventSource(url);
    es.addEventListener('message', function (e) { upsertMessage(e.data); });
    es.addEventListener('row', function (e) { upsertRow(e.data); });
    es.addEventListener('remove', function (e) { removeRow(e.data); });
    es.addEventListener('contact', function (e) { refreshSidebar(e.data); });
    body.dataset.live = 'connecting';
    es.addEventListener('open', function () { body.dataset.live = 'on'; });
    es.addEventListener('error', function () { body.dataset.live = 'off'; });
  }

  // ---- the composer -----------------------------------------------------

  function mode(comp) { return (comp.querySelector('input[name=mode]:checked') || {}).value || 'reply'; }

  function applyMode(comp) {
    var note = mode(comp) === 'note';
    var text = comp.querySelector('textarea');
    var open = comp.dataset.windowOpen === 'true';
    comp.querySelector('#send-reply').hidden = note;
    comp.querySelector('#send-note').hidden = !note;
    comp.querySelector('.note-hint').hidden = !note;
    comp.classList.toggle('noting', note);
    text.disabled = !note && !open;
  }

  function sendButton(comp) {
    return comp.querySelector(mode(comp) === 'note' ? '#send-note' : '#send-reply');
  }

  // Quick replies: "/" and the start of a shortcut lists the matches.
  function suggestions(comp) { return comp.querySelector('#quick-replies'); }

  function updateSuggestions(comp) {
    var text = comp.querySelector('textarea'), list = suggestions(comp);
    var m = /^\/(\S*)$/.exec(text.value);
    var any = false;
    list.querySelectorAll('li').forEach(function (li) {
      var show = !!m && li.dataset.shortcut.indexOf(m[1].toLowerCase()) === 0;
      li.hidden = !show;
      li.classList.remove('selected');
      li.setAttribute('aria-selected', 'false');
      any = any || show;
    });
    list.hidden = !any;
    text.setAttribute('aria-expanded', any ? 'true' : 'false');
    if (any) { select(list, 0); }
  }

  function visibleOptions(list) { return Array.prototype.filter.call(list.querySelectorAll('li'), function (li) { return !li.hidden; }); }

  function select(list, i) {
    var opts = visibleOptions(list);
    opts.forEach(function (li, j) {
      li.classList.toggle('selected', i === j);
      li.setAttribute('aria-selected', i === j ? 'true' : 'false');
    });
  }

  function insertSuggestion(comp, li) {
    var text = comp.querySelector('textarea');
    text.value = li.dataset.text;
    suggestions(comp).hidden = true;
    text.focus();
    autosize(text);
  }

  function autosize(text) {
    text.style.height = 'auto';
    text.style.height = Math.min(text.scrollHeight, 200) + 'px';
  }

  function onKey(e) {
    var comp = e.target.closest('#composer');
    if (!comp || e.target.tagName !== 'TEXTAREA') { return; }
    var list = suggestions(comp);
    if (!list.hidden) {
      var opts = visibleOptions(list);
      var cur = opts.findIndex(function (li) { return li.classList.contains('selected'); });
      if (e.key === 'ArrowDown' || e.key === 'ArrowUp') {
        e.preventDefault();
        select(list, (cur + (e.key === 'ArrowDown' ? 1 : opts.length - 1)) % opts.length);
        return;
      }
      if ((e.key === 'Enter' || e.key === 'Tab') && cur >= 0) {
        e.preventDefault();
        insertSuggestion(comp, opts[cur]);
        return;
      }
      if (e.key === 'Escape') { list.hidden = true; return; }
    }
    if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) {
      e.preventDefault();
      var btn = sendButton(comp);
      if (btn && !btn.disabled && e.target.value.trim() !== '') {
        if (window.htmx) { window.htmx.process(btn); }
        btn.click();
      }
    }
  }

  // Attachments: checked against WhatsApp's limits before uploading, then
  // uploaded with a progress bar.
  function mediaType(mime) {
    if (mime === 'image/jpeg' || mime === 'image/png') { return 'image'; }
    if (mime === 'image/webp') { return 'sticker'; }
    if (mime.indexOf('audio/') === 0) { return 'audio'; }
    if (mime.indexOf('video/') === 0) { return 'video'; }
    return 'document';
  }

  function humanSize(n) {
    if (n >= 1048576) { return (n / 1048576).toFixed(0) + ' MB'; }
    return (n / 1024).toFixed(0) + ' KB';
  }

  function upload(comp, file) {
    var rules = {};
    try { rules = JSON.parse(comp.dataset.mediaRules || '{}'); } catch (e) { rules = {}; }
    var rule = rules[mediaType(file.type || '')];
    if (rule && rule.types && rule.types.length && rule.types.indexOf(file.type) < 0) {
      alertText(comp.dataset.badType);
      return;
    }
    if (rule && file.size > rule.max) {
      alertText(comp.dataset.tooLarge.replace('{max}', humanSize(rule.max)));
      return;
    }
    var data = new FormData();
    data.append('file', file);
    data.append('caption', comp.querySelector('textarea').value);
    comp.dataset.uploading = '1';
    var box = comp.querySelector('.upload'), bar = box.querySelector('progress');
    box.hidden = false;
    bar.value = 0;
    function done() {
      box.hidden = true;
      delete comp.dataset.uploading;
      if (comp.dataset.reloadAfterUpload) { delete comp.dataset.reloadAfterUpload; reloadComposer(); }
    }
    var xhr = new XMLHttpRequest();
    xhr.open('POST', comp.dataset.uploadUrl);
    var headers = extraHeaders();
    Object.keys(headers).forEach(function (k) { xhr.setRequestHeader(k, headers[k]); });
    xhr.upload.addEventListener('progress', function (e) {
      if (e.lengthComputable) { bar.value = Math.round(100 * e.loaded / e.total); }
    });
    xhr.addEventListener('load', function () {
      if (xhr.status === 200) {
        upsertMessage(xhr.responseText);
        comp.querySelector('textarea').value = '';
        toBottom(thread());
      } else {
        var el = fragment(xhr.responseText || '');
        alertText(el ? el.textContent.replace('×', '').trim() : comp.dataset.uploadFailed);
      }
      done();
    });
    xhr.addEventListener('error', function () { alertText(comp.dataset.uploadFailed); done(); });
    xhr.send(data);
  }

  function setupComposer() {
    var comp = document.getElementById('composer');
    if (!comp || comp.dataset.ready) { return; }
    comp.dataset.ready = '1';
    applyMode(comp);
    comp.querySelectorAll('input[name=mode]').forEach(function (r) {
      r.addEventListener('change', function () { applyMode(comp); comp.querySelector('textarea').focus(); });
    });
    var text = comp.querySelector('textarea');
    text.addEventListener('input', function () { updateSuggestions(comp); autosize(text); });
    suggestions(comp).addEventListener('click', function (e) {
      var li = e.target.closest('li');
      if (li) { insertSuggestion(comp, li); }
    });
    var file = comp.querySelector('#attach');
    file.addEventListener('change', function () {
      if (file.files.length) { upload(comp, file.files[0]); }
      file.value = '';
    });
    watchWindow();
  }

  // ---- templates ----------------------------------------------------------

  // The preview fills the template's {{placeholders}} as the agent types.
  function updatePreview(form) {
    var preview = form.querySelector('.preview');
    if (!preview) { return; }
    var text = preview.dataset.body || '';
    form.querySelectorAll('input[data-param]').forEach(function (input) {
      if (!input.dataset.param || input.dataset.param === 'header') { return; }
      var re = new RegExp('\\{\\{\\s*' + input.dataset.param.replace(/[^A-Za-z0-9_]/g, '') + '\\s*\\}\\}', 'g');
      text = text.replace(re, input.value || '{{' + input.dataset.param + '}}');
    });
    preview.textContent = text;
  }

  // ---- dialogs ------------------------------------------------------------

  function dialog() { return document.getElementById('dialog'); }
  function openDialog() {
    var d = dialog();
    if (d && !d.open) { d.showModal(); }
    var first = d && d.querySelector('input:not([type=hidden]), button:not(.dialog-close)');
    if (first) { first.focus(); }
  }
  function closeDialog() { var d = dialog(); if (d && d.open) { d.close(); } }

  // ---- wiring ---------------------------------------------------------------

  document.addEventListener('keydown', onKey);
  // Enter in a template's variable sends it, as in any form.
  document.addEventListener('keydown', function (e) {
    var form = e.key === 'Enter' && e.target.closest && e.target.closest('[data-template-form]');
    if (form && e.target.tagName === 'INPUT') {
      e.preventDefault();
      form.querySelector('#send-template').click();
    }
  });
  document.addEventListener('input', function (e) {
    var form = e.target.closest('[data-template-form]');
    if (form) { updatePreview(form); }
  });
  document.addEventListener('click', function (e) {
    if (e.target.closest('[data-close-alert]')) { e.target.closest('.alert').remove(); }
    if (e.target.closest('[data-close-dialog]')) { closeDialog(); }
  });

  var olderHeight = 0;
  body.addEventListener('htmx:beforeRequest', function (e) {
    var list = thread();
    if (list && e.detail.elt.closest && e.detail.elt.closest('li.older')) { olderHeight = list.scrollHeight; }
  });

  body.addEventListener('htmx:afterSwap', function (e) {
    var target = e.detail.target;
    if (target.id === 'dialog-body') {
      openDialog();
      var form = target.querySelector('[data-template-form]');
      if (form) { updatePreview(form); }
      return;
    }
    var list = thread();
    if (target.id === 'main' || target.id === 'conversation' || (target.closest && target.closest('#conversation'))) {
      setupComposer();
      separators(list);
      if (target.id === 'main') {
        toBottom(list);
        document.querySelectorAll('#inbox-list li.active').forEach(function (li) { li.classList.remove('active'); });
        var c = conversation();
        var row = c && document.getElementById('conv-' + c.dataset.conversation);
        if (row) { row.classList.add('active'); }
      }
    }
    if (target.id === 'thread') {
      separators(list);
      toBottom(list);
    }
    if (olderHeight && list) {
      list.scrollTop += list.scrollHeight - olderHeight;
      olderHeight = 0;
      separators(list);
    }
  });

  // htmx put a message in the thread, and the live stream may bring the
  // same one: keep one of each.
  body.addEventListener('htmx:beforeSwap', function (e) {
    if (e.detail.target.id !== 'thread' || !e.detail.xhr || e.detail.xhr.status !== 200) { return; }
    var el = fragment(e.detail.serverResponse || '');
    var shown = el && el.id && document.getElementById(el.id);
    if (shown) {
      if (!older(el, shown)) {
        shown.replaceWith(el);
        process(el);
      }
      e.detail.shouldSwap = false;
    }
  });

  body.addEventListener('htmx:afterRequest', function (e) {
    if (!e.detail.successful) { return; }
    var elt = e.detail.elt;
    if (elt.id === 'send-reply' || elt.id === 'send-note') {
      var comp = document.getElementById('composer');
      comp.querySelector('textarea').value = '';
      comp.querySelector('input[name=reply_to]').value = '';
      autosize(comp.querySelector('textarea'));
      comp.querySelector('textarea').focus();
    }
    if (elt.id === 'send-template') { closeDialog(); }
  });

  // Errors from htmx requests are shown in the alert region: the server
  // retargets them there, but htmx swaps only 2xx answers by default.
  body.addEventListener('htmx:beforeSwap', function (e) {
    var xhr = e.detail.xhr;
    if (xhr && xhr.status >= 400 && xhr.getResponseHeader('HX-Retarget')) {
      e.detail.shouldSwap = true;
      e.detail.isError = false;
    }
  });

  document.addEventListener('DOMContentLoaded', function () {
    setupComposer();
    separators(thread());
    toBottom(thread());
    if (body.dataset.events) { connect(body.dataset.events); }
  });
})();
