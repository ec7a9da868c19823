/* Copy buttons on the buyer page; without JavaScript the values stay selectable text. */
(function () {
  if (!navigator.clipboard) return;
  document.querySelectorAll('button[data-copy]').forEach(function (button) {
    button.hidden = false;
    var label = button.querySelector('.copy-text');
    var original = label ? label.textContent : '';
    button.addEventListener('click', function () {
      navigator.clipboard.writeText(button.getAttribute('data-copy')).then(function () {
        button.classList.add('done');
        if (label) label.textContent = button.getAttribute('data-copied');
        setTimeout(function () {
          button.classList.remove('done');
          if (label) label.textContent = original;
        }, 2000);
      });
    });
  });
})();
