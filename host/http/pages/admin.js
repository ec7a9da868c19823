/* Waybill admin pages: small enhancements only. Every form also works without this script. */
(function () {
  'use strict';

  function formatBytes(n) {
    var units = ['bytes', 'KiB', 'MiB', 'GiB', 'TiB'];
    var i = 0;
    while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
    if (i === 0) return n + (n === 1 ? ' byte' : ' bytes');
    return (n >= 100 || n % 1 < 0.05 ? n.toFixed(0) : n.toFixed(1)) + ' ' + units[i];
  }

  function showError(el, text) {
    if (!el) return;
    el.textContent = text;
    el.hidden = false;
  }

  function hideError(el) {
    if (!el) return;
    el.textContent = '';
    el.hidden = true;
  }

  /* Move focus to the message an action left, so keyboard and screen-reader users hear it. */
  var notice = document.querySelector('[data-focus]');
  if (notice) notice.focus({ preventScroll: true });

  /* Filters apply as soon as they change. */
  document.querySelectorAll('select[data-autosubmit]').forEach(function (select) {
    select.addEventListener('change', function () { select.form.submit(); });
  });

  /* Select all, with a live count. */
  document.querySelectorAll('input[data-select-all]').forEach(function (all) {
    var form = all.form;
    var boxes = Array.prototype.slice.call(form.querySelectorAll('input[name="ids"]'));
    var counter = form.querySelector('[data-selected-count]');
    all.hidden = false;
    function update() {
      var checked = boxes.filter(function (b) { return b.checked; }).length;
      all.checked = checked > 0 && checked === boxes.length;
      all.indeterminate = checked > 0 && checked < boxes.length;
      if (counter) counter.textContent = checked ? checked + ' selected' : '';
    }
    all.addEventListener('change', function () {
      boxes.forEach(function (b) { b.checked = all.checked; });
      update();
    });
    boxes.forEach(function (b) { b.addEventListener('change', update); });
    update();
  });

  /* Bulk actions: something must be selected, and preparing is confirmed first. */
  document.querySelectorAll('form[data-bulk]').forEach(function (form) {
    var button = form.querySelector('[data-confirm-bulk]');
    form.addEventListener('submit', function (event) {
      var checked = form.querySelectorAll('input[name="ids"]:checked').length;
      var counter = form.querySelector('[data-selected-count]');
      if (!checked) {
        event.preventDefault();
        if (counter) counter.textContent = 'Select at least one shipment first.';
        return;
      }
      var action = form.querySelector('select[name="action"]');
      if (button && action && action.value === 'prepare') {
        var text = button.getAttribute('data-confirm-bulk').replace('selected shipments', checked === 1 ? 'selected shipment' : checked + ' selected shipments');
        if (!window.confirm(text)) event.preventDefault();
      }
    });
  });

  /* Final or disruptive actions ask first; confirming skips the server's confirmation page. */
  document.querySelectorAll('form[data-confirm]').forEach(function (form) {
    form.addEventListener('submit', function (event) {
      var text = form.getAttribute('data-confirm');
      var unsavedFrom = form.getAttribute('data-unsaved');
      var edit = unsavedFrom && document.getElementById(unsavedFrom);
      if (edit) {
        var typed = Array.prototype.some.call(edit.querySelectorAll('input[type=file], input[type=text], textarea'), function (el) {
          return el.type === 'file' ? el.files && el.files.length > 0 : el.value.trim() !== '';
        });
        if (typed) text = 'You have unsaved changes in the form above: they will NOT be included.\n\n' + text;
      }
      if (!window.confirm(text)) {
        event.preventDefault();
        return;
      }
      var confirmed = form.querySelector('input[name="confirmed"]');
      if (confirmed) confirmed.value = '1';
    });
  });

  /* Files over the limit are refused before a byte is sent. */
  function tooLarge(input) {
    var max = Number(input.getAttribute('data-max-bytes'));
    var files = Array.prototype.slice.call(input.files || []);
    var big = files.filter(function (f) { return max && f.size > max; })[0];
    if (!big) return null;
    var size = formatBytes(big.size);
    var limit = formatBytes(max);
    if (size === limit) {
      size = big.size.toLocaleString('en') + ' bytes';
      limit = limit + ' (' + max.toLocaleString('en') + ' bytes)';
    }
    return '“' + big.name + '” is ' + size + ': larger than ' + limit +
      ', the largest file you can attach. Choose a smaller file. Nothing was uploaded.';
  }

  document.querySelectorAll('input[type=file][data-max-bytes]').forEach(function (input) {
    var error = document.getElementById(input.id + '-error');
    input.addEventListener('change', function () {
      var message = tooLarge(input);
      if (message) {
        showError(error, message);
        input.setAttribute('aria-invalid', 'true');
      } else {
        hideError(error);
        input.removeAttribute('aria-invalid');
      }
    });
    if (input.form && !input.form.hasAttribute('data-upload-url')) {
      input.form.addEventListener('submit', function (event) {
        var message = tooLarge(input);
        if (message) {
          event.preventDefault();
          showError(error, message);
          input.focus();
        }
      });
    }
  });

  /* Shipment content: the file goes up with a progress bar, then the rest of the form is saved. */
  document.querySelectorAll('form[data-upload-url]').forEach(function (form) {
    var input = form.querySelector('input[type=file]');
    var error = document.getElementById(input.id + '-error');
    var box = document.getElementById('upload');
    var bar = document.getElementById('upload-progress');
    var status = document.getElementById('upload-status');
    var buttons = form.querySelectorAll('button, input[type=file]');
    var busy = false;

    function setBusy(on) {
      busy = on;
      Array.prototype.forEach.call(buttons, function (b) { b.disabled = on; });
    }

    function fail(message) {
      setBusy(false);
      box.setAttribute('data-state', 'failed');
      showError(error, message);
      input.setAttribute('aria-invalid', 'true');
      input.focus();
    }

    form.addEventListener('submit', function (event) {
      if (busy) { event.preventDefault(); return; }
      var file = input.files && input.files[0];
      hideError(error);
      if (!file) return; /* only a text item: a plain form post */
      event.preventDefault();
      var message = tooLarge(input);
      if (message) { fail(message); return; }
      var max = Number(input.getAttribute('data-max-bytes'));
      var xhr = new XMLHttpRequest();
      xhr.open('POST', form.getAttribute('data-upload-url') + '?name=' + encodeURIComponent(file.name));
      xhr.setRequestHeader('X-CSRF-Token', form.getAttribute('data-csrf'));
      xhr.setRequestHeader('Accept', 'application/json');
      xhr.setRequestHeader('Content-Type', file.type || 'application/octet-stream');
      box.hidden = false;
      box.setAttribute('data-state', 'uploading');
      bar.max = 100;
      bar.value = 0;
      status.textContent = 'Uploading… 0%';
      xhr.upload.addEventListener('progress', function (e) {
        if (!e.lengthComputable) return;
        var percent = Math.floor((e.loaded / e.total) * 100);
        bar.value = percent;
        bar.setAttribute('aria-valuetext', percent + '%');
        status.textContent = 'Uploading… ' + percent + '% of ' + formatBytes(e.total);
      });
      xhr.addEventListener('load', function () {
        var body = {};
        try { body = JSON.parse(xhr.responseText); } catch (_) { /* not JSON */ }
        if (xhr.status >= 200 && xhr.status < 300) {
          bar.value = 100;
          status.textContent = 'Uploaded ✓';
          box.setAttribute('data-state', 'done');
          var label = form.querySelector('[name="item_label"]');
          var value = form.querySelector('[name="item_value"]');
          if ((label && label.value.trim()) || (value && value.value.trim())) {
            input.disabled = true; /* already attached: send only the text item */
            var flag = document.createElement('input');
            flag.type = 'hidden';
            flag.name = 'attached';
            flag.value = '1';
            form.appendChild(flag);
            form.submit();
          } else {
            window.location.assign(body.redirect || window.location.pathname);
          }
          return;
        }
        if (xhr.status === 413) {
          fail(body.error || ('The file is larger than ' + formatBytes(max) + ', the largest file you can attach. Nothing was attached.'));
        } else if (xhr.status === 403) {
          fail(body.error || 'Your session has ended. Sign in again in another tab, then retry.');
        } else {
          fail(body.error || ('The upload failed (HTTP ' + xhr.status + '). Nothing was attached; try again.'));
        }
      });
      xhr.addEventListener('error', function () {
        if (file.size > max) {
          fail('The file is larger than ' + formatBytes(max) + ', the largest file you can attach. Nothing was attached.');
        } else {
          fail('The connection was interrupted during the upload. Nothing was attached; try again.');
        }
      });
      setBusy(true);
      xhr.send(file);
    });
  });

  /* Copy the buyer's link. */
  document.querySelectorAll('button[data-copy-from]').forEach(function (button) {
    if (!navigator.clipboard) return;
    button.hidden = false;
    button.addEventListener('click', function () {
      var source = document.getElementById(button.getAttribute('data-copy-from'));
      navigator.clipboard.writeText(source.value).then(function () {
        var original = button.lastChild.textContent;
        button.lastChild.textContent = 'Copied';
        setTimeout(function () { button.lastChild.textContent = original; }, 2000);
      });
    });
  });
})();
